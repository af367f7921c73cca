"""Reading text files as hydrologists have them: UTF-8 (with or without BOM) or cp1251, any line ending."""

from __future__ import annotations

from pathlib import Path

ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1251")


class UnreadableFile(ValueError):
    """The file cannot be decoded or is not a text table."""


def read_text(path: Path) -> tuple[str, str]:
    """Return (text, encoding) of `path`, trying UTF-8 first, then cp1251 (Kazhydromet's usual Windows encoding)."""
    data = Path(path).read_bytes()
    if b"\x00" in data[:4096]:
        raise UnreadableFile(f"{path}: binary file (NUL bytes); expected a text table")
    for enc in ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"{path}: neither UTF-8 nor cp1251 text")
