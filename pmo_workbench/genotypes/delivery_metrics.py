"""Read-level sequencing metrics of a delivery: the pipelines' QC files parsed by MultiQC (used as a library).

A genome centre delivers, per sample, the metrics files of its pipeline: DRAGEN (``*.mapping_metrics.csv``,
``*.wgs_coverage_metrics.csv``, ``*.ploidy_estimation_metrics.csv``, ...), Picard (CollectWgsMetrics,
CollectAlignmentSummaryMetrics, CollectInsertSizeMetrics, MarkDuplicates, and the GATK4/Parabricks/Sentieon
files in Picard format), mosdepth, samtools stats and VerifyBamID. :func:`parse_metrics_files` hands them to
``multiqc.parse_logs`` (MultiQC's maintained parser for each tool) and takes the values from MultiQC's parsed
module data; :func:`pmo_workbench.qc.sequencing_metrics.sequencing_metrics` returns a project's table, one row per
ingested sample (``pmo ingest`` stores the long table in ``genotypes/read_metrics.parquet``).

Columns (:data:`METRICS`, with units): ``mean_coverage`` (x), ``pct_ge_20x`` (% of the genome at >= 20x),
``pct_mapped`` (% of reads), ``pct_duplicates`` (% of reads), ``insert_size_median`` (bp), ``contamination``
(fraction, VerifyBamID FREEMIX or DRAGEN's estimate), ``ploidy_estimate`` (DRAGEN's, e.g. ``XX``), and
``metrics_source`` (the tools the row's values came from). A value no file gives is NA, never 0. The long form
(:func:`parse_metrics_files`) names the unit and the source file of every value.

Where several tools give one metric, the first in this order wins: DRAGEN, Picard, mosdepth, samtools
(contamination: VerifyBamID, then DRAGEN). Percent values of Picard (fractions in the file) are converted to
percent; VerifyBamID's FREEMIX is a fraction already.

Example
-------
>>> d = "../shared/data/sequencing_metrics/verifybamid2_upstream"
>>> long = parse_metrics_files([d + "/result.selfSM"])
>>> long[["metric", "value", "unit", "tool"]].to_dict("records")
[{'metric': 'contamination', 'value': 0.21808, 'unit': 'fraction', 'tool': 'verifybamid'}]
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError

METRICS: dict[str, str] = {
    "mean_coverage": "x",
    "pct_ge_20x": "%",
    "pct_mapped": "%",
    "pct_duplicates": "%",
    "insert_size_median": "bp",
    "contamination": "fraction",
    "ploidy_estimate": "",
}
"""The sample-metrics columns and their units (``ploidy_estimate`` is a label, e.g. ``XX``, ``XY``, ``X0``)."""

LONG_COLUMNS = ["sample_id", "metric", "value", "unit", "tool", "source_file"]
READ_METRICS_FILE = "read_metrics.parquet"
"""The long table of a project's ingested metrics, in its ``genotypes/`` folder (written by ingest)."""


def _number(value: Any) -> float | None:
    """A finite float from MultiQC's value, or None (``NA``, ``?``, empty, inf, nan)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
    else:
        text = str(value).strip()
        if text in ("", "NA", "?", "nan", "-nan", "inf", "-inf"):
            return None
        try:
            v = float(text)
        except ValueError:
            return None
    return v if math.isfinite(v) else None


def _source(sources: Mapping[str, Mapping[str, Any]], sample: str) -> str | None:
    """The file MultiQC read ``sample`` from, in the sections of one module (keys may carry a suffix)."""
    for section in sources.values():
        for name, path in section.items():
            if name == sample or str(name).startswith(f"{sample}."):
                return str(path)
    for suffix in ("_normal", "_tumor"):  # DRAGEN tumour-normal: "<prefix>_normal" from "<prefix>.*_normal.csv"
        if sample.endswith(suffix):
            base = sample[: -len(suffix)]
            for section in sources.values():
                for name, path in section.items():
                    if str(name).startswith(f"{base}.") and suffix in Path(str(path)).name:
                        return str(path)
    return None


def _extract(module: str, key: str, sample: str, d: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """``(metric, value, tool)`` triples from one sample's MultiQC data of one module key."""
    out: list[tuple[str, Any, str]] = []

    def add(metric: str, value: Any, tool: str, scale: float = 1.0) -> None:
        if metric == "ploidy_estimate":
            text = str(value).strip() if value is not None else ""
            if text and text != "NA":
                out.append((metric, text, tool))
            return
        v = _number(value)
        if v is not None:
            out.append((metric, v * scale, tool))

    if module == "dragen":
        if key == "dragen_wgs_cov_metrics":
            add("mean_coverage", d.get("Average alignment coverage over genome"), "dragen")
            add("pct_ge_20x", d.get("PCT of genome with coverage [20x:inf)"), "dragen")
        elif key == "dragen_map_metrics":
            add("pct_mapped", d.get("Mapped reads pct"), "dragen")
            add("pct_duplicates", d.get("Number of duplicate marked reads pct"), "dragen")
            add("insert_size_median", d.get("Insert length: median"), "dragen")
            add("contamination", d.get("Estimated sample contamination"), "dragen")
        elif key == "dragen_ploidy":
            add("ploidy_estimate", d.get("Ploidy estimation"), "dragen")
    elif module == "picard":
        if key == "multiqc_picard_wgsmetrics":
            add("mean_coverage", d.get("MEAN_COVERAGE"), "picard")
            add("pct_ge_20x", d.get("PCT_20X"), "picard", 100.0)
        elif key == "multiqc_picard_alignmentsummarymetrics":
            add("pct_mapped", d.get("PCT_PF_READS_ALIGNED"), "picard", 100.0)
        elif key == "multiqc_picard_dups":
            add("pct_duplicates", d.get("PERCENT_DUPLICATION"), "picard", 100.0)
        elif key == "multiqc_picard_insertsize":
            add("insert_size_median", d.get("MEDIAN_INSERT_SIZE"), "picard")
    elif module == "samtools" and key == "multiqc_samtools_stats":
        add("pct_mapped", d.get("reads_mapped_percent"), "samtools")
        add("pct_duplicates", d.get("reads_duplicated_percent"), "samtools")
    elif module == "verifybamid" and key == "multiqc_verifybamid":
        add("contamination", d.get("FREEMIX"), "verifybamid")
    elif module == "mosdepth" and key == "mosdepth_cumcov_dist":
        add("pct_ge_20x", d.get("20"), "mosdepth")
    return out


def _insert_size_per_sample(by_sample: Mapping[str, Any]) -> dict[str, Any]:
    """Picard insert sizes come per pair orientation (``<sample>_FR``, ``_RF``, ``_TANDEM``): keep one row per
    sample, FR (the orientation of a standard paired-end library) or else the one with the most read pairs."""
    best: dict[str, Mapping[str, Any]] = {}
    for name, d in by_sample.items():
        if not isinstance(d, Mapping):
            continue
        sample = str(d.get("SAMPLE_NAME") or name)
        pairs = _number(d.get("READ_PAIRS")) or 0.0
        key = (d.get("PAIR_ORIENTATION") == "FR", pairs)
        old = best.get(sample)
        if old is None or key > (old.get("PAIR_ORIENTATION") == "FR", _number(old.get("READ_PAIRS")) or 0.0):
            best[sample] = d
    return best


_TOOL_ORDER = {"contamination": ("verifybamid", "dragen")}
_DEFAULT_ORDER = ("dragen", "picard", "mosdepth", "samtools", "verifybamid")


RUN_MODULES = ("dragen", "picard", "mosdepth", "samtools", "verifybamid")
"""The MultiQC modules of the read-level metrics."""


def _run_multiqc(paths: list[Path], modules: Iterable[str] = RUN_MODULES
                 ) -> tuple[list[Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """Parse ``paths`` with MultiQC; returns its modules, data sources and general statistics."""
    os.environ.setdefault("MULTIQC_NO_VERSION_CHECK", "1")
    logging.getLogger("multiqc").setLevel(logging.ERROR)
    import multiqc
    from multiqc import report
    from multiqc.core import tmp_dir

    multiqc.reset()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            multiqc.parse_logs(*[str(p) for p in paths], quiet=True, no_version_check=True, no_ansi=True,
                               run_modules=list(modules))
        general = {str(k): dict(v) for k, v in multiqc.get_general_stats_data().items()}
        modules = list(report.modules)
        sources = {str(k): {s: dict(v) for s, v in secs.items()} for k, secs in report.data_sources.items()}
    finally:  # MultiQC keeps its data files in a temporary folder of its own: leave nothing behind
        if tmp_dir._tmp_dir is not None:
            shutil.rmtree(tmp_dir._tmp_dir, ignore_errors=True)
        tmp_dir.new_tmp_dir()
    return modules, sources, general


def multiqc_raw_data(paths: Iterable[str | Path], modules: Iterable[str] = RUN_MODULES
                     ) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, str]]:
    """MultiQC's parsed data of ``paths`` as it keeps it: ``{module: {key: {sample: values}}}`` (module anchors
    lower-case), and each sample's source file (``{sample: path}``, the first MultiQC names). ``modules``: the
    MultiQC modules to run (default the read-level ones, :data:`RUN_MODULES`)."""
    modules, sources, _ = _run_multiqc([Path(p) for p in paths], modules)
    raw = {str(m.anchor).lower(): {str(k): dict(v or {}) for k, v in (m.saved_raw_data or {}).items()}
           for m in modules}
    where: dict[str, str] = {}
    for sections in sources.values():
        for section in sections.values():
            for name, path in section.items():
                where.setdefault(str(name), str(path))
    return raw, where


def parse_metrics_files(paths: Iterable[str | Path], *, sample_of: Mapping[str, str] | None = None
                        ) -> pd.DataFrame:
    """Parse metrics files (or folders of them) with MultiQC into a long table: one row per (sample, metric).

    Parameters
    ----------
    paths
        Files or folders; MultiQC recognises each file's tool by its name and content.
    sample_of
        Maps a source file's folder (``str(Path(file).parent)``) to the sample id its values belong to (a
        delivery: one folder per sample). Without it, or for other files, MultiQC's sample name is used.

    Returns
    -------
    pandas.DataFrame
        ``sample_id``, ``metric`` (a key of :data:`METRICS`), ``value`` (float, or str for
        ``ploidy_estimate``), ``unit``, ``tool``, ``source_file``; every sample's metrics in
        the order of :data:`METRICS`, the winning tool only where several give one metric.

    Example
    -------
    >>> d = "../shared/data/sequencing_metrics/dragen/tn_varcall/T_SRR7890936_50pc"
    >>> t = parse_metrics_files([d])
    >>> t[t["sample_id"] == "T_SRR7890936_50pc"].set_index("metric")["value"].to_dict()["ploidy_estimate"]
    'X0'
    """
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputError("metrics file not found", file=p)
    if not paths:
        return pd.DataFrame(columns=LONG_COLUMNS)
    modules, sources, general = _run_multiqc(paths)
    rows: list[dict[str, Any]] = []
    for mod in modules:
        anchor = str(mod.anchor).lower()
        raw = mod.saved_raw_data or {}
        mod_sources = sources.get(mod.name, {})
        for key, by_sample in raw.items():
            if str(key).lower() == "multiqc_picard_insertsize":
                by_sample = _insert_size_per_sample(by_sample or {})
            for sample, d in (by_sample or {}).items():
                if not isinstance(d, Mapping):
                    continue
                for metric, value, tool in _extract(anchor, str(key).lower(), str(sample), d):
                    rows.append({"mq_sample": str(sample), "metric": metric, "value": value, "tool": tool,
                                 "source_file": _source(mod_sources, str(sample))})
        if anchor == "mosdepth":
            for sample, stats in general.items():
                value = _number(stats.get("Mosdepth.mean_coverage"))
                if value is not None:
                    rows.append({"mq_sample": sample, "metric": "mean_coverage", "value": value, "tool": "mosdepth",
                                 "source_file": _source(mod_sources, sample)})
    if not rows:
        return pd.DataFrame(columns=LONG_COLUMNS)
    df = pd.DataFrame(rows)
    folder_map = dict(sample_of or {})
    df["sample_id"] = [
        folder_map.get(str(Path(src).parent), s) if src else s
        for s, src in zip(df["mq_sample"], df["source_file"], strict=True)
    ]
    df["unit"] = df["metric"].map(METRICS)
    rank = []
    for metric, tool in zip(df["metric"], df["tool"], strict=True):
        order = _TOOL_ORDER.get(metric, _DEFAULT_ORDER)
        rank.append(order.index(tool) if tool in order else len(order))
    df["rank"] = rank
    df["metric_order"] = df["metric"].map({m: i for i, m in enumerate(METRICS)})
    df = df.sort_values(["sample_id", "metric_order", "rank"], kind="stable")
    df = df.drop_duplicates(["sample_id", "metric"], keep="first")
    return df[LONG_COLUMNS].reset_index(drop=True)


def pivot_metrics(long: pd.DataFrame, sample_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The wide sample-metrics table of a long table (:func:`parse_metrics_files`): indexed by ``sample_id``,
    one column per :data:`METRICS` key (NA where missing) plus ``metrics_source``; units in ``.attrs["units"]``.

    Example
    -------
    >>> long = pd.DataFrame({"sample_id": ["a"], "metric": ["pct_mapped"], "value": [99.1], "unit": ["%"],
    ...                      "tool": ["samtools"], "source_file": ["a/a.stats"]})
    >>> w = pivot_metrics(long, ["a", "b"])
    >>> float(w.loc["a", "pct_mapped"]), pd.isna(w.loc["b", "pct_mapped"]), w.loc["a", "metrics_source"]
    (99.1, True, 'samtools')
    """
    ids = list(dict.fromkeys(sample_ids)) if sample_ids is not None else list(
        dict.fromkeys(long["sample_id"].astype(str)))
    out = pd.DataFrame(index=pd.Index(ids, name="sample_id", dtype=object))
    for metric in METRICS:
        part = long[long["metric"] == metric].drop_duplicates("sample_id", keep="first")
        values = part.set_index("sample_id")["value"].reindex(ids)
        if metric == "ploidy_estimate":
            out[metric] = pd.array(values.where(values.notna(), None).tolist(), dtype="string")
        else:
            out[metric] = pd.array(pd.to_numeric(values, errors="coerce").tolist(), dtype="Float64")
    tools = long.groupby("sample_id")["tool"].agg(lambda t: "+".join(sorted(set(t))))
    out["metrics_source"] = pd.array(tools.reindex(ids).tolist(), dtype="string")
    out.attrs["units"] = dict(METRICS)
    return out


def read_metrics_path(project_root: str | Path) -> Path:
    """Where a project keeps its ingested read-level metrics (long form)."""
    return Path(project_root) / "genotypes" / READ_METRICS_FILE


def to_storable(long: pd.DataFrame) -> pd.DataFrame:
    """The long table with ``value`` split into a float ``value`` and a text ``value_text`` (for Parquet)."""
    text = long["metric"] == "ploidy_estimate"
    out = long.copy()
    out["value_text"] = pd.array(long["value"].where(text, None).tolist(), dtype="string")
    out["value"] = pd.to_numeric(long["value"].where(~text, None), errors="coerce").astype("float64")
    return out


__all__ = ["LONG_COLUMNS", "METRICS", "multiqc_raw_data", "parse_metrics_files", "pivot_metrics", "read_metrics_path",
           "to_storable"]
