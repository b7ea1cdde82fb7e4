"""The default model's cached synthetic corpora are named after the material they are made from."""

from __future__ import annotations

from pathlib import Path

from training.default import fingerprint_files, material_fingerprint


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_changed_generator_or_lexicon_gives_a_new_corpus_name(tmp_path):
    lexicon = _write(tmp_path, "lexicon.tsv", "code\tphrase\nJ18.9\tCAP\n")
    generator = _write(tmp_path, "generator.py", "GENERATOR_VERSION = '1.1'\n")
    before = fingerprint_files([lexicon, generator], "2026")

    assert fingerprint_files([generator, lexicon], "2026") == before  # order of discovery does not matter
    _write(tmp_path, "lexicon.tsv", "code\tphrase\nJ18.9\tCAP\nI10\tHTN\n")
    assert fingerprint_files([lexicon, generator], "2026") != before
    _write(tmp_path, "lexicon.tsv", "code\tphrase\nJ18.9\tCAP\n")
    assert fingerprint_files([lexicon, generator], "2026") == before
    assert fingerprint_files([lexicon, generator], "2027") != before  # another code-set release


def test_the_shipped_material_has_a_stable_fingerprint():
    first = material_fingerprint()
    assert first == material_fingerprint()
    assert len(first) == 12 and int(first, 16) >= 0
