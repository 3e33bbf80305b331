"""Which variants a QC method uses, from the variant table alone (the same masks for every backend).

Examples
--------
>>> import pandas as pd
>>> v = pd.DataFrame({"contig": ["1", "1", "X", "chrY"], "position": [10, 20, 3_000_000, 3_000_000],
...                   "n_alleles": [2, 3, 2, 2]})
>>> from pmo_workbench.genotypes.contigs import classify_contig
>>> select_autosomal_sites(v, classify_contig).tolist()
[True, False, False, False]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the variant table's functions get a DataFrame; the store's contig codes need no pandas
    import pandas as pd


def _contig_kinds(variants: pd.DataFrame, contig_kind: Callable[[str], str]) -> np.ndarray:
    contig = variants["contig"].astype(str)
    import pandas as pd

    return contig.map({c: contig_kind(c) for c in pd.unique(contig)}).to_numpy()


def select_autosomal_sites(variants: pd.DataFrame, contig_kind: Callable[[str], str],
                           variant_mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the autosomal biallelic sites (the sites plink2 uses for KING; also those of the PCA and
    the heterozygosity check), within ``variant_mask`` when given."""
    sites = (_contig_kinds(variants, contig_kind) == "autosome") & (variants["n_alleles"].to_numpy() == 2)
    if variant_mask is not None:
        sites &= np.asarray(variant_mask, dtype=bool)
    return sites


def select_autosomal_sites_of(g: Any, variant_mask: np.ndarray | None = None) -> np.ndarray:
    """:func:`select_autosomal_sites` of a genotype set; an embedded store's sites come from its contig codes
    and allele counts, without loading the variant table (its ids and alleles: ~300 MB at 1 M variants).

    Example
    -------
    >>> bool((select_autosomal_sites_of(g) == select_autosomal_sites(g.variants, g.contig_kind)).all())
    True
    """
    read = getattr(g, "_array", None)
    codes = read("variant_contig") if read is not None else None
    n_alleles = read("variant_n_alleles") if read is not None else None
    if codes is None or n_alleles is None or not isinstance(getattr(g, "attrs", None), dict):
        return select_autosomal_sites(g.variants, g.contig_kind, variant_mask)
    names = g.attrs.get("contig_id") or [""]
    autosome = np.array([g.contig_kind(str(c)) == "autosome" for c in names], dtype=bool)
    sites = autosome[codes[:].astype(np.int64)] & (n_alleles[:] == 2)
    if variant_mask is not None:
        sites &= np.asarray(variant_mask, dtype=bool)
    return sites


def select_sex_sites(g: Any, *, include_par: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(x_sites, y_sites)``: the biallelic chrX sites and the chrY sites of a genotype set, both outside the
    pseudoautosomal regions of its build (chrX PARs kept with ``include_par``; both builds' PARs without a
    known build).

    Examples
    --------
    >>> x, y = select_sex_sites(g)  # g: the doctests' simulated set (80 non-PAR chrX sites, no chrY)
    >>> int(x.sum()), int(y.sum())
    (80, 0)
    """
    v = g.variants
    kinds = _contig_kinds(v, g.contig_kind)
    par = _par_mask(g, v)
    x_sites = (kinds == "X") & (v["n_alleles"].to_numpy() == 2)
    if not include_par:
        x_sites &= ~par
    return x_sites, (kinds == "Y") & ~par


def _par_mask(g: Any, v: pd.DataFrame) -> np.ndarray:
    mask = np.zeros(len(v), dtype=bool)
    contig = v["contig"].to_numpy()
    pos = v["position"].to_numpy()
    import pandas as pd

    for c in pd.unique(contig):
        sel = contig == c
        if g.contig_kind(c) in ("X", "Y"):
            mask[sel] = np.asarray(g.is_par(c, pos[sel]), dtype=bool)
    return mask


def thin_pca_candidates(sites: np.ndarray, max_sites: int) -> np.ndarray:
    """Every k-th candidate site when they outnumber ``2 * max_sites`` (evenly thinned), else ``sites``.

    Examples
    --------
    >>> thin_pca_candidates(np.ones(10, dtype=bool), 1).nonzero()[0].tolist()
    [0, 5]
    """
    candidates = np.flatnonzero(sites)
    stride = len(candidates) // (2 * max_sites)
    if stride <= 1:
        return sites
    thinned = np.zeros_like(sites)
    thinned[candidates[::stride]] = True
    return thinned
