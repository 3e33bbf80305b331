"""``notebooks/wgs_qc.ipynb`` run by papermill with ``backend: hail`` on the session's synthetic project (80 samples
x 4,000 variants with injected problems), against an embedded run of the same project in this process.

The Hail run is the notebook's, in its own kernel (Hail start-up, ``run_qc`` with every method on the Hail path);
its output tables must equal the embedded ``run_qc``: sample QC with the
common-site heterozygosity, variant QC, sex check, the kinship pairs with their pedigree columns, the ancestry PCs,
populations and probabilities, and the decisions with their reasons. The injected problems
(``truth/problem_samples.tsv``) fail for their reasons. Both runs use the project's manifest (reported sex, batch
strata), its pedigree, and population labels taken from the truth files, so every branch of the decisions runs.
The whole module costs one notebook run (Hail's start-up in a new JVM dominates it). To spare the kernel a cold
import (~35 s here), the project's cache is seeded with the MatrixTable imported by this test session's Hail (the
same :func:`~pmo_workbench.genotypes.hail_backend.open_hail_genotypes`; the notebook then finds it in the cache).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = [pytest.mark.hail, pytest.mark.slow]  # one papermill run with Hail in a new JVM: ~60-120 s

EXPECTED_REASONS = {
    "low_call_rate": {"low_call_rate"},
    "contamination": {"het_outlier", "metric_outlier"},
    "sex_mismatch": {"sex_mismatch"},
    "sample_swap": {"pedigree_mismatch", "sex_mismatch"},
}
TABLES = ["sample_qc", "variant_qc", "sex_check", "kinship", "ancestry", "qc_decisions"]


@pytest.fixture(scope="module")
def runs(hail_session, small_project: Path, hail_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """(notebook run record, its tables by name, the embedded QcResult)."""
    from pmo_workbench.cli import NOTEBOOKS_DIR
    from pmo_workbench.genotypes.hail_backend import open_hail_genotypes
    from pmo_workbench.qc.report import run_wgs_qc
    from pmo_workbench.runner import run_track

    project = tmp_path_factory.mktemp("wgs_qc_hail") / "project"
    shutil.copytree(small_project, project, symlinks=True)
    config = yaml.safe_load((project / "pmo.yaml").read_text())
    config.setdefault("backend", {})["spark_master"] = "local[2]"  # not the default: the kernel must read it
    (project / "pmo.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    samples = pd.read_csv(project / "truth" / "samples.tsv", sep="\t", dtype=str)
    persons = pd.read_csv(project / "truth" / "individuals.tsv", sep="\t", dtype=str)
    labels = samples.merge(persons, left_on="true_person_id", right_on="person_id")[["sample_id", "population"]]
    labels.to_csv(project / "labels.tsv", sep="\t", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = open_hail_genotypes(project / "data" / "genotypes" / "cohort.vcf.gz", hail_cache,
                                    reference_build="GRCh38").store_path
    shutil.copytree(store, project / "cache" / store.name)

    rec = run_track("wgs_qc", project, {"backend": "hail", "reference_labels": "labels.tsv"},
                    params_file=NOTEBOOKS_DIR / "params" / "wgs_qc.demo.yaml", timeout_s=600)
    assert rec.succeeded, rec.error
    tables = {name: pd.read_parquet(rec.run_dir / f"{name}.parquet") for name in TABLES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = run_wgs_qc(project, backend="embedded", strata=["batch"], reference_labels="labels.tsv")
    assert emb.inputs["backend"] == "embedded" and emb.strata == ["batch"]
    return rec, tables, emb.result


def test_notebook_runs_on_hail_and_writes_every_table(runs) -> None:
    rec, tables, _ = runs
    names = {p.name for p in rec.run_dir.iterdir()}
    assert {f"{t}.parquet" for t in TABLES} | {"passing_samples.txt", "filtered.vcf.gz", "report.html"} <= names
    assert "(hail backend on local[2])" in rec.notebook_path.read_text(), "the Spark master of pmo.yaml"
    dec = tables["qc_decisions"]
    assert (rec.run_dir / "passing_samples.txt").read_text().split() == dec.loc[dec["pass"], "sample_id"].tolist()


def test_sample_variant_and_sex_tables_equal_embedded(runs) -> None:
    _, tables, emb = runs
    sqc = tables["sample_qc"]
    pd.testing.assert_frame_equal(sqc, emb.sample_qc, check_exact=False, rtol=1e-9)
    assert (sqc["n_called_common"] > 0).all() and (sqc["n_het_common"] > 0).all()
    vqc = tables["variant_qc"]
    assert vqc["locus"].tolist() == emb.variant_qc["locus"].tolist()
    assert vqc["AN"].tolist() == emb.variant_qc["AN"].tolist()
    assert vqc["n_het"].tolist() == emb.variant_qc["n_het"].tolist()
    np.testing.assert_allclose(vqc["call_rate"], emb.variant_qc["call_rate"], rtol=1e-12)
    np.testing.assert_allclose(vqc["p_value_hwe"], emb.variant_qc["p_value_hwe"], rtol=1e-9, equal_nan=True)
    sex = tables["sex_check"]
    for col in ("sample_id", "genetic_sex", "reported_sex", "n_called_x", "observed_homs"):
        assert sex[col].tolist() == emb.sex_check[col].tolist(), col
    assert sex["mismatch"].fillna(False).tolist() == emb.sex_check["mismatch"].fillna(False).tolist()
    np.testing.assert_allclose(sex["f_stat"], emb.sex_check["f_stat"], rtol=1e-9)


def test_kinship_equals_embedded_with_pedigree_columns(runs) -> None:
    _, tables, emb = runs
    h, e = tables["kinship"], emb.kinship
    assert list(h.columns) == list(e.columns) and len(h) == len(e) > 50
    for col in ("sample_i", "sample_j", "relationship", "expected_relationship", "unexpected",
                "relationship_detail", "expected_detail", "n_snp"):
        assert h[col].tolist() == e[col].tolist(), col
    diff = float(np.abs(h["kinship"] - e["kinship"]).max())
    assert diff <= 1e-6, diff
    np.testing.assert_allclose(h[["ibs0", "hethet"]], e[["ibs0", "hethet"]], rtol=0, atol=1e-12)
    # the pedigree columns are exercised: the swapped samples' first-degree pairs are unexpected both ways
    assert (h["expected_detail"] == "parent-offspring").sum() >= 2
    first = h[h["unexpected"] & ((h["relationship"] == "first") | (h["expected_relationship"] == "first"))]
    assert set(first["sample_i"]) | set(first["sample_j"]) >= {"S00042", "S00070"}
    assert (h["relationship"] == "duplicate/MZ").sum() == 1


def test_ancestry_equals_embedded(runs) -> None:
    _, tables, emb = runs
    h, e = tables["ancestry"], emb.ancestry
    pcs = [c for c in e.columns if c.startswith("PC")]
    assert len(pcs) == 10 and list(h.columns) == list(e.columns)
    sign = np.sign((h[pcs].to_numpy() * e[pcs].to_numpy()).sum(axis=0))  # PC signs may differ (here they do not)
    np.testing.assert_allclose(h[pcs].to_numpy() * sign, e[pcs].to_numpy(), rtol=0, atol=1e-6)
    assert h["assigned_population"].tolist() == e["assigned_population"].tolist()
    assert set(h["assigned_population"]) >= {"NEU"}
    np.testing.assert_allclose(h["probability"], e["probability"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(h["pc_distance"], e["pc_distance"], rtol=0, atol=1e-6)
    assert h["projected"].tolist() == e["projected"].tolist() and h["projected"].sum() >= 2  # the relatives


def test_decisions_equal_embedded_and_injected_problems_fail(runs, small_project: Path) -> None:
    _, tables, emb = runs
    dec = tables["qc_decisions"]
    assert dec["sample_id"].tolist() == emb.decisions["sample_id"].tolist()
    assert dec["pass"].tolist() == emb.decisions["pass"].tolist() and 0 < dec["pass"].sum() < len(dec)
    assert [list(r) for r in dec["reasons"]] == emb.decisions["reasons"].tolist()
    truth = pd.read_csv(small_project / "truth" / "problem_samples.tsv", sep="\t", dtype=str)
    reasons = dict(zip(dec["sample_id"], dec["reasons"].map(set), strict=True))
    for problem, expected in EXPECTED_REASONS.items():
        ids = truth.loc[truth["problem"] == problem, "sample_id"].tolist()
        assert ids and all(reasons[s] & expected for s in ids), (problem, {s: reasons[s] for s in ids})
    dups = truth.loc[truth["problem"] == "duplicate", "sample_id"].tolist()  # the better sequencing passes
    assert len(dups) == 2 and sum("duplicate" in reasons[s] for s in dups) == 1
