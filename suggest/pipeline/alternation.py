"""Regular expressions that find any of many literal phrases, compiled as a trie.

Python's ``re`` tries the branches of ``a|b|c`` one by one at every position of the text, so a pattern of a few
hundred drug names cost over a millisecond per chart. Written as a trie (``met(?:formin|oprolol)``) each
position tests one branch per character. The matches are those of the longest-first alternation: at each
position the longest phrase that the rest of the pattern accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""


def literal_alternation(phrases: Iterable[str], ignore_case: bool = True) -> str:
    """Regex source (a non-capturing group) matching any of ``phrases`` literally, the longest first.

    With ``ignore_case`` the phrases are folded to lower case (compile the pattern with ``re.IGNORECASE``)."""
    trie: dict = {}
    for phrase in phrases:
        if not phrase:
            continue
        node = trie
        for ch in phrase.lower() if ignore_case else phrase:
            node = node.setdefault(ch, {})
        node[_END] = {}
    if not trie:
        return "(?!)"
    return "(?:" + _render(trie) + ")"


def _render(node: dict) -> str:
    branches = [re.escape(ch) + _render(child) for ch, child in sorted(node.items()) if ch != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:  # a phrase ends here: longer phrases first, then this one
        return body + "?" if len(branches) == 1 and len(body) == 1 else "(?:" + body + ")?"
    return body
