"""Hail's VDS combiner vs the embedded cohort store on the same real gVCFs, added in two batches (the second
combined with the first batch's VDS): the same sites and calls (allele order aside) and the same sample QC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.gvcf_store import add_gvcfs
from pmo_workbench.genotypes.hail_combiner import dense_calls_hail, genotype_strings

pytestmark = pytest.mark.hail

CHR22 = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
SAMPLES = ["HG00187", "HG00190", "HG00308", "HG00313", "HG00320"]


def test_hail_combiner_equals_embedded_store(hail_session, tmp_path: Path) -> None:
    files = {s: CHR22 / f"{s}.hg38.g.vcf.gz" for s in SAMPLES}
    root = tmp_path / "store"
    add_gvcfs(root, {s: files[s] for s in SAMPLES[:2]}, "B1")
    add_gvcfs(root, {s: files[s] for s in SAMPLES[2:]}, "B2")
    g = open_genotypes(root)
    h = open_genotypes(root, backend="hail")  # new_combiner batch 1, then batch 2 onto batch 1's VDS
    state = json.loads((root / "hail" / "state.json").read_text())
    assert state["members"] == [0, 1, 2, 3, 4]
    assert h.backend == "hail" and list(h.sample_id) == list(g.sample_id) == SAMPLES

    embedded = genotype_strings(g.variants, g.call_genotype[:])
    variants, samples, gt = dense_calls_hail(root / state["vds"])
    order = [list(samples).index(s) for s in g.sample_id]
    hail = genotype_strings(variants, gt[:, order])
    assert set(hail) == set(embedded)
    assert len(hail) == g.n_variants == h.n_variants > 50
    differ = {k: (hail[k], embedded[k]) for k in hail if hail[k] != embedded[k]}
    assert not differ, list(differ.items())[:5]
    # values that could be wrong: the multi-allelic site and GQ-0 blocks (missing under min_ref_gq = 1)
    assert hail[("chr22", 10685603)] == ["G/T", "G/T", "T/T", "./.", "./."]
    assert embedded[("chr22", 10768788)] == ["./.", "C/C", "./.", "./.", "./."]

    from pmo_workbench.qc import sample_qc

    a, b = sample_qc(g), sample_qc(h)
    cols = ["n_called", "n_not_called", "n_hom_ref", "n_het", "n_hom_var", "n_snp"]
    assert (a["n_called"] + a["n_not_called"] == g.n_variants).all()
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True),
                                  check_dtype=False)
    assert np.allclose(a["gq_mean"], b["gq_mean"], equal_nan=True)
    assert np.allclose(a["dp_mean"], b["dp_mean"], equal_nan=True)


def test_hail_combiner_replaces_a_sample_as_the_embedded_store(hail_session, tmp_path: Path) -> None:
    """A sample replaced after Hail combined it (HG00190 redelivered with HG00320's gVCF): Hail's VDS drops the
    old sample (its dead alleles and sites) and combines the new gVCF; the dense matrix equals the embedded
    store's and a fresh embedded build's."""
    files = {s: CHR22 / f"{s}.hg38.g.vcf.gz" for s in SAMPLES}
    root, fresh = tmp_path / "store", tmp_path / "fresh"
    add_gvcfs(root, {s: files[s] for s in SAMPLES[:2]}, "B1")
    add_gvcfs(root, {"HG00308": files["HG00308"]}, "B2")
    open_genotypes(root, backend="hail")  # combined before the replacement
    r = add_gvcfs(root, {"HG00190": files["HG00320"]}, "B3", replace=["HG00190"])
    assert r["removed_sites"] > 0
    add_gvcfs(fresh, {"HG00187": files["HG00187"], "HG00190": files["HG00320"], "HG00308": files["HG00308"]}, "B1")
    g, f = open_genotypes(root), open_genotypes(fresh)
    h = open_genotypes(root, backend="hail")
    state = json.loads((root / "hail" / "state.json").read_text())
    assert state["members"] == [0, 2, 3]  # storage indexes: HG00190's first entry retired
    assert list(h.sample_id) == list(g.sample_id) == ["HG00187", "HG00308", "HG00190"]
    embedded = genotype_strings(g.variants, g.call_genotype[:])
    variants, samples, gt = dense_calls_hail(root / state["vds"])
    hail = genotype_strings(variants, gt[:, [list(samples).index(s) for s in g.sample_id]])
    order = [list(f.sample_id).index(s) for s in g.sample_id]
    assert embedded == genotype_strings(f.variants, f.call_genotype[:][:, order])
    assert set(hail) == set(embedded) and h.n_variants == g.n_variants
    differ = {k: (hail[k], embedded[k]) for k in hail if hail[k] != embedded[k]}
    assert not differ, list(differ.items())[:5]


def test_wgs_qc_on_a_delivered_project_is_the_same_on_both_backends(hail_session, tmp_path: Path) -> None:
    """`run_wgs_qc` on a project whose genomes came as deliveries (three batches ingested): both backends read
    the cohort store (Hail through its VDS) and give the same samples, batches, sample QC and decisions."""
    from pmo_workbench.genotypes.deliveries import ingest_batch
    from pmo_workbench.qc.report import run_wgs_qc
    from pmo_workbench.synth.project import synthesize_project

    project = tmp_path / "p"
    synthesize_project(project, persons=120, samples=24, variants=600, seed=8, deliveries=True)
    for b in ("B1", "B2", "B3"):
        ingest_batch(project, project / "deliveries" / b)
    emb = run_wgs_qc(project, backend="embedded")
    hai = run_wgs_qc(project, backend="hail")
    assert hai.inputs["input_kind"] == emb.inputs["input_kind"] == "cohort store"
    assert hai.genotypes.backend == "hail"
    a, b = emb.samples_with_batch().set_index("sample_id"), hai.samples_with_batch().set_index("sample_id")
    assert sorted(a.index) == sorted(b.index) and set(a["batch"]) == {"B1", "B2", "B3"}
    b = b.loc[a.index]
    assert (a["batch"] == b["batch"]).all()
    cols = ["n_called", "n_not_called", "n_hom_ref", "n_het", "n_hom_var"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
    da = emb.result.decisions.set_index("sample_id")["reasons"].map(sorted)
    db = hai.result.decisions.set_index("sample_id")["reasons"].map(sorted).loc[da.index]
    assert (da == db).all()
