"""run_model_development end to end on the small synthetic project with a WGS QC run: genetics wired in (PGS
feature, GWAS of the outcome and the lab trait), outputs by disclosure mode, the run's links in run_extra.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.model.report import compare_with_truth, run_model_development, write_model_outputs
from pmo_workbench.privacy import Disclosure


@pytest.fixture
def with_qc_run(writable_project: Path) -> Path:
    """A WGS QC run folder in which every sample passed (the model track reads its decisions)."""
    manifest = pd.read_csv(writable_project / "data" / "genotypes" / "manifest.tsv", sep="\t")
    run = writable_project / "runs" / "wgs_qc" / "20240101T000000Z"
    run.mkdir(parents=True)
    pd.DataFrame({"sample_id": manifest["sample_id"], "pass": True}).to_parquet(run / "qc_decisions.parquet")
    return writable_project


def test_model_development_with_genetics_and_outputs(with_qc_run: Path, tmp_path: Path) -> None:
    md = run_model_development(with_qc_run, baseline_date="2003-01-01", horizon_days=7300, n_repeats=1,
                               n_boot=50)
    assert md.qc_info["qc_run"] == "20240101T000000Z" and md.qc_info["passing"] > 50
    assert md.pgs is not None and md.pgs.match_report["match_rate"].iloc[0] == 1.0
    assert "pgs_mi" in md.features.table and md.features.table["pgs_mi"].notna().sum() > 10
    assert [g.trait for g in md.gwas] == ["mi", "NPU01567"]
    assert all(len(g.table) > 1000 and g.lambda_gc > 0 for g in md.gwas)
    truth = compare_with_truth(md)
    assert truth is not None and set(truth["pgs"]["simulated"]) == {"mi_score", "ldl_score"}
    mi = truth["pgs"].set_index("simulated").loc["mi_score", "correlation"]
    assert mi > 0.9  # the project's MI score file recovers the simulated MI score
    card = md.card.to_markdown()
    assert "TRIPOD+AI" in card and "DI21*" in card
    internal, export = tmp_path / "internal", tmp_path / "export"
    internal.mkdir()
    export.mkdir()
    w_int = write_model_outputs(md, internal, Disclosure("internal", 5))
    w_exp = write_model_outputs(md, export, Disclosure("export", 5))
    assert "validated_risk.parquet" in w_int and "pgs_scores.parquet" in w_int
    assert "validated_risk.parquet" not in w_exp and "pgs_scores.parquet" not in w_exp
    assert {"model.joblib", "model.json", "model_card.md", "performance.parquet", "run_extra.json"} <= set(w_exp)
    gwas = pd.read_parquet(export / "gwas_NPU01567.parquet")
    mac = (gwas[["AF"]].assign(minor=lambda d: d["AF"].clip(upper=1 - d["AF"])))["minor"] * 2 * gwas["n"]
    assert (mac.round() >= 5).all()  # rare variants (few carriers) are not exported
    extra = json.loads((export / "run_extra.json").read_text())["model_development"]
    assert extra["qc_run"] == "20240101T000000Z" and extra["cohort"]["source"] == "baseline"
