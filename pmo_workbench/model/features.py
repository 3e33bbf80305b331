"""Leakage-safe registry features for a cohort: one row per (person, index date), nothing dated after the index.

A :class:`FeatureSet` (YAML or dict) names what enters the model: demographics (age at index, sex, region), lab
values (nearest before the index within a window, or their mean/min/max/count), diagnosis-history and medication
flags from code lists, polygenic scores and carrier status of named variants (both added by
:func:`add_genetic_features` from genotypes). Every window is ``[start, end]`` in days relative to the index date,
both ends inclusive, and **may not end after day 0**: a window reaching past the index date is a
:class:`~pmo_workbench.errors.ConfigError`, and each query also caps the event date at the index date, so an
event dated after the index date can never enter a feature (``tests/unit/test_model_features.py`` plants such
events and checks). A lab result taken on the index day counts (its date is not after the index date).

:func:`build_features` returns a :class:`FeatureTable`: ``table`` (``person_id``, ``index_date`` and one column
per feature) and ``dictionary`` (one row per feature: its source, codes, window, statistic, type and the share
missing), which the model card reports.

Examples
--------
>>> fs = parse_feature_set({"name": "mi", "demographics": ["age", "sex"],
...     "labs": [{"name": "ldl", "codes": ["NPU01567"], "window": [-730, 0]}],
...     "diagnoses": [{"name": "diabetes", "codes": ["DE10-DE14"]}]})
>>> [f.name for f in fs.registry_features()]
['ldl', 'diabetes']
>>> parse_feature_set({"name": "x", "labs": [{"name": "ldl", "codes": ["NPU01567"], "window": [-30, 5]}]})
Traceback (most recent call last):
...
pmo_workbench.errors.ConfigError: feature set: field labs[0].window: the window ends 5 days after the index date; features may only use events up to the index date
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.health.codelists import code_condition, parse_code

LONG_AGO = -36500
"""Default start of history windows: 100 years before the index date (all recorded history)."""

Demographic = Literal["age", "sex", "region"]
_VOCAB = {"lab": "NPU", "diagnosis": "SKS", "prescription": "ATC"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _window(v: tuple[int, int]) -> tuple[int, int]:
    a, b = v
    if a > b:
        raise ValueError(f"window start {a} is after its end {b}")
    if b > 0:
        raise ValueError(f"the window ends {b} days after the index date; features may only use events up to "
                         "the index date")
    return v


class _CodeFeature(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="column name of the feature")
    codes: list[str] = Field(..., min_length=1, description="codes, prefixes (X*) or ranges (A-B)")
    window: tuple[int, int] = Field((LONG_AGO, -1), description="days relative to the index date, inclusive")
    domain: ClassVar[str] = "diagnosis"
    """Event table the feature reads (``lab``, ``diagnosis`` or ``prescription``)."""

    @field_validator("window")
    @classmethod
    def _check_window(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _window(v)

    @field_validator("codes")
    @classmethod
    def _check_codes(cls, v: list[str]) -> list[str]:
        for c in v:
            parse_code(c, _VOCAB[cls.domain])
        return v

    def condition(self, alias: str) -> str:
        """SQL condition on the event table ``alias`` for this feature's codes."""
        pats = [parse_code(c, _VOCAB[self.domain]) for c in self.codes]
        return code_condition(pats, code_column=f"{alias}.code", vocabulary_column=f"{alias}.vocabulary")


class LabFeature(_CodeFeature):
    """A lab value (NPU codes) in a window before the index date; ``nearest`` takes the latest one."""

    window: tuple[int, int] = Field((-365, 0), description="days relative to the index date, inclusive")
    statistic: Literal["nearest", "mean", "min", "max", "count"] = "nearest"
    domain: ClassVar[str] = "lab"


class DiagnosisFeature(_CodeFeature):
    """1 when the person has a diagnosis (SKS) in the window (``count``: how many), else 0."""

    statistic: Literal["any", "count"] = "any"
    diag_types: list[str] | None = Field(None, description="diagnosis types counted (default: all)")
    domain: ClassVar[str] = "diagnosis"


class MedicationFeature(_CodeFeature):
    """1 when the person redeemed a prescription (ATC) in the window (``count``: how many fills), else 0."""

    window: tuple[int, int] = Field((-365, 0), description="days relative to the index date, inclusive")
    statistic: Literal["any", "count"] = "any"
    domain: ClassVar[str] = "prescription"


class PgsFeature(_Strict):
    """A polygenic score (PGS Catalog scoring file) as a feature: ``score_sum`` standardised, or as is."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scoring_file: str = Field(..., description="PGS Catalog scoring file, relative to the project folder")
    standardise: bool = Field(True, description="divide by the SD and centre (per-SD effects in the model)")
    keep_ambiguous: bool = Field(False, description="keep A/T and C/G SNVs (only when the file is known to be on "
                                                    "the genotypes' strand)")


class CarrierFeature(_Strict):
    """Carrier status of a named variant ``chrom:pos:ref:alt``: ALT allele count (additive) or 0/1 (dominant)."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    variant: str = Field(..., pattern=r"^[^:\s]+:[0-9]+:[ACGTN]+:[ACGTN]+$")
    coding: Literal["additive", "dominant"] = "dominant"


class FeatureSet(_Strict):
    """What enters a model: demographics, registry features and genetic features."""

    name: str = Field(..., min_length=1)
    description: str = ""
    demographics: list[Demographic] = Field(default_factory=lambda: ["age", "sex"])
    labs: list[LabFeature] = Field(default_factory=list)
    diagnoses: list[DiagnosisFeature] = Field(default_factory=list)
    medications: list[MedicationFeature] = Field(default_factory=list)
    pgs: list[PgsFeature] = Field(default_factory=list)
    carriers: list[CarrierFeature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> FeatureSet:
        seen: set[str] = set(self.demographics)
        for f in [*self.labs, *self.diagnoses, *self.medications, *self.pgs, *self.carriers]:
            if f.name in seen or f.name in ("person_id", "index_date"):
                raise ValueError(f"feature name {f.name!r} is used twice")
            seen.add(f.name)
        return self

    def registry_features(self) -> list[_CodeFeature]:
        """Lab, diagnosis and medication features, in this order."""
        return [*self.labs, *self.diagnoses, *self.medications]

    def genetic_names(self) -> list[str]:
        """Names of the PGS and carrier features."""
        return [f.name for f in [*self.pgs, *self.carriers]]

    def names(self) -> list[str]:
        """Every feature column, in table order."""
        return [*self.demographics, *(f.name for f in self.registry_features()), *self.genetic_names()]

    def without_genetics(self) -> FeatureSet:
        """The same set without PGS and carrier features (the clinical model)."""
        return self.model_copy(update={"name": f"{self.name} (clinical)", "pgs": [], "carriers": []})


def parse_feature_set(raw: dict[str, Any], *, source: str | Path = "feature set") -> FeatureSet:
    """Validate a feature-set mapping; errors name the key path (``labs[0].window``).

    Raises
    ------
    ConfigError
        Unknown key, malformed code, a window reaching past the index date, a name used twice.
    """
    try:
        return FeatureSet.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, file=source, field=key or None) from None


def load_feature_set(path: str | Path) -> FeatureSet:
    """Read a feature set from YAML (see ``templates/features/``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read feature set ({exc.strerror})", file=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from None
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping (name, demographics, labs, diagnoses, ...)", file=path)
    return parse_feature_set(raw, source=path)


@dataclass
class FeatureTable:
    """Features of a cohort: ``table`` (person_id, index_date, features) and its ``dictionary``."""

    table: pd.DataFrame
    dictionary: pd.DataFrame
    feature_set: FeatureSet

    @property
    def features(self) -> list[str]:
        """Feature column names in table order."""
        return [c for c in self.table.columns if c not in ("person_id", "index_date")]

    def categorical(self) -> list[str]:
        """Columns holding categories (sex, region)."""
        return [c for c in self.features if self.table[c].dtype == object or str(self.table[c].dtype) == "category"]


def _cohort_frame(cohort: pd.DataFrame) -> pd.DataFrame:
    for col in ("person_id", "index_date"):
        if col not in cohort.columns:
            raise InputError("missing column", file="cohort", field=col)
    frame = cohort[["person_id", "index_date"]].copy()
    frame["person_id"] = frame["person_id"].astype(str)
    frame["index_date"] = pd.to_datetime(frame["index_date"]).dt.normalize()
    if frame["index_date"].isna().any():
        raise InputError("index date is empty", file="cohort", row=int(frame["index_date"].isna().to_numpy().argmax()),
                         field="index_date")
    return frame.drop_duplicates().reset_index(drop=True)


def _registry_query(f: _CodeFeature) -> str:
    a, b = f.window
    if f.domain == "lab":
        date = "CAST(e.datetime AS DATE)"
        agg = {"nearest": "arg_max(e.value, e.datetime)", "mean": "avg(e.value)", "min": "min(e.value)",
               "max": "max(e.value)", "count": "count(*)"}[f.statistic]  # type: ignore[attr-defined]
        extra = " AND e.value IS NOT NULL"
    else:
        date = "e.date"
        agg = "count(*)"
        extra = ""
        types = getattr(f, "diag_types", None)
        if types:
            extra = " AND e.diag_type IN (" + ", ".join("'" + t.replace("'", "''") + "'" for t in types) + ")"
    # the window's end is capped at the index date twice: by validation (end <= 0) and here (date <= index)
    return (f"SELECT c.person_id, c.index_date, {agg} AS value FROM _pmo_cohort c JOIN {f.domain} e "
            f"ON e.person_id = c.person_id WHERE {f.condition('e')}{extra} "
            f"AND {date} BETWEEN c.index_date + INTERVAL ({a}) DAY AND c.index_date + INTERVAL ({b}) DAY "
            f"AND {date} <= c.index_date GROUP BY c.person_id, c.index_date")


def build_features(db: Any, cohort: pd.DataFrame, feature_set: FeatureSet) -> FeatureTable:
    """Demographic and registry features of each (person, index date) of ``cohort`` (genetics: see
    :func:`add_genetic_features`).

    Parameters
    ----------
    db
        A :class:`~pmo_workbench.health.database.HealthDatabase` (``open_database(project)``).
    cohort
        ``person_id`` and ``index_date`` (e.g. ``CohortResult.cohort``); duplicates are dropped.
    feature_set
        What to compute (:func:`load_feature_set`).

    Returns
    -------
    FeatureTable
        Lab features are NaN when no value lies in the window; flags are 0/1 (counts when asked); ``age`` in
        years at the index date, ``sex`` F/M, ``region`` as recorded.

    Examples
    --------
    >>> from pmo_workbench.health.database import open_database  # doctest: +SKIP
    >>> ft = build_features(open_database("demo"), cohort, load_feature_set("templates/features/mi.yaml"))  # doctest: +SKIP
    """
    frame = _cohort_frame(cohort)
    db.register("_pmo_cohort", frame)
    out = frame.copy()
    rows = []
    if feature_set.demographics:
        person = db.query("SELECT c.person_id, c.index_date, p.sex, p.birth_date, p.region FROM _pmo_cohort c "
                          "LEFT JOIN person p ON p.person_id = c.person_id")
        person["index_date"] = pd.to_datetime(person["index_date"])
        person = frame.merge(person, on=["person_id", "index_date"], how="left")
        for name in feature_set.demographics:
            if name == "age":
                birth = pd.to_datetime(person["birth_date"])
                out["age"] = ((person["index_date"] - birth).dt.days / 365.25).to_numpy()
                kind = "numeric"
            else:
                out[name] = person[name].astype(object).where(person[name].notna(), None).to_numpy()
                kind = "categorical"
            rows.append({"feature": name, "source": "person", "codes": "", "window": "at index date",
                         "statistic": "value", "type": kind})
    for f in feature_set.registry_features():
        res = db.query(_registry_query(f))
        res["index_date"] = pd.to_datetime(res["index_date"])
        merged = frame.merge(res, on=["person_id", "index_date"], how="left")["value"]
        stat = getattr(f, "statistic", "any")
        if f.domain == "lab" and stat != "count":
            values = merged.astype(float).to_numpy()
            kind = "numeric"
        elif stat == "any":
            values = (merged.fillna(0) > 0).astype(np.int8).to_numpy()
            kind = "binary"
        else:
            values = merged.fillna(0).astype(np.int64).to_numpy()
            kind = "count"
        out[f.name] = values
        rows.append({"feature": f.name, "source": f.domain, "codes": ", ".join(f.codes),
                     "window": f"[{f.window[0]}, {f.window[1]}] days", "statistic": stat, "type": kind})
    dictionary = pd.DataFrame(rows, columns=["feature", "source", "codes", "window", "statistic", "type"])
    dictionary["missing_share"] = [float(out[n].isna().mean()) if len(out) else 0.0 for n in dictionary["feature"]]
    return FeatureTable(out, dictionary, feature_set)


def _find_variant(g: Any, spec: str, name: str) -> int:
    """Row of ``g.variants`` holding ``chrom:pos:ref:alt`` (contig names with or without ``chr``)."""
    chrom, pos, ref, alt = spec.split(":")
    v = g.variants
    norm = v["contig"].astype(str).str.replace(r"^chr", "", regex=True, case=False)
    at = np.flatnonzero((norm == chrom.removeprefix("chr")).to_numpy() & (v["position"].to_numpy() == int(pos)))
    for i in at:
        if str(v["ref"].iloc[i]) == ref and alt in str(v["alt"].iloc[i]).split(","):
            if int(v["n_alleles"].iloc[i]) != 2:
                raise InputError(f"carrier variant {spec} is part of a multi-allelic record: split multi-allelic "
                                 "records (bcftools norm -m-) to use it", field=f"carriers.{name}")
            return int(i)
    raise InputError(f"carrier variant {spec} is not in the genotypes", field=f"carriers.{name}")


def compute_carrier_status(g: Any, carriers: list[CarrierFeature]) -> pd.DataFrame:
    """Per sample (index ``sample_id``) and carrier feature: the ALT allele count (``additive``; a haploid call
    counts its one allele) or 0/1 (``dominant``: carries at least one ALT allele); NaN where the call is missing.

    Uses the backend's ``dosage_blocks`` kernel, so every genotype backend gives the same table.

    Examples
    --------
    >>> v = g.variants.iloc[0]
    >>> spec = CarrierFeature(name="v0", variant=f"{v.contig}:{v.position}:{v.ref}:{v.alt}", coding="additive")
    >>> status = compute_carrier_status(g, [spec])
    >>> set(status["v0"].dropna().unique()) <= {0.0, 1.0, 2.0}
    True
    """
    from pmo_workbench.genotypes.backends import get_kernel

    out = pd.DataFrame(index=pd.Index(np.asarray(g.sample_id, dtype=str), name="sample_id"))
    if not carriers:
        return out
    rows = {f.name: _find_variant(g, f.variant, f.name) for f in carriers}
    sites = np.zeros(g.n_variants, dtype=bool)
    sites[list(rows.values())] = True
    dosage_of: dict[int, np.ndarray] = {}
    for variants, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0):
        where = g.variants.index.get_indexer(variants.index)
        for k, i in enumerate(where):
            dosage_of[int(i)] = np.asarray(dosage[k])
    for f in carriers:
        d = dosage_of[rows[f.name]].astype(float)
        d[d < 0] = np.nan
        out[f.name] = (d > 0).astype(float) if f.coding == "dominant" else d
        out.loc[np.isnan(d), f.name] = np.nan
    return out


def add_genetic_features(ft: FeatureTable, g: Any, link: pd.DataFrame, *, root: str | Path = ".",
                         samples: Any = None) -> list[Any]:
    """Add the feature set's polygenic scores and carrier statuses to ``ft`` (in place), per person.

    Parameters
    ----------
    ft
        From :func:`build_features`; its ``feature_set`` names the genetic features.
    g
        The genotypes (any backend).
    link
        ``sample_id, person_id``: one genome per person (e.g. the QC-passing, unrelated samples of the manifest);
        persons without a row get NaN (they are left out of the models with genetics).
    root
        Folder that relative scoring-file paths start from (the project folder).
    samples
        Samples scored (default: those of ``link``); a PGS is standardised over them.

    Returns
    -------
    list of PgsResult
        One per PGS feature (match reports for the card and the report).

    Raises
    ------
    InputError
        A scoring file that cannot be read or matched (see :func:`~pmo_workbench.model.pgs.score_pgs`), a
        carrier variant not in the genotypes.
    """
    from pmo_workbench.model.pgs import score_pgs

    link = link[["sample_id", "person_id"]].astype(str).drop_duplicates("person_id")
    chosen = list(link["sample_id"]) if samples is None else [str(s) for s in samples]
    link = link[link["sample_id"].isin(set(chosen))]
    results = []
    rows = []
    for f in ft.feature_set.pgs:
        path = Path(f.scoring_file)
        if not path.is_absolute():
            path = Path(root) / path
        res = score_pgs(g, path, samples=chosen, keep_ambiguous=f.keep_ambiguous)
        results.append(res)
        pid = res.scoring_files[0].pgs_id
        s = res.wide()[pid].reindex(link["sample_id"]).to_numpy(dtype=float)
        if f.standardise:
            s = (s - np.nanmean(s)) / np.nanstd(s)
        ft.table[f.name] = ft.table["person_id"].map(pd.Series(s, index=link["person_id"].to_numpy())).to_numpy(
            dtype=float)
        rows.append({"feature": f.name, "source": "polygenic score", "codes": pid, "window": "genome",
                     "statistic": "standardised score" if f.standardise else "score", "type": "numeric"})
    if ft.feature_set.carriers:
        status = compute_carrier_status(g, ft.feature_set.carriers).reindex(link["sample_id"])
        for f in ft.feature_set.carriers:
            per_person = pd.Series(status[f.name].to_numpy(), index=link["person_id"].to_numpy())
            ft.table[f.name] = ft.table["person_id"].map(per_person).to_numpy(dtype=float)
            rows.append({"feature": f.name, "source": "genotype", "codes": f.variant, "window": "genome",
                         "statistic": "ALT allele count" if f.coding == "additive" else "carrier (0/1)",
                         "type": "count" if f.coding == "additive" else "binary"})
    if rows:
        extra = pd.DataFrame(rows)
        extra["missing_share"] = [float(ft.table[r["feature"]].isna().mean()) if len(ft.table) else 0.0
                                  for r in rows]
        ft.dictionary = pd.concat([ft.dictionary[~ft.dictionary["feature"].isin(extra["feature"])], extra],
                                  ignore_index=True)
    return results
