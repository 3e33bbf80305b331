"""Plausibility checks of an import, counted per rule and reported as a table (fatal or warning as configured).

Rules (:data:`RULES`; the default severity in brackets):

=============================  ==========================================================================  =========
``empty_person_table``         the person table has a header and no rows                                    fatal
``death_before_birth``         a death date before the birth date                                           warning
``discharge_before_admission`` a contact (diagnosis) ending before it started                               warning
``future_date``                a date after the day of the import (a contact in 2099)                       warning
``unknown_person``             an event (contact, prescription, lab result, opt-out, OMOP row) of a person  warning
                               the person table does not hold
``duplicate_rows``             a row that repeats an earlier row of the same file exactly                   warning
``duplicate_file``             every row of a file is there at least twice (a file appended to itself)      fatal
``code_normalised``            a diagnosis code rewritten to the SKS form (upper case, no spaces or dots,   warning
                               ``D`` prefix: ``di 109`` -> ``DI109``, ``I21.9`` -> ``DI219``; ICD-8 ``410.99``
                               -> ``41099``); what was changed is listed in ``code_changes.csv``
=============================  ==========================================================================  =========

A fatal rule with a count above zero stops the import with an :class:`~pmo_workbench.errors.InputError` naming
the rule, the file, the first row and the field (never a value); warnings are reported. An import writes the
table as ``import_checks.csv`` (``rule, severity, file, field, count, first_row``, one row per rule and file
where the rule was evaluated) beside its event tables.

Examples
--------
>>> c = ImportChecks({"future_date": "fatal"})
>>> c.add("death_before_birth", "cpr_register.csv", "doed_dato", 2, 7)
>>> c.table()[["rule", "severity", "count", "first_row"]].values.tolist()
[['death_before_birth', 'warning', 2, 7]]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmo_workbench.errors import InputError

RULES: dict[str, tuple[str, str]] = {
    "empty_person_table": ("fatal", "the person table has a header and no rows"),
    "death_before_birth": ("warning", "death date before birth date"),
    "discharge_before_admission": ("warning", "contact ends before it starts"),
    "future_date": ("warning", "date after the day of the import"),
    "unknown_person": ("warning", "event of a person not in the person table"),
    "duplicate_rows": ("warning", "row repeating an earlier row exactly"),
    "duplicate_file": ("fatal", "every row of the file is there at least twice"),
    "code_normalised": ("warning", "diagnosis code rewritten to the SKS/ICD-8 form"),
}
"""Rule -> (default severity, what it counts)."""

SEVERITIES = ("fatal", "warning", "off")


def parse_severities(spec: str | dict[str, str] | None) -> dict[str, str]:
    """Severities per rule from a mapping or a command-line text ``rule=fatal,rule2=warning`` (``all=fatal``
    sets every rule); unknown rules or severities are a :class:`~pmo_workbench.errors.InputError`.

    Examples
    --------
    >>> parse_severities("future_date=fatal")["future_date"], parse_severities("all=fatal")["duplicate_rows"]
    ('fatal', 'fatal')
    """
    out = {rule: sev for rule, (sev, _) in RULES.items()}
    if spec is None:
        return out
    items = spec.items() if isinstance(spec, dict) else (
        part.split("=", 1) if "=" in part else (part, "fatal") for part in spec.split(",") if part.strip())
    for rule, sev in items:
        rule, sev = rule.strip(), sev.strip().lower()
        if sev not in SEVERITIES:
            raise InputError(f"severity must be one of {', '.join(SEVERITIES)}", field=f"checks.{rule[:40]}")
        if rule == "all":
            out = {r: sev for r in out}
        elif rule in RULES:
            out[rule] = sev
        else:
            raise InputError(f"unknown check (known: {', '.join(RULES)})", field=f"checks.{rule[:40]}")
    return out


class ImportChecks:
    """The counts of one import, per rule and file; :meth:`add` raises at once for a fatal rule."""

    def __init__(self, severities: str | dict[str, str] | None = None, *, folder: str | Path | None = None) -> None:
        self.severity = parse_severities(severities)
        self.folder = Path(folder) if folder is not None else None
        self.rows: list[dict[str, object]] = []
        self.changes: list[pd.DataFrame] = []

    def wants(self, rule: str) -> bool:
        """Whether ``rule`` is evaluated at all (not ``off``)."""
        return self.severity[rule] != "off"

    def add(self, rule: str, file: str, field: str | None, count: int, first_row: int | None) -> None:
        """Record ``count`` rows of ``file`` breaking ``rule`` (nothing for zero); a fatal rule raises."""
        if count <= 0 or not self.wants(rule):
            return
        sev = self.severity[rule]
        self.rows.append({"rule": rule, "severity": sev, "file": file, "field": field, "count": int(count),
                          "first_row": None if first_row is None else int(first_row)})
        if sev == "fatal":
            where = self.folder / file if self.folder is not None else file
            raise InputError(f"implausible data ({rule}: {RULES[rule][1]}; {count:,} rows)", file=where,
                             row=first_row, field=field)

    def add_changes(self, file: str, frame: pd.DataFrame) -> None:
        """Record the code rewrites of ``file``: ``original, code, count`` (counted as ``code_normalised``)."""
        if len(frame):
            self.changes.append(frame.assign(file=file)[["file", "original", "code", "count"]])

    def table(self) -> pd.DataFrame:
        """``rule, severity, file, field, count, first_row`` for every rule that counted something."""
        cols = ["rule", "severity", "file", "field", "count", "first_row"]
        df = pd.DataFrame(self.rows, columns=cols)
        return df.astype({"count": "int64", "first_row": "Int64"})

    def code_changes(self) -> pd.DataFrame:
        """Every rewritten code: ``file, original, code, count`` (most frequent first)."""
        if not self.changes:
            return pd.DataFrame(columns=["file", "original", "code", "count"])
        df = pd.concat(self.changes, ignore_index=True)
        return df.sort_values(["count", "file", "original"], ascending=[False, True, True]).reset_index(drop=True)

    def summary(self) -> str:
        """The table as aligned text lines (for the command line); ``no implausible rows`` when empty."""
        t = self.table()
        if t.empty:
            return "plausibility checks: no implausible rows"
        lines = ["plausibility checks (rule, severity, file, rows):"]
        lines += [f"  {r.rule:<28} {r.severity:<8} {r.file:<26} {r.count:>10,}" for r in t.itertuples()]
        return "\n".join(lines)

    def write(self, folder: Path) -> list[Path]:
        """Write ``import_checks.csv`` and ``code_changes.csv`` into ``folder`` (atomically)."""
        from pmo_workbench.files import replace_atomically

        out = []
        for name, frame in (("import_checks.csv", self.table()), ("code_changes.csv", self.code_changes())):
            with replace_atomically(folder / name) as tmp:
                frame.to_csv(tmp, index=False)
            out.append(folder / name)
        return out


REPORT_FILES = ("import_checks.csv", "code_changes.csv")
"""Files an import writes beside its tables (replaced with them)."""
