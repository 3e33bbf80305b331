"""Synthetic persons: the CPR register of the synthetic project (birth, sex, death, region, CPR number).

The first ``len(individuals)`` persons are the genome-bearing individuals of the genome simulation, in the
same order, with their sex and population; parents are born 18–45 years before their children and siblings a
few years apart. The others are an adult patient population born 1930–2005. Deaths follow a Gompertz hazard
(doubling about every 7 years of age, men 40 % higher) over the follow-up 2000-01-01 to 2025-12-31. CPR
numbers are mostly valid; about 5 % of persons born 1965 or later get a number that fails modulus 11 (as
issued since 2007) and 0.5 % a replacement number. ``person_id`` is the keyed pseudonym of the CPR number;
raw numbers stay in the raw layer.

Examples
--------
>>> import pandas as pd
>>> from pmo_workbench.privacy import DEMO_KEY
>>> ind = pd.DataFrame({"individual": [0, 1, 2], "population": "NEU", "sex": ["F", "M", "F"],
...                     "family_id": ["F1", "F1", "F1"], "father": [-1, -1, 1], "mother": [-1, -1, 0],
...                     "role": ["founder", "founder", "child"]})
>>> p = simulate_persons(10, ind, 1, key=DEMO_KEY)
>>> bool((p.loc[2, "birth_date"] - p.loc[0, "birth_date"]).days > 18 * 365)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmo_workbench.privacy import pseudonymise
from pmo_workbench.synth.cpr import generate_cprs

FOLLOW_START = np.datetime64("2000-01-01", "D")
"""Start of registry follow-up: deaths are simulated from here (or birth)."""
FOLLOW_END = np.datetime64("2025-12-31", "D")
"""End of follow-up used for deaths."""
BIRTH_FIRST = np.datetime64("1930-01-01", "D")
BIRTH_LAST = np.datetime64("2005-12-31", "D")
REGIONS = ("Region Hovedstaden", "Region Sjælland")
REGION_SHARE_HOVEDSTADEN = 0.70
NONMOD11_FROM = np.datetime64("1965-01-01", "D")
NONMOD11_SHARE = 0.05
REPLACEMENT_SHARE = 0.005
GOMPERTZ_SLOPE = 0.095
"""Log-hazard of death per year of age."""
GOMPERTZ_HAZARD_80 = 0.055
"""Yearly death hazard of a woman aged 80."""
MALE_HAZARD_RATIO = 1.4
DEFAULT_POPULATION = "northern_european"

_YEAR = 365.25
_COLUMNS = [
    "person_idx",
    "individual",
    "cpr",
    "cpr_kind",
    "person_id",
    "sex",
    "birth_date",
    "death_date",
    "region",
    "population",
]


def simulate_persons(
    n_persons: int,
    individuals: pd.DataFrame,
    seed: np.random.SeedSequence | int,
    *,
    key: bytes,
) -> pd.DataFrame:
    """Simulate ``n_persons`` persons; the first ``len(individuals)`` are the genome-bearing individuals.

    Parameters
    ----------
    n_persons
        Number of persons, at least ``len(individuals)``.
    individuals
        The genome simulation's individuals (``individual``, ``population``, ``sex``, ``family_id``,
        ``father``, ``mother``, ``role``).
    seed
        Seed or ``SeedSequence``; the same seed gives the same persons.
    key
        Pseudonymisation key for ``person_id``.

    Returns
    -------
    pandas.DataFrame
        ``person_idx, individual, cpr, cpr_kind, person_id, sex, birth_date, death_date, region, population``;
        dates are ``datetime64``, ``death_date`` is NaT for persons alive on 2025-12-31.

    Examples
    --------
    >>> from pmo_workbench.privacy import DEMO_KEY
    >>> cols = ["individual", "population", "sex", "family_id", "father", "mother", "role"]
    >>> empty = pd.DataFrame(columns=cols)
    >>> simulate_persons(5, empty, 7, key=DEMO_KEY).shape
    (5, 10)
    """
    m = len(individuals)
    if n_persons < m:
        raise ValueError(f"n_persons ({n_persons}) must be at least the number of individuals ({m})")
    rng = np.random.default_rng(seed)
    ind = individuals.reset_index(drop=True)
    if m and not np.array_equal(ind["individual"].to_numpy(dtype=np.int64), np.arange(m)):
        raise ValueError("individuals must be numbered 0..m-1 in order")

    sex = np.where(rng.random(n_persons) < 0.5, "F", "M").astype(object)
    birth = _draw_birth_days(rng, n_persons)
    region = np.where(rng.random(n_persons) < REGION_SHARE_HOVEDSTADEN, REGIONS[0], REGIONS[1]).astype(object)
    population = np.full(n_persons, DEFAULT_POPULATION, dtype=object)
    if m:
        sex[:m] = ind["sex"].to_numpy(dtype=object)
        population[:m] = ind["population"].astype(str).to_numpy(dtype=object)
        pops, counts = np.unique(population[:m].astype(str), return_counts=True)
        population[m:] = rng.choice(pops, size=n_persons - m, p=counts / counts.sum())
        fam_birth, fam_region = _draw_family_births(ind, rng)
        birth[:m] = np.where(np.isnan(fam_birth), birth[:m], fam_birth)
        region[:m] = np.where(fam_region == None, region[:m], fam_region)  # noqa: E711
    birth_days = np.floor(birth).astype(np.int64)
    birth_d = birth_days.astype("datetime64[D]")
    death_d = _draw_deaths(rng, birth_days, sex == "M")

    kinds = np.full(n_persons, "valid", dtype=object)
    u = rng.random(n_persons)
    kinds[(birth_d >= NONMOD11_FROM) & (u < NONMOD11_SHARE)] = "nonmod11"
    kinds[u > 1 - REPLACEMENT_SHARE] = "replacement"
    cprs = np.asarray(generate_cprs(birth_d, sex.astype(str), kinds.astype(str), rng)).astype(str)
    if len(np.unique(cprs)) != n_persons:
        raise RuntimeError("generate_cprs returned duplicate numbers")

    out = pd.DataFrame(
        {
            "person_idx": np.arange(n_persons, dtype=np.int64),
            "individual": np.concatenate(
                [np.arange(m, dtype=np.int64), np.full(n_persons - m, -1, np.int64)]
            ),
            "cpr": cprs.astype(object),
            "cpr_kind": kinds,
            "sex": sex,
            "birth_date": pd.to_datetime(birth_d),
            "death_date": pd.to_datetime(death_d),
            "region": region,
            "population": population,
        }
    )
    out["person_id"] = pseudonymise(out["cpr"], key).to_numpy()
    return out[_COLUMNS]


def _draw_birth_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Birth days (since 1970, float) of an adult patient population: older ages over-represented."""
    first = BIRTH_FIRST.astype(np.int64)
    span = (BIRTH_LAST - BIRTH_FIRST).astype(np.int64) + 1
    return first + rng.beta(1.7, 1.5, size=n) * span


def _draw_deaths(rng: np.random.Generator, birth_days: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Death dates (NaT if alive at FOLLOW_END) from a Gompertz hazard over the follow-up."""
    start = np.maximum(birth_days, FOLLOW_START.astype(np.int64))
    age0 = (start - birth_days) / _YEAR
    age1 = (FOLLOW_END.astype(np.int64) - birth_days) / _YEAR
    a0 = GOMPERTZ_HAZARD_80 * np.exp(-GOMPERTZ_SLOPE * 80.0) * np.where(male, MALE_HAZARD_RATIO, 1.0)
    b = GOMPERTZ_SLOPE
    # cumulative hazard from age0 to a: a0/b (e^{ba} - e^{b age0}); invert at an Exp(1) draw
    e = rng.exponential(1.0, size=len(birth_days))
    death_age = np.log(np.exp(b * age0) + e * b / a0) / b
    dies = death_age < age1
    days = birth_days + np.floor(death_age * _YEAR).astype(np.int64)
    days = np.maximum(days, start)
    out = np.full(len(birth_days), np.datetime64("NaT"), dtype="datetime64[D]")
    out[dies] = days[dies].astype("datetime64[D]")
    return out


def _draw_family_births(ind: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Birth days (NaN outside families) and a shared region for individuals in families.

    Parents are born 18–45 years before each child (and at most 8 years apart); siblings 1.5–5 years apart.
    Children whose parents are not among the individuals get virtual parents of the family.
    """
    m = len(ind)
    birth = np.full(m, np.nan)
    region = np.full(m, None, dtype=object)
    father = ind["father"].fillna(-1).to_numpy(dtype=np.int64)
    mother = ind["mother"].fillna(-1).to_numpy(dtype=np.int64)
    fam = ind["family_id"].where(ind["family_id"].notna(), None).to_numpy(dtype=object)
    sexes = ind["sex"].to_numpy(dtype=object)
    year = _YEAR
    last_child = BIRTH_LAST.astype(np.int64)
    families = list(dict.fromkeys(f for f in fam if f is not None))
    for f in families:
        members = np.flatnonzero(fam == f)
        # virtual parents: mother born 1930-1962, father 5 years younger to 8 years older
        vm = BIRTH_FIRST.astype(np.int64) + rng.random() * 33 * year
        vf = vm + np.clip(rng.normal(2.0, 3.0), -5.0, 8.0) * year
        fam_region = REGIONS[0] if rng.random() < REGION_SHARE_HOVEDSTADEN else REGIONS[1]
        pending = list(members)
        last_sib: dict[tuple[float, ...], float] = {}
        for _ in range(len(members) + 2):
            if not pending:
                break
            still = []
            for i in pending:
                fa, mo = father[i], mother[i]
                has_parent = fa >= 0 or mo >= 0
                if not has_parent:
                    if ind.loc[i, "role"] == "child":
                        pb = (vf, vm)
                    else:  # founder: spouse-consistent if the spouse is known, else the virtual parent
                        spouse = _find_spouse(i, father, mother)
                        if spouse >= 0 and not np.isnan(birth[spouse]):
                            birth[i] = birth[spouse] + np.clip(rng.normal(0.0, 3.0), -6.0, 6.0) * year
                        else:
                            birth[i] = vm if sexes[i] == "F" else vf
                        region[i] = fam_region
                        continue
                else:
                    known = [p for p in (fa, mo) if p >= 0]
                    if any(np.isnan(birth[p]) for p in known):
                        still.append(i)
                        continue
                    pb = tuple(birth[p] for p in known)
                oldest, youngest = min(pb), max(pb)
                previous = last_sib.get(pb)
                if previous is None:  # first child: parents 21-30 years older
                    b = youngest + (21.0 + rng.random() * 9.0) * year
                else:  # next sibling 1.5-5 years later
                    b = previous + (1.5 + rng.random() * 3.5) * year
                b = min(max(b, youngest + 18 * year), oldest + 45 * year, float(last_child))
                last_sib[pb] = b
                birth[i] = b
                region[i] = fam_region
            if len(still) == len(pending):
                raise ValueError("individuals: cyclic or inconsistent father/mother references")
            pending = still
    return birth, region


def _find_spouse(i: int, father: np.ndarray, mother: np.ndarray) -> int:
    """The co-parent of individual ``i`` in its first child's record, or -1."""
    as_father = np.flatnonzero(father == i)
    if len(as_father):
        return int(mother[as_father[0]])
    as_mother = np.flatnonzero(mother == i)
    if len(as_mother):
        return int(father[as_mother[0]])
    return -1
