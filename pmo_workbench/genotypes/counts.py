"""What the backends' kernels return: the counts the QC methods build their tables from.

Each class is filled the same way by every backend (:mod:`pmo_workbench.genotypes.backends`): arrays in
sample order (``[samples]``) or file order of the variants (``[variants]``), counts as int64 unless said
otherwise. A method turns them into its table once (ratios, classes, columns), so the tables of all backends
have the same columns, dtypes and formulas; the counts are where backends may differ, and what the parity
tests (``tests/hail``) compare.

Examples
--------
>>> import numpy as np
>>> c = KingCounts(hethet=np.array([[0, 3], [0, 0]]), het_hom=np.array([[0, 1], [2, 0]]),
...                homhom=np.array([[0, 4], [0, 0]]), ibs0=np.array([[0, 1], [0, 0]]), n_sites=10)
>>> int(c.n_snp[0, 1])  # sites called in both samples: 3 + 1 + 2 + 4
10
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SampleCounts:
    """Per-sample genotype counts over all variants (``hl.sample_qc``'s counts).

    A haploid call is called, with one allele; ``0`` is hom-ref and a non-reference haploid call neither
    hom-ref nor het. Allele-type counts are over alternate alleles in calls (a het call adds one, a hom-var
    call two); a singleton is an alternate allele whose count over all samples at its variant is 1.

    Attributes
    ----------
    n_called, n_not_called, n_hom_ref, n_het : numpy.ndarray[int64] (samples,)
        Calls that are not missing, missing calls, calls with only reference alleles, calls with two
        different alleles.
    n_singleton, n_transition, n_transversion, n_insertion, n_deletion : numpy.ndarray[int64] (samples,)
        Alternate alleles in calls: seen once in the data set; of each allele type.
    field_means : dict of str to numpy.ndarray[float64] (samples,)
        ``"dp_mean"``/``"gq_mean"``: mean FORMAT/DP and GQ over the calls that have one, for the fields the
        input has (NaN for a sample with none).
    """

    n_called: np.ndarray
    n_not_called: np.ndarray
    n_hom_ref: np.ndarray
    n_het: np.ndarray
    n_singleton: np.ndarray
    n_transition: np.ndarray
    n_transversion: np.ndarray
    n_insertion: np.ndarray
    n_deletion: np.ndarray
    field_means: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class VariantCounts:
    """Per-variant genotype counts (``hl.variant_qc``'s), in file order.

    Attributes
    ----------
    n_alleles : numpy.ndarray[int64] (variants,)
        Alleles of the record (REF included).
    ac : numpy.ndarray[int32] (variants, width)
        Allele counts, REF first; a row's entries past its ``n_alleles`` are 0. A haploid call adds one allele.
    n_called : numpy.ndarray[int64] (variants,)
        Samples with a call.
    n_het, n_hom_ref, n_hom_var : numpy.ndarray[int64] (variants,)
        Diploid calls with two different alleles, ``0/0`` and ``1/1`` (the counts of the Hardy-Weinberg tests).
    p_value_hwe, p_value_excess_het : numpy.ndarray[float64] (variants,) or None
        The exact mid-p HWE tests where the backend computes them itself (Hail's ``hl.hardy_weinberg_test``);
        None lets :func:`pmo_workbench.qc.variant_qc.variant_qc` compute them from the diploid counts.
    """

    n_alleles: np.ndarray
    ac: np.ndarray
    n_called: np.ndarray
    n_het: np.ndarray
    n_hom_ref: np.ndarray
    n_hom_var: np.ndarray
    p_value_hwe: np.ndarray | None = None
    p_value_excess_het: np.ndarray | None = None


@dataclass
class SexCounts:
    """Per-sample chrX inbreeding sums and chrY calls (the counts behind ``hl.impute_sex``).

    Over the chrX sites asked for, a called genotype adds 1 to ``n_called_x``, ``1 - 2p(1 - p)`` to
    ``expected_homs`` (``p``: the site's alternate allele frequency in the data, haploid calls counting one
    allele) and 1 to ``observed_homs`` when homozygous (a haploid call is homozygous).

    Attributes
    ----------
    n_called_x, observed_homs : numpy.ndarray[int64] (samples,)
    expected_homs : numpy.ndarray[float64] (samples,)
    y_called : numpy.ndarray[int64] (samples,)
        Called genotypes over the chrY sites asked for (zeros without any).
    n_y_sites : int
        Number of those chrY sites.
    n_haploid_x : numpy.ndarray[int64] (samples,) or None
        Haploid calls among the ``n_called_x`` (the called ploidy: a set that writes men as haploid on non-PAR
        X shows it here); None when a backend does not count them.
    """

    n_called_x: np.ndarray
    expected_homs: np.ndarray
    observed_homs: np.ndarray
    y_called: np.ndarray
    n_y_sites: int
    n_haploid_x: np.ndarray | None = None


@dataclass
class HeterozygosityCounts:
    """Heterozygous (ALT allele count 1) and called genotypes per sample over a set of sites.

    Attributes
    ----------
    n_het, n_called : numpy.ndarray[int64] (samples,)
    """

    n_het: np.ndarray
    n_called: np.ndarray


@dataclass
class KingCounts:
    """KING pair counts over the sites where both samples are called (upper triangle ``i < j`` read; what the
    lower triangle of ``hethet``, ``homhom`` and ``ibs0`` holds is the backend's business).

    The embedded backend's counts are uint32 (a pair's count is at most the number of sites), with ``homhom``
    the transposed view of ``hethet``'s lower triangle (three n x n matrices instead of four); others' int64.

    Attributes
    ----------
    hethet : numpy.ndarray[int64 or uint32] (n, n)
        Both heterozygous.
    het_hom : numpy.ndarray[int64 or uint32] (n, n)
        ``[i, j]``: i heterozygous, j homozygous (full matrix; ``[j, i]`` is the reverse).
    homhom : numpy.ndarray[int64 or uint32] (n, n)
        Both homozygous (same or opposite).
    ibs0 : numpy.ndarray[int64 or uint32] (n, n)
        Opposite homozygotes (no allele shared).
    n_sites : int
        Sites that went into the counts.
    """

    hethet: np.ndarray
    het_hom: np.ndarray
    homhom: np.ndarray
    ibs0: np.ndarray
    n_sites: int

    @property
    def n_snp(self) -> np.ndarray:
        """Sites called in both samples (upper triangle)."""
        return self.hethet + self.het_hom + self.het_hom.T + self.homhom
