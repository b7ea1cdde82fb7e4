"""Training-side subcommands (data, train, evaluate, registry), declared as ``icd10cm_suggest.commands`` entry points."""
