"""A derived 2-bit-per-call copy of the biallelic diploid genotypes, written at import for fast QC passes.

Each call of a row is coded in two bits as plink2's pgen does: ``0`` hom-ref (0/0), ``1`` het (0/1 or 1/0),
``2`` hom-var (1/1), ``3`` missing (``./.`` or ``.``); sample ``s`` sits in byte ``s // 4`` at bit
``2 * (s % 4)``. Rows are padded with ``0`` to a whole number of 64-bit words so counts can use popcounts.
A row is *packable* when every call has one of these forms; other rows (haploid calls, alleles above 1,
polyploid stores) keep an all-zero packed row and ``packable`` False, and readers take their calls from
``call_genotype``. Whether a row is biallelic is decided by the reader from ``variant_n_alleles``.

Store arrays: ``call_genotype_packed`` uint8 [variants, row bytes] and ``variant_packable`` bool [variants].

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


def unpack_dosage(packed: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele counts int8 [v, samples] (-1 missing) and ploidy (2, or 0 when missing) of packed rows."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    dosage = np.empty((packed.shape[0], n_samples), dtype=np.int8)
    ploidy = np.empty((packed.shape[0], n_samples), dtype=np.int8)
    ckernels.library().pmo_unpack_dosage(packed, packed.shape[0], packed.shape[1], n_samples, dosage, ploidy)
    return dosage, ploidy
