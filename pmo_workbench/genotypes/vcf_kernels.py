"""VCF record text -> arrays, in C (``pmo_workbench/ckernels/vcf_parse.c``, API in ``vcf.h``): the hot path of the
embedded import.

:func:`parse_records` takes a block of complete record lines (the text after the ``#CHROM`` line, any number of
lines) and returns a :class:`RecordBlock`: POS, allele counts, the CHROM/ID/REF/ALT/QUAL/FILTER bytes, GT as int8
allele indices, DP/GQ/AD where asked for and present, the 2-bit packed copy of :mod:`.packed_calls`, and the
first error (code, record, sample, aux, byte offset) and warnings found, for the caller to turn into an
:class:`~pmo_workbench.errors.InputError` naming the file, line and field. Blocks are independent: callers
parse several on several threads at once (the C call releases the GIL). No numba, no compilation at run time.

Genotype encoding (VCF Zarr ``call_genotype``): allele index, ``-1`` missing, ``-2`` no further allele.
A haploid call ``1`` is ``[1, -2]``; ``0/.`` and ``./1`` (half calls) are read as haploid ``[0, -2]``,
``[1, -2]``; ``.`` is ``[-1, -2]``; ``./.`` is ``[-1, -1]``.

Examples
--------
>>> block = parse_records(b"1\\t5\\t.\\tA\\tG\\t.\\tPASS\\t.\\tGT\\t0|1\\t1\\n", RecordSpec(n_samples=2))
>>> block.gt[0].tolist(), block.pos.tolist(), block.column(2)
([[0, 1], [1, -2]], [5], [b'A'])
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field

import numpy as np

from pmo_workbench import ckernels

# error codes (err[0]); err[1] record in block, err[2] sample (or column), err[3] aux, err[4] byte offset
ERR_NONE = 0
ERR_FEW_COLUMNS = 1  # fewer than 8 fixed columns (aux = columns found)
ERR_POS = 2  # POS not an integer
ERR_SAMPLE_COLUMNS = 3  # number of sample columns differs from the header (aux = columns found)
ERR_GT_CHAR = 4  # GT holds something that is not an allele index, '.', '/' or '|'
ERR_GT_ALLELE = 5  # allele index beyond the record's alleles (aux = index)
ERR_GT_BIG = 6  # allele index > 127
ERR_PLOIDY = 7  # ploidy larger than the output array (aux = ploidy needed)
ERR_NO_FORMAT = 8  # samples in the header but no FORMAT column
ERR_HEADER_LINE = 9  # a line starting with '#'
ERR_EXTRA_COLUMNS = 10  # sample columns although the header names no samples
ERR_MANY_ALLELES = 11  # more than 127 alleles (aux = alleles)

# warning slots (warn[k, 0] count, warn[k, 1] first record in block, warn[k, 2], warn[k, 3] span of the token)
W_REF = 0  # REF has characters other than A, C, G, T, N (any case)
W_INFO_KEY = 1  # INFO key not declared in the header
W_FORMAT_KEY = 2  # FORMAT key not declared in the header
W_POS_ZERO = 3  # POS 0
W_POS_BIG = 4  # POS above 2^31 - 1 (not representable in BCF or PLINK)
W_AD_LENGTH = 5  # AD with more values than alleles
W_BAD_NUMBER = 6  # DP/GQ/AD value that is not an integer (read as missing)
W_NEGATIVE = 7  # negative DP/GQ/AD (read as missing)
N_WARN = 8

STRING_COLUMNS = ("CHROM", "ID", "REF", "ALT", "QUAL", "FILTER")
"""The columns of :attr:`RecordBlock.string_len`, in order."""

_WANT = {"DP": 1, "GQ": 2, "AD": 4}
_NEED_CAP, _NEED_AD_WIDTH, _NO_MEMORY = -1, -2, -3
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p


class _Spec(ctypes.Structure):
    _fields_ = [("n_samples", _I64), ("ploidy", _I64), ("want", _I64), ("info_keys", _PTR),
                ("n_info_keys", _I64), ("format_keys", _PTR), ("n_format_keys", _I64)]


class _Out(ctypes.Structure):
    _fields_ = [("cap", _I64), ("ad_width", _I64), ("line", _PTR), ("pos", _PTR), ("n_alleles", _PTR),
                ("gt", _PTR), ("dp", _PTR), ("gq", _PTR), ("ad", _PTR), ("packed", _PTR), ("packable", _PTR),
                ("strings", _PTR), ("strings_cap", _I64), ("string_len", _PTR), ("n", _I64), ("n_lines", _I64),
                ("n_blank", _I64), ("ad_need", _I64), ("err", _I64 * 5), ("warn", (_I64 * 4) * N_WARN)]


def hash_key(key: str) -> np.uint64:
    """FNV-1a 64-bit hash of a header ID (what :class:`RecordSpec` holds for the declared INFO/FORMAT IDs)."""
    raw = key.encode()
    return np.uint64(ckernels.library().pmo_hash_key(raw, len(raw)))


def hash_keys(ids: list[str]) -> np.ndarray:
    """Sorted :func:`hash_key` values of header IDs."""
    return np.sort(np.array([hash_key(i) for i in ids], dtype=np.uint64))


def empty_key_sets() -> tuple[np.ndarray, np.ndarray]:
    """Declared-key hash arrays meaning "do not check INFO/FORMAT keys"."""
    return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)


@dataclass
class RecordSpec:
    """What :func:`parse_records` needs to know about the file: the header's sample count, the store's ploidy
    (the width of the allele axis), the FORMAT fields to read (of ``DP``, ``GQ``, ``AD``), whether to make the
    2-bit packed copy, and the declared INFO/FORMAT IDs (:func:`hash_keys`; empty: keys are not checked)."""

    n_samples: int
    ploidy: int = 2
    fields: tuple[str, ...] = ()
    packed: bool = False
    info_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    format_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    def __post_init__(self) -> None:
        self.info_keys = np.ascontiguousarray(self.info_keys, dtype=np.uint64)
        self.format_keys = np.ascontiguousarray(self.format_keys, dtype=np.uint64)
        self._c = _Spec(self.n_samples, self.ploidy, sum(_WANT[f] for f in self.fields),
                        self.info_keys.ctypes.data, len(self.info_keys), self.format_keys.ctypes.data,
                        len(self.format_keys))


class BufferPool:
    """Memory for :func:`parse_records`' large arrays, handed back by :meth:`RecordBlock.release` and reused:
    fresh memory costs a page fault per 4 KiB, about as much as parsing the text that fills it."""

    def __init__(self, keep: int = 24) -> None:
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.keep = keep

    def take(self, shape: tuple[int, ...], dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """An uninitialised array and the buffer it lives in (to hand back with :meth:`give`)."""
        need = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
        buf = None
        with self._lock:
            fits = [k for k, b in enumerate(self._free) if len(b) >= need]
            if fits:
                buf = self._free.pop(min(fits, key=lambda k: len(self._free[k])))
        if buf is None:
            buf = np.empty(need, np.uint8)
        return buf[:int(np.prod(shape)) * np.dtype(dtype).itemsize].view(dtype).reshape(shape), buf

    def give(self, buffers: list[np.ndarray]) -> None:
        with self._lock:
            self._free.extend(buffers)
            if len(self._free) > self.keep:
                self._free.sort(key=len)
                del self._free[:len(self._free) - self.keep]


@dataclass
class RecordBlock:
    """The records of a block of lines (``n`` of them), as :func:`parse_records` returns them.

    ``line`` is each record's 0-based line index in the block (empty lines count; ``n_lines`` lines in all,
    ``n_blank`` of them empty); ``gt`` int8 [n, samples, ploidy]; ``dp`` int32, ``gq`` int16 [n, samples] and
    ``ad`` int32 [n, samples, the block's largest allele count] (-1 missing) or None when not asked for; ``packed``/``packable`` the
    2-bit copy or None; ``strings`` the bytes of :data:`STRING_COLUMNS`, record after record, with their lengths
    ``string_len`` int32 [n, 6]. ``err`` [5] and ``warn`` [N_WARN, 4] as in the module constants; token spans
    are offsets into the parsed text. With ``err[0]`` set the arrays are incomplete.
    """

    n: int
    n_lines: int
    n_blank: int
    line: np.ndarray
    pos: np.ndarray
    n_alleles: np.ndarray
    gt: np.ndarray
    dp: np.ndarray | None
    gq: np.ndarray | None
    ad: np.ndarray | None
    packed: np.ndarray | None
    packable: np.ndarray | None
    strings: np.ndarray
    string_len: np.ndarray
    err: np.ndarray
    warn: np.ndarray
    buffers: list[np.ndarray] = field(default_factory=list, repr=False)

    def release(self, pool: BufferPool | None) -> None:
        """Hand the large arrays' memory back to ``pool`` (the block's call arrays are not used after this)."""
        if pool is not None:
            pool.give(self.buffers)
        self.buffers = []

    def column(self, k: int) -> list[bytes]:
        """The bytes of string column ``k`` (index into :data:`STRING_COLUMNS`) of every record (slow: tests)."""
        ends = np.cumsum(self.string_len.ravel())
        starts = ends - self.string_len.ravel()
        flat = self.strings.tobytes()
        return [flat[starts[i * 6 + k]:ends[i * 6 + k]] for i in range(self.n)]


def parse_records(text: bytes | bytearray | memoryview | np.ndarray, spec: RecordSpec, *,
                  ad_width: int = 2, pool: BufferPool | None = None) -> RecordBlock:
    """Parse the complete lines of ``text`` (bytes after the last newline are ignored).

    ``ad_width`` is a first guess of the AD array's width (the block's largest allele count is used when
    larger). The call arrays (GT, DP, GQ, AD, packed) come from ``pool`` when given: hand them back with
    :meth:`RecordBlock.release`.
    """
    buf = np.frombuffer(text, dtype=np.uint8) if not isinstance(text, np.ndarray) else text
    if not buf.flags.c_contiguous:
        buf = np.ascontiguousarray(buf)
    ns, pl = spec.n_samples, spec.ploidy
    cap = len(buf) // (2 * ns + 16) + 2
    lib = ckernels.library()
    pool = pool or BufferPool(keep=0)
    while True:
        arrays, buffers = _allocate(cap, ns, pl, spec, ad_width, len(buf), pool)
        out = _Out(cap, ad_width, *(a.ctypes.data if a is not None else None for a in arrays[:10]),
                   len(buf), arrays[10].ctypes.data)
        rc = lib.pmo_vcf_parse(buf.ctypes.data, len(buf), ctypes.byref(spec._c), ctypes.byref(out))
        if rc == _NEED_CAP:
            cap = out.n
        elif rc == _NEED_AD_WIDTH:
            ad_width = out.ad_need
        elif rc == _NO_MEMORY:
            raise MemoryError("the VCF parser ran out of memory")
        else:
            break
        pool.give(buffers)
    n = out.n
    line, pos, n_alleles, gt, dp, gq, ad, packed, packable, strings, string_len = arrays
    if ad is not None:  # as wide as the block's largest allele count
        ad = ad[:, :, :int(n_alleles[:n].max()) if n and not out.err[0] else 0]
    err = np.array(out.err[:], dtype=np.int64)
    used = int(string_len[:n].sum()) if not err[0] else 0
    block = RecordBlock(
        n=n, n_lines=out.n_lines, n_blank=out.n_blank, line=line[:n], pos=pos[:n], n_alleles=n_alleles[:n],
        gt=gt[:n], dp=None if dp is None else dp[:n], gq=None if gq is None else gq[:n],
        ad=None if ad is None else ad[:n], packed=None if packed is None else packed[:n],
        packable=None if packable is None else packable[:n].view(bool), strings=strings[:used].copy(),
        string_len=string_len[:n], err=err, warn=np.array([list(w) for w in out.warn], dtype=np.int64),
        buffers=buffers)
    pool.give([buffers.pop()])  # the strings buffer (its used part was copied)
    return block


def _allocate(cap: int, ns: int, pl: int, spec: RecordSpec, ad_width: int, text_len: int,
              pool: BufferPool) -> tuple[list, list[np.ndarray]]:
    buffers: list[np.ndarray] = []

    def big(shape: tuple[int, ...], dtype: type) -> np.ndarray:
        arr, buf = pool.take(shape, dtype)
        buffers.append(buf)
        return arr

    arrays = [
        np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int32), big((cap, ns, pl), np.int8),
        big((cap, ns), np.int32) if "DP" in spec.fields else None,
        big((cap, ns), np.int16) if "GQ" in spec.fields else None,
        big((cap, ns, ad_width), np.int32) if "AD" in spec.fields else None,
        big((cap, ckernels.library().pmo_packed_row_bytes(ns)), np.uint8) if spec.packed else None,
        np.empty(cap, np.uint8) if spec.packed else None,
        None, np.empty((cap, 6), np.int32),
    ]
    arrays[9] = big((text_len,), np.uint8)  # the strings buffer: last in buffers
    return arrays, buffers
