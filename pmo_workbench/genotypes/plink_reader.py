"""Import a PLINK 1 binary fileset (.bed/.bim/.fam) into the same VCF Zarr store as a VCF.

ALT is the ``.bim`` A1 allele and REF the A2 allele (plink2's convention when it reads a ``.bed``). PLINK
stores haploid calls as homozygous, so, as PLINK does, calls of males (``.fam`` sex 1) on non-PAR X and on
Y, and every call on MT, are stored haploid (``[a, -2]``); a heterozygous haploid call becomes missing.

Examples
--------
>>> decode_bed_block(np.array([[0b11_10_01_00]], dtype=np.uint8), 4)[0].tolist()
[[1, 1], [-1, -1], [0, 1], [0, 0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.contigs import classify_contig, compute_par_mask
from pmo_workbench.genotypes.store_writer import StoreWriter

CHUNK_ROWS = 10_000
_LUT = np.array([[(b >> (2 * k)) & 3 for k in range(4)] for b in range(256)], dtype=np.uint8)
_CODE_TO_GT = np.array([[1, 1], [-1, -1], [0, 1], [0, 0]], dtype=np.int8)


def decode_bed_block(raw: np.ndarray, n_samples: int) -> np.ndarray:
    """Decode SNP-major .bed bytes [v, ceil(n/4)] into ``call_genotype`` int8 [v, n, 2] (ALT = A1)."""
    codes = _LUT[raw].reshape(raw.shape[0], -1)[:, :n_samples]
    return _CODE_TO_GT[codes]


def _read_table(path: Path, names: list[str], ncols: int) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="c")
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=names)
    if df.shape[1] < ncols:
        raise InputError(f"expected {ncols} whitespace-separated columns, found {df.shape[1]}", file=path,
                         line=1, field=names[df.shape[1]] if df.shape[1] < len(names) else None)
    df = df.iloc[:, :ncols]
    df.columns = names
    return df


def import_plink(bed: str | Path, root: str | Path, *, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Import ``bed`` (with its ``.bim`` and ``.fam``) into a new store at ``root``; return its attributes.

    Raises
    ------
    InputError
        Wrong magic bytes, a .bed size that does not match .bim x .fam, malformed .bim/.fam rows.
    """
    bed = Path(bed)
    bim_path, fam_path = bed.with_suffix(".bim"), bed.with_suffix(".fam")
    fam = _read_table(fam_path, ["fid", "iid", "father", "mother", "sex", "phenotype"], 6)
    bim = _read_table(bim_path, ["contig", "id", "cm", "position", "a1", "a2"], 6)
    if fam["iid"].duplicated().any():
        dups = sorted(set(fam.loc[fam["iid"].duplicated(), "iid"]))
        row = int(np.flatnonzero(fam["iid"].duplicated())[0])
        raise InputError(f"duplicated sample IDs: {', '.join(dups[:10])}", file=fam_path, line=row + 1,
                         field="IID")
    pos = pd.to_numeric(bim["position"], errors="coerce")
    if pos.isna().any() or (pos < 0).any():
        row = int(np.flatnonzero(pos.isna() | (pos < 0))[0])
        raise InputError("position is not a non-negative integer", file=bim_path, line=row + 1, field="position")
    n, m = len(fam), len(bim)
    nbytes = (n + 3) // 4
    raw = np.fromfile(bed, dtype=np.uint8)
    if len(raw) < 3 or raw[0] != 0x6C or raw[1] != 0x1B:
        raise InputError("not a PLINK 1 .bed file (wrong magic bytes)", file=bed, field="magic")
    if raw[2] != 1:
        raise InputError("sample-major .bed files are not supported (re-save with plink --make-bed)", file=bed,
                         field="mode")
    if len(raw) - 3 != nbytes * m:
        raise InputError(f".bed has {len(raw) - 3} genotype bytes, expected {nbytes * m} for {m} variants x "
                         f"{n} samples", file=bed, field="size")
    body = raw[3:].reshape(m, nbytes) if m else np.zeros((0, nbytes), np.uint8)
    male = fam["sex"].to_numpy() == "1"
    kinds = np.array([classify_contig(c) for c in bim["contig"]], dtype=object)
    position = pos.to_numpy(np.int64)
    haploid_rows = np.zeros(m, dtype=bool)
    all_haploid = kinds == "MT"
    for contig in pd.unique(bim["contig"]):
        sel = (bim["contig"] == contig).to_numpy()
        if classify_contig(contig) in ("X", "Y"):
            haploid_rows[sel] = ~compute_par_mask(contig, position[sel], None)
    writer = StoreWriter(Path(root), n_samples=n, ploidy=2, chunk_rows=chunk_rows, fields=())
    for start in range(0, m, chunk_rows):
        stop = min(start + chunk_rows, m)
        gt = decode_bed_block(body[start:stop], n)
        for rows, who in ((haploid_rows[start:stop], male), (all_haploid[start:stop], np.ones(n, bool))):
            if rows.any() and who.any():
                sub = gt[rows][:, who]
                het = sub[:, :, 0] != sub[:, :, 1]
                sub[:, :, 1] = -2
                sub[het, 0] = -1
                block = gt[rows]
                block[:, who] = sub
                gt[rows] = block
        writer.add_calls(gt)
    writer.finish_calls()
    contig_names = list(pd.unique(bim["contig"]))
    code = pd.Categorical(bim["contig"], categories=contig_names).codes.astype(np.int16)
    a1 = bim["a1"].to_numpy(dtype=object)
    missing_alt = np.isin(a1, ["0", "."])
    rows = max(chunk_rows * 10, 1)
    writer.write_array("sample_id", fam["iid"].to_numpy(dtype=object))
    writer.write_array("variant_contig", code, rows)
    writer.write_array("variant_position", position, rows)
    writer.write_array("variant_id", np.where(bim["id"] == ".", "", bim["id"]).astype(object), rows)
    writer.write_array("variant_ref", bim["a2"].to_numpy(dtype=object), rows)
    writer.write_array("variant_alt", np.where(missing_alt, "", a1).astype(object), rows)
    writer.write_array("variant_n_alleles", np.where(missing_alt, 1, 2).astype(np.int16), rows)
    writer.write_array("variant_filters", np.full(m, ".", dtype=object), rows)
    writer.write_array("variant_quality", np.full(m, np.nan, dtype=np.float32), rows)
    attrs = {
        "source_format": "plink", "source_kind": "bed", "contig_id": contig_names,
        "contig_length": [None] * len(contig_names), "filter_id": [], "fields": [], "reference_build": None,
        "ploidy": 2, "n_variants": m, "n_samples": n, "fam_sex": fam["sex"].tolist(),
    }
    writer.group.attrs.update(attrs)
    return attrs
