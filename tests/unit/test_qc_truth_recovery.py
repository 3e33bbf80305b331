"""Truth recovery: every problem injected into a synthetic project fails QC with the right reason, and clean
samples mostly pass (the project's ``truth/problem_samples.tsv`` is the oracle).

The QC runs as the WGS QC notebook runs it (:func:`pmo_workbench.qc.report.run_wgs_qc`: the project's inputs,
default thresholds, outliers per batch).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

EXPECTED_REASONS = {
    "low_call_rate": {"low_call_rate"},
    "contamination": {"het_outlier", "metric_outlier"},
    "sex_mismatch": {"sex_mismatch"},
    "duplicate": {"duplicate"},
    "sample_swap": {"pedigree_mismatch", "sex_mismatch"},
}
MAX_FALSE_POSITIVE_RATE = 0.06
"""Share of clean samples (no injected problem) allowed to fail."""


@pytest.fixture(scope="module")
def qc_vs_truth(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    import shutil

    from pmo_workbench.qc.report import run_wgs_qc

    project = tmp_path_factory.mktemp("truth") / "project"
    shutil.copytree(small_project, project, symlinks=True)
    run = run_wgs_qc(project)
    truth = pd.read_csv(project / "truth" / "problem_samples.tsv", sep="\t", dtype=str)
    assert set(truth["problem"]) == set(EXPECTED_REASONS), "the synthetic project must hold every problem kind"
    decisions = run.result.decisions.assign(sample_id=run.result.decisions["sample_id"].astype(str))
    sex = run.result.sex_check[["sample_id", "genetic_sex", "f_stat", "x_het_ratio"]]
    true_sex = pd.read_csv(project / "truth" / "samples.tsv", sep="\t", dtype=str)[["sample_id", "genetic_sex"]]
    return (decisions.merge(truth, on="sample_id", how="left")
            .merge(sex.merge(true_sex, on="sample_id", suffixes=("", "_true")), on="sample_id"))


def _reasons(row: pd.Series) -> set[str]:
    return {str(r) for r in row["reasons"]}


@pytest.mark.parametrize("problem", sorted(set(EXPECTED_REASONS) - {"duplicate"}))
def test_each_injected_problem_fails_with_its_reason(qc_vs_truth, problem):
    rows = qc_vs_truth[qc_vs_truth["problem"] == problem]
    assert len(rows) >= 1
    for _, row in rows.iterrows():
        assert not row["pass"], f"{row['sample_id']} ({problem}) passed QC"
        assert _reasons(row) & EXPECTED_REASONS[problem], (
            f"{row['sample_id']} ({problem}) failed for {sorted(_reasons(row))}, expected one of "
            f"{sorted(EXPECTED_REASONS[problem])}")


def test_exactly_one_sequencing_of_a_duplicated_person_fails_as_duplicate(qc_vs_truth):
    dups = qc_vs_truth[qc_vs_truth["problem"] == "duplicate"]
    for _person, pair in dups.groupby("person_id"):
        assert len(pair) == 2
        flagged = pair[pair.apply(lambda r: "duplicate" in _reasons(r), axis=1)]
        assert len(flagged) == 1, f"{pair['sample_id'].tolist()}: {len(flagged)} flagged as duplicate"


def test_false_positive_rate_among_clean_samples_is_small(qc_vs_truth):
    clean = qc_vs_truth[qc_vs_truth["problem"].isna()]
    failed = clean[~clean["pass"].astype(bool)]
    rate = len(failed) / len(clean)
    why = failed["reasons"].explode().value_counts().to_dict()
    print(f"false positives: {len(failed)} of {len(clean)} clean samples ({rate:.1%}); reasons {why}")
    assert rate <= MAX_FALSE_POSITIVE_RATE, (
        f"{len(failed)} of {len(clean)} clean samples fail ({rate:.1%}); reasons {why}")


def test_no_clean_sample_takes_the_blame_for_the_pedigree(qc_vs_truth):
    """A swapped trio child is blamed, not its parents; KING noise between unrelated persons blames nobody."""
    clean = qc_vs_truth[qc_vs_truth["problem"].isna()]
    blamed = clean[clean.apply(lambda r: "pedigree_mismatch" in _reasons(r), axis=1)]
    assert blamed.empty, f"clean samples failed pedigree_mismatch: {blamed['sample_id'].tolist()}"


def test_genetic_sex_is_recovered(qc_vs_truth):
    """The genotypes' sex (truth, before any reported-sex flip) is called for nearly every sample: chrX F, and
    for F's grey zone the chrX/genome heterozygosity ratio (a clean female with F up to ~0.7 on this short,
    mostly rare chrX must not be left ambiguous)."""
    called = qc_vs_truth["genetic_sex"]
    assert (called == "ambiguous").sum() == 0, qc_vs_truth.loc[called == "ambiguous", ["sample_id", "f_stat"]]
    wrong = qc_vs_truth[called != qc_vs_truth["genetic_sex_true"]]
    assert len(wrong) <= 0.02 * len(qc_vs_truth), wrong[["sample_id", "f_stat", "x_het_ratio", "genetic_sex"]]
    grey = qc_vs_truth[(qc_vs_truth["f_stat"] > 0.5) & (qc_vs_truth["f_stat"] < 0.8)]
    assert len(grey) >= 1, "the project must exercise the grey zone"
    assert (grey["genetic_sex"] == grey["genetic_sex_true"]).all()
