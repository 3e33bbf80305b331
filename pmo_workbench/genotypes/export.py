"""Write the QC-filtered genotypes: the passing samples and passing variants of a VCF/BCF, as bgzipped VCF or BCF.

The records are taken from the *source file* (every INFO and FORMAT field kept), not rebuilt from the store:
the source is streamed as text and record ``i`` is kept when ``variant_mask[i]`` is True — the store holds the
records in file order, so the mask of a QC table applies one to one — and ``bcftools view -S`` keeps the
passing samples (recomputing INFO/AC and AN). The output and its index are written under temporary names and
renamed into place only when complete.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "filtered.vcf.gz"  # g: the doctests' simulated set, read from its VCF
>>> write_filtered_vcf(g.path, ["S01", "S03"], g.variants["contig"] == "X", out) == out
True
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pmo_workbench.errors import ConfigError, InputError


def _bcftools() -> str:
    exe = shutil.which("bcftools")
    if exe is None:
        raise ConfigError("bcftools is needed to write a filtered VCF/BCF but is not on PATH", field="bcftools")
    return exe


def _output_type(path: Path) -> tuple[str, str]:
    name = path.name
    if name.endswith(".bcf"):
        return "b", ".csi"
    if name.endswith((".vcf.gz", ".vcf.bgz")):
        return "z", ".tbi"
    raise ConfigError("filtered output must end in .vcf.gz, .vcf.bgz or .bcf", file=path, field="output")


def _stream_records(source: Path, log: Path) -> subprocess.Popen:
    """Plain VCF text of ``source`` (any of VCF, gzip/BGZF VCF, BCF) on a pipe; messages go to ``log``."""
    with open(log, "wb") as err:
        return subprocess.Popen([_bcftools(), "view", "--no-version", "-O", "v", str(source)],
                                stdout=subprocess.PIPE, stderr=err)


def write_filtered_vcf(
    source: str | Path,
    samples: Sequence[str] | Iterable[str],
    variant_mask: np.ndarray | Sequence[bool],
    output: str | Path,
    *,
    index: bool = True,
) -> Path:
    """Write ``samples`` (in the source's order) at the variants selected by ``variant_mask``.

    Parameters
    ----------
    source
        The VCF/BCF the genotype store was imported from.
    samples
        Sample IDs to keep (each must be in the source).
    variant_mask
        One boolean per record of the source, in file order (e.g. a QC table's pass column).
    output
        ``.vcf.gz`` (BGZF + tabix index) or ``.bcf`` (+ CSI index).
    index
        Write the index next to the output.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    InputError
        A sample not in the source, or a mask whose length differs from the source's record count (the file
        changed since the store was made); nothing is written.
    ConfigError
        An unsupported output name, or no bcftools.
    """
    source, output = Path(source), Path(output)
    if source.name.endswith(".bed") or not source.is_file():
        raise InputError("a filtered VCF/BCF can only be written from a VCF/BCF source", file=source)
    otype, index_ext = _output_type(output)
    mask = np.asarray(variant_mask, dtype=bool)
    keep = [str(s) for s in samples]
    if not keep:
        raise InputError("no sample passed QC: nothing to write", file=output, field="samples")
    header = subprocess.run([_bcftools(), "query", "-l", str(source)], capture_output=True, text=True)
    if header.returncode != 0:
        raise InputError(f"bcftools cannot read it: {header.stderr.strip()[:200]}", file=source)
    order = header.stdout.split()
    missing = sorted(set(keep) - set(order))
    if missing:
        raise InputError(f"{len(missing)} sample(s) not in the source, e.g. {missing[0]}", file=source,
                         field="samples")
    wanted = set(keep)
    keep = [s for s in order if s in wanted]
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    try:
        sample_file = work / "samples.txt"
        sample_file.write_text("\n".join(keep) + "\n", encoding="utf-8")
        tmp_out = work / output.name
        reader = _stream_records(source, work / "read.log")
        with open(work / "write.log", "wb") as err:
            writer = subprocess.Popen(
                [_bcftools(), "view", "--no-version", "-S", str(sample_file), "-O", otype, "-o", str(tmp_out),
                 "-"], stdin=subprocess.PIPE, stderr=err)
        n_records = 0
        assert reader.stdout is not None and writer.stdin is not None
        try:
            for line in reader.stdout:
                if line.startswith(b"#"):
                    writer.stdin.write(line)
                    continue
                if n_records < len(mask) and mask[n_records]:
                    writer.stdin.write(line)
                n_records += 1
        except BrokenPipeError:
            reader.kill()  # the writer died; its log says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                writer.stdin.close()
            reader.stdout.close()
        writer_rc, reader_rc = writer.wait(), reader.wait()
        r_err = (work / "read.log").read_text(errors="replace")
        w_err = (work / "write.log").read_text(errors="replace")
        if writer_rc != 0:
            raise InputError(f"bcftools could not write the filtered file: {w_err.strip()[:200]}", file=output)
        if reader_rc != 0:
            raise InputError(f"bcftools cannot read it: {r_err.strip()[:200]}", file=source)
        if n_records != len(mask):
            raise InputError(f"the source has {n_records} records but the variant mask {len(mask)} "
                             "(the file changed since it was imported)", file=source, field="variant_mask")
        if index:
            res = subprocess.run([_bcftools(), "index", "-t" if index_ext == ".tbi" else "-c", "-f",
                                  str(tmp_out)], capture_output=True, text=True)
            if res.returncode != 0:
                raise InputError(f"bcftools index failed: {res.stderr.strip()[:200]}", file=output)
        os.replace(tmp_out, output)
        stale = output.with_name(output.name + index_ext)
        if index:
            os.replace(work / (output.name + index_ext), stale)
        else:
            stale.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output


def _format_calls(gt: np.ndarray, gq: np.ndarray | None, dp: np.ndarray | None) -> np.ndarray:
    """``GT:GQ:DP`` text of each call of a chunk ([v, samples]; '.' for missing values, haploid as ``a``)."""
    a0, a1 = gt[:, :, 0].astype(np.int64), gt[:, :, 1].astype(np.int64)
    first = np.where(a0 < 0, ".", a0.astype(str)).astype(object)
    second = np.where(a1 == -2, "", np.where(a1 < 0, "/.", "/" + a1.astype(str))).astype(object)
    text = first + second
    for values in (gq, dp):
        if values is not None:
            text = text + ":" + np.where(values < 0, ".", values.astype(str)).astype(object)
    return text


def write_joint_vcf(g, output: str | Path, *, index: bool = True, samples: Iterable[str] | None = None,
                    variant_mask: np.ndarray | Sequence[bool] | None = None) -> Path:
    """Write an opened genotype set (e.g. a project's cohort store) as a joint multi-sample VCF.

    Every sample is a column (or those of ``samples``, in the store's order) and the records come in the
    store's order (sorted by contig, then position, for a cohort store; only those where ``variant_mask`` is
    True when given, e.g. QC's passing variants); FORMAT is ``GT:GQ:DP`` (GT only where the store has no
    GQ/DP). The output is written with ``bcftools view -O z`` (plus a tabix index) under a temporary name and
    renamed into place when complete.

    Raises
    ------
    InputError
        A sample not in the store, no sample, or a mask whose length is not the store's variant count.

    Examples
    --------
    >>> import tempfile
    >>> out = write_joint_vcf(g, Path(tempfile.mkdtemp()) / "joint.vcf.gz")  # g: the doctests' set
    >>> import subprocess
    >>> int(subprocess.run(["bcftools", "view", "-H", str(out)], capture_output=True, text=True).stdout.count("\\n"))
    680
    """
    output = Path(output)
    otype, index_ext = _output_type(output)
    all_ids = [str(s) for s in g.sample_id]
    columns = None
    if samples is not None:
        wanted = {str(s) for s in samples}
        missing = sorted(wanted - set(all_ids))
        if missing:
            raise InputError(f"{len(missing)} sample(s) not in the genotypes, e.g. {missing[0]}", file=output,
                             field="samples")
        if not wanted:
            raise InputError("no sample to write", file=output, field="samples")
        columns = np.array([i for i, s in enumerate(all_ids) if s in wanted], dtype=np.int64)
    mask = None
    if variant_mask is not None:
        mask = np.asarray(variant_mask, dtype=bool)
        if mask.shape != (g.n_variants,):
            raise InputError(f"the variant mask has {mask.size} values for {g.n_variants} variants", file=output,
                             field="variant_mask")
    output.parent.mkdir(parents=True, exist_ok=True)
    contig_ids = list(g.attrs.get("contig_id", [])) if hasattr(g, "attrs") else []
    lengths = list(g.attrs.get("contig_length", [])) if hasattr(g, "attrs") else []
    has_gq, has_dp = g.has_field("GQ"), g.has_field("DP")
    fmt = "GT" + (":GQ" if has_gq else "") + (":DP" if has_dp else "")
    header = ["##fileformat=VCFv4.2", "##source=pmo_workbench joint export"]
    seen = list(dict.fromkeys(g.variants["contig"].astype(str)))
    for k, c in enumerate(contig_ids or seen):
        length = lengths[k] if k < len(lengths) else None
        header.append(f"##contig=<ID={c}" + (f",length={length}>" if length else ">"))
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if has_gq:
        header.append('##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality (reference block GQ '
                      'for a call filled from a block)">')
    if has_dp:
        header.append('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth (MIN_DP of a reference '
                      'block)">')
    header.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                             *(all_ids if columns is None else [all_ids[i] for i in columns])]))
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    try:
        tmp_out = work / output.name
        with open(work / "write.log", "wb") as err:
            writer = subprocess.Popen([_bcftools(), "view", "--no-version", "-O", otype, "-o", str(tmp_out), "-"],
                                      stdin=subprocess.PIPE, stderr=err)
        assert writer.stdin is not None
        try:
            writer.stdin.write(("\n".join(header) + "\n").encode())
            for chunk in g.iter_chunks(variant_mask=mask):
                v = chunk.variants
                gt, gq, dp = chunk.gt, chunk.gq if has_gq else None, chunk.dp if has_dp else None
                if columns is not None:
                    gt, gq, dp = (a[:, columns] if a is not None else None for a in (gt, gq, dp))
                calls = _format_calls(gt, gq, dp)
                qual = v["qual"].to_numpy()
                fixed = (v["contig"].astype(str) + "\t" + v["position"].astype(str) + "\t"
                         + v["id"].replace("", ".").astype(str) + "\t" + v["ref"].astype(str) + "\t"
                         + v["alt"].replace("", ".").astype(str) + "\t"
                         + np.where(np.isnan(qual), ".", qual.astype(str)) + "\t"
                         + v["filters"].replace("", ".").astype(str) + "\t.\t" + fmt).to_numpy(dtype=object)
                rows = ["\t".join([f, *c]) for f, c in zip(fixed, calls.tolist(), strict=True)]
                writer.stdin.write(("\n".join(rows) + "\n").encode())
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                writer.stdin.close()
        if writer.wait() != 0:
            w_err = (work / "write.log").read_text(errors="replace")
            raise InputError(f"bcftools could not write the joint VCF: {w_err.strip()[:200]}", file=output)
        if index:
            res = subprocess.run([_bcftools(), "index", "-t" if index_ext == ".tbi" else "-c", "-f",
                                  str(tmp_out)], capture_output=True, text=True)
            if res.returncode != 0:
                raise InputError(f"bcftools index failed: {res.stderr.strip()[:200]}", file=output)
        os.replace(tmp_out, output)
        if index:
            os.replace(work / (output.name + index_ext), output.with_name(output.name + index_ext))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output
