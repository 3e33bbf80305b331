"""Checksum-keyed genotype store cache: one directory per input content, created atomically.

An input is identified by the sha256 of its bytes (PLINK: of .bed, .bim and .fam together) plus the reader
version, so a renamed copy hits the same store and a changed file never does. The full checksum is computed once
per file and noted in ``.stat/``; a later open reuses the noted checksum only while **both** hold:

* a cheap signature still matches: resolved path, device, inode, size, modification time *and* status-change
  time (``st_ctime``). ``cp -p``, ``rsync -a``, ``tar x`` and ``touch -r`` restore the modification time, but no
  user-level tool can restore the change time: any write or ``touch`` sets it to now;
* a sampled-content check agrees: the sha256 of the first 1 MiB (the VCF header with the sample names, the BGZF
  header, the PLINK .fam in full when small), the last 64 KiB and 64 blocks of 4 KiB spread evenly over the file.

Trade-off: the check reads ~1.3 MiB per file instead of the whole file. Measured with
``python -m benchmarks genotype_cache`` on a 257 MB BGZF VCF (2 cores, load 15): the full sha256 takes 0.71 s with
the file in the page cache and 0.76 s after dropping it (coreutils ``sha256sum``: 2.8 s), the re-open check 1.2 ms
warm and 12 ms cold -- 60-600x less, whatever the size (a 10 GB file: ~30 s once, then milliseconds). A change that keeps size, modification *and* change time (only possible by resetting the system
clock or on a file system without ctime) and lies wholly outside the sampled bytes would go unnoticed; set
``PMO_CACHE_VERIFY=full`` (or ``verify="full"``) to hash the whole file on every open instead.

Content not seen before (no valid note, and no note with its sampled content: :func:`content_seen`) is not hashed
before its import: the VCF reader hashes the raw bytes as it reads them and the store is renamed to its checksum
afterwards (:func:`build_store_by_content`), so a new input is read once, not twice (on an uncompressed VCF the
separate pass cost ~10 % of the import's wall time). An input whose sampled content a note has (a possible copy of
an imported file) is hashed first, as before, so a renamed copy finds its store without an import.

A store is built in a hidden temporary directory (``.import-*``) next to its final place, locked (``flock``) by
the importing process while it runs, and renamed into place only when complete, so a failed import leaves nothing
behind. A store imported again with more FORMAT fields (:func:`replace_store_atomically`) is built the same way and
swapped with the old one in one step (``renameat2(RENAME_EXCHANGE)``), so a reader sees the old store or the new,
never a half-written one nor none; :func:`lock_store` keeps two processes from upgrading the same store at once. A killed import cannot clean up; its folder is removed on the next open of any input in the same cache
(:func:`clean_stale_imports`: an unlocked ``.import-*`` folder belongs to a dead process).

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

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
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


HEAD_BYTES = 1 << 20
TAIL_BYTES = 64 << 10
SAMPLE_BLOCKS = 64
SAMPLE_BLOCK_BYTES = 4 << 10
LOCK_SUFFIX = ".lock"
STALE_UNLOCKED_SECONDS = 60
"""An ``.import-*`` folder without a lock file is left alone this long (it may be being created)."""


def compute_signature(path: str | Path) -> list:
    """The cheap signature of a file: resolved path, device, inode, size, mtime and ctime (nanoseconds)."""
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def compute_sample_digest(path: str | Path) -> str:
    """sha256 of a file's size, first 1 MiB, last 64 KiB and 64 evenly spaced 4 KiB blocks (whole file if small).

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "x"
    >>> _ = f.write_bytes(b"abc")
    >>> compute_sample_digest(f) == compute_sample_digest(f)
    True
    """
    h = hashlib.sha256()
    size = os.path.getsize(path)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as fh:
        if size <= HEAD_BYTES + TAIL_BYTES + SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:
            h.update(fh.read())
            return h.hexdigest()
        h.update(fh.read(HEAD_BYTES))
        step = (size - HEAD_BYTES - TAIL_BYTES) // SAMPLE_BLOCKS
        for i in range(SAMPLE_BLOCKS):
            fh.seek(HEAD_BYTES + i * step)
            h.update(fh.read(SAMPLE_BLOCK_BYTES))
        fh.seek(size - TAIL_BYTES)
        h.update(fh.read(TAIL_BYTES))
    return h.hexdigest()


def _note_path(cache_dir: Path, signature: list) -> Path:
    return cache_dir / ".stat" / hashlib.sha256("\n".join(s[0] for s in signature).encode()).hexdigest()


def _verify_mode(verify: str | None) -> str:
    verify = verify or os.environ.get("PMO_CACHE_VERIFY") or "sampled"
    if verify not in ("sampled", "full"):
        raise ValueError(f"verify must be 'sampled' or 'full', not {verify!r}")
    return verify


def noted_input_key(paths: Sequence[str | Path], cache_dir: Path, *, verify: str | None = None) -> str | None:
    """The checksum noted for ``paths`` while their signature and sampled content agree with the note, else
    ``None`` (always ``None`` with ``verify="full"``)."""
    if _verify_mode(verify) != "sampled":
        return None
    signature = [compute_signature(p) for p in paths]
    note = _note_path(cache_dir, signature)
    if not note.is_file():
        return None
    try:
        noted = json.loads(note.read_text())
    except (OSError, ValueError):
        return None
    if (isinstance(noted, dict) and noted.get("signature") == signature
            and noted.get("samples") == [compute_sample_digest(p) for p in paths]
            and isinstance(noted.get("sha256"), str) and len(noted["sha256"]) == 64):
        return noted["sha256"]
    return None


def note_input_key(paths: Sequence[str | Path], cache_dir: Path, digest: str, signature: list | None = None) -> None:
    """Note ``digest`` as the checksum of ``paths`` (with ``signature``, taken before they were hashed)."""
    signature = signature or [compute_signature(p) for p in paths]
    note = _note_path(cache_dir, signature)
    note.parent.mkdir(exist_ok=True)
    write_text_atomic(note, json.dumps({"signature": signature, "samples": [compute_sample_digest(p) for p in paths],
                                        "sha256": digest}))


def content_seen(paths: Sequence[str | Path], cache_dir: Path) -> bool:
    """True when a note of the cache has the sampled content of ``paths`` (size, head, tail, spread blocks): the
    input may be a copy of one imported before, so its full checksum is wanted *before* an import, to find that
    store. False means new content: its checksum can be taken while it is imported
    (:func:`build_store_by_content`)."""
    samples = [compute_sample_digest(p) for p in paths]
    try:
        notes = list((cache_dir / ".stat").iterdir())
    except OSError:
        return False
    for note in notes:
        try:
            if json.loads(note.read_text()).get("samples") == samples:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def compute_input_key(paths: Sequence[str | Path], cache_dir: Path, *, verify: str | None = None) -> str:
    """Content sha256 of the inputs, reusing the noted checksum while the signature and the sampled content agree.

    Parameters
    ----------
    paths
        The input files (hashed together, in order).
    cache_dir
        The cache; notes live in its ``.stat/`` folder, one per list of resolved paths.
    verify
        ``"sampled"`` (default) or ``"full"`` (always hash every byte); default from ``$PMO_CACHE_VERIFY``.
    """
    noted = noted_input_key(paths, cache_dir, verify=verify)
    if noted is not None:
        return noted
    signature = [compute_signature(p) for p in paths]
    digest = compute_sha256(paths)
    note_input_key(paths, cache_dir, digest, signature)
    return digest


def _lock_path(folder: Path) -> Path:
    """The lock file of an ``.import-*`` folder: a sibling (the build may empty and recreate the folder itself)."""
    return folder.with_name(folder.name + LOCK_SUFFIX)


def clean_stale_imports(cache_dir: Path) -> list[Path]:
    """Remove the ``.import-*`` folders of killed imports in ``cache_dir``; returns what was removed.

    A running import holds an exclusive ``flock`` on its folder's lock file (the kernel drops it when the process
    dies, however it dies), so a folder whose lock can be taken is stale. A folder without a lock file is stale once
    it is older than :data:`STALE_UNLOCKED_SECONDS`; a lock file without its folder is removed when unlocked.
    """
    removed = []
    try:
        entries = sorted(p for p in cache_dir.iterdir() if p.name.startswith(".import-"))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.endswith(LOCK_SUFFIX):
            folder, lock = entry.with_name(entry.name[: -len(LOCK_SUFFIX)]), entry
            if folder.exists():
                continue  # handled with its folder
        else:
            folder, lock = entry, _lock_path(entry)
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            try:
                stale = time.time() - folder.stat().st_mtime > STALE_UNLOCKED_SECONDS
            except OSError:
                continue
            if stale:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live import holds it
        try:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            with contextlib.suppress(OSError):
                lock.unlink()
        finally:
            os.close(fd)
    return removed


def find_plink_files(path: Path) -> list[Path] | None:
    """``[.bed, .bim, .fam]`` when ``path`` names a PLINK 1 file or prefix, else ``None`` (a VCF/BCF)."""
    prefix = path.with_suffix("") if path.suffix in (".bed", ".bim", ".fam") else path
    files = [prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam")]
    if path.suffix in (".bed", ".bim", ".fam") or files[0].is_file():
        return files
    return None


def locate_source(path: str | Path, cache_dir: str | Path | None, *, defer_hash: bool = False
                  ) -> tuple[list[Path] | None, list[Path], Path, str | None]:
    """The input files of a genotype source and its cache key, shared by the embedded and Hail backends.

    Returns ``(plink_files or None, input files, cache folder, input key)``; a missing input is an
    :class:`~pmo_workbench.errors.InputError` naming the file. With ``defer_hash`` the key is ``None`` for
    content not seen before (no valid note, no note with its sampled content, see :func:`content_seen`): the
    caller then imports it with :func:`build_store_by_content`, hashing as it reads.
    """
    path = Path(path)
    plink = find_plink_files(path)
    inputs = plink if plink is not None else [path]
    for f in inputs:
        if not f.is_file():
            raise InputError("file not found", file=f)
    cache_path = resolve_cache_dir(cache_dir)
    clean_stale_imports(cache_path)
    if defer_hash:  # (the note checked once: a known input's key is read, not looked up again)
        noted = noted_input_key(inputs, cache_path)
        if noted is not None:
            return plink, inputs, cache_path, noted
        if not content_seen(inputs, cache_path):
            return plink, inputs, cache_path, None
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
    return _build_then_rename(final.parent, f".import-{final.name}-", build, lambda: final)


def build_store_by_content(inputs: Sequence[Path], cache_dir: Path, build: Callable[[Path], str]) -> tuple[Path, str]:
    """Run ``build(tmp_dir)``, which returns the inputs' sha256 (taken as it read them), note that checksum and
    rename ``tmp_dir`` to the store of that content; return ``(store, sha256)``. As
    :func:`build_store_atomically`, a complete store already there is kept (the same content) and ours discarded.

    Examples
    --------
    >>> d = Path(tempfile.mkdtemp())
    >>> f = d / "x.txt"
    >>> _ = f.write_text("hello")
    >>> store, key = build_store_by_content([f], d, lambda tmp: compute_sha256([f]))
    >>> store == store_path_for(d, key), is_complete(store), compute_input_key([f], d) == key
    (True, True, True)
    """
    signature = [compute_signature(p) for p in inputs]
    found: list[str] = []

    def run(tmp: Path) -> None:
        found.append(build(tmp))
        note_input_key(inputs, cache_dir, found[0], signature)

    store = _build_then_rename(cache_dir, ".import-new-", run, lambda: store_path_for(cache_dir, found[0]))
    return store, found[0]


@contextlib.contextmanager
def _import_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new ``.import-*`` folder in ``parent``, locked (so :func:`clean_stale_imports` leaves it alone) while the
    block builds it; removed if the block fails. The block completes it and moves it into place."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    lock_path = _lock_path(tmp)
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        with contextlib.suppress(OSError):
            os.close(lock)


def _build_then_rename(parent: Path, prefix: str, build: Callable[[Path], None], final_of: Callable[[], Path]
                       ) -> Path:
    with _import_folder(parent, prefix) as tmp:
        build(tmp)
        final = final_of()
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        if final.exists() and not is_complete(final):
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    return final


@contextlib.contextmanager
def lock_store(final: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the upgrade lock of store ``final`` (the file ``.upgrade-<name>.lock`` beside
    it, kept) while the block runs: the one process that decides on and performs a store's upgrade.

    Examples
    --------
    >>> d = Path(tempfile.mkdtemp())
    >>> with lock_store(d / "s.vcz"):
    ...     (d / ".upgrade-s.vcz.lock").is_file()
    True
    """
    fd = os.open(final.with_name(f".upgrade-{final.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one step: Linux ``renameat2(RENAME_EXCHANGE)``; where the C library or the file
    system lacks it, ``b`` is renamed aside and ``a`` into its place (a reader in between finds no store and
    imports it again; it never reads a half-written one)."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(b))
    aside = a.with_name(a.name + "-old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def replace_store_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp_dir)`` and put ``tmp_dir`` in the place of the complete store ``final`` in one step
    (:func:`_exchange`); the old store is then removed. On any error before the swap ``tmp_dir`` is removed and
    ``final`` stays as it was. Without a complete ``final`` this is :func:`build_store_atomically`.

    Callers hold :func:`lock_store` of ``final`` and decide under it that the store is to be replaced.

    Examples
    --------
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = build_store_atomically(d / "s", lambda tmp: (tmp / "v").write_text("1"))
    >>> _ = replace_store_atomically(d / "s", lambda tmp: (tmp / "v").write_text("2"))
    >>> (d / "s" / "v").read_text(), is_complete(d / "s"), sorted(p.name for p in d.iterdir())
    ('2', True, ['s'])
    """
    if not is_complete(final):
        return build_store_atomically(final, build)
    with _import_folder(final.parent, f".import-{final.name}-") as tmp:
        build(tmp)
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        _exchange(tmp, final)  # tmp now holds the old store
        shutil.rmtree(tmp, ignore_errors=True)
    return final
