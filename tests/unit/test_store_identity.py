"""The C import path writes the stores the numba import path wrote, on every VCF of ../shared/data and on a
synthetic file that spans many units of work (see store_identity.py for how the reference was recorded).

For every input: the same outcome (the same error text, or a store); the same warnings; the same files; the
same content in every file (metadata bytes, and every chunk as Blosc decompresses it); and the same bytes in
every file whose reference bytes did not depend on Blosc's thread timing (all chunks of the call arrays, the
metadata, and every chunk Blosc compressed as a single block). Also: the C path writes the same bytes twice.

The reference stores hold every FORMAT field (DP, GQ, AD) their input declares: each input is imported here with
the fields its reference store holds -- none for a GT-only input, so the default (GT-only) import is the one held
to the reference there. A GT-only import of an input with FORMAT fields is the reference store without those
fields' arrays, file for file (#16).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_identity import FIXTURE, SHARED_DATA, compute_digests, digest_import, list_inputs, write_inputs

REFERENCE = json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {}
FIELDS_OF = {label: tuple(ref.get("attrs", {}).get("fields", ())) for label, ref in REFERENCE.items()}
"""The FORMAT fields each reference store holds (none for GT-only inputs and rejected files)."""
WITH_FIELDS = sorted(label for label, fields in FIELDS_OF.items() if fields)
FIELD_WARNINGS = ("a DP/GQ/AD value", "AD has more values")
"""Warnings about the values of DP/GQ/AD: a GT-only import does not read those values."""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]) -> dict[str, dict]:
    return json.loads(json.dumps(compute_digests(tmp_path_factory.mktemp("identity"), FIELDS_OF, inputs)))


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
        again = digest_import(SHARED_DATA / label, label, tmp_path, FIELDS_OF[label])
        assert again["files"] == digests[label]["files"]


@pytest.mark.parametrize("label", WITH_FIELDS)
def test_a_gt_only_store_is_the_reference_store_without_its_fields(inputs: dict[str, Path], label: str,
                                                                    tmp_path: Path) -> None:
    ref = REFERENCE[label]
    new = json.loads(json.dumps(digest_import(inputs[label], label, tmp_path, ())))
    assert new["warnings"] == [w for w in ref["warnings"] if not any(t in w for t in FIELD_WARNINGS)]
    assert new["attrs"] == {**ref["attrs"], "fields": [], "fields_not_imported": ref["attrs"]["fields"]}
    planes = ("call_DP/", "call_GQ/", "call_AD/")
    kept = {f for f in ref["files"] if not f.startswith(planes) and f != ".zattrs"}
    assert sorted(set(new["files"]) - {".zattrs"}) == sorted(kept)
    assert not {f for f in kept if new["files"][f][1:] != ref["files"][f][1:]}
    stable = _stable_bytes(label) & kept
    assert not {f for f in stable if new["files"][f][0] != ref["files"][f][0]}
