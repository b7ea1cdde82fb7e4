"""From a matched term to a billable code, as a coder goes from the Index to the Tabular List.

``seventh``: a stem that needs a 7th character gets the character the chart documents (encounter, healing,
fetus, stage, tophus, ...), else its default.
"""

from suggest.encoder.seventh import SeventhCharacterResolver

__all__ = ["SeventhCharacterResolver"]
