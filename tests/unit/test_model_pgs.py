"""Polygenic scores: scoring-file normalisation and variant matching equal to the PGS Catalog's own libraries
(pgscatalog-core, pgscatalog-match), scores equal to the PGS001229 reference scores, and bad inputs."""

from __future__ import annotations

import gzip
import logging
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.model import scoring_file
from pmo_workbench.model.pgs import score_pgs
from pmo_workbench.model.scoring_file import check_build, header_summary, read_scoring_file
from pmo_workbench.model.variant_matching import match_variants
from tests.vcf_files import format_record, write_vcf

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


def _pgscatalog_header(fields: dict[str, str]) -> tuple[str | None, bool, str | None] | str:
    """(build, harmonised, id) as pgscatalog.core's header models read ``fields``, or "error"."""
    from pgscatalog.core.lib import models
    from pydantic import ValidationError

    try:
        try:
            head = models.CatalogScoreHeader(**fields)
        except ValidationError:
            head = models.ScoreHeader(**fields)
    except (ValidationError, ValueError):
        return "error"
    build = head.HmPOS_build if head.is_harmonised else head.genome_build
    return (str(build) if build is not None else None), bool(head.is_harmonised), head.pgs_id


_CATALOG = {"pgs_id": "PGS000001", "pgs_name": "PRS77_BC", "trait_reported": "Breast cancer", "genome_build": "NR",
            "format_version": "2.0", "trait_mapped": "breast carcinoma", "trait_efo": "EFO_0000305",
            "variants_number": "77", "weight_type": "NR", "pgp_id": "PGP000001", "citation": "Mavaddat N et al.",
            "HmPOS_build": "GRCh38", "HmPOS_date": "2022-07-29"}
_HEADERS = [
    _CATALOG, {**_CATALOG, "HmPOS_build": "GRCh37"}, {**_CATALOG, "genome_build": "hg19"},
    {**_CATALOG, "HmPOS_date": "2022-13-40"}, {**_CATALOG, "HmPOS_date": "29/07/2022"},
    {**_CATALOG, "HmPOS_build": "hg38"}, {**_CATALOG, "HmPOS_build": "NR"}, {**_CATALOG, "HmPOS_build": "pangenome"},
    {k: v for k, v in _CATALOG.items() if k != "HmPOS_date"}, {k: v for k, v in _CATALOG.items() if k != "pgs_id"},
    {k: v for k, v in _CATALOG.items() if k != "trait_reported"}, {**_CATALOG, "pgs_id": "MYSCORE"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "GRCh38"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "hg38"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "NR"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": ""},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "hg18"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "NCBI35"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "pangenome"},
    {"pgs_id": "X1", "trait_reported": "t"},
    {"pgs_id": "", "trait_reported": "t", "genome_build": "GRCh37"},
    {"omicspred_id": "OPGS1", "trait_reported": "t", "genome_build": "GRCh38"},
    {"score_id": "SC1", "trait_reported": "t", "genome_build": "GRCh37"},
    {"score_id": "SC1", "pgs_id": "P1", "trait_reported": "t", "genome_build": "GRCh37"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "GRCh37", "HmPOS_build": "GRCh38"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "GRCh37", "HmPOS_build": "GRCh38",
     "HmPOS_date": "2024-01-01"},
    {"pgs_id": "X1", "trait_reported": "t", "genome_build": "GRCh37", "HmPOS_date": "2024-01-01"},
]


@pytest.mark.parametrize("fields", _HEADERS)
def test_plain_header_reading_equals_pgscatalog_core(fields: dict[str, str]) -> None:
    """The header reading without pgscatalog.core gives what its models give, or leaves the header to them."""
    ours, ref = header_summary(fields), _pgscatalog_header(fields)
    if ours is None:  # not a plain header: read (and its error worded) by pgscatalog.core
        return
    assert ref != "error" and ours == ref


@pytest.mark.parametrize("name", ["PGS000001.txt.gz", "PGS000001_hmPOS_GRCh37.txt.gz", "PGS000001_hmPOS_GRCh38.txt.gz",
                                  "PGS000002.txt.gz", "PGS000802_hmPOS_GRCh37.txt", "PGS004255_hmPOS_GRCh38.txt.gz"])
def test_catalog_headers_are_read_without_pgscatalog_and_equal_it(name: str, shared_data: Path) -> None:
    fields = scoring_file._header_fields(scoring_file._read_head(shared_data / PGS / name)[0])  # noqa: SLF001
    ours = header_summary(fields)
    assert ours is not None and ours == _pgscatalog_header(fields)


def test_plain_headers_cover_the_catalogs_variety() -> None:
    """The plain reading takes the usual headers (so a scoring process imports no pydantic/httpx)."""
    plain = [header_summary(f) for f in _HEADERS]
    assert sum(p is not None for p in plain) >= 15
    assert header_summary(_CATALOG) == ("GRCh38", True, "PGS000001")
    assert header_summary({**_CATALOG, "HmPOS_build": "hg38"}) is None  # left to pgscatalog.core


def _packed_score_dense(gt: np.ndarray, a: np.ndarray, c: np.ndarray, member: np.ndarray, mean_fill: bool
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's sums by dense numpy: [v, samples, 2] calls (-1 missing) -> (total, n_used) [samples, k]."""
    called = gt[:, :, 0] >= 0
    d = np.where(called, gt.sum(axis=2), 0).astype(float)
    mean = np.where(called.any(axis=1), d.sum(axis=1) / np.maximum(called.sum(axis=1), 1), 0.0)
    contrib = d[:, :, None] * a[:, None, :] + 2 * c[:, None, :]
    fill = (a * mean[:, None] + 2 * c) if mean_fill else np.zeros_like(a)
    value = np.where(called[:, :, None], contrib, fill[:, None, :])
    return value.sum(axis=0), (called[:, :, None] * member[:, None, :]).sum(axis=0)


@pytest.mark.parametrize(("n_samples", "n_scores", "mean_fill"), [(70, 1, True), (70, 3, True), (33, 2, False)])
def test_packed_score_kernel_equals_dense_sums(n_samples: int, n_scores: int, mean_fill: bool) -> None:
    """The C kernel on 2-bit rows (sparse, dense, all-missing and no-call rows; a row width over several words)
    against dense numpy sums, through the caller's split of rows over threads."""
    from pmo_workbench import ckernels
    from pmo_workbench.genotypes.packed_calls import pack_calls

    rng = np.random.default_rng(5)
    n_var = 120
    freq = rng.choice([0.002, 0.05, 0.5, 0.95], n_var)
    gt = (rng.random((n_var, n_samples, 2)) < freq[:, None, None]).astype(np.int8)
    gt[rng.random((n_var, n_samples)) < 0.05] = -1
    gt[7] = -1  # a row without calls
    packed, ok = pack_calls(gt)
    assert ok.all()
    a = rng.normal(size=(n_var, n_scores))
    c = np.where(rng.random((n_var, n_scores)) < 0.5, -a, 0.0)  # effect allele REF: c = w, a = -w
    member = rng.random((n_var, n_scores)) < 0.9
    a, c = a * member, c * member
    rows = np.sort(rng.choice(n_var, 100, replace=False)).astype(np.int64)
    want_total, want_n = _packed_score_dense(gt[rows], a[rows], c[rows], member[rows], mean_fill)
    acc = np.zeros((2, n_samples, n_scores))
    miss = np.zeros((2, n_samples, n_scores), np.int64)
    kernel = ckernels.library().pmo_pgs_score_rows
    c2 = np.ascontiguousarray(2 * c[rows])
    for t, (lo, hi) in enumerate([(0, 37), (37, 100)]):
        assert kernel(packed, packed.shape[1], rows[lo:hi], hi - lo, n_samples, np.ascontiguousarray(a[rows][lo:hi]),
                      c2[lo:hi], member[rows][lo:hi].astype(np.int64), n_scores, int(mean_fill), acc[t], miss[t]) == 0
    total = acc.sum(axis=0) + c2.sum(axis=0)[None, :]
    n_used = member[rows].sum(axis=0)[None, :] - miss.sum(axis=0)
    np.testing.assert_allclose(total, want_total, rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(n_used, want_n)


def test_packed_runs_in_reused_buffers_equal_fresh_ones(tiny) -> None:
    """``iter_packed(reuse=True)`` (the scoring and GWAS kernels' reader) yields the same runs, the last one
    shorter, as fresh arrays."""
    fresh = [(a, b, p.copy()) for a, b, p in tiny.iter_packed(300)]
    for prefetch in (True, False):
        reused = [(a, b, p.copy()) for a, b, p in tiny.iter_packed(300, prefetch=prefetch, reuse=True)]
        assert len(fresh) == len(reused) > 2 and fresh[-1][1] - fresh[-1][0] < 300
        for (a, b, p), (a2, b2, p2) in zip(fresh, reused, strict=True):
            assert (a, b) == (a2, b2)
            np.testing.assert_array_equal(p, p2)


def test_scoring_imports_neither_numba_nor_pgscatalog(tmp_path: Path, shared_data: Path) -> None:
    """A scoring process on a store whose rows are all in the 2-bit copy, with a PGS Catalog file, runs the C kernel
    and reads the header without pgscatalog.core: no numba, pydantic or httpx start-up (about 1.5 s)."""
    rng = np.random.default_rng(4)
    records = [format_record("1", 100 + 10 * v, "A", "G", [
        "./." if rng.random() < 0.02 else f"{int(x)}/{int(y)}" for x, y in rng.random((30, 2)) < 0.3])
        for v in range(200)]
    vcf = write_vcf(tmp_path / "g.vcf", records, samples=[f"S{i}" for i in range(30)], contigs={"1": 10_000})
    score = tmp_path / "PGS999999_hmPOS_GRCh38.txt"
    score.write_text("#pgs_id=PGS999999\n#trait_reported=t\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
                     "#HmPOS_date=2024-01-01\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\t"
                     "hm_chr\thm_pos\n" + "".join(f"1\t{p}\tG\tA\t0.1\t1\t{100 + 10 * v}\n"
                                                   for v, p in enumerate(range(200))))
    cache = tmp_path / "cache"
    g = open_genotypes(vcf, cache_dir=cache)  # import in this process
    want = score_pgs(g, score).scores["score_sum"].to_numpy()
    code = textwrap.dedent(f"""
        import sys
        from pmo_workbench.genotypes import open_genotypes
        from pmo_workbench.model.pgs import score_pgs
        g = open_genotypes({str(vcf)!r}, cache_dir={str(cache)!r})
        print(list(score_pgs(g, {str(score)!r}).scores["score_sum"]))
        print(sorted(m for m in ("numba", "llvmlite", "pgscatalog.core", "pydantic", "httpx") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    np.testing.assert_allclose(eval(out[0]), want, rtol=0, atol=1e-12)  # noqa: S307 - our own printed list
    assert out[1] == "[]", f"scoring imported {out[1]}"


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
