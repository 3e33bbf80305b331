"""The C import path writes the stores the numba import path wrote, on every VCF of ../shared/data and on a
synthetic file that spans many units of work (see store_identity.py for how the reference was recorded).

For every input: the same outcome (the same error text, or a store); the same warnings; the same files; the
same content in every file (metadata bytes, and every chunk as Blosc decompresses it); and the same bytes in
every file whose reference bytes did not depend on Blosc's thread timing (all chunks of the call arrays, the
metadata, and every chunk Blosc compressed as a single block). Also: the C path writes the same bytes twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_identity import FIXTURE, SHARED_DATA, compute_digests, digest_import, list_inputs

REFERENCE = json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {}


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return json.loads(json.dumps(compute_digests(tmp_path_factory.mktemp("identity"))))


def _stable_bytes(label: str) -> set[str]:
    """Files whose reference bytes are reproducible: metadata, chunks of one Blosc block, and the chunks of the
    call arrays (the reference compressed them on a worker thread, where Blosc runs single-threaded)."""
    return {f for f, (_, _, blocks) in REFERENCE[label]["files"].items()
            if blocks <= 1 or f.startswith(("call_", "variant_packable/"))}


def test_every_shared_vcf_is_covered() -> None:
    labels = {str(p.relative_to(SHARED_DATA)) for p in list_inputs()}
    assert labels <= set(REFERENCE), sorted(labels - set(REFERENCE))
    assert len(labels) >= 70 and {"mixed.vcf", "mixed.vcf.gz", "mixed.vcf.bgz"} <= set(REFERENCE)
    # the reference holds rejected files, stores with DP/GQ/AD, multi-chunk stores
    assert sum("error" in v for v in REFERENCE.values()) >= 8
    assert any("call_AD/.zarray" in v.get("files", {}) for v in REFERENCE.values())
    assert "call_genotype/3.0.0" in REFERENCE["mixed.vcf"]["files"]


@pytest.mark.parametrize("label", sorted(REFERENCE))
def test_store_is_the_reference_store(digests: dict[str, dict], label: str) -> None:
    ref, new = REFERENCE[label], digests[label]
    assert new.get("error") == ref.get("error")
    assert new["warnings"] == ref["warnings"]
    if "error" in ref:
        return
    assert new["attrs"] == ref["attrs"]
    assert sorted(new["files"]) == sorted(ref["files"])
    content = {f for f in ref["files"] if new["files"][f][1:] != ref["files"][f][1:]}
    assert not content, f"content differs: {sorted(content)[:10]}"
    stable = _stable_bytes(label)
    raw = {f for f in stable if new["files"][f][0] != ref["files"][f][0]}
    assert not raw, f"bytes differ: {sorted(raw)[:10]}"


def test_the_c_path_writes_the_same_bytes_twice(digests: dict[str, dict], tmp_path: Path) -> None:
    for label in ("hail_1kg_chr20_100/sample.vcf.gz", "giab_ashkenazi_trio/ashk-trio.vcf.gz"):
        again = digest_import(SHARED_DATA / label, label, tmp_path)
        assert again["files"] == digests[label]["files"]
