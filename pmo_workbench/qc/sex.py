"""Genetic sex from the chrX inbreeding coefficient (Hail's ``impute_sex``), checked against reported sex.

For each non-PAR chrX biallelic site with alternate allele frequency ``p`` (from the data; haploid calls count
one allele), a called genotype adds 1 to N, ``1 - 2p(1 - p)`` to the expected homozygote count E, and 1 to the
observed count O when homozygous; a haploid call is homozygous. ``F = (O - E) / (N - E)``: about 1 for one X,
about 0 for two. This is PLINK 1.7's ``--check-sex`` statistic, as in Hail. The sums come from the genotype
set's backend (the ``sex_counts`` kernel of :mod:`pmo_workbench.genotypes.backends`); F, the classes and the
comparison with the reported sex are made here, by :func:`classify_sex` (the one place a sex is called).

Examples
--------
>>> sex = impute_sex(g, manifest)  # the doctests' set: 20 men, S06 (a woman) reported male
>>> sex.groupby("genetic_sex").size().to_dict()  # with Hail's bounds 0.2 / 0.8, one woman is ambiguous
{'F': 19, 'M': 20, 'ambiguous': 1}
>>> sex.loc[sex["mismatch"].fillna(False), "sample_id"].tolist()
['S06']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.genotypes.manifest import load_manifest
from pmo_workbench.qc.sites import select_sex_sites
from pmo_workbench.qc.tables import SEX_CHECK, SEX_CHECK_COLUMNS, returns_table

_SEX_CODES = {
    "m": "M",
    "male": "M",
    "1": "M",
    "xy": "M",
    "f": "F",
    "female": "F",
    "2": "F",
    "xx": "F",
}


def normalize_sex(value: Any) -> str | None:
    """``"M"``/``"F"`` for the usual codes (M/F, male/female, 1/2 as in PED, XY/XX); None for anything else.

    Examples
    --------
    >>> normalize_sex("female"), normalize_sex(1), normalize_sex("0")
    ('F', 'M', None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _SEX_CODES.get(str(value).strip().lower())


def assign_genetic_sex(
    f_stat: np.ndarray | Sequence[float],
    reported_sex: np.ndarray | Sequence[str | None] | None,
    female_threshold: float = 0.2,
    male_threshold: float = 0.8,
) -> tuple[np.ndarray, pd.arrays.BooleanArray]:
    """Genetic sex from chrX F, and whether it contradicts the reported sex (the rule of :func:`impute_sex`).

    F below ``female_threshold`` is ``"F"``, above ``male_threshold`` ``"M"``, otherwise (or NaN)
    ``"ambiguous"``. ``mismatch`` is NA where the reported sex is unknown (None or not M/F after
    :func:`normalize_sex`), False where it is known and the genetic sex is ambiguous or agrees, True where
    both are known and differ.

    Parameters
    ----------
    f_stat
        X inbreeding coefficients [samples].
    reported_sex
        Reported sexes [samples] (any code :func:`normalize_sex` reads), or None for none known.
    female_threshold, male_threshold
        The bounds (Hail and PLINK: 0.2 and 0.8).

    Returns
    -------
    tuple
        ``genetic_sex`` (object array of ``"F"``/``"M"``/``"ambiguous"``) and ``mismatch`` (pandas
        nullable boolean array).

    Examples
    --------
    >>> sex, mismatch = assign_genetic_sex([0.05, 0.5, 0.97, 0.9], ["F", "F", "F", None])
    >>> sex.tolist(), mismatch.tolist()
    (['F', 'ambiguous', 'M', 'M'], [False, False, True, <NA>])
    """
    f = np.asarray(f_stat, dtype=np.float64)
    genetic = np.where(f < female_threshold, "F", np.where(f > male_threshold, "M", "ambiguous")).astype(object)
    genetic[np.isnan(f)] = "ambiguous"
    if reported_sex is not None and len(reported_sex) != len(f):
        raise ValueError(f"{len(f)} F values but {len(reported_sex)} reported sexes")
    return genetic, compare_reported_sex(genetic, reported_sex)


def compare_reported_sex(genetic: np.ndarray, reported_sex: np.ndarray | Sequence[str | None] | None
                         ) -> pd.arrays.BooleanArray:
    """``mismatch`` of genetic sex calls (``"F"``/``"M"``/``"ambiguous"``) against reported sexes: NA where the
    reported sex is unknown, False where the call is ambiguous or agrees, True where both are known and differ.

    Examples
    --------
    >>> compare_reported_sex(np.array(["F", "M", "ambiguous"], dtype=object), ["M", None, "F"]).tolist()
    [True, <NA>, False]
    """
    n = len(genetic)
    rep = (np.full(n, None, dtype=object) if reported_sex is None
           else np.array([normalize_sex(r) for r in reported_sex], dtype=object))
    has_rep = np.array([r is not None for r in rep], dtype=bool)
    known = has_rep & np.isin(genetic, ["F", "M"])
    mismatch = pd.array([None] * n, dtype="boolean")
    mismatch[has_rep] = False
    mismatch[known] = genetic[known] != rep[known]
    return mismatch


def load_reported_sex(manifest: str | Path | pd.DataFrame) -> pd.Series:
    """``sample_id -> "M" | "F" | None`` from a manifest (DataFrame or TSV/CSV file with sample_id,
    reported_sex).

    Raises
    ------
    InputError
        When the columns are missing or a sample is listed twice (naming the file and row).

    Examples
    --------
    >>> load_reported_sex(pd.DataFrame({"sample_id": ["a", "b"], "reported_sex": ["female", "1"]})).to_dict()
    {'a': 'F', 'b': 'M'}
    """
    name = str(manifest) if not isinstance(manifest, pd.DataFrame) else "<manifest>"
    manifest = load_manifest(manifest)
    if "reported_sex" not in manifest.columns:
        raise InputError("manifest lacks column 'reported_sex'", file=name, field="reported_sex")
    ids = manifest["sample_id"]
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"sample {ids.iloc[row]} listed twice", file=name, row=row, field="sample_id")
    return pd.Series([normalize_sex(v) for v in manifest["reported_sex"]], index=ids.to_numpy(), dtype=object)


@returns_table(SEX_CHECK)
def impute_sex(
    g: GenotypeSet,
    manifest: str | Path | pd.DataFrame | None = None,
    *,
    aaf_threshold: float = 0.0,
    include_par: bool = False,
    female_threshold: float = 0.2,
    male_threshold: float = 0.8,
    chunk_size: int = 20_000,
) -> pd.DataFrame:
    """Impute genetic sex from the chrX inbreeding coefficient, as Hail's ``hl.impute_sex`` (same defaults).

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
    manifest
        DataFrame or TSV/CSV with ``sample_id`` and ``reported_sex`` (M/F, male/female, 1/2); adds the
        reported sex and flags mismatches.
    aaf_threshold
        Use sites with ``aaf_threshold < AAF < 1 - aaf_threshold`` (monomorphic sites never count).
    include_par
        Also use the pseudoautosomal regions.
    female_threshold, male_threshold
        F below the first is female, above the second male, in between ambiguous (Hail: 0.2 and 0.8).
    chunk_size
        Variants per chunk read from the store (embedded backend).

    Returns
    -------
    pandas.DataFrame
        One row per sample, in file order; the columns of :data:`~pmo_workbench.qc.tables.SEX_CHECK` without
        ``x_het_ratio`` (listed below). ``reported_sex`` is None for every sample without a manifest.
    """
    if not 0.0 <= aaf_threshold <= 1.0:
        raise ValueError("aaf_threshold must be in [0, 1]")
    x_sites, y_sites = select_sex_sites(g, include_par=include_par)
    c = get_kernel("sex_counts", g)(g, x_sites, y_sites, aaf_threshold=aaf_threshold, chunk_size=chunk_size)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(c.n_called_x > 0, (c.observed_homs - c.expected_homs) / (c.n_called_x - c.expected_homs),
                     np.nan)
    y_rate = c.y_called / c.n_y_sites if c.n_y_sites else np.full(g.n_samples, np.nan)
    sample_id = np.asarray(g.sample_id).astype(str)
    reported = pd.Series([None] * g.n_samples, index=sample_id, dtype=object)
    if manifest is not None:
        reported = load_reported_sex(manifest).reindex(sample_id)
        reported = reported.astype(object).where(reported.notna(), None)
    table = pd.DataFrame(
        {
            "sample_id": sample_id,
            "f_stat": f,
            "n_called_x": c.n_called_x,
            "expected_homs": c.expected_homs,
            "observed_homs": c.observed_homs,
            "y_call_rate": y_rate,
            "genetic_sex": np.full(g.n_samples, "ambiguous", dtype=object),
            "reported_sex": reported.to_numpy(dtype=object),
            "mismatch": pd.array([None] * g.n_samples, dtype="boolean"),
        },
        columns=SEX_CHECK_COLUMNS,
    )
    if c.n_haploid_x is not None:
        table.insert(table.columns.get_loc("observed_homs") + 1, "n_haploid_x", np.asarray(c.n_haploid_x, np.int64))
    return classify_sex(table, female_threshold=female_threshold, male_threshold=male_threshold)


def compute_x_het_ratio(sex_check: pd.DataFrame, sample_qc: pd.DataFrame) -> np.ndarray:
    """chrX heterozygosity relative to the sample's genome-wide heterozygosity, per row of ``sex_check``.

    ``x_het_ratio`` = (heterozygous share of the called non-PAR chrX sites of :func:`impute_sex`) / (``n_het /
    n_called`` of :func:`pmo_workbench.qc.sample_qc`). Unlike F it does not depend on the cohort's allele
    frequencies: about 0 with one X (hemizygous calls; only genotyping errors are heterozygous) and, with two,
    the X-to-genome diversity ratio (about 0.5-1 in human populations, whatever the ancestry). NaN without
    called chrX sites or without heterozygous calls genome-wide.

    Examples
    --------
    >>> sc = pd.DataFrame({"sample_id": ["a", "b"], "n_called_x": [100, 100], "observed_homs": [92, 100]})
    >>> sq = pd.DataFrame({"sample_id": ["b", "a"], "n_het": [1000, 1000], "n_called": [10000, 10000]})
    >>> compute_x_het_ratio(sc, sq).round(2).tolist()
    [0.8, 0.0]
    """
    q = sample_qc.set_index(sample_qc["sample_id"].astype(str)).reindex(sex_check["sample_id"].astype(str))
    genome_het = q["n_het"].to_numpy(dtype=np.float64) / q["n_called"].to_numpy(dtype=np.float64)
    n_x = sex_check["n_called_x"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_het = (n_x - sex_check["observed_homs"].to_numpy(dtype=np.float64)) / n_x
        return np.where((n_x > 0) & (genome_het > 0), x_het / genome_het, np.nan)


def classify_sex(
    sex_check: pd.DataFrame,
    *,
    female_threshold: float = 0.2,
    male_threshold: float = 0.8,
    male_max_het_ratio: float = 0.1,
    female_min_het_ratio: float = 0.3,
) -> pd.DataFrame:
    """Genetic sex and mismatch of a sex-check table: chrX F first, the heterozygosity ratio for F's grey zone.

    F below ``female_threshold`` is ``"F"`` and above ``male_threshold`` ``"M"`` (:func:`assign_genetic_sex`).
    F compares a sample with the cohort's pooled allele frequencies, so in a cohort of mixed ancestry a
    majority-ancestry woman gets a positive F (a Wahlund effect), and with few chrX sites F scatters; both put
    women in the band between the thresholds. There, when the table has ``x_het_ratio``
    (:func:`compute_x_het_ratio`), a ratio ``<= male_max_het_ratio`` is ``"M"`` and ``>= female_min_het_ratio``
    ``"F"``; anything else stays ``"ambiguous"``. ``mismatch`` follows the final call.

    Parameters
    ----------
    sex_check
        :func:`impute_sex` output (``f_stat``, ``reported_sex``; optionally ``x_het_ratio``).
    female_threshold, male_threshold
        chrX F bounds.
    male_max_het_ratio, female_min_het_ratio
        Bounds of ``x_het_ratio`` for samples F leaves ambiguous.

    Returns
    -------
    pandas.DataFrame
        A copy with ``genetic_sex`` and ``mismatch`` re-derived.

    Examples
    --------
    >>> sc = pd.DataFrame({"sample_id": ["a", "b", "c"], "f_stat": [0.6, 0.6, 0.95], "x_het_ratio": [0.8, 0.0, 0.0],
    ...                    "reported_sex": ["F", "F", "F"]})
    >>> out = classify_sex(sc, female_threshold=0.5)
    >>> out["genetic_sex"].tolist(), out["mismatch"].tolist()
    (['F', 'M', 'M'], [False, True, True])
    """
    out = sex_check.copy()
    f = out["f_stat"].to_numpy(dtype=np.float64)
    reported = out["reported_sex"].to_numpy(dtype=object) if "reported_sex" in out else None
    genetic, _ = assign_genetic_sex(f, reported, female_threshold, male_threshold)
    if "x_het_ratio" in out:
        ratio = out["x_het_ratio"].to_numpy(dtype=np.float64)
        grey = (genetic == "ambiguous") & ~np.isnan(ratio)
        genetic[grey & (ratio <= male_max_het_ratio)] = "M"
        genetic[grey & (ratio >= female_min_het_ratio)] = "F"
    out["genetic_sex"] = genetic
    out["mismatch"] = compare_reported_sex(genetic, reported)
    return out


def poisson_lower_tail(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``P(X <= observed)`` for ``X ~ Poisson(expected)``, elementwise (NaN where ``expected`` is not positive).

    Example
    -------
    >>> poisson_lower_tail(np.array([1, 12]), np.array([12.5, 12.5])).round(6).tolist()
    [5e-05, 0.518975]
    """
    obs = np.asarray(observed, dtype=np.float64)
    lam = np.asarray(expected, dtype=np.float64)
    out = np.full(len(obs), np.nan)
    for i, (k, m) in enumerate(zip(obs, lam, strict=True)):
        if not (m > 0 and np.isfinite(k)):
            continue
        term = total = math.exp(-m)
        for j in range(1, int(max(k, 0)) + 1):
            term *= m / j
            total += term
        out[i] = min(total, 1.0) if k >= 0 else 0.0
    return out


SEX_CALLS = ("F", "M", "ambiguous", "not_assessed")
"""Values of ``genetic_sex`` after :func:`call_sex`."""


def call_sex(
    sex_check: pd.DataFrame,
    *,
    female_threshold: float = 0.5,
    male_threshold: float = 0.8,
    male_max_het_ratio: float = 0.1,
    female_min_het_ratio: float = 0.3,
    min_sex_sites: int = 100,
    min_ploidy_sites: int = 20,
    male_min_haploid_rate: float = 0.9,
    female_max_haploid_rate: float = 0.1,
    min_y_sites: int = 10,
    y_male_min_call_rate: float = 0.5,
    y_female_max_call_rate: float = 0.1,
    low_x_het_max_p: float = 0.001,
) -> pd.DataFrame:
    """Genetic sex from all the chrX/chrY evidence a sex-check table holds, with the numbers behind each call.

    The evidence, strongest first:

    1. **Called ploidy** (``n_haploid_x``), when the set writes men haploid on non-PAR X (some sample has at
       least ``male_min_haploid_rate`` haploid calls): with at least ``min_ploidy_sites`` called chrX sites, a
       haploid rate >= ``male_min_haploid_rate`` is one X (``M``), <= ``female_max_haploid_rate`` two (``F``),
       in between ``ambiguous``. Two X with too little heterozygosity (below) is ``F`` with ``low_x_het``.
    2. **Heterozygosity**, where ploidy does not tell (men written diploid): with at least ``min_sex_sites``
       called chrX sites, chrX F above ``male_threshold`` is one X and below ``female_threshold`` two; in
       between, the chrX/genome heterozygosity ratio decides (``<= male_max_het_ratio`` one X, ``>=
       female_min_het_ratio`` two) or leaves it ``ambiguous``.
    3. **chrY call rate**, when the set has at least ``min_y_sites`` chrY sites and both kinds of samples (some
       at or above ``y_male_min_call_rate``, some at or below ``y_female_max_call_rate``): one X by
       heterozygosity but no Y is an X anomaly (``F`` with ``low_x_het``), two X with a Y is ``ambiguous``.

    With fewer sites than the rule needs, ``genetic_sex`` is ``not_assessed``: no mismatch can be asserted.
    "Too little heterozygosity" for two X: F above ``male_threshold`` and a Poisson lower tail of the observed
    heterozygous count (``n_called_x - observed_homs``) given the expected one (``n_called_x -
    expected_homs``) below ``low_x_het_max_p``.

    Returns
    -------
    pandas.DataFrame
        A copy with ``genetic_sex`` (:data:`SEX_CALLS`), ``mismatch`` re-derived (only ``F``/``M`` calls are
        compared), ``low_x_het`` (bool) and ``sex_evidence`` (str: the numbers behind the call).

    Example
    -------
    >>> sc = pd.DataFrame({"sample_id": list("abcd"), "f_stat": [0.95, 0.92, 0.1, 1.0],
    ...                    "n_called_x": [36, 36, 36, 5], "expected_homs": [23.5] * 3 + [3.0],
    ...                    "observed_homs": [36, 35, 25, 5], "n_haploid_x": [36, 0, 0, 5],
    ...                    "reported_sex": ["F", "F", "F", "F"]})
    >>> out = call_sex(sc)
    >>> out[["genetic_sex", "mismatch", "low_x_het"]].to_numpy().tolist()
    [['M', True, False], ['F', False, True], ['F', False, False], ['not_assessed', False, False]]
    >>> out["sex_evidence"].iloc[1]
    'chrX: 36 sites, 0% haploid calls (two X), F 0.92, 1 het calls of 12.5 expected (P 5e-05)'
    """
    out = sex_check.copy()
    n = len(out)
    f = out["f_stat"].to_numpy(dtype=np.float64)
    n_x = out["n_called_x"].to_numpy(dtype=np.float64) if "n_called_x" in out else np.zeros(n)
    hap = (out["n_haploid_x"].to_numpy(dtype=np.float64) if "n_haploid_x" in out else np.full(n, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        hap_rate = np.where(n_x > 0, hap / n_x, np.nan)
    ratio = out["x_het_ratio"].to_numpy(dtype=np.float64) if "x_het_ratio" in out else np.full(n, np.nan)
    y_rate = out["y_call_rate"].to_numpy(dtype=np.float64) if "y_call_rate" in out else np.full(n, np.nan)
    n_y = int(out.attrs.get("n_y_sites", min_y_sites if np.isfinite(y_rate).any() else 0))
    if {"expected_homs", "observed_homs"} <= set(out.columns):
        obs_het = n_x - out["observed_homs"].to_numpy(dtype=np.float64)
        exp_het = n_x - out["expected_homs"].to_numpy(dtype=np.float64)
    else:
        obs_het = exp_het = np.full(n, np.nan)
    p_low = np.ones(n)
    cand = (f > male_threshold) & np.isfinite(exp_het)
    p_low[cand] = poisson_lower_tail(obs_het[cand], exp_het[cand])
    low_het = cand & (p_low < low_x_het_max_p)

    ploidy_ok = bool(((hap_rate >= male_min_haploid_rate) & (n_x >= min_ploidy_sites)).any())
    y_ok = bool(n_y >= min_y_sites and (y_rate >= y_male_min_call_rate).any()
                and (y_rate <= y_female_max_call_rate).any())
    one_x_het = (f > male_threshold) | ((f >= female_threshold) & (ratio <= male_max_het_ratio))
    two_x_het = (f < female_threshold) | ((f <= male_threshold) & (ratio >= female_min_het_ratio))

    genetic = np.full(n, "not_assessed", dtype=object)
    flag_low = np.zeros(n, dtype=bool)
    notes: list[str] = []
    for i in range(n):
        parts = [f"chrX: {int(n_x[i])} sites"]
        if ploidy_ok and n_x[i] >= min_ploidy_sites:
            parts.append(f"{hap_rate[i]:.0%} haploid calls")
            if hap_rate[i] >= male_min_haploid_rate:
                genetic[i] = "M"
                parts[-1] += " (one X)"
            elif hap_rate[i] <= female_max_haploid_rate:
                genetic[i] = "F"
                parts[-1] += " (two X)"
                flag_low[i] = low_het[i]
            else:
                genetic[i] = "ambiguous"
                parts[-1] += " (mixed)"
        elif n_x[i] >= max(min_sex_sites, 1) and np.isfinite(f[i]):
            if one_x_het[i]:
                genetic[i] = "M"
            elif two_x_het[i]:
                genetic[i] = "F"
            else:
                genetic[i] = "ambiguous"
            if y_ok and np.isfinite(y_rate[i]):
                if genetic[i] == "M" and y_rate[i] <= y_female_max_call_rate:
                    genetic[i], flag_low[i] = "F", bool(low_het[i])
                    if not flag_low[i]:
                        genetic[i] = "ambiguous"
                elif genetic[i] == "F" and y_rate[i] >= y_male_min_call_rate:
                    genetic[i] = "ambiguous"
        else:
            need = min_ploidy_sites if ploidy_ok else max(min_sex_sites, 1)
            parts.append(f"fewer than {need} needed")
        if np.isfinite(f[i]):
            parts.append(f"F {f[i]:.2f}")
        if np.isfinite(ratio[i]):
            parts.append(f"het ratio {ratio[i]:.2f}")
        if cand[i]:
            parts.append(f"{int(obs_het[i])} het calls of {exp_het[i]:.1f} expected (P {p_low[i]:.1g})")
        if y_ok and np.isfinite(y_rate[i]):
            parts.append(f"chrY call rate {y_rate[i]:.2f}")
        notes.append(", ".join(parts))
    reported = out["reported_sex"].to_numpy(dtype=object) if "reported_sex" in out else None
    out["genetic_sex"] = genetic
    out["mismatch"] = compare_reported_sex(genetic, reported)
    out["low_x_het"] = flag_low
    out["sex_evidence"] = np.array(notes, dtype=object)
    return out
