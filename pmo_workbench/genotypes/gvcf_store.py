"""The incremental cohort store: single-sample gVCFs added batch by batch, densified lazily for QC.

This is the embedded counterpart of Hail's VariantDataset (``hl.vds.new_combiner``): variant calls and
reference data are kept apart, so a batch is added without re-reading the gVCFs of earlier batches, and a site
first seen in batch *k* is filled for the samples of earlier batches from their reference blocks.

Layout of a store folder (``<project>/data/genotypes``, :func:`cohort_store_dir`)::

    store.json                  the commit point: contigs, batches, samples, current sites file, generation
    batches/<dir>/calls.parquet  the batch's variant records: sample, contig, pos, ref, alts (comma-joined,
                                 the symbolic <NON_REF>/<*> dropped), local GT a0/a1, phased, GQ, DP, AD, PL
                                 (with the symbolic allele), FILTER, QUAL -- sorted by (contig, pos, sample)
    batches/<dir>/blocks.parquet the batch's reference blocks, compact intervals: sample, contig, start, end,
                                 GQ (the block's minimum, -1 when the caller gives none), MIN_DP, ploidy --
                                 sorted by (sample, contig, start)
    sites/<generation>.parquet   every variant site (contig, pos) of the store and the batch that first had it
    dense/g<generation>-gq<threshold>.vcz   the densified matrix (VCF Zarr layout of :mod:`.store_writer`),
                                 rebuilt on the first open after a change

**Design and trade-off.** Adding batch *k* reads only batch *k*'s gVCFs and writes only batch *k*'s files plus
the site list (whose size is bounded by the genome's variable sites, not by the number of batches), so its
cost is proportional to the batch. The dense sample x site matrix that the QC kernels read is built *lazily*,
on the first :func:`open_cohort` after a change: one pass over every batch's calls and blocks (reference
blocks looked up by binary search per sample), costing time proportional to the whole cohort, but only when
QC runs, and once per generation (cached). The alternative -- appending a batch's columns to a dense matrix
at ingest -- makes ingest O(sites x all samples) as soon as batch *k* brings new sites (every earlier
column needs the new rows), which is what the N+1 problem is about.

**Limits.** The densify pass holds the dense GT/GQ/DP arrays of all sites in memory (about 8 bytes per site and
sample, e.g. 1.6 GB for 200,000 sites x 1,000 samples) and one batch's reference blocks at a time; a
whole-genome cohort of thousands needs it done per range of sites (the batch files are sorted for that), which
is not done yet. Per-record PL is kept in the batch files but not in the dense matrix.

**Combining rules** (as GATK CombineGVCFs/GenotypeGVCFs, Hail's combiner and GLnexus do):

- A site is a (contig, POS) where at least one sample has a variant record. Records of different samples at
  the same POS are merged: the longest REF is the site's REF and shorter ones are extended with its tail
  (``C>CAGAG`` under ``CAG`` becomes ``CAG>CAGAGAG``); ALT alleles are the union, sorted by (length, text) so
  the result does not depend on batch order. GT, AD are re-indexed to the site's alleles; AD of an allele the
  sample's record lacks is 0 (GATK, and Hail's ``local_to_global`` with fill 0).
- ``<NON_REF>``/``<*>`` is dropped; a GT allele that calls it is missing. PL is kept per record with the
  symbolic allele (for GATK-style filling), but the dense matrix holds GT, GQ, DP and AD only.
- A sample without a record at a site is hom-ref when one of its reference blocks covers the site with
  GQ >= ``min_ref_gq`` (default :data:`DEFAULT_MIN_REF_GQ` = 1: a GQ-0 block, no evidence, is missing; blocks
  without any GQ, as in DRAGEN's somatic-style chrM gVCFs, count as hom-ref), and missing otherwise (no
  block: no coverage, the end of the file, or inside the sample's own deletion; DeepVariant's ``./.`` bands).
  The filled call's GQ and DP are the block's GQ and MIN_DP.
- Ploidy comes from the gVCF: a haploid block (``0``, male chrX/Y outside the PARs) fills a haploid hom-ref.
- Several records of one sample at one POS (DRAGEN's split alleles): all their alleles join the site; the
  sample's GT and AD come from the first record, as GATK CombineGVCFs keeps the first.

Examples
--------
>>> import tempfile
>>> d = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
>>> root = Path(tempfile.mkdtemp()) / "genotypes"
>>> s = add_gvcfs(root, {"HG00187": d / "HG00187.hg38.g.vcf.gz", "HG00190": d / "HG00190.hg38.g.vcf.gz"}, "b1")
>>> s["samples_added"], s["new_sites"]
(2, 52)
>>> s = add_gvcfs(root, {"HG00308": d / "HG00308.hg38.g.vcf.gz"}, "b2")
>>> s["samples_added"], s["new_sites"], s["n_sites"]
(1, 8, 60)
>>> g = open_cohort(root)
>>> g.n_samples, g.n_variants == s["n_sites"]
(3, True)
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.errors import InputError
from pmo_workbench.files import write_text_atomic

STORE_FORMAT = "pmo-gvcf-store"
STORE_VERSION = 1
MANIFEST = "store.json"
DEFAULT_MIN_REF_GQ = 1
"""A reference block fills hom-ref when its GQ is at least this (GQ 0: no evidence -> missing)."""
DENSE_CHUNK_ROWS = 10_000
_PARQUET = {"compression": "zstd", "compression_level": 3}


def cohort_store_dir(project: str | Path) -> Path:
    """Where a project's cohort store lives: ``<project>/data/genotypes``.

    Examples
    --------
    >>> cohort_store_dir("myproject").as_posix()
    'myproject/data/genotypes'
    """
    return Path(project) / "data" / "genotypes"


def is_cohort_store(path: str | Path) -> bool:
    """True when ``path`` is a cohort store folder (it has a ``store.json`` of this format)."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("format") == STORE_FORMAT
    except (OSError, ValueError):
        return False


def find_cohort_store(path: str | Path) -> Path | None:
    """The cohort store of ``path``: the folder itself when it is a store, else a project's
    :func:`cohort_store_dir` when that is one; None otherwise."""
    path = Path(path)
    for candidate in (path, cohort_store_dir(path)):
        if candidate.is_dir() and is_cohort_store(candidate):
            return candidate
    return None


def require_cohort_store(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The cohort store of ``path`` and its record, for a backend about to open it.

    Both backends' openers (:func:`open_cohort` and ``hail_combiner.open_hail_cohort``) start here, so a
    missing or empty store is refused with the same message whichever backend is asked.

    Raises
    ------
    InputError
        ``path`` holds no cohort store, or the store has no sample yet.

    Examples
    --------
    >>> require_cohort_store("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pmo_workbench.errors.InputError: /nonexistent: no cohort store here (add gVCFs with `pmo ingest` first)
    """
    root = find_cohort_store(path)
    if root is None:
        raise InputError("no cohort store here (add gVCFs with `pmo ingest` first)", file=path)
    record = read_store_record(root)
    if not active_samples(record):
        raise InputError("the cohort store has no sample", file=root / MANIFEST)
    return root, record


def read_store_record(root: str | Path) -> dict[str, Any]:
    """The store's ``store.json`` (an empty store's manifest when there is none yet)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {"format": STORE_FORMAT, "version": STORE_VERSION, "generation": 0, "contigs": [],
                "contig_length": {}, "reference_build": None, "batches": [], "samples": [], "sites": None}
    manifest = json.loads(path.read_text())
    if manifest.get("format") != STORE_FORMAT:
        raise InputError(f"not a cohort store ({MANIFEST} of another format)", file=path, field="format")
    return manifest


def active_samples(manifest: dict[str, Any]) -> list[int]:
    """Storage indexes of the store's current samples (a sample replaced by ``add_gvcfs(..., replace=...)``
    keeps its entry, marked ``replaced``, so the batch files' sample indexes stay valid)."""
    return [i for i, s in enumerate(manifest["samples"]) if not s.get("replaced")]


def store_sample_batches(path: str | Path) -> dict[str, str]:
    """``sample_id -> batch_id`` of the current samples of a cohort store (or a project holding one), in the
    store's column order: the delivery batch each sample's genotypes came from.

    Examples
    --------
    >>> import tempfile
    >>> d = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = add_gvcfs(root, {"HG00187": d / "HG00187.hg38.g.vcf.gz"}, "B1")
    >>> store_sample_batches(root)
    {'HG00187': 'B1'}
    """
    root = find_cohort_store(path)
    if root is None:
        raise InputError("no cohort store here (add gVCFs with `pmo ingest` first)", file=path)
    manifest = read_store_record(root)
    return {manifest["samples"][i]["sample_id"]: manifest["samples"][i]["batch_id"] for i in active_samples(manifest)}


def _read_all(gvcfs: dict[str, Path]) -> list[Any]:
    from pmo_workbench.genotypes.gvcf_reader import read_gvcf

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(read_gvcf, [Path(p) for p in gvcfs.values()]))


def _site_key(contig: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (contig.astype(np.int64) << 32) | pos.astype(np.int64)


def _batch_tables(data: list[Any], first_index: int, code: dict[str, int]) -> tuple[pa.Table, pa.Table]:
    calls, blocks = [], []
    for k, g in enumerate(data):
        s = first_index + k
        c = g.calls
        calls.append(pd.DataFrame({
            "sample": np.full(len(c), s, np.int32),
            "contig": c["contig"].map(code).to_numpy(np.int16),
            "pos": c["pos"].to_numpy(np.int32),
            "ref": c["ref"].astype(object),
            "alts": c["alts"].astype(object),
            "a0": c["a0"].to_numpy(np.int8), "a1": c["a1"].to_numpy(np.int8),
            "phased": c["phased"].to_numpy(bool),
            "gq": c["gq"].to_numpy(np.int16), "dp": c["dp"].to_numpy(np.int32),
            "ad": c["ad"].array, "pl": c["pl"].array,
            "filters": c["filters"].astype(object), "qual": c["qual"].to_numpy(np.float32),
            "order": np.arange(len(c), dtype=np.int32)}))
        b = g.blocks
        blocks.append(pd.DataFrame({
            "sample": np.full(len(b), s, np.int32),
            "contig": b["contig"].map(code).to_numpy(np.int16),
            "start": b["start"].to_numpy(np.int32), "end": b["end"].to_numpy(np.int32),
            "gq": b["gq"].to_numpy(np.int16), "dp": b["dp"].to_numpy(np.int32),
            "ploidy": b["ploidy"].to_numpy(np.int8)}))
    call_df = pd.concat(calls, ignore_index=True).sort_values(["contig", "pos", "sample", "order"], kind="stable")
    block_df = pd.concat(blocks, ignore_index=True).sort_values(["sample", "contig", "start"], kind="stable")
    schema = pa.schema([("sample", pa.int32()), ("contig", pa.int16()), ("pos", pa.int32()), ("ref", pa.string()),
                        ("alts", pa.string()), ("a0", pa.int8()), ("a1", pa.int8()), ("phased", pa.bool_()),
                        ("gq", pa.int16()), ("dp", pa.int32()), ("ad", pa.list_(pa.int32())),
                        ("pl", pa.list_(pa.int32())), ("filters", pa.string()), ("qual", pa.float32())])
    call_df = call_df.drop(columns="order")
    call_table = pa.Table.from_pandas(call_df, schema=schema, preserve_index=False)
    block_table = pa.Table.from_pandas(block_df, preserve_index=False)
    return call_table, block_table


def _site_counts(key: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sites of ``key`` and how many distinct samples have a record at each."""
    if len(key) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    sample = sample.astype(np.int64)
    dk, ds = np.diff(key), np.diff(sample)
    if not ((dk > 0) | ((dk == 0) & (ds >= 0))).all():  # the batch files are sorted by site, then sample
        order = np.lexsort((sample, key))
        key, sample = key[order], sample[order]
        dk, ds = np.diff(key), np.diff(sample)
    first = np.concatenate([[True], (dk != 0) | (ds != 0)])  # one per (site, sample)
    sites, counts = np.unique(key[first], return_counts=True)
    return sites, counts.astype(np.int32)


def _read_sites(root: Path, manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The store's sites: key, first batch and number of current samples with a record there.

    A sites file written before the counts were kept (no ``n_samples``) has them computed once from the
    batches' calls (the positions and sample columns only).
    """
    if not manifest["sites"]:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int32)
    old = pq.read_table(root / manifest["sites"])
    key = _site_key(old["contig"].to_numpy(), old["pos"].to_numpy())
    first = old["first_batch"].to_numpy()
    if "n_samples" in old.column_names:
        return key, first, old["n_samples"].to_numpy().astype(np.int32)
    active = np.zeros(len(manifest["samples"]), bool)
    active[active_samples(manifest)] = True
    counts = np.zeros(len(key), np.int32)
    for b in manifest["batches"]:
        t = pq.read_table(root / b["dir"] / "calls.parquet", columns=["contig", "pos", "sample"])
        smp = t["sample"].to_numpy()
        keep = active[smp]
        sites, n = _site_counts(_site_key(t["contig"].to_numpy()[keep], t["pos"].to_numpy()[keep]), smp[keep])
        counts[np.searchsorted(key, sites)] += n
    return key, first, counts


def _records_of(root: Path, manifest: dict[str, Any], indexes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Site keys and sample indexes of the variant records of the samples ``indexes`` (read from their batch
    files only)."""
    by_dir: dict[str, list[int]] = {}
    batch_dir = {b["batch_key"]: b["dir"] for b in manifest["batches"]}
    for i in indexes:
        by_dir.setdefault(batch_dir[manifest["samples"][i]["batch_key"]], []).append(i)
    keys, samples = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for d, members in by_dir.items():
        t = pq.read_table(root / d / "calls.parquet", columns=["contig", "pos", "sample"],
                          filters=[("sample", "in", members)])
        keys.append(_site_key(t["contig"].to_numpy(), t["pos"].to_numpy()))
        samples.append(t["sample"].to_numpy().astype(np.int64))
    return np.concatenate(keys), np.concatenate(samples)


def _with_batch_keys(manifest: dict[str, Any]) -> dict[str, Any]:
    """Stores written before replacement existed name a batch part by its ``batch_id`` only: give every part
    and sample record the ``batch_key`` (the part's folder) that tells parts of one delivery batch apart."""
    for b in manifest["batches"]:
        b.setdefault("batch_key", b["dir"])
    key_of = {b["batch_id"]: b["batch_key"] for b in manifest["batches"]}
    for smp in manifest["samples"]:
        smp.setdefault("batch_key", key_of.get(smp["batch_id"]))
    return manifest


def add_gvcfs(project_genotypes_dir: str | Path, gvcfs: dict[str, str | Path], batch_id: str, *,
              replace: Iterable[str] = ()) -> dict[str, Any]:
    """Add one batch of single-sample gVCFs to the cohort store (created on first use), or replace samples'
    genotypes with a redelivery.

    Only this batch's gVCFs are read: their variant records and reference blocks are written as the batch's
    own files, the store's site list is extended, and ``store.json`` is replaced atomically last. On any error
    the staged files are removed and the store is left as it was.

    A sample named in ``replace`` must be in the store: its earlier variant records and reference blocks are
    retired (its entry is marked ``replaced``; the earlier batch's files are not rewritten and its other
    samples are untouched), sites only its earlier records had leave the site list, and the new gVCF takes
    its place -- in the same commit, so a reader sees the old genotypes or the new, never a mix. The store
    then equals one built with the new gVCF in the first place (same sites, alleles and calls; the sample's
    column moves to the end).

    Parameters
    ----------
    project_genotypes_dir
        The store folder (a project's :func:`cohort_store_dir`).
    gvcfs
        Sample ID -> its gVCF (plain, gzip or BGZF; one sample column). The ID given here is the sample's
        ID in the store (the header's sample name is recorded beside it).
    batch_id
        The delivery batch; must be new to the store unless the call replaces samples (a redelivery within
        an earlier batch).
    replace
        Sample IDs of ``gvcfs`` already in the store whose genotypes the new gVCFs replace.

    Returns
    -------
    dict
        ``batch_id``, ``samples_added``, ``sample_ids``, ``samples_replaced``, ``new_sites`` (sites the store
        did not have), ``removed_sites`` (sites only the replaced records had), ``n_sites`` (all sites now),
        ``n_calls``, ``n_blocks``, ``seconds``, ``generation``.

    Raises
    ------
    InputError
        A bad gVCF (file, line and field named), an empty batch, a batch ID already in the store (unless
        replacing), a sample ID already in the store (unless in ``replace``), or a ``replace`` ID not in the
        store or not in ``gvcfs``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> f = "../shared/data/gvcf_small/glnexus_deepvariant/derived/dv_1000G_chr17_2517459/NA12878.gvcf"
    >>> add_gvcfs(root, {"NA12878": f}, "B1")["new_sites"]
    1
    >>> add_gvcfs(root, {"NA12878": f}, "B2")
    Traceback (most recent call last):
    ...
    pmo_workbench.errors.InputError: ...: field sample_id: sample NA12878 is already in the store (batch B1)
    >>> r = add_gvcfs(root, {"NA12878": f}, "B2", replace=["NA12878"])
    >>> r["samples_replaced"], r["n_sites"], store_sample_batches(root)
    (['NA12878'], 1, {'NA12878': 'B2'})
    """
    t0 = time.perf_counter()
    root = Path(project_genotypes_dir)
    manifest = _with_batch_keys(read_store_record(root))
    batch_id = str(batch_id)
    replace = [str(r) for r in replace]
    if not batch_id or batch_id.strip() != batch_id:
        raise InputError("empty batch ID or one with surrounding spaces", field="batch_id")
    if not replace and any(b["batch_id"] == batch_id for b in manifest["batches"]):
        raise InputError(f"batch {batch_id} is already in the store", file=root / MANIFEST, field="batch_id")
    if not gvcfs:
        raise InputError(f"batch {batch_id} has no gVCF", field="gvcfs")
    current = {manifest["samples"][i]["sample_id"]: i for i in active_samples(manifest)}
    for sid in replace:
        if sid not in current:
            raise InputError(f"sample {sid} is not in the store: nothing to replace", file=root / MANIFEST,
                             field="sample_id")
        if sid not in {str(k) for k in gvcfs}:
            raise InputError(f"sample {sid} to replace has no gVCF in the batch", field="gvcfs")
    for sid, path in gvcfs.items():
        if not str(sid):
            raise InputError("empty sample ID", file=path, field="sample_id")
        if str(sid) in current and str(sid) not in replace:
            raise InputError(f"sample {sid} is already in the store "
                             f"(batch {manifest['samples'][current[str(sid)]]['batch_id']})", file=path,
                             field="sample_id")
    data = _read_all({str(k): Path(v) for k, v in gvcfs.items()})

    contigs: list[str] = list(manifest["contigs"])
    lengths: dict[str, int] = dict(manifest["contig_length"])
    build = manifest["reference_build"]
    for g in data:
        for c in g.contigs:
            if c not in lengths and c in g.contig_lengths:
                lengths[c] = g.contig_lengths[c]
        new = [c for c in g.contigs if c not in set(contigs)]
        used = set(g.blocks["contig"]) | set(g.calls["contig"])
        contigs += [c for c in new if c in used or c in g.contig_lengths]
        build = build or g.reference_build
    code = {c: i for i, c in enumerate(contigs)}
    if len(contigs) > np.iinfo(np.int16).max:
        raise InputError("more than 32767 contigs", field="contig")

    first_index = len(manifest["samples"])
    call_table, block_table = _batch_tables(data, first_index, code)

    # the site list: the replaced records' sites counted out, this batch's counted in
    old_key, old_first, old_count = _read_sites(root, manifest)
    retired = [current[sid] for sid in replace]
    if retired:
        rkey, rsample = _records_of(root, manifest, retired)
        sites, n = _site_counts(rkey, rsample)
        old_count = old_count.copy()
        old_count[np.searchsorted(old_key, sites)] -= n
    before = old_key  # every site of the store had a record before this call
    batch_sites, batch_count = _site_counts(
        _site_key(call_table["contig"].to_numpy(), call_table["pos"].to_numpy()), call_table["sample"].to_numpy())
    batch_no = len(manifest["batches"])
    known = np.isin(batch_sites, old_key, assume_unique=True)
    where = np.searchsorted(old_key, batch_sites[known])
    old_count[where] += batch_count[known]
    all_key = np.concatenate([old_key, batch_sites[~known]])
    all_first = np.concatenate([old_first, np.full(int((~known).sum()), batch_no, np.int16)])
    all_count = np.concatenate([old_count, batch_count[~known]])
    order = np.argsort(all_key, kind="stable")
    all_key, all_first, all_count = all_key[order], all_first[order], all_count[order]
    live = all_count > 0
    n_new = int((~np.isin(batch_sites, before, assume_unique=True)).sum())
    n_removed = int(np.setdiff1d(before, all_key[live], assume_unique=True).size)
    all_key, all_first, all_count = all_key[live], all_first[live], all_count[live]

    generation = int(manifest["generation"]) + 1
    token = uuid.uuid4().hex[:8]
    batch_dir = f"batches/{batch_no:04d}-{token}"
    sites_file = f"sites/{generation:06d}-{token}.parquet"
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{token}"
    try:
        staging.mkdir()
        pq.write_table(call_table, staging / "calls.parquet", **_PARQUET)
        pq.write_table(block_table, staging / "blocks.parquet", row_group_size=1 << 20, **_PARQUET)
        (root / "batches").mkdir(exist_ok=True)
        (root / "sites").mkdir(exist_ok=True)
        pq.write_table(pa.table({"contig": (all_key >> 32).astype(np.int16),
                                 "pos": (all_key & 0xFFFFFFFF).astype(np.int32),
                                 "first_batch": all_first.astype(np.int16),
                                 "n_samples": all_count.astype(np.int32)}), staging / "sites.parquet", **_PARQUET)
        os.replace(staging / "sites.parquet", root / sites_file)
        os.rename(staging, root / batch_dir)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        samples = [{"sample_id": sid, "batch_id": batch_id, "batch_key": batch_dir, "file": str(Path(gvcfs[sid])),
                    "header_sample": g.sample, "source": g.source, "n_calls": len(g.calls),
                    "n_blocks": len(g.blocks)} for sid, g in zip([str(k) for k in gvcfs], data, strict=True)]
        old_samples = [dict(smp) for smp in manifest["samples"]]
        for i in retired:
            old_samples[i].update({"replaced": True, "replaced_by": batch_dir, "replaced_at": stamp})
        old_sites = manifest["sites"]
        manifest.update({
            "generation": generation, "contigs": contigs, "contig_length": lengths, "reference_build": build,
            "sites": sites_file, "samples": old_samples + samples,
            "batches": manifest["batches"] + [{
                "batch_id": batch_id, "batch_key": batch_dir, "dir": batch_dir, "n_samples": len(samples),
                "n_calls": call_table.num_rows, "n_blocks": block_table.num_rows, "new_sites": n_new,
                "replaces": sorted(replace), "removed_sites": n_removed, "added_at": stamp}],
        })
        write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if read_store_record(root).get("sites") != sites_file:
            (root / sites_file).unlink(missing_ok=True)
            shutil.rmtree(root / batch_dir, ignore_errors=True)
        raise
    if old_sites:
        (root / old_sites).unlink(missing_ok=True)
    return {"batch_id": batch_id, "samples_added": len(samples) - len(replace),
            "sample_ids": [s["sample_id"] for s in samples], "samples_replaced": sorted(replace),
            "new_sites": n_new, "removed_sites": n_removed, "n_sites": len(all_key),
            "n_calls": call_table.num_rows, "n_blocks": block_table.num_rows,
            "seconds": round(time.perf_counter() - t0, 3), "generation": generation}


# ---------------------------------------------------------------------------------------------- densify


def _site_alleles(calls: pd.DataFrame, n_sites: int) -> tuple[np.ndarray, list[str], list[str], np.ndarray,
                                                               np.ndarray]:
    """Merge the records' alleles per site.

    Returns (call -> row of the distinct-record table ``u``, the sites' REF, the sites' ALT strings, the
    per-``u`` local->global allele map [u, max local alleles] and the sites' allele counts).
    """
    keyed = pd.DataFrame({"site": calls["site"].to_numpy(), "ref": calls["ref"].to_numpy(),
                          "alts": calls["alts"].to_numpy()})
    # distinct (site, REF, ALTs) by hashing each column, then the combined integer codes (not a MultiIndex,
    # whose tuples cost seconds per million records)
    ref_code, _ = pd.factorize(keyed["ref"])
    alt_code, _ = pd.factorize(keyed["alts"])
    pair, _ = pd.factorize(ref_code.astype(np.int64) * (int(alt_code.max(initial=0)) + 1) + alt_code)
    codes, _ = pd.factorize(keyed["site"].to_numpy().astype(np.int64) * (int(pair.max(initial=0)) + 1) + pair)
    _, first = np.unique(codes, return_index=True)  # codes are numbered by first appearance
    u = keyed.iloc[first].reset_index(drop=True)
    u_site = u["site"].to_numpy()
    u_ref = u["ref"].tolist()
    u_alts = [a.split(",") if a else [] for a in u["alts"].tolist()]
    site_ref = [""] * n_sites
    for s, r in zip(u_site, u_ref, strict=True):
        if len(r) > len(site_ref[s]):
            site_ref[s] = r
    site_alts: list[set[str]] = [set() for _ in range(n_sites)]
    norm: list[list[str]] = []
    for s, r, alts in zip(u_site, u_ref, u_alts, strict=True):
        big = site_ref[s]
        if not big.startswith(r):
            raise InputError(f"records at one site disagree on the reference allele ({r[:10]} vs {big[:10]})",
                             field="REF")
        tail = big[len(r):]
        na = [a if a == "*" or a.startswith("<") else a + tail for a in alts]  # '*': a deletion upstream
        norm.append(na)
        site_alts[s].update(na)
    ordered = [sorted(a, key=lambda x: (len(x), x)) for a in site_alts]
    width = max((len(a) for a in u_alts), default=0) + 1
    amap = np.zeros((len(u), width), dtype=np.int8)
    for k, (s, na) in enumerate(zip(u_site, norm, strict=True)):
        index = {a: i + 1 for i, a in enumerate(ordered[s])}
        for j, a in enumerate(na, start=1):
            amap[k, j] = index[a]
    n_alleles = np.array([len(a) + 1 for a in ordered], dtype=np.int16)
    return codes.astype(np.int64), site_ref, [",".join(a) for a in ordered], amap, n_alleles


def _fill_blocks(blocks: pa.Table, site_key: np.ndarray, has_call: np.ndarray, gt: np.ndarray, gq: np.ndarray,
                 dp: np.ndarray, min_ref_gq: int, column: np.ndarray) -> None:
    """Hom-ref (GQ, MIN_DP) where a sample's block covers a site and the sample has no call there.
    ``column``: storage index -> dense column (-1 for a replaced sample, whose blocks are skipped)."""
    sample = blocks["sample"].to_numpy()
    if len(sample) == 0:
        return
    bkey = _site_key(blocks["contig"].to_numpy(), blocks["start"].to_numpy())
    bend = _site_key(blocks["contig"].to_numpy(), blocks["end"].to_numpy())
    bgq = blocks["gq"].to_numpy()
    bdp = blocks["dp"].to_numpy()
    bploidy = blocks["ploidy"].to_numpy()
    bounds = np.flatnonzero(np.diff(sample)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(sample)]])
    for a, b in zip(starts, stops, strict=True):
        s = int(column[sample[a]])
        if s < 0:
            continue
        idx = np.searchsorted(bkey[a:b], site_key, side="right") - 1
        ok = idx >= 0
        j = np.where(ok, idx, 0) + a
        ok &= bend[j] >= site_key
        q = bgq[j]
        ok &= (q >= min_ref_gq) | (q < 0)
        ok &= ~has_call[:, s]  # the sample's own record wins, even a no-call (DeepVariant's RefCall)
        rows = np.flatnonzero(ok)
        gt[rows, s, 0] = 0
        gt[rows, s, 1] = np.where(bploidy[j[rows]] == 1, -2, 0)
        gq[rows, s] = q[rows]
        dp[rows, s] = bdp[j[rows]]


def _build_dense(root: Path, manifest: dict[str, Any], min_ref_gq: int, out: Path) -> None:
    from pmo_workbench.genotypes.store_writer import StoreWriter

    sites = pq.read_table(root / manifest["sites"])
    site_key = _site_key(sites["contig"].to_numpy(), sites["pos"].to_numpy())
    active = active_samples(manifest)
    column = np.full(len(manifest["samples"]), -1, np.int64)  # storage index -> dense column
    column[active] = np.arange(len(active))
    n_sites, n_samples = len(site_key), len(active)
    call_parts = []
    for b in manifest["batches"]:
        part = pq.read_table(root / b["dir"] / "calls.parquet")
        keep = column[part["sample"].to_numpy()] >= 0
        call_parts.append(part if keep.all() else part.filter(pa.array(keep)))
    calls_t = pa.concat_tables(call_parts)
    calls_t = calls_t.set_column(calls_t.schema.get_field_index("sample"), "sample",
                                 pa.array(column[calls_t["sample"].to_numpy()].astype(np.int32)))
    calls = pd.DataFrame({
        "site": np.searchsorted(site_key, _site_key(calls_t["contig"].to_numpy(), calls_t["pos"].to_numpy())),
        "sample": calls_t["sample"].to_numpy(), "ref": calls_t["ref"].to_numpy(zero_copy_only=False),
        "alts": calls_t["alts"].to_numpy(zero_copy_only=False)})
    u_of_call, site_ref, site_alt, amap, n_alleles = _site_alleles(calls, n_sites)
    # first record of each (site, sample); batches are concatenated in order and sorted within each batch
    order = np.lexsort((np.arange(len(calls)), calls["sample"].to_numpy(), calls["site"].to_numpy()))
    site_s = calls["site"].to_numpy()[order]
    samp_s = calls["sample"].to_numpy()[order]
    first = np.ones(len(order), bool)
    first[1:] = (site_s[1:] != site_s[:-1]) | (samp_s[1:] != samp_s[:-1])
    sel = order[first]
    c_site, c_sample, c_u = site_s[first], samp_s[first], u_of_call[sel]

    gt = np.full((n_sites, n_samples, 2), -1, np.int8)
    gq = np.full((n_sites, n_samples), -1, np.int16)
    dp = np.full((n_sites, n_samples), -1, np.int32)
    for c in (0, 1):
        local = calls_t[f"a{c}"].to_numpy()[sel].astype(np.int64)
        glob = np.where(local > 0, amap[c_u, np.clip(local, 0, amap.shape[1] - 1)], local)
        gt[c_site, c_sample, c] = glob.astype(np.int8)
    gq[c_site, c_sample] = calls_t["gq"].to_numpy()[sel]
    dp[c_site, c_sample] = calls_t["dp"].to_numpy()[sel]
    has_call = np.zeros((n_sites, n_samples), bool)
    has_call[c_site, c_sample] = True
    del calls
    for b in manifest["batches"]:
        _fill_blocks(pq.read_table(root / b["dir"] / "blocks.parquet"), site_key, has_call, gt, gq, dp, min_ref_gq,
                     column)
    del has_call

    # AD, re-indexed to the site's alleles (0 for an allele the sample's record lacks, -1 where none)
    ad_col = calls_t["ad"]
    ad_flat = pa.chunked_array(ad_col).combine_chunks() if not isinstance(ad_col, pa.Array) else ad_col
    ad_flat = ad_flat.combine_chunks() if isinstance(ad_flat, pa.ChunkedArray) else ad_flat
    offsets = ad_flat.offsets.to_numpy()
    values = ad_flat.values.to_numpy(zero_copy_only=False)
    valid = ad_flat.is_valid().to_numpy(zero_copy_only=False)
    has_ad = valid[sel]
    rows_s = c_site[has_ad]
    rows_p = c_sample[has_ad]
    ad_sparse_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    sel_ad = sel[has_ad]
    lens = offsets[sel_ad + 1] - offsets[sel_ad]
    for j in range(int(lens.max()) if len(lens) else 0):
        have = lens > j
        vals = values[offsets[sel_ad[have]] + j]
        glob = amap[c_u[has_ad][have], j] if j > 0 else np.zeros(int(have.sum()), np.int64)
        ad_sparse_rows.append((rows_s[have], rows_p[have], glob.astype(np.int64), vals))

    variants_contig = (site_key >> 32).astype(np.int16)
    position = (site_key & 0xFFFFFFFF).astype(np.int64)
    writer = StoreWriter(out, n_samples=n_samples, ploidy=2, chunk_rows=DENSE_CHUNK_ROWS,
                         fields=("DP", "GQ", "AD"))
    try:
        # the AD entries sorted by site, to cut them per chunk of rows
        if ad_sparse_rows:
            a_site = np.concatenate([r[0] for r in ad_sparse_rows])
            a_samp = np.concatenate([r[1] for r in ad_sparse_rows])
            a_all = np.concatenate([r[2] for r in ad_sparse_rows])
            a_val = np.concatenate([r[3] for r in ad_sparse_rows])
            o = np.argsort(a_site, kind="stable")
            a_site, a_samp, a_all, a_val = a_site[o], a_samp[o], a_all[o], a_val[o]
            has_any = np.zeros((n_sites, n_samples), bool)
            has_any[a_site, a_samp] = True
        else:
            a_site = a_samp = a_all = a_val = np.zeros(0, np.int64)
            has_any = np.zeros((n_sites, n_samples), bool)
        for start in range(0, n_sites, DENSE_CHUNK_ROWS):
            stop = min(start + DENSE_CHUNK_ROWS, n_sites)
            w = int(n_alleles[start:stop].max())
            ad = np.full((stop - start, n_samples, w), -1, np.int32)
            ad[has_any[start:stop]] = 0
            lo, hi = np.searchsorted(a_site, [start, stop])
            ad[a_site[lo:hi] - start, a_samp[lo:hi], a_all[lo:hi]] = a_val[lo:hi]
            writer.add_calls(gt[start:stop], dp[start:stop], gq[start:stop], ad)
        writer.finish_calls()
        contigs = manifest["contigs"]
        writer.write_array("sample_id", np.array([manifest["samples"][i]["sample_id"] for i in active], dtype=object))
        writer.write_array("variant_contig", variants_contig)
        writer.write_array("variant_position", position)
        writer.write_array("variant_id", np.array([""] * n_sites, dtype=object))
        writer.write_array("variant_ref", np.array(site_ref, dtype=object))
        writer.write_array("variant_alt", np.array(site_alt, dtype=object))
        writer.write_array("variant_n_alleles", n_alleles)
        writer.write_array("variant_filters", np.array(["."] * n_sites, dtype=object))
        writer.write_array("variant_quality", np.full(n_sites, np.nan, np.float32))
        writer.wait()
        writer.group.attrs.update({
            "source_format": "gvcf_store", "source_kind": "cohort", "source": str(root),
            "contig_id": contigs, "contig_length": [manifest["contig_length"].get(c) for c in contigs],
            "filter_id": [], "fields": ["DP", "GQ", "AD"], "reference_build": manifest["reference_build"],
            "ploidy": 2, "n_variants": n_sites, "n_samples": n_samples, "generation": manifest["generation"],
            "min_ref_gq": min_ref_gq, "batches": list(dict.fromkeys(b["batch_id"] for b in manifest["batches"])),
            "sample_batch": [manifest["samples"][i]["batch_id"] for i in active], "warnings": []})
    finally:
        writer.close()


def open_cohort(path: str | Path, cache_dir: str | Path | None = None, *, progress: bool = False,
                reference_build: str | None = None, min_ref_gq: int = DEFAULT_MIN_REF_GQ, **_: Any):
    """Open a cohort store (or a project folder holding one) as an embedded-backend genotype set.

    The dense matrix of the store's current generation is built on first use (see the module docstring) in
    ``dense/`` inside the store and reused until the next :func:`add_gvcfs`. ``cache_dir`` and ``progress``
    are accepted for the opener signature of :func:`pmo_workbench.genotypes.open_genotypes` and not used.

    Raises
    ------
    InputError
        ``path`` holds no cohort store, or the store is empty.
    """
    from pmo_workbench.genotypes import cache
    from pmo_workbench.genotypes.store import Genotypes

    root, manifest = require_cohort_store(path)
    dense_dir = root / "dense"
    dense_dir.mkdir(exist_ok=True)
    name = f"g{int(manifest['generation']):06d}-gq{int(min_ref_gq)}.vcz"
    final = dense_dir / name
    if not cache.is_complete(final):
        cache.build_store_atomically(final, lambda tmp: _build_dense(root, manifest, int(min_ref_gq), tmp))
        for old in dense_dir.glob("g*.vcz"):
            if old.name != name and not old.name.startswith(f"g{int(manifest['generation']):06d}-"):
                shutil.rmtree(old, ignore_errors=True)
    return Genotypes(final, path=root, reference_build=reference_build)
