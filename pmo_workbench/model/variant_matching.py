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



def is_acgt(s: pd.Series) -> np.ndarray:
    """Bool per value: made of A/C/G/T only (vectorised in Arrow; missing values are False)."""
    arr = pa.array(s.astype(object).where(s.notna(), None), type=pa.string())
    return pc.fill_null(pc.match_substring_regex(arr, r"^[ACGT]+$"), False).to_numpy(zero_copy_only=False)


def _complement(s: pd.Series) -> pd.Series:
    """pgscatalog's complement: each base of an A/C/G/T-only allele complemented (not reversed); others kept."""
    s = s.astype(object)
    arr = pa.array(s.where(s.notna(), None), type=pa.string())
    out = arr
    for a, b in (("A", "V"), ("T", "X"), ("C", "Y"), ("G", "Z"), ("V", "T"), ("X", "A"), ("Y", "G"), ("Z", "C")):
        out = pc.replace_substring(out, a, b)  # as pgscatalog.match, through placeholders (vectorised)
    valid = is_acgt(s)
    flipped = pd.Series(out.to_numpy(zero_copy_only=False), index=s.index, dtype=object)
    return s.where(~valid, flipped)


def normalise_contig(contig: pd.Series) -> pd.Series:
    """Contig names as in PGS Catalog files: ``chr`` prefix removed, ``M``/``chrM`` as ``MT``."""
    c = contig.astype(str).str.replace(r"^chr", "", regex=True, case=False)
    return c.where(c != "M", "MT")


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


def match_variants(score: pd.DataFrame, target: pd.DataFrame, *, keep_ambiguous: bool = False,
                   keep_multiallelic: bool = False, skip_flip: bool = False) -> MatchResult:
    """Match normalised scoring rows (:data:`~pmo_workbench.model.scoring_file.NORMALISED_COLUMNS`) to the target
    variants (contig, position, ref, alt; one row per record, ALT comma-separated).

    Parameters
    ----------
    keep_ambiguous
        Keep best matches at A/T and C/G SNVs (pgsc_calc ``--keep_ambiguous``).
    keep_multiallelic
        Keep best matches at multi-allelic records (pgsc_calc ``--keep_multiallelic``).
    skip_flip
        Do not try the complemented alleles.
    """
    tgt = target_table(target)
    s = score.reset_index(drop=True).copy()
    s["_row"] = np.arange(len(s))
    s["chrom"] = s["chr_name"].astype(object).where(s["chr_name"].notna(), None)
    s["pos"] = pd.to_numeric(s["chr_position"], errors="coerce")
    placed = s[s["chrom"].notna() & s["pos"].notna()].copy()
    placed["pos"] = placed["pos"].astype(np.int64)
    placed["chrom"] = normalise_contig(placed["chrom"])
    cand = placed[["_row", "chrom", "pos", "effect_allele", "other_allele"]].merge(
        tgt, on=["chrom", "pos"], how="inner")
    ea, oa = cand["effect_allele"].astype(object), cand["other_allele"].astype(object)
    ea_f, oa_f = _complement(ea), _complement(oa)
    ref, alt = cand["REF"].astype(object), cand["ALT"].astype(object)
    has_oa = oa.notna().to_numpy()
    tests = {
        "refalt": has_oa & (ea == ref).to_numpy() & (oa == alt).to_numpy(),
        "altref": has_oa & (ea == alt).to_numpy() & (oa == ref).to_numpy(),
        "refalt_flip": has_oa & (ea_f == ref).to_numpy() & (oa_f == alt).to_numpy(),
        "altref_flip": has_oa & (ea_f == alt).to_numpy() & (oa_f == ref).to_numpy(),
        "no_oa_ref": ~has_oa & (ea == ref).to_numpy(),
        "no_oa_alt": ~has_oa & (ea == alt).to_numpy(),
        "no_oa_ref_flip": ~has_oa & (ea_f == ref).to_numpy(),
        "no_oa_alt_flip": ~has_oa & (ea_f == alt).to_numpy(),
    }
    if skip_flip:
        tests = {k: v for k, v in tests.items() if "flip" not in k}
    priority = np.full(len(cand), len(MATCH_TYPES), dtype=np.int64)
    for i, name in enumerate(MATCH_TYPES):
        if name in tests:
            priority = np.where((priority == len(MATCH_TYPES)) & tests[name], i, priority)
    cand["priority"] = priority
    cand = cand[cand["priority"] < len(MATCH_TYPES)]
    # best type per row; ties (several target variants) -> the first in target order
    cand = cand.sort_values(["_row", "priority", "target_index"], kind="stable")
    best = cand.drop_duplicates("_row", keep="first").copy()
    best["match_type"] = np.asarray(MATCH_TYPES, dtype=object)[best["priority"].to_numpy()]
    best["effect_is_alt"] = best["match_type"].isin(["altref", "altref_flip", "no_oa_alt", "no_oa_alt_flip"])
    ref_b, alt_b = best["REF"].astype(object), best["ALT"].astype(object)
    best["ambiguous"] = (_complement(ref_b) == alt_b).to_numpy() & is_acgt(ref_b)
    acc = s["accession"].astype(str).to_numpy()
    best["accession"] = acc[best["_row"].to_numpy()]
    best["duplicate_id"] = best.duplicated(["accession", "target_index", "ALT"], keep=False).to_numpy()
    rows = pd.DataFrame({"row_nr": s["row_nr"].to_numpy(), "accession": acc, "status": "absent",
                         "match_type": None, "target_index": -1, "effect_is_alt": False,
                         "effect_weight": s["effect_weight"].to_numpy(float)})
    rows["match_type"] = rows["match_type"].astype(object)
    r = best["_row"].to_numpy()
    rows.loc[r, "match_type"] = best["match_type"].to_numpy()
    rows.loc[r, "target_index"] = best["target_index"].to_numpy()
    rows.loc[r, "effect_is_alt"] = best["effect_is_alt"].to_numpy()
    status = np.where(best["match_type"].str.contains("flip"), "matched after flip", "matched").astype(object)
    status = np.where(~keep_ambiguous & best["ambiguous"].to_numpy(), "strand-ambiguous dropped", status)
    status = np.where(~keep_multiallelic & best["is_multiallelic"].to_numpy(bool), "multi-allelic", status)
    status = np.where(best["duplicate_id"].to_numpy(), "duplicate", status)
    rows.loc[r, "status"] = status
    rows["target_index"] = rows["target_index"].astype(np.int64)
    rows["effect_is_alt"] = rows["effect_is_alt"].astype(bool)
    report = (rows.groupby(["accession", "status"]).size().unstack(fill_value=0)
              .reindex(columns=list(OUTCOMES), fill_value=0))
    report.columns.name = None
    total = report.sum(axis=1)
    rate = (report["matched"] + report["matched after flip"]) / total
    report = report.assign(total=total, match_rate=rate).reset_index()
    return MatchResult(rows, report, rate.rename("match_rate"))
