"""Polygenic scores: scoring-file normalisation and variant matching equal to the PGS Catalog's own libraries
(pgscatalog-core, pgscatalog-match), scores equal to the PGS001229 reference scores, and bad inputs."""

from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.model.pgs import score_pgs
from pmo_workbench.model.scoring_file import check_build, read_scoring_file
from pmo_workbench.model.variant_matching import match_variants

PGS = "pgs_catalog"
logging.getLogger("pgscatalog").setLevel(logging.CRITICAL)


@pytest.fixture(scope="module")
def tiny(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(shared_data / "1kg_nygc30x_3202_tiny" / "tiny1000G.vcf.gz",
                              cache_dir=tmp_path_factory.mktemp("tiny-cache"))


def _core_normalised(path: Path) -> pd.DataFrame:
    from pgscatalog.core import GenomeBuild, ScoringFile

    rows = []
    for v in ScoringFile(path).normalise(target_build=GenomeBuild.GRCh38):
        rows.append({"chr_name": v.chr_name, "chr_position": v.chr_position, "effect_allele": str(v.effect_allele),
                     "other_allele": None if v.other_allele is None or str(v.other_allele) == ""
                     else str(v.other_allele),  # an empty allele is missing once written (pgsc_calc's combine)
                     "effect_weight": float(v.effect_weight), "is_duplicated": bool(v.is_duplicated),
                     "row_nr": int(v.row_nr)})
    return pd.DataFrame(rows)


def _ours(path: Path) -> pd.DataFrame:
    v = read_scoring_file(path).variants
    out = v[["chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "is_duplicated",
             "row_nr"]].copy()
    out["chr_position"] = out["chr_position"].astype(object).where(out["chr_position"].notna(), None)
    return out


def _custom_file(path: Path) -> Path:
    """A harmonised custom file with the normaliser's edge cases: several other alleles, a failed harmonisation
    (empty hm_pos), an inferred other allele, a duplicated variant."""
    text = ("#pgs_id=PGS999999\n#pgs_name=edge\n#trait_reported=test\n#genome_build=GRCh37\n"
            "#HmPOS_build=GRCh38\n#HmPOS_date=2024-01-01\n"
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_source\thm_rsID\thm_chr\t"
            "hm_pos\thm_inferOtherAllele\n"
            "rs1\t1\t100\tA\tG\t0.5\tENSEMBL\trs1\t1\t1100\t\n"
            "rs2\t1\t200\tC\tA/T\t-0.25\tENSEMBL\trs2\t1\t1200\t\n"
            "rs3\t2\t300\tG\t\t1e-3\tENSEMBL\trs3\t2\t2300\tA\n"
            "rs4\t3\t400\tT\tC\t0.125\tUnknown\t\t\t\t\n"
            "rs5\t1\t100\tA\tG\t0.75\tENSEMBL\trs1\t1\t1100\t\n")
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["PGS000001_hmPOS_GRCh37.txt.gz", "PGS000001_hmPOS_GRCh38.txt.gz", "custom"])
def test_normalisation_equals_pgscatalog_core(name: str, shared_data: Path, tmp_path: Path) -> None:
    path = _custom_file(tmp_path / "edge.txt") if name == "custom" else shared_data / PGS / name
    ours, ref = _ours(path), _core_normalised(path)
    assert len(ours) == len(ref) > 0
    for col in ours.columns:
        a, b = ours[col].tolist(), ref[col].tolist()
        if col == "effect_weight":
            assert a == pytest.approx(b, rel=1e-15)
        else:
            def plain(values: list, col: str = col) -> list:
                return [None if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA
                        else (int(x) if col == "chr_position" else x) for x in values]

            assert plain(a) == plain(b), col


def test_scoring_file_header_and_build(shared_data: Path) -> None:
    sf = read_scoring_file(shared_data / PGS / "PGS000001_hmPOS_GRCh37.txt.gz")
    assert (sf.pgs_id, sf.genome_build, sf.harmonised, sf.trait) == ("PGS000001", "GRCh37", True, "Breast cancer")
    with pytest.raises(InputError, match="genome build GRCh37 differs from the genotypes' GRCh38.*_hmPOS_GRCh38"):
        check_build(sf, "GRCh38")
    assert check_build(sf, "GRCh37") == "GRCh37"
    norm = read_scoring_file(shared_data / PGS / "PGS001229_hmPOS_GRCh38.normalised.txt.gz")
    assert norm.layout == "normalised" and norm.genome_build == "GRCh38" and len(norm.variants) == 51209
    assert int(norm.variants["is_duplicated"].sum()) == 15


@pytest.mark.parametrize(("name", "line", "field", "message"), [
    ("PGS000001.txt.gz", 15, "chr_position", "no positions \\(rsID-only"),
    ("PGS000802_hmPOS_GRCh37.txt", 21, "is_dominant", "7 row\\(s\\) with non-additive \\(dominant\\)"),
    ("PGS004255_hmPOS_GRCh38.txt.gz", 21, "dosage_0_weight", "non-additive weights"),
    ("complex_variants_PGS000021.txt", 2, "is_haplotype", "8 row\\(s\\) are haplotypes"),
    ("complex_variants_PGS004239.txt", 7, "is_haplotype", "9 row\\(s\\) are haplotypes"),
])
def test_unscorable_files_are_refused_naming_line_and_column(name, line, field, message, shared_data) -> None:
    with pytest.raises(InputError, match=f"{name}: line {line}: field {field}: {message}"):
        read_scoring_file(shared_data / PGS / name)


def test_broken_files(tmp_path: Path) -> None:
    head = "#pgs_id=X1\n#trait_reported=t\n#genome_build=GRCh38\n"
    bad = tmp_path / "noweight.txt"
    bad.write_text(head + "chr_name\tchr_position\teffect_allele\n1\t5\tA\n")
    with pytest.raises(InputError, match="noweight.txt: line 4: field effect_weight: missing column"):
        read_scoring_file(bad)
    nan = tmp_path / "nan.txt"
    nan.write_text(head + "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t0.1\n1\t6\tA\tabc\n")
    with pytest.raises(InputError, match="nan.txt: line 6: field effect_weight: effect weight is not a number"):
        read_scoring_file(nan)
    nr = tmp_path / "nr.txt"
    nr.write_text("#pgs_id=X2\n#trait_reported=t\n#genome_build=NR\nchr_name\tchr_position\teffect_allele\t"
                  "effect_weight\n1\t5\tA\t0.1\n")
    with pytest.raises(InputError, match="genome build is not reported"):
        check_build(read_scoring_file(nr), "GRCh38")
    with gzip.open(tmp_path / "empty.txt.gz", "wt") as fh:
        fh.write("#pgs_id=X3\n")
    with pytest.raises(InputError, match="no column header line"):
        read_scoring_file(tmp_path / "empty.txt.gz")


def _pgscatalog_match(score_path: Path, variants: pd.DataFrame, tmp: Path, *, remove_ambiguous: bool,
                      remove_multiallelic: bool = True) -> pd.DataFrame:
    """Best, non-excluded matches by pgscatalog.match: row_nr -> (target ID, matched effect allele)."""
    from pgscatalog.match import MatchResult, MatchResults, ScoringFileFrame, VariantFrame
    from pgscatalog.match import match_variants as pgsc_match

    pvar = tmp / "target.pvar"
    ids = (variants["contig"].str.replace("chr", "") + ":" + variants["position"].astype(str) + ":"
           + variants["ref"] + ":" + variants["alt"])
    pd.DataFrame({"#CHROM": variants["contig"].str.replace("chr", ""), "POS": variants["position"],
                  "ID": ids, "REF": variants["ref"], "ALT": variants["alt"]}).to_csv(pvar, sep="\t", index=False)
    target = VariantFrame(pvar, dataset="t", tmpdir=tmp)
    scorefile = ScoringFileFrame(score_path, tmpdir=tmp)
    with target as tdf, scorefile as sdf:
        res = pgsc_match(score_df=sdf, target_df=tdf, target=target)
        res.collect(outfile=str(tmp / "m.ipc"))
        mr = MatchResults(MatchResult.from_ipc(str(tmp / "m.ipc"), dataset="t"))
        log = mr.full_variant_log(sdf, keep_first_match=False, remove_ambiguous=remove_ambiguous,
                                  remove_multiallelic=remove_multiallelic, skip_flip=False).collect().to_pandas()
    best = log[log["match_status"] == "matched"]
    return best[["row_nr", "ID", "matched_effect_allele", "match_type"]].astype(str).sort_values("row_nr") \
        .reset_index(drop=True)


def _ours_matched(score: pd.DataFrame, variants: pd.DataFrame, **kw) -> pd.DataFrame:
    m = match_variants(score, variants, **kw)
    got = m.matched()
    v = variants.iloc[got["target_index"]]
    ids = (v["contig"].str.replace("chr", "") + ":" + v["position"].astype(str) + ":" + v["ref"] + ":"
           + v["alt"]).to_numpy()
    allele = np.where(got["effect_is_alt"], v["alt"], v["ref"])
    return pd.DataFrame({"row_nr": got["row_nr"].astype(str).to_numpy(), "ID": ids, "matched_effect_allele": allele,
                         "match_type": got["match_type"].to_numpy()}).sort_values("row_nr").reset_index(drop=True)


@pytest.mark.parametrize("keep_ambiguous", [False, True])
def test_matching_equals_pgscatalog_match_on_tiny1000g(tiny, shared_data: Path, tmp_path: Path,
                                                       keep_ambiguous: bool) -> None:
    path = shared_data / PGS / "PGS001229_hmPOS_GRCh38.normalised.txt.gz"
    score = read_scoring_file(path).variants
    ours = _ours_matched(score, tiny.variants, keep_ambiguous=keep_ambiguous)
    ref = _pgscatalog_match(path, tiny.variants, tmp_path, remove_ambiguous=not keep_ambiguous)
    assert len(ours) > 900
    pd.testing.assert_frame_equal(ours, ref)


def test_matching_edge_cases_equal_pgscatalog_match(tmp_path: Path) -> None:
    """Flips, strand-ambiguous SNVs, a multi-allelic record, rows without other allele, a duplicated variant."""
    variants = pd.DataFrame({
        "contig": ["chr1"] * 8, "position": [10, 20, 30, 40, 50, 60, 70, 80],
        "ref": ["A", "A", "C", "G", "T", "AT", "C", "G"], "alt": ["G", "T", "G", "A", "C", "A", "A,T", "C"]})
    score = pd.DataFrame({
        "chr_name": ["1"] * 11, "chr_position": [10, 10, 20, 30, 40, 50, 60, 70, 80, 90, 40],
        "effect_allele": ["G", "T", "T", "G", "C", "A", "A", "T", "C", "A", "A"],
        "other_allele": ["A", "C", "A", None, "T", None, "AT", "C", "G", "C", None],
        "effect_weight": np.arange(11) / 10, "effect_type": "additive", "is_duplicated": False,
        "accession": "PGS1", "row_nr": np.arange(11)})
    path = tmp_path / "score.txt"
    score.to_csv(path, sep="\t", index=False, na_rep="")
    for amb in (False, True):
        ours = _ours_matched(score, variants, keep_ambiguous=amb)
        ref = _pgscatalog_match(path, variants, tmp_path, remove_ambiguous=not amb)
        pd.testing.assert_frame_equal(ours, ref)
    report = match_variants(score, variants).report.set_index("accession").loc["PGS1"]
    assert report["total"] == 11 and report["absent"] == 1  # chr1:90
    assert report["strand-ambiguous dropped"] >= 1 and report["multi-allelic"] == 1
    assert report["matched after flip"] >= 1


def test_scores_equal_the_reference_scores(tiny, shared_data: Path, tmp_path: Path) -> None:
    """PGS001229 on tiny1000G: 947 autosomal variants matched on chr:pos:ref:alt (reference README)."""
    raw = pd.read_csv(shared_data / PGS / "PGS001229_hmPOS_GRCh38.normalised.txt.gz", sep="\t", dtype=str)
    auto = tmp_path / "PGS001229_autosomal_hmPOS_GRCh38.txt"
    raw[raw["chr_name"] != "X"].to_csv(auto, sep="\t", index=False)
    res = score_pgs(tiny, auto, min_overlap=0, keep_ambiguous=True, skip_flip=True)
    ref = pd.read_csv(shared_data / PGS / "PGS001229_tiny1000G_autosomal_reference_scores.tsv", sep="\t")
    m = res.scores.merge(ref, left_on="sample_id", right_on="sample", suffixes=("", "_ref"))
    assert len(m) == 3202
    assert np.abs(m["score_sum"] - m["score_sum_ref"]).max() < 1e-6
    assert (m["n_variants"] == m["n_variants_ref"]).all() and (m["n_variants"] == 947).all()
    matched = set(res.variants.query("status == 'matched'")["row_nr"])
    assert len(matched) == 947


def test_min_overlap_and_bad_samples_fail_loudly(tiny, shared_data: Path) -> None:
    path = shared_data / PGS / "PGS001229_hmPOS_GRCh38.normalised.txt.gz"
    with pytest.raises(InputError, match=r"score PGS001229: only 1\.\d% of its 51209 variants match the genotypes "
                                         r"\(min_overlap 75%\); 50223 absent"):
        score_pgs(tiny, path)
    with pytest.raises(InputError, match="none of the requested samples"):
        score_pgs(tiny, path, min_overlap=0, samples=["nobody"])


def test_several_scores_in_one_pass_equal_separate_runs(tiny, shared_data: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(shared_data / PGS / "PGS001229_hmPOS_GRCh38.normalised.txt.gz", sep="\t", dtype=str)
    a, b = tmp_path / "A_hmPOS_GRCh38.txt", tmp_path / "B_hmPOS_GRCh38.txt"
    raw.assign(accession="SCORE_A").to_csv(a, sep="\t", index=False)
    flipped = raw.assign(accession="SCORE_B", effect_weight=(-2 * raw["effect_weight"].astype(float)).astype(str))
    flipped.to_csv(b, sep="\t", index=False)
    both = score_pgs(tiny, [a, b], min_overlap=0).wide()
    one = score_pgs(tiny, a, min_overlap=0).wide()
    assert np.allclose(both["SCORE_A"], one["SCORE_A"], rtol=0, atol=1e-12)
    assert np.allclose(both["SCORE_B"], -2 * one["SCORE_A"], rtol=0, atol=1e-9)
    # chrX: male haploid calls count one allele; scores stay finite
    assert np.isfinite(both.to_numpy()).all()


def test_ancestry_adjustment_removes_pc_dependence() -> None:
    from pmo_workbench.model.pgs import adjust_for_ancestry

    rng = np.random.default_rng(1)
    pcs = rng.normal(size=(2000, 3))
    score = 1.5 * pcs[:, 0] - pcs[:, 2] + rng.normal(size=2000) * np.exp(0.4 * pcs[:, 1])
    z1, z2 = adjust_for_ancestry(score, pcs)
    for j in range(3):
        assert abs(np.corrcoef(z1, pcs[:, j])[0, 1]) < 1e-10
    # z2's spread no longer depends on PC2 (z1's does)
    hi, lo = pcs[:, 1] > 1, pcs[:, 1] < -1
    assert z1[hi].std() / z1[lo].std() > 2
    assert 0.8 < z2[hi].std() / z2[lo].std() < 1.25
