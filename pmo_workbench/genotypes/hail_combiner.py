"""The Hail side of the cohort store: single-sample gVCFs into a Hail VariantDataset with ``hl.vds.new_combiner``,
batch by batch (a later batch combines the earlier VDS with the new gVCFs), densified for QC.

:func:`dense_calls_hail` applies the embedded store's rules (:mod:`pmo_workbench.genotypes.gvcf_store`) to
``hl.vds.to_dense_mt``: a variant entry's call is ``lgt_to_gt(LGT, LA)``; an entry filled from a reference block
(``LA`` missing, ``LGT`` from the block, so haploid blocks stay haploid) is hom-ref when the block's GQ is at
least ``min_ref_gq`` (or the block has no GQ) and missing otherwise; no block is missing. ``tests/hail``
holds the two backends' matrices equal on real gVCFs.

Examples
--------
>>> from pathlib import Path
>>> d = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
>>> vds = combine_gvcfs_hail({"HG00187": d / "HG00187.hg38.g.vcf.gz"}, Path("/tmp/x.vds"))  # doctest: +SKIP
>>> variants, samples, gt = dense_calls_hail(vds)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.gvcf_store import DEFAULT_MIN_REF_GQ


def _contigs(paths: Sequence[Path]) -> list[str]:
    """Contigs with records, from the tabix indexes (``tabix -l``)."""
    seen: dict[str, None] = {}
    for p in paths:
        res = subprocess.run(["tabix", "-l", str(p)], capture_output=True, text=True)
        if res.returncode != 0:
            raise InputError("Hail's combiner needs a BGZF gVCF with a tabix index (.tbi)", file=p)
        seen.update(dict.fromkeys(res.stdout.split()))
    return list(seen)


def combine_gvcfs_hail(gvcfs: dict[str, str | Path], vds_out: str | Path, *, existing_vds: Sequence[str | Path] = (),
                       reference_genome: str = "GRCh38", tmp_dir: str | Path | None = None,
                       master: str | None = None) -> Path:
    """Combine single-sample gVCFs (BGZF + .tbi), and optionally earlier VDSs, into a VDS at ``vds_out``.

    Parameters
    ----------
    gvcfs
        Sample ID -> gVCF; the IDs name the VDS columns (``gvcf_sample_names``, with the first file's header).
    vds_out
        The VDS to write (replaced).
    existing_vds
        VDSs of earlier batches, combined with the new gVCFs without re-reading their gVCFs.
    reference_genome
        Hail's reference genome of the files' contigs.
    tmp_dir, master
        Hail's temporary folder, and the Spark master when Hail is not running yet.

    Returns
    -------
    Path
        ``vds_out``.
    """
    from pmo_workbench.genotypes.hail_backend import init_hail

    hl = init_hail(master)
    paths = [Path(p).resolve() for p in gvcfs.values()]
    tmp = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.gettempdir()) / "pmo_hail_combiner"
    tmp.mkdir(parents=True, exist_ok=True)
    out = Path(vds_out)
    shutil.rmtree(out, ignore_errors=True)
    rg = hl.get_reference(reference_genome)
    intervals = [hl.Interval(hl.Locus(c, 1, rg), hl.Locus(c, rg.lengths[c], rg), includes_end=True)
                 for c in _contigs(paths)]
    combiner = hl.vds.new_combiner(
        output_path=str(out), temp_path=str(tmp), gvcf_paths=[str(p) for p in paths],
        vds_paths=[str(Path(v).resolve()) for v in existing_vds], reference_genome=reference_genome,
        intervals=intervals, gvcf_sample_names=[str(s) for s in gvcfs], gvcf_external_header=str(paths[0]),
        force=True)
    combiner.run()
    return out


def dense_calls_hail(vds_path: str | Path, *, min_ref_gq: int = DEFAULT_MIN_REF_GQ
                     ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The dense genotype matrix of a VDS under the embedded store's rules.

    Returns ``(variants, sample_ids, gt)``: one row per variant site sorted by locus (``contig``, ``position``,
    ``ref``, ``alt`` comma-joined in Hail's order), the column IDs, and int8 calls [sites, samples, 2] with
    -1 missing and -2 for the absent second allele of a haploid call (the embedded store's encoding).
    """
    from pmo_workbench.genotypes.hail_backend import init_hail

    hl = init_hail()
    vds = hl.vds.read_vds(str(vds_path))
    mt = hl.vds.to_dense_mt(vds)
    ref_ok = hl.is_missing(mt.GQ) | (mt.GQ >= min_ref_gq)
    gt = hl.if_else(hl.is_defined(mt.LA), hl.vds.lgt_to_gt(mt.LGT, mt.LA),
                    hl.or_missing(ref_ok, mt.LGT))
    mt = mt.select_entries(GT=gt).add_row_index("ri")
    samples = np.asarray(mt.s.collect(), dtype=str)
    rows = mt.rows().key_by()
    rows = rows.select("ri", contig=rows.locus.contig, position=rows.locus.position, ref=rows.alleles[0],
                       alt=hl.delimit(rows.alleles[1:], ","))
    variants = rows.to_pandas()
    mt = mt.select_entries(a0=hl.or_else(mt.GT[0], -1),
                           a1=hl.if_else(hl.is_defined(mt.GT), hl.if_else(mt.GT.ploidy == 1, -2, mt.GT[1]), -1))
    df = mt.entries().key_by().select("s", "ri", "a0", "a1").to_pandas()
    col = {s: i for i, s in enumerate(samples)}
    out = np.full((len(variants), len(samples), 2), -1, np.int8)
    r = df["ri"].to_numpy(np.int64)
    c = df["s"].map(col).to_numpy(np.int64)
    out[r, c, 0] = df["a0"].to_numpy(np.int64)
    out[r, c, 1] = df["a1"].to_numpy(np.int64)
    variants = variants.sort_values("ri").drop(columns=["locus", "alleles", "ri"], errors="ignore")
    return variants.reset_index(drop=True), samples, out


def genotype_strings(variants: pd.DataFrame, gt: np.ndarray) -> dict[tuple[str, int], list[str]]:
    """Each site's calls as sorted allele strings per sample (``REF``, the ALT sequence, ``.``), for comparing
    matrices whose allele order differs (Hail's and the embedded store's).

    Examples
    --------
    >>> v = pd.DataFrame({"contig": ["1"], "position": [5], "ref": ["A"], "alt": ["C,G"]})
    >>> genotype_strings(v, np.array([[[0, 2], [-1, -1], [1, -2]]], dtype=np.int8))
    {('1', 5): ['A/G', './.', 'C']}
    """
    out: dict[tuple[str, int], list[str]] = {}
    for i, row in enumerate(variants.itertuples(index=False)):
        alleles = [row.ref] + (row.alt.split(",") if row.alt else [])
        calls = []
        for a0, a1 in gt[i].tolist():
            parts = [alleles[a] if a >= 0 else "." for a in (a0, a1) if a != -2]
            calls.append("/".join(sorted(parts)))
        out[(str(row.contig), int(row.position))] = calls
    return out



def _hail_calls(hl: Any, mt: Any, min_ref_gq: int) -> Any:
    """Entries GT, GQ, DP, AD of a dense VDS MatrixTable under the embedded store's rules."""
    variant = hl.is_defined(mt.LA)
    ref_ok = hl.is_missing(mt.GQ) | (mt.GQ >= min_ref_gq)
    gt = hl.if_else(variant, hl.vds.lgt_to_gt(mt.LGT, mt.LA), hl.or_missing(ref_ok, mt.LGT))
    fields = {"GT": gt}
    if "GQ" in mt.entry:
        fields["GQ"] = hl.or_missing(variant | ref_ok, mt.GQ)
    if "MIN_DP" in mt.entry or "DP" in mt.entry:
        dp = mt.DP if "DP" in mt.entry else hl.missing(hl.tint32)
        min_dp = mt.MIN_DP if "MIN_DP" in mt.entry else dp
        fields["DP"] = hl.if_else(variant, dp, hl.or_missing(ref_ok, hl.or_else(min_dp, dp)))
    if "LAD" in mt.entry:
        fields["AD"] = hl.or_missing(variant & hl.is_defined(mt.LAD) & (hl.len(mt.LAD) == hl.len(mt.LA)),
                                     hl.vds.local_to_global(mt.LAD, mt.LA, hl.len(mt.alleles), 0, number="R"))
    return mt.select_entries(**fields)


def open_hail_cohort(path: str | Path, cache_dir: str | Path | None = None, *, progress: bool = False,
                     reference_build: str | None = None, master: str | None = None,
                     tmp_dir: str | Path | None = None, spark_conf: dict[str, str] | None = None,
                     min_ref_gq: int = DEFAULT_MIN_REF_GQ) -> Any:
    """Open a project's cohort store with the Hail backend: its batches combined into a VDS by
    ``hl.vds.new_combiner`` (each batch not yet in the VDS is combined with the previous VDS, so earlier batches'
    gVCFs are not re-read), densified (``hl.vds.to_dense_mt``, the embedded store's rules) into a cached
    MatrixTable that the Hail kernels read.

    The VDSs and the dense MatrixTable live in ``hail/`` inside the store. The gVCFs of a batch not yet
    combined must still be at the paths ``pmo ingest`` recorded. A sample replaced in the store since it was
    combined leaves the VDS first (``hl.vds.filter_samples`` with its dead alleles and sites removed), then its
    new gVCF is combined like any other.
    """
    from pmo_workbench.files import write_text_atomic
    from pmo_workbench.genotypes import cache
    from pmo_workbench.genotypes.gvcf_store import active_samples, require_cohort_store
    from pmo_workbench.genotypes.hail_backend import (
        HAIL_CACHE_VERSION,
        HailGenotypes,
        _collect_rows_in_key_order,
        _variants_table,
        collect_cols,
        init_hail,
    )

    del progress, cache_dir
    root, manifest = require_cohort_store(path)
    hl = init_hail(master, tmp_dir, spark_conf=spark_conf)
    build = reference_build or manifest.get("reference_build") or "GRCh38"
    hail_dir = root / "hail"
    (hail_dir / "vds").mkdir(parents=True, exist_ok=True)
    state_file = hail_dir / "state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"members": [], "vds": None}
    if "members" not in state:  # a state written before replacement: batches combined, by ID
        done = set(state.get("batches", []))
        state = {"members": [i for i, s in enumerate(manifest["samples"]) if s["batch_id"] in done],
                 "vds": state.get("vds")}
    target = active_samples(manifest)
    members = set(state["members"])
    retire = sorted(members - set(target))  # replaced since they were combined: out of the VDS first
    if retire and state["vds"]:
        vds = hl.vds.read_vds(str(root / state["vds"]))
        vds = hl.vds.filter_samples(vds, [manifest["samples"][i]["sample_id"] for i in retire], keep=False,
                                    remove_dead_alleles=True)
        out = hail_dir / "vds" / f"{uuid.uuid4().hex[:8]}.vds"
        vds.write(str(out), overwrite=True)
        old = state["vds"]
        state = {"members": sorted(members - set(retire)), "vds": str(out.relative_to(root))}
        write_text_atomic(state_file, json.dumps(state) + "\n")
        shutil.rmtree(root / old, ignore_errors=True)
    parts: dict[str, list[int]] = {}
    for i in target:  # each batch part not yet combined, in the store's order
        if i not in state["members"]:
            smp = manifest["samples"][i]
            parts.setdefault(smp.get("batch_key") or smp["batch_id"], []).append(i)
    for indexes in parts.values():
        files = {manifest["samples"][i]["sample_id"]: Path(manifest["samples"][i]["file"]) for i in indexes}
        out = hail_dir / "vds" / f"{uuid.uuid4().hex[:8]}.vds"
        combine_gvcfs_hail(files, out, existing_vds=[root / state["vds"]] if state["vds"] else [],
                           reference_genome=build, tmp_dir=hail_dir / "tmp")
        old = state["vds"]
        state = {"members": sorted(set(state["members"]) | set(indexes)), "vds": str(out.relative_to(root))}
        write_text_atomic(state_file, json.dumps(state) + "\n")
        if old:
            shutil.rmtree(root / old, ignore_errors=True)
    store = hail_dir / f"dense-g{int(manifest['generation']):06d}-gq{int(min_ref_gq)}-r{HAIL_CACHE_VERSION}"
    if not cache.is_complete(store):
        def make(tmp: Path) -> None:
            vds = hl.vds.read_vds(str(root / state["vds"]))
            # every entry defined (a sample without data at a site is a no-call, as in an imported VCF, so
            # hl.sample_qc counts it in n_not_called)
            mt = _hail_calls(hl, hl.vds.to_dense_mt(vds), int(min_ref_gq)).unfilter_entries()
            mt = mt.add_row_index("_pmo_row")
            mt = mt.annotate_rows(rsid=hl.missing(hl.tstr), qual=hl.missing(hl.tfloat64),
                                  filters=hl.missing(hl.tset(hl.tstr)),
                                  file_order=hl.tuple([hl.int64(0), hl.int64(mt._pmo_row)]))
            mt = mt.select_rows("rsid", "qual", "filters", "file_order")
            mt.write(str(tmp / "matrix.mt"), overwrite=True)
            written = hl.read_matrix_table(str(tmp / "matrix.mt"))
            keyed, order = _collect_rows_in_key_order(written, rsid=written.rsid, qual=written.qual,
                                                      filters=written.filters)
            file_index = np.empty(len(keyed), dtype=np.int64)
            file_index[order] = np.arange(len(keyed), dtype=np.int64)
            np.save(tmp / "variant_index.npy", file_index)
            variants = _variants_table(keyed.iloc[order].reset_index(drop=True), {})
            variants.to_parquet(tmp / "variants.parquet", index=False)
            fields = [f for f in ("DP", "GQ", "AD") if f in written.entry]
            meta = {"reference_build": build, "reference_genome": build, "fields": fields,
                    "source_format": "gvcf_store", "source": str(root), "original_contig": {},
                    "sample_id": collect_cols(written)["s"].astype(str).tolist(), "n_variants": len(variants),
                    "hail_cache_version": HAIL_CACHE_VERSION, "generation": manifest["generation"],
                    "min_ref_gq": int(min_ref_gq)}
            (tmp / "meta.json").write_text(json.dumps(meta))

        cache.build_store_atomically(store, make)
        for old in hail_dir.glob("dense-g*"):
            if old != store and not old.name.startswith(f"dense-g{int(manifest['generation']):06d}-"):
                shutil.rmtree(old, ignore_errors=True)
    return HailGenotypes(store, path=root, reference_build=reference_build)
