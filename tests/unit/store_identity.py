"""What an import writes, reduced to digests: the store's files (sha256 of every file's bytes), its attributes,
the warnings, or the error of a rejected input. ``tests/unit/fixtures/store_digests.json`` holds these digests
as the numba import path wrote them (main at commit 310717f, numcodecs 0.15.2, zarr 2.18.7), recorded once by
``python -m tests.unit.store_identity``; :mod:`test_store_identity` holds every later import to them: the same
files with the same content, and the same bytes wherever the reference's bytes did not depend on thread timing.

The inputs: every VCF of ``../shared/data`` and :func:`write_mixed_vcf`, a synthetic file larger than the old
reader's 32 MiB text block (so it was parsed in several blocks) with missing, haploid, half and phased calls,
multi-allelic sites and records with and without DP/GQ/AD, written plain, gzipped and BGZF-compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numcodecs.blosc
import numpy as np

from pmo_workbench.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "store_digests.json"
PATTERNS = ("*.vcf", "*.vcf.gz", "*.vcf.bgz", "*.gvcf.gz", "*.bcf")


def list_inputs(data: Path = SHARED_DATA) -> list[Path]:
    """Every VCF/BCF under ``data`` (sorted)."""
    return sorted({p for pattern in PATTERNS for p in data.rglob(pattern)})


def write_mixed_vcf(path: Path, n_samples: int = 300, n_records: int = 31_000, seed: int = 5) -> Path:
    """A deterministic VCF of ~37 MiB text: GT-only records, GT:DP:GQ:AD records, chrX with haploid males,
    half calls, phased calls, multi-allelic sites (one in every 1,000 records has the file's most alleles)."""
    rng = np.random.default_rng(seed)
    names = "\t".join(f"s{i}" for i in range(n_samples))
    out = [
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n##contig=<ID=X,length=155270560>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="d">\n'
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="q">\n'
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="a">\n'
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n"]
    male = rng.random(n_samples) < 0.5
    bases = np.array(list("ACGT"))
    for i in range(n_records):
        chrom = "1" if i < n_records * 0.8 else "X"
        n_alt = 3 if i % 1000 == 0 else (2 if rng.random() < 0.03 else 1)
        ref = bases[rng.integers(4)]
        alts = ",".join(b for b in bases if b != ref)[: 2 * n_alt - 1]
        a = rng.integers(0, n_alt + 1, size=(n_samples, 2))
        a[rng.random(n_samples) < 0.7] = 0
        missing = rng.random(n_samples) < 0.01
        phased = i % 7 == 0
        sep = "|" if phased else "/"
        fields = i % 3 == 0
        calls = []
        for s in range(n_samples):
            if chrom == "X" and male[s]:
                gt = "." if missing[s] else str(a[s, 0])
            elif missing[s]:
                gt = "./." if s % 5 else "0/."
            else:
                gt = f"{a[s, 0]}{sep}{a[s, 1]}"
            if fields:
                dp = int(rng.integers(0, 60))
                ad = ",".join(str(int(x)) for x in rng.integers(0, 30, n_alt + 1))
                gt = f"{gt}:{dp}:{min(dp * 3, 99)}:{ad}" if s % 11 else f"{gt}:.:.:."
            calls.append(gt)
        fmt = "GT:DP:GQ:AD" if fields else "GT"
        qual = "." if i % 4 else f"{rng.random() * 100:.2f}"
        out.append(f"{chrom}\t{i + 1}\trs{i}\t{ref}\t{alts}\t{qual}\tPASS\t.\t{fmt}\t" + "\t".join(calls) + "\n")
    path.write_text("".join(out))
    return path


def digest_store(root: Path) -> dict[str, list]:
    """Per file of a store directory (by path relative to it): sha256 of its bytes, sha256 of its content (a
    chunk decompressed by Blosc; metadata as it is), and the number of Blosc blocks of a chunk (0: metadata).

    The content is what readers get. The bytes of a chunk of several Blosc blocks can differ between two
    imports of the same input by the same code when Blosc compressed it with several threads: it stores the
    blocks in the order they finish.
    """
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        raw = p.read_bytes()
        if p.name.startswith("."):
            content, blocks = raw, 0
        else:
            content = numcodecs.blosc.decompress(raw)
            nbytes, blocksize = (int.from_bytes(raw[k:k + 4], "little") for k in (4, 8))
            blocks = max(-(-nbytes // max(blocksize, 1)), 1)
        out[str(p.relative_to(root))] = [hashlib.sha256(raw).hexdigest(), hashlib.sha256(content).hexdigest(),
                                         blocks]
    return out


def digest_import(path: Path, label: str, workdir: Path, fields: tuple[str, ...] | None = None) -> dict:
    """Import ``path`` into a fresh store, keeping the FORMAT ``fields`` (default: all of them, as every import
    did before fields were chosen); its file digests and attributes, warnings (``path`` shown as ``label``), or
    the error text of a rejected file."""
    from pmo_workbench.genotypes.vcf_reader import FORMAT_FIELDS, import_vcf

    store = Path(tempfile.mkdtemp(dir=workdir)) / "s.vcz"

    def clean(text: str) -> str:
        return text.replace(str(path), label)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            attrs = import_vcf(path, store, fields=FORMAT_FIELDS if fields is None else fields)
        except InputError as exc:
            return {"error": clean(str(exc)), "warnings": [clean(str(w.message)) for w in caught]}
    return {"files": digest_store(store), "attrs": json.loads(json.dumps(attrs)),
            "warnings": [clean(str(w.message)) for w in caught]}


def write_inputs(workdir: Path) -> dict[str, Path]:
    """Every shared input and the synthetic mixed VCF (plain, gzip and BGZF, written into ``workdir``), by label."""
    out = {str(p.relative_to(SHARED_DATA)): p for p in list_inputs()}
    mixed = write_mixed_vcf(workdir / "mixed.vcf")
    out["mixed.vcf"] = mixed
    with open(mixed, "rb") as src, gzip.open(workdir / "mixed.vcf.gz", "wb", compresslevel=1) as dst:
        dst.write(src.read())
    out["mixed.vcf.gz"] = workdir / "mixed.vcf.gz"
    with open(workdir / "mixed.vcf.bgz", "wb") as dst:
        subprocess.run(["bgzip", "-c", str(mixed)], stdout=dst, check=True)
    out["mixed.vcf.bgz"] = workdir / "mixed.vcf.bgz"
    return out


def compute_digests(workdir: Path, fields_of: dict[str, tuple[str, ...]] | None = None,
                    inputs: dict[str, Path] | None = None) -> dict[str, dict]:
    """Digests of every shared input and of the synthetic mixed VCF (plain, gzip and BGZF), each imported with
    the FORMAT fields ``fields_of[label]`` (default, and for labels it lacks: all of them)."""
    inputs = inputs or write_inputs(workdir)
    fields_of = fields_of or {}
    return {label: digest_import(path, label, workdir, fields_of.get(label)) for label, path in inputs.items()}


if __name__ == "__main__":  # record the fixture (only ever from the reference import path)
    with tempfile.TemporaryDirectory() as tmp:
        digests = compute_digests(Path(tmp))
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"{len(digests)} inputs -> {FIXTURE}", file=sys.stderr)
