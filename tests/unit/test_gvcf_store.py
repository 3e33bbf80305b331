"""The incremental gVCF cohort store on real gVCFs (GATK 3/4, DRAGEN, DeepVariant) against the upstream expected
outputs and hand-computed cases; batches added in two steps equal one step; bad input leaves the store unchanged."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.gvcf_store import add_gvcfs, cohort_store_dir, open_cohort, read_store_record

DATA = Path("../shared/data/gvcf_small")
CHR22 = DATA / "hail_gatk4_chr22"
CHR22_SAMPLES = ["HG00187", "HG00190", "HG00308", "HG00313", "HG00320"]
CEU = DATA / "gatk3_chr20_ceu"
DRAGEN = DATA / "dragen_chrM"
GLNEXUS = DATA / "glnexus_deepvariant" / "derived"


def chr22(*samples: str) -> dict[str, Path]:
    return {s: CHR22 / f"{s}.hg38.g.vcf.gz" for s in samples}


def minimal(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """An allele in its minimal representation (common suffix, then common prefix trimmed)."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def genotype(g, contig: str, pos: int, sample: str) -> str:
    """The call of ``sample`` at the site (contig, pos) as text: alleles as minimal REF>ALT (or REF), sorted,
    '.' for missing, 'no site' when the store has no such site."""
    v = g.variants
    rows = np.flatnonzero((v["contig"] == contig).to_numpy() & (v["position"] == pos).to_numpy())
    if len(rows) == 0:
        return "no site"
    r = int(rows[0])
    s = int(np.flatnonzero(g.sample_id == sample)[0])
    gt = g.call_genotype[r, s]
    ref, alts = v["ref"].iloc[r], v["alt"].iloc[r].split(",")
    out = []
    for a in gt:
        if a == -2:
            continue
        if a == -1:
            out.append(".")
        elif a == 0:
            out.append("REF")
        else:
            p, rr, aa = minimal(pos, ref, alts[a - 1])
            out.append(f"{p}:{rr}>{aa}")
    return "/".join(sorted(out))


@pytest.fixture(scope="module")
def chr22_store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("chr22") / "genotypes"
    add_gvcfs(root, chr22(*CHR22_SAMPLES[:2]), "B1")
    add_gvcfs(root, chr22(*CHR22_SAMPLES[2:]), "B2")
    return root


# the README's known positions of hail_gatk4_chr22, with GQ-0 blocks missing (default min_ref_gq = 1)
CHR22_EXPECTED = {
    10752578: ["10752578:T>C/10752578:T>C"] * 3 + ["10752578:T>C/REF", "10752578:T>C/10752578:T>C"],
    10678964: ["10678964:A>G/REF"] * 3 + ["REF/REF", "REF/REF"],
    10685603: ["10685603:T>G/REF", "10685603:T>G/REF", "REF/REF", "./.", "./."],
    10699965: ["REF/REF", "./.", "./.", "REF/REF", "REF/REF"],
    10768788: ["./.", "10768788:A>C/10768788:A>C", "./.", "./.", "./."],
    10939063: ["./.", "./.", "./.", "10939063:C>T/10939063:C>T", "REF/REF"],
    10800000: ["no site"] * 5,
}


def test_chr22_known_positions_from_two_batches(chr22_store: Path) -> None:
    g = open_cohort(chr22_store)
    assert list(g.sample_id) == CHR22_SAMPLES
    for pos, expected in CHR22_EXPECTED.items():
        got = [genotype(g, "chr22", pos, s) for s in CHR22_SAMPLES]
        assert got == expected, pos
    v = g.variants
    multi = v[v["position"] == 10685603]
    assert multi["ref"].tolist() == ["T"] and sorted(multi["alt"].iloc[0].split(",")) == ["C", "G"]
    assert (np.diff(v["position"].to_numpy()) > 0).all()  # sorted, one row per site


def test_gq0_policy_is_a_parameter(chr22_store: Path) -> None:
    g = open_cohort(chr22_store, min_ref_gq=0)
    assert [genotype(g, "chr22", 10685603, s) for s in CHR22_SAMPLES][3:] == ["REF/REF", "REF/REF"]
    assert genotype(g, "chr22", 10768788, "HG00187") == "./."  # no block at all: still missing
    strict = open_cohort(chr22_store, min_ref_gq=20)
    assert genotype(strict, "chr22", 10678964, "HG00313") == "./."  # block GQ 18 < 20


def test_filled_calls_carry_block_gq_and_min_dp(chr22_store: Path) -> None:
    g = open_cohort(chr22_store)
    v = g.variants
    r = int(np.flatnonzero(v["position"].to_numpy() == 10678964)[0])
    assert g.call_GQ[r].tolist()[3:] == [18, 6]
    assert g.call_DP[r].tolist()[3:] == [7, 2]
    ad = g.call_AD[r]
    assert ad[0, :2].tolist() == [9, 8] or ad[0, 0] >= 0  # a variant record keeps its AD
    assert (ad[3:] == -1).all()  # a block has no AD


def test_two_steps_equal_one_step(chr22_store: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    add_gvcfs(one, chr22(*CHR22_SAMPLES), "ALL")
    a, b = open_cohort(one), open_cohort(chr22_store)
    assert list(a.sample_id) == list(b.sample_id)
    assert a.variants[["contig", "position", "ref", "alt"]].equals(b.variants[["contig", "position", "ref", "alt"]])
    for name in ("call_genotype", "call_GQ", "call_DP", "call_AD"):
        np.testing.assert_array_equal(getattr(a, name)[:], getattr(b, name)[:], err_msg=name)


def test_new_sites_of_a_later_batch_are_filled_from_earlier_blocks(tmp_path: Path) -> None:
    root = tmp_path / "s"
    first = add_gvcfs(root, chr22("HG00308", "HG00320"), "B1")
    # 10768788 A>C is a site only of HG00190 (batch 2); the batch-1 samples get their blocks' GQ-0 -> missing,
    # 10678964 A>G is new in batch 2 too: HG00320's block (GQ 6) fills hom-ref
    second = add_gvcfs(root, chr22("HG00190"), "B2")
    assert second["new_sites"] > 0 and second["n_sites"] == first["n_sites"] + second["new_sites"]
    g = open_genotypes(root)
    assert genotype(g, "chr22", 10678964, "HG00320") == "REF/REF"
    assert genotype(g, "chr22", 10678964, "HG00308") == "10678964:A>G/REF"
    assert genotype(g, "chr22", 10768788, "HG00190") == "10768788:A>C/10768788:A>C"
    assert genotype(g, "chr22", 10768788, "HG00320") == "./."


def test_project_folder_opens_its_store(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project).mkdir()
    (project / "pmo.yaml").write_text("name: p\n")
    add_gvcfs(cohort_store_dir(project), chr22("HG00187"), "B1")
    g = open_genotypes(project)
    assert g.backend == "embedded" and list(g.sample_id) == ["HG00187"]
    from pmo_workbench.qc.pipeline import run_qc

    result = run_qc(g)
    assert result.sample_qc["n_called"].iloc[0] > 0


def test_gatk3_against_genotypegvcfs_expected() -> None:
    """Every site of GATK's expected GenotypeGVCFs output: the same alleles per sample (order-independent)."""
    import tempfile

    root = Path(tempfile.mkdtemp()) / "g"
    add_gvcfs(root, {"NA12878": CEU / "NA12878.AS.chr20snippet.g.vcf",
                     "NA12892": CEU / "NA12892.AS.chr20snippet.g.vcf"}, "B1")
    g = open_cohort(root)
    expected = [line.split("\t") for line in (CEU / "testAlleleSpecificAnnotations.CombineGVCF.expected.g.vcf")
                .read_text().splitlines() if not line.startswith("#")]
    assert len(expected) == 24
    checked = 0
    for rec in expected:
        pos, ref, alts = int(rec[1]), rec[3], rec[4].split(",")
        for k, sample in enumerate(["NA12878", "NA12892"]):
            gt = rec[9 + k].split(":")[0]
            want = []
            for a in gt.replace("|", "/").split("/"):
                want.append("REF" if a == "0" else "{}:{}>{}".format(*minimal(pos, ref, alts[int(a) - 1])))
            got = genotype(g, "20", pos, sample)
            if got == "no site":  # a site GATK re-expressed at another position: find its alleles nearby
                pytest.fail(f"20:{pos} missing from the store")
            assert got == "/".join(sorted(want)), (pos, sample)
            checked += 1
    assert checked == 48
    # the README's multi-REF site: CAG>C,CAGAG with C>CAGAG,CAGAGAG merged under REF CAG
    v = g.variants
    row = v[v["position"] == 10087820].iloc[0]
    assert row["ref"] == "CAG" and sorted(row["alt"].split(",")) == sorted(["C", "CAGAG", "CAGAGAG", "CAGAGAGAG"])
    assert genotype(g, "20", 10500000, "NA12878") == "no site"


def test_dragen_chrm_known_positions() -> None:
    import tempfile

    root = Path(tempfile.mkdtemp()) / "g"
    samples = {"T-NGS-9008": DRAGEN / "T-NGS_9008.chrM.gvcf.gz", "T-NGS-9009": DRAGEN / "T-NGS_9009.chrM.gvcf.gz",
               "T-NGS-9010": DRAGEN / "T-NGS_9010.chrM.gvcf.gz"}
    add_gvcfs(root, samples, "B1")
    g = open_cohort(root)
    ids = list(samples)
    assert [genotype(g, "chrM", 150, s) for s in ids] == ["REF/REF", "REF/REF", "150:C>T/150:C>T"]
    assert [genotype(g, "chrM", 263, s) for s in ids] == ["263:A>G/263:A>G"] * 3
    assert [genotype(g, "chrM", 2706, s) for s in ids] == ["2706:A>G/2706:A>G"] * 2 + ["REF/REF"]
    assert genotype(g, "chrM", 16569, ids[0]) == "no site"
    # split records at one POS: every allele joins the site, the first record gives the GT (as GATK keeps it)
    v = g.variants
    row = v[v["position"] == 302].iloc[0]
    assert sorted(row["alt"].split(",")) == ["AC", "ACC", "ACCC", "ACCCC"]
    assert [genotype(g, "chrM", 302, s) for s in ids] == ["302:A>ACC/REF", "302:A>ACC/REF", "302:A>AC/REF"]
    r = int(np.flatnonzero(v["position"].to_numpy() == 302)[0])
    alts = row["alt"].split(",")
    ad = g.call_AD[r]
    # the combined AD of GATK's expected output: 9008 ref 2, ACC 627; 9010 ref 13, AC 532
    assert ad[0, 0] == 2 and ad[0, 1 + alts.index("ACC")] == 627
    assert ad[2, 0] == 13 and ad[2, 1 + alts.index("AC")] == 532


def test_deepvariant_refcall_and_gq0_bands_are_missing() -> None:
    import tempfile

    case = GLNEXUS / "dv_1000G_chr21_5583275"
    root = Path(tempfile.mkdtemp()) / "g"
    ids = ["HG00096", "HG00097", "HG00099", "HG01377"]
    add_gvcfs(root, {s: case / f"{s}.gvcf" for s in ids}, "B1")
    g = open_cohort(root)
    # as GLnexus's truth: ./. for the two RefCall records and the GQ-0 band, 1/1 for HG01377
    assert [genotype(g, "chr21", 5583275, s) for s in ids] == ["./.", "./.", "./.", "5583275:G>T/5583275:G>T"]
    # chr17: a deletion and an SNV inside it stay two sites (Hail's rule); GLnexus would unify them into one
    case = GLNEXUS / "dv_1000G_chr17_2517459"
    root2 = Path(tempfile.mkdtemp()) / "g"
    add_gvcfs(root2, {s: case / f"{s}.gvcf" for s in ("NA12878", "NA19771")}, "B1")
    h = open_cohort(root2)
    assert genotype(h, "chr17", 2517456, "NA19771") == "2517456:GAAA>G/REF"
    assert genotype(h, "chr17", 2517456, "NA12878") == "./."  # its ./. GQ-0 band
    assert genotype(h, "chr17", 2517459, "NA12878") == "2517459:A>G/REF"
    assert genotype(h, "chr17", 2517459, "NA19771") == "./."  # inside its own deletion: no block


def test_haploid_blocks_fill_haploid_calls(tmp_path: Path) -> None:
    header = ("##fileformat=VCFv4.2\n##contig=<ID=chrX,length=156040895>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\n'
              '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="q">\n'
              '##INFO=<ID=END,Number=1,Type=Integer,Description="e">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{}\n")
    male = header.format("M") + ("chrX\t5000000\t.\tA\t<NON_REF>\t.\t.\tEND=5000100\tGT:GQ\t0:40\n"
                                 "chrX\t5000101\t.\tC\tT,<NON_REF>\t50\t.\t.\tGT:GQ\t1:60\n")
    female = header.format("F") + ("chrX\t5000000\t.\tA\t<NON_REF>\t.\t.\tEND=5000049\tGT:GQ\t0/0:30\n"
                                   "chrX\t5000050\t.\tG\tA,<NON_REF>\t50\t.\t.\tGT:GQ\t0/1:60\n"
                                   "chrX\t5000051\t.\tA\t<NON_REF>\t.\t.\tEND=5000200\tGT:GQ\t0/0:30\n")
    (tmp_path / "m.g.vcf").write_text(male)
    (tmp_path / "f.g.vcf").write_text(female)
    root = tmp_path / "s"
    add_gvcfs(root, {"F": tmp_path / "f.g.vcf"}, "B1")
    add_gvcfs(root, {"M": tmp_path / "m.g.vcf"}, "B2")
    g = open_cohort(root)
    assert g.call_genotype[:].tolist() == [[[0, 1], [0, -2]], [[0, 0], [1, -2]]]


def test_bad_input_leaves_the_store_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "s"
    add_gvcfs(root, chr22("HG00187"), "B1")
    before = (root / "store.json").read_text()
    files_before = sorted(p.relative_to(root) for p in root.rglob("*") if "dense" not in p.parts)
    raw = gzip.decompress((CHR22 / "HG00190.hg38.g.vcf.gz").read_bytes())
    cut = tmp_path / "HG00190.g.vcf.gz"
    cut.write_bytes(gzip.compress(raw)[:-5000])  # truncated delivery
    with pytest.raises(InputError, match="truncated") as err:
        add_gvcfs(root, {"HG00190": cut, "HG00308": CHR22 / "HG00308.hg38.g.vcf.gz"}, "B2")
    assert str(cut) in str(err.value)
    lines = raw.decode().splitlines()
    n_header = sum(1 for x in lines if x.startswith("#"))
    body = lines[:n_header + 10] + ["chr22\tx123\t.\tA\t<NON_REF>\t.\t.\tEND=5\tGT\t0/0"] + lines[n_header + 10:]
    bad = tmp_path / "bad.g.vcf"
    bad.write_text("\n".join(body) + "\n")
    with pytest.raises(InputError) as err:
        add_gvcfs(root, {"HG00190": bad}, "B2")
    assert f"line {n_header + 11}" in str(err.value) and "POS" in str(err.value)
    with pytest.raises(InputError, match="already in the store"):
        add_gvcfs(root, chr22("HG00187"), "B3")
    with pytest.raises(InputError, match="batch B1 is already"):
        add_gvcfs(root, chr22("HG00190"), "B1")
    assert (root / "store.json").read_text() == before
    assert sorted(p.relative_to(root) for p in root.rglob("*") if "dense" not in p.parts) == files_before
    assert [b["batch_id"] for b in read_store_record(root)["batches"]] == ["B1"]


def test_two_sample_gvcf_is_refused(tmp_path: Path) -> None:
    text = (CEU / "testAlleleSpecificAnnotations.vcf").read_text()
    path = tmp_path / "two.g.vcf"
    path.write_text(text)
    with pytest.raises(InputError, match="one sample column"):
        add_gvcfs(tmp_path / "s", {"X": path}, "B1")


def test_export_joint_vcf(chr22_store: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pmo_workbench.cli import app

    project = tmp_path / "proj"
    shutil.copytree(chr22_store, cohort_store_dir(project))
    (project / "pmo.yaml").write_text("name: p\n")
    out = tmp_path / "joint.vcf.gz"
    res = CliRunner().invoke(app, ["export", "vcf", "--project", str(project), "--out", str(out)])
    assert res.exit_code == 0, res.output
    samples = subprocess.run(["bcftools", "query", "-l", str(out)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert samples == CHR22_SAMPLES
    q = subprocess.run(["bcftools", "query", "-f", "%POS\t%REF\t%ALT[\t%GT]\n", str(out)], capture_output=True,
                       text=True, check=True).stdout.splitlines()
    g = open_cohort(project)
    assert len(q) == g.n_variants
    pos = [int(x.split("\t")[0]) for x in q]
    assert pos == sorted(pos)
    row = next(x.split("\t") for x in q if x.startswith("10685603\t"))
    assert row[3:] == ["0/2", "0/2", "0/0", "./.", "./."] and row[2] == "C,G"
    res = CliRunner().invoke(app, ["export", "vcf", "--project", str(tmp_path), "--out", str(tmp_path / "x.vcf.gz")])
    assert res.exit_code == 2 and "no cohort store" in res.output


def test_manifest_records_batches_and_samples(chr22_store: Path) -> None:
    m = json.loads((chr22_store / "store.json").read_text())
    assert [b["batch_id"] for b in m["batches"]] == ["B1", "B2"]
    assert [s["batch_id"] for s in m["samples"]] == ["B1", "B1", "B2", "B2", "B2"]
    assert all(s["source"].startswith("GATK") for s in m["samples"]), m["samples"][0]["source"]
    assert m["reference_build"] == "GRCh38"


def test_dot_alt_blocks_and_star_alleles(tmp_path: Path) -> None:
    """Strelka-style blocks (ALT '.', END, no GT field) fill hom-ref and make no site; a '*' allele (a deletion
    upstream, GATK 4) is kept as it is when the site's REF is extended."""
    header = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\n'
              '##FORMAT=<ID=GQX,Number=1,Type=Integer,Description="q">\n'
              '##INFO=<ID=END,Number=1,Type=Integer,Description="e">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{}\n")
    a = header.format("A") + ("1\t100\t.\tA\t.\t.\tPASS\tEND=199\tGQX\t60\n"
                              "1\t200\t.\tC\t*,<NON_REF>\t.\t.\t.\tGT\t0/1\n"
                              "1\t201\t.\tG\t.\t.\tPASS\tEND=400\tGQX\t60\n")
    b = header.format("B") + ("1\t100\t.\tA\t.\t.\tPASS\tEND=199\tGT:GQX\t0/0:60\n"
                              "1\t200\t.\tCT\tC,<NON_REF>\t50\t.\t.\tGT\t1/1\n"
                              "1\t202\t.\tG\t.\t.\tPASS\tEND=400\tGT:GQX\t0/0:60\n")
    (tmp_path / "a.g.vcf").write_text(a)
    (tmp_path / "b.g.vcf").write_text(b)
    root = tmp_path / "s"
    add_gvcfs(root, {"A": tmp_path / "a.g.vcf", "B": tmp_path / "b.g.vcf"}, "B1")
    g = open_cohort(root)
    v = g.variants
    assert v["position"].tolist() == [200]
    assert v["ref"].tolist() == ["CT"] and sorted(v["alt"].iloc[0].split(",")) == ["*", "C"]
    alts = v["alt"].iloc[0].split(",")
    assert sorted(g.call_genotype[0, 0].tolist()) == [0, 1 + alts.index("*")]
    assert g.call_genotype[0, 1].tolist() == [1 + alts.index("C")] * 2


def dense_by_sample(g) -> dict[str, dict[tuple[str, int], tuple[str, int, int, tuple[int, ...]]]]:
    """Every sample's calls by site as (alleles as text, GQ, DP, AD by allele text): independent of the column
    order and of the allele order, so stores built in different ways can be compared."""
    from pmo_workbench.genotypes.hail_combiner import genotype_strings

    strings = genotype_strings(g.variants, g.call_genotype[:])
    gq, dp, ad = g.call_GQ[:], g.call_DP[:], g.call_AD[:]
    alleles = [[r, *a.split(",")] for r, a in zip(g.variants["ref"], g.variants["alt"], strict=True)]
    out: dict[str, dict] = {}
    for k, sid in enumerate(g.sample_id):
        rows = {}
        for i, key in enumerate(strings):
            ad_text = tuple(sorted((alleles[i][j], int(v)) for j, v in enumerate(ad[i, k, :len(alleles[i])])))
            rows[key] = (strings[key][k], int(gq[i, k]), int(dp[i, k]), ad_text)
        out[str(sid)] = rows
    return out


def test_replace_equals_a_fresh_build_and_retires_the_old_sites(tmp_path: Path) -> None:
    """HG00190 redelivered with other genotypes (HG00313's gVCF): the store after the replacement equals a
    store built with the new gVCF from the start; sites only the old gVCF had are gone; the column equals the
    new file's calls in a store of that file alone."""
    replaced, fresh, alone = tmp_path / "replaced", tmp_path / "fresh", tmp_path / "alone"
    add_gvcfs(replaced, chr22("HG00187", "HG00190"), "B1")
    add_gvcfs(replaced, chr22("HG00308"), "B2")
    old = open_cohort(replaced)
    old_n, old_sites = old.n_variants, set(dense_by_sample(old)["HG00190"])  # its dense copy goes with the change
    r = add_gvcfs(replaced, {"HG00190": CHR22 / "HG00313.hg38.g.vcf.gz"}, "B3", replace=["HG00190"])
    assert r["samples_replaced"] == ["HG00190"] and r["samples_added"] == 0 and r["removed_sites"] > 0
    add_gvcfs(fresh, {"HG00187": CHR22 / "HG00187.hg38.g.vcf.gz", "HG00190": CHR22 / "HG00313.hg38.g.vcf.gz"}, "B1")
    add_gvcfs(fresh, chr22("HG00308"), "B2")
    add_gvcfs(alone, {"HG00190": CHR22 / "HG00313.hg38.g.vcf.gz"}, "B1")
    g, f = open_cohort(replaced), open_cohort(fresh)
    assert list(g.sample_id) == ["HG00187", "HG00308", "HG00190"]  # the replaced column moves to the end
    assert g.n_variants == f.n_variants == r["n_sites"] != old_n
    ours, theirs = dense_by_sample(g), dense_by_sample(f)
    assert ours == theirs
    own = dense_by_sample(open_cohort(alone))["HG00190"]
    assert {k: v[0] for k, v in own.items()} == {k: ours["HG00190"][k][0] for k in own}
    # sites of the old HG00190 that nobody else has are gone; the old calls are nowhere
    gone = old_sites - set(ours["HG00190"])
    assert len(gone) == r["removed_sites"] and gone.isdisjoint(own)
    record = read_store_record(replaced)
    assert [s["sample_id"] for s in record["samples"] if s.get("replaced")] == ["HG00190"]
    assert g.attrs["sample_batch"] == ["B1", "B2", "B3"]


def test_replace_is_refused_for_unknown_samples_and_leaves_the_store(tmp_path: Path) -> None:
    root = tmp_path / "s"
    add_gvcfs(root, chr22("HG00187"), "B1")
    before = (root / "store.json").read_text()
    with pytest.raises(InputError, match="sample HG00190 is not in the store"):
        add_gvcfs(root, chr22("HG00190"), "B1", replace=["HG00190"])
    with pytest.raises(InputError, match="to replace has no gVCF"):
        add_gvcfs(root, chr22("HG00190"), "B2", replace=["HG00187"])
    raw = gzip.decompress((CHR22 / "HG00187.hg38.g.vcf.gz").read_bytes())
    cut = tmp_path / "HG00187.g.vcf.gz"
    cut.write_bytes(gzip.compress(raw)[:-5000])
    with pytest.raises(InputError, match="truncated"):
        add_gvcfs(root, {"HG00187": cut}, "B1", replace=["HG00187"])
    assert (root / "store.json").read_text() == before
    assert open_cohort(root).n_samples == 1


def test_a_store_without_site_counts_still_replaces(tmp_path: Path) -> None:
    """Stores written before the site list kept per-site sample counts get them from the batches' calls."""
    import pyarrow.parquet as pq

    root, fresh = tmp_path / "s", tmp_path / "f"
    add_gvcfs(root, chr22("HG00187", "HG00190"), "B1")
    record = read_store_record(root)
    sites = pq.read_table(root / record["sites"])
    pq.write_table(sites.drop(["n_samples"]), root / record["sites"])
    for part in record["batches"]:
        del part["batch_key"]
    for smp in record["samples"]:
        del smp["batch_key"]
    (root / "store.json").write_text(json.dumps(record))
    add_gvcfs(root, {"HG00190": CHR22 / "HG00320.hg38.g.vcf.gz"}, "B1", replace=["HG00190"])
    add_gvcfs(fresh, {"HG00187": CHR22 / "HG00187.hg38.g.vcf.gz", "HG00190": CHR22 / "HG00320.hg38.g.vcf.gz"}, "B1")
    assert dense_by_sample(open_cohort(root)) == dense_by_sample(open_cohort(fresh))


@pytest.mark.parametrize("state", ["absent", "empty"])
def test_both_backends_refuse_a_missing_or_empty_store_alike(tmp_path: Path, state: str) -> None:
    """One check serves both openers: the embedded and the Hail backend name the same problem and file
    (the Hail opener refuses before it starts Spark)."""
    from pmo_workbench.genotypes.gvcf_store import MANIFEST, STORE_FORMAT
    from pmo_workbench.genotypes.hail_combiner import open_hail_cohort

    store = cohort_store_dir(tmp_path)
    if state == "empty":
        store.mkdir(parents=True)
        (store / MANIFEST).write_text(json.dumps({"format": STORE_FORMAT, "generation": 0, "samples": []}))
    messages = []
    for opener in (open_cohort, open_hail_cohort):
        with pytest.raises(InputError) as err:
            opener(tmp_path)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    expected = "no cohort store here" if state == "absent" else "the cohort store has no sample"
    assert expected in messages[0]
    assert (str(store / MANIFEST) if state == "empty" else str(tmp_path)) in messages[0]
