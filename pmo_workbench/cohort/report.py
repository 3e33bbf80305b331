"""What the cohort-selection report shows: the definition in words, the attrition funnel, Table 1, matching
balance, specimen availability by biobank, and the export-mode (disclosure-controlled) versions of each.

The logic of ``notebooks/cohort_selection.ipynb``; the notebook only calls these functions and displays their
results.

Disclosure control in ``export`` mode (``min_cell_count`` = m):

- **attrition**: the counts form a chain ``n_0 >= n_1 >= ...`` whose differences are the persons removed by a
  rule. A step's count is shown only if it is 0 or >= m, and between any two shown steps the difference is 0 or
  >= m (so no removed count 1..m-1 can be derived); the longest such chain is shown, always ending with the final
  count when that count may be shown (it is also Table 1's number of cases). ``n_removed`` is shown only between
  two shown neighbours.
- **Table 1**: per variable, the levels x (case, control) counts go through
  :func:`~pmo_workbench.privacy.suppress_small_counts` (complementary cells included, the group sizes counted as
  published); a yes/no variable is suppressed with its "no" counts, so a small "no" hides "yes" too. Percentages
  of hidden counts are hidden; mean and sd are hidden for a group whose size is hidden.
- **balance**: computed from the disclosed Table 1, so a hidden proportion hides its standardised difference.
- **count tables** (specimen availability): :func:`~pmo_workbench.overview.disclose`.

Examples
--------
>>> att = pd.DataFrame({"step": [0, 1, 2], "rule": ["entry", "sex", "Tissue Use Register opt-out"],
...                     "n_persons": [40, 37, 30], "n_removed": [0, 3, 7]})
>>> disclose_attrition(att, mode="export", min_count=5)["n_persons"].tolist()
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
    CohortDefinition,
    EventRule,
    _HasCodes,
    definition_hash,
)
from pmo_workbench.cohort.selection import CohortResult, select_cohort
from pmo_workbench.errors import ConfigError
from pmo_workbench.health.codelists import CodeIndex
from pmo_workbench.health.database import HealthDatabase
from pmo_workbench.overview import disclose
from pmo_workbench.privacy import suppress_small_counts
from pmo_workbench.project import Project, as_project

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


def _small(v: int, m: int) -> bool:
    return 0 < v < m


def _shown_chain(values: list[int], m: int) -> set[int]:
    """Indices of the longest chain of counts that is safe to show (see the module docstring)."""
    n = len(values)
    ok = [not _small(v, m) for v in values]
    best = [1 if ok[j] else 0 for j in range(n)]
    prev = [-1] * n
    for j in range(n):
        if not ok[j]:
            continue
        for i in range(j):
            if ok[i] and best[i] + 1 > best[j] and not _small(values[i] - values[j], m):
                best[j], prev[j] = best[i] + 1, i
    if n == 0 or not any(ok):
        return set()
    end = n - 1 if ok[n - 1] else max(range(n), key=lambda j: (best[j], j))
    chain = set()
    while end >= 0:
        chain.add(end)
        end = prev[end]
    return chain


def disclose_attrition(attrition: pd.DataFrame, *, mode: str, min_count: int) -> pd.DataFrame:
    """The attrition table (``step, rule, n_persons, n_removed``) as it may be shown in ``mode``.

    In ``export`` mode counts are ``Int64`` with hidden ones ``<NA>`` (see the module docstring).
    """
    if mode == "internal":
        return attrition.copy()
    if mode != "export":
        raise ValueError(f"mode must be 'internal' or 'export', not {mode!r}")
    values = [int(v) for v in attrition["n_persons"]]
    shown = _shown_chain(values, min_count)
    out = attrition.copy()
    persons = pd.array([v if i in shown else None for i, v in enumerate(values)], dtype="Int64")
    removed = [0 if i == 0 and i in shown else (values[i - 1] - values[i] if i in shown and i - 1 in shown else None)
               for i in range(len(values))]
    out["n_persons"] = persons
    out["n_removed"] = pd.array(removed, dtype="Int64")
    return out


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


def _hide_where(values: pd.Series, hidden: pd.Series) -> pd.Series:
    out = values.astype("Float64").copy()
    out[hidden.to_numpy()] = pd.NA
    return out


def disclose_table1(table1: pd.DataFrame, *, mode: str, min_count: int) -> pd.DataFrame:
    """Table 1 (tidy: ``variable, level, statistic, case, control``) as it may be shown in ``mode``.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["n", "sex", "sex", "sex", "sex"], "level": ["", "F", "F", "M", "M"],
    ...                   "statistic": ["n", "n", "%", "n", "%"], "case": [20, 3, 15.0, 17, 85.0],
    ...                   "control": [80, 40, 50.0, 40, 50.0]})
    >>> disclose_table1(t, mode="export", min_count=5)["case"].isna().tolist()
    [False, True, True, True, True]
    """
    if mode == "internal":
        return table1.copy()
    if mode != "export":
        raise ValueError(f"mode must be 'internal' or 'export', not {mode!r}")
    roles = ["case", "control"]
    out = table1.copy()
    for r in roles:
        out[r] = out[r].astype("Float64")
    is_n = out["statistic"] == "n"
    n_row = out[(out["variable"] == "n") & is_n]
    sizes = {r: int(n_row[r].iloc[0]) if len(n_row) and not pd.isna(n_row[r].iloc[0]) else 0 for r in roles}
    size_hidden = {r: _small(sizes[r], min_count) for r in roles}
    if len(n_row):
        shown_n = suppress_small_counts(pd.Series([sizes[r] for r in roles], index=roles), min_count=min_count)
        for r in roles:
            out.loc[n_row.index, r] = shown_n[r]
            size_hidden[r] = bool(pd.isna(shown_n[r]))
    for var in out.loc[out["variable"] != "n", "variable"].unique():
        rows = out[(out["variable"] == var)]
        n_rows = rows[rows["statistic"] == "n"]
        if not len(n_rows):  # mean / sd
            for r in roles:
                if size_hidden[r] or sizes[r] < min_count:
                    out.loc[rows.index, r] = pd.NA
            continue
        counts = n_rows.set_index("level")[roles].astype(float).astype("int64")
        if len(counts) == 1:  # a yes-only row: suppress together with the "no" counts
            full = pd.concat([counts, pd.DataFrame([[sizes[r] - counts.iloc[0][r] for r in roles]],
                                                   index=["__no__"], columns=roles)])
            shown = suppress_small_counts(full, min_count=min_count, margins=None).iloc[:1]
        else:
            shown = suppress_small_counts(counts, min_count=min_count, margins=None)
        for level, row in shown.iterrows():
            sel = rows[rows["level"] == level]
            for r in roles:
                if pd.isna(row[r]):
                    out.loc[sel.index, r] = pd.NA
    return out


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


def build_run_extra(selection: ReportSelection, definition_path: Path, *, mode: str, min_count: int,
                    pick_list_rows: int | None = None) -> dict[str, Any]:
    """The keys the report adds to ``run.json``: definition name, file and hash, the Tissue Use Register lookup
    date, the WGS QC run used, disabled rules, completeness and counts (disclosed in export mode; ``None`` when
    hidden)."""
    r = selection.result
    att = disclose_attrition(r.attrition, mode=mode, min_count=min_count)
    roles = r.cohort["role"].value_counts()
    n_controls: Any = int(roles.get("control", 0))
    if mode == "export" and _small(n_controls, min_count):
        n_controls = None

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
            "pick_list_rows": pick_list_rows if mode == "internal" else None,
        },
    }


def write_run_extra(extra: dict[str, Any], output_dir: str | Path | None) -> Path | None:
    """Write ``run_extra.json`` into ``output_dir`` atomically (merged into ``run.json`` by the runner); nothing
    without an ``output_dir`` (interactive run). See :func:`pmo_workbench.catalogue.write_run_extra`."""
    from pmo_workbench.catalogue import write_run_extra as write_extra

    return write_extra(extra, output_dir)


def style_disclosed(table: pd.DataFrame, *, mode: str, min_count: int, caption: str = "",
                    precision: int = 1) -> Any:
    """A pandas Styler of an already disclosed table: hidden cells as ``x`` in export mode, numbers rounded."""
    frame = table.copy()
    styler = frame.style.format(precision=precision, na_rep="x" if mode == "export" else "")
    if mode == "export" and frame.isna().to_numpy().any():
        caption = f"{caption} (x: suppressed, a count below {min_count} or a cell that would reveal one)".strip()
    return styler.set_caption(caption) if caption else styler


def disclose_counts(table: pd.DataFrame, *, mode: str, min_count: int) -> pd.DataFrame:
    """A count table (rows x columns) as it may be shown; empty tables pass through."""
    if table.empty or table.to_numpy().sum() == 0:
        return table
    return disclose(table, mode=mode, min_count=min_count)
