"""The Hail side of the cohort store: single-sample gVCFs into a Hail VariantDataset with ``hl.vds.new_combiner``,
batch by batch (a later batch combines the earlier VDS with the new gVCFs), densified for QC.

:func:`dense_calls_hail` applies the embedded store's rules (:mod:`pmo_workbench.genotypes.gvcf_store`) to
``hl.vds.to_dense_mt``: a variant entry's call is ``lgt_to_gt(LGT, LA)``; an entry filled from a reference block
(``LA`` missing, ``LGT`` from the block, so haploid blocks stay haploid) is hom-ref when the block's GQ is at
least ``min_ref_gq`` (or the block has no GQ) and missing otherwise; no block is missing. ``tests/hail``
holds the two backends' matrices equal on real gVCFs.

Example
-------
>>> from pathlib import Path
>>> d = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
>>> vds = combine_gvcfs_hail({"HG00187": d / "HG00187.hg38.g.vcf.gz"}, Path("/tmp/x.vds"))  # doctest: +SKIP
>>> variants, samples, gt = dense_calls_hail(vds)  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

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
    mt = mt.select_entries(GT=gt).add_row_index("_row")
    samples = np.asarray(mt.s.collect(), dtype=str)
    rows = mt.rows()
    rows = rows.select(contig=rows.locus.contig, position=rows.locus.position, ref=rows.alleles[0],
                       alt=hl.delimit(rows.alleles[1:], ","), row=rows._row)
    variants = rows.to_pandas()
    entries = mt.select_entries(a0=hl.or_else(mt.GT[0], -1),
                                a1=hl.if_else(hl.is_defined(mt.GT),
                                              hl.if_else(mt.GT.ploidy == 1, -2, mt.GT[1]), -1)).entries()
    e = entries.select(row=entries._row, a0=entries.a0, a1=entries.a1).key_by().select("row", "s", "a0", "a1")
    df = e.to_pandas()
    col = {s: i for i, s in enumerate(samples)}
    out = np.full((len(variants), len(samples), 2), -1, np.int8)
    r = df["row"].to_numpy(np.int64)
    c = df["s"].map(col).to_numpy(np.int64)
    out[r, c, 0] = df["a0"].to_numpy(np.int64)
    out[r, c, 1] = df["a1"].to_numpy(np.int64)
    variants = variants.sort_values("row").drop(columns=["locus", "alleles", "row"], errors="ignore")
    return variants.reset_index(drop=True), samples, out


def genotype_strings(variants: pd.DataFrame, gt: np.ndarray) -> dict[tuple[str, int], list[str]]:
    """Each site's calls as sorted allele strings per sample (``REF``, the ALT sequence, ``.``), for comparing
    matrices whose allele order differs (Hail's and the embedded store's).

    Example
    -------
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

