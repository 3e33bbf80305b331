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
[[0, 'matched', 'altref', 0, True], [1, 'matched after flip', 'altref_flip', 1, True], [2, 'absent', None, -1, False]]
"""

from __future__ import annotations

from dataclasses import dataclass

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
    Only the distinct values are normalised."""
    codes, uniques = pd.factorize(pd.Series(_strings(values).to_numpy(zero_copy_only=False), dtype=object))
    if len(uniques) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    norm = normalise_contig(pd.Series(uniques, dtype=object))
    code_of = np.array([names.setdefault(n, len(names)) for n in norm], dtype=np.int64)
    return np.where(codes >= 0, code_of[np.maximum(codes, 0)], -1)


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


def _target_alleles(variants: pd.DataFrame) -> tuple[np.ndarray, pa.Array, pa.Array, np.ndarray]:
    """(target_index, REF, ALT, is_multiallelic) with multi-allelic records exploded per ALT allele."""
    ref = _strings(variants["ref"])
    alt = _strings(variants["alt"])
    multi = pc.fill_null(pc.match_substring(alt, ","), False).to_numpy(zero_copy_only=False)
    index = np.arange(len(variants), dtype=np.int64)
    if not multi.any():
        return index, ref, alt, multi
    parts = pc.split_pattern(alt, ",")
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.repeat(index, counts)
    return rows, ref.take(pa.array(rows)), pc.list_flatten(parts), multi[rows]


_ALT_TYPES = np.array([t in ("altref", "altref_flip", "no_oa_alt", "no_oa_alt_flip") for t in MATCH_TYPES])
_STATUS = np.array(["matched", "matched after flip", "strand-ambiguous dropped", "absent", "multi-allelic",
                    "duplicate"], dtype=object)


def match_variants(score: pd.DataFrame, target: pd.DataFrame, *, keep_ambiguous: bool = False,
                   keep_multiallelic: bool = False, skip_flip: bool = False) -> MatchResult:
    """Match normalised scoring rows (:data:`~pmo_workbench.model.scoring_file.NORMALISED_COLUMNS`) to the target
    variants (contig, position, ref, alt; one row per record, ALT comma-separated).

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
    names: dict[str, int] = {}
    t_chrom = _contig_codes(target["contig"], names)
    t_index, t_ref, t_alt, t_multi = _target_alleles(target)
    t_pos = target["position"].to_numpy(np.int64)[t_index]
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
    # best type per row; ties (several target variants) -> the first in target order
    srt = np.lexsort((c_target, priority, c_row))
    c_row, c_t, c_target, priority = c_row[srt], c_t[srt], c_target[srt], priority[srt]
    first = np.ones(len(c_row), dtype=bool)
    first[1:] = c_row[1:] != c_row[:-1]
    b_row, b_t, b_target, b_prio = c_row[first], c_t[first], c_target[first], priority[first]
    b_ref, b_alt = ref_c[b_t], alt_c[b_t]
    ambiguous = (comp_of[b_ref] == b_alt) & acgt[b_ref]
    acc_codes, acc_names = pd.factorize(pd.Series(_strings(score["accession"].astype(str)).to_numpy(
        zero_copy_only=False), dtype=object))
    b_acc = acc_codes[b_row]
    dup = pd.DataFrame({"a": b_acc, "t": b_target, "x": b_alt}).duplicated(keep=False).to_numpy()
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
    rows = pd.DataFrame({"row_nr": score["row_nr"].to_numpy(), "accession": acc_obj[acc_codes],
                         "status": _STATUS[row_status],
                         "match_type": np.append(np.asarray(MATCH_TYPES, dtype=object), None)[row_prio],
                         "target_index": target_index, "effect_is_alt": effect_is_alt,
                         "effect_weight": score["effect_weight"].to_numpy(float)})
    counts = np.zeros((len(acc_names), len(OUTCOMES)), dtype=np.int64)
    np.add.at(counts, (acc_codes, row_status), 1)
    report = pd.DataFrame(counts, columns=list(OUTCOMES))
    present = counts.sum(axis=1) > 0
    report.insert(0, "accession", acc_obj)
    report = report[present].sort_values("accession").reset_index(drop=True)
    total = report[list(OUTCOMES)].sum(axis=1)
    rate = (report["matched"] + report["matched after flip"]) / total
    report = report.assign(total=total, match_rate=rate)
    return MatchResult(rows, report, pd.Series(rate.to_numpy(), index=report["accession"].to_numpy(),
                                               name="match_rate"))
