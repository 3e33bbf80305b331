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


@pytest.mark.parametrize("name", list(SETS))
def test_variant_records_match_bcftools_merge(name: str, tmp_path: Path) -> None:
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools is not installed")
    files = SETS[name]
    parts = []
    for sample, path in files.items():
        out = tmp_path / f"{sample}.v.vcf.gz"
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
