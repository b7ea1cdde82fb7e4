"""Sentence segmentation for clinical text.

Clinical notes break lines without punctuation (headers, bullet lists, vitals),
wrap long lines mid-sentence, and use abbreviations with dots. The splitter
starts a sentence at a blank line, at a line break that is not a wrapped
continuation (the next line starts with a capital, a digit or a bullet, or the
previous one ended with punctuation or a colon), and after terminal punctuation
that does not close an abbreviation. It works on the characters with regular
expressions, then marks the tokens in one array write, so it runs at tokenizer speed.
Rules live in ``resources/sentence_rules.json``.
"""

from __future__ import annotations

import re

import numpy as np
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from suggest.pipeline import extensions as _extensions  # noqa: F401  (registers doc._ attributes)
from suggest.pipeline.resources import load_json


class ClinicalSentencizer:
    """Rule-based sentence boundaries; sets ``Token.is_sent_start`` on every token."""

    def __init__(self, rules: dict):
        terminal = "".join(re.escape(p) for p in rules["terminal_punctuation"])
        bullets = "|".join(re.escape(b) for b in sorted(rules["bullet_prefixes"], key=len, reverse=True))
        self.abbreviations = frozenset(a.lower().rstrip(".") for a in rules["abbreviations"])
        # Candidate boundaries: the position of the first character of the next sentence.
        self._blank_line = re.compile(r"\n[ \t\r\f\v]*\n\s*(?=\S)")
        self._line_break = re.compile(
            rf"(?P<prev>[^\n]?)[ \t]*\n[ \t]*(?=(?P<next>(?:{bullets})[ \t]|[^a-z\s]))"
        )
        self._line_break_after_punct = re.compile(rf"[{terminal}:][ \t]*\n\s*(?=\S)")
        self._terminal = re.compile(rf"[{terminal}][ \t]+(?=(\S))")
        self._word_run = re.compile(r"[\w.]+")

    def starts(self, text: str) -> list[int]:
        """Character offsets where sentences start (always includes the first non-space character)."""
        found = {m.end() for m in self._blank_line.finditer(text)}
        found.update(m.end() for m in self._line_break.finditer(text))
        found.update(m.end() for m in self._line_break_after_punct.finditer(text))
        # Terminal punctuation and the run of word characters and dots it ends ("Dr." -> "Dr"), found from the
        # ends of the runs: a pattern that tried "[\w.]*" at every character cost a third of the pipeline.
        run_start = {m.end(): m.start() for m in self._word_run.finditer(text)}
        for m in self._terminal.finditer(text):
            at = m.start()
            punct = text[at]
            word = text[run_start.get(at + 1 if punct == "." else at, at): at].lower()
            if punct == "." and (word in self.abbreviations or (word.isdigit() and len(word) <= 2
                                                               and not self._after_a_word(text, at - len(word)))):
                continue  # "Dr. Smith", "1. Hypertension"; but "CKD stage 2. No heart failure." ends a sentence
            if punct == "." and m.group(1).islower() and len(word) <= 3:
                continue  # "approx. two"
            found.add(m.end())
        first = len(text) - len(text.lstrip())
        found.add(first)
        return sorted(found)

    @staticmethod
    def _after_a_word(text: str, start: int) -> bool:
        """Whether the number starting at ``start`` follows a word on its line ("stage 2."), not a line start, a
        bullet, a header's colon or a sentence's end ("1.", "Assessment: 1.", "diabetes. 2.")."""
        before = text[text.rfind("\n", 0, start) + 1: start].rstrip()
        return bool(before) and before[-1].isalnum()

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        idx = doc.to_array([IDX]).astype(np.int64)
        text = doc._.source_text
        char_starts = self.starts(text if text is not None else doc.text)
        doc._.sentence_starts = char_starts
        starts = np.asarray(char_starts, dtype=np.int64)
        flags = np.full(len(doc), -1, dtype=np.int32)  # -1: not a sentence start
        tok = np.searchsorted(idx, starts, side="left")
        tok = tok[tok < len(doc)]
        flags[tok] = 1
        flags[0] = 1
        doc.from_array([SENT_START], flags.reshape(-1, 1).astype(np.uint64))
        return doc


@Language.factory(
    "clinical_sentencizer_v1",
    assigns=["token.is_sent_start", "doc._.sentence_starts"],
    default_config={"rules_file": "sentence_rules.json"},
)
def make_clinical_sentencizer(nlp: Language, name: str, *, rules_file: str) -> ClinicalSentencizer:
    """Build the clinical sentence splitter from its rules file."""
    return ClinicalSentencizer(load_json(rules_file))
