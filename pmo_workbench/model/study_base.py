"""The cohort of a prediction model: a population at a baseline date, a cohort definition, or a cohort run.

A prediction model needs persons with an index date from which they are followed. Three sources:

- :func:`select_baseline_cohort` -- everyone alive, resident (under observation for ``prior_days``) and aged
  ``age_min``-``age_max`` on a baseline date, without the outcome before it, Tissue Use Register opt-outs
  removed (the usual registry design: "all residents aged 40-80 on 1 January 2005"). It returns the attrition.
- a cohort definition (``cohorts/*.yaml``): :func:`~pmo_workbench.cohort.select_cohort` (its index dates).
- a cohort run (``runs/cohort_selection/<time>/cohort.parquet``): cases' and controls' index dates as selected.

Examples
--------
>>> cohort, attrition = select_baseline_cohort(db, "2005-01-01", age_min=40, age_max=80)  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from pmo_workbench.errors import ConfigError


def select_baseline_cohort(db: Any, baseline: date | str, *, age_min: float = 40, age_max: float = 80,
                           prior_days: int = 365, exclude_condition: str | None = None
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Persons at a fixed baseline date (see the module docstring).

    Parameters
    ----------
    exclude_condition
        SQL condition on ``diagnosis d`` for prior events that exclude (e.g. the outcome's codes).

    Returns
    -------
    (cohort, attrition)
        ``person_id, index_date``; and ``step, n_persons, n_removed``.
    """
    day = pd.Timestamp(baseline).date().isoformat()
    steps: list[tuple[str, int]] = []
    persons = db.query("SELECT person_id, birth_date, death_date FROM person")
    steps.append(("persons in the registry", len(persons)))
    birth = pd.to_datetime(persons["birth_date"])
    death = pd.to_datetime(persons["death_date"])
    base = pd.Timestamp(day)
    alive = birth.le(base) & (death.isna() | death.gt(base))
    persons = persons[alive]
    steps.append((f"born and alive on {day}", len(persons)))
    age = (base - pd.to_datetime(persons["birth_date"])).dt.days / 365.25
    persons = persons[(age >= age_min) & (age <= age_max)]
    steps.append((f"aged {age_min:g}-{age_max:g}", len(persons)))
    if db.query("SELECT count(*) AS n FROM observation_period")["n"].iloc[0] > 0:
        observed = set(db.query(
            f"SELECT DISTINCT person_id FROM observation_period WHERE start_date <= DATE '{day}' - INTERVAL "
            f"({int(prior_days)}) DAY AND end_date >= DATE '{day}'")["person_id"])
        persons = persons[persons["person_id"].isin(observed)]
        steps.append((f"resident (under observation) for {prior_days} days before", len(persons)))
    if exclude_condition:
        prior = set(db.query(f"SELECT DISTINCT person_id FROM diagnosis d WHERE d.date <= DATE '{day}' AND "
                             f"{exclude_condition}")["person_id"])
        persons = persons[~persons["person_id"].isin(prior)]
        steps.append(("without the outcome before the baseline", len(persons)))
    if db.query("SELECT count(*) AS n FROM tissue_use_register")["n"].iloc[0] > 0:  # consent is per person
        looked_up = set(db.query("SELECT person_id FROM tissue_use_register")["person_id"])
        persons = persons[persons["person_id"].isin(looked_up)]
        steps.append(("Tissue Use Register not looked up", len(persons)))
    opted = set(db.query("SELECT person_id FROM tissue_use_register WHERE opt_out")["person_id"])
    persons = persons[~persons["person_id"].isin(opted)]
    steps.append(("Tissue Use Register opt-out", len(persons)))
    cohort = pd.DataFrame({"person_id": persons["person_id"].astype(str).to_numpy(), "index_date": base})
    attrition = pd.DataFrame({"step": [s for s, _ in steps], "n_persons": [n for _, n in steps]})
    attrition["n_removed"] = (-attrition["n_persons"].diff()).fillna(0).astype(int)
    return cohort.reset_index(drop=True), attrition


def load_cohort_run(path: str | Path) -> pd.DataFrame:
    """``person_id, index_date, role`` from a cohort-selection run folder (its ``cohort.parquet``).

    Raises
    ------
    ConfigError
        No ``cohort.parquet`` (an export-mode run writes none) or missing columns.
    """
    path = Path(path)
    table = path / "cohort.parquet" if path.is_dir() else path
    if not table.exists():
        raise ConfigError("no cohort.parquet in this cohort run (export-mode runs write none: run "
                          "cohort_selection in internal mode)", file=table.parent, field="cohort_run")
    cohort = pd.read_parquet(table)
    for col in ("person_id", "index_date"):
        if col not in cohort.columns:
            raise ConfigError("missing column", file=table, field=col)
    return cohort
