"""The Suggester estimator: suggestions, evidence, calibration, persistence, bad input."""

import numpy as np
import pytest
from sklearn.base import clone

import suggest
from suggest.metrics import RankedPrediction, evaluate_predictions


def test_suggestions_are_ranked_with_all_fields(small_model, held_out):
    result = small_model.suggest(held_out[0].text, top_k=8)
    assert 0 < len(result.suggestions) <= 8
    confidences = [s.confidence for s in result.suggestions]
    assert confidences == sorted(confidences, reverse=True)
    for s in result.suggestions:
        assert 0.0 <= s.confidence <= 1.0
        assert s.selected == (s.confidence >= small_model.threshold_)
        assert s.sources
        d = s.to_dict()
        assert set(d) >= {"code", "description", "confidence", "selected", "billable", "sources", "evidence"}
    assert result.codeset_release.startswith("ICD-10-CM")


def test_evidence_offsets_index_the_input(small_model, held_out):
    checked = 0
    for chart in held_out[:20]:
        text = "Ünïcödé prefix ✓ " + chart.text  # code points, not bytes
        for s in small_model.suggest(text, top_k=10).suggestions:
            for e in s.evidence:
                assert text[e.start:e.end] == e.text
                assert set(e.assertion) == {"negated", "historical", "family", "hypothetical", "uncertain"}
                checked += 1
    assert checked > 20


def test_finds_the_gold_codes_of_unseen_charts(small_model, held_out):
    results = small_model.suggest_batch([c.text for c in held_out], top_k=15)
    preds = [RankedPrediction([s.code for s in r.suggestions], [s.confidence for s in r.suggestions],
                              [s.selected for s in r.suggestions]) for r in results]
    metrics = evaluate_predictions([c.codes for c in held_out], preds)
    assert metrics["map"] > 0.5
    assert metrics["micro_f1"] > 0.5


def test_confidence_is_calibrated_on_held_out_charts(small_model, held_out):
    results = small_model.suggest_batch([c.text for c in held_out], top_k=20)
    confs, hits = [], []
    for chart, r in zip(held_out, results):
        for s in r.suggestions:
            confs.append(s.confidence)
            hits.append(s.code in chart.codes)
    from suggest.metrics import expected_calibration_error

    assert expected_calibration_error(confs, hits) < 0.1


def test_negated_and_family_mentions_are_not_selected(small_model):
    text = ("CHIEF COMPLAINT\nCough.\n\nHPI\nThe patient denies chest pain. Her mother had breast cancer.\n\n"
            "ASSESSMENT AND PLAN\n1. Essential hypertension, continue lisinopril.\n")
    by_code = {s.code: s for s in small_model.suggest(text, top_k=30).suggestions}
    assert by_code.get("I10") and by_code["I10"].selected
    assert not (by_code.get("R07.9") and by_code["R07.9"].selected)
    assert not any(code.startswith("C50") and s.selected for code, s in by_code.items())


def test_batch_equals_single(small_model, held_out):
    """A chart gets the same suggestions in a batch as alone (the server batches concurrent requests), confidences
    within 1e-6."""
    texts = [c.text for c in held_out[:20]]
    batch = small_model.suggest_batch(texts, top_k=30)
    for text, b in zip(texts, batch):
        single = small_model.suggest(text, top_k=30)
        assert [(s.code, s.selected) for s in single.suggestions] == [(s.code, s.selected) for s in b.suggestions]
        assert np.allclose([s.confidence for s in single.suggestions], [s.confidence for s in b.suggestions],
                           rtol=0, atol=1e-6)
        assert [[(e.start, e.end) for e in s.evidence] for s in single.suggestions] == \
            [[(e.start, e.end) for e in s.evidence] for s in b.suggestions]


def test_a_batch_larger_than_a_chunk_is_coded_chunk_by_chunk_with_each_chart_in_its_place(small_model, held_out,
                                                                                        monkeypatch):
    from suggest.model import suggester

    texts = [c.text for c in held_out[:7]]
    whole = small_model.suggest_batch(texts, top_k=5, specialties=["cardiology"] * 7)
    monkeypatch.setattr(suggester, "BATCH_CHUNK", 3)
    chunked = small_model.suggest_batch(texts, top_k=5, specialties=["cardiology"] * 7)
    assert [r.to_dict() for r in chunked] == [r.to_dict() for r in whole]


def test_save_load_round_trip(small_model, tmp_path, held_out):
    folder = small_model.save(tmp_path / "m")
    loaded = suggest.load_model(folder)
    assert loaded.card_.codeset_release == small_model.card_.codeset_release
    assert loaded.card_.training_data[0].n_charts == 300
    assert loaded.card_ == small_model.card_
    a = small_model.suggest(held_out[3].text).to_dict()
    b = loaded.suggest(held_out[3].text).to_dict()
    assert a == b


def test_load_model_errors_name_the_reference(tmp_path):
    from suggest.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="nothing-here"):
        suggest.load_model(tmp_path / "nothing-here")


def test_estimator_contract_flat_parameters():
    from suggest.model.config import SuggesterConfig

    model = suggest.Suggester(cv_folds=2, name="x")
    params = model.get_params()
    assert params["cv_folds"] == 2 and params["name"] == "x"
    # Every hyper-parameter is a flat __init__ argument with the validated config's default.
    defaults = suggest.Suggester().get_params()
    assert {k: v for k, v in defaults.items() if k != "name"} == SuggesterConfig().model_dump()
    model.set_params(classifier_alpha=3.0)
    assert model.get_params()["classifier_alpha"] == 3.0
    cloned = clone(model)
    assert cloned.get_params() == model.get_params()
    assert not hasattr(cloned, "ranker_")


def test_bad_hyper_parameters_are_named_at_fit():
    with pytest.raises(ValueError, match="classifier_alpha"):
        suggest.Suggester(classifier_alpha=-1).fit(["a b c"] * 8, [["I10"]] * 8)


def test_predict_proba_is_calibrated_confidence_over_classes(small_model, held_out):
    from suggest.codeset import load_codeset

    texts = [c.text for c in held_out[:4]] + [""]
    proba = small_model.predict_proba(texts)
    assert proba.shape == (5, len(small_model.classes_))
    assert proba[4].nnz == 0
    # classes_ are the codes the model can rank: the whole billable code set, beyond the training labels.
    assert len(small_model.classes_) > 70_000 > 10 * len(small_model.training_labels_)
    assert set(load_codeset().billable_codes()) <= set(small_model.classes_)
    for i, text in enumerate(texts[:4]):
        top = small_model.suggest(text, top_k=5).suggestions
        row = proba[i].toarray().ravel()
        for s in top:
            j = list(small_model.classes_).index(s.code)
            assert abs(row[j] - s.confidence) < 1e-4
    selected = small_model.predict(texts)
    assert selected.shape == proba.shape
    assert set(selected.data) <= {1}
    assert (selected.toarray() == (proba.toarray() >= small_model.threshold_)).all()


def test_score_is_map_and_grid_search_runs(small_training_charts):
    from sklearn.model_selection import GridSearchCV

    charts = small_training_charts[:60]
    texts, codes = [c.text for c in charts], [c.codes for c in charts]
    search = GridSearchCV(
        suggest.Suggester(cv_folds=2, ranker_max_iter=10, knn_neighbors=5, max_candidates=100),
        {"classifier_alpha": [0.5, 2.0]}, cv=2, error_score="raise",
    ).fit(texts, codes)
    assert set(search.cv_results_["param_classifier_alpha"]) == {0.5, 2.0}
    assert 0.0 < search.best_score_ <= 1.0
    assert search.best_estimator_.score(texts[:20], codes[:20]) > 0.3


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_gives_no_suggestions_and_a_reason(small_model, text):
    result = small_model.suggest(text)
    assert result.suggestions == []
    assert result.warnings == ["empty text: nothing to code"]


@pytest.mark.parametrize("text", ["1234 5678 ... --- ;;; 99/99/99 !!!", "120/80 \u00b0 98.6 # 42 -- +++"])
def test_text_without_words_gives_no_suggestions_and_a_reason(small_model, text):
    result = small_model.suggest(text)
    assert result.suggestions == []
    assert result.warnings == ["no words in the text (only digits, punctuation or symbols): nothing to code"]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "hypertension " + "a" * 100_000 + " diabetes",
        "\x00\x01 broken \ud800 surrogate and text",
    ],
)
def test_odd_input_does_not_crash(small_model, text):
    result = small_model.suggest(text, top_k=5)
    assert isinstance(result.suggestions, list)


def test_wrong_types_are_rejected(small_model):
    with pytest.raises(TypeError):
        small_model.suggest(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        small_model.suggest("text", top_k=0)


def test_specialty_hint_shifts_priors(small_model):
    # The calibration is a step function: a shifted score may keep its step on one text, so try a few.
    texts = ["ASSESSMENT AND PLAN\nPain.\n", "ASSESSMENT AND PLAN\nKnee pain.\n",
             "ASSESSMENT AND PLAN\nLow back pain and knee pain.\n"]

    def confidences(specialty):
        results = small_model.suggest_batch(texts, top_k=30, specialties=[specialty] * len(texts))
        return [{s.code: s.confidence for s in r.suggestions} for r in results]

    assert confidences(None) != confidences("orthopedics")


def test_parallel_batch_equals_serial(small_model, held_out):
    texts = [c.text for c in held_out[:24]]
    serial = small_model.suggest_batch(texts, top_k=5)
    parallel = small_model.suggest_batch(texts, top_k=5, n_jobs=2)
    assert [r.to_dict() for r in serial] == [r.to_dict() for r in parallel]


def test_classifier_suggestions_point_at_their_words(small_model, held_out):
    found = 0
    for chart in held_out[:30]:
        for s in small_model.suggest(chart.text, top_k=15).suggestions:
            if s.sources == ["classifier"]:
                for e in s.evidence:
                    assert chart.text[e.start:e.end] == e.text
                    found += 1
    assert found > 0


def test_a_model_of_another_format_is_refused_with_advice(small_model, tmp_path):
    import json

    from suggest.errors import ModelFormatError

    folder = small_model.save(tmp_path / "old")
    card = json.loads((folder / "model_card.json").read_text())
    (folder / "model_card.json").write_text(json.dumps({**card, "format_version": 1}))
    with pytest.raises(ModelFormatError, match="format 1.*train it again"):
        suggest.load_model(folder)


def test_analysed_charts_keep_their_mentions_as_spans(small_model):
    from suggest.model.analysis import analyse_docs
    from suggest.pipeline import get_nlp

    text = "ASSESSMENT AND PLAN\nEssential hypertension. No pneumonia."
    (analysis,) = analyse_docs(get_nlp(), small_model.term_index_, [text], keep_docs=True)
    mentions = list(analysis.doc.spans["mentions"])
    assert mentions and all(span._.codes for span in mentions)
    by_code = {code: span for span in mentions for code in span._.codes}
    assert "I10" in by_code and not by_code["I10"]._.is_negated
    assert by_code["I10"]._.section == "assessment_and_plan"
    negated = [span for span in mentions if "pneumonia" in span.text.lower()]
    assert negated and all(span._.is_negated for span in negated)


HF_NOTE = ("62-year-old man.\nASSESSMENT AND PLAN\nHypertension. Congestive heart failure with shortness of breath.\n"
           "MEDICATIONS\nLisinopril 10 mg daily, apixaban 5 mg twice daily.\n")


def test_setting_is_recorded_and_chooses_the_rules(small_model):
    outpatient = small_model.suggest(HF_NOTE, top_k=30)
    assert outpatient.setting == "outpatient" and outpatient.to_dict()["setting"] == "outpatient"
    mentions = small_model.suggest(HF_NOTE, top_k=30, setting="mentions")
    assert mentions.setting == "mentions"
    assert {r["rule"] for s in mentions.suggestions for r in s.rules} <= {"demographics"}
    chosen = {s.code: s for s in outpatient.suggestions}
    assert "Z79.01" in chosen and chosen["Z79.01"].selected
    assert chosen["Z79.01"].rules[0]["rule"] == "long_term_drug" and "apixaban" in chosen["Z79.01"].rules[0]["why"]
    if "rules" in chosen["Z79.01"].sources:  # added by the rule: its evidence is the drug's name
        evidence = chosen["Z79.01"].evidence[0]
        assert HF_NOTE[evidence.start:evidence.end] == evidence.text == "apixaban"
    for s in outpatient.suggestions:  # the selected flag still means confidence >= threshold (to 4 decimals)
        assert s.confidence >= small_model.threshold_ - 5e-5 if s.selected else s.confidence < small_model.threshold_ + 5e-5


def test_rules_apply_in_predict_proba_too(small_model):
    column = {code: j for j, code in enumerate(small_model.classes_)}
    outpatient = small_model.predict_proba([HF_NOTE])
    mentions = small_model.predict_proba([HF_NOTE], setting="mentions")
    assert outpatient[0, column["Z79.01"]] >= small_model.threshold_
    assert mentions[0, column["Z79.01"]] < outpatient[0, column["Z79.01"]]


def test_the_model_setting_is_a_parameter_and_calls_override_it(small_model):
    from sklearn.base import clone

    assert clone(small_model).get_params()["setting"] == "outpatient"
    with pytest.raises(ValueError, match="setting"):
        small_model.suggest(HF_NOTE, setting="emergency")


def test_the_callers_patient_overrides_the_text(small_model):
    from suggest.encoder.patient import Patient

    text = "Assessment: history of gestational diabetes. 40-year-old woman."
    as_written = small_model.suggest(text, top_k=30, patient=None)
    as_male = small_model.suggest(text, top_k=30, patient=Patient("male", 40))
    written = {s.code: s for s in as_written.suggestions}
    male = {s.code: s for s in as_male.suggestions}
    if "Z86.32" in written:
        assert not any(r["rule"] == "demographics" for r in written["Z86.32"].rules)
        assert any(r["rule"] == "demographics" for r in male["Z86.32"].rules) and not male["Z86.32"].selected


def test_cross_fitting_holds_out_codes_as_well_as_charts(small_model):
    from sklearn.base import clone

    held = clone(small_model).set_params(cv_holdout_codes=0.3)
    held.training_labels_ = [f"C{i:02d}" for i in range(200)]
    folds = held._held_out_codes(held._config())
    assert len(folds) == held.cv_folds
    assert all(40 <= len(f) <= 80 for f in folds) and len(set(folds)) == len(folds)  # about 30%, different per fold
    assert held._held_out_codes(held._config()) == folds  # seeded
    with pytest.raises(ValueError, match="cv_holdout_codes"):
        clone(small_model).set_params(cv_holdout_codes=1.5)._config()


def test_a_model_trained_on_labels_without_the_7th_character_suggests_codes_in_that_form(small_training_charts):
    from suggest.codeset import load_codeset
    from suggest.model.features import label_form

    codeset = load_codeset()
    charts = small_training_charts[:60]
    texts = [c.text for c in charts] + [f"Visit {i}. Assessment: sprain of left ankle after a fall." for i in range(6)]
    codes = [[label_form(codeset, code) for code in c.codes] for c in charts] + [["S93.402"]] * 6
    model = suggest.Suggester(cv_folds=2, ranker_max_iter=10, knn_neighbors=5, max_candidates=100).fit(texts, codes)
    assert not model.seventh_in_labels_
    suggested = [s.code for s in model.suggest("Assessment: sprain of right ankle, subsequent encounter.", top_k=50).suggestions]
    assert "S93.401" in suggested  # never a label: from the dictionary, in the labels' form
    assert not any(len(code) == 8 and code[:3] == "S93" for code in suggested)
    assert "S93.401" in model.classes_ and "S93.401D" not in model.classes_


def test_threshold_rules_read_the_out_of_fold_f1_curve():
    from suggest.model.suggester import _best_threshold

    # Calibrated confidences of six candidates, three of them right, four gold codes in all.
    probs = np.array([0.95, 0.9, 0.7, 0.6, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 0, 0])
    # micro-F1 after taking the top k: 2/5, 4/6, 4/7, 6/8, 6/9, 6/10; it peaks at 0.75 with the 4th (0.6).
    assert _best_threshold(probs, y, n_gold=4) == pytest.approx(0.6)
    assert _best_threshold(probs, y, n_gold=4, rule="half_best_f1") == pytest.approx(0.375)
    assert _best_threshold(np.array([]), np.array([]), n_gold=0) == 0.5


def test_a_model_keeps_its_threshold_rule_and_one_saved_before_it_reads_as_best_f1(small_model):
    assert small_model.threshold_rule == "best_f1"
    state = small_model.__getstate__()
    state.pop("threshold_rule")
    restored = suggest.Suggester.__new__(suggest.Suggester)
    restored.__setstate__(state)
    assert restored.threshold_rule == "best_f1"
    assert restored.get_params()["threshold_rule"] == "best_f1"
