"""Development-set checks used to tune the engine (never the measurement sets).

- ``python -m training.tuning.aci_train [MODEL]``: the default model on ACI-BENCH train (67 notes), by care setting,
  with what each coding rule did and how often it was right, and the most frequent false and missed codes.
- ``python -m training.tuning.codiesp_cv '{"param": value}'``: 3-fold cross-validation of a config on CodiEsp train.
- ``python -m training.tuning.paraphrases [MODEL] [-v]``: clinician phrasings of random billable codes, three sets
  (``training/data/dev_paraphrases*.tsv``, written for tuning, apart from the code-set probe): first / top 3 / top 10.
- ``python -m training.tuning.nonclinical [MODEL]``: texts with no clinical content (160, two sets): which select a code.

ACI-BENCH and CodiEsp come from ``../shared`` (or ``$SUGGEST_SHARED_DIR``).
"""
