"""A derived 2-bit-per-call copy of the biallelic diploid genotypes, written at import for fast QC passes.

Each call of a row is coded in two bits as plink2's pgen does: ``0`` hom-ref (0/0), ``1`` het (0/1 or 1/0),
``2`` hom-var (1/1), ``3`` missing (``./.`` or ``.``); sample ``s`` sits in byte ``s // 4`` at bit
``2 * (s % 4)``. Rows are padded with ``0`` to a whole number of 64-bit words so counts can use popcounts.
A row is *packable* when every call has one of these forms; other rows (haploid calls, alleles above 1,
polyploid stores) keep an all-zero packed row and ``packable`` False, and readers take their calls from
``call_genotype``. Whether a row is biallelic is decided by the reader from ``variant_n_alleles``.

Store arrays: ``call_genotype_packed`` uint8 [variants, row bytes] and ``variant_packable`` bool [variants].

The QC pass reads the copy's chunk files itself (:func:`packed_layout`): each is a Blosc 1 frame of LZ4 blocks
(``PACKED_COMPRESSOR`` of :mod:`.store_writer`), decoded block by block in the counting threads by
``ckernels/blosc_lz4.c`` (:func:`decode_blosc_lz4` decodes one frame the same way), its LZ4 streams by liblz4
where the system has it (:func:`load_liblz4`), else by that file's own LZ4 decoder. A store whose copy is
compressed otherwise (a shuffle, another codec or typesize, a layout not of whole rows) is read through
numcodecs instead.

Examples
--------
>>> gt = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1], [1, 0]]], dtype=np.int8)
>>> packed, ok = pack_calls(gt)
>>> packed.shape, bool(ok[0]), int(packed[0, 0]), int(packed[0, 1])
((1, 8), True, 228, 1)
>>> unpack_dosage(packed, 5)[0][0].tolist()
[0, 1, 2, -1, 1]
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pmo_workbench import ckernels

PACKED_NAME = "call_genotype_packed"
PACKABLE_NAME = "variant_packable"
HOM_REF, HET, HOM_VAR, MISSING = 0, 1, 2, 3


def row_bytes(n_samples: int) -> int:
    """Bytes per packed row: 2 bits per sample, rounded up to whole 64-bit words (at least one)."""
    return max(-(-n_samples // 32), 1) * 8


def pack_calls(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack int8 calls [v, samples, ploidy] into (uint8 [v, :func:`row_bytes`], bool packable [v]) (in C:
    ``ckernels/vcf_parse.c``, which the VCF parser also packs with).

    A store whose ploidy is not 2 gets no packable row.
    """
    gt = np.ascontiguousarray(gt, dtype=np.int8)
    nv, ns = gt.shape[0], gt.shape[1]
    out = np.empty((nv, row_bytes(ns)), dtype=np.uint8)
    ok = np.empty(nv, dtype=np.uint8)
    ckernels.library().pmo_pack_calls(gt, nv, ns, gt.shape[2] if gt.ndim == 3 else 1, out, ok)
    return out, ok.view(bool)


def in_packed_copy(packable: np.ndarray, n_alleles: np.ndarray) -> np.ndarray:
    """Bool per variant: the QC counts read its calls from the 2-bit copy, i.e. they are packable (the store's
    ``variant_packable``) at a biallelic site; every other row is read from ``call_genotype`` or the store's
    side file (:mod:`.unpacked_calls`).

    Example
    -------
    >>> in_packed_copy(np.array([True, True, False]), np.array([2, 3, 2])).tolist()
    [True, False, False]
    """
    return np.asarray(packable, dtype=bool) & (np.asarray(n_alleles) == 2)


def unpack_dosage(packed: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele counts int8 [v, samples] (-1 missing) and ploidy (2, or 0 when missing) of packed rows."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    dosage = np.empty((packed.shape[0], n_samples), dtype=np.int8)
    ploidy = np.empty((packed.shape[0], n_samples), dtype=np.int8)
    ckernels.library().pmo_unpack_dosage(packed, packed.shape[0], packed.shape[1], n_samples, dosage, ploidy)
    return dosage, ploidy


BLOSC_ERRORS = {
    -1: "truncated Blosc frame (shorter than its header, block table or a block says)",
    -2: "corrupt Blosc header (sizes that do not fit each other)",
    -3: "a Blosc frame this reader does not decode (shuffle, codec or typesize)",
    -4: "corrupt Blosc block table (a block or stream outside the frame)",
    -5: "corrupt LZ4 or zstd stream (does not decode to its block's size)",
    -6: "Blosc frame of the wrong decoded size",
}
"""Messages of the decoder's (``ckernels/blosc_lz4.c``) negative results."""
BLOSC_UNSUPPORTED = -3
BLOSC_SLACK = 32  # bytes the decoder may write past a block (blosc_lz4.h)


@dataclass(frozen=True)
class PackedLayout:
    """Where and how a store's 2-bit copy is chunked: chunk ``c`` (rows ``c * chunk_rows`` on) is the file
    ``directory / f"{c}{separator}0"``; a chunk never written holds ``fill`` (None: no fill value)."""

    directory: Path
    chunk_rows: int
    n_chunks: int
    separator: str
    fill: int | None


def packed_layout(store_path: str | Path, n_variants: int, n_samples: int) -> PackedLayout | None:
    """The layout of the store's 2-bit copy when the QC pass can read its chunk files itself (from its
    ``.zarray``: Blosc with LZ4 and no bit shuffle, no filters, bytes in C order, chunks of whole rows); None
    otherwise (no copy, or one compressed another way: numcodecs reads it then).

    Examples
    --------
    >>> layout = packed_layout(g.store_path, g.n_variants, g.n_samples)  # g: the doctests' simulated set
    >>> layout.n_chunks, layout.separator, layout.fill
    (1, '.', 0)
    """
    directory = Path(store_path) / PACKED_NAME
    try:
        meta = json.loads((directory / ".zarray").read_text())
    except (OSError, ValueError):
        return None
    comp = meta.get("compressor") or {}
    chunks, shape = meta.get("chunks"), meta.get("shape")
    rb = row_bytes(n_samples)
    if (meta.get("zarr_format") != 2 or comp.get("id") != "blosc" or comp.get("cname") != "lz4"
            or comp.get("shuffle") not in (0, 1) or meta.get("filters") or meta.get("dtype") != "|u1"
            or meta.get("order") != "C" or shape != [n_variants, rb] or not isinstance(chunks, list)
            or len(chunks) != 2 or chunks[1] != rb or not isinstance(chunks[0], int) or chunks[0] < 1):
        return None
    sep = meta.get("dimension_separator") or "."
    fill = meta.get("fill_value")
    if sep not in (".", "/"):
        return None
    return PackedLayout(directory, chunks[0], -(-n_variants // chunks[0]), sep,
                        fill if isinstance(fill, int) and not isinstance(fill, bool) else None)


@functools.cache
def load_liblz4() -> bool:
    """Whether the Blosc decoder of the QC pass (``ckernels/blosc_lz4.c``) found liblz4 (Debian's liblz4-1, which
    c-blosc itself uses: its ``LZ4_decompress_safe`` is safe on any input and a third faster than the decoder of
    that file, which is used where the library is missing)."""
    lib = ckernels.library()
    return any(lib.pmo_lz4_load(name) == 0 for name in (b"liblz4.so.1", b"liblz4.dylib"))


def decode_blosc_lz4(frame: bytes | np.ndarray) -> np.ndarray:
    """Decode one Blosc 1 frame of LZ4 blocks (a chunk file of the 2-bit copy) with the QC pass's decoder.

    Raises
    ------
    ValueError
        A truncated or corrupt frame (:data:`BLOSC_ERRORS`), or one this decoder does not do.

    Examples
    --------
    >>> import numcodecs
    >>> data = np.arange(100_000, dtype=np.uint32).view(np.uint8)
    >>> frame = numcodecs.Blosc(cname="lz4", clevel=1, shuffle=numcodecs.Blosc.NOSHUFFLE).encode(data)
    >>> bool((decode_blosc_lz4(frame) == data).all())
    True
    """
    src = np.frombuffer(frame, dtype=np.uint8) if not isinstance(frame, np.ndarray) else frame
    src = np.ascontiguousarray(src, dtype=np.uint8)
    load_liblz4()
    lib = ckernels.library()
    info = np.zeros(5, np.int64)
    code = lib.pmo_blosc_info(src.ctypes.data, len(src), info)
    if code != 0:
        raise ValueError(BLOSC_ERRORS.get(code, f"Blosc decoder error {code}"))
    out = np.empty(int(info[0]) + BLOSC_SLACK, np.uint8)
    got = lib.pmo_blosc_decode(src.ctypes.data, len(src), out.ctypes.data, len(out))
    if got < 0:
        raise ValueError(BLOSC_ERRORS.get(got, f"Blosc decoder error {got}"))
    return out[:got]
