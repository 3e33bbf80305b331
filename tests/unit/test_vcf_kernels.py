"""The C record parser (ckernels/vcf_parse.c via genotypes.vcf_kernels) and the BGZF inflater against plain
Python oracles: every call form, the vector path against the general path, errors and warnings located, the
2-bit copy, and BGZF units inflated by libdeflate or by the ISA-L fallback."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import vcf_kernels as K
from pmo_workbench.genotypes import vcf_source
from pmo_workbench.genotypes.packed_calls import pack_calls, unpack_dosage
from pmo_workbench.genotypes.vcf_reader import import_vcf


def oracle_gt(call: str, ploidy: int = 2) -> list[int]:
    """GT as the store holds it, in plain Python (our half-call rule: 0/. is haploid 0)."""
    alleles = [-1 if a == "." else int(a) for a in call.replace("|", "/").split("/")]
    if len(alleles) == 2 and alleles.count(-1) == 1:
        alleles = [max(alleles), -2]
    elif len(alleles) == 1:
        alleles = [alleles[0], -2]
    return alleles + [-2] * (ploidy - len(alleles))


def oracle_code(g: list[int]) -> int | None:
    if g[0] in (0, 1) and g[1] in (0, 1):
        return g[0] + g[1]
    if g[0] == -1 and g[1] in (-1, -2):
        return 3
    return None


def record(calls: list[str], alt: str = "C,G", fmt: str = "GT", pos: int = 7) -> str:
    return "\t".join(["1", str(pos), "rs1", "A", alt, ".", "PASS", ".", fmt, *calls])


CALLS = ["0/0", "0/1", "1/0", "1|1", "./.", ".|.", "2/1", "0/2", "0", "1", ".", "0/.", "./1", "1/.", "0|1"]


@pytest.mark.parametrize("n_samples", [1, 3, 16, 17, 33, 100])
def test_every_call_form_by_both_paths(n_samples: int) -> None:
    rng = np.random.default_rng(n_samples)
    rows = []
    for k in range(40):
        # rows of three-byte calls, and rows with haploid or '.' calls among them, take the vector path; rows
        # with half calls (0/.) the general one
        pool = CALLS[:8] if k % 3 == 1 else (CALLS[:11] if k % 3 == 2 else CALLS)
        rows.append([pool[i] for i in rng.integers(0, len(pool), n_samples)])
    text = "".join(record(r) + "\n" for r in rows)
    block = K.parse_records(text.encode(), K.RecordSpec(n_samples=n_samples, packed=True))
    assert block.err[0] == 0 and block.n == 40
    expected = np.array([[oracle_gt(c) for c in r] for r in rows], dtype=np.int8)
    np.testing.assert_array_equal(block.gt, expected)
    # the general path (FORMAT not GT alone) reads the same calls
    general = K.parse_records(text.replace("\tGT\t", "\tGT:XX\t").encode(),
                              K.RecordSpec(n_samples=n_samples, packed=True))
    np.testing.assert_array_equal(general.gt, expected)
    np.testing.assert_array_equal(general.packed, block.packed)
    # the 2-bit copy: codes where every call has one, else an empty row
    for i, r in enumerate(rows):
        codes = [oracle_code(oracle_gt(c)) for c in r]
        assert block.packable[i] == all(c is not None for c in codes)
        if block.packable[i]:
            dosage, _ = unpack_dosage(block.packed[i:i + 1], n_samples)
            assert dosage[0].tolist() == [-1 if c == 3 else c for c in codes]
        else:
            assert not block.packed[i].any()
    packed, ok = pack_calls(block.gt)
    np.testing.assert_array_equal(packed, block.packed)
    np.testing.assert_array_equal(ok, block.packable)


def test_format_fields_only_where_present_and_wanted() -> None:
    text = (record(["0/1:12:30:5,7", "1/1:.:99:0,20", "./.:.:.:."], fmt="GT:DP:GQ:AD", alt="C") + "\n"
            + record(["0/0", "0/1", "1/1"], alt="C") + "\n"
            + record(["0/2:3:-4:1,x,2", "0/0:7", "1/2:5:40:1,2,3,4"], fmt="GT:DP:GQ:AD") + "\n")
    spec = K.RecordSpec(n_samples=3, fields=("DP", "GQ", "AD"))
    block = K.parse_records(text.encode(), spec)
    assert block.dp.tolist() == [[12, -1, -1], [-1, -1, -1], [3, 7, 5]]
    assert block.gq.tolist() == [[30, 99, -1], [-1, -1, -1], [-1, -1, 40]]
    assert block.ad.shape == (3, 3, 3)  # the block's largest allele count
    assert block.ad[0].tolist() == [[5, 7, -1], [0, 20, -1], [-1, -1, -1]]
    assert block.ad[2].tolist() == [[1, -1, 2], [-1, -1, -1], [1, 2, 3]]
    assert block.warn[K.W_NEGATIVE, 0] == 1 and block.warn[K.W_BAD_NUMBER, 0] == 1
    assert block.warn[K.W_AD_LENGTH, 0] == 1
    only_gt = K.parse_records(text.encode(), K.RecordSpec(n_samples=3))
    assert only_gt.dp is None and only_gt.ad is None
    np.testing.assert_array_equal(only_gt.gt, block.gt)


@pytest.mark.parametrize(("line", "code", "aux"), [
    (record(["0/1", "0/3"], alt="C"), K.ERR_GT_ALLELE, 3),
    (record(["0/1", "0/x"]), K.ERR_GT_CHAR, 0),
    (record(["0/1", "0/128"]), K.ERR_GT_BIG, 128),
    (record(["0/1"]), K.ERR_SAMPLE_COLUMNS, 1),
    (record(["0/1", "0/1", "0/1"]), K.ERR_SAMPLE_COLUMNS, 3),
    (record(["0/1", "0/1/1"]), K.ERR_PLOIDY, 3),
    ("1\t7\trs1\tA", K.ERR_FEW_COLUMNS, 4),
    ("#1\t7", K.ERR_HEADER_LINE, 0),
])
def test_errors_name_record_sample_and_value(line: str, code: int, aux: int) -> None:
    text = record(["0/0", "0/0"]) + "\n" + line + "\n"
    block = K.parse_records(text.encode(), K.RecordSpec(n_samples=2))
    assert (block.err[0], block.err[1], block.err[3]) == (code, 1, aux)
    assert block.line[1] == 1


def test_records_with_more_calls_than_the_guess_and_wide_ad() -> None:
    calls = ["0/1:" + ",".join(["1"] * 9)] * 3
    text = "".join(record(calls, alt="C,G,T,AA,AC,AG,AT,CA", fmt="GT:AD", pos=p) + "\n" for p in range(1, 500))
    block = K.parse_records(text.encode(), K.RecordSpec(n_samples=3, fields=("AD",)), ad_width=2)
    assert block.n == 499 and block.ad.shape == (499, 3, 9) and (block.ad == 1).all()


def _bgzip(path: Path) -> Path:
    if shutil.which("bgzip") is None:
        pytest.skip("bgzip is not installed")
    out = path.with_suffix(path.suffix + ".gz")
    with open(out, "wb") as fh:
        subprocess.run(["bgzip", "-c", str(path)], stdout=fh, check=True)
    return out


def _vcf(path: Path, n_records: int = 3000, n_samples: int = 40) -> Path:
    rng = np.random.default_rng(1)
    head = ("##fileformat=VCFv4.2\n##contig=<ID=1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"g\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n_samples)))
    lines = [record([CALLS[i] for i in rng.integers(0, len(CALLS), n_samples)], pos=p + 1) for p in range(n_records)]
    path.write_text(head + "\n" + "\n".join(lines) + "\n")
    return path


def _import(src: Path, root: Path):
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(src, root)
    return zarr.open_group(str(root), mode="r")


def test_bgzf_units_by_libdeflate_and_isal_give_the_text(tmp_path: Path, monkeypatch) -> None:
    plain = _vcf(tmp_path / "a.vcf")
    bgz = _bgzip(plain)
    monkeypatch.setattr(vcf_source, "BLOCK_SIZE", 20_000)  # many units
    assert vcf_source.has_libdeflate()  # Debian's libdeflate0 (.ci/sysdeps.sh): the C inflater is used
    for fallback in (False, True):
        if fallback:
            monkeypatch.setattr(vcf_source, "has_libdeflate", lambda: False)
        kind, units = vcf_source.open_text_units(bgz)
        text = b"".join(bytes(u.text()) for u in units)
        assert kind == "vcf.bgz" and text == plain.read_bytes()


def test_lines_longer_than_a_unit_and_no_final_newline(tmp_path: Path, monkeypatch) -> None:
    plain = _vcf(tmp_path / "a.vcf", n_records=300, n_samples=500)
    ref = _import(plain, tmp_path / "ref.vcz")["call_genotype"][:]
    plain.write_bytes(plain.read_bytes().rstrip(b"\n"))
    bgz = _bgzip(plain)
    monkeypatch.setattr(vcf_source, "BLOCK_SIZE", 700)  # a record is ~2,000 bytes; BGZF blocks are 64 KiB
    for src in (plain, bgz):
        got = _import(src, tmp_path / f"{src.name}.vcz")["call_genotype"][:]
        np.testing.assert_array_equal(got, ref)


def test_a_corrupt_bgzf_block_is_named(tmp_path: Path) -> None:
    bgz = _bgzip(_vcf(tmp_path / "a.vcf", n_records=20_000))
    raw = bytearray(bgz.read_bytes())
    raw[70_000:70_050] = bytes(50)  # inside the payload of a block after the first
    bgz.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"corrupt BGZF block at byte \d+") as info:
        _import(bgz, tmp_path / "x.vcz")
    assert str(bgz) in str(info.value)


def test_a_truncated_gzip_is_named(tmp_path: Path) -> None:
    gz = tmp_path / "a.vcf.gz"
    gz.write_bytes(gzip.compress(_vcf(tmp_path / "a.vcf").read_bytes())[:-2000])
    with pytest.raises(InputError, match="gzip"):
        _import(gz, tmp_path / "x.vcz")


def test_import_and_kinship_import_no_numba(tmp_path: Path) -> None:
    """Start-up: a process that imports a VCF (multi-allelic sites, half and haploid calls, DP/GQ/AD) and runs
    kinship on its (diploid, autosomal) sites compiles nothing and never imports numba."""
    rng = np.random.default_rng(3)
    head = ("##fileformat=VCFv4.2\n##contig=<ID=1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"g\">\n"
            "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"d\">\n"
            "##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"a\">\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER"
            "\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(40)) + "\n")
    lines = []
    for p in range(500):
        if p % 50 == 0:  # multi-allelic, with odd calls and FORMAT fields (not used by kinship)
            calls = [c + ":7:3,4,0" for c in rng.choice(["0/2", "1", "0/.", "./.", "1|2"], 40)]
            lines.append(record(calls, alt="C,G", fmt="GT:DP:AD", pos=p + 1))
        else:
            lines.append(record(list(rng.choice(["0/0", "0/1", "1/1", "./."], 40, p=[.5, .3, .15, .05])),
                                alt="C", pos=p + 1))
    plain = tmp_path / "a.vcf"
    plain.write_text(head + "\n".join(lines) + "\n")
    code = textwrap.dedent(f"""
        import sys, warnings
        warnings.simplefilter("ignore")
        from pmo_workbench.genotypes import open_genotypes
        from pmo_workbench.qc.kinship import kinship
        g = open_genotypes({str(plain)!r}, cache_dir={str(tmp_path / "cache")!r}, format_fields=["DP"])
        table = kinship(g, min_kinship=-1.0)
        print(g.n_variants, g.has_field("DP"), len(table), int(table["n_snp"].max()))
        print(sorted(m for m in ("numba", "llvmlite") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    n_variants, has_dp, n_pairs, n_snp = out[0].split()
    assert (n_variants, has_dp, n_pairs) == ("500", "True", "780")  # 40 samples: every pair reported
    assert 400 < int(n_snp) <= 490  # jointly called sites: at most the 490 biallelic ones
    assert out[1] == "[]", f"imported {out[1]}"


def test_an_import_loads_neither_arrow_nor_pandas(tmp_path: Path) -> None:
    """Importing a VCF (and opening the store) needs no pyarrow, pandas or numba: each costs every import, however
    small, tens of milliseconds of start-up; the sample IDs read back as the VCF has them."""
    samples = ["s0", "Søren", "s2"]
    plain = tmp_path / "a.vcf"
    plain.write_text("##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"g\">\n"
                     "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
                     "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t./.\n"
                     "1\t200\t.\tA\tG,T\t.\tPASS\t.\tGT\t0/2\t0/0\t1/1\n", encoding="utf-8")
    code = textwrap.dedent(f"""
        import sys
        from pmo_workbench.genotypes import open_genotypes
        g = open_genotypes({str(plain)!r}, cache_dir={str(tmp_path / "cache")!r})
        print(g.n_variants, "|".join(g.sample_id))
        print(sorted(m for m in ("pyarrow", "pandas", "numba") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         encoding="utf-8").stdout.split("\n")
    assert out[0] == "2 s0|Søren|s2"
    assert out[1] == "[]", f"imported {out[1]}"


GATK_CALLS = CALLS + ["10/2", "2/10", "/0|1", "0/.", ".", "1", "./.", "12"]


@pytest.mark.parametrize("fmt", ["GT:AD:DP:GQ:PL", "DP:GT", "GT", "AD:GT:PL"])
def test_gt_among_other_fields_every_form_and_position(fmt: str) -> None:
    """GT in the common forms (decoded in one step) and the rare ones (multi-digit alleles, a VCF 4.4 phase
    prefix, half calls), first or not (a spec violation some tools write), with PL (Number=G) after the
    fields the store keeps, the last sample at the line end: the same calls and values as a plain oracle."""
    rng = np.random.default_rng(len(fmt))
    keys = fmt.split(":")
    alt = ",".join(f"C{'A' * k}" for k in range(12))  # 13 alleles: index 12 is valid
    rows, values = [], []
    for _ in range(30):
        calls, vals = [], []
        for c in rng.choice(GATK_CALLS, 7):
            dp, gq = int(rng.integers(0, 500)), int(rng.integers(0, 99))
            field = {"GT": str(c), "AD": f"{dp // 2},{dp - dp // 2}", "DP": str(dp), "GQ": str(gq),
                     "PL": "0,30,450,12,13,14"}
            calls.append(":".join(field[k] for k in keys))
            vals.append((dp, gq, [dp // 2, dp - dp // 2]))
        rows.append(calls)
        values.append(vals)
    text = "".join(record(r, alt=alt, fmt=fmt) + "\n" for r in rows)
    block = K.parse_records(text.encode(), K.RecordSpec(n_samples=7, fields=("DP", "GQ", "AD"), packed=True))
    assert block.err[0] == 0 and block.n == 30
    expected = [[oracle_gt(c.split(":")[keys.index("GT")].lstrip("/|")) for c in r] for r in rows]
    assert block.gt.tolist() == expected
    if "DP" in keys:
        assert block.dp.tolist() == [[v[0] for v in r] for r in values]
    if "GQ" in keys:
        assert block.gq.tolist() == [[v[1] for v in r] for r in values]
    if "AD" in keys:
        assert block.ad[:, :, :2].tolist() == [[v[2] for v in r] for r in values]
        assert (block.ad[:, :, 2:] == -1).all()
    packed, ok = pack_calls(block.gt)
    np.testing.assert_array_equal(packed, block.packed)
    np.testing.assert_array_equal(ok, block.packable)
