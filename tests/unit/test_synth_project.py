"""The synthetic project as a whole: layout, determinism, truth consistency, privacy of the layers."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.privacy import scan_for_cpr
from pmo_workbench.project import load_project

PROBLEMS = {"low_call_rate", "contamination", "sex_mismatch", "duplicate", "sample_swap"}


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _synth_cli(out: Path, seed: int) -> None:
    cmd = [sys.executable, "-m", "pmo_workbench.cli", "synth", "--out", str(out), "--persons", "300",
           "--samples", "40", "--variants", "1500", "--seed", str(seed), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    _synth_cli(tmp_path / "a", 5)
    _synth_cli(tmp_path / "b", 5)
    _synth_cli(tmp_path / "c", 6)
    a, b, c = (_tree_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    differing = {k for k in a if a[k] != c[k]}
    assert "data/genotypes/cohort.vcf.gz" in differing
    assert "data/registry/diagnosis.parquet" in differing


def test_layout_and_project_file(small_project):
    proj = load_project(small_project)
    assert proj.config.privacy.synthetic is True
    for rel in ("data/genotypes/manifest.tsv", "data/registry/person.parquet", "data/registry/diagnosis.parquet",
                "data/registry/prescription.parquet", "data/registry/lab.parquet",
                "data/biobank/specimen.parquet", "data/consent/tissue_use_register.parquet",
                "truth/problem_samples.tsv", "truth/causal_variants.tsv", "truth/individuals.tsv",
                "truth/opt_outs.tsv", "truth/summary.json", "raw/lpr_adm.csv", "raw/lpr3_kontakter.csv",
                "codelists/sks.tsv", "codelists/atc.tsv", "codelists/npu.tsv"):
        assert (small_project / rel).exists(), rel
    assert proj.source("genotypes").exists() and proj.source("pedigree").exists()


def _vcf_columns(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    raise AssertionError("no header")


def _x_heterozygosity(path: Path, samples: list[str]) -> pd.Series:
    """Share of heterozygous calls on chrX beyond PAR1 (GRCh38 end 2,781,479), straight from the VCF text."""
    het = np.zeros(len(samples))
    called = np.zeros(len(samples))
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.startswith("chrX\t"):
                continue
            fields = line.rstrip("\n").split("\t")
            if int(fields[1]) <= 2_781_479:
                continue
            gts = [f.split(":", 1)[0] for f in fields[9:]]
            for i, gt in enumerate(gts):
                if "." in gt:
                    continue
                called[i] += 1
                alleles = gt.replace("|", "/").split("/")
                het[i] += len(alleles) == 2 and alleles[0] != alleles[1]
    return pd.Series(het / np.maximum(called, 1), index=samples)


def test_truth_is_consistent_with_the_files(small_project):
    manifest = pd.read_csv(small_project / "data/genotypes/manifest.tsv", sep="\t", dtype=str)
    truth = pd.read_csv(small_project / "truth/samples.tsv", sep="\t", dtype=str)
    problems = pd.read_csv(small_project / "truth/problem_samples.tsv", sep="\t", dtype=str)
    persons = pd.read_parquet(small_project / "data/registry/person.parquet")
    specimens = pd.read_parquet(small_project / "data/biobank/specimen.parquet")
    vcf = small_project / "data/genotypes/cohort.vcf.gz"

    assert _vcf_columns(vcf) == manifest["sample_id"].tolist()
    assert set(PROBLEMS) <= set(problems["problem"])
    assert manifest["person_id"].isin(persons["person_id"]).all()
    spec = specimens.set_index("specimen_id")
    assert (spec.loc[manifest["specimen_id"], "person_id"].to_numpy() == manifest["person_id"].to_numpy()).all()
    assert set(spec.loc[manifest["specimen_id"], "specimen_type"]) == {"DNA"}

    t = truth.set_index("sample_id")
    # every injected sex mismatch really differs, and the genotypes agree with the genetic sex
    mismatched = problems.loc[problems["problem"] == "sex_mismatch", "sample_id"]
    assert (t.loc[mismatched, "reported_sex"] != t.loc[mismatched, "genetic_sex"]).all()
    x_het = _x_heterozygosity(vcf, manifest["sample_id"].tolist())
    males = t.index[t["genetic_sex"] == "M"]
    females = t.index[t["genetic_sex"] == "F"]
    assert x_het[males].max() == 0.0
    assert x_het[females].median() > 0.02
    # a swapped pair: labelled person differs from the DNA's person; a duplicate: two samples, one person
    swapped = problems.loc[problems["problem"] == "sample_swap", "sample_id"]
    assert (t.loc[swapped, "person_id"] != t.loc[swapped, "true_person_id"]).all()
    dup = problems.loc[problems["problem"] == "duplicate", "true_person_id"]
    assert (truth["true_person_id"].isin(dup)).sum() >= 2


def test_cpr_numbers_only_in_the_raw_layer(small_project):
    assert scan_for_cpr(small_project / "raw"), "the raw layer should hold CPR-like identifiers"
    for layer in ("data", "truth"):
        hits = scan_for_cpr(small_project / layer)
        assert hits == [], f"CPR-like values in {layer}/: {hits[:3]}"
    assert scan_for_cpr(small_project / "pmo.yaml") == []


def test_opt_out_share_and_summary(small_project):
    persons = pd.read_parquet(small_project / "data/registry/person.parquet")
    tur = pd.read_parquet(small_project / "data/consent/tissue_use_register.parquet")
    share = tur.loc[tur["opt_out"], "person_id"].nunique() / len(persons)
    assert 0.01 <= share <= 0.06
    summary = json.loads((small_project / "truth/summary.json").read_text())
    assert summary["counts"]["persons"] == len(persons)


@pytest.mark.parametrize("table", ["diagnosis", "prescription", "lab"])
def test_events_belong_to_known_persons(small_project, table):
    persons = pd.read_parquet(small_project / "data/registry/person.parquet")
    events = pd.read_parquet(small_project / f"data/registry/{table}.parquet")
    assert len(events) > 0
    assert events["person_id"].isin(persons["person_id"]).all()
