"""The suggestion engine: dictionary, classifier, ranker, calibration (see :class:`Suggester`)."""

from suggest.model.config import SuggesterConfig
from suggest.model.suggester import Suggester

__all__ = ["Suggester", "SuggesterConfig"]
