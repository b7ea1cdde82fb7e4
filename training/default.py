"""The default model: trained from the project's own material, so a fresh install works offline.

Its training data are synthetic outpatient charts (``training.synth``) over the whole
code set's dictionary; it goes through the same tracked training code as any other
model (:func:`training.train.train`) and is saved to ``<models_dir>/default``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from suggest.corpus import write_jsonl

log = logging.getLogger(__name__)

#: Synthetic training charts and seed of the default model (``SUGGEST_DEFAULT_N`` overrides the size).
DEFAULT_TRAIN_CHARTS = 3000
#: Short charts stated in the lexicon's phrasing over its 7,638 codes (``training.synth.codeset_charts``), so that
#: the model is calibrated beyond the 680 codes of the clinic notes (``SUGGEST_DEFAULT_CODESET_N`` overrides).
#: Chosen on the ACI-BENCH train notes (the development set), MAP / micro-F1 / R@10: none 0.517 / 0.476 / 0.612,
#: 1,500 charts 0.571 / 0.475 / 0.740, 3,000 charts 0.590 / 0.501 / 0.725, 6,000 charts 0.598 / 0.490 / 0.723.
DEFAULT_CODESET_CHARTS = 3000
DEFAULT_DEV_CHARTS = 600
DEFAULT_SEED = 7
#: The classifier learns synthetic phrasing perfectly, so a ranker trained on synthetic charts would trust
#: its scores more than they deserve on real notes: the default ranker ranks on dictionary evidence,
#: assertion, sections and priors (measured on the ACI-BENCH train notes: MAP 0.465 -> 0.471, micro-F1
#: 0.37 -> 0.46, ECE 0.059 -> 0.039). The classifier still proposes candidates.
#: With the ranker ignoring its scores, the classifier only proposes candidates and evidence: 1,000 weights per code
#: instead of 3,000 keep the model under 500 MB over a batch (469 MB; ACI-BENCH train MAP 0.590 -> 0.596).
#: The default model must reach codes its training material never shows: its cross-fitting also holds out a fifth
#: of the codes (clinician phrasings of 320 random codes written for tuning, top 3: 0.512 -> 0.531, first: 0.369 ->
#: 0.412; ACI-BENCH train MAP 0.618 -> 0.606, micro-F1 0.616 -> 0.612).
#: For the same reason it learns no phrases from its charts: phrases mined from template wording are trusted on
#: real notes beyond their worth (ACI-BENCH train MAP 0.647 -> 0.560, micro-F1 0.652 -> 0.549 with them). Models
#: trained on coded charts (CodiEsp, the chart store's feedback export) do learn them.
#: Its ranker learns from 600,000 candidate rows (about 4,200 of the 6,000 charts) instead of 250,000: over three
#: seeds of the synthetic corpora (7, 11, 23), ACI-BENCH train MAP 0.755 -> 0.762, micro-F1 0.713 -> 0.729 on
#: average, their spread 0.021 -> 0.013 and 0.026 -> 0.014; tuning phrasings top 3 0.813 -> 0.819 and
#: 0.624 -> 0.640; about 45 s more to build.
#: Its ranker is also a smoother one than a model trained on coded charts needs: learning rate 0.05 instead of 0.08
#: and 15 leaves per tree instead of 31, because what it learns of synthetic charts must carry over to real notes.
#: ACI-BENCH train, outpatient MAP / micro-F1 / R@10, the same corpus before and after: seed 7 0.800 / 0.777 / 0.858
#: -> 0.829 / 0.783 / 0.872, seed 11 0.779 / 0.788 / 0.851 -> 0.795 / 0.765 / 0.855 (setting mentions, MAP / micro-F1:
#: 0.627 / 0.531 -> 0.658 / 0.569 and 0.582 / 0.564 -> 0.624 / 0.602); tuning phrasings and non-clinical texts
#: unchanged. Fewer or faster-learning trees did worse (150 at 0.16: 0.765 / 0.735, 100 at 0.2: 0.724 / 0.711), so
#: did 7 leaves (0.797 / 0.759). On CodiEsp's own charts the richer trees stay the default (3-fold CV on train, MAP /
#: micro-F1 / unseen R@15: 0.534 / 0.577 / 0.220 at the defaults, 0.532 / 0.575 / 0.214 with these two settings).
#: Its selection threshold is half the peak micro-F1 of its out-of-fold confidences (the F1-optimal threshold of
#: calibrated confidences) rather than where that F1 peaks: on synthetic charts the F1 curve is flat near its top, so
#: the peak's position wanders from corpus to corpus (0.467 on seed 7, 0.380 on seed 11) while half the peak F1 does
#: not (0.431, 0.432). ACI-BENCH train micro-F1 at those thresholds: 0.783 -> 0.783 (seed 7), 0.765 -> 0.781 (seed 11).
DEFAULT_CONFIG = {"ranker_exclude_features": ["clf_score", "clf_rank", "knn_score", "category_clf_max"],
                  "classifier_keep_weights": 1000, "cv_holdout_codes": 0.2, "phrase_min_charts": 0,
                  "ranker_max_rows": 600_000, "ranker_learning_rate": 0.05, "ranker_max_leaf_nodes": 15,
                  "threshold_rule": "half_best_f1"}


def material_fingerprint() -> str:
    """A short hash of what the synthetic charts are made from: the generator's code and data, the engine's
    resources it draws phrasings from (the lexicon), and the code-set release.

    It names the cached corpora, so that a checkout whose generator or lexicon changed generates them anew
    instead of training on charts the previous version wrote.
    """
    import suggest.resources
    from suggest.codeset import load_codeset

    synth_dir = Path(__file__).resolve().parent / "synth"
    resources_dir = Path(suggest.resources.__file__).resolve().parent
    files = [path for folder, patterns in ((synth_dir, ("*.py", "*.json")), (resources_dir, ("*.tsv", "*.json")))
             for pattern in patterns for path in folder.glob(pattern)]
    return fingerprint_files(files, load_codeset().release)


def fingerprint_files(files: list[Path], release: str) -> str:
    """12 hex digits of a SHA-256 over ``release`` and the names and contents of ``files`` (in name order)."""
    digest = hashlib.sha256(release.encode())
    for path in sorted(files, key=lambda p: (p.parent.name, p.name)):
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_default_model(models_dir: Path, *, track: bool | None = None, n_charts: int | None = None) -> Path:
    """Generate the synthetic corpus, train, save to ``models_dir/default``; returns the folder.

    ``track`` logs the run to MLflow and registers the model (default: on, unless
    ``SUGGEST_DEFAULT_TRACK=0``).
    """
    from training.synth import generate_charts
    from training.synth.codeset_charts import generate_codeset_charts
    from training.train import TrainOptions, train

    models_dir = Path(models_dir)
    if track is None:
        track = os.environ.get("SUGGEST_DEFAULT_TRACK", "1") != "0"
    n = n_charts or int(os.environ.get("SUGGEST_DEFAULT_N", DEFAULT_TRAIN_CHARTS))
    data_dir = models_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    material = material_fingerprint()
    train_path = data_dir / f"synthetic-train-seed{DEFAULT_SEED}-n{n}-{material}.jsonl"
    dev_path = data_dir / f"synthetic-dev-seed{DEFAULT_SEED + 1}-n{DEFAULT_DEV_CHARTS}-{material}.jsonl"
    if not train_path.exists():
        write_jsonl(generate_charts(n, DEFAULT_SEED), train_path)
    if not dev_path.exists():
        write_jsonl(generate_charts(DEFAULT_DEV_CHARTS, DEFAULT_SEED + 1), dev_path)
    train_paths = [train_path]
    n_codeset = int(os.environ.get("SUGGEST_DEFAULT_CODESET_N", DEFAULT_CODESET_CHARTS))
    if n_codeset > 0:
        codeset_path = data_dir / f"codeset-charts-seed{DEFAULT_SEED}-n{n_codeset}-{material}.jsonl"
        if not codeset_path.exists():
            write_jsonl(generate_codeset_charts(n_codeset, DEFAULT_SEED), codeset_path)
        train_paths.append(codeset_path)
    output = models_dir / "default"
    log.warning("training the default model on %d synthetic charts (once; takes a few minutes)", n)
    result = train(TrainOptions(train=train_paths, dev=dev_path, output=output, seed=DEFAULT_SEED, config=dict(DEFAULT_CONFIG),
                                track=track, models_dir=models_dir, run_name="default"))
    if track and result.registered_version:
        from training.registry import PromotionRefused, promote

        try:
            promote(result.registered_version, models_dir=models_dir, reason="default model built from the project's material")
        except PromotionRefused as exc:  # a better champion is already there: keep it
            log.warning("default model registered as version %s, not promoted: %s", result.registered_version, exc)
    return output
