"""The QC tables against their specs (:mod:`pmo_workbench.qc.tables`), the spec checker itself, the generated
documentation, and the rules' keyword defaults against the thresholds' defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.qc import rules
from pmo_workbench.qc.pipeline import run_qc
from pmo_workbench.qc.tables import (
    ANCESTRY,
    KINSHIP,
    QC_DECISIONS,
    QC_FLAGS,
    QC_METRIC_ASSESSMENT,
    SAMPLE_QC,
    SAMPLE_QC_AUTOSOMAL,
    SEX_CHECK,
    TABLES,
    VARIANT_QC,
    TableError,
    check_table,
    render_markdown,
)
from pmo_workbench.qc.thresholds import QcThresholds

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result(doctest_cohort: dict):
    c = doctest_cohort
    return run_qc(c["g"], manifest=c["manifest"], pedigree=c["pedigree"], thresholds={"strata": ["batch"]})


def test_every_table_of_a_run_matches_its_spec(result) -> None:
    tables = {SAMPLE_QC: result.sample_qc, VARIANT_QC: result.variant_qc, SEX_CHECK: result.sex_check,
              KINSHIP: result.kinship, ANCESTRY: result.ancestry, QC_DECISIONS: result.decisions,
              QC_FLAGS: result.flags, QC_METRIC_ASSESSMENT: result.assessment,
              SAMPLE_QC_AUTOSOMAL: result.sample_qc_autosomal}
    for spec, table in tables.items():
        assert check_table(table, spec) is table
        assert [c for c in spec.required if c in table.columns] == spec.required
    # the run's additions are declared optional columns of the specs
    assert {"dp_mean", "gq_mean", "n_het_common", "n_called_common"} <= set(result.sample_qc.columns)
    assert {"x_het_ratio", "n_haploid_x", "low_x_het", "sex_evidence"} <= set(result.sex_check.columns)
    assert {"verdict", "review_reasons", "not_assessed", "explanation"} <= set(result.decisions.columns)
    assert [c for c in result.ancestry.columns if c.startswith("PC")] == [f"PC{k}" for k in range(1, 11)]


def test_the_ancestry_table_without_a_pca_matches_its_spec(doctest_cohort: dict) -> None:
    result = run_qc(doctest_cohort["g"], thresholds=QcThresholds(min_samples_for_ancestry=1000))
    assert "PC1" not in result.ancestry.columns
    check_table(result.ancestry, ANCESTRY)


def test_check_table_names_what_does_not_match() -> None:
    good = pd.DataFrame({"sample_id": ["a"], "pass": [True], "reasons": [[]]})
    check_table(good, QC_DECISIONS)
    with pytest.raises(TableError, match="qc_decisions: missing column 'reasons'"):
        check_table(good.drop(columns="reasons"), QC_DECISIONS)
    with pytest.raises(TableError, match="qc_decisions: unknown column 'extra'"):
        check_table(good.assign(extra=1), QC_DECISIONS)
    with pytest.raises(TableError, match="qc_decisions: columns out of the spec's order"):
        check_table(good[["pass", "sample_id", "reasons"]], QC_DECISIONS)
    with pytest.raises(TableError, match="column 'mismatch' is bool, the spec says boolean"):
        check_table(SEX_CHECK.empty().assign(mismatch=np.zeros(0, dtype=bool)), SEX_CHECK)
    with pytest.raises(TableError, match="column 'PC2' is object"):
        check_table(pd.DataFrame({"sample_id": ["a"], "PC1": [0.1], "PC2": ["x"]}), ANCESTRY)
    with pytest.raises(TableError, match="unknown column 'PC0'"):
        check_table(pd.DataFrame({"sample_id": ["a"], "PC0": [0.1]}), ANCESTRY)


def test_empty_tables_match_their_specs() -> None:
    for spec in TABLES.values():
        empty = spec.empty()
        assert len(empty) == 0 and list(empty.columns) == spec.required
        check_table(empty, spec)


def test_methods_list_their_columns_in_their_docstrings() -> None:
    from pmo_workbench.qc import ancestry, impute_sex, kinship, sample_qc, variant_qc

    for fn, spec in ((sample_qc, SAMPLE_QC), (variant_qc, VARIANT_QC), (impute_sex, SEX_CHECK),
                     (kinship, KINSHIP), (ancestry, ANCESTRY)):
        assert f"Columns of the ``{spec.name}`` table" in fn.__doc__
        assert all(f"``{c.name.replace('{k}', 'k')}``" in fn.__doc__ for c in spec)


def test_the_documentation_is_generated_from_the_specs() -> None:
    doc = (ROOT / "docs" / "qc_tables.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "docs/qc_tables.md is stale: python -m pmo_workbench.qc.tables > docs/qc_tables.md"


def test_rule_defaults_equal_the_thresholds_defaults() -> None:
    """A rule's keyword default and the QcThresholds field of the same name hold the same value."""
    defaults = QcThresholds().model_dump()
    checked = 0
    for name, fn in inspect.getmembers(rules, inspect.isfunction):
        if fn.__module__ != rules.__name__:
            continue
        for p in inspect.signature(fn).parameters.values():
            if p.name in defaults and p.default is not inspect.Parameter.empty:
                value = list(p.default) if isinstance(p.default, tuple) else p.default
                assert value == defaults[p.name], f"{name}({p.name}={p.default!r}) but QcThresholds has " \
                                                  f"{defaults[p.name]!r}"
                checked += 1
    assert checked >= 8
