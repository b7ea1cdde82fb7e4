"""Subcommands of the library (code set, predict, assess), declared as ``icd10cm_suggest.commands`` entry points."""
