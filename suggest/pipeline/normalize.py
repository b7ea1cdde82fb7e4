"""Word normalisation shared by the dictionary matcher: tokens, light stemming, abbreviations.

Text and code terms go through the same steps, so a chart's "CKD stage 3a"
meets the code set's "Chronic kidney disease, stage 3a": lower-casing, splitting
into letter/digit runs, expanding abbreviations (``resources/abbreviations.json``),
mapping equivalent word forms (``resources/word_forms.json``: renal → kidney), and a
light suffix stemmer that folds inflections (fractures → fractur, diabetic → diabet).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from suggest.pipeline.alternation import literal_alternation
from suggest.pipeline.resources import load_json, read_tsv

_TOKEN = re.compile(r"[a-z0-9]+")
_WORD_AFTER = re.compile(r" {1,2}(?:[A-Za-z]{2,}|[1-9](?:st|nd|rd|th)\b)")
#: Words that open a negative scope in code terms and chart text, and what closes it.
_NEGATORS = frozenset({"without", "not"})
_SCOPE_END = frozenset({"with", "but", "of", "in", "on", "at", "to", "due", "from", "involving", "affecting"})
_SCOPE_SPLIT = frozenset({"or", "and"})
_SCOPE_BREAK = re.compile(r"[,;:.()\[\]\n]")
_SCOPE_WORDS = 4
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
#: A list item's number ("1. Type 2 diabetes", "2) Stage 3 CKD"): at the start of a line, or after a colon, a semicolon
#: or the full stop and space that end the previous item (not a decimal point: "7.2."), and followed by "." or ")" and
#: a space. It numbers the item and is no word of it: read as one, "2." made "Stage 3 CKD" stage 2 and "1. Type 2
#: diabetes" type 1 too.
_ENUMERATOR = re.compile(r"(?:^|[\n:;]|\.[ \t])[ \t]*[#(]?(\d{1,2})[.)](?=\s|$)")

#: How many entries a per-word cache keeps before it starts over. Texts bring new words for ever (numbers, names,
#: typos, junk), and a server reads texts for months: each of its workers kept up to 500,000 words in each cache,
#: hundreds of MB after a long fuzz run. 50,000 holds a clinic's vocabulary.
WORD_CACHE_LIMIT = 50_000


def remember(cache: dict, key, value):
    """Store ``value`` under ``key`` in a per-word cache, which is emptied first when full; returns ``value``."""
    if len(cache) >= WORD_CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value
# Suffixes, longest first; a stem keeps at least 4 characters.
_SUFFIXES = (
    "ations", "ation", "ically", "ical", "ially", "ious", "ings", "ing", "ions", "ion", "ies", "ied",
    "ally", "ful", "ous", "ive", "ity", "ics", "ic", "ed", "es", "al", "s", "e",
)
_KEEP = ("ss", "us", "is", "itis", "osis", "sis")


def _load(name: str, key: str) -> dict:
    try:
        return load_json(name).get(key, {})
    except FileNotFoundError:
        return {}


@lru_cache(maxsize=WORD_CACHE_LIMIT)
def stem(word: str) -> str:
    """Light suffix stemmer: folds plurals and adjective forms, keeps -itis/-osis endings."""
    if len(word) <= 4 or word.isdigit() or any(ch.isdigit() for ch in word):
        return word
    if word.endswith(_KEEP) and not word.endswith("ous"):
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def load_drug_classes(column: str = "class") -> dict[str, str]:
    """Drug names and the words of their class in the code set (``resources/drug_classes.tsv``), or with
    ``column="category"`` the category the class is coded under ("quetiapine": "T43.59")."""
    return {row["drug"].strip().lower(): row[column].strip() if column == "category" else row[column].strip().lower()
            for row in read_tsv("drug_classes.tsv") if row.get("drug")}


def lower_same_length(text: str) -> str:
    """``text.lower()``, except that characters whose lowercase is longer ("İ") keep their place,
    so that offsets into the result are offsets into ``text``."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(ch if len(low := ch.lower()) != 1 else low for ch in text)


class Word(NamedTuple):
    """One word of a text: its span, its lowercase surface, and the key its stems are looked up under (the
    surface, or what a side letter or a contextual abbreviation stands for)."""

    start: int
    end: int
    text: str
    key: str


@dataclass(frozen=True, slots=True)
class WordSpans:
    """A text's words kept compactly: their spans in two integer arrays and their keys, each distinct key one
    string (a list of :class:`Word` tuples costs about 200 bytes a word; a batch keeps its charts' words)."""

    starts: array
    ends: array
    keys: tuple[str, ...]

    @classmethod
    def of(cls, words: Iterable[Word]) -> WordSpans:
        """The spans and keys of ``words``."""
        starts, ends, keys = array("i"), array("i"), []
        shared: dict[str, str] = {}
        for word in words:
            starts.append(word.start)
            ends.append(word.end)
            keys.append(shared.setdefault(word.key, word.key))
        return cls(starts, ends, tuple(keys))

    def __iter__(self) -> Iterator[tuple[int, int, str]]:
        """(start, end, key) of each word, in order."""
        return zip(self.starts, self.ends, self.keys)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, slots=True)
class _Contextual:
    pattern: re.Pattern
    key: str
    upper: bool
    after: re.Pattern | None = None  # what must come just before the word ("tylenol OD": an overdose)


class Normalizer:
    """Turns text into (stem, start, end) triples; abbreviations expand to several stems at one span."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = {}
        state.pop("_words_config", None)
        return state

    def reads_words_like(self, other: Normalizer) -> bool:
        """Whether :meth:`words` gives the same words of any text as ``other``'s (the same side letters, joined
        prefixes and contextual abbreviations): a model's pickled normaliser and the shipped one can differ."""
        return other is self or self._words_fingerprint() == other._words_fingerprint()

    def _words_fingerprint(self) -> tuple:
        found = self.__dict__.get("_words_config")
        if found is None:
            contextual = tuple(sorted(
                (word, tuple((r.pattern.pattern, r.pattern.flags, r.key, r.upper,
                              None if getattr(r, "after", None) is None else r.after.pattern) for r in rules))
                for word, rules in self.contextual.items()))
            found = self.__dict__["_words_config"] = (
                contextual, tuple(sorted(self.joined_prefixes)), tuple(sorted(self.side_letters.items())))
        return found

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"joined_prefixes": frozenset(), "contextual": {}, "ruled_out_after_no": frozenset(),
                              **state})
        self._cache = {}

    def __init__(self, abbreviations: dict[str, str] | None = None, word_forms: dict | None = None,
                 contextual: list[dict] | None = None, drug_classes: dict[str, str] | None = None):
        forms = word_forms if word_forms is not None else load_json("word_forms.json")
        self.equivalent: dict[str, str] = forms.get("equivalent", {})
        self.stopwords = frozenset(forms.get("stopwords", []))
        self.side_letters: dict[str, str] = forms.get("side_letters", {})
        self.joined_prefixes = frozenset(forms.get("joined_prefixes", []))
        self.ruled_out_after_no = frozenset(forms.get("ruled_out_after_no", []))
        abbreviations = abbreviations if abbreviations is not None else _load("abbreviations.json", "expansions")
        contextual = contextual if contextual is not None else _load("abbreviations.json", "contextual")
        self._cache: dict[str, tuple[str, ...]] = {}
        self.expansions: dict[str, tuple[str, ...]] = {}
        self.contextual: dict[str, list[_Contextual]] = {}
        meanings: dict[str, str] = {}
        drug_classes = drug_classes if drug_classes is not None else load_drug_classes()
        drugs = literal_alternation(sorted(drug_classes))
        for rule in contextual:
            key = "=" + rule["means"].lower()  # "=" keeps these keys apart from any word of a text
            after = rule.get("after")
            self.contextual.setdefault(rule["word"], []).append(_Contextual(
                re.compile(rule["match"].replace("{drugs}", drugs)), key, rule.get("case") == "upper",
                re.compile(rf"(?:{after.replace('{drugs}', drugs)})\W*$") if after else None))
            meanings[key] = rule["means"]
        # A drug reads as itself and as its class in the code set's words ("sertraline" is also "selective
        # serotonin reuptake inhibitors"), as the Table of Drugs and Chemicals leads a coder to T43.22-.
        by_drug = {drug: drug if words == drug else f"{drug} {words}" for drug, words in drug_classes.items()}
        for abbr, expansion in {**forms.get("expansions", {}), **by_drug, **abbreviations, **meanings}.items():
            words = tuple(w.key for w in self.words(expansion.lower()))
            if words:
                self.expansions[abbr.lower()] = words

    def word_stem(self, word: str) -> str:
        """The stem of one lowercase word after mapping equivalent forms."""
        word = self.equivalent.get(word, word)
        return stem(word)

    def word_stems(self, word: str) -> tuple[str, ...]:
        """Content stems of one lowercase word: its abbreviation expansion, stop words removed (cached)."""
        cached = self._cache.get(word)
        if cached is None:
            cached = remember(self._cache, word, tuple(self.word_stem(w) for w in self.expansions.get(word, (word,))
                                                       if w not in self.stopwords))
        return cached

    def words(self, text: str) -> Iterator[Word]:
        """The words of ``text`` with their lookup keys: a capital side letter ("R knee") is its side, a
        contextual abbreviation ("b/l", "SH III") what it stands for, over the whole span it covers, and a
        hyphenated prefix one word with its stem ("non-palpable" is "nonpalpable")."""
        lowered = lower_same_length(text)
        enumerators = {e.start(1) for e in _ENUMERATOR.finditer(lowered)} if "." in lowered or ")" in lowered else ()
        skip_to = 0
        for m in _TOKEN.finditer(lowered):
            start = m.start()
            if start < skip_to or start in enumerators:
                continue
            word = m.group()
            for rule in self.contextual.get(word, ()):
                hit = rule.pattern.match(lowered, start)
                after = getattr(rule, "after", None)  # models pickled before it have none
                if after is not None and hit is not None and not after.search(lowered, max(0, start - 40), start):
                    continue
                if hit is not None and (not rule.upper or text[start:hit.end()].isupper()):
                    skip_to = hit.end()
                    yield Word(start, hit.end(), hit.group(), rule.key)
                    break
            else:
                if word in self.joined_prefixes and lowered.startswith("-", m.end()):
                    joined = _TOKEN.match(lowered, m.end() + 1)
                    if joined is not None and joined.group().isalpha():
                        skip_to = joined.end()
                        yield Word(start, joined.end(), lowered[start:joined.end()], word + joined.group())
                        continue
                end = m.end()
                side = self.side_word(text, m) if end - start == 1 else None  # only a letter can be a side
                yield Word(start, end, word, side or word)

    def iter_stems(self, text: str, keep_stopwords: bool = False) -> Iterator[tuple[str, int, int]]:
        """Stems of ``text`` with the character span of the word each came from."""
        for m in self.words(text):
            if keep_stopwords:
                for w in self.expansions.get(m.key, (m.key,)):
                    yield self.word_stem(w), m.start, m.end
                continue
            for s in self.word_stems(m.key):
                yield s, m.start, m.end

    def polar_words(self, text: str) -> Iterator[tuple[Word, int]]:
        """The words of ``text``, each with its negative group: 0 outside the scope of "without", "w/o" or
        "not", else a number shared by the words of one ruled-out phrase.

        A scope runs over the next content words until punctuation, a preposition that starts a site or a
        cause ("of", "in", "due"), "with", or four content words; "or" and "and" start a new phrase in it.
        In "without perforation or abscess of intestine, with bleeding" perforation (group 1) and abscess
        (group 2) are ruled out, intestine and bleeding are not. This is the composition of code descriptions
        ("with coma" / "without coma"), not assertion: "no", "denies" and the like are ConText's
        (:mod:`suggest.pipeline.context`), except "no" before a word the code set composes with "without"
        ("no FB", "no tophi": ``ruled_out_after_no`` in ``word_forms.json``).
        """
        scope = 0
        group = 0
        prev_end = 0
        prev_word = ""
        for m in self.words(text):
            word = m.text
            gap = text[prev_end:m.start]
            if scope and (_SCOPE_BREAK.search(gap) or word in _SCOPE_END):
                scope = 0
            if (word in _NEGATORS or (word == "o" and prev_word == "w" and gap == "/")
                    or (word == "no" and self._composes_with_no(text, m.end))):
                scope = _SCOPE_WORDS
                group += 1
                yield m, 0
            elif scope and word in _SCOPE_SPLIT:
                group += 1
                yield m, 0
            elif scope and not (word == "w" and text.startswith("/o", m.end)):
                if word not in self.stopwords:
                    scope -= 1
                yield m, group
            else:
                yield m, 0
            prev_end, prev_word = m.end, word

    def _composes_with_no(self, text: str, end: int) -> bool:
        """Whether the word after a "no" ending at ``end`` is one the code set composes with "without"."""
        following = _NEXT_WORD.match(text, end)
        return following is not None and following.group(1).lower() in self.ruled_out_after_no

    def side_word(self, text: str, m: re.Match) -> str | None:
        """The side a capital single letter stands for ("R" in "R knee pain" -> "right"), else None: only a
        capital letter alone, followed by a word, and not after a number ("2 L daily")."""
        side = self.side_letters.get(m.group()) if m.end() - m.start() == 1 else None
        if side is None or not text[m.start()].isupper() or not _WORD_AFTER.match(text, m.end()):
            return None
        if text[max(0, m.start() - 8): m.start()].rstrip()[-1:].isdigit():  # "2 L daily": litres
            return None
        return side

    def stems(self, text: str) -> list[str]:
        """Content stems of a short phrase (a code term), in order, stop words removed."""
        return [s for s, _, _ in self.iter_stems(text)]


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    """The normaliser built from the shipped data files."""
    return Normalizer()
