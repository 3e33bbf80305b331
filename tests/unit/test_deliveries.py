"""WGS deliveries end to end: `pmo synth --deliveries` batches into `pmo ingest` (real MultiQC, real cohort store);
every injected delivery problem refused with its reason, re-ingest a no-op, the combined genotypes equal to the
joint VCF the deliveries were written from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pmo_workbench.cli import app
from pmo_workbench.genotypes.deliveries import (
    DeliveryError,
    check_bgzf,
    discover_batch,
    ingest_batch,
    ledger_path,
    load_ledger,
    read_gvcf_header,
)
from pmo_workbench.qc import sequencing_metrics
from pmo_workbench.synth.deliveries import write_sample_delivery
from pmo_workbench.synth.project import synthesize_project


@pytest.fixture(scope="module")
def synth_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deliv") / "p"
    synthesize_project(out, persons=200, samples=40, variants=1200, seed=5, deliveries=True)
    return out


@pytest.fixture()
def project(synth_project: Path, tmp_path: Path) -> Path:
    """A fresh copy (tests ingest into it)."""
    dst = tmp_path / "p"
    shutil.copytree(synth_project, dst)
    return dst


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def state(project: Path) -> dict[str, float]:
    """Modification times of everything ingest may write (ledger, metrics, cohort store)."""
    paths = [p for d in ("genotypes", "data/genotypes") if (project / d).exists()
             for p in (project / d).rglob("*") if p.is_file()]
    return {str(p): p.stat().st_mtime_ns for p in paths}


def test_synth_deliveries_layout_and_truth(synth_project: Path) -> None:
    truth = pd.read_csv(synth_project / "truth" / "deliveries.tsv", sep="\t")
    assert set(truth["problem"]) == {"contamination", "low_coverage", "truncated_gvcf", "wrong_checksum",
                                     "delivered_twice"}
    samples = pd.read_csv(synth_project / "truth" / "samples.tsv", sep="\t")
    for batch, members in samples.groupby("batch"):
        d = discover_batch(synth_project / "deliveries" / batch)
        assert [s.sample_id for s in d.samples] == sorted(members["sample_id"])
    header = read_gvcf_header(d.samples[0].gvcf, d.samples[0].sample_id)
    assert header["pipeline"] == "DRAGEN" and header["pipeline_version"] == "07.021.645.4.0.3"


def test_ingest_batches_then_reingest_is_a_noop(project: Path) -> None:
    samples = pd.read_csv(project / "truth" / "samples.tsv", sep="\t")
    for batch in ("B1", "B2", "B3"):
        r = run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / batch))
        assert r.exit_code == 0, r.output
        n = int((samples["batch"] == batch).sum())
        assert f"{n} samples added" in r.output
    ledger = load_ledger(project)
    assert sorted(ledger["sample_id"]) == sorted(samples["sample_id"])
    row = ledger.set_index("sample_id").loc[samples["sample_id"].iloc[0]]
    assert row["pipeline"] == "DRAGEN" and row["pipeline_version"] == "07.021.645.4.0.3"
    assert row["batch_id"] == samples["batch"].iloc[0] and row["delivery_date"].startswith("2026-")
    assert len(json.loads(row["checksums"])) == 5 and row["n_files"] == 5
    before = state(project)
    r = run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / "B2"))
    assert r.exit_code == 0 and "nothing new" in r.output
    assert state(project) == before


def test_every_refused_delivery_names_sample_and_file_and_changes_nothing(project: Path) -> None:
    assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / "B1")).exit_code == 0
    before = state(project)
    truth = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    refused = truth[truth["batch_dir"].str.startswith("deliveries/faulty/")]
    assert len(refused) == 3
    for sid, batch_dir, problem, expected in refused.itertuples(index=False):
        r = CliRunner().invoke(app, ["ingest", "--project", str(project), "--batch", str(project / batch_dir)])
        assert r.exit_code == 2, (problem, r.output)
        lines = r.stderr.strip().splitlines() if hasattr(r, "stderr") else r.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"sample {sid}" in lines[0] and expected in lines[0], (problem, lines[0])
        assert f"{sid}.hard-filtered.gvcf.gz" in lines[0]
        assert state(project) == before


def test_changed_file_under_a_known_sample_is_refused(project: Path, tmp_path: Path) -> None:
    batch = tmp_path / "B1"
    shutil.copytree(project / "deliveries" / "B1", batch)
    ingest_batch(project, batch, combine=lambda *a: {})
    sid = sorted(p.name for p in batch.iterdir() if p.is_dir())[0]
    metrics = batch / sid / f"{sid}.mapping_metrics.csv"
    metrics.write_text(metrics.read_text().replace("Insert length: median,", "Insert length: median,1"))
    (batch / sid / f"{metrics.name}.md5").write_text(
        __import__("hashlib").md5(metrics.read_bytes()).hexdigest() + f"  {metrics.name}\n")
    with pytest.raises(DeliveryError, match=f"sample {sid}: file changed.*--replace") as err:
        ingest_batch(project, batch, combine=lambda *a: {})
    assert metrics.name in str(err.value)
    calls: list = []
    summary = ingest_batch(project, batch, replace=True, combine=lambda *a: calls.append(a) or {})
    assert summary.replaced == [sid] and len(summary.unchanged) == len(load_ledger(project)) - 1
    assert calls == []  # same gVCF: the genotypes stay, only the metrics are replaced
    long = sequencing_metrics(project, long=True)
    assert long.loc[(long["sample_id"] == sid) & (long["metric"] == "insert_size_median"), "value"].iloc[0] > 1000
    history = load_ledger(project, history=True)
    old_row = history[(history["sample_id"] == sid) & history["replaced_at"].notna()]
    assert old_row[["replaced_by", "replaced_what"]].values.tolist() == [["B1", "metrics"]]


def test_missing_file_and_missing_sidecar(tmp_path: Path) -> None:
    folder = write_sample_delivery(tmp_path / "B1", "S1", seed=2)
    (folder / "S1.ploidy_estimation_metrics.csv").unlink()
    with pytest.raises(DeliveryError, match="sample S1: file missing"):
        discover_batch(tmp_path / "B1")
    folder = write_sample_delivery(tmp_path / "B2", "S2", seed=2)
    (folder / "S2.mapping_metrics.csv.md5").unlink()
    with pytest.raises(DeliveryError, match="S2.mapping_metrics.csv: sample S2: no checksum file"):
        discover_batch(tmp_path / "B2")
    folder = write_sample_delivery(tmp_path / "B3", "S3", seed=2)
    (tmp_path / "B3" / "manifest.tsv").write_text("sample_id\treported_sex\nS3\tF\nS4\tM\n")
    with pytest.raises(DeliveryError, match="sample S4: listed in manifest.tsv but its folder is missing"):
        discover_batch(tmp_path / "B3")


def test_bgzf_check_catches_truncation_and_corruption(tmp_path: Path) -> None:
    folder = write_sample_delivery(tmp_path / "B1", "S1", seed=4)
    gvcf = folder / "S1.hard-filtered.gvcf.gz"
    check_bgzf(gvcf, "S1")
    data = gvcf.read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[:-28])  # every block intact, the end-of-file block gone
    with pytest.raises(DeliveryError, match="no BGZF end-of-file block"):
        check_bgzf(cut, "S1")
    bad = bytearray(data)
    bad[40:60] = b"\x00" * 20  # a damaged first block, the EOF block intact
    broken = tmp_path / "broken.gz"
    broken.write_bytes(bytes(bad))
    with pytest.raises(DeliveryError, match="corrupt gVCF"):
        check_bgzf(broken, "S1")


def test_read_metrics_of_the_ingested_samples(project: Path) -> None:
    for batch in ("B1", "B2", "B3"):
        ingest_batch(project, project / "deliveries" / batch, combine=lambda *a: {})
    m = sequencing_metrics(project)
    samples = pd.read_csv(project / "truth" / "samples.tsv", sep="\t").set_index("sample_id")
    assert sorted(m.index) == sorted(samples.index)
    assert m.attrs["units"]["contamination"] == "fraction" and m.attrs["units"]["mean_coverage"] == "x"
    truth = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    contaminated = truth.loc[truth["problem"] == "contamination", "sample_id"]
    low = truth.loc[truth["problem"] == "low_coverage", "sample_id"].iloc[0]
    assert (m.loc[contaminated, "contamination"] > 0.03).all()
    assert (m.drop(index=contaminated)["contamination"] < 0.005).all()
    assert m.loc[low, "mean_coverage"] < 13 and (m.drop(index=low)["mean_coverage"] > 20).all()
    expected_ploidy = samples["genetic_sex"].map({"F": "XX", "M": "XY"})
    assert (m["ploidy_estimate"] == expected_ploidy.reindex(m.index)).all()
    assert (m["metrics_source"] == "dragen").all()
    # values equal what the files say (a DRAGEN file read by hand)
    sid = m.index[0]
    batch = samples.loc[sid, "batch"]
    rows = dict(line.split(",")[2:4] for line in
                (project / "deliveries" / batch / sid / f"{sid}.mapping_metrics.csv").read_text().splitlines())
    long = sequencing_metrics(project, long=True)
    one = long[(long["sample_id"] == sid) & (long["metric"] == "insert_size_median")].iloc[0]
    assert one["value"] == float(rows["Insert length: median"])
    assert one["source_file"].endswith(f"{sid}/{sid}.mapping_metrics.csv") and one["unit"] == "bp"


def test_missing_metrics_are_na_not_zero(tmp_path: Path) -> None:
    from pmo_workbench.project_template import create_project

    proj = create_project(tmp_path / "p", name="p")
    folder = write_sample_delivery(tmp_path / "B1", "S1", seed=1)
    for f in folder.glob("S1.ploidy_estimation_metrics.csv*"):
        f.unlink()
    mapping = folder / "S1.mapping_metrics.csv"
    mapping.write_text("".join(line + "\n" for line in mapping.read_text().splitlines()
                               if "contamination" not in line))
    (folder / "S1.mapping_metrics.csv.md5").write_text(
        __import__("hashlib").md5(mapping.read_bytes()).hexdigest() + "  S1.mapping_metrics.csv\n")
    ingest_batch(proj, tmp_path / "B1", combine=lambda *a: {})
    m = sequencing_metrics(proj)
    assert pd.isna(m.loc["S1", "contamination"]) and pd.isna(m.loc["S1", "ploidy_estimate"])
    assert m.loc["S1", "mean_coverage"] == pytest.approx(30.0)


def test_combined_genotypes_equal_the_joint_vcf(project: Path) -> None:
    """The deliveries' gVCFs through the cohort store give back the joint VCF they were written from."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.genotypes.gvcf_store import open_cohort

    for batch in ("B1", "B2", "B3"):
        assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / batch)).exit_code == 0
    combined = open_cohort(project)
    joint = open_genotypes(project / "data" / "genotypes" / "cohort.vcf.gz", cache_dir=project / "cache")
    order = [int(np.flatnonzero(combined.sample_id == s)[0]) for s in joint.sample_id]
    key_c = combined.variants["contig"].astype(str) + ":" + combined.variants["position"].astype(str)
    key_j = joint.variants["contig"].astype(str) + ":" + joint.variants["position"].astype(str)
    # sites where nobody carries the alternate allele are not in a gVCF combination
    gt_j = np.asarray(joint.call_genotype)
    carried = (gt_j > 0).any(axis=(1, 2))
    assert set(key_c) == set(key_j[carried])
    rows = pd.Series(np.arange(len(key_c)), index=key_c.to_numpy())[key_j[carried].to_numpy()].to_numpy()
    gt_c = np.asarray(combined.call_genotype)[rows][:, order]
    dos = lambda g: np.where((g < 0).all(axis=2), -1, (g > 0).sum(axis=2))  # noqa: E731
    assert np.array_equal(dos(gt_c), dos(gt_j[carried]))
    assert ledger_path(project).is_file()


def test_run_qc_fails_injected_read_level_problems_only(project: Path) -> None:
    """The deliveries' metrics join run_qc: contamination and low coverage caught with their reasons, no clean
    sample failed by them, and DRAGEN's ploidy beside the genetic sex."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc import run_qc

    for batch in ("B1", "B2", "B3"):
        ingest_batch(project, project / "deliveries" / batch, combine=lambda *a: {})
    g = open_genotypes(project / "data" / "genotypes" / "cohort.vcf.gz", cache_dir=project / "cache")
    res = run_qc(g, manifest=project / "data" / "genotypes" / "manifest.tsv",
                 read_metrics=sequencing_metrics(project))
    reasons = res.decisions.set_index("sample_id")["reasons"]
    truth = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    for reason in ("contamination", "low_coverage"):
        expected = set(truth.loc[truth["problem"] == reason, "sample_id"])
        got = {s for s, rs in reasons.items() if reason in rs}
        assert got == expected, reason
    sex = res.sex_check.set_index("sample_id")
    called = sex["genetic_sex"].isin(["F", "M"])
    agree = (sex.loc[called, "genetic_sex"].map({"F": "XX", "M": "XY"}) == sex.loc[called, "ploidy_estimate"])
    assert agree.mean() > 0.9


def test_batch_aware_qc_on_the_growing_store(project: Path) -> None:
    """QC replayed on the cohort store after each ingest: the new batch's read metrics against the earlier
    batches, and the earlier samples whose decision the new batch moved (only population-relative reasons can
    move: their data and the thresholds did not change)."""
    from pmo_workbench.genotypes.deliveries import batch_of_samples
    from pmo_workbench.genotypes.gvcf_store import open_cohort
    from pmo_workbench.qc import run_qc
    from pmo_workbench.qc.batch_review import (
        COHORT_REASONS,
        POPULATION_REASONS,
        compare_read_metrics_by_batch,
        explain_decision_changes,
    )

    man = project / "data" / "genotypes" / "manifest.tsv"
    runs = []
    for batches in (("B1", "B2"), ("B3",)):
        for b in batches:
            assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / b)).exit_code == 0
        g = open_cohort(project)
        runs.append(run_qc(g, manifest=man, read_metrics=sequencing_metrics(project)))
    batch_of = batch_of_samples(project)
    assert len(runs[0].decisions) < len(runs[1].decisions) == len(batch_of)
    changes = explain_decision_changes(runs[0].decisions, runs[1].decisions, batch_of, ["B3"])
    assert set(changes["batch"]) <= {"B1", "B2"}
    for row in changes.itertuples():
        moved = [m[1:] for m in row.moved.split(", ")]
        assert moved and not {"low_coverage", "contamination"} & set(moved)
        assert (row.cause == "population bounds moved by the new batch") == (set(moved) <= set(POPULATION_REASONS))
        assert row.cause != "other" and set(moved) <= set(POPULATION_REASONS + COHORT_REASONS)
    m = sequencing_metrics(project)
    t = compare_read_metrics_by_batch(m, batch_of, ["B1", "B2", "B3"]).set_index("metric")
    b3 = [s for s, b in batch_of.items() if b == "B3"]
    assert t.loc["mean_coverage", "value"] == pytest.approx(float(m.loc[b3, "mean_coverage"].median()))
    assert t.loc["mean_coverage", "n_reference"] == 2


def set_md5(path: Path) -> None:
    import hashlib

    (path.parent / f"{path.name}.md5").write_text(hashlib.md5(path.read_bytes()).hexdigest() + f"  {path.name}\n")


def dense_by_sample(g) -> dict:
    from tests.unit.test_gvcf_store import dense_by_sample as by_sample

    return by_sample(g)


def test_replace_swaps_a_samples_genotypes_atomically(project: Path, tmp_path: Path) -> None:
    """B1 redelivered with one sample's gVCF corrected (here: the genotypes of a B3 sample): refused without
    --replace; with it, the store equals one built fresh from the corrected delivery, the sample's column is
    the new gVCF's calls, and the ledger keeps the superseded delivery."""
    from pmo_workbench.genotypes.gvcf_store import open_cohort, store_sample_batches

    for b in ("B1", "B2"):
        assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / b)).exit_code == 0
    fixed = tmp_path / "redelivery" / "B1"
    shutil.copytree(project / "deliveries" / "B1", fixed)
    sid = sorted(p.name for p in fixed.iterdir() if p.is_dir())[1]
    donor = sorted(p.name for p in (project / "deliveries" / "B3").iterdir() if p.is_dir())[0]
    for ext in ("", ".tbi"):
        target = fixed / sid / f"{sid}.hard-filtered.gvcf.gz{ext}"
        shutil.copyfile(project / "deliveries" / "B3" / donor / f"{donor}.hard-filtered.gvcf.gz{ext}", target)
        set_md5(target)
    before = state(project)
    r = CliRunner().invoke(app, ["ingest", "--project", str(project), "--batch", str(fixed)])
    assert r.exit_code == 2 and f"sample {sid}: file changed" in r.output and state(project) == before
    r = run("ingest", "--project", str(project), "--batch", str(fixed), "--replace")
    assert r.exit_code == 0 and "1 replaced" in r.output, r.output
    replaced = open_cohort(project)

    fresh = tmp_path / "fresh"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns("genotypes"))
    shutil.copytree(project / "data" / "genotypes", fresh / "data" / "genotypes",
                    ignore=shutil.ignore_patterns("store.json", "batches", "sites", "dense", "hail"))
    for b in (fixed, project / "deliveries" / "B2"):
        assert run("ingest", "--project", str(fresh), "--batch", str(b)).exit_code == 0
    ours, theirs = dense_by_sample(replaced), dense_by_sample(open_cohort(fresh))
    assert sorted(replaced.sample_id) == sorted(theirs) and ours == theirs
    # oracle: the replaced column is the donor's gVCF, as the donor's own column in a store with B3
    assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / "B3")).exit_code == 0
    after_b3 = dense_by_sample(open_cohort(project))
    assert {k: v[0] for k, v in after_b3[sid].items()} == {k: v[0] for k, v in after_b3[donor].items()}
    assert store_sample_batches(project)[sid] == "B1"
    history = load_ledger(project, history=True)
    rows = history[history["sample_id"] == sid]
    assert len(rows) == 2 and rows["replaced_what"].dropna().tolist() == ["genotypes"]
    assert rows["replaced_by"].dropna().tolist() == ["B1"]
    assert load_ledger(project)["sample_id"].is_unique


def test_redelivery_in_another_batch_replaces_with_replace(project: Path) -> None:
    """The demo's twice-delivered sample: refused, then taken with --replace; the sample's batch becomes the
    redelivery's in the store, the ledger and the QC input."""
    from pmo_workbench.genotypes.gvcf_store import store_sample_batches

    assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / "B1")).exit_code == 0
    truth = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    sid, batch_dir = truth.loc[truth["problem"] == "delivered_twice", ["sample_id", "batch_dir"]].iloc[0]
    redelivery = project / batch_dir
    n = len(store_sample_batches(project))
    r = run("ingest", "--project", str(project), "--batch", str(redelivery), "--replace")
    assert r.exit_code == 0 and "1 replaced" in r.output, r.output
    batches = store_sample_batches(project)
    assert len(batches) == n and batches[sid] == redelivery.name
    assert load_ledger(project).set_index("sample_id").loc[sid, "batch_id"] == redelivery.name


def test_wgs_qc_reads_the_store_the_ingests_grew(project: Path) -> None:
    """With a cohort store and no `input`, WGS QC runs on the store: every ingested sample of the three batches
    with its delivery batch, the read-level metrics joined (the injected problems failed with their reasons),
    and the filtered VCF written from the store; the joint VCF's genotypes are not read."""
    from pmo_workbench.privacy import Disclosure
    from pmo_workbench.project import load_project
    from pmo_workbench.qc.report import run_wgs_qc, write_wgs_qc_outputs

    truth = pd.read_csv(project / "truth" / "samples.tsv", sep="\t").set_index("sample_id")
    for b in ("B1", "B2", "B3"):
        assert run("ingest", "--project", str(project), "--batch", str(project / "deliveries" / b)).exit_code == 0
    (project / "data" / "genotypes" / "cohort.vcf.gz").write_bytes(b"not read")  # the store is the input
    proj = load_project(project)
    qc = run_wgs_qc(proj)
    assert qc.inputs["input_kind"] == "cohort store" and qc.genotypes.source_format == "gvcf_store"
    samples = qc.samples_with_batch().set_index("sample_id")
    assert sorted(samples.index) == sorted(truth.index)
    assert samples["batch"].to_dict() == truth["batch"].to_dict()
    assert set(samples["batch"]) == {"B1", "B2", "B3"}
    rm = qc.result.read_metrics
    assert sorted(rm.index) == sorted(truth.index) and rm["mean_coverage"].notna().all()
    reasons = qc.result.decisions.set_index("sample_id")["reasons"]
    problems = pd.read_csv(project / "truth" / "deliveries.tsv", sep="\t")
    for reason in ("contamination", "low_coverage"):
        assert {s for s, r in reasons.items() if reason in r} == set(
            problems.loc[problems["problem"] == reason, "sample_id"]), reason
    sex = qc.result.sex_check.set_index("sample_id")
    assert sex["ploidy_estimate"].notna().all()
    assert (sex["ploidy_estimate"] == truth["genetic_sex"].map({"F": "XX", "M": "XY"}).reindex(sex.index)).all()
    out = project / "runs" / "manual"
    write_wgs_qc_outputs(qc, out, Disclosure.for_project(proj, "internal"), write_filtered_vcf=True)
    import subprocess

    listed = subprocess.run(["bcftools", "query", "-l", str(out / "filtered.vcf.gz")], capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed == [s for s in qc.genotypes.sample_id if s in set(qc.result.passing_samples())]
    n = subprocess.run(["bcftools", "view", "-H", str(out / "filtered.vcf.gz")], capture_output=True, text=True,
                       check=True).stdout.count("\n")
    assert n == int(qc.variant_pass.sum())


def test_synthetic_gvcf_records_have_one_pl_per_genotype(synth_project: Path) -> None:
    """PL is Number=G over REF, ALT and <NON_REF>: 6 values for a diploid call, 3 for a haploid one (Hail's
    combiner refuses anything else)."""
    import gzip

    b3 = synth_project / "deliveries" / "B3"
    seen = {3: 0, 6: 0}
    for folder in sorted(p for p in b3.iterdir() if p.is_dir())[:6]:
        with gzip.open(folder / f"{folder.name}.hard-filtered.gvcf.gz", "rt") as fh:
            for line in fh:
                if line.startswith("#") or "END=" in line:
                    continue
                f = line.rstrip("\n").split("\t")
                values = dict(zip(f[8].split(":"), f[9].split(":"), strict=True))
                n_alleles = len(f[4].split(",")) + 1
                ploidy = 1 if "/" not in values["GT"] else 2
                n = len(values["PL"].split(","))
                assert n == (n_alleles if ploidy == 1 else n_alleles * (n_alleles + 1) // 2), line
                seen[n] += 1
    assert seen[6] > 0 and seen[3] > 0
