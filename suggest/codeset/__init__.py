"""The ICD-10-CM code set: codes, hierarchy, instructional notes, validation and search.

>>> from suggest.codeset import load_codeset
>>> codes = load_codeset()            # FY2026, parsed once then cached
>>> codes.get("e1122").description
'Type 2 diabetes mellitus with diabetic chronic kidney disease'

Importing this package is light (standard library only); numpy is imported when searching.
"""

from suggest.codeset._tabular import PARSER_VERSION
from suggest.codeset.core import CodeInfo, CodeOutline, CodeSet, SearchHit, Validation, default_xml_path, load_codeset

__all__ = [
    "PARSER_VERSION",
    "CodeInfo",
    "CodeOutline",
    "CodeSet",
    "SearchHit",
    "Validation",
    "default_xml_path",
    "load_codeset",
]
