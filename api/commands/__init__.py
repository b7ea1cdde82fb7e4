"""Service subcommands (serve, tokens), declared as ``icd10cm_suggest.commands`` entry points."""
