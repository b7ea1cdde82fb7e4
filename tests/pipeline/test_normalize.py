"""Capital single letters clinicians write for a side: "R knee", "L distal radius"."""

from __future__ import annotations

import pytest

from suggest.pipeline.normalize import Normalizer


@pytest.mark.parametrize(("text", "expected"), [
    ("R distal radius fx", {"r": "right"}),
    ("pain in L hand", {"l": "left"}),
    ("total 2 L daily", {}),          # litres
    ("L5 radiculopathy", {}),         # a vertebra
    ("r knee", {}),                   # only a capital letter
    ("Vitamin D level", {}),
])
def test_side_letters(text, expected):
    normalizer = Normalizer()
    found = {m.group(): normalizer.side_word(text, m) for m in normalizer.word_matches(text)}
    assert {k: v for k, v in found.items() if v} == expected
