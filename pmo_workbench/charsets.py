"""Text encodings of input files: UTF-8 (with or without BOM), latin-1 and cp1252, detected or given.

Registry extracts from Statistics Denmark and the regions usually come as latin-1 or cp1252, OMOP exports and
YAML files as UTF-8. :func:`detect_encoding` reads the bytes once, in chunks (bounded memory): text that decodes
as UTF-8 is UTF-8 (``utf-8-sig`` when it starts with a BOM); otherwise it is cp1252 when it holds bytes
0x80-0x9F that cp1252 defines (``€``, curly quotes, dashes -- C1 control characters in latin-1, which no text
file holds), else latin-1 (the two agree on every other byte, the Danish letters æ ø å Æ Ø Å included).
:func:`transcode` writes a UTF-8 copy for readers that take UTF-8 only (DuckDB's CSV reader).

Examples
--------
>>> import io
>>> detect_encoding(io.BytesIO("Region Sjælland\\n".encode("latin-1")))
'latin-1'
>>> detect_encoding(io.BytesIO("Region Sjælland \\u2013 Nord\\n".encode("cp1252")))
'cp1252'
>>> detect_encoding(io.BytesIO("\\ufeffRegion Sjælland\\n".encode("utf-8")))
'utf-8-sig'
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pmo_workbench.errors import InputError

ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252")
"""Encodings an input may be given in (``--encoding``); ``None`` or ``auto`` detects."""

CHUNK = 1 << 20
_C1 = bytes(b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))  # defined in cp1252


def normalise_encoding(name: str | None) -> str | None:
    """``None`` for automatic detection, else the canonical name of a supported encoding (an
    :class:`~pmo_workbench.errors.InputError` for others).

    Examples
    --------
    >>> normalise_encoding("Windows-1252"), normalise_encoding("ISO-8859-1"), normalise_encoding("auto")
    ('cp1252', 'latin-1', None)
    """
    if name is None or name.strip().lower() in ("", "auto"):
        return None
    try:
        canonical = codecs.lookup(name.strip()).name
    except LookupError:
        canonical = ""
    names = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "iso8859-1": "latin-1", "latin-1": "latin-1",
             "cp1252": "cp1252"}
    if canonical not in names:
        raise InputError(f"unsupported encoding (use one of {', '.join(ENCODINGS)} or auto)",
                         field="encoding")
    return names[canonical]


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        block = stream.read(CHUNK)
        if not block:
            return
        yield block


def detect_encoding(stream: BinaryIO, *, limit: int | None = None, name: str | Path | None = None) -> str:
    """The encoding of the bytes of ``stream`` (read to the end; see the module docstring).

    ``limit`` caps the bytes read (an :class:`~pmo_workbench.errors.InputError` naming ``name`` beyond it).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = b""
    utf8, c1, total = True, False, 0
    for block in _chunks(stream):
        total += len(block)
        if limit is not None and total > limit:
            raise InputError(f"larger than the limit of {limit:,} bytes", file=name)
        if len(first) < 3:
            first += block[:3]
        if not c1 and not block.isascii() and any(b in block for b in _C1):
            c1 = True
        if utf8 and not block.isascii():
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        return "utf-8-sig" if first.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252" if c1 else "latin-1"


def detect_file_encoding(path: str | Path) -> str:
    """:func:`detect_encoding` of a file."""
    with open(path, "rb") as fh:
        return detect_encoding(fh)


def check_decodes(path: str | Path, encoding: str) -> None:
    """An :class:`~pmo_workbench.errors.InputError` naming the line of the first byte that ``encoding`` cannot
    decode (for a given, not detected, encoding)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as fh:
        for block in _chunks(fh):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid {encoding} text", file=path,
                                 line=line + block[: exc.start].count(b"\n")) from None
            line += block.count(b"\n")


def transcode(path: str | Path, target: str | Path, encoding: str) -> Path:
    """Write ``path`` (in ``encoding``) as UTF-8 without BOM to ``target``, in chunks; returns ``target``."""
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
    line = 1
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        for block in _chunks(src):
            try:
                dst.write(decoder.decode(block))
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid {encoding} text", file=path,
                                 line=line + block[: exc.start].count(b"\n")) from None
            line += block.count(b"\n")
        dst.write(decoder.decode(b"", final=True))
    return Path(target)


def decode_text(data: bytes, *, name: str | Path | None = None, encoding: str | None = None) -> str:
    """Decode a small file's bytes (YAML): given ``encoding``, else detected as above; a UTF-8 BOM is dropped.

    Examples
    --------
    >>> decode_text("navn: Åse\\n".encode("cp1252"))
    'navn: Åse\\n'
    """
    import io

    enc = normalise_encoding(encoding) or detect_encoding(io.BytesIO(data))
    try:
        return data.decode("utf-8-sig" if enc == "utf-8" else enc)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid {enc} text", file=name, line=data[: exc.start].count(b"\n") + 1) from None
