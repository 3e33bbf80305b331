"""WGS deliveries: a genome centre's batch folder, checked and taken into a project (``pmo ingest``).

A batch folder holds one sub-folder per sample, named by its sample id, with the single-sample gVCF
``<id>.hard-filtered.gvcf.gz`` (+ ``.tbi``) and the pipeline's metrics files (DRAGEN:
``<id>.mapping_metrics.csv``, ``<id>.wgs_coverage_metrics.csv``, ``<id>.ploidy_estimation_metrics.csv``, ...),
each file with a checksum sidecar ``<file>.md5`` (or ``.sha256``) holding ``<hex>  <name>``; an optional
``manifest.tsv`` (``sample_id``, ``reported_sex``, optionally ``delivery_date``) at the root lists the samples.

:func:`ingest_batch` takes a batch in whole or not at all:

1. :func:`discover_batch` finds the samples and their files;
2. each sample is compared with the project's delivery ledger (``genotypes/deliveries.parquet``): a sample
   already ingested from this batch with the same checksums is skipped (re-ingest is a no-op), one delivered
   in another batch or with a changed file is refused unless ``replace``;
3. :func:`verify_sample` checks every new sample: all files present, checksums right, the gVCF a complete
   BGZF file (end-of-file block present, every block decompresses) with one sample column;
4. the read-level metrics are parsed with MultiQC
   (:func:`pmo_workbench.genotypes.delivery_metrics.parse_metrics_files`), the gVCFs are handed to the cohort
   store's combiner (:func:`combine_gvcfs`), then the metrics table and the ledger are replaced atomically.

A refused delivery raises :class:`DeliveryError` naming the sample and the file (the CLI: one line, exit 2) before
anything in the project changes.

Example
-------
>>> import tempfile
>>> from pmo_workbench.synth.deliveries import write_sample_delivery
>>> batch = Path(tempfile.mkdtemp()) / "B1"
>>> _ = write_sample_delivery(batch, "S1", seed=1)
>>> d = discover_batch(batch)
>>> d.batch_id, [s.sample_id for s in d.samples], sorted(d.samples[0].checksums)[:2]
('B1', ['S1'], ['S1.hard-filtered.gvcf.gz', 'S1.hard-filtered.gvcf.gz.tbi'])
>>> verify_sample(d.samples[0])  # nothing wrong: returns None
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.files import replace_atomically

GVCF_SUFFIX = ".hard-filtered.gvcf.gz"
LEDGER_FILE = "deliveries.parquet"
GENOTYPES_DIR = "genotypes"
CHECKSUM_ALGORITHMS = {".md5": "md5", ".sha256": "sha256"}
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
"""The 28-byte empty block that ends every complete BGZF file (SAM/BAM specification, section 4.1.2)."""
LEDGER_COLUMNS = ["sample_id", "batch_id", "delivery_date", "ingested_at", "pipeline", "pipeline_version",
                  "gvcf_path", "gvcf_sample", "reported_sex", "n_files", "checksums", "batch_dir", "replaced_at",
                  "replaced_by", "replaced_what"]
"""The ledger's columns; ``replaced_*`` are set on a delivery that ``--replace`` superseded (when, by which
batch, and ``genotypes`` or ``metrics``: what the new delivery changed) and empty on the current one."""


class DeliveryError(InputError):
    """A refused delivery: names the sample and the file (``<file>: sample <id>: <what>``)."""

    def __init__(self, message: str, *, sample: str | None = None, file: str | Path | None = None) -> None:
        self.sample = sample
        super().__init__(f"sample {sample}: {message}" if sample else message, file=file)


@dataclass
class SampleDelivery:
    """One sample's folder in a batch: its gVCF, metrics files and the checksums its sidecars declare."""

    sample_id: str
    folder: Path
    gvcf: Path
    files: list[Path]
    checksums: dict[str, str] = field(default_factory=dict)
    """file name -> ``"<algorithm>:<hex>"`` as the sidecar says."""
    reported_sex: str | None = None
    delivery_date: str | None = None

    @property
    def metrics_files(self) -> list[Path]:
        """The delivered files other than the gVCF and its index."""
        return [f for f in self.files if f != self.gvcf and f.name != self.gvcf.name + ".tbi"]


@dataclass
class BatchDelivery:
    """A batch folder: its id and its samples (sorted by id)."""

    batch_id: str
    root: Path
    samples: list[SampleDelivery]


@dataclass
class IngestSummary:
    """What :func:`ingest_batch` did."""

    batch_id: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    combiner: dict[str, Any] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        return not self.added and not self.replaced

    def describe(self) -> str:
        if self.nothing_new:
            return f"batch {self.batch_id}: nothing new ({len(self.unchanged)} samples already ingested)"
        parts = [f"{len(self.added)} samples added"]
        if self.replaced:
            parts.append(f"{len(self.replaced)} replaced")
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        return f"batch {self.batch_id}: " + ", ".join(parts)


def read_checksum_sidecar(sidecar: Path, expected_name: str, sample: str) -> str:
    """``"<algorithm>:<hex>"`` from a sidecar ``<hex>  <name>`` (md5sum/sha256sum output, ``*`` binary mark
    allowed; a bare ``<hex>`` is taken for the file it sits beside).

    Raises
    ------
    DeliveryError
        Unreadable, malformed, or naming another file.
    """
    algorithm = CHECKSUM_ALGORITHMS[sidecar.suffix]
    length = {"md5": 32, "sha256": 64}[algorithm]
    try:
        text = sidecar.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"cannot read checksum file ({exc.__class__.__name__})", sample=sample,
                            file=sidecar) from None
    parts = text.split(maxsplit=1)
    if not parts or not re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", parts[0]):
        raise DeliveryError(f"malformed {algorithm} checksum file (expected '<hex>  <name>')", sample=sample,
                            file=sidecar)
    if len(parts) == 2 and Path(parts[1].lstrip("*").strip()).name != expected_name:
        raise DeliveryError(f"checksum file names another file ({parts[1].strip()!r})", sample=sample,
                            file=sidecar)
    return f"{algorithm}:{parts[0].lower()}"


def _read_manifest(root: Path) -> pd.DataFrame | None:
    path = root / "manifest.tsv"
    if not path.is_file():
        return None
    try:
        man = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DeliveryError(f"cannot read manifest ({exc.__class__.__name__})", file=path) from None
    if "sample_id" not in man.columns:
        raise InputError("missing column", file=path, field="sample_id")
    dup = man["sample_id"][man["sample_id"].duplicated()]
    if len(dup):
        raise DeliveryError("sample listed twice in the manifest", sample=str(dup.iloc[0]), file=path)
    return man


def discover_batch(batch_dir: str | Path, batch_id: str | None = None) -> BatchDelivery:
    """Find the samples of a batch folder and the checksums their sidecars declare (nothing is read or hashed).

    Parameters
    ----------
    batch_dir
        The batch folder (one sub-folder per sample).
    batch_id
        The batch's id (default: the folder's name).

    Raises
    ------
    DeliveryError
        A missing gVCF, a file without a checksum sidecar, a sidecar without its file, a manifest sample
        without a folder (or a folder the manifest does not list).
    """
    root = Path(batch_dir)
    if not root.is_dir():
        raise InputError("batch folder not found", file=root)
    batch_id = batch_id or root.resolve().name
    manifest = _read_manifest(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if manifest is not None:
        listed = set(manifest["sample_id"])
        for sid in manifest["sample_id"]:
            if not (root / sid).is_dir():
                raise DeliveryError("listed in manifest.tsv but its folder is missing", sample=sid, file=root / sid)
        for folder in folders:
            if folder.name not in listed:
                raise DeliveryError("folder not listed in manifest.tsv", sample=folder.name,
                                    file=root / "manifest.tsv")
    if not folders:
        raise InputError("no sample folders in the batch", file=root)
    meta = manifest.set_index("sample_id") if manifest is not None else None
    samples = []
    for folder in folders:
        sid = folder.name
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        data = [n for n in names if Path(n).suffix not in CHECKSUM_ALGORITHMS]
        gvcf = folder / f"{sid}{GVCF_SUFFIX}"
        if gvcf.name not in data:
            raise DeliveryError("gVCF missing", sample=sid, file=gvcf)
        checksums: dict[str, str] = {}
        for n in names:
            suffix = Path(n).suffix
            if suffix in CHECKSUM_ALGORITHMS and n[: -len(suffix)] not in data:
                raise DeliveryError("file missing (its checksum file is there)", sample=sid,
                                    file=folder / n[: -len(suffix)])
        for n in data:
            sidecars = [folder / f"{n}{s}" for s in CHECKSUM_ALGORITHMS if (folder / f"{n}{s}").is_file()]
            if not sidecars:
                raise DeliveryError("no checksum file (.md5 or .sha256)", sample=sid, file=folder / n)
            checksums[n] = read_checksum_sidecar(sidecars[-1], n, sid)
        sex = date = None
        if meta is not None:
            row = meta.loc[sid]
            sex = (row.get("reported_sex") or None) if "reported_sex" in meta.columns else None
            date = (row.get("delivery_date") or None) if "delivery_date" in meta.columns else None
        samples.append(SampleDelivery(sid, folder, gvcf, [folder / n for n in data], checksums, sex, date))
    return BatchDelivery(batch_id, root, samples)


def hash_file(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_bgzf(path: Path, sample: str) -> None:
    """A complete BGZF file: it ends with the BGZF end-of-file block and every block decompresses.

    Raises
    ------
    DeliveryError
        Truncated (no end-of-file block) or corrupt (a block fails to decompress).
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head[:2] != b"\x1f\x8b":
            raise DeliveryError("gVCF is not gzip/BGZF compressed", sample=sample, file=path)
        fh.seek(0, 2)
        if fh.tell() < len(BGZF_EOF):
            raise DeliveryError("truncated gVCF (too short)", sample=sample, file=path)
        fh.seek(-len(BGZF_EOF), 2)
        if fh.read() != BGZF_EOF:
            raise DeliveryError("truncated gVCF (no BGZF end-of-file block)", sample=sample, file=path)
    try:
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise DeliveryError(f"corrupt gVCF ({exc.__class__.__name__}: does not decompress)", sample=sample,
                            file=path) from None


_DRAGEN_VERSION = re.compile(r'##DRAGEN(?:Version|CommandLine)=<[^>]*?Version="(?:SW:\s*)?([^",]+)')
_GATK_VERSION = re.compile(r'##GATKCommandLine(?:\.\w+)?=<ID=(\w+),[^>]*?Version="?([^",>]+)')


def read_gvcf_header(path: Path, sample: str) -> dict[str, Any]:
    """Pipeline, version, file date and the sample column of a gVCF's header.

    ``pipeline`` is DRAGEN (``##DRAGENVersion``/``##DRAGENCommandLine``/``##source=DRAGEN_*``), GATK
    (``##GATKCommandLine``, ``##source=HaplotypeCaller``), DeepVariant (``##DeepVariant_version``) or the
    ``##source`` value; ``pipeline_version`` is None where the header gives none.

    Raises
    ------
    DeliveryError
        No ``#CHROM`` line, or not exactly one sample column.
    """
    meta: list[str] = []
    chrom_line = None
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("##"):
                meta.append(line.rstrip("\n"))
                continue
            if line.startswith("#CHROM"):
                chrom_line = line.rstrip("\n")
            break
    if chrom_line is None:
        raise DeliveryError("gVCF has no #CHROM header line", sample=sample, file=path)
    columns = chrom_line.split("\t")
    if len(columns) != 10:
        raise DeliveryError(f"gVCF must hold exactly one sample, not {max(len(columns) - 9, 0)}", sample=sample,
                            file=path)
    text = "\n".join(meta)
    pipeline = version = None
    if (m := _DRAGEN_VERSION.search(text)) is not None:
        pipeline, version = "DRAGEN", m.group(1).strip()
    elif re.search(r"^##source=DRAGEN", text, re.M):
        pipeline = "DRAGEN"
    elif (m := _GATK_VERSION.search(text)) is not None:
        pipeline, version = f"GATK {m.group(1)}", m.group(2).strip()
    elif (m := re.search(r"^##DeepVariant_version=(\S+)", text, re.M)) is not None:
        pipeline, version = "DeepVariant", m.group(1)
    elif (m := re.search(r"^##source=(\S+)", text, re.M)) is not None:
        pipeline = m.group(1)
    file_date = None
    if (m := re.search(r"^##fileDate=(\d{4})-?(\d{2})-?(\d{2})", text, re.M)) is not None:
        file_date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    return {"pipeline": pipeline, "pipeline_version": version, "file_date": file_date, "gvcf_sample": columns[9]}


def verify_sample(sample: SampleDelivery) -> None:
    """Check one sample's delivery: every file's checksum, and the gVCF a complete BGZF file.

    Raises
    ------
    DeliveryError
        The first problem, naming the sample and the file.
    """
    for path in sample.files:
        algorithm, expected = sample.checksums[path.name].split(":", 1)
        if hash_file(path, algorithm) != expected:
            raise DeliveryError(f"{algorithm} checksum does not match its .{algorithm} file", sample=sample.sample_id,
                                file=path)
    check_bgzf(sample.gvcf, sample.sample_id)


def project_root_of(project: Any) -> Path:
    """The folder of a project given as a path or a :class:`~pmo_workbench.project.Project`."""
    return Path(project) if isinstance(project, str | Path) else Path(project.root)


def ledger_path(project_root: str | Path) -> Path:
    """The delivery ledger of a project: ``<project>/genotypes/deliveries.parquet``."""
    return Path(project_root) / GENOTYPES_DIR / LEDGER_FILE


def load_ledger(project_root: str | Path, *, history: bool = False) -> pd.DataFrame:
    """The project's delivery ledger (:data:`LEDGER_COLUMNS`): one row per ingested sample, its current
    delivery (with ``history``, also the deliveries ``--replace`` superseded); empty if none.

    Example
    -------
    >>> load_ledger(project.root).columns.tolist()[:3]  # project: an empty project folder
    ['sample_id', 'batch_id', 'delivery_date']
    """
    path = ledger_path(project_root)
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LEDGER_COLUMNS})
    ledger = pd.read_parquet(path)
    for c in LEDGER_COLUMNS:  # a ledger written before replacements were recorded
        if c not in ledger.columns:
            ledger[c] = pd.Series(None, index=ledger.index, dtype=object)
    if not history:
        ledger = ledger[ledger["replaced_at"].isna()].reset_index(drop=True)
    return ledger


def combine_gvcfs(store_dir: Path, gvcfs: dict[str, Path], batch_id: str, replace: Sequence[str] = ()) -> dict:
    """Add single-sample gVCFs to the project's incremental cohort store (the combiner of
    :mod:`pmo_workbench.genotypes.gvcf_store`, ``add_gvcfs(store_dir, {sample_id: gvcf}, batch_id,
    replace=...)``; the store is the project's ``data/genotypes``,
    :func:`~pmo_workbench.genotypes.gvcf_store.cohort_store_dir`). ``replace``: samples of ``gvcfs`` whose
    genotypes already in the store the new gVCFs replace (in the same commit as the additions).

    Raises
    ------
    ConfigError
        The combiner module is not installed.
    """
    try:
        from pmo_workbench.genotypes.gvcf_store import add_gvcfs  # the incremental store (#14 item 3)
    except ImportError:
        raise ConfigError("the gVCF cohort store (pmo_workbench.genotypes.gvcf_store) is not available",
                          field="combiner") from None
    return add_gvcfs(store_dir, gvcfs, batch_id, replace=replace)


def _classify(batch: BatchDelivery, ledger: pd.DataFrame, replace: bool) -> tuple[list, list, list]:
    """Split the batch's samples into new, replaced and unchanged, refusing conflicts unless ``replace``."""
    known = ledger.drop_duplicates("sample_id", keep="last").set_index("sample_id") if len(ledger) else None
    new, replaced, unchanged = [], [], []
    for s in batch.samples:
        if known is None or s.sample_id not in known.index:
            new.append(s)
            continue
        row = known.loc[s.sample_id]
        old = json.loads(row["checksums"])
        if row["batch_id"] == batch.batch_id and old == s.checksums:
            unchanged.append(s)
            continue
        if not replace:
            if row["batch_id"] != batch.batch_id:
                raise DeliveryError(f"already delivered in batch {row['batch_id']} (use --replace to take this "
                                    "delivery instead)", sample=s.sample_id, file=s.gvcf)
            changed = sorted(n for n in set(old) | set(s.checksums) if old.get(n) != s.checksums.get(n))
            raise DeliveryError("file changed since it was ingested (use --replace to take the new one)",
                                sample=s.sample_id, file=s.folder / changed[0])
        replaced.append(s)
    return new, replaced, unchanged


def ingest_batch(
    project: Any,
    batch_dir: str | Path,
    batch_id: str | None = None,
    *,
    replace: bool = False,
    combine: Callable[[Path, dict[str, Path], str], dict] | None = None,
    now: dt.datetime | None = None,
) -> IngestSummary:
    """Take a batch folder into a project: verify it, parse its metrics, combine its gVCFs, record it.

    Parameters
    ----------
    project
        A project folder or :class:`~pmo_workbench.project.Project` (its ``genotypes/`` folder holds the ledger,
        the read-level metrics and the cohort store).
    batch_dir
        The batch folder (see the module docstring).
    batch_id
        Default: the batch folder's name.
    replace
        Take a sample already ingested (from another batch, or with changed files) anew: its read-level metrics
        are replaced, and, when its gVCF changed, its genotypes in the cohort store (calls and reference
        blocks, in the same store commit as the batch's new samples); the ledger keeps the superseded
        delivery, marked ``replaced_at``/``replaced_by``/``replaced_what`` (``load_ledger(..., history=True)``).
    combine
        The gVCF combiner, ``(store_dir, {sample_id: gvcf}, batch_id[, replace=[sample_id, ...]]) -> dict``,
        called with the project's ``data/genotypes`` (``replace`` only when gVCFs replace genotypes); default
        :func:`combine_gvcfs`.
    now
        The ingest time to record (default: now, UTC).

    Returns
    -------
    IngestSummary
        ``nothing_new`` when every sample was ingested before from this batch with the same files.

    Raises
    ------
    DeliveryError
        A refused delivery (one line naming the sample and file); nothing in the project has changed.
    """
    from pmo_workbench.genotypes.delivery_metrics import (
        LONG_COLUMNS,
        parse_metrics_files,
        read_metrics_path,
        to_storable,
    )

    root = project_root_of(project)
    batch = discover_batch(batch_dir, batch_id)
    ledger = load_ledger(root)
    new, replaced, unchanged = _classify(batch, ledger, replace)
    summary = IngestSummary(batch.batch_id, [s.sample_id for s in new], [s.sample_id for s in replaced],
                            [s.sample_id for s in unchanged])
    todo = new + replaced
    if not todo:
        return summary
    known = ledger.drop_duplicates("sample_id", keep="last").set_index("sample_id") if len(ledger) else None
    regenotyped = []  # replaced samples whose gVCF changed: their genotypes in the store are replaced too
    for s in replaced:
        old = json.loads(known.loc[s.sample_id, "checksums"]) if known is not None else {}
        if old.get(s.gvcf.name) != s.checksums.get(s.gvcf.name) or known.loc[s.sample_id, "batch_id"] != batch.batch_id:
            regenotyped.append(s)
    for s in todo:
        verify_sample(s)
    headers = {s.sample_id: read_gvcf_header(s.gvcf, s.sample_id) for s in todo}
    metric_files = [f for s in todo for f in s.metrics_files]
    long = parse_metrics_files(metric_files, sample_of={str(s.folder): s.sample_id for s in todo}) \
        if metric_files else pd.DataFrame(columns=LONG_COLUMNS)
    long = long[long["sample_id"].isin([s.sample_id for s in todo])].assign(batch=batch.batch_id)
    store_dir = root / "data" / "genotypes"  # gvcf_store.cohort_store_dir(root)
    store_dir.mkdir(parents=True, exist_ok=True)
    if new or regenotyped:  # a replaced sample with the same gVCF in the same batch keeps its genotypes
        extra = {"replace": [s.sample_id for s in regenotyped]} if regenotyped else {}
        summary.combiner = dict((combine or combine_gvcfs)(store_dir, {s.sample_id: s.gvcf for s in new + regenotyped},
                                                           batch.batch_id, **extra) or {})

    ids = {s.sample_id for s in todo}
    metrics_path = read_metrics_path(root)
    old_metrics = pd.read_parquet(metrics_path) if metrics_path.is_file() else None
    parts = [p for p in (old_metrics[~old_metrics["sample_id"].isin(ids)] if old_metrics is not None else None,
                         to_storable(long)) if p is not None and len(p)]
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = []
    for s in todo:
        h = headers[s.sample_id]
        date = s.delivery_date or h["file_date"] or dt.datetime.fromtimestamp(
            max(f.stat().st_mtime for f in s.files), dt.UTC).strftime("%Y-%m-%d")
        rows.append({"sample_id": s.sample_id, "batch_id": batch.batch_id, "delivery_date": date,
                     "ingested_at": stamp, "pipeline": h["pipeline"], "pipeline_version": h["pipeline_version"],
                     "gvcf_path": str(s.gvcf.resolve()), "gvcf_sample": h["gvcf_sample"],
                     "reported_sex": s.reported_sex, "n_files": len(s.files),
                     "checksums": json.dumps(s.checksums, sort_keys=True), "batch_dir": str(batch.root.resolve())})
    full = load_ledger(root, history=True)
    superseded = full["sample_id"].isin([s.sample_id for s in replaced]) & full["replaced_at"].isna()
    full.loc[superseded, "replaced_at"] = stamp
    full.loc[superseded, "replaced_by"] = batch.batch_id
    geno_ids = {s.sample_id for s in regenotyped}
    full.loc[superseded, "replaced_what"] = ["genotypes" if sid in geno_ids else "metrics"
                                             for sid in full.loc[superseded, "sample_id"]]
    new_ledger = pd.concat([full, pd.DataFrame(rows, columns=LEDGER_COLUMNS)], ignore_index=True)
    if parts:
        with replace_atomically(metrics_path) as tmp:
            pd.concat(parts, ignore_index=True).to_parquet(tmp, index=False)
    with replace_atomically(ledger_path(root)) as tmp:
        new_ledger.astype({c: object for c in LEDGER_COLUMNS if c != "n_files"}).to_parquet(tmp, index=False)
    return summary


def batch_of_samples(project: Any) -> Mapping[str, str]:
    """``sample_id -> batch_id`` of the project's ledger (the batch each sample came in)."""
    ledger = load_ledger(project_root_of(project))
    return dict(zip(ledger["sample_id"].astype(str), ledger["batch_id"].astype(str), strict=True))


__all__ = ["BatchDelivery", "DeliveryError", "IngestSummary", "SampleDelivery", "discover_batch", "ingest_batch",
           "load_ledger", "verify_sample"]
