"""The logic of ``notebooks/wgs_qc.ipynb``: resolve a project's inputs, run QC, summarise and write the outputs.

The notebook stays thin: :func:`run_wgs_qc` opens the genotypes and runs :func:`~pmo_workbench.qc.pipeline.run_qc`
with the reviewed thresholds; the ``count_*`` functions give aggregated tables (safe for export after
:meth:`~pmo_workbench.privacy.Disclosure.counts`); :func:`check_failure_shares` warns when the thresholds fail
more than a stated share of a batch or of all samples; :func:`write_wgs_qc_outputs` writes the run folder's files
through the disclosure layer — in ``export`` mode only aggregated files (no per-sample or per-pair table, no sample
list, no filtered VCF).

Examples
--------
>>> qc = run_wgs_qc("demo")  # doctest: +SKIP
>>> count_reasons(qc.result.decisions)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.files import replace_atomically, write_text_atomic
from pmo_workbench.genotypes.manifest import load_manifest
from pmo_workbench.privacy.disclosure_layer import Disclosure
from pmo_workbench.project import Project, as_project
from pmo_workbench.qc.pipeline import QcResult, run_qc
from pmo_workbench.qc.review import (
    ReviewedThresholds,
    ThresholdReview,
    resolve_reviewed_thresholds,
    write_run_thresholds,
)
from pmo_workbench.qc.rules import REASONS, select_qc_sites
from pmo_workbench.qc.trend import compute_batch_metrics, write_batch_metrics

PER_SAMPLE_TABLES = ("sample_qc", "variant_qc", "sex_check", "kinship", "ancestry", "qc_decisions")
"""Tables written in internal mode only (individual-level, or per-variant counts as small as one carrier)."""
PASSING_FILE = "passing_samples.txt"
FILTERED_VCF = "filtered.vcf.gz"
EXTRA_FILE = "run_extra.json"
QC_FORMAT_FIELDS = ("DP", "GQ")
"""FORMAT fields the WGS QC track asks ``open_genotypes`` for: ``sample_qc``'s ``dp_mean`` and ``gq_mean`` (where
the input has them; AD is not used, so it is not imported)."""


@dataclass
class WgsQcRun:
    """Everything the WGS QC notebook shows: inputs, thresholds, QC result and the variant verdicts.

    Attributes
    ----------
    genotypes
        The opened store.
    result
        :class:`~pmo_workbench.qc.pipeline.QcResult`.
    reviewed
        The thresholds with reviewer, date and note.
    manifest
        The manifest (None if the project has none).
    strata
        Columns grouping the outlier bounds (and the per-batch views: the first manifest column among them).
    variant_pass
        Boolean per variant: call rate and FILTER pass (the QC sites), the variants of the filtered VCF.
    inputs
        Resolved input paths (``input``, ``manifest``, ``pedigree``, ``reference_labels``) as text.
    """

    project: Project
    genotypes: Any
    result: QcResult
    reviewed: ReviewedThresholds
    manifest: pd.DataFrame | None
    strata: list[str]
    variant_pass: np.ndarray
    inputs: dict[str, str | None] = field(default_factory=dict)

    @property
    def batch_column(self) -> str | None:
        """The manifest column used for per-batch views: ``batch`` if present, else the first stratum."""
        if self.manifest is None:
            return None
        for col in ["batch", *self.strata]:
            if col in self.manifest.columns:
                return col
        return None

    def samples_with_batch(self) -> pd.DataFrame:
        """Sample QC joined with the batch column (``batch``) and ``het_rate`` = n_het / n_called."""
        sqc = self.result.sample_qc.assign(sample_id=self.result.sample_qc["sample_id"].astype(str))
        with np.errstate(divide="ignore", invalid="ignore"):
            sqc["het_rate"] = sqc["n_het"] / sqc["n_called"].where(sqc["n_called"] > 0)
        col = self.batch_column
        if col is None:
            sqc["batch"] = "all"
        else:
            sqc["batch"] = self.manifest.set_index("sample_id")[col].reindex(sqc["sample_id"]).fillna("NA").to_numpy()
        return sqc

    def batch_metrics(self) -> pd.DataFrame:
        """Per-batch medians for the trend (see :func:`~pmo_workbench.qc.trend.compute_batch_metrics`)."""
        sqc = self.samples_with_batch()
        return compute_batch_metrics(sqc, sqc[["sample_id", "batch"]], self.result.decisions)


def _resolve(proj: Project, value: str | None, source: str, name: str) -> Path | None:
    raw = value if value is not None else getattr(proj.config.sources, source, None)
    path = proj.path(raw) if raw is not None else None
    if path is not None and value is not None and not (path.exists() or path.with_suffix(".bed").exists()):
        raise ConfigError("file not found", file=path, field=name)
    return path


def merge_delivery_batches(manifest: pd.DataFrame | None, store_dir: str | Path,
                           project_root: str | Path | None = None) -> pd.DataFrame:
    """The genome manifest with every sample of a cohort store and the batch it was delivered in.

    A sample of the store takes its ``batch`` from the store (the delivery batch ``pmo ingest`` recorded;
    a sample redelivered with ``--replace`` has its latest batch), overriding the manifest's; a store sample
    the manifest lacks gets a row with its batch and the ``reported_sex`` of its delivery's ``manifest.tsv``
    (from the delivery ledger of ``project_root``). Manifest rows of samples not in the store are kept.

    Examples
    --------
    >>> from pmo_workbench.genotypes.gvcf_store import add_gvcfs
    >>> import tempfile
    >>> d = Path("../shared/data/gvcf_small/hail_gatk4_chr22")
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = add_gvcfs(root, {"HG00187": d / "HG00187.hg38.g.vcf.gz"}, "B7")
    >>> m = merge_delivery_batches(pd.DataFrame({"sample_id": ["X1"], "batch": ["B0"]}), root)
    >>> m[["sample_id", "batch"]].to_dict("records")
    [{'sample_id': 'X1', 'batch': 'B0'}, {'sample_id': 'HG00187', 'batch': 'B7'}]
    """
    from pmo_workbench.genotypes.gvcf_store import store_sample_batches

    batch = store_sample_batches(store_dir)
    man = load_manifest(manifest) if manifest is not None else pd.DataFrame({"sample_id": pd.Series(dtype=str)})
    if "batch" not in man.columns:
        man["batch"] = pd.Series(pd.NA, index=man.index, dtype=object)
    man["batch"] = man["batch"].astype(object)
    known = man["sample_id"].isin(batch.keys())
    man.loc[known, "batch"] = man.loc[known, "sample_id"].map(batch)
    extra = [s for s in batch if s not in set(man["sample_id"])]
    if extra:
        rows = pd.DataFrame({"sample_id": extra, "batch": [batch[s] for s in extra]})
        if project_root is not None:
            from pmo_workbench.genotypes.deliveries import load_ledger

            ledger = load_ledger(project_root).drop_duplicates("sample_id", keep="last").set_index("sample_id")
            if "reported_sex" in ledger.columns:
                rows["reported_sex"] = ledger["reported_sex"].reindex(rows["sample_id"]).to_numpy()
        man = pd.concat([man, rows], ignore_index=True)
    return man


def run_wgs_qc(
    project: str | Path | Project,
    *,
    input: str | None = None,  # noqa: A002 - the notebook parameter's name
    backend: str | None = None,
    manifest: str | None = None,
    pedigree: str | None = None,
    thresholds_file: str | None = None,
    strata: list[str] | None = None,
    reference_labels: str | None = None,
    k: int | None = None,
) -> WgsQcRun:
    """Open the project's genotypes and run QC with its reviewed thresholds.

    Parameters
    ----------
    project
        Project folder or loaded project.
    input, manifest, pedigree
        Paths relative to the project (default: ``sources`` of ``pmo.yaml``). With no ``input``, a project
        whose ``pmo ingest`` grew a cohort store (``data/genotypes/store.json``) is checked on that store --
        every ingested sample, with the batch it was delivered in (:func:`merge_delivery_batches`) -- and
        otherwise on ``sources.genotypes``.
    backend
        ``embedded`` or ``hail`` (default: ``backend.engine``).
    thresholds_file
        Reviewed thresholds (default: ``params/wgs_qc.yaml`` if present, else the built-in defaults).
    strata
        Outlier strata (default: the thresholds' strata, else ``["batch"]`` when the manifest has it).
    reference_labels
        TSV ``sample_id``, ``population`` for ancestry assignment.
    k
        Principal components (default: the thresholds' ``ancestry_k``).

    Raises
    ------
    ConfigError
        No genotype input, a missing file, or invalid thresholds.

    Examples
    --------
    >>> qc = run_wgs_qc("demo", strata=["batch", "sequencing_site"])  # doctest: +SKIP
    >>> qc.result.decisions["pass"].mean()  # doctest: +SKIP
    """
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.genotypes.gvcf_store import find_cohort_store

    proj = as_project(project)
    store = find_cohort_store(proj.root) if input is None else None  # `pmo ingest` grew a cohort store
    geno = store if store is not None else _resolve(proj, input, "genotypes", "input")
    if geno is None:
        raise ConfigError("no genotype input: set sources.genotypes in pmo.yaml or the 'input' parameter",
                          file=proj.root / "pmo.yaml", field="sources.genotypes")
    man_path = _resolve(proj, manifest, "manifest", "manifest")
    ped_path = _resolve(proj, pedigree, "pedigree", "pedigree")
    ref_path = proj.path(reference_labels) if reference_labels else None
    if ref_path is not None and not ref_path.is_file():
        raise ConfigError("file not found", file=ref_path, field="reference_labels")
    reviewed = resolve_reviewed_thresholds(proj, thresholds_file)
    man = load_manifest(man_path) if man_path is not None and man_path.is_file() else None
    if store is not None:
        man = merge_delivery_batches(man, store, proj.root)
    th = reviewed.thresholds
    if strata is None:
        strata = list(th.strata) or (["batch"] if man is not None and "batch" in man.columns else [])
    update: dict[str, Any] = {"strata": list(strata)}
    if k is not None:
        update["ancestry_k"] = int(k)
    th = th.model_copy(update=update)
    th = type(th).model_validate(th.model_dump())  # re-validate the overrides
    engine = backend or proj.config.backend.engine
    if engine == "hail":
        from pmo_workbench.genotypes import hail_backend

        if hail_backend.running_master() is None:  # else keep the session this process already runs
            hail_backend.init_hail_from_config(proj.config.backend)
    g = open_genotypes(geno, backend=engine, cache_dir=proj.cache_dir,
                       reference_build=proj.config.sources.reference_build, format_fields=QC_FORMAT_FIELDS)
    ped = ped_path if ped_path is not None and ped_path.is_file() else None
    from pmo_workbench.qc.sequencing_metrics import sequencing_metrics  # read-level metrics of `pmo ingest`

    read_metrics = sequencing_metrics(proj)
    result = run_qc(g, manifest=man, pedigree=ped, thresholds=th, reference=ref_path,
                    read_metrics=read_metrics if len(read_metrics) else None)
    variant_pass = select_qc_sites(result.variant_qc, g.variants, th)
    inputs = {"input": str(geno), "input_kind": "cohort store" if store is not None else "file",
              "manifest": str(man_path) if man_path is not None and man_path.is_file() else None,
              "pedigree": str(ped) if ped is not None else None,
              "reference_labels": str(ref_path) if ref_path else None, "backend": engine}
    if engine == "hail":
        from pmo_workbench.genotypes.hail_backend import running_master

        inputs["spark_master"] = running_master()
    return WgsQcRun(proj, g, result, ReviewedThresholds(th, reviewed.reviewer, reviewed.date, reviewed.note,
                                                        reviewed.source),
                    man, list(strata), variant_pass, inputs)


# --------------------------------------------------------------------------------------------- summaries


def count_reasons(decisions: pd.DataFrame) -> pd.Series:
    """Failing samples per reason (a sample with two reasons counts under both), in :data:`REASONS` order,
    plus ``any reason`` (failing samples) and ``passed``.

    Examples
    --------
    >>> d = pd.DataFrame({"pass": [True, False], "reasons": [[], ["duplicate", "low_call_rate"]]})
    >>> count_reasons(d).to_dict()["duplicate"]
    1
    """
    counts = {r: 0 for r in REASONS}
    for reasons in decisions["reasons"]:
        for r in list(reasons):
            counts[str(r)] = counts.get(str(r), 0) + 1
    counts["any reason"] = int((~decisions["pass"].astype(bool)).sum())
    counts["passed"] = int(decisions["pass"].astype(bool).sum())
    return pd.Series(counts, name="samples", dtype="int64").rename_axis("reason")


def count_sex_check(sex_check: pd.DataFrame) -> pd.DataFrame:
    """Samples by genetic sex (rows) and reported sex (columns).

    Examples
    --------
    >>> count_sex_check(pd.DataFrame({"genetic_sex": ["F", "M", "M"], "reported_sex": ["F", "F", "M"]})).loc["M", "F"]
    np.int64(1)
    """
    reported = sex_check["reported_sex"] if "reported_sex" in sex_check else pd.Series("unknown",
                                                                                         index=sex_check.index)
    return pd.crosstab(sex_check["genetic_sex"].fillna("unknown"), reported.fillna("unknown")).rename_axis(
        index="genetic_sex", columns="reported_sex")


def count_relationships(kinship: pd.DataFrame) -> pd.DataFrame:
    """Pairs by relationship from the genomes (rows) and from the pedigree (columns).

    Examples
    --------
    >>> k = pd.DataFrame({"relationship": ["first", "unrelated"], "expected_relationship": ["first", "first"]})
    >>> count_relationships(k).to_dict()
    {'first': {'first': 1, 'unrelated': 1}}
    """
    if kinship.empty:
        return pd.DataFrame()
    expected = kinship.get("expected_relationship", pd.Series(None, index=kinship.index))
    return pd.crosstab(kinship["relationship"].fillna("unrelated"), expected.fillna("not in pedigree")
                       ).rename_axis(index="genomes", columns="pedigree")


def count_by_population(ancestry: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Samples per assigned population (rows): passed, failed.

    Examples
    --------
    >>> anc = pd.DataFrame({"sample_id": ["a", "b"], "assigned_population": ["EUR", None]})
    >>> count_by_population(anc, pd.DataFrame({"sample_id": ["a", "b"], "pass": [True, False]})).to_dict("index")
    {'EUR': {'failed': 0, 'passed': 1}, 'not assigned': {'failed': 1, 'passed': 0}}
    """
    pop = ancestry.assign(sample_id=ancestry["sample_id"].astype(str)).set_index("sample_id")
    pop = pop.get("assigned_population", pd.Series(dtype=object))
    d = decisions.assign(sample_id=decisions["sample_id"].astype(str))
    d["population"] = pop.reindex(d["sample_id"]).fillna("not assigned").astype(str).to_numpy()
    d["verdict"] = np.where(d["pass"].astype(bool), "passed", "failed")
    return pd.crosstab(d["population"], d["verdict"]).rename_axis(index="population", columns="")


def count_outliers_by_stratum(outliers: pd.DataFrame) -> pd.DataFrame:
    """Samples flagged per stratum (rows) and tested metric (columns).

    Examples
    --------
    >>> o = pd.DataFrame({"stratum": ["B1", "B1", "B2"], "x_outlier": [True, False, True]})
    >>> count_outliers_by_stratum(o)["x"].to_dict()
    {'B1': 1, 'B2': 1}
    """
    flag_cols = [c for c in outliers.columns if c.endswith("_outlier")]
    strata = outliers["stratum"].astype(str) if "stratum" in outliers else pd.Series("all", index=outliers.index)
    table = outliers[flag_cols].astype(bool).groupby(strata.to_numpy()).sum()
    table.columns = [c.removesuffix("_outlier") for c in flag_cols]
    return table.rename_axis(index="stratum").astype("int64")


def select_failing_samples(run: WgsQcRun) -> pd.DataFrame:
    """Failing and review samples with their verdict, reasons, explanation (metric, value, bound, stratum, rule)
    and key metrics (internal views only).

    Examples
    --------
    >>> select_failing_samples(run_wgs_qc("demo")).columns.tolist()[:2]  # doctest: +SKIP
    ['sample_id', 'reasons']
    """
    sqc = run.samples_with_batch().set_index("sample_id")
    d = run.result.decisions.assign(sample_id=run.result.decisions["sample_id"].astype(str))
    listed = ~d["pass"].astype(bool) | (d["verdict"] == "review" if "verdict" in d else False)
    fail = d[listed].copy()
    for col, sep in (("reasons", ", "), ("review_reasons", ", "), ("not_assessed", ", "), ("explanation", "; ")):
        if col in fail:  # qc (#11): review verdicts and explanations shown as text
            fail[col] = fail[col].map(lambda r, sep=sep: sep.join(map(str, r)))
    for col in ("batch", "call_rate", "het_rate", "dp_mean"):
        if col in sqc.columns:
            fail[col] = sqc[col].reindex(fail["sample_id"]).to_numpy()
    return fail.drop(columns=["pass"]).reset_index(drop=True)


def compute_alt_frequency(variant_qc: pd.DataFrame) -> pd.Series:
    """Frequency of all ALT alleles of each variant, ``1 - AF[0]`` (``AF`` is Hail's per-allele list).

    Examples
    --------
    >>> compute_alt_frequency(pd.DataFrame({"AF": [[0.75, 0.25], [0.5, 0.25, 0.25], []]})).tolist()
    [0.25, 0.5, nan]
    """
    return variant_qc["AF"].map(lambda af: 1.0 - float(af[0]) if af is not None and len(af) else np.nan
                                ).astype(float).rename("alt_frequency")


def summarise_variants(run: WgsQcRun) -> pd.Series:
    """Variant counts: all, biallelic, on chrX, passing QC (call rate and FILTER), HWE p < 1e-6.

    Examples
    --------
    >>> summarise_variants(run_wgs_qc("demo"))["variants"]  # doctest: +SKIP
    4000
    """
    v = run.genotypes.variants
    vqc = run.result.variant_qc
    kinds = v["contig"].map(run.genotypes.contig_kind)
    return pd.Series({
        "variants": len(v),
        "biallelic": int((v["n_alleles"] == 2).sum()),
        "on chrX": int((kinds == "X").sum()),
        "passing QC (call rate, FILTER)": int(run.variant_pass.sum()),
        "HWE p < 1e-6": int((vqc["p_value_hwe"] < 1e-6).sum()),
    }, name="variants")


FAIL_SHARE_WARNING = 0.2
"""Share of failing samples, in a batch or overall, above which the report warns that the thresholds (or the
batch) need a look: a reviewed threshold that fails most of a batch is more likely wrong than the batch."""


def check_failure_shares(run: WgsQcRun, disclosure: Disclosure, *, max_share: float = FAIL_SHARE_WARNING
                         ) -> list[str]:
    """Warnings (Markdown) when more than ``max_share`` of all samples, or of a batch, fail, naming the most
    frequent reason; counts as the disclosure layer allows (in export a small count becomes "some").

    Examples
    --------
    >>> check_failure_shares(run_wgs_qc("demo"), Disclosure("internal"))  # doctest: +SKIP
    []
    """
    d = run.result.decisions.assign(sample_id=run.result.decisions["sample_id"].astype(str))
    batches = run.samples_with_batch().set_index("sample_id")["batch"].reindex(d["sample_id"]).to_numpy()
    d["batch"] = batches
    fail = ~d["pass"].astype(bool)

    def top_reason(rows: pd.DataFrame) -> str:
        counts = count_reasons(rows).drop(["any reason", "passed"])
        counts = counts[counts > 0]
        return f" (most often `{counts.idxmax()}`)" if len(counts) else ""

    def n_of(k: int, n: int) -> str:
        shown_k, shown_n = disclosure.count(k), disclosure.count(n)
        if shown_k is None or shown_n is None or disclosure.count(n - k) is None:
            return f"more than {max_share:.0%}"
        return f"{shown_k:,} of {shown_n:,} ({k / n:.0%})"

    out = []
    n, k = len(d), int(fail.sum())
    if n and k / n > max_share:
        out.append(f"**Warning: {n_of(k, n)} of all samples fail the reviewed thresholds**{top_reason(d[fail])}. "
                   f"More than {max_share:.0%} failing usually means a threshold does not suit this data (or the "
                   "data has a problem); check the thresholds before using the passing list.")
    if run.batch_column is not None:
        for batch, rows in d.groupby("batch", sort=True):
            nb, kb = len(rows), int((~rows["pass"].astype(bool)).sum())
            if nb and kb / nb > max_share and nb != n:
                out.append(f"**Warning: {n_of(kb, nb)} samples of batch `{batch}` fail the reviewed "
                           f"thresholds**{top_reason(rows[~rows['pass'].astype(bool)])}; more than "
                           f"{max_share:.0%} of a batch failing is a batch problem or an unsuitable threshold.")
    return out


# ------------------------------------------------------------------------------------------------ output


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def save_qc_table(table: pd.DataFrame, output_dir: str | Path, name: str) -> Path:
    """Write a QC table as ``output_dir/name.parquet`` atomically after a CPR scan; list columns (``alleles``,
    ``AF``, ``reasons``) stay lists in the file and are scanned as joined text.

    Examples
    --------
    >>> import tempfile
    >>> save_qc_table(pd.DataFrame({"sample_id": ["a"], "reasons": [["duplicate"]]}), tempfile.mkdtemp(), "d").name
    'd.parquet'
    """
    from pmo_workbench.privacy import check_no_cpr

    list_cols = [c for c in table.columns
                 if (table[c].dtype == object or isinstance(table[c].dtype, pd.ArrowDtype))
                 and table[c].map(_is_list).any()]
    if not list_cols:
        return Disclosure("internal").write_table(table, output_dir, name, kind="individual")
    scan = table.copy()
    for c in list_cols:
        scan[c] = pd.Series([", ".join(map(str, v)) if _is_list(v) else v for v in scan[c]], index=scan.index,
                            dtype=object)
    check_no_cpr(scan)
    target = Path(output_dir) / f"{name}.parquet"
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if any(isinstance(table[c].dtype, pd.ArrowDtype) for c in table.columns):
        # pandas cannot read back its own metadata of Arrow list dtypes: drop it (lists then come back as
        # arrays); the DataFrame's attrs are kept
        meta = {k: v for k, v in (arrow.schema.metadata or {}).items() if k != b"pandas"}
        arrow = arrow.replace_schema_metadata(meta)
    with replace_atomically(target) as tmp:
        pq.write_table(arrow, tmp)
    return target


def write_wgs_qc_outputs(
    run: WgsQcRun,
    output_dir: str | Path,
    disclosure: Disclosure,
    *,
    write_filtered_vcf: bool = False,
    threshold_review: ThresholdReview | None = None,
    extra: dict[str, Any] | None = None,
) -> list[str]:
    """Write the run folder's files through the disclosure layer; returns their names.

    Always: ``batch_metrics.parquet`` (per batch, :meth:`Disclosure.group_metrics`: in export mode batches under
    ``min_count`` samples keep no metrics), ``thresholds.yaml`` and ``run_extra.json`` (sample counts as
    :meth:`Disclosure.counts_record` releases them, thresholds and review, merged into ``run.json``). Internal mode
    adds the tables of :data:`PER_SAMPLE_TABLES` (``qc_decisions`` with ``reasons`` as a list column and the
    thresholds/review in its Parquet metadata), ``passing_samples.txt`` and, when asked, ``filtered.vcf.gz``
    (passing samples at passing variants). With ``threshold_review``
    (:func:`~pmo_workbench.qc.review.review_thresholds`), ``run_extra.json`` records the earlier run compared with
    and the changed thresholds (plus, internal mode, how many samples flipped), and internal mode writes the
    flipped samples as ``threshold_review.parquet``.

    Raises
    ------
    ConfigError
        ``write_filtered_vcf`` in export mode (individual-level genotypes never leave in an export).

    Examples
    --------
    >>> write_wgs_qc_outputs(run_wgs_qc("demo"), "runs/x", Disclosure("export"))  # doctest: +SKIP
    ['batch_metrics.parquet', 'thresholds.yaml', 'run_extra.json']
    """
    from pmo_workbench.genotypes.export import write_filtered_vcf as write_vcf
    from pmo_workbench.genotypes.export import write_joint_vcf

    if write_filtered_vcf and not disclosure.individual_level:
        raise ConfigError("a filtered VCF is individual-level data: not written in export mode",
                          field="write_filtered_vcf")
    internal = disclosure.individual_level
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    res = run.result
    review = {"reviewer": run.reviewed.reviewer, "date": str(run.reviewed.date) if run.reviewed.date else None,
              "note": run.reviewed.note, "source": str(run.reviewed.source) if run.reviewed.source else None,
              "sha256": hashlib.sha256(run.reviewed.source.read_bytes()).hexdigest()
              if run.reviewed.source is not None and run.reviewed.source.is_file() else None}
    write_batch_metrics(disclosure.group_metrics(run.batch_metrics()), out)
    written.append("batch_metrics.parquet")
    write_run_thresholds(run.reviewed, out)
    written.append("thresholds.yaml")
    if internal:
        decisions = res.decisions.copy()
        decisions["reasons"] = decisions["reasons"].map(lambda r: [str(x) for x in r])
        decisions.attrs = {"thresholds": res.thresholds.model_dump(mode="json"), **review}
        tables = {"sample_qc": res.sample_qc, "variant_qc": res.variant_qc, "sex_check": res.sex_check,
                  "kinship": res.kinship, "ancestry": res.ancestry, "qc_decisions": decisions}
        for name, table in tables.items():
            save_qc_table(disclosure.individual(table, what=f"{name}.parquet"), out, name)
            written.append(f"{name}.parquet")
        passing = res.passing_samples()
        disclosure.write_text(out, PASSING_FILE, "".join(f"{s}\n" for s in passing), kind="individual")
        written.append(PASSING_FILE)
        if write_filtered_vcf:
            source_format = getattr(run.genotypes, "source_format", "vcf")
            if source_format == "gvcf_store":  # no source VCF: the passing part of the combined matrix
                if not hasattr(run.genotypes, "iter_chunks"):
                    raise InputError("a filtered VCF of a cohort store is written with the embedded backend",
                                     file=run.genotypes.path, field="write_filtered_vcf")
                disclosure.individual(None, what=FILTERED_VCF)
                write_joint_vcf(run.genotypes, out / FILTERED_VCF, samples=passing, variant_mask=run.variant_pass)
            else:
                if source_format != "vcf" or run.genotypes.path.suffix == ".bed":
                    raise InputError("a filtered VCF can only be written from a VCF/BCF input",
                                     file=run.genotypes.path)
                disclosure.individual(None, what=FILTERED_VCF)
                write_vcf(run.genotypes.path, passing, run.variant_pass, out / FILTERED_VCF)
            written += [FILTERED_VCF, FILTERED_VCF + ".tbi"]
    review_record: dict[str, Any] = {}
    if threshold_review is not None:
        tr = threshold_review
        review_record["threshold_review"] = {
            "previous_run": tr.previous_run.run_dir.name if tr.previous_run else None,
            "changed": tr.changed["threshold"].tolist(),
            "newly_failing": len(tr.newly_failing) if internal else None,
            "newly_passing": len(tr.newly_passing) if internal else None}
        if internal and tr.decisions_available:
            flips = pd.concat([tr.newly_failing.assign(change="newly failing"),
                               tr.newly_passing.assign(change="newly passing")], ignore_index=True)
            save_qc_table(disclosure.individual(flips, what="threshold_review.parquet"), out, "threshold_review")
            written.append("threshold_review.parquet")
    n_pass = int(res.decisions["pass"].sum())
    counts = {"samples": int(len(res.decisions)), "samples_passed": n_pass,
              "samples_failed": int(len(res.decisions) - n_pass), "variants": int(run.genotypes.n_variants),
              "variants_passed": int(run.variant_pass.sum())}
    # both parts of the total go when one is small, so neither can be derived; variants are not persons
    released = disclosure.counts_record({k: counts[k] for k in ("samples", "samples_passed", "samples_failed")},
                                        parts=(("samples_passed", "samples_failed"),))
    counts.update(released)
    payload = {"qc_counts": counts, "qc_thresholds": res.thresholds.model_dump(mode="json"),
               "qc_review": review, "qc_outputs_individual_level": internal, **review_record, **(extra or {})}
    write_text_atomic(out / EXTRA_FILE, json.dumps(payload, indent=2, default=str) + "\n")
    written.append(EXTRA_FILE)
    return written
