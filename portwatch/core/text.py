"""Make text from other programs safe to show: control and bidi characters become visible escapes.

Process names, command lines and paths are chosen by whoever started the process. A terminal
escape sequence in a name must not repaint the user's terminal, and a right-to-left override
(U+202E) must not make "exe.txt" read as "txt.exe". `visible()` keeps every other character as is.
"""

from __future__ import annotations

import unicodedata

# Bidirectional formatting characters: embeddings, overrides, isolates and marks.
_BIDI = {0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str | None, limit: int | None = None) -> str:
    """`text` with control, bidi-override and other invisible format characters escaped
    (\\x1b, \\u202e), cut to `limit` characters with an ellipsis when given."""
    if not text:
        return ""
    out = []
    for ch in text:
        code = ord(ch)
        if code in _BIDI or (ch != " " and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")):
            out.append(_escape(ch))
        else:
            out.append(ch)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: max(limit - 1, 0)] + "…"
    return result
