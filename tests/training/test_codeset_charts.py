"""Short charts over the lexicon's codes: the default model's material beyond the clinic notes' 680 codes."""

from suggest.codeset import load_codeset
from training.synth.codeset_charts import generate_codeset_charts


def test_same_seed_same_charts_and_every_gold_code_billable():
    a, b = generate_codeset_charts(60, 3), generate_codeset_charts(60, 3)
    assert [(c.text, c.codes) for c in a] == [(c.text, c.codes) for c in b]
    codeset = load_codeset()
    assert all(c.codes and all(codeset.is_billable(code) for code in c.codes) for c in a)
    assert generate_codeset_charts(5, 4)[0].text != a[0].text


def test_charts_reach_thousands_of_codes_across_chapters():
    charts = generate_codeset_charts(1500, 7)
    codes = {code for c in charts for code in c.codes}
    assert len(codes) > 2500
    assert len({code[0] for code in codes}) >= 20


def test_later_encounters_are_stated_in_words():
    codeset = load_codeset()
    later = [(c, code) for c in generate_codeset_charts(800, 5) for code in c.codes
             if codeset.seventh_character_stem(code) and code[-1] in "DS"]
    assert later
    for chart, code in later[:20]:
        definition = codeset.get(code).seventh_characters[code[-1]]
        assert definition in chart.text


def test_some_phrases_are_said_with_one_word_less_keeping_sides_and_polarity():
    import random

    from training.synth.codeset_charts import _partial

    rng = random.Random(0)
    phrase = "burn of first degree of right scapular region"
    shorter = {_partial(rng, phrase) for _ in range(50)}
    assert all(len(s.split()) == len(phrase.split()) - 1 for s in shorter)
    assert all("right" in s and "degree" in s and "first" in s for s in shorter)
    assert "burn of first degree of right region" in shorter
    assert _partial(rng, "left hip pain") == "left hip pain"  # "pain" alone may go: kept whole
    assert _partial(rng, "type 2 diabetes") == "type 2 diabetes"
