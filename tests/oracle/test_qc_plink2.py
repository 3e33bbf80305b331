"""sample_qc / variant_qc of the embedded backend against plink2 and bcftools on real data.

What is compared, and why only that:

- plink2 ``--sample-counts`` counts SNP genotypes only and has no per-allele Ti/Tv, so genotype counts are
  compared on the biallelic-SNP subset (``bcftools view -m2 -M2 -v snps``); Hail's allele-level
  ``n_transition`` is checked against plink2 run on the transition-only subset (het + 2 x hom-alt).
- plink2 reads half calls (``0/.``) only with ``--vcf-half-call haploid`` (the same reading as ours); on chrX it
  needs the samples' sex (``--update-sex``) and ``--split-par b37`` so that male PAR calls stay diploid. It then
  counts a haploid male call as HOM_REF/HOM_ALT, as Hail does.
- plink2's chrX Hardy-Weinberg test (``.hardy.x``) is an X-specific test with males, so on chrX only the
  female het count is compared; p-values are compared on autosomes.
- plink2 prints p-values with 6 significant digits, so ``p_value_hwe`` is compared with a relative tolerance
  of 1e-5 (not 1e-6).
- bcftools ``stats`` counts ``0/.`` as missing, so it is used only where calls are truly haploid or diploid;
  allele counts of multi-allelic sites come from ``bcftools +fill-tags``.
- ``--het`` is not compared: its O(HOM)/OBS_CT skip monomorphic sites and have no Hail counterpart.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.variant_qc import variant_qc

bcftools_subset = plink2 = read_plink_table = require_tool = run = None  # bound by _bind_tools


@pytest.fixture(autouse=True, scope="module")
def _bind_tools(tools) -> None:
    """Bind the conftest helpers to module names (conftest cannot be imported by name)."""
    global bcftools_subset, plink2, read_plink_table, require_tool, run
    bcftools_subset, plink2, read_plink_table = tools.bcftools_subset, tools.plink2, tools.read_plink_table
    require_tool, run = tools.require_tool, tools.run


TRANSITIONS = '(REF="A" && ALT="G") || (REF="G" && ALT="A") || (REF="C" && ALT="T") || (REF="T" && ALT="C")'

DATASETS = {
    "phase3_chr21": "1kg_phase3_subset_1126/1KG_phase3_subset_chr21.vcf.gz",
    "phase3_chrX": "1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz",
    "tiny1000G_autosomes": "1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz",
    "hail_chr20": "hail_1kg_chr20_100/sample.vcf.gz",
    "giab_trio": "giab_ashkenazi_trio/ashk-trio.vcf.gz",
}


def _open(path: Path, cache: Path, format_fields: tuple[str, ...] = ()):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(path, cache_dir=cache, format_fields=format_fields)


def _plink_vcf_args(name: str, shared: Path, oracle_dir: Path) -> list[str]:
    args = ["--vcf-half-call", "haploid", "--allow-extra-chr"]
    if name == "phase3_chrX":
        annot = pd.read_csv(shared / "1kg_phase3_subset_1126" / "1KG_phase3_subset_annot.tsv", sep="\t")
        sex = oracle_dir / "phase3_sex.txt"
        pd.DataFrame({"IID": annot["sample.id"], "SEX": np.where(annot["sex"] == "M", 1, 2)}).to_csv(
            sex, sep="\t", index=False)
        args += ["--update-sex", str(sex), "--split-par", "b37"]
    return args


def _subset(name: str, src: Path, oracle_dir: Path, kind: str) -> Path:
    base = ["-m2", "-M2"]
    if name == "tiny1000G_autosomes":
        base += ["-t", "^X"]
    extra = {"biallelic": [], "snps": ["-v", "snps"], "transitions": ["-v", "snps", "-i", TRANSITIONS]}[kind]
    return bcftools_subset(src, oracle_dir / f"{name}.{kind}.vcf.gz", *base, *extra)


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request, shared: Path, oracle_dir: Path, genotype_cache: Path):
    name = request.param
    src = shared / DATASETS[name]
    snps = _subset(name, src, oracle_dir, "snps")
    out = plink2(["--vcf", str(snps), *_plink_vcf_args(name, shared, oracle_dir), "--sample-counts",
                  "--missing"], oracle_dir / f"{name}.snps")
    ts = _subset(name, src, oracle_dir, "transitions")
    out_ts = plink2(["--vcf", str(ts), *_plink_vcf_args(name, shared, oracle_dir), "--sample-counts"],
                    oracle_dir / f"{name}.ts")
    return {
        "name": name, "src": src,
        "qc": sample_qc(_open(snps, genotype_cache)).set_index("sample_id"),
        "scount": read_plink_table(Path(f"{out}.scount")).set_index("IID"),
        "smiss": read_plink_table(Path(f"{out}.smiss")).set_index("IID"),
        "scount_ts": read_plink_table(Path(f"{out_ts}.scount")).set_index("IID"),
        "sexes": _plink_vcf_args(name, shared, oracle_dir),
    }


def test_sample_genotype_counts_equal_plink2(dataset) -> None:
    qc, sc, sm = dataset["qc"], dataset["scount"], dataset["smiss"]
    assert list(qc.index) == list(sc.index)
    np.testing.assert_array_equal(qc["n_hom_ref"], sc["HOM_REF_CT"])
    np.testing.assert_array_equal(qc["n_het"], sc["HET_SNP_CT"])
    np.testing.assert_array_equal(qc["n_hom_var"], sc["HOM_ALT_SNP_CT"])
    np.testing.assert_array_equal(qc["n_not_called"], sm["MISSING_CT"])
    np.testing.assert_allclose(qc["call_rate"], 1 - sm["F_MISS"], atol=1e-6)
    assert qc["n_het"].sum() > 0 and qc["n_hom_var"].sum() > 0


def test_allele_level_snp_and_transition_counts(dataset) -> None:
    """Hail counts alleles: het = 1, hom-alt = 2 (haploid = 1, so chrX compares females only)."""
    qc, sc, ts = dataset["qc"], dataset["scount"], dataset["scount_ts"]
    rows = qc.index
    if dataset["name"] == "phase3_chrX":
        annot = pd.read_csv(dataset["src"].parent / "1KG_phase3_subset_annot.tsv", sep="\t")
        rows = pd.Index(annot.loc[annot["sex"] == "F", "sample.id"])
    np.testing.assert_array_equal(qc.loc[rows, "n_snp"], sc.loc[rows, "HET_SNP_CT"] + 2 * sc.loc[rows, "HOM_ALT_SNP_CT"])
    np.testing.assert_array_equal(qc.loc[rows, "n_transition"],
                                  ts.loc[rows, "HET_SNP_CT"] + 2 * ts.loc[rows, "HOM_ALT_SNP_CT"])
    np.testing.assert_array_equal(qc["n_snp"], qc["n_transition"] + qc["n_transversion"])
    assert qc["r_ti_tv"].between(1.0, 4.0).mean() > 0.9


@pytest.mark.parametrize("name", [n for n in DATASETS if n != "phase3_chrX"])
def test_variant_counts_and_hwe_equal_plink2(name: str, shared: Path, oracle_dir: Path,
                                             genotype_cache: Path) -> None:
    bi = _subset(name, shared / DATASETS[name], oracle_dir, "biallelic")
    out = plink2(["--vcf", str(bi), *_plink_vcf_args(name, shared, oracle_dir), "--freq", "counts",
                  "--missing", "variant-only", "--hardy", "midp"], oracle_dir / f"{name}.bi")
    g = _open(bi, genotype_cache)
    vqc = variant_qc(g)
    freq = read_plink_table(Path(f"{out}.acount"))
    vmiss = read_plink_table(Path(f"{out}.vmiss"))
    hardy = read_plink_table(Path(f"{out}.hardy"))
    assert len(vqc) == len(freq) == len(vmiss) == len(hardy) > 100
    np.testing.assert_array_equal(vqc["AN"], freq["OBS_CT"])
    np.testing.assert_array_equal(vqc["AC"].map(lambda x: x[1]), freq["ALT_CTS"])
    np.testing.assert_array_equal(np.rint(vqc["call_rate"] * g.n_samples), vmiss["OBS_CT"] - vmiss["MISSING_CT"])
    # plink2's A1 in .hardy is REF here, so HET_A1_CT is the het count
    assert (hardy["A1"].to_numpy() == g.variants["ref"].to_numpy()).all()
    np.testing.assert_array_equal(vqc["n_het"], hardy["HET_A1_CT"])
    np.testing.assert_allclose(vqc["p_value_hwe"], hardy["MIDP"], rtol=1e-5, atol=1e-300)
    if g.n_samples >= 50:
        assert (vqc["p_value_hwe"] < 0.05).any() and (vqc["p_value_hwe"] > 0.5).any()


def test_chrX_males_are_haploid_with_full_call_rate(shared: Path, oracle_dir: Path, genotype_cache: Path) -> None:
    """Padded male calls (0/.) are haploid: called, one allele; counts equal plink2 --geno-counts on chrX."""
    src = shared / DATASETS["phase3_chrX"]
    g = _open(src, genotype_cache)
    annot = pd.read_csv(src.parent / "1KG_phase3_subset_annot.tsv", sep="\t").set_index("sample.id")
    qc = sample_qc(g).set_index("sample_id")
    males = annot.index[annot["sex"] == "M"]
    assert (qc.loc[males, "call_rate"] == 1.0).all()
    assert (qc.loc[males, "n_not_called"] == 0).all()
    gt = g.call_genotype[:]
    nonpar = ~g.is_par("X", g.variants["position"].to_numpy())
    male_cols = np.isin(g.sample_id, males)
    assert (gt[nonpar][:, male_cols, 1] == -2).all()
    assert (gt[nonpar][:, ~male_cols, 1] >= 0).all()
    # AN: 2 per female, 1 per male on non-PAR X (no missing calls in this file)
    vqc = variant_qc(g)
    expected_an = np.where(nonpar, 2 * (~male_cols).sum() + male_cols.sum(), 2 * g.n_samples)
    np.testing.assert_array_equal(vqc["AN"], expected_an)
    bi = _subset("phase3_chrX", src, oracle_dir, "biallelic")
    out = plink2(["--vcf", str(bi), *_plink_vcf_args("phase3_chrX", shared, oracle_dir), "--geno-counts"],
                 oracle_dir / "phase3_chrX.bi")
    gc = read_plink_table(Path(f"{out}.gcount"))
    gb = _open(bi, genotype_cache)
    vb = variant_qc(gb)
    assert len(gc) == gb.n_variants > 1000
    # diploid het calls (females; males only in the PARs). plink2 reports a haploid male call as a homozygous
    # genotype, so its genotype total counts males twice where we count one allele per male on non-PAR X.
    np.testing.assert_array_equal(vb["n_het"], gc["HET_REF_ALT_CTS"])
    nonpar_b = ~gb.is_par("X", gb.variants["position"].to_numpy())
    genotypes = gc["HOM_REF_CT"] + gc["HET_REF_ALT_CTS"] + gc["TWO_ALT_GENO_CTS"]
    np.testing.assert_array_equal(vb["AN"], 2 * genotypes - np.where(nonpar_b, male_cols.sum(), 0))


@pytest.mark.parametrize("name", list(DATASETS))
def test_allele_counts_equal_bcftools_fill_tags(name: str, shared: Path, oracle_dir: Path,
                                                genotype_cache: Path) -> None:
    """AC per ALT allele and AN on the full file, multi-allelic sites and haploid calls included."""
    src = shared / DATASETS[name]
    tool = require_tool("bcftools")
    filled = oracle_dir / f"{name}.filltags.vcf"
    run([tool, "+fill-tags", str(src), "-o", str(filled), "--", "-t", "AN,AC"])
    text = run([tool, "query", "-f", "%CHROM:%POS\t%REF,%ALT\t%INFO/AN\t%INFO/AC\n", str(filled)])
    rows = [line.split("\t") for line in text.splitlines()]
    vqc = variant_qc(_open(src, genotype_cache))
    assert len(vqc) == len(rows) > 300
    assert vqc["locus"].tolist() == [r[0] for r in rows]
    assert [",".join(a) for a in vqc["alleles"]] == [r[1].removesuffix(",.") for r in rows]
    np.testing.assert_array_equal(vqc["AN"], [int(r[2]) for r in rows])
    assert [list(a[1:]) for a in vqc["AC"]] == [[] if r[3] == "." else [int(x) for x in r[3].split(",")]
                                               for r in rows]
    total_af = vqc["AF"].map(lambda x: float(np.sum(x)))
    assert np.allclose(total_af[vqc["AN"] > 0], 1.0)


def test_dp_gq_means_and_filters_equal_bcftools_query(shared: Path, genotype_cache: Path) -> None:
    src = shared / DATASETS["hail_chr20"]
    tool = require_tool("bcftools")
    g = _open(src, genotype_cache, ("DP", "GQ"))
    assert g.has_field("DP") and g.has_field("GQ")
    qc = sample_qc(g)
    for field, column in (("DP", "dp_mean"), ("GQ", "gq_mean")):
        text = run([tool, "query", "-f", f"[%{field}\t]\n", str(src)])
        values = np.array([[np.nan if x == "." else float(x) for x in line.split("\t")[:-1]]
                           for line in text.splitlines()])
        np.testing.assert_allclose(qc[column], np.nanmean(values, axis=0), rtol=1e-12)
    filters = run([tool, "query", "-f", "%FILTER\n", str(src)]).splitlines()
    expected = [[] if f == "PASS" else None if f == "." else f.split(";") for f in filters]
    got = [None if x is pd.NA else list(x) for x in variant_qc(g)["filters"]]
    assert got == expected
    assert sum(1 for f in expected if f) == 346 - 312
    assert sum(s.startswith("C") and "::" in s for s in g.sample_id) == 37


def test_plink_bed_counts_equal_plink2(shared: Path, oracle_dir: Path, genotype_cache: Path) -> None:
    prefix = shared / "plink_1kg_eur_chr20" / "ldsc"
    g = open_genotypes(prefix.with_suffix(".bed"), cache_dir=genotype_cache)
    assert (g.n_samples, g.n_variants, g.source_format) == (489, 486, "plink")
    out = plink2(["--bfile", str(prefix), "--sample-counts", "--missing", "--freq", "counts", "--hardy", "midp"],
                 oracle_dir / "ldsc")
    qc = sample_qc(g).set_index("sample_id")
    sc = read_plink_table(Path(f"{out}.scount")).set_index("IID")
    np.testing.assert_array_equal(qc.loc[sc.index, "n_hom_ref"], sc["HOM_REF_CT"])
    np.testing.assert_array_equal(qc.loc[sc.index, "n_het"], sc["HET_SNP_CT"])
    np.testing.assert_array_equal(qc.loc[sc.index, "n_hom_var"], sc["HOM_ALT_SNP_CT"])
    vqc = variant_qc(g)
    freq = read_plink_table(Path(f"{out}.acount"))
    hardy = read_plink_table(Path(f"{out}.hardy"))
    np.testing.assert_array_equal(vqc["AC"].map(lambda x: x[1]), freq["ALT_CTS"])
    np.testing.assert_array_equal(vqc["AN"], freq["OBS_CT"])
    ref_is_a1 = hardy["A1"].to_numpy() == g.variants["ref"].to_numpy()
    assert ref_is_a1.all()
    np.testing.assert_allclose(vqc["p_value_hwe"], hardy["MIDP"], rtol=1e-5)
