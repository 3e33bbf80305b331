"""The WGS QC notebook on a project whose genomes arrive as deliveries (`pmo ingest`): run after B1 and B2, then
after B3 (as `pmo demo` does). Each run reads the cohort store the ingests grew, not the joint VCF: the
report holds every ingested sample with its delivery batch, the read-level metrics joined, the newest batch
against the earlier ones, and the verdicts the new batch changed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.cli import NOTEBOOKS_DIR
from pmo_workbench.genotypes.deliveries import ingest_batch
from pmo_workbench.runner import run_track
from pmo_workbench.synth.project import synthesize_project

PRESET = NOTEBOOKS_DIR / "params" / "wgs_qc.demo.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    project = tmp_path_factory.mktemp("wgs_qc_deliveries") / "p"
    synthesize_project(project, persons=200, samples=40, variants=1200, seed=5, deliveries=True)
    # the joint VCF is not the input once a store exists: make it unreadable to prove it
    (project / "data" / "genotypes" / "cohort.vcf.gz").write_bytes(b"not read")
    records = []
    for batches in (("B1", "B2"), ("B3",)):
        for b in batches:
            ingest_batch(project, project / "deliveries" / b)
        record = run_track("wgs_qc", project, {}, params_file=PRESET, timeout_s=600)
        assert record.succeeded, record.error
        records.append(record)
    return project, records


def test_each_run_holds_the_samples_ingested_so_far_with_their_batch(runs) -> None:
    project, (first, second) = runs
    truth = pd.read_csv(project / "truth" / "samples.tsv", sep="\t").set_index("sample_id")
    for record, batches in ((first, {"B1", "B2"}), (second, {"B1", "B2", "B3"})):
        sqc = pd.read_parquet(record.run_dir / "sample_qc.parquet")
        assert sorted(sqc["sample_id"]) == sorted(truth.index[truth["batch"].isin(batches)])
        bm = pd.read_parquet(record.run_dir / "batch_metrics.parquet")
        assert set(bm["batch"].astype(str)) == batches
    decisions = pd.read_parquet(second.run_dir / "qc_decisions.parquet").set_index("sample_id")
    problems = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    for reason in ("contamination", "low_coverage"):  # the read-level metrics joined the decisions
        expected = set(problems.loc[problems["problem"] == reason, "sample_id"])
        assert {s for s, r in decisions["reasons"].items() if reason in list(r)} == expected, reason
    sex = pd.read_parquet(second.run_dir / "sex_check.parquet").set_index("sample_id")
    assert sex["ploidy_estimate"].notna().all() and len(sex) == len(truth)


def test_the_report_shows_the_new_batch_and_the_changed_verdicts(runs) -> None:
    _, (first, second) = runs
    html = second.report_path.read_text()
    assert "Newest batch B3 against the earlier batches" in html
    assert "Earlier samples whose verdict changed with batch(es) B3" in html
    assert "Newest batch B2 against the earlier batches" in first.report_path.read_text()
    assert "cohort store of the ingested deliveries" in html


def test_the_run_record_names_the_store_it_read(runs) -> None:
    import json

    _, (first, second) = runs
    stores = []
    for record in (first, second):
        inputs = json.loads((record.run_dir / "run.json").read_text())["inputs"]
        store = [i for i in inputs if i["source"] == "cohort_store"]
        assert len(store) == 1 and store[0]["path"] == "data/genotypes/store.json"
        stores.append(store[0]["sha256"])
    assert stores[0] != stores[1]  # B3 changed the store between the runs
