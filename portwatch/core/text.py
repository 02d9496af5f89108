"""Make text from other programs safe to show: control and bidi characters become visible escapes.

Process names, command lines and paths are chosen by whoever started the process. A terminal
escape sequence in a name must not repaint the user's terminal, and a right-to-left override
(U+202E) must not make "exe.txt" read as "txt.exe". `visible()` keeps every other character as is.
`encodable()` only rewrites what cannot be written as UTF-8 (bytes that were not UTF-8).
"""

from __future__ import annotations

import unicodedata

# Bidirectional formatting characters: embeddings, overrides, isolates and marks.
_BIDI = {0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
# Controls, format characters, line/paragraph separators and lone surrogates (undecodable
# bytes): shown as escapes.
_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def _is_surrogate(ch: str) -> bool:
    return 0xD800 <= ord(ch) <= 0xDFFF


def encodable(text: str) -> str:
    """`text` with lone surrogates written as escapes (\\xff for the undecodable byte 0xff),
    everything else as is: what can be written as UTF-8 (SQLite, CSV files, D-Bus).

    Paths, names and command lines that are not UTF-8 reach Python with surrogate escapes
    (os.fsdecode); encoding those raises UnicodeEncodeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape(ch) if _is_surrogate(ch) else ch for ch in text)
    return text


def visible(text: str | None, limit: int | None = None) -> str:
    """`text` with control, bidi-override and other invisible format characters escaped
    (\\x1b, \\u202e), bytes that were not UTF-8 shown as \\xff, cut to `limit` characters
    with an ellipsis when given."""
    if not text:
        return ""
    out = []
    for ch in text:
        code = ord(ch)
        if code in _BIDI or (ch != " " and unicodedata.category(ch) in _HIDDEN):
            out.append(_escape(ch))
        else:
            out.append(ch)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: max(limit - 1, 0)] + "…"
    return result
