"""What the cohort-selection report shows: the definition in words, the attrition funnel, Table 1, matching
balance, specimen availability by biobank, and the export-mode (disclosure-controlled) versions of each.

The logic of ``notebooks/cohort_selection.ipynb``; the notebook only calls these functions and displays their
results.

Disclosure control: every table passes the run's :class:`~pmo_workbench.privacy.Disclosure` (attrition chains,
Table 1 with its rounded means and SDs, specimen counts; balance is computed from the disclosed Table 1, so a
hidden proportion hides its standardised difference). :func:`write_cohort_outputs` decides with it what is
written; :func:`explain_selection` gives the sentences behind the report's non-obvious numbers.

Examples
--------
>>> att = pd.DataFrame({"step": [0, 1, 2], "rule": ["entry", "sex", "Tissue Use Register opt-out"],
...                     "n_persons": [40, 37, 30], "n_removed": [0, 3, 7]})
>>> compute_funnel(Disclosure("export", 5).attrition(att))["n_persons"].tolist()
[40, <NA>, 30]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pmo_workbench.catalogue import latest_run_dir
from pmo_workbench.cohort.compile import specimen_conditions
from pmo_workbench.cohort.definition import (
    CONSENT_RULE,
    LOOKUP_RULE,
    CohortDefinition,
    EventRule,
    _HasCodes,
    definition_hash,
)
from pmo_workbench.cohort.selection import CohortResult, select_cohort
from pmo_workbench.errors import ConfigError
from pmo_workbench.health.codelists import CodeIndex
from pmo_workbench.health.database import HealthDatabase
from pmo_workbench.privacy.disclosure_layer import Disclosure
from pmo_workbench.project import Project, as_project

EXTRA_FILE = "run_extra.json"
"""Keys the runner merges into ``run.json``."""

DEFAULT_DEFINITION = "mi_cases.yaml"
"""The definition a report uses when none is given (else the first ``cohorts/*.yaml``)."""

_DOMAIN_WORDS = {"diagnosis": ("diagnosis", "diagnoses"), "prescription": ("prescription", "prescriptions"),
                 "lab": ("lab result", "lab results"), "specimen": ("specimen", "specimens")}


# -------------------------------------------------------------------------------------------- the definition


def resolve_definition_path(project: str | Path | Project, definition: str | Path | None = None) -> Path:
    """The cohort definition file a report uses.

    ``None``: ``cohorts/mi_cases.yaml`` of the project, else its first ``cohorts/*.yaml`` (by name). A relative
    path is looked up in the project folder, then in its ``cohorts/`` folder (a bare name may omit ``.yaml``).

    Raises
    ------
    ConfigError
        Naming the path that does not exist (or the ``cohorts/`` folder holding no definition).

    Examples
    --------
    >>> resolve_definition_path("demo", "statin_users")  # doctest: +SKIP
    PosixPath('/.../demo/cohorts/statin_users.yaml')
    """
    proj = as_project(project)
    cohorts = proj.root / "cohorts"
    if definition is None or str(definition).strip() == "":
        default = cohorts / DEFAULT_DEFINITION
        if default.is_file():
            return default
        found = sorted(cohorts.glob("*.yaml")) if cohorts.is_dir() else []
        if not found:
            raise ConfigError("no cohort definition given and the project has no cohorts/*.yaml", file=cohorts,
                              field="definition")
        return found[0]
    path = Path(definition).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [proj.root / path, cohorts / path]
        if path.suffix not in (".yaml", ".yml"):
            candidates.append(cohorts / f"{path}.yaml")
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise ConfigError("cohort definition not found", file=candidates[0], field="definition")


def needs_genomes(definition: CohortDefinition) -> bool:
    """Whether ``definition`` has a genome rule (``genomes.qc_pass`` or ``genomes.unrelated``)."""
    g = definition.genomes
    return g is not None and (g.qc_pass or g.unrelated)


def _window_words(a: int, b: int) -> str:
    def days(n: int) -> str:
        return f"{n} day" + ("" if n == 1 else "s")

    if a == b == 0:
        return "on the index date"
    if b < 0:
        return f"{days(-b)} to {days(-a)} before the index date" if a != b else f"{days(-a)} before the index date"
    if a > 0:
        return f"{days(a)} to {days(b)} after the index date" if a != b else f"{days(a)} after the index date"
    start = "the index date" if a == 0 else f"{days(-a)} before"
    end = "the index date" if b == 0 else f"{days(b)} after"
    return f"from {start} to {end}"


def _codes_words(rule: _HasCodes, index: CodeIndex | None) -> str:
    parts = []
    for p in rule.codes.patterns():
        desc = index.describe(p.value, p.vocabulary) if index is not None and p.vocabulary != "SPECIMEN" else None
        parts.append(f"`{p}`" + (f" ({desc})" if desc else ""))
    words = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    if rule.codes.descendants:
        words += " or a descendant concept"
    return words


def _event_words(rule: _HasCodes, index: CodeIndex | None, *, count: int = 1) -> str:
    one, many = _DOMAIN_WORDS[rule.domain]
    text = f"{one if count == 1 else many} with code {_codes_words(rule, index)}"
    if rule.diag_types is not None:
        text += f" (diagnosis type {', '.join(rule.diag_types)})"
    if rule.value is not None:
        lims = []
        if rule.value.min is not None:
            lims.append(f">= {rule.value.min:g}")
        if rule.value.max is not None:
            lims.append(f"<= {rule.value.max:g}")
        text += f" and a value {' and '.join(lims)}"
    return text


def _rule_words(kind: str, c: Any, index: CodeIndex | None) -> str:
    if kind == "age_at_index":
        lo, hi = c.age_at_index
        return f"aged {lo:g} to {hi:g} years (completed) at the index date"
    if kind == "sex":
        return f"sex {' or '.join(c.sex)}"
    if kind == "observation":
        o = c.observation
        text = f"under observation from {o.prior_days} days before the index date"
        return text + (f" to {o.post_days} days after it" if o.post_days else "")
    rule: EventRule = getattr(c, kind)
    n = rule.min_count
    where = _window_words(*rule.window)
    if kind == "require":
        return f"at least {n} {_event_words(rule, index, count=n)} {where}"
    if n == 1:
        return f"no {_event_words(rule, index, count=2)} {where}"
    return f"fewer than {n} {_event_words(rule, index, count=2)} {where}"


def describe_definition(definition: CohortDefinition, index: CodeIndex | None = None) -> str:
    """The definition in words (Markdown): entry event, each rule by its attrition name, controls.

    ``index`` adds code descriptions (:meth:`CodeIndex.describe`).

    Examples
    --------
    >>> from pmo_workbench.cohort.definition import parse_definition
    >>> d = parse_definition({"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
    ...                       "criteria": [{"exclude": {"domain": "diagnosis", "codes": ["DC*"],
    ...                                                 "window": [-1825, -1]}}]})
    >>> print(describe_definition(d).splitlines()[4])
    - `exclude_diagnosis`: no diagnoses with code `DC*` 1 day to 1825 days before the index date
    """
    e = definition.entry
    first = e.occurrence == "first"
    entry = (f"**Entry** (the index date): the {'first recorded' if first else 'any'} "
             f"{_event_words(e, index)}")
    if e.date_range is not None:
        lo, hi = e.date_range
        entry += f", {'if it falls' if first else 'dated'} between {lo.isoformat()} and {hi.isoformat()}"
    if not first:
        entry += "; the earliest such date that passes every rule is the index date"
    lines = [entry + ".", "", "**Rules**, in the order of the attrition:", ""]
    for name, c in zip(definition.criterion_names(), definition.criteria, strict=True):
        lines.append(f"- `{name}`: {_rule_words(c.kind, c, index)}")
    s = definition.specimens
    if s is not None:
        text = (f"a usable specimen of type {' or '.join(s.types)} (available, at least {s.min_aliquots} "
                f"aliquot{'s' if s.min_aliquots != 1 else ''} left")
        text += f", at least {s.min_volume_ul:g} µl)" if s.min_volume_ul is not None else ")"
        if s.collected is not None:
            text += f", collected {_window_words(*s.collected)}"
        lines.append(f"- `specimens`: {text}")
    g = definition.genomes
    if g is not None and g.qc_pass:
        lines.append("- `genomes.qc_pass`: a genome that passed the latest WGS QC run")
    if g is not None and g.unrelated:
        lines.append("- `genomes.unrelated`: mutually unrelated (a maximal set from the latest WGS QC kinship "
                     "table, cases kept before controls)")
    lines.append(f"- `{LOOKUP_RULE}`: looked up in the Tissue Use Register (persons the lookup did not cover, "
                 "e.g. imported later from another source, are left out; always applied)")
    lines.append(f"- `{CONSENT_RULE}`: not registered in the Tissue Use Register (always applied; cannot be "
                 "switched off)")
    lines.append("")
    ctl = definition.controls
    if ctl is None:
        lines.append("**Controls**: none.")
    else:
        match = []
        if ctl.match.sex:
            match.append("sex")
        if ctl.match.birth_year is not None:
            match.append(f"birth year (±{ctl.match.birth_year})")
        if ctl.match.region:
            match.append("region")
        how = "risk-set sampling" if ctl.risk_set else "sampling among persons who never have the entry event"
        lines.append(f"**Controls**: up to {ctl.ratio} per case by {how}, without replacement"
                     + (f", matched on {', '.join(match)}" if match else "") + f" (seed {ctl.seed}).")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ selection


@dataclass
class ReportSelection:
    """A selection for the report: the full definition, the result (of the definition without its genome
    rules when incomplete), whether it is complete, and why not."""

    definition: CohortDefinition
    result: CohortResult
    complete: bool
    problem: str | None = None


def select_for_report(project: str | Path | Project, definition: CohortDefinition, *,
                      disable: list[str] | tuple[str, ...] = (),
                      on_missing_genomes: Literal["report", "fail"] = "report",
                      db: HealthDatabase | None = None) -> ReportSelection:
    """Select the cohort; if the definition needs genome QC and the project has no WGS QC run, either fail
    (``on_missing_genomes="fail"``: :class:`ConfigError`) or select without the genome rules and controls and
    mark the selection incomplete, with the reason in ``problem``.

    Examples
    --------
    >>> sel = select_for_report("demo", load_definition("demo/cohorts/mi_cases.yaml"))  # doctest: +SKIP
    >>> sel.complete, sel.problem  # doctest: +SKIP
    (False, 'This definition needs genome QC results ...')
    """
    proj = as_project(project)
    if needs_genomes(definition) and latest_run_dir(proj, "wgs_qc", "qc_decisions.parquet") is None:
        problem = ("This definition needs genome QC results (`genomes: qc_pass/unrelated`), but the project has "
                   "no succeeded WGS QC run with qc_decisions.parquet. Run `pmo run wgs_qc --project "
                   f"{proj.root}` first. The genome rules were NOT applied: the attrition below stops before "
                   "them, and no Table 1, cohort table or pick list is produced.")
        if on_missing_genomes == "fail":
            raise ConfigError(problem, file=proj.runs_dir / "wgs_qc", field="genomes")
        partial = definition.model_copy(update={"genomes": None, "controls": None})
        result = select_cohort(proj, partial, db=db)
        if disable:
            result = result.what_if(disable=[d for d in disable if not d.startswith("genomes.")])
        return ReportSelection(definition, result, False, problem)
    result = select_cohort(proj, definition, db=db)
    if disable:
        result = result.what_if(disable=list(disable))
    return ReportSelection(definition, result, True, None)


# ------------------------------------------------------------------------------------------------ attrition


def compute_funnel(attrition: pd.DataFrame) -> pd.DataFrame:
    """Funnel data from a (possibly disclosed) attrition table: ``step, rule, n_persons, n_removed,
    pct_of_entry`` (percent of the entry count; hidden where a count it needs is hidden)."""
    out = attrition[["step", "rule", "n_persons", "n_removed"]].copy()
    persons = out["n_persons"].astype("Float64")
    entry = persons.iloc[0] if len(out) else pd.NA
    if len(out) and not pd.isna(entry) and entry > 0:
        out["pct_of_entry"] = (100.0 * persons / entry).astype("Float64")
    else:
        out["pct_of_entry"] = pd.array([pd.NA] * len(out), dtype="Float64")
    return out


# -------------------------------------------------------------------------------------------------- Table 1


def compute_balance(table1: pd.DataFrame) -> pd.DataFrame:
    """Standardised differences of cases versus controls from a (possibly disclosed) Table 1.

    Age: ``(mean_case - mean_control) / sqrt((sd_case² + sd_control²) / 2)``; each level of a categorical or
    yes/no variable: ``(p_case - p_control) / sqrt((p_case(1-p_case) + p_control(1-p_control)) / 2)`` (0 when
    both proportions are equal and 0 or 1). ``|smd| < 0.1`` is the usual sign of good balance.

    Returns
    -------
    pandas.DataFrame
        ``variable, level, case, control, smd`` (case/control: the mean, or the proportion in percent).

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["age at index", "age at index", "sex"], "level": ["", "", "F"],
    ...                   "statistic": ["mean", "sd", "%"], "case": [60.0, 10.0, 50.0],
    ...                   "control": [58.0, 10.0, 50.0]})
    >>> compute_balance(t)["smd"].round(3).tolist()
    [0.2, 0.0]
    """
    rows = []
    for (var, level), g in table1.groupby(["variable", "level"], sort=False):
        stats = g.set_index("statistic")
        if "mean" in stats.index and "sd" in stats.index:
            m1, m0 = stats.loc["mean", "case"], stats.loc["mean", "control"]
            s1, s0 = stats.loc["sd", "case"], stats.loc["sd", "control"]
            if any(pd.isna(x) for x in (m1, m0, s1, s0)):
                smd = np.nan
            else:
                pooled = math.sqrt((float(s1) ** 2 + float(s0) ** 2) / 2)
                smd = (float(m1) - float(m0)) / pooled if pooled > 0 else (0.0 if m1 == m0 else np.inf)
            rows.append((var, level, m1, m0, smd))
        elif "%" in stats.index:
            p1, p0 = stats.loc["%", "case"], stats.loc["%", "control"]
            if pd.isna(p1) or pd.isna(p0):
                smd = np.nan
            else:
                a, b = float(p1) / 100, float(p0) / 100
                pooled = math.sqrt((a * (1 - a) + b * (1 - b)) / 2)
                smd = (a - b) / pooled if pooled > 0 else (0.0 if a == b else np.inf)
            rows.append((var, level, p1, p0, smd))
    out = pd.DataFrame(rows, columns=["variable", "level", "case", "control", "smd"])
    for col in ("case", "control", "smd"):
        out[col] = pd.to_numeric(out[col].astype("Float64"), errors="coerce").astype("float64")
    return out


# ------------------------------------------------------------------------------------------------ specimens


def _usable_specimens(result: CohortResult) -> pd.DataFrame:
    """Usable specimens of the cohort's persons: ``person_id, role, biobank, specimen_type`` (the rule of
    :func:`~pmo_workbench.cohort.compile.specimen_conditions`; every usable specimen, not the one picked)."""
    spec = result.definition.specimens if "specimens" not in result.disabled else None
    result.db.register("avail_people", result.cohort[["person_id", "index_date", "role"]])
    return result.db.query(
        "SELECT DISTINCT i.person_id, i.role, coalesce(s.biobank, 'unknown') AS biobank, s.specimen_type "
        f"FROM avail_people i JOIN specimen s ON s.person_id = i.person_id "
        f"WHERE {' AND '.join(specimen_conditions(spec))}")


def compute_specimen_availability(result: CohortResult, by: Literal["specimen_type", "role"] = "specimen_type"
                                  ) -> pd.DataFrame:
    """Persons of the cohort with at least one usable specimen, per biobank (rows) and ``by`` (columns).

    A person with usable specimens in two biobanks counts in both rows; with ``by="role"`` a person who is a
    case and (earlier, risk-set sampling) a control counts in both columns.
    """
    usable = _usable_specimens(result)
    cols = ["case", "control"] if by == "role" else sorted(usable["specimen_type"].dropna().unique())
    if usable.empty:
        return pd.DataFrame(columns=cols, dtype="int64").rename_axis(index="biobank", columns=by)
    persons = usable.drop_duplicates(["person_id", "biobank", by])
    table = pd.crosstab(persons["biobank"], persons[by]).reindex(columns=cols, fill_value=0)
    return table.rename_axis(index="biobank", columns=by).astype("int64")


# ----------------------------------------------------------------------------------------------- run record


def build_run_extra(selection: ReportSelection, definition_path: Path, disclosure: Disclosure, *,
                    pick_list_rows: int | None = None) -> dict[str, Any]:
    """The keys the report adds to ``run.json``: definition name, file and hash, the Tissue Use Register lookup
    date, the WGS QC run used, disabled rules, completeness and counts (as the disclosure layer releases them;
    ``None`` when hidden)."""
    r = selection.result
    att = disclosure.attrition(r.attrition)
    roles = r.cohort["role"].value_counts()
    n_controls = disclosure.count(int(roles.get("control", 0)))

    def plain(v: Any) -> int | None:
        return None if pd.isna(v) else int(v)

    return {
        "definition": selection.definition.name,
        "definition_file": str(definition_path),
        "definition_hash": definition_hash(selection.definition),
        "tissue_use_register_lookup_date": r.lookup_date.isoformat() if r.lookup_date else None,
        "wgs_qc_run": str(r.qc_run) if r.qc_run else None,
        "disabled_rules": list(r.disabled),
        "cohort_complete": selection.complete,
        "problem": selection.problem,
        "incomplete": [] if selection.complete else [selection.problem or "the selection is incomplete"],
        "counts": {
            "entry": plain(att["n_persons"].iloc[0]) if len(att) else None,
            "cases": plain(att["n_persons"].iloc[-1]) if len(att) and selection.complete else None,
            "controls": n_controls if selection.complete else None,
            "pick_list_rows": pick_list_rows if disclosure.individual_level else None,
        },
    }


def write_run_extra(extra: dict[str, Any], output_dir: str | Path | None) -> Path | None:
    """Write ``run_extra.json`` into ``output_dir`` atomically (merged into ``run.json`` by the runner); nothing
    without an ``output_dir`` (interactive run). See :func:`pmo_workbench.catalogue.write_run_extra`."""
    from pmo_workbench.catalogue import write_run_extra as write_extra

    return write_extra(extra, output_dir)


def write_cohort_outputs(selection: ReportSelection, definition_path: Path, output_dir: str | Path | None,
                         disclosure: Disclosure, *, table1: pd.DataFrame | None = None,
                         balance: pd.DataFrame | None = None,
                         specimens: dict[str, pd.DataFrame | None] | None = None,
                         pick_list: pd.DataFrame | None = None) -> list[str]:
    """Write the run folder's files through the disclosure layer; returns their names (none when ``output_dir``
    is None: an interactive run writes nothing).

    Always: ``attrition.parquet`` (the disclosed chain), ``run_extra.json``; with a complete selection
    ``table1.parquet`` (``table1`` as computed: disclosed here), ``balance.parquet`` (derived from the disclosed
    Table 1) and the specimen count tables. Internal mode only: ``cohort.parquet`` and ``pick_list.parquet``.
    """
    if output_dir is None:
        return []
    r = selection.result
    written = []

    def put(table: pd.DataFrame | None, name: str, kind: str) -> None:
        if table is not None and not table.empty and disclosure.write_table(table, output_dir, name, kind=kind):
            written.append(f"{name}.parquet")

    put(r.attrition, "attrition", "attrition")
    if table1 is not None:
        put(table1, "table1", "table1")
    if balance is not None:
        put(balance, "balance", "derived")
    for name, table in (specimens or {}).items():
        put(table, name, "counts")
    if disclosure.individual_level and selection.complete:
        put(r.cohort, "cohort", "individual")
        put(pick_list, "pick_list", "individual")
    extra = build_run_extra(selection, definition_path, disclosure,
                            pick_list_rows=None if pick_list is None else len(pick_list))
    write_run_extra(extra, output_dir)
    written.append(EXTRA_FILE)
    return written


# ------------------------------------------------------------------------------------ Table 1 by vocabulary

OMOP_COMORBIDITIES: dict[str, dict[str, Any]] = {
    "diabetes": {"omop": [201820], "descendants": True},
    "hypertension": {"omop": [316866], "descendants": True},
    "ischaemic heart disease": {"omop": [4185932], "descendants": True},
    "heart failure": {"omop": [316139], "descendants": True},
    "stroke": {"omop": [381316, 443454], "descendants": True},
    "COPD": {"omop": [255573], "descendants": True},
    "cancer": {"omop": [443392], "descendants": True},
    "chronic kidney disease": {"omop": [46271022], "descendants": True},
}
"""Table 1's comorbidities for OMOP projects: OMOP standard (SNOMED) concept sets with their descendants, the
counterparts of the SKS ranges of :data:`~pmo_workbench.cohort.selection.DEFAULT_COMORBIDITIES` (Diabetes
mellitus 201820, Hypertensive disorder 316866, Ischemic heart disease 4185932, Heart failure 316139,
Cerebrovascular accident 381316 and Cerebral infarction 443454, Chronic obstructive lung disease 255573,
Malignant neoplastic disease 443392, Chronic kidney disease 46271022)."""


def project_vocabulary(result: CohortResult) -> str:
    """``"OMOP"`` when the project's diagnoses are OMOP concepts, else ``"SKS"`` (Danish registries)."""
    found = result.db.query("SELECT vocabulary, count(*) AS n FROM diagnosis GROUP BY 1 ORDER BY n DESC LIMIT 1")
    return "OMOP" if len(found) and str(found["vocabulary"].iloc[0]).upper() == "OMOP" else "SKS"


def compute_table1(result: CohortResult) -> pd.DataFrame:
    """Table 1 with comorbidities in the project's vocabulary: SKS ranges for registry projects
    (:data:`~pmo_workbench.cohort.selection.DEFAULT_COMORBIDITIES`), OMOP concept sets with descendants for OMOP
    projects (:data:`OMOP_COMORBIDITIES`). A concept set none of whose concepts is in the project's OMOP
    vocabulary is left out (its 0 % would be false) and named in ``attrs["not_available"]``;
    ``attrs["vocabulary"]`` says which vocabulary was used."""
    from pmo_workbench.cohort.selection import DEFAULT_COMORBIDITIES

    vocabulary = project_vocabulary(result)
    missing: list[str] = []
    if vocabulary == "OMOP":
        sets = dict(OMOP_COMORBIDITIES)
        if "concept" in result.db.present:
            known = set(result.db.query("SELECT concept_id FROM concept")["concept_id"].astype("int64"))
            missing = [k for k, v in sets.items() if not set(v["omop"]) & known]
            sets = {k: v for k, v in sets.items() if k not in missing}
    else:
        sets = dict(DEFAULT_COMORBIDITIES)
    table = result.table1(sets)
    table.attrs["vocabulary"] = vocabulary
    table.attrs["not_available"] = missing
    return table


def describe_comorbidities(vocabulary: str, not_available: list[str] | tuple[str, ...] = ()) -> str:
    """The sentence under Table 1 naming how the comorbidities are defined (and which are not available)."""
    from pmo_workbench.cohort.selection import DEFAULT_COMORBIDITIES

    if vocabulary == "OMOP":
        defs = "; ".join(f"{k}: concept {' or '.join(map(str, v['omop']))} and descendants"
                         for k, v in OMOP_COMORBIDITIES.items() if k not in not_available)
        text = f"Comorbidities: any diagnosis before the index date, as OMOP concept sets ({defs})."
        if not_available:
            text += (f" **Not available:** {', '.join(not_available)} — none of their concepts is in this "
                     "project's OMOP vocabulary (the `concept` table of the import), so no share can be given.")
        return text
    defs = "; ".join(f"{k}: {', '.join(v)}" for k, v in DEFAULT_COMORBIDITIES.items())
    return f"Comorbidities: any hospital diagnosis (SKS) before the index date ({defs})."


def format_table1(table1: pd.DataFrame, disclosure: Disclosure) -> pd.DataFrame:
    """Table 1 as text for the report: counts as integers, percentages with one decimal, means and SDs with
    one decimal (export mode: at the precision the disclosure layer rounded them to); suppressed ``x``.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["n", "age at index", "age at index"], "level": ["", "", ""],
    ...                   "statistic": ["n", "mean", "sd"], "case": [6, 85.5, 0.5477], "control": [60, 70.04, 9.9]})
    >>> format_table1(Disclosure("export").table1(t), Disclosure("export"))["case"].tolist()
    ['6', '86', 'x']
    """
    sizes = table1[(table1["variable"] == "n") & (table1["statistic"] == "n")]
    out = table1[["variable", "level", "statistic"]].copy()
    for role in ("case", "control"):
        if role not in table1.columns:
            continue
        n = sizes[role].iloc[0] if len(sizes) else None
        cells = []
        for stat, v in zip(table1["statistic"], table1[role], strict=True):
            if v is None or pd.isna(v):
                cells.append("x" if disclosure.export else "–")
            elif stat == "n":
                cells.append(f"{int(v):,}")
            elif stat == "%":
                cells.append(f"{float(v):.1f}")
            elif disclosure.export and n is not None and not pd.isna(n):
                step = disclosure.rounding_step(int(n))
                cells.append(f"{float(v):.{max(0, -int(round(math.log10(step))))}f}")
            else:
                cells.append(f"{float(v):.1f}")
        out[role] = cells
    out["statistic"] = out["statistic"].map({"n": "n", "%": "%", "mean": "mean (years)", "sd": "SD (years)"}
                                            ).fillna(out["statistic"])
    return out


# ------------------------------------------------------------------------------- explaining the numbers


def _genome_split(result: CohortResult, project: Project) -> tuple[int, int] | None:
    """Persons removed by ``genomes.qc_pass``: (with no genome in the WGS QC run, with a genome that failed)."""
    if "genomes.qc_pass" not in result.definition.rule_names() or "genomes.qc_pass" in result.disabled \
            or result.qc_run is None:
        return None
    from pmo_workbench.health.database import load_genome_status

    flags = result._flags
    mask = np.ones(len(flags), dtype=bool)
    for name in result.definition.rule_names()[1:]:
        if name in result.disabled or name == "genomes.unrelated":
            continue
        if name == "genomes.qc_pass":
            break
        mask &= flags[name].to_numpy()
    before = set(flags.loc[mask, "person_id"].astype(str))
    after = set(flags.loc[mask & flags["genomes.qc_pass"].to_numpy(), "person_id"].astype(str))
    removed = before - after
    qc, _pairs, _run = load_genome_status(project)
    sequenced = set(qc["person_id"].astype(str))
    return len(removed - sequenced), len(removed & sequenced)


def explain_selection(project: str | Path | Project, selection: ReportSelection, disclosure: Disclosure,
                      table1: pd.DataFrame | None = None) -> list[str]:
    """Sentences (Markdown) that explain the report's non-obvious numbers: cases with fewer controls than asked
    and why, persons who are a control and later a case, persons removed by the genome rule split into never
    sequenced and failing QC, and the age difference left after birth-year matching. Counts as the disclosure
    layer releases them ("some" when hidden)."""
    r = selection.result
    defn = selection.definition
    out: list[str] = []

    def n(v: int) -> str:
        shown = disclosure.count(v)
        return "some" if shown is None else f"{shown:,}"

    ctl = defn.controls
    if ctl is not None and selection.complete and r.controls_short:
        match = [m for m, on in (("sex", ctl.match.sex), ("region", ctl.match.region)) if on]
        if ctl.match.birth_year is not None:
            match.append(f"birth year ±{ctl.match.birth_year}")
        fewer = "no control" if ctl.ratio == 1 else f"fewer than {ctl.ratio} controls"
        out.append(f"**{n(r.controls_short).capitalize()}** case(s) got {fewer}: at their "
                   "index date too few persons " + (f"of the same {', '.join(match)} " if match else "")
                   + "passed every control rule and were not yet taken by an earlier case (controls are sampled "
                   "without replacement, earliest cases first).")
    if ctl is not None and selection.complete and not r.cohort.empty:
        roles = r.cohort.groupby("person_id")["role"].nunique()
        both = int((roles > 1).sum())
        if both:
            how = ("risk-set sampling: a person is a valid control until their own event"
                   if ctl.risk_set else "they were sampled as a control of an earlier case")
            out.append(f"**{n(both)}** person(s) are both a control and, later, a case — {how}; each is counted "
                       "once in each role (Table 1 and the specimen tables by role).")
    split = _genome_split(r, as_project(project)) if selection.complete else None
    if split is not None and sum(split):
        never, failed = split
        out.append(f"The genome rule (`genomes.qc_pass`) removed **{n(never)}** person(s) with no genome in the "
                   f"WGS QC run (never sequenced, or sequenced after it) and **{n(failed)}** whose genome failed "
                   "QC.")
    if table1 is not None:
        out += explain_age_difference(defn, table1)
    return out


def explain_age_difference(definition: CohortDefinition, table1: pd.DataFrame) -> list[str]:
    """The sentence under Table 1 on the age difference left after matching on birth year (in years and as a
    standardised difference, and why birth-year matching leaves one); empty without birth-year matching or when
    the means or SDs are hidden.

    Examples
    --------
    >>> from pmo_workbench.cohort.definition import parse_definition
    >>> d = parse_definition({"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
    ...                       "controls": {"ratio": 2, "match": {"birth_year": 1}}})
    >>> t = pd.DataFrame([("age at index", "", "mean", 66.0, 64.0), ("age at index", "", "sd", 10.0, 9.0)],
    ...                  columns=["variable", "level", "statistic", "case", "control"])
    >>> print(explain_age_difference(d, t)[0][:80])
    Age at index: cases 66.0 and controls 64.0 years on average, a difference of +2.
    """
    ctl = definition.controls
    out: list[str] = []
    if ctl is None or ctl.match.birth_year is None:
        return out

    def stat(name: str, role: str) -> float:
        v = table1.loc[(table1["variable"] == "age at index") & (table1["statistic"] == name), role]
        return float(v.iloc[0]) if len(v) and not pd.isna(v.iloc[0]) else float("nan")

    m1, m0, s1, s0 = stat("mean", "case"), stat("mean", "control"), stat("sd", "case"), stat("sd", "control")
    if not any(math.isnan(x) for x in (m1, m0, s1, s0)):
        pooled = math.sqrt((s1 ** 2 + s0 ** 2) / 2)
        smd = (m1 - m0) / pooled if pooled > 0 else 0.0
        k = ctl.match.birth_year
        out.append(f"Age at index: cases {m1:.1f} and controls {m0:.1f} years on average, a difference of "
                   f"{m1 - m0:+.1f} years (standardised difference {smd:.2f}). Matching on birth year ±{k} "
                   f"allows ages at the same index date to differ by up to {k + 1} years (the birth year band "
                   "plus the birthday within the year), so a small age difference remains after matching"
                   + (f": {abs(m1 - m0):.1f} years is {abs(smd):.2f} of the pooled SD of age ({pooled:.1f} years), "
                      f"above the usual 0.1 yet within the ±{k + 1} years the matching allows — match on age at "
                      "index or narrow the band if it matters" if abs(smd) >= 0.1 and abs(m1 - m0) <= k + 1
                      else "") + ".")
    return out
