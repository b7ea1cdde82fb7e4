"""The suggestion engine: dictionary, classifier, ranker, calibration (see :class:`Suggester`)."""

from suggest.model._imports import import_sklearn_without_pandas

import_sklearn_without_pandas()

from suggest.model.config import SuggesterConfig  # noqa: E402  (after scikit-learn, without pandas)
from suggest.model.suggester import Suggester  # noqa: E402

__all__ = ["Suggester", "SuggesterConfig"]
