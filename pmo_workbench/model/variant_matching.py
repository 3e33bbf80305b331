"""Matching scoring-file variants to the genotypes' variants by the rules of pgsc_calc (``pgscatalog.match``).

Each scoring-file row is joined to the target variants at its chromosome and position; a candidate is labelled
with the first match type that fits, in pgsc_calc's order of preference: ``refalt`` (effect = REF, other = ALT),
``altref``, ``refalt_flip`` and ``altref_flip`` (alleles complemented: the other strand), and, for rows without
an other allele, ``no_oa_ref``, ``no_oa_alt``, ``no_oa_ref_flip``, ``no_oa_alt_flip``. Per row the candidates
of the best type are its best matches (the first target variant in file order when several tie). A best match is
then excluded when its target variant is strand-ambiguous (A/T or C/G: REF's complement is ALT; kept with
``keep_ambiguous``), multi-allelic (kept with ``keep_multiallelic``), or best-matched by another row of the same
score too (both dropped, as pgsc_calc does without ``keep_first_match``). The match rate is the share of a
score's rows that end matched; ``tests/unit/test_model_pgs.py`` holds this module equal to pgscatalog.match.

Examples
--------
>>> score = pd.DataFrame({"chr_name": ["1", "1", "2"], "chr_position": [10, 20, 30],
...     "effect_allele": ["A", "T", "G"], "other_allele": ["G", "C", "A"], "effect_weight": [0.1, 0.2, 0.3],
...     "accession": "PGS1", "row_nr": [0, 1, 2], "is_duplicated": False})
>>> target = pd.DataFrame({"contig": ["chr1", "chr1"], "position": [10, 20], "ref": ["G", "G"], "alt": ["A", "A"]})
>>> m = match_variants(score, target)
>>> m.rows[["row_nr", "status", "match_type", "target_index", "effect_is_alt"]].values.tolist()
[[0, 'matched', 'altref', 0, True], [1, 'matched after flip', 'altref_flip', 1, True], [2, 'absent', nan, -1, False]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MATCH_TYPES = ("refalt", "altref", "refalt_flip", "altref_flip", "no_oa_ref", "no_oa_alt", "no_oa_ref_flip",
               "no_oa_alt_flip")
"""pgsc_calc's match types in order of preference."""

OUTCOMES = ("matched", "matched after flip", "strand-ambiguous dropped", "absent", "multi-allelic", "duplicate")
"""Outcomes of a scoring-file row, as counted in the match report."""



def _strings(values: pd.Series | np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Values as one Arrow string array (missing values null); zero-copy for Arrow-backed columns."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.ArrowDtype):
        return _strings(pa.chunked_array(values.array._pa_array))  # noqa: SLF001 (pandas' Arrow data)
    arr = np.asarray(values, dtype=object)
    return pa.array(arr, type=pa.string(), from_pandas=True)


def is_acgt(s: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Bool per value: made of A/C/G/T only (vectorised in Arrow; missing values are False)."""
    arr = _strings(s)
    return pc.fill_null(pc.match_substring_regex(arr, r"^[ACGT]+$"), False).to_numpy(zero_copy_only=False)


def _complement_arrow(arr: pa.Array) -> pa.Array:
    """pgscatalog's complement: each base of an A/C/G/T-only allele complemented (not reversed); others kept."""
    out = arr
    for a, b in (("A", "V"), ("T", "X"), ("C", "Y"), ("G", "Z"), ("V", "T"), ("X", "A"), ("Y", "G"), ("Z", "C")):
        out = pc.replace_substring(out, a, b)  # as pgscatalog.match, through placeholders (vectorised)
    return pc.if_else(pa.array(is_acgt(arr)), out, arr)


def _complement(s: pd.Series) -> pd.Series:
    """pgscatalog's complement of each allele (see :func:`_complement_arrow`), as a Series."""
    out = _complement_arrow(_strings(s))
    return pd.Series(out.to_numpy(zero_copy_only=False), index=s.index, dtype=object)


def normalise_contig(contig: pd.Series) -> pd.Series:
    """Contig names as in PGS Catalog files: ``chr`` prefix removed, ``M``/``chrM`` as ``MT``."""
    c = contig.astype(str).str.replace(r"^chr", "", regex=True, case=False)
    return c.where(c != "M", "MT")


def _contig_codes(values: pd.Series | pa.Array, names: dict[str, int]) -> np.ndarray:
    """Integer code per value of its normalised contig name (growing ``names``); -1 for a missing value.
    Only the distinct values are normalised (Arrow dictionary encoding)."""
    enc = pc.dictionary_encode(_strings(values).cast(pa.string()))
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(enc.dictionary) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    norm = normalise_contig(pd.Series(enc.dictionary.to_pylist(), dtype=object))
    code_of = np.append(np.array([names.setdefault(n, len(names)) for n in norm], dtype=np.int64), -1)
    return code_of[codes]


@dataclass
class TargetVariants:
    """The genotypes' variants as matching needs them: per variant its contig code (into ``contig_names``,
    normalised as in PGS Catalog files; -1 missing), position, REF and ALT (comma-separated) as Arrow strings."""

    contig: np.ndarray
    contig_names: list[str]
    position: np.ndarray
    ref: pa.Array
    alt: pa.Array

    def __len__(self) -> int:
        return len(self.position)


def target_variants(source: pd.DataFrame | Any) -> TargetVariants:
    """:class:`TargetVariants` from a variant table (contig, position, ref, alt) or from genotypes ``g``.

    An embedded store's variants are read from its arrays (contig codes, positions, REF/ALT as Arrow strings),
    not through ``g.variants``, whose object columns cost more than the whole match at a million variants.
    """
    names: dict[str, int] = {}
    if isinstance(source, pd.DataFrame):
        contig = _contig_codes(source["contig"], names)
        return TargetVariants(contig, list(names), source["position"].to_numpy(np.int64), _strings(source["ref"]),
                              _strings(source["alt"]))
    contig_arr = source._array("variant_contig") if hasattr(source, "_array") else None  # noqa: SLF001
    if contig_arr is None:
        return target_variants(source.variants)
    from pmo_workbench.genotypes.arrow_strings import read_variant_strings

    ids = [str(c) for c in (source.attrs["contig_id"] or [""])]
    code_of = np.array([names.setdefault(n, len(names)) for n in normalise_contig(pd.Series(ids, dtype=object))],
                       dtype=np.int64)
    contig = code_of[contig_arr[:].astype(np.int64)]
    position = source._array("variant_position")[:].astype(np.int64)  # noqa: SLF001
    return TargetVariants(contig, list(names), position, read_variant_strings(source, "ref"),
                          read_variant_strings(source, "alt"))


@dataclass
class MatchResult:
    """Per scoring-file row: ``rows`` (row_nr, accession, status, match_type, target_index (-1: none),
    effect_is_alt, effect_weight); ``report`` counts per accession and outcome; ``match_rate`` per accession."""

    rows: pd.DataFrame
    report: pd.DataFrame
    match_rate: pd.Series

    def matched(self) -> pd.DataFrame:
        """The rows that are scored (status matched or matched after flip)."""
        return self.rows[self.rows["status"].isin(["matched", "matched after flip"])]


def target_table(variants: pd.DataFrame) -> pd.DataFrame:
    """Target variants exploded per ALT allele: index (row of ``variants``), chrom, pos, REF, ALT,
    is_multiallelic."""
    alt = variants["alt"].astype(str)
    multi = pc.match_substring(pa.array(alt.to_numpy(dtype=object), type=pa.string()), ",").to_numpy(
        zero_copy_only=False)
    t = pd.DataFrame({"target_index": np.arange(len(variants), dtype=np.int64),
                      "chrom": normalise_contig(variants["contig"]).to_numpy(),
                      "pos": variants["position"].to_numpy(np.int64), "REF": variants["ref"].astype(str).to_numpy(),
                      "ALT": alt.to_numpy(dtype=object), "is_multiallelic": multi})
    if not multi.any():
        return t
    t.loc[multi, "ALT"] = alt[multi].str.split(",")
    return t.explode("ALT", ignore_index=True)


def _target_alleles(target: TargetVariants) -> tuple[np.ndarray, pa.Array, pa.Array, np.ndarray]:
    """(target_index, REF, ALT, is_multiallelic) with multi-allelic records exploded per ALT allele."""
    ref, alt = target.ref, target.alt
    multi = pc.fill_null(pc.match_substring(alt, ","), False).to_numpy(zero_copy_only=False)
    index = np.arange(len(target), dtype=np.int64)
    if not multi.any():
        return index, ref, alt, multi
    parts = pc.split_pattern(alt, ",")
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.repeat(index, counts)
    return rows, ref.take(pa.array(rows)), pc.list_flatten(parts), multi[rows]


def _accession_codes(accession: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, names) of the score accessions (a categorical column's own codes when it is one)."""
    if isinstance(accession.dtype, pd.CategoricalDtype):
        return (accession.cat.codes.to_numpy().astype(np.int64),
                np.asarray(accession.cat.categories.astype(str), dtype=object))
    enc = pc.dictionary_encode(_strings(accession.astype(str)).cast(pa.string()))
    return (enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            np.asarray(enc.dictionary.to_pylist(), dtype=object))


def duplicated_keys(*keys: np.ndarray, keep: Literal["first", False] = False) -> np.ndarray:
    """Bool per row: its combination of the integer ``keys`` (each >= -1) occurs in another row too
    (``keep="first"``: in an earlier row), as ``DataFrame.duplicated`` of those columns.

    Examples
    --------
    >>> duplicated_keys(np.array([1, 2, 1, 1]), np.array([5, 5, 5, -1])).tolist()
    [True, False, True, False]
    >>> duplicated_keys(np.array([1, 2, 1, 1]), np.array([5, 5, 5, -1]), keep="first").tolist()
    [False, False, True, False]
    """
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=bool)
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for k in keys:
        width = int(k.max(initial=-1)) + 2
        if span * width >= 2**62:  # cannot be packed into one integer
            return pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)}, copy=False).duplicated(keep=keep) \
                .to_numpy()
        key = key * width + (k + 1)
        span *= width
    order = np.argsort(key, kind="stable")  # equal keys stay in row order
    ks = key[order]
    same = ks[1:] == ks[:-1]
    dup = np.zeros(n, dtype=bool)
    dup[order[1:][same]] = True
    if keep is False:
        dup[order[:-1][same]] = True
    return dup


_ALT_TYPES = np.array([t in ("altref", "altref_flip", "no_oa_alt", "no_oa_alt_flip") for t in MATCH_TYPES])
_STATUS = np.array(["matched", "matched after flip", "strand-ambiguous dropped", "absent", "multi-allelic",
                    "duplicate"], dtype=object)


def match_variants(score: pd.DataFrame, target: pd.DataFrame | TargetVariants, *, keep_ambiguous: bool = False,
                   keep_multiallelic: bool = False, skip_flip: bool = False) -> MatchResult:
    """Match normalised scoring rows (:data:`~pmo_workbench.model.scoring_file.NORMALISED_COLUMNS`) to the target
    variants (a table of contig, position, ref, alt, one row per record, ALT comma-separated; or
    :func:`target_variants` of the genotypes).

    Contigs are compared by normalised name, alleles by integer codes of one Arrow dictionary over every allele
    of both sides (and of their complements), so the join and the allele tests run on integers.

    Parameters
    ----------
    keep_ambiguous
        Keep best matches at A/T and C/G SNVs (pgsc_calc ``--keep_ambiguous``).
    keep_multiallelic
        Keep best matches at multi-allelic records (pgsc_calc ``--keep_multiallelic``).
    skip_flip
        Do not try the complemented alleles.
    """
    n = len(score)
    target = target if isinstance(target, TargetVariants) else target_variants(target)
    names = {name: k for k, name in enumerate(target.contig_names)}
    t_chrom = target.contig
    t_index, t_ref, t_alt, t_multi = _target_alleles(target)
    t_pos = target.position[t_index]
    t_key = (t_chrom[t_index] << 40) | t_pos
    s_chrom = _contig_codes(score["chr_name"], names)
    s_pos_raw = pd.to_numeric(score["chr_position"], errors="coerce")
    placed = (s_chrom >= 0) & s_pos_raw.notna().to_numpy()
    s_key = np.where(placed, (s_chrom << 40) | np.nan_to_num(s_pos_raw.to_numpy(float)).astype(np.int64), -1)
    # candidates: every (score row, target allele) pair at the same contig and position
    order = np.argsort(t_key, kind="stable")
    sorted_keys = t_key[order]
    lo = np.searchsorted(sorted_keys, s_key, side="left")
    hi = np.searchsorted(sorted_keys, s_key, side="right")
    hi = np.where(placed, hi, lo)
    count = hi - lo
    c_row = np.repeat(np.arange(n, dtype=np.int64), count)
    offsets = np.arange(len(c_row)) - np.repeat(np.cumsum(count) - count, count)
    c_t = order[np.repeat(lo, count) + offsets]  # rows of the exploded target table
    # allele codes in one dictionary; complements by code
    ea, oa = _strings(score["effect_allele"]), _strings(score["other_allele"])
    every = pa.concat_arrays([ea.cast(pa.string()), oa.cast(pa.string()), t_ref.cast(pa.string()),
                              t_alt.cast(pa.string())])
    enc = pc.dictionary_encode(every)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = enc.dictionary
    comp = pc.fill_null(pc.index_in(_complement_arrow(dictionary), value_set=dictionary), -2)
    comp_of = np.append(comp.to_numpy(zero_copy_only=False).astype(np.int64), -3)  # [-1] (missing) -> -3
    acgt = np.append(is_acgt(dictionary), False)
    k1, k2, k3 = len(ea), len(ea) + len(oa), len(ea) + len(oa) + len(t_ref)
    ea_c, oa_c, ref_c, alt_c = codes[:k1], codes[k1:k2], codes[k2:k3], codes[k3:]
    e, o = ea_c[c_row], oa_c[c_row]
    r, a = ref_c[c_t], alt_c[c_t]
    e_f, o_f = comp_of[e], comp_of[o]
    has_oa = o >= 0
    tests = [has_oa & (e == r) & (o == a), has_oa & (e == a) & (o == r),
             has_oa & (e_f == r) & (o_f == a), has_oa & (e_f == a) & (o_f == r),
             ~has_oa & (e == r), ~has_oa & (e == a), ~has_oa & (e_f == r), ~has_oa & (e_f == a)]
    none = len(MATCH_TYPES)
    priority = np.full(len(c_row), none, dtype=np.int64)
    for i, (name, hit) in enumerate(zip(MATCH_TYPES, tests, strict=True)):
        if skip_flip and "flip" in name:
            continue
        priority = np.where((priority == none) & hit, i, priority)
    keep = priority < none
    c_row, c_t, priority = c_row[keep], c_t[keep], priority[keep]
    c_target = t_index[c_t]
    # best type per row; ties (several target variants) -> the first in target order, then in exploded order.
    # Candidates are grouped by row (c_row ascending): the smallest (type, target) key of each group wins.
    if len(c_row):
        key = priority * (int(c_target.max()) + 1) + c_target
        starts = np.flatnonzero(np.r_[True, c_row[1:] != c_row[:-1]])
        best = np.minimum.reduceat(key, starts)
        hit = np.flatnonzero(key == np.repeat(best, np.diff(np.r_[starts, len(c_row)])))
        first = hit[np.r_[True, c_row[hit][1:] != c_row[hit][:-1]]]
    else:
        first = np.zeros(0, dtype=np.int64)
    b_row, b_t, b_target, b_prio = c_row[first], c_t[first], c_target[first], priority[first]
    b_ref, b_alt = ref_c[b_t], alt_c[b_t]
    ambiguous = (comp_of[b_ref] == b_alt) & acgt[b_ref]
    acc_codes, acc_names = _accession_codes(score["accession"])
    b_acc = acc_codes[b_row]
    dup = duplicated_keys(b_acc, b_target, b_alt)
    status = np.where(np.isin(b_prio, [2, 3, 6, 7]), 1, 0)
    status = np.where(~keep_ambiguous & ambiguous, 2, status)
    status = np.where(~keep_multiallelic & t_multi[b_t], 4, status)
    status = np.where(dup, 5, status)
    row_status = np.full(n, 3, dtype=np.int64)
    row_status[b_row] = status
    row_prio = np.full(n, none, dtype=np.int64)
    row_prio[b_row] = b_prio
    target_index = np.full(n, -1, dtype=np.int64)
    target_index[b_row] = b_target
    effect_is_alt = np.append(_ALT_TYPES, False)[row_prio]
    acc_obj = np.asarray(acc_names, dtype=object)
    # text columns as categoricals (codes, not a million str objects); fresh arrays: no copy into 2-D blocks
    rows = pd.DataFrame({"row_nr": score["row_nr"].to_numpy(),
                         "accession": pd.Categorical.from_codes(acc_codes, acc_obj),
                         "status": pd.Categorical.from_codes(row_status, _STATUS),
                         "match_type": pd.Categorical.from_codes(np.where(row_prio < none, row_prio, -1),
                                                                 np.asarray(MATCH_TYPES, dtype=object)),
                         "target_index": target_index, "effect_is_alt": effect_is_alt,
                         "effect_weight": score["effect_weight"].to_numpy(float)}, copy=False)
    counts = np.bincount(acc_codes * len(OUTCOMES) + row_status, minlength=len(acc_names) * len(OUTCOMES)) \
        .reshape(len(acc_names), len(OUTCOMES))
    report = pd.DataFrame(counts, columns=list(OUTCOMES))
    present = counts.sum(axis=1) > 0
    report.insert(0, "accession", acc_obj)
    report = report[present].sort_values("accession").reset_index(drop=True)
    total = report[list(OUTCOMES)].sum(axis=1)
    rate = (report["matched"] + report["matched after flip"]) / total
    report = report.assign(total=total, match_rate=rate)
    return MatchResult(rows, report, pd.Series(rate.to_numpy(), index=report["accession"].to_numpy(),
                                               name="match_rate"))
