"""run_model_development end to end on the small synthetic project with a WGS QC run: genetics wired in (PGS
feature, GWAS of the outcome and the lab trait), outputs by disclosure mode, the run's links in run_extra.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.model.report import (
    NO_GENOME,
    UNASSIGNED,
    _card_subgroups,
    compare_with_truth,
    model_card,
    run_model_development,
    subgroup_table,
    validated_risk,
    write_model_outputs,
)
from pmo_workbench.privacy import Disclosure


@pytest.fixture
def with_qc_run(writable_project: Path) -> Path:
    """A WGS QC run folder in which every sample passed (the model track reads its decisions)."""
    manifest = pd.read_csv(writable_project / "data" / "genotypes" / "manifest.tsv", sep="\t")
    run = writable_project / "runs" / "wgs_qc" / "20240101T000000Z"
    run.mkdir(parents=True)
    pd.DataFrame({"sample_id": manifest["sample_id"], "pass": True}).to_parquet(run / "qc_decisions.parquet")
    persons = pd.read_csv(writable_project / "truth" / "persons.tsv", sep="\t")[["person_id", "population"]]
    anc = manifest[["sample_id", "person_id"]].merge(persons, on="person_id", how="left")
    pd.DataFrame({"sample_id": anc["sample_id"], "PC1": np.random.default_rng(1).normal(size=len(anc)),
                  "assigned_population": anc["population"].where(np.arange(len(anc)) % 10 != 0, None)}  # some unassigned
                 ).to_parquet(run / "ancestry.parquet")
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
    for section in ("Attrition", "Genomes (WGS QC run)", "Features", "Missing data", "Validation", "Performance",
                    "Subgroups (fairness)"):
        assert md.card.sections[section] != "_to be written by the author_", (section, md.notes)
    assert "20240101T000000Z" in md.card.sections["Genomes (WGS QC run)"]
    assert not re.search(r"\bnan\b", card, flags=re.IGNORECASE)  # missing values are shown as such
    # subgroups: discrimination and calibration by sex, region and genetic ancestry group
    clinical = subgroup_table(md, "clinical")
    assert set(clinical["by"]) == {"sex", "region", "ancestry"}
    risk = validated_risk(md, "clinical").dropna(subset=["y"])
    assert NO_GENOME in set(risk["ancestry"])  # persons without a genome form their own group
    assert UNASSIGNED in set(md.ancestry) and "None" not in set(md.ancestry) and "nan" not in set(md.ancestry)
    for by, part in clinical.groupby("by"):
        assert part["n"].sum() == len(risk) and part["events"].sum() == risk["y"].sum(), by
    anc = clinical[clinical["by"] == "ancestry"]
    linked = md.ancestry.reindex(md.data.ids["person_id"].iloc[risk["row"]].astype(str)).notna()
    assert anc.loc[anc["group"] != NO_GENOME, "n"].sum() == linked.sum() > 0
    # the O/E ratio of a group is its events over the summed validated risks of its persons
    top = anc[anc["group"] != NO_GENOME].sort_values("n").iloc[-1]
    part = risk[risk["ancestry"] == top["group"]]
    assert top["oe_ratio"] == pytest.approx(part["y"].sum() / part["risk"].sum())
    assert subgroup_table(md, "genetic").empty == (md.genetic is None)  # 25 persons with a genome: not fitted
    assert "calibration_slope" in clinical and "ancestry" in md.card.sections["Subgroups (fairness)"]
    # export: the card's subgroup rows of groups with fewer than min_count events keep no values
    small = clinical[clinical["events"] < 5]
    assert len(small) > 0  # the small project has such groups
    released = Disclosure("export", 5).group_metrics(_card_subgroups(md))
    hidden = released[released["by"].isin(small["by"]) & released["group"].isin(small["group"])
                      & (released["model"] == "clinical")]
    assert len(hidden) == len(small) and hidden[["n", "events", "auroc", "oe_ratio"]].isna().all().all()
    exported = model_card(md, Disclosure("export", 5)).sections["Subgroups (fairness)"]
    assert "| x " in exported and not re.search(r"\bnan\b", exported)
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
    card = (export / "model_card.md").read_text()
    assert "nan" not in card.lower().replace("nanoseconds", "")
    att = Disclosure("export", 5).attrition(md.attrition)
    shown = [int(v) for v in att["n_persons"].dropna()]
    assert shown and all(f"{v:,}" in card for v in shown)
    assert not any(0 < int(v) < 5 for v in att["n_persons"].dropna())
    extra = json.loads((export / "run_extra.json").read_text())["model_development"]
    assert extra["qc_run"] == "20240101T000000Z" and extra["cohort"]["source"] == "baseline"
