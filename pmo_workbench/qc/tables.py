"""The QC tables' columns: name, dtype and meaning of each, declared once (as sgkit's variables and Hail's
field lists).

Every QC method checks its table against its spec before returning it (:func:`check_table`) and lists the
columns in its docstring (:func:`returns_table`); the ``QcExplorer`` widget takes its empty tables and
plot labels from here, and ``docs/qc_tables.md`` is this module's rendering (``python -m
pmo_workbench.qc.tables``; a test keeps it current). Field names follow Hail's, so users of Hail and gnomAD
recognise them; both backends give the same tables.

Dtypes: ``str`` (object column of str), ``str?`` (str or None), ``float64``/``int64``/``int32``/``bool`` (numpy),
``boolean`` (pandas' nullable boolean: NA where unknown), ``list<str>``/``list<int32>``/``list<float64>`` (Arrow
list columns, ``pd.ArrowDtype``; each element reads as a Python list), ``list[str]`` (object column of Python
lists). A column marked *optional* is present only where the text says.

Examples
--------
>>> SEX_CHECK["mismatch"].dtype
'boolean'
>>> print(SAMPLE_QC.describe().splitlines()[1])
- ``call_rate`` (float64): ``n_called / n_variants``.
>>> import pandas as pd
>>> check_table(pd.DataFrame({"sample_id": ["a"], "pass": ["yes"], "reasons": [[]]}), QC_DECISIONS)
Traceback (most recent call last):
...
pmo_workbench.qc.tables.TableError: qc_decisions: column 'pass' is object, the spec says bool
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is made or checked (a kinship pass counts first)
    import pandas as pd

F = TypeVar("F", bound=Callable[..., Any])


class TableError(ValueError):
    """A table does not match its spec (a missing, unknown or misplaced column, or a wrong dtype)."""


@dataclass(frozen=True)
class Column:
    """One column of a QC table: ``name``, ``dtype`` (see the module docstring), what it means, whether it is
    optional, and a short ``label`` for plots (default: the name)."""

    name: str
    dtype: str
    meaning: str
    optional: bool = False
    label: str = ""

    @property
    def title(self) -> str:
        """The plot label."""
        return self.label or self.name


@dataclass(frozen=True)
class TableSpec:
    """The columns of one QC table, in order.

    A column whose name contains ``{k}`` (e.g. ``PC{k}``) stands for a run of numbered columns (``PC1``,
    ``PC2``, ...) at its place.
    """

    name: str
    rows: str
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def __getitem__(self, name: str) -> Column:
        column = self._by_name.get(name) or self._numbered(name)
        if column is None:
            raise KeyError(f"{self.name} has no column {name!r}")
        return column

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def _numbered(self, name: str) -> Column | None:
        for c in self.columns:
            if "{k}" in c.name and re.fullmatch(re.escape(c.name).replace(r"\{k\}", r"[1-9][0-9]*"), name):
                return c
        return None

    @property
    def required(self) -> list[str]:
        """Names of the columns every such table has, in order (numbered runs left out)."""
        return [c.name for c in self.columns if not c.optional and "{k}" not in c.name]

    def describe(self) -> str:
        """The columns as a reST bullet list (one line per column)."""
        lines = []
        for c in self.columns:
            name = c.name.replace("{k}", "k")
            note = " *Optional.*" if c.optional else ""
            lines.append(f"- ``{name}`` ({c.dtype}): {c.meaning}{note}")
        return "\n".join(lines)

    def empty(self) -> pd.DataFrame:
        """A table without rows, with the required columns and their dtypes.

        Examples
        --------
        >>> QC_DECISIONS.empty().dtypes.astype(str).tolist()
        ['object', 'bool', 'object']
        """
        import pandas as pd

        return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(self[c].dtype)) for c in self.required})


def _is_arrow_list(dtype: Any, value: Callable[[Any], bool]) -> bool:
    import pandas as pd
    import pyarrow as pa

    return (isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype)
            and value(dtype.pyarrow_dtype.value_type))


def _arrow_string(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _arrow(check: str) -> Callable[[Any], bool]:
    import pyarrow as pa

    return {"int32": pa.types.is_int32, "float64": pa.types.is_float64}[check]


def _is_boolean(dtype: Any) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.BooleanDtype)


_DTYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda d: d == np.dtype(object),
    "str?": lambda d: d == np.dtype(object),
    "list[str]": lambda d: d == np.dtype(object),
    "float64": lambda d: d == np.dtype(np.float64),
    "int64": lambda d: d == np.dtype(np.int64),
    "int32": lambda d: d == np.dtype(np.int32),
    "bool": lambda d: d == np.dtype(bool),
    "boolean": lambda d: _is_boolean(d),
    "list<str>": lambda d: _is_arrow_list(d, _arrow_string),
    "list<int32>": lambda d: _is_arrow_list(d, lambda t: _arrow("int32")(t)),
    "list<float64>": lambda d: _is_arrow_list(d, lambda t: _arrow("float64")(t)),
}
_EMPTY_DTYPES = {"str": object, "str?": object, "list[str]": object, "float64": np.float64, "int64": np.int64,
                 "int32": np.int32, "bool": bool, "boolean": "boolean"}


def _empty_dtype(dtype: str) -> Any:
    if dtype in _EMPTY_DTYPES:
        return _EMPTY_DTYPES[dtype]
    import pandas as pd
    import pyarrow as pa

    value = {"list<str>": pa.string(), "list<int32>": pa.int32(), "list<float64>": pa.float64()}[dtype]
    return pd.ArrowDtype(pa.list_(value))


def check_table(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Return ``df`` unchanged when its columns match ``spec``: every required column present, no unknown
    column, the columns in the spec's order and each of its dtype.

    Raises
    ------
    TableError
        Naming the table and the first column that does not match.
    """
    order: list[int] = []
    for name in df.columns:
        try:
            column = spec[str(name)]
        except KeyError:
            raise TableError(f"{spec.name}: unknown column {name!r}") from None
        if not _DTYPE_CHECKS[column.dtype](df[name].dtype):
            raise TableError(f"{spec.name}: column {name!r} is {df[name].dtype}, the spec says {column.dtype}")
        order.append(spec.columns.index(column))
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise TableError(f"{spec.name}: missing column {missing[0]!r}")
    if order != sorted(order):
        raise TableError(f"{spec.name}: columns out of the spec's order: {list(df.columns)}")
    return df


def returns_table(spec: TableSpec) -> Callable[[F], F]:
    """Decorator of a method returning a QC table: checks the table (:func:`check_table`) and appends the
    spec's column list to the method's docstring."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> pd.DataFrame:
            return check_table(fn(*args, **kwargs), spec)

        doc = (fn.__doc__ or "").rstrip()
        wrapper.__doc__ = (f"{doc}\n\n    Columns of the ``{spec.name}`` table\n    {'-' * (len(spec.name) + 22)}\n"
                           + "\n".join(f"    {line}" for line in spec.describe().splitlines()) + "\n")
        return wrapper  # type: ignore[return-value]

    return decorate


SAMPLE_QC = TableSpec("sample_qc", "one row per sample, in file order", (
    Column("sample_id", "str", "sample ID as in the genotype file."),
    Column("call_rate", "float64", "``n_called / n_variants``.", label="Call rate"),
    Column("n_called", "int64", "calls that are not missing (a haploid call counts as called)."),
    Column("n_not_called", "int64", "missing calls."),
    Column("n_hom_ref", "int64", "calls with only reference alleles (haploid ``0`` included)."),
    Column("n_het", "int64", "calls with two different alleles."),
    Column("n_hom_var", "int64", "other called genotypes (homozygous or haploid non-reference)."),
    Column("n_non_ref", "int64", "``n_het + n_hom_var``."),
    Column("n_singleton", "int64", "alternate alleles seen once in the whole data set."),
    Column("n_snp", "int64", "SNP alternate alleles in calls (``n_transition + n_transversion``)."),
    Column("n_insertion", "int64", "insertion alternate alleles in calls."),
    Column("n_deletion", "int64", "deletion alternate alleles in calls."),
    Column("n_transition", "int64", "transition alternate alleles in calls (a het call adds one, a hom-var call "
           "two, as in Hail; plink2 and bcftools count genotypes)."),
    Column("n_transversion", "int64", "transversion alternate alleles in calls."),
    Column("r_ti_tv", "float64", "``n_transition / n_transversion`` (an allele ratio; NaN when the "
           "denominator is 0)."),
    Column("r_het_hom_var", "float64", "``n_het / n_hom_var`` (NaN when the denominator is 0)."),
    Column("r_insertion_deletion", "float64", "``n_insertion / n_deletion`` (NaN when the denominator is 0)."),
    Column("dp_mean", "float64", "mean FORMAT/DP over the calls that have one; where the input has DP.",
           optional=True),
    Column("gq_mean", "float64", "mean FORMAT/GQ over the calls that have one; where the input has GQ.",
           optional=True),
    Column("n_het_common", "int64", "heterozygous genotypes over the common autosomal QC sites (``run_qc``'s "
           "table: the heterozygosity check's numerator).", optional=True),
    Column("n_called_common", "int64", "called genotypes over the same sites (``run_qc``'s table).",
           optional=True),
))

VARIANT_QC = TableSpec("variant_qc", "one row per variant, in file order", (
    Column("locus", "str", "``contig:position``, the contig as named in the input (e.g. ``chr1:12345``)."),
    Column("alleles", "list<str>", "REF, then each ALT allele."),
    Column("call_rate", "float64", "samples with a call / samples."),
    Column("AC", "list<int32>", "allele count per allele, REF first (a haploid call adds one); sums to ``AN``."),
    Column("AF", "list<float64>", "``AC / AN`` per allele (NaN when ``AN`` is 0)."),
    Column("AN", "int32", "called alleles."),
    Column("n_het", "int64", "diploid calls with two different alleles."),
    Column("p_value_hwe", "float64", "two-sided exact Hardy-Weinberg test with mid-p correction over the diploid "
           "calls (= Hail's ``hardy_weinberg_test``, plink2 ``--hardy midp``); NaN unless biallelic with a "
           "diploid call. In ``run_qc``'s table, on non-PAR chrX: over the genetic women only (plink2 "
           "``--keep-females --hardy midp``)."),
    Column("p_value_excess_het", "float64", "one-sided exact test for excess heterozygosity (mid-p)."),
    Column("filters", "list<str>", "FILTER names as in Hail: ``PASS`` gives ``[]``, ``.`` gives a missing value."),
))

SEX_CHECK = TableSpec("sex_check", "one row per sample, in file order", (
    Column("sample_id", "str", "sample ID."),
    Column("f_stat", "float64", "chrX inbreeding coefficient ``F = (O - E) / (N - E)`` over the non-PAR chrX "
           "biallelic sites (about 1 with one X, 0 with two; NaN without called sites).",
           label="chrX F statistic"),
    Column("n_called_x", "int64", "called chrX sites used (Hail's ``N``)."),
    Column("expected_homs", "float64", "expected homozygous sites, ``sum of 1 - 2p(1 - p)`` (Hail's ``E``)."),
    Column("observed_homs", "int64", "observed homozygous sites, a haploid call counting as homozygous "
           "(Hail's ``O``)."),
    Column("n_haploid_x", "int64", "haploid calls among the ``n_called_x`` (the called ploidy; a set that writes "
           "men haploid on non-PAR X shows one X here); where the backend counts them.", optional=True),
    Column("y_call_rate", "float64", "called fraction of the non-PAR chrY sites (NaN without chrY)."),
    Column("genetic_sex", "str", "``F``, ``M`` or ``ambiguous``: F below the female threshold, above the male "
           "one; in between, the chrX/genome heterozygosity ratio decides where it can. In ``run_qc``'s table "
           "(:func:`~pmo_workbench.qc.sex.call_sex`) the called ploidy and chrY come first, and too few chrX sites "
           "give ``not_assessed``."),
    Column("reported_sex", "str?", "``F``/``M`` from the manifest (or the pedigree); None when unknown."),
    Column("mismatch", "boolean", "genetic and reported sex both known and different; NA when the reported sex "
           "is unknown."),
    Column("x_het_ratio", "float64", "heterozygous share of the called chrX sites over the genome-wide ``n_het "
           "/ n_called`` (about 0 with one X); ``run_qc``'s table.", optional=True),
    Column("low_x_het", "bool", "two X copies called but too little chrX heterozygosity for them (F above the "
           "male threshold and a Poisson lower tail of the het count below ``low_x_het_max_p``): a possible X "
           "anomaly, sent to review; ``run_qc``'s table.", optional=True),
    Column("sex_evidence", "str", "the numbers behind the call: chrX sites, haploid share, F, het ratio, het "
           "calls observed/expected, chrY call rate; ``run_qc``'s table.", optional=True),
))

KINSHIP = TableSpec("kinship", "one row per reported pair (above the kinship floor, or named by the pedigree), "
                    "``sample_i`` before ``sample_j`` in file order, by decreasing kinship", (
    Column("sample_i", "str", "first sample of the pair."),
    Column("sample_j", "str", "second sample of the pair."),
    Column("kinship", "float64", "KING-robust kinship (plink2 ``--make-king-table``): 0.5 duplicate, 0.25 first "
           "degree, ...; NaN without informative sites.", label="Kinship"),
    Column("ibs0", "float64", "share of the jointly called sites with opposite homozygotes."),
    Column("relationship", "str", "``duplicate/MZ``, ``first``, ``second``, ``third`` or ``unrelated`` (plink2's "
           "bounds 0.354, 0.177, 0.0884, 0.0442); ``unknown`` with fewer jointly called sites than the minimum."),
    Column("expected_relationship", "str?", "what the pedigree implies; ``unrelated`` for two pedigree samples it "
           "does not connect; None without a pedigree or for samples absent from it."),
    Column("unexpected", "bool", "the pedigree and the genomes disagree (either direction)."),
    Column("relationship_detail", "str", "``relationship``, with first degree split into ``parent-offspring`` "
           "and ``full-sibling`` by IBS0: parent-offspring below 1/8 of the unrelated pairs' median IBS0 (full "
           "siblings sit near 1/4 of it, parent and child near 0; the table's ``attrs['po_max_ibs0']``)."),
    Column("expected_detail", "str?", "the pedigree's name for the pair (parent-offspring, full-sibling, "
           "grandparent, ...)."),
    Column("n_snp", "int64", "sites called in both samples."),
    Column("hethet", "float64", "share of those sites where both are heterozygous."),
))

ANCESTRY = TableSpec("ancestry", "one row per sample, in file order", (
    Column("sample_id", "str", "sample ID."),
    Column("PC{k}", "float64", "principal component k of the standardised dosages of LD-pruned common "
           "autosomal sites (the unrelated samples define the axes, the others are projected). Absent when "
           "there were too few samples for a PCA."),
    Column("assigned_population", "str?", "the classifier's population, ``other`` (no population fits, e.g. "
           "admixed) below the minimum probability; None without a reference."),
    Column("probability", "float64", "the classifier's probability of the most likely population: out-of-fold "
           "(cross-validated) for the reference samples, from the full forest for the others (NaN without a "
           "reference or with a one-population reference)."),
    Column("pc_distance", "float64", "distance, in PCs scaled to unit variance over the fit samples, from the "
           "median of the sample's population (of all samples without a reference): large values are ancestry "
           "outliers.", label="Distance from population centre (PCs)"),
    Column("projected", "bool", "the sample was projected onto the axes rather than defining them. Absent when "
           "there were too few samples for a PCA.", optional=True),
))

QC_DECISIONS = TableSpec("qc_decisions", "one row per sample, in file order", (
    Column("sample_id", "str", "sample ID."),
    Column("pass", "bool", "the sample passes every check."),
    Column("reasons", "list[str]", "the checks it fails, in the order of "
           ":data:`pmo_workbench.qc.rules.REASONS` (empty when it passes)."),
    Column("verdict", "str", "``fail`` (a failing reason), ``review`` (only review reasons: kept, ``pass`` is "
           "True, but an analyst should look) or ``pass``.", optional=True),
    Column("review_reasons", "list[str]", "the checks that send it to review (ambiguous sex, ``low_x_het``, "
           "ancestry outlier, a metric or het rate between the review and fail bounds), in REASONS order.",
           optional=True),
    Column("not_assessed", "list[str]", "checks that could not be made for it (``sex_not_assessed``: too few "
           "informative chrX sites).", optional=True),
    Column("explanation", "list[str]", "one line per flag: the metric, its value, the bound it crossed, the "
           "stratum and the rule (the ``qc_flags`` table in words).", optional=True),
))

QC_FLAGS = TableSpec("qc_flags", "one row per flagged sample and reason (fail, review or note), in sample order",
                     (
    Column("sample_id", "str", "sample ID."),
    Column("reason", "str", "the reason (:data:`pmo_workbench.qc.rules.REASONS`)."),
    Column("verdict", "str", "``fail``, ``review`` or ``note`` (not assessed)."),
    Column("metric", "str", "what was measured (e.g. ``het_rate``, ``r_ti_tv``, ``call_rate``, ``sex``, "
           "``kinship``)."),
    Column("value", "float64", "its value for the sample (the PC residual shifted to the stratum median where "
           "the metric was regressed; chrX F for sex reasons; the highest kinship for pair reasons)."),
    Column("bound", "float64", "the bound it crossed (NaN where the rule has none)."),
    Column("stratum", "str", "the stratum whose bounds apply (e.g. ``batch=B1, assigned_population=EUR``)."),
    Column("rule", "str", "the rule, in words."),
    Column("text", "str", "the whole explanation in one line."),
))

QC_METRIC_ASSESSMENT = TableSpec("qc_metric_assessment", "one row per outlier metric (then ``het_rate``)", (
    Column("metric", "str", "the metric."),
    Column("assessed", "bool", "it was tested (enough informative calls and samples, a MAD above the floor)."),
    Column("pc_regressed", "bool", "PC residuals were tested in some stratum."),
    Column("pc_regressed_strata", "str", "those strata, comma-separated."),
    Column("n_samples", "int64", "samples with a value."),
    Column("median", "float64", "median of the raw metric over all samples."),
    Column("mad", "float64", "its scaled MAD."),
    Column("note", "str", "``not assessed: why`` (empty when assessed)."),
))

SAMPLE_QC_AUTOSOMAL = TableSpec("sample_qc_autosomal", "one row per sample, in file order (``run_qc``: the "
                                "outlier metrics on autosomal biallelic sites only)", (
    Column("sample_id", "str", "sample ID."),
    Column("n_het", "int64", "heterozygous calls."),
    Column("n_hom_var", "int64", "homozygous non-reference calls."),
    Column("n_snp", "int64", "SNP alternate alleles in calls."),
    Column("n_transition", "int64", "transition alternate alleles in calls."),
    Column("n_transversion", "int64", "transversion alternate alleles in calls."),
    Column("n_insertion", "int64", "insertion alternate alleles in calls."),
    Column("n_deletion", "int64", "deletion alternate alleles in calls."),
    Column("r_ti_tv", "float64", "``n_transition / n_transversion`` (NaN when the denominator is 0)."),
    Column("r_het_hom_var", "float64", "``n_het / n_hom_var`` (NaN when the denominator is 0)."),
    Column("r_insertion_deletion", "float64", "``n_insertion / n_deletion`` (NaN when the denominator is 0)."),
))

TABLES: dict[str, TableSpec] = {s.name: s for s in (SAMPLE_QC, VARIANT_QC, SEX_CHECK, KINSHIP, ANCESTRY,
                                                     QC_DECISIONS, QC_FLAGS, QC_METRIC_ASSESSMENT,
                                                     SAMPLE_QC_AUTOSOMAL)}
"""Every QC table's spec by name (the names of the run folder's Parquet files)."""

SAMPLE_QC_COLUMNS = SAMPLE_QC.required
VARIANT_QC_COLUMNS = VARIANT_QC.required
SEX_CHECK_COLUMNS = SEX_CHECK.required
KINSHIP_COLUMNS = KINSHIP.required


def render_markdown() -> str:
    """``docs/qc_tables.md``: every table's columns, as Markdown."""
    out = ["# QC tables", "",
           "Generated from `pmo_workbench/qc/tables.py` (`python -m pmo_workbench.qc.tables > docs/qc_tables.md`); "
           "do not edit by hand.", ""]
    for spec in TABLES.values():
        out += [f"## `{spec.name}`", "", f"{spec.rows[0].upper()}{spec.rows[1:]}.", "",
                "| column | dtype | meaning |", "|---|---|---|"]
        for c in spec.columns:
            meaning = c.meaning.replace("``", "`").replace("|", "\\|") + (" *Optional.*" if c.optional else "")
            meaning = re.sub(r":(?:data|func|mod|class):`~?([^`]+)`", r"`\1`", meaning)
            out.append(f"| `{c.name.replace('{k}', 'k')}` | {c.dtype} | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - writes the documentation
    sys.stdout.write(render_markdown())
