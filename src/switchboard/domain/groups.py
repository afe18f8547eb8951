"""Groups: what may name one (section 9: "non-empty strings without whitespace")."""

from __future__ import annotations

import unicodedata

# Control characters (a NUL among them) and lone surrogates: never part of a group id, and
# not storable as text by every database (PostgreSQL has no NUL; no driver encodes a
# surrogate).
_NOT_IN_IDS = frozenset({"Cc", "Cs"})


def is_group_id(text: str) -> bool:
    return bool(text) and not any(
        c.isspace() or unicodedata.category(c) in _NOT_IN_IDS for c in text
    )
