"""Outcomes from the registry: binary within a horizon and time-to-event with censoring and competing death.

For each (person, index date) of a cohort, follow-up starts the day after the index date and ends at the first
of: the outcome event (status 1), death (status 2, a competing event), the end of the person's observation period
that holds the index date (emigration, or the end of data: censored, status 0) and the horizon (censored,
status 0). Observation periods come from the CPR register (``observation_period``); a person without one is
taken as observed from birth to the end of data or death. The **end of data** is the latest observation-period
end (or the latest event date) unless given.

Binary outcome within the horizon (``event``): 1 with an outcome event in ``(index, index + horizon]``, 0 when
followed to the horizon without one **or** when death came first (the competing event ends the risk: the usual
cumulative-incidence convention), and missing (NaN) when censored before the horizon without the event -- such
persons are dropped from binary models (named in the attrition) and kept, censored, in time-to-event models.
An outcome event on or before the index date makes the row ``prevalent`` (excluded from incident prediction).

Examples
--------
>>> spec = OutcomeSpec(name="mi", codes=["DI21*", "DI22*"], horizon_days=3652)
>>> spec.horizon_years
10.0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pmo_workbench.health.codelists import code_condition, parse_code

CENSOR_REASONS = ("event", "death", "emigration", "end_of_data", "horizon")
_VOCAB = {"diagnosis": "SKS", "prescription": "ATC"}


class OutcomeSpec(BaseModel):
    """The outcome: codes of a registry domain, a horizon, and whether death competes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    domain: Literal["diagnosis", "prescription"] = "diagnosis"
    codes: list[str] = Field(..., min_length=1)
    diag_types: list[str] | None = Field(None, description="diagnosis types that count (default: A and B)")
    horizon_days: int = Field(3652, ge=1, le=36500)
    competing_death: bool = Field(True, description="death without the outcome is a competing event (else it "
                                                    "censors)")

    @field_validator("codes")
    @classmethod
    def _check_codes(cls, v: list[str], info: Any) -> list[str]:
        vocab = _VOCAB[info.data.get("domain", "diagnosis")]
        for c in v:
            parse_code(c, vocab)
        return v

    @property
    def horizon_years(self) -> float:
        """The horizon in years (365.2 days)."""
        return round(self.horizon_days / 365.2, 2)

    def condition(self, alias: str) -> str:
        """SQL condition on the event table ``alias`` for the outcome codes (and diagnosis types)."""
        pats = [parse_code(c, _VOCAB[self.domain]) for c in self.codes]
        cond = code_condition(pats, code_column=f"{alias}.code", vocabulary_column=f"{alias}.vocabulary")
        types = self.diag_types if self.diag_types is not None else (["A", "B"] if self.domain == "diagnosis"
                                                                      else None)
        if types and self.domain == "diagnosis":
            quoted = ", ".join("'" + t.replace("'", "''") + "'" for t in types)
            cond = f"({cond} AND coalesce({alias}.diag_type, 'A') IN ({quoted}))"
        return cond


@dataclass
class OutcomeTable:
    """Outcomes of a cohort: one row per (person, index date).

    ``table`` columns: person_id, index_date, event (1/0/NaN within the horizon), time_days (follow-up, at
    most the horizon), status (0 censored, 1 outcome, 2 competing death), reason (one of
    :data:`CENSOR_REASONS`), prevalent (outcome on or before the index date), event_date, end_of_follow_up.
    """

    table: pd.DataFrame
    spec: OutcomeSpec
    end_of_data: date

    def summary(self) -> pd.Series:
        """Counts: rows, prevalent, incident events, competing deaths, censored before the horizon."""
        t = self.table[~self.table["prevalent"]]
        return pd.Series({
            "rows": len(self.table),
            "prevalent (excluded)": int(self.table["prevalent"].sum()),
            "events within horizon": int((t["status"] == 1).sum()),
            "competing deaths": int((t["status"] == 2).sum()),
            "censored before horizon": int(t["event"].isna().sum()),
            "followed to horizon": int((t["reason"] == "horizon").sum()),
        }, name="n")


def compute_outcomes(db: Any, cohort: pd.DataFrame, spec: OutcomeSpec, *,
                     end_of_data: date | str | None = None) -> OutcomeTable:
    """Follow each (person, index date) of ``cohort`` for ``spec``'s outcome (see the module docstring).

    Examples
    --------
    >>> out = compute_outcomes(open_database("demo"), cohort, OutcomeSpec(name="mi", codes=["DI21*"]))  # doctest: +SKIP
    >>> out.table["status"].value_counts()  # doctest: +SKIP
    """
    frame = cohort[["person_id", "index_date"]].copy()
    frame["person_id"] = frame["person_id"].astype(str)
    frame["index_date"] = pd.to_datetime(frame["index_date"]).dt.normalize()
    frame = frame.drop_duplicates().reset_index(drop=True)
    db.register("_pmo_outcome_cohort", frame)
    if end_of_data is None:
        end = db.query("SELECT max(end_date) AS d FROM observation_period")["d"].iloc[0]
        if end is None or pd.isna(end):
            end = db.query(f"SELECT max(date) AS d FROM {spec.domain}")["d"].iloc[0]
        if end is None or pd.isna(end):
            raise ValueError("cannot tell the end of data: no observation periods and no events")
        end_of_data = pd.Timestamp(end).date()
    eod = pd.Timestamp(end_of_data).normalize()
    date_col = "e.date"
    first = db.query(
        f"SELECT c.person_id, c.index_date, min({date_col}) FILTER (WHERE {date_col} > c.index_date) AS event_date, "
        f"bool_or({date_col} <= c.index_date) AS prevalent FROM _pmo_outcome_cohort c JOIN {spec.domain} e "
        f"ON e.person_id = c.person_id WHERE {spec.condition('e')} GROUP BY c.person_id, c.index_date")
    person = db.query("SELECT c.person_id, c.index_date, p.death_date, p.birth_date FROM _pmo_outcome_cohort c "
                      "LEFT JOIN person p ON p.person_id = c.person_id")
    obs = db.query(
        "SELECT c.person_id, c.index_date, max(o.end_date) AS obs_end, count(o.person_id) AS n_periods "
        "FROM _pmo_outcome_cohort c LEFT JOIN observation_period o ON o.person_id = c.person_id "
        "AND o.start_date <= c.index_date AND o.end_date >= c.index_date GROUP BY c.person_id, c.index_date")
    any_obs = db.query("SELECT count(*) AS n FROM observation_period")["n"].iloc[0] > 0
    for t in (first, person, obs):
        t["index_date"] = pd.to_datetime(t["index_date"])
    t = (frame.merge(first, on=["person_id", "index_date"], how="left")
         .merge(person, on=["person_id", "index_date"], how="left")
         .merge(obs, on=["person_id", "index_date"], how="left"))
    index = t["index_date"]
    horizon_end = index + pd.Timedelta(days=spec.horizon_days)
    event_date = pd.to_datetime(t["event_date"])
    death = pd.to_datetime(t["death_date"])
    obs_end = pd.to_datetime(t["obs_end"]).where(t["n_periods"].fillna(0) > 0) if any_obs else \
        pd.Series(pd.NaT, index=t.index)
    # no observation period covering the index date (in a project that has them): not under observation
    unobserved = obs_end.isna() & bool(any_obs)
    obs_end = obs_end.fillna(eod).clip(upper=eod)
    emigrated = obs_end < eod
    candidates = pd.DataFrame({
        "event": event_date, "death": death, "censor": obs_end, "horizon": horizon_end,
    })
    end = candidates.min(axis=1)
    reason = np.select(
        [event_date.notna() & (event_date <= end),
         candidates["death"].notna() & (candidates["death"] <= end),
         (candidates["censor"] <= end) & (candidates["censor"] < horizon_end)],
        ["event", "death", "censor"], default="horizon")
    reason = np.where(reason == "censor", np.where(emigrated, "emigration", "end_of_data"), reason)
    # death competes (status 2; not at risk any more: binary 0), or, without competing risks, censors
    status = np.select([reason == "event", (reason == "death") & spec.competing_death], [1, 2], default=0)
    binary = np.where(status == 1, 1.0, np.where((status == 2) | (reason == "horizon"), 0.0, np.nan))
    time_days = (end - index).dt.days.astype(float)
    prevalent = t["prevalent"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame({
        "person_id": t["person_id"], "index_date": index, "event": binary, "time_days": time_days,
        "status": status.astype(np.int8), "reason": reason, "prevalent": prevalent,
        "under_observation": ~unobserved.to_numpy(), "event_date": event_date.where(status == 1),
        "end_of_follow_up": end,
    })
    return OutcomeTable(out, spec, eod.date())
