"""The cohort store's genotypes vs ``bcftools merge`` of the same gVCFs' variant records.

``bcftools merge --gvcf`` needs the reference FASTA, which is not in ../shared/data, so the oracle is
``bcftools merge -m all`` of each gVCF's variant records (the reference blocks removed with
``-e 'INFO/END!="."'``): at every site, every sample that has a record there must have the same alleles in
both (allele order aside; bcftools also re-bases a shorter REF onto the longest). The filling of the other
samples from reference blocks is checked on hand-computed positions in tests/unit/test_gvcf_store.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pmo_workbench.genotypes.gvcf_store import add_gvcfs, open_cohort
from pmo_workbench.genotypes.hail_combiner import genotype_strings

pytestmark = pytest.mark.oracle

DATA = Path("../shared/data/gvcf_small")
SETS = {
    "hail_gatk4_chr22": {s: DATA / "hail_gatk4_chr22" / f"{s}.hg38.g.vcf.gz"
                         for s in ("HG00187", "HG00190", "HG00308", "HG00313", "HG00320")},
    "gatk3_chr20_ceu": {s: DATA / "gatk3_chr20_ceu" / f"{s}.AS.chr20snippet.g.vcf" for s in ("NA12878", "NA12892")},
}


def bcftools_calls(files: dict[str, Path], tmp_path: Path) -> dict[tuple[str, int], list[str | None]]:
    """``bcftools merge -m all`` of the files' variant records: per site, each file's call as sorted allele
    text (None where the file has no record)."""
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools is not installed")
    parts = []
    for k, (sample, path) in enumerate(files.items()):
        out = tmp_path / f"{k}-{sample}.v.vcf.gz"
        subprocess.run([bcftools, "view", "-Oz", "-o", str(out), "-e", 'INFO/END!="."', str(path)], check=True)
        subprocess.run([bcftools, "index", "-t", str(out)], check=True)
        parts.append(str(out))
    merged = tmp_path / "merged.vcf.gz"
    subprocess.run([bcftools, "merge", "-m", "all", "-Oz", "-o", str(merged), *parts], check=True)
    text = subprocess.run([bcftools, "query", "-f", "%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n", str(merged)],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    oracle: dict[tuple[str, int], list[str]] = {}
    for line in text:
        chrom, pos, ref, alt, *gts = line.split("\t")
        alleles = [ref, *alt.split(",")]
        calls = []
        for gt in gts:
            parts_gt = gt.replace("|", "/").split("/")
            calls.append(None if "." in parts_gt else "/".join(sorted(alleles[int(a)] for a in parts_gt)))
        oracle[(chrom, int(pos))] = calls
    return oracle


@pytest.mark.parametrize("name", list(SETS))
def test_variant_records_match_bcftools_merge(name: str, tmp_path: Path) -> None:
    files = SETS[name]
    oracle = bcftools_calls(files, tmp_path)
    root = tmp_path / "store"
    add_gvcfs(root, files, "B1")
    g = open_cohort(root)
    assert list(g.sample_id) == list(files)
    ours = genotype_strings(g.variants, g.call_genotype[:])
    assert set(ours) == set(oracle)
    compared = 0
    for key, calls in oracle.items():
        for k, call in enumerate(calls):
            if call is not None:
                assert ours[key][k] == call, (key, list(files)[k])
                compared += 1
    assert compared >= len(oracle)
    # the samples without a record: bcftools leaves them ./., the store fills them from blocks (or not)
    filled = sum(1 for key, calls in oracle.items() for k, c in enumerate(calls) if c is None
                 and ours[key][k] != "./.")
    assert filled > 0


def test_a_replaced_sample_matches_bcftools_merge_of_the_final_files(tmp_path: Path) -> None:
    """HG00190 replaced by a redelivery (HG00313's gVCF): the store's variant calls equal bcftools' merge of the
    files the store now holds, and no site is left that only the replaced gVCF had."""
    chr22 = SETS["hail_gatk4_chr22"]
    root = tmp_path / "store"
    add_gvcfs(root, {s: chr22[s] for s in ("HG00187", "HG00190")}, "B1")
    add_gvcfs(root, {"HG00308": chr22["HG00308"]}, "B2")
    add_gvcfs(root, {"HG00190": chr22["HG00313"]}, "B3", replace=["HG00190"])
    final = {"HG00187": chr22["HG00187"], "HG00308": chr22["HG00308"], "HG00190": chr22["HG00313"]}
    (tmp_path / "oracle").mkdir()
    oracle = bcftools_calls(final, tmp_path / "oracle")
    g = open_cohort(root)
    assert list(g.sample_id) == list(final)
    ours = genotype_strings(g.variants, g.call_genotype[:])
    assert set(ours) == set(oracle)
    for key, calls in oracle.items():
        for k, call in enumerate(calls):
            if call is not None:
                assert ours[key][k] == call, (key, list(final)[k])
