"""Random cohort definitions against an independent pandas implementation of the definition semantics.

The oracle below re-implements, from the documented semantics (``pmo_workbench.cohort.definition``) and without
any code of the workbench, code matching (exact, prefix ``X*``, range ``LOW-HIGH``), the entry event (first-ever
or every event in the date range), the criteria (age in completed years, sex, exclude/require with windows,
counts and lab values, observation) and the Tissue Use Register. Each generated definition is then selected
by the workbench on the session's synthetic project, and the attrition (persons after each rule) and the cases
with their index dates must be the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.cohort.selection import select_cohort

N_DEFINITIONS = 40
VOCAB = {"diagnosis": "SKS", "prescription": "ATC", "lab": "NPU"}


# ---------------------------------------------------------------------------------------------------- oracle
def _covers(pattern: str, code: str) -> bool:
    if pattern.endswith("*"):
        return code.startswith(pattern[:-1])
    if "-" in pattern:
        low, high = pattern.split("-")
        return code[: len(low)] >= low and code[: len(high)] <= high
    return code == pattern


def _events(tables: dict[str, pd.DataFrame], domain: str, codes: list[str], diag_types=None, value=None
            ) -> pd.DataFrame:
    t = tables[domain]
    t = t[t["vocabulary"] == VOCAB[domain]]
    hit = np.zeros(len(t), dtype=bool)
    for code in pd.unique(t["code"]):
        if any(_covers(p, code) for p in codes):
            hit |= (t["code"] == code).to_numpy()
    t = t[hit]
    if diag_types is not None:
        t = t[t["diag_type"].isin(diag_types)]
    if value is not None:
        v = t["value"]
        ok = v.notna()
        if "min" in value:
            ok &= v >= value["min"]
        if "max" in value:
            ok &= v <= value["max"]
        t = t[ok]
    return pd.DataFrame({"person_id": t["person_id"].to_numpy(), "date": t["day"].to_numpy()})


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def oracle(tables: dict[str, pd.DataFrame], d: dict) -> tuple[list[int], pd.DataFrame]:
    """(persons after each rule, cases ``person_id, index_date``) by the definition's documented semantics."""
    e = d["entry"]
    ev = _events(tables, e["domain"], e["codes"], e.get("diag_types")).dropna()
    lo, hi = e.get("date_range", (dt.date.min, dt.date.max))
    if e.get("occurrence", "first") == "first":
        idx = ev.groupby("person_id", as_index=False)["date"].min()
        idx = idx[(idx["date"] >= lo) & (idx["date"] <= hi)]
    else:
        idx = ev[(ev["date"] >= lo) & (ev["date"] <= hi)].drop_duplicates()
    person = tables["person"].set_index("person_id")
    idx = idx[idx["person_id"].isin(person.index)].reset_index(drop=True)
    counts = [idx["person_id"].nunique()]
    for c in d.get("criteria", []):
        (kind, arg), = ((k, v) for k, v in c.items() if k != "name")
        if kind == "age_at_index":
            ages = [_age(person.at[p, "birth_date"], day) for p, day in zip(idx["person_id"], idx["date"],
                                                                           strict=True)]
            keep = np.array([arg[0] <= a <= arg[1] for a in ages], dtype=bool)
        elif kind == "sex":
            keep = person.loc[idx["person_id"], "sex"].isin(arg).to_numpy()
        elif kind == "observation":
            op = tables["observation_period"]
            prior, post = arg.get("prior_days", 0), arg.get("post_days", 0)
            keep = np.array([
                bool(((op["person_id"] == p) & (op["start_date"] <= day - dt.timedelta(days=prior))
                      & (op["end_date"] >= day + dt.timedelta(days=post))).any())
                for p, day in zip(idx["person_id"], idx["date"], strict=True)], dtype=bool)
        else:
            rule = arg
            hits = _events(tables, rule["domain"], rule["codes"], rule.get("diag_types"), rule.get("value"))
            by_person = {p: g["date"].to_numpy() for p, g in hits.groupby("person_id")}
            a, b = rule["window"]
            n = np.array([
                int(((by_person.get(p, np.array([], dtype=object)) >= day + dt.timedelta(days=a))
                     & (by_person.get(p, np.array([], dtype=object)) <= day + dt.timedelta(days=b))).sum())
                if p in by_person else 0
                for p, day in zip(idx["person_id"], idx["date"], strict=True)])
            enough = n >= rule.get("min_count", 1)
            keep = enough if kind == "require" else ~enough
        idx = idx[keep].reset_index(drop=True)
        counts.append(idx["person_id"].nunique())
    looked_up = set(tables["tissue_use_register"]["person_id"])      # consent is per person: a lookup row
    idx = idx[idx["person_id"].isin(looked_up)]
    counts.append(idx["person_id"].nunique())
    opted = set(tables["tissue_use_register"].query("opt_out")["person_id"])
    idx = idx[~idx["person_id"].isin(opted)]
    counts.append(idx["person_id"].nunique())
    cases = idx.groupby("person_id", as_index=False)["date"].min().rename(columns={"date": "index_date"})
    return counts, cases.sort_values("person_id").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ generator
def _pattern(rng: np.random.Generator, codes: np.ndarray, domain: str) -> str:
    code = str(rng.choice(codes))
    if domain == "lab":
        return code
    kind = rng.choice(["exact", "prefix", "prefix", "range"])
    if kind == "exact":
        return code
    if domain == "prescription":
        cut = int(rng.choice([1, 3, 4, 5]))
        return code[:cut] + "*"
    if kind == "prefix":
        return code[: int(rng.integers(3, len(code) + 1))] + "*"
    other = str(rng.choice(codes))
    low, high = sorted([code[:4], other[:4]])
    return f"{low}-{high}"


def generate_definition(rng: np.random.Generator, tables: dict[str, pd.DataFrame], i: int) -> dict:
    codes = {dom: tables[dom].loc[tables[dom]["vocabulary"] == VOCAB[dom], "code"].dropna().unique() for dom in VOCAB}
    domain = str(rng.choice(["diagnosis", "diagnosis", "prescription", "lab"]))
    entry: dict = {"domain": domain, "codes": [_pattern(rng, codes[domain], domain)
                                             for _ in range(int(rng.integers(1, 4)))]}
    if domain == "diagnosis" and rng.random() < 0.5:
        entry["diag_types"] = sorted(set(rng.choice(["A", "B", "H", "G"], size=int(rng.integers(1, 3)))))
    entry["occurrence"] = str(rng.choice(["first", "all"]))
    if rng.random() < 0.7:
        y0 = int(rng.integers(2000, 2022))
        entry["date_range"] = [dt.date(y0, 1, 1), dt.date(int(rng.integers(y0, 2026)), 12, 31)]
    criteria: list[dict] = []
    for _ in range(int(rng.integers(1, 5))):
        kind = str(rng.choice(["age", "sex", "exclude", "require_lab", "require_rx", "observation", "again"]))
        if kind == "age":
            lo = int(rng.integers(18, 70))
            criteria.append({"age_at_index": [lo, int(rng.integers(lo, 100))]})
        elif kind == "sex":
            criteria.append({"sex": [str(rng.choice(["F", "M"]))]})
        elif kind == "exclude":
            a = int(rng.integers(-3650, 0))
            criteria.append({"exclude": {"domain": "diagnosis", "codes": [_pattern(rng, codes["diagnosis"],
                                                                                   "diagnosis")],
                                         "window": [a, int(rng.integers(a, 30))]}})
        elif kind == "require_lab":
            code = str(rng.choice(codes["lab"]))
            vals = tables["lab"].loc[tables["lab"]["code"] == code, "value"].dropna()
            rule: dict = {"domain": "lab", "codes": [code], "window": [int(rng.integers(-730, 1)), 0]}
            if len(vals) and rng.random() < 0.7:
                rule["value"] = {"min": float(np.quantile(vals, rng.random()))}
            criteria.append({"require": rule})
        elif kind == "require_rx":
            criteria.append({"require": {"domain": "prescription",
                                         "codes": [_pattern(rng, codes["prescription"], "prescription")],
                                         "window": [int(rng.integers(-365, 1)), int(rng.integers(0, 366))],
                                         "min_count": int(rng.integers(1, 4))}})
        elif kind == "again":  # the entry's own events around the index date: windows that end on day 0
            rule = {"domain": domain, "codes": entry["codes"],
                    "window": [[0, 0], [-365, -1], [1, 365], [-30, 0], [0, 30]][int(rng.integers(0, 5))],
                    "min_count": int(rng.integers(1, 3))}
            criteria.append({str(rng.choice(["require", "exclude"])): rule})
        else:
            criteria.append({"observation": {"prior_days": int(rng.integers(0, 1500)),
                                             "post_days": int(rng.integers(0, 400))}})
    for j, c in enumerate(criteria):  # unique names, as the definition requires for repeated rule kinds
        c["name"] = f"r{j}"
    return {"name": f"random_{i}", "entry": entry, "criteria": criteria}


# ---------------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def tables(small_project: Path) -> dict[str, pd.DataFrame]:
    reg = small_project / "data" / "registry"
    out = {name: pd.read_parquet(reg / f"{name}.parquet")
           for name in ("person", "observation_period", "diagnosis", "prescription", "lab")}
    out["tissue_use_register"] = pd.read_parquet(small_project / "data" / "consent" / "tissue_use_register.parquet")
    out["diagnosis"]["day"] = out["diagnosis"]["date"]
    out["prescription"]["day"] = out["prescription"]["date"]
    out["lab"]["day"] = pd.to_datetime(out["lab"]["datetime"]).dt.date
    return out


def test_random_definitions_match_the_pandas_oracle(small_project: Path, tables):
    rng = np.random.default_rng(20261126)
    checked = nonempty = 0
    for i in range(N_DEFINITIONS):
        d = generate_definition(rng, tables, i)
        expected_counts, expected_cases = oracle(tables, d)
        result = select_cohort(small_project, d)
        got_counts = result.attrition["n_persons"].astype(int).tolist()
        assert got_counts == expected_counts, f"definition {d}"
        got = (result.cohort[result.cohort["role"] == "case"][["person_id", "index_date"]]
               .assign(index_date=lambda f: pd.to_datetime(f["index_date"]).dt.date)
               .sort_values("person_id").reset_index(drop=True))
        pd.testing.assert_frame_equal(got, expected_cases, check_dtype=False, obj=f"cases of {d}")
        checked += 1
        nonempty += len(expected_cases) > 0
    assert checked == N_DEFINITIONS
    assert nonempty >= N_DEFINITIONS // 3, "the generator must produce definitions that select someone"
