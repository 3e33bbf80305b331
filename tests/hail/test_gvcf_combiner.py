"""Hail's VDS combiner (two batches, the second combined with the first VDS) vs the embedded cohort store on the
same real gVCFs: the same sites and the same calls, allele order aside."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmo_workbench.genotypes.gvcf_store import add_gvcfs, open_cohort
from pmo_workbench.genotypes.hail_combiner import combine_gvcfs_hail, dense_calls_hail, genotype_strings

pytestmark = pytest.mark.hail

CHR22 = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
SAMPLES = ["HG00187", "HG00190", "HG00308", "HG00313", "HG00320"]


def test_hail_combiner_equals_embedded_store(hail_session, tmp_path: Path) -> None:
    files = {s: CHR22 / f"{s}.hg38.g.vcf.gz" for s in SAMPLES}
    first = {s: files[s] for s in SAMPLES[:2]}
    second = {s: files[s] for s in SAMPLES[2:]}
    vds1 = combine_gvcfs_hail(first, tmp_path / "b1.vds", tmp_dir=tmp_path / "tmp")
    vds2 = combine_gvcfs_hail(second, tmp_path / "b2.vds", existing_vds=[vds1], tmp_dir=tmp_path / "tmp")

    root = tmp_path / "store"
    add_gvcfs(root, first, "B1")
    add_gvcfs(root, second, "B2")
    g = open_cohort(root)
    embedded = genotype_strings(g.variants, g.call_genotype[:])

    variants, samples, gt = dense_calls_hail(vds2)
    assert sorted(samples) == sorted(SAMPLES)
    order = [list(samples).index(s) for s in g.sample_id]
    hail = genotype_strings(variants, gt[:, order])
    assert set(hail) == set(embedded)
    assert len(hail) == g.n_variants > 50
    differ = {k: (hail[k], embedded[k]) for k in hail if hail[k] != embedded[k]}
    assert not differ, list(differ.items())[:5]
    # values that could be wrong: the multi-allelic site and GQ-0 blocks (missing under min_ref_gq = 1)
    assert hail[("chr22", 10685603)] == ["G/T", "G/T", "T/T", ".", "."]
    assert embedded[("chr22", 10768788)] == [".", "C/C", ".", ".", "."]
