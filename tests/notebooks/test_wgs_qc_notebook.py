"""The WGS QC notebook run by papermill (`run_track`) on a synthetic project, three runs in sequence:

1. internal, demo preset: every output table, the passing list, and a filtered VCF holding exactly the passing
   samples (``bcftools query -l``) at exactly the passing variants;
2. internal, with a raised call-rate minimum in ``params/wgs_qc.yaml``: the report lists exactly the samples
   that newly fail (oracle: run 1's call rates and verdicts), and a normal rerun flags no batch;
3. export, on a copy of the genotypes whose batch B3 lost 15 % of its calls: B3 is flagged as drifting, and no
   per-sample table, list or genotype file is written.
"""

from __future__ import annotations

import datetime
import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.catalogue import RunRecord
from pmo_workbench.cli import NOTEBOOKS_DIR
from pmo_workbench.qc.review import save_reviewed_thresholds
from pmo_workbench.qc.thresholds import QcThresholds
from pmo_workbench.runner import run_track

PRESET = NOTEBOOKS_DIR / "params" / "wgs_qc.demo.yaml"
PER_SAMPLE = {"sample_qc.parquet", "variant_qc.parquet", "sex_check.parquet", "kinship.parquet",
              "ancestry.parquet", "qc_decisions.parquet", "passing_samples.txt", "filtered.vcf.gz",
              "threshold_review.parquet"}


@pytest.fixture(scope="module")
def project(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("wgs_qc_nb") / "project"
    shutil.copytree(small_project, dst, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def runs(project: Path) -> dict[str, RunRecord]:
    """The three runs, in order (each later run compares itself with the earlier ones)."""
    out: dict[str, RunRecord] = {}
    out["first"] = run_track("wgs_qc", project, {}, params_file=PRESET, timeout_s=600)
    assert out["first"].succeeded, out["first"].error

    first = out["first"].run_dir
    sqc = pd.read_parquet(first / "sample_qc.parquet").set_index("sample_id")
    dec = pd.read_parquet(first / "qc_decisions.parquet").set_index("sample_id")
    passing_rates = np.unique(sqc.loc[dec["pass"], "call_rate"].to_numpy())  # sorted, distinct
    new_min = float(passing_rates[2] + passing_rates[3]) / 2  # the 3 lowest passing call rates now fail
    save_reviewed_thresholds(project, QcThresholds(min_call_rate=new_min, strata=["batch"]),
                             reviewer="Karen Reviewer", note="call rate raised for the test",
                             date=datetime.date(2026, 11, 26))
    out["raised"] = run_track("wgs_qc", project, {}, timeout_s=600)
    assert out["raised"].succeeded, out["raised"].error
    out["raised"].record["expected_newly_failing"] = sorted(
        sqc.index[dec["pass"] & (sqc["call_rate"] < new_min)].tolist())

    degraded = _degrade_batch(project, "B3", share=0.15)
    out["export"] = run_track("wgs_qc", project, {"input": str(degraded.relative_to(project))}, mode="export",
                              timeout_s=600)
    assert out["export"].succeeded, out["export"].error
    return out


def _degrade_batch(project: Path, batch: str, share: float) -> Path:
    """A copy of the project's VCF where a random ``share`` of the calls of ``batch`` are set missing."""
    man = pd.read_csv(project / "data" / "genotypes" / "manifest.tsv", sep="\t", dtype=str)
    members = set(man.loc[man["batch"] == batch, "sample_id"])
    rng = np.random.default_rng(3)
    src = project / "data" / "genotypes" / "cohort.vcf.gz"
    plain = project / "data" / "genotypes" / "degraded.vcf"
    with gzip.open(src, "rt") as fin, open(plain, "w") as fout:
        cols: list[int] = []
        for line in fin:
            if line.startswith("##"):
                fout.write(line)
                continue
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#CHROM"):
                cols = [i for i, s in enumerate(fields) if i >= 9 and s in members]
                fout.write(line)
                continue
            for i in cols:
                if rng.random() < share:
                    fields[i] = "./." + fields[i][fields[i].index(":"):] if ":" in fields[i] else "./."
            fout.write("\t".join(fields) + "\n")
    out = plain.with_suffix(".vcf.gz")
    subprocess.run(["bcftools", "view", "-O", "z", "-o", str(out), str(plain)], check=True)
    plain.unlink()
    return out


def _html(rec: RunRecord) -> str:
    return rec.report_path.read_text(encoding="utf-8")


def test_first_run_writes_every_table_and_an_exact_filtered_vcf(runs):
    run = runs["first"].run_dir
    names = {p.name for p in run.iterdir()}
    assert PER_SAMPLE - {"threshold_review.parquet"} <= names
    assert {"batch_metrics.parquet", "thresholds.yaml", "report.html", "run.json"} <= names
    dec = pd.read_parquet(run / "qc_decisions.parquet")
    assert dec["reasons"].map(lambda r: all(isinstance(x, str) for x in r)).all()  # a list column of reasons
    assert (dec["pass"] == dec["reasons"].map(len).eq(0)).all()
    passing = (run / "passing_samples.txt").read_text().split()
    assert passing == dec.loc[dec["pass"], "sample_id"].tolist()
    assert 0 < len(passing) < len(dec)
    in_vcf = subprocess.run(["bcftools", "query", "-l", str(run / "filtered.vcf.gz")], capture_output=True,
                            text=True, check=True).stdout.split()
    assert in_vcf == passing
    vqc = pd.read_parquet(run / "variant_qc.parquet")
    ok = (vqc["call_rate"] >= 0.95) & vqc["filters"].map(lambda f: all(x in ("PASS", ".") for x in f))
    loci = subprocess.run(["bcftools", "query", "-f", "%CHROM:%POS\n", str(run / "filtered.vcf.gz")],
                          capture_output=True, text=True, check=True).stdout.split()
    assert loci == vqc.loc[ok, "locus"].tolist()
    extra = json.loads((run / "run.json").read_text())
    assert extra["qc_counts"]["samples_passed"] == len(passing)
    assert extra["qc_counts"]["samples_failed"] == len(dec) - len(passing)
    assert extra["qc_review"]["reviewer"] is None  # no reviewed file yet: the defaults, and the report says so
    assert "built-in defaults" in _html(runs["first"])
    bm = pd.read_parquet(run / "batch_metrics.parquet")
    assert sorted(bm["batch"]) == ["B1", "B2", "B3"] and bm["n_samples"].sum() == len(dec)


def test_raised_threshold_lists_exactly_the_newly_failing_samples(runs):
    rec = runs["raised"]
    expected = rec.record["expected_newly_failing"]
    assert len(expected) >= 3
    flips = pd.read_parquet(rec.run_dir / "threshold_review.parquet")
    assert sorted(flips.loc[flips["change"] == "newly failing", "sample_id"]) == expected
    assert (flips["change"] == "newly passing").sum() == 0
    assert all("low_call_rate" in r for r in flips["reasons"])
    run_json = json.loads((rec.run_dir / "run.json").read_text())
    review = run_json["threshold_review"]
    assert review["changed"] == ["min_call_rate"] and review["newly_failing"] == len(expected)
    assert review["previous_run"] == runs["first"].run_dir.name
    html = _html(rec)
    assert "Karen Reviewer" in html and "call rate raised for the test" in html
    assert all(s in html for s in expected)
    # the same batches again: nothing drifts
    assert run_json["trend"]["drifting_batches"] == []


def test_export_run_flags_the_degraded_batch_and_writes_no_individual_data(runs):
    rec = runs["export"]
    run_json = json.loads((rec.run_dir / "run.json").read_text())
    assert run_json["trend"]["drifting_batches"] == ["B3"]
    names = {p.name for p in rec.run_dir.iterdir()}
    assert not names & PER_SAMPLE, names & PER_SAMPLE
    assert {"batch_metrics.parquet", "thresholds.yaml", "report.html"} <= names
    assert run_json["qc_outputs_individual_level"] is False
    html = _html(rec)
    assert "not** written" in rec.notebook_path.read_text() or "not</strong> written" in html
    sample_ids = pd.read_csv(rec.run_dir.parents[2] / "data" / "genotypes" / "manifest.tsv", sep="\t")["sample_id"]
    assert not [s for s in sample_ids if s in html], "a sample ID appears in an export report"
    bm = pd.read_parquet(rec.run_dir / "batch_metrics.parquet").set_index("batch")
    first = pd.read_parquet(runs["first"].run_dir / "batch_metrics.parquet").set_index("batch")
    assert bm.loc["B3", "call_rate"] < first.loc["B3", "call_rate"] - 0.1
    assert "fail_rate" not in bm  # it would reveal small counts of failing samples


def test_a_batch_failing_beyond_the_stated_share_is_warned_about(runs):
    """Batch B3 with 15 % of its calls lost fails the call-rate minimum almost entirely: the report says so at the
    top (with the count, the batch and the reason) and the trend section does not claim that all is well; the
    ordinary first run carries no such warning."""
    from pmo_workbench.qc.report import FAIL_SHARE_WARNING

    html = _html(runs["export"])
    man = pd.read_csv(runs["export"].run_dir.parents[2] / "data" / "genotypes" / "manifest.tsv", sep="\t")
    n_b3 = int((man["batch"] == "B3").sum())
    assert "samples of batch <code>B3</code> fail the reviewed thresholds" in html
    assert f"of {n_b3:,} (" in html and "low_call_rate" in html
    warnings = json.loads((runs["export"].run_dir / "run.json").read_text())["warnings"]
    assert any("B3" in w for w in warnings)
    first = _html(runs["first"])
    dec = pd.read_parquet(runs["first"].run_dir / "qc_decisions.parquet")
    if (~dec["pass"]).mean() <= FAIL_SHARE_WARNING:
        assert "fail the reviewed thresholds" not in first


def test_filtered_bcf_keeps_source_records_and_bad_requests_leave_nothing(small_project, tmp_path):
    from pmo_workbench.errors import InputError
    from pmo_workbench.genotypes.export import write_filtered_vcf

    src = small_project / "data" / "genotypes" / "cohort.vcf.gz"
    n = int(subprocess.run(["bash", "-c", f"bcftools view -H {src} | wc -l"], capture_output=True, text=True,
                           check=True).stdout)
    mask = np.zeros(n, dtype=bool)
    mask[::7] = True
    out = write_filtered_vcf(src, ["S00005", "S00002"], mask, tmp_path / "f.bcf")
    assert (tmp_path / "f.bcf.csi").is_file()
    assert subprocess.run(["bcftools", "query", "-l", str(out)], capture_output=True, text=True,
                          check=True).stdout.split() == ["S00002", "S00005"]  # the source's order
    fmt = "%CHROM:%POS:%REF:%ALT[\t%GT:%DP]\n"
    ours = subprocess.run(["bcftools", "query", "-f", fmt, str(out)], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    theirs = subprocess.run(["bcftools", "query", "-s", "S00002,S00005", "-f", fmt, str(src)],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert ours == [line for i, line in enumerate(theirs) if mask[i]]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match="records but the variant mask"):
        write_filtered_vcf(src, ["S00002"], mask[:-1], tmp_path / "g.vcf.gz")
    with pytest.raises(InputError, match="not in the source"):
        write_filtered_vcf(src, ["S00002", "NOPE"], mask, tmp_path / "h.vcf.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no index, no temporary folder


def test_parameters_are_typed_and_checked():
    from pmo_workbench.errors import ConfigError
    from pmo_workbench.params import parse_track_params

    p = parse_track_params("wgs_qc", {"project": "x", "strata": "batch, sequencing_site", "k": 4,
                                      "write_filtered_vcf": True})
    assert p.strata == ["batch", "sequencing_site"] and p.k == 4 and p.write_filtered_vcf is True
    assert parse_track_params("wgs_qc", {"project": "x"}).input is None  # default: sources.genotypes
    with pytest.raises(ConfigError) as err:
        parse_track_params("wgs_qc", {"project": "x", "backend": "spark"})
    assert err.value.field == "backend"
    with pytest.raises(ConfigError, match="unknown parameter"):
        parse_track_params("wgs_qc", {"project": "x", "treshold_file": "a.yaml"})


def test_bad_inputs_are_named(small_project):
    from pmo_workbench.errors import ConfigError
    from pmo_workbench.qc.report import run_wgs_qc

    with pytest.raises(ConfigError) as err:
        run_wgs_qc(small_project, input="data/genotypes/missing.vcf.gz")
    assert err.value.field == "input" and "missing.vcf.gz" in str(err.value)
    with pytest.raises(ConfigError) as err:
        run_wgs_qc(small_project, thresholds_file="params/none.yaml")
    assert err.value.field == "thresholds_file"
