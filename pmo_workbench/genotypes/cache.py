"""Checksum-keyed genotype store cache: one directory per input content, created atomically.

An input is identified by the sha256 of its bytes (PLINK: of .bed, .bim and .fam together) plus the reader
version, so a renamed copy hits the same store and a changed file never does. A (path, size, mtime) note
avoids re-hashing an unchanged file on later opens. A store is built in a hidden temporary directory next to
its final place and renamed into place only when complete, so a failed import leaves nothing behind.

Examples
--------
>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> (d / "a.txt").write_text("hello")
5
>>> compute_sha256([d / "a.txt"])[:12]
'2cf24dba5fb0'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pmo_workbench.errors import InputError
from pmo_workbench.files import write_text_atomic

READER_VERSION = "2"
"""Bumped whenever the store layout or the reader's semantics change (old stores are then not reused)."""

COMPLETE_MARKER = ".complete"


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """The cache directory: ``cache_dir``, else ``$PMO_CACHE_DIR``, else ``~/.cache/pmo_workbench/genotypes``."""
    if cache_dir is None:
        cache_dir = os.environ.get("PMO_CACHE_DIR") or Path.home() / ".cache" / "pmo_workbench" / "genotypes"
    path = Path(cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def compute_sha256(paths: Sequence[str | Path], block: int = 8 << 20) -> str:
    """sha256 hex digest of the concatenated bytes of ``paths``, read in blocks."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            while data := fh.read(block):
                h.update(data)
    return h.hexdigest()


def compute_input_key(paths: Sequence[str | Path], cache_dir: Path) -> str:
    """Content sha256 of the inputs, reusing a note keyed by (absolute path, size, mtime) when present."""
    stat_parts = []
    for p in paths:
        st = os.stat(p)
        stat_parts.append(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns}")
    stat_key = hashlib.sha256("\n".join(stat_parts).encode()).hexdigest()
    note = cache_dir / ".stat" / stat_key
    if note.is_file():
        text = note.read_text().strip()
        if len(text) == 64:
            return text
    digest = compute_sha256(paths)
    note.parent.mkdir(exist_ok=True)
    write_text_atomic(note, digest)
    return digest


def find_plink_files(path: Path) -> list[Path] | None:
    """``[.bed, .bim, .fam]`` when ``path`` names a PLINK 1 file or prefix, else ``None`` (a VCF/BCF)."""
    prefix = path.with_suffix("") if path.suffix in (".bed", ".bim", ".fam") else path
    files = [prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam")]
    if path.suffix in (".bed", ".bim", ".fam") or files[0].is_file():
        return files
    return None


def locate_source(path: str | Path, cache_dir: str | Path | None) -> tuple[list[Path] | None, list[Path], Path, str]:
    """The input files of a genotype source and its cache key, shared by the embedded and Hail backends.

    Returns ``(plink_files or None, input files, cache folder, input key)``; a missing input is an
    :class:`~pmo_workbench.errors.InputError` naming the file.
    """
    path = Path(path)
    plink = find_plink_files(path)
    inputs = plink if plink is not None else [path]
    for f in inputs:
        if not f.is_file():
            raise InputError("file not found", file=f)
    cache_path = resolve_cache_dir(cache_dir)
    return plink, inputs, cache_path, compute_input_key(inputs, cache_path)


def store_path_for(cache_dir: Path, digest: str) -> Path:
    """Where the store of an input with content ``digest`` lives."""
    return cache_dir / f"{digest[:24]}-r{READER_VERSION}.vcz"


def is_complete(store: Path) -> bool:
    """True when ``store`` exists and its import finished."""
    return (store / COMPLETE_MARKER).is_file()


def build_store_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp_dir)`` and rename ``tmp_dir`` to ``final``; on any error remove ``tmp_dir``.

    If another process completed ``final`` meanwhile, its store is kept and ours discarded.
    """
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".import-{final.name}-"))
    try:
        build(tmp)
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        if final.exists() and not is_complete(final):
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
