"""Synthetic registry data: hospital contacts (LPR2/LPR3), prescriptions (LMDB) and lab results (labka).

Writes the event-schema tables (``person``, ``observation_period``, ``diagnosis``, ``prescription``, ``lab``)
and the raw Danish-format extracts they are derived from (CSV with CPR numbers, see the synth contract). The
raw files carry exactly the same events; an importer reproduces the event tables with these rules:

- ``person``: ``cpr_register.csv`` with ``koen`` K→F, M→M; ``person_id`` = ``pseudonymise(pnr, key)``.
- ``diagnosis``: LPR2 = ``lpr_adm`` ⋈ ``lpr_diag`` on ``recnum`` (contact_id = recnum, date = d_inddto,
  end_date = d_uddto, c_pattype 0/1/2/3 → inpatient/day/outpatient/emergency, source LPR2); LPR3 =
  ``lpr3_kontakter`` ⋈ ``lpr3_diagnoser`` on ``dw_ek_kontakt`` without rows with ``senere_afkraeftet == "Ja"``
  (contact_id = dw_ek_kontakt, date = dato_start, end_date = dato_slut, contact_type: kontakttype ALCA10 →
  virtual; otherwise a stay of 12 hours or more → inpatient; shorter: prioritet ATA1 → emergency, ATA3 →
  outpatient; source LPR3). Vocabulary SKS, diag_type as recorded.
- ``prescription``: ``lmdb.csv``: date = eksd, code = atc, ddd = apk × volume (voltypetxt is ``DDD``),
  packages = apk, strength = ``f"{strnum:g} {strunit}"``, source ``LMDB``, vocabulary ATC.
- ``lab``: ``labka.csv``: datetime = samplingdate + samplingtime, code = analysiscode, vocabulary NPU,
  value = the text as a number where it is one (else null), value_text = the text where it is not a number
  (e.g. ``<0.5``; else null), unit, ref_low = refl, ref_high = refu, lab_id = laboratorium_idcode.

The model (the truth returned in :class:`RegistrySim`): each person has an untreated LDL level
``ldl_true = 2.9 + 0.35·ldl_score + 0.012·(age in 2012 − 50) + 0.15·male + N(0, 0.6²)`` (mmol/L); measured
LDL is ``ldl_true`` times the person's statin response (0.55–0.75) after the first statin fill, plus
N(0, 0.3²).
Myocardial infarction during observation is a logistic model on the person level::

    logit P(MI) = b0 + b_mi·mi_score + b_age·(age at observation start − 60)/10 + b_male·male
                  + b_ldl·(ldl_true − 3) + b_dm·diabetes + b_smk·smoking + log(observed years / 20)

(``diabetes`` = diabetes onset before the end of observation, ``smoking`` a latent N(0, 1) factor, the last
term a fixed offset), the MI date is drawn within observation with density rising 8 % per year of age. Statins
(C10AA01/05/07) follow MI (85 %) or high LDL/diabetes; fills are repeated about every 90 days.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> from pmo_workbench.privacy import DEMO_KEY
>>> from pmo_workbench.synth.persons import simulate_persons
>>> ind = pd.DataFrame(columns=["individual", "population", "sex", "family_id", "father", "mother", "role"])
>>> persons = simulate_persons(200, ind, 1, key=DEMO_KEY)
>>> with tempfile.TemporaryDirectory() as d:
...     sim = simulate_registry(persons, pd.DataFrame(columns=["individual", "mi_score", "ldl_score"]), 2,
...                             out_dir=Path(d) / "registry", raw_dir=Path(d) / "raw")
>>> sim.counts["person"]
200
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pmo_workbench.files import replace_atomically
from pmo_workbench.health.schema import write_table
from pmo_workbench.synth import codes

LPR3_START = np.datetime64("2019-03-01", "D")
"""First day of LPR3; contacts starting earlier are LPR2."""
LPR_START = np.datetime64("1977-01-01", "D")
ICD10_START = np.datetime64("1994-01-01", "D")
"""The LPR begins in 1977 and is coded in ICD-8 until 1993: the history before :data:`OBS_START` written for
adults of those years has ICD-8 codes (``vocabulary`` ICD8)."""
OBS_START = np.datetime64("2000-01-01", "D")
IMMIGRANT_SHARE = 0.07
EMIGRANT_SHARE = 0.03

MI_COEFFICIENTS: dict[str, float] = {
    "intercept": -2.35,
    "mi_score": 0.9,
    "age_per_10y": 0.55,
    "male": 0.60,
    "ldl_per_mmol": 0.35,
    "diabetes": 0.55,
    "smoking": 0.40,
}
"""Log-odds coefficients of the MI model (per SD of mi_score and smoking)."""
LDL_COEFFICIENTS: dict[str, float] = {
    "intercept": 2.9,
    "ldl_score": 0.35,
    "age_per_year": 0.012,
    "male": 0.15,
    "sd_person": 0.6,
    "sd_measurement": 0.3,
}
"""Coefficients of the untreated LDL level (mmol/L)."""

_YEAR = 365.25
_DAY0 = np.datetime64("1970-01-01", "D")
_KINDS = ("inpatient", "day", "outpatient", "emergency", "virtual")
_IN, _DAYC, _OUT, _EMER, _VIRT = range(5)
_SKS = [c.code for c in codes.SKS_CODES]
_SKS_INDEX = {c: i for i, c in enumerate(_SKS)}
_ATC = [c.code for c in codes.ATC_CODES]
_ATC_INDEX = {c: i for i, c in enumerate(_ATC)}
_NPU = [c.code for c in codes.NPU_CODES]
_HOSPITALS = {
    "Region Hovedstaden": ["1301", "1330", "1401", "1516", "2000"],
    "Region Sjælland": ["3800", "4001", "4202"],
}
_SOR = {  # hospital (sygehus) code -> SOR code of a responsible unit
    "1301": "265331000016004",
    "1330": "265311000016009",
    "1401": "6631000016005",
    "1516": "265351000016008",
    "2000": "701931000016008",
    "3800": "320111000016009",
    "4001": "320121000016002",
    "4202": "320131000016000",
}
_LABS: dict[str, list[str]] = {
    "Region Hovedstaden": ["RH-KBA", "BFH-KBA", "HGH-KBA"],
    "Region Sjælland": ["SJ-KBA-ROS", "SJ-KBA-HOL"],
}
_LAB_IDS = _LABS["Region Hovedstaden"] + _LABS["Region Sjælland"]

# chronic conditions: yearly onset hazard at age 60, log-hazard slope per year of age, log-RR per SD smoking,
# log-RR male, start of risk (age)
_CONDITIONS: dict[str, tuple[float, float, float, float, float]] = {
    "hypertension": (0.022, 0.045, 0.1, 0.15, 25),
    "hyperlipidaemia": (0.004, 0.03, 0.1, 0.2, 25),
    "copd": (0.004, 0.06, 0.9, 0.1, 35),
    "asthma": (0.002, 0.0, 0.1, -0.2, 5),
    "atrial_fibrillation": (0.004, 0.08, 0.1, 0.4, 40),
    "heart_failure": (0.002, 0.08, 0.3, 0.4, 40),
    "ckd": (0.001, 0.07, 0.2, 0.2, 40),
    "hypothyroidism": (0.002, 0.02, 0.0, -1.2, 20),
    "depression": (0.003, 0.0, 0.2, -0.6, 15),
    "osteoarthritis": (0.004, 0.05, 0.0, -0.3, 40),
    "rheumatoid_arthritis": (0.0006, 0.02, 0.3, -0.7, 25),
    "epilepsy": (0.0005, 0.0, 0.0, 0.1, 5),
    "dementia": (0.001, 0.12, 0.1, -0.1, 60),
    "stroke": (0.002, 0.07, 0.4, 0.3, 40),
    "ibd": (0.0004, 0.0, 0.2, 0.0, 15),
    "cancer": (0.007, 0.06, 0.3, 0.2, 30),
}
_DIABETES = (0.0042, 0.04, 0.15, 0.3, 25)
_DIABETES_LATENT = 0.8
# drugs started after a condition is first recorded: (ATC codes to choose one from, probability, mean days
# between fills)
_CONDITION_DRUGS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "hypertension": (("C09AA05", "C09CA01", "C08CA01", "C03AB01"), 0.8, 100.0),
    "diabetes": (("A10BA02",), 0.85, 95.0),
    "copd": (("R03AC02",), 0.8, 120.0),
    "asthma": (("R03AC02", "R03BA02"), 0.7, 150.0),
    "atrial_fibrillation": (("B01AF01",), 0.7, 100.0),
    "hypothyroidism": (("H03AA01",), 0.9, 100.0),
    "depression": (("N06AB10",), 0.6, 100.0),
    "heart_failure": (("C07AB02",), 0.7, 100.0),
}
_INFECTIONS = ("DJ189", "DN390", "DJ069", "DL039")


@dataclass
class RegistrySim:
    """What :func:`simulate_registry` wrote and the truth behind it.

    ``truth`` has one row per person: ``person_id, person_idx, mi_score, ldl_score, smoking, diabetes,
    diabetes_date, age_at_start, observed_years, ldl_true, statin_response, mi_case, mi_date, statin_start``.
    ``observation`` is the ``observation_period`` table and ``contacts`` the hospital contacts
    (``person_id, contact_id, date, end_date, source``), e.g. for biobank collection dates.
    """

    truth: pd.DataFrame
    coefficients: dict[str, float]
    counts: dict[str, int]
    observation: pd.DataFrame
    contacts: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)


def simulate_registry(
    persons: pd.DataFrame,
    genetic_scores: pd.DataFrame,
    seed: np.random.SeedSequence | int,
    *,
    out_dir: Path,
    raw_dir: Path,
    end_date: date = date(2025, 12, 31),
) -> RegistrySim:
    """Simulate registry data for ``persons`` and write the event tables and the raw extracts.

    Parameters
    ----------
    persons
        From :func:`pmo_workbench.synth.persons.simulate_persons`.
    genetic_scores
        ``individual, mi_score, ldl_score``; persons without a genome get scores drawn from N(0, 1).
    seed
        Seed or ``SeedSequence``.
    out_dir, raw_dir
        Folders for the event-schema Parquet tables and the raw CSV extracts (created if missing).
    end_date
        Last day of registry data.

    Returns
    -------
    RegistrySim

    Examples
    --------
    >>> sim = simulate_registry(persons, scores, 3, out_dir=Path("r"), raw_dir=Path("raw"))  # doctest: +SKIP
    >>> sim.truth["mi_case"].mean()  # doctest: +SKIP
    0.06
    """
    rng = np.random.default_rng(seed)
    out_dir, raw_dir = Path(out_dir), Path(raw_dir)
    n = len(persons)
    end_day = int((np.datetime64(end_date, "D") - _DAY0).astype(np.int64))
    p = _person_arrays(persons, genetic_scores, rng)
    obs_start, obs_end = _draw_observation(rng, p["birth"], p["death"], end_day)
    truth = _draw_truth(rng, p, obs_start, obs_end)

    pid = persons["person_id"].to_numpy(dtype=object)
    cpr_arr = pa.array(persons["cpr"].to_numpy(dtype=object), pa.string())
    raw_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    person_frame = pd.DataFrame(
        {
            "person_id": pid,
            "sex": persons["sex"].to_numpy(dtype=object),
            "birth_date": persons["birth_date"],
            "death_date": persons["death_date"],
            "region": persons["region"].to_numpy(dtype=object),
        }
    )
    obs_frame = pd.DataFrame({"person_id": pid, "start_date": _to_dt(obs_start), "end_date": _to_dt(obs_end)})
    paths["person"] = write_table(person_frame, "person", out_dir)
    paths["observation_period"] = write_table(obs_frame, "observation_period", out_dir)
    paths["cpr_register"] = _write_raw_persons(raw_dir, persons, cpr_arr)
    paths["cpr_vandringer"] = _write_raw_migrations(raw_dir, p["birth"], p["death"], end_day, obs_start, obs_end,
                                                    cpr_arr)
    del person_frame

    # each table is simulated, written (raw extract, then event table) and released before the next one
    conditions = _draw_conditions(rng, p, truth, obs_start, obs_end)
    contacts = _build_contacts(rng, p, truth, conditions, obs_start, obs_end)
    diag = _build_diagnoses(rng, contacts, conditions)
    # pre-1994 LPR history in ICD-8, from its own random stream (the draws of everything else are unchanged)
    history = _build_history(np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0]), p, truth)
    paths.update(_write_raw_lpr(raw_dir, cpr_arr, contacts, diag, history))
    counts: dict[str, int] = {"person": n, "observation_period": n}
    counts["contacts_lpr2"] = int((~contacts["lpr3"]).sum())
    counts["contacts_lpr3"] = int(contacts["lpr3"].sum())
    counts["lpr3_disproven"] = int(diag["disproven"].sum())
    counts["contacts_icd8"] = len(history["person"])
    frame = pd.concat([_history_events(history, pid), _diagnosis_events(diag, contacts, pid)], ignore_index=True)
    del diag
    counts["diagnosis"] = len(frame)
    paths["diagnosis"] = write_table(frame, "diagnosis", out_dir)
    del frame

    presc = _build_prescriptions(rng, p, truth, conditions, contacts, obs_start, obs_end)
    paths["lmdb"] = _write_raw_lmdb(raw_dir, cpr_arr, presc)
    frame = _prescription_events(presc, pid)
    del presc
    counts["prescription"] = len(frame)
    paths["prescription"] = write_table(frame, "prescription", out_dir)
    del frame

    labs = _build_labs(rng, p, truth, contacts, obs_start, obs_end)
    paths["labka"] = _write_raw_labka(raw_dir, cpr_arr, labs)
    frame = _lab_events(labs, pid)
    del labs
    counts["lab"] = len(frame)
    paths["lab"] = write_table(frame, "lab", out_dir)
    del frame
    counts["mi_cases"] = int(truth["mi_case"].sum())

    truth_frame = pd.DataFrame(
        {
            "person_id": pid,
            "person_idx": np.arange(n, dtype=np.int64),
            "mi_score": p["mi_score"],
            "ldl_score": p["ldl_score"],
            "smoking": truth["smoking"],
            "diabetes": truth["diabetes"],
            "diabetes_date": _to_dt(truth["dm_onset"], valid=truth["diabetes"]),
            "age_at_start": truth["age_at_start"],
            "observed_years": truth["observed_years"],
            "ldl_true": truth["ldl_true"],
            "statin_response": truth["statin_response"],
            "mi_case": truth["mi_case"],
            "mi_date": _to_dt(truth["mi_day"], valid=truth["mi_case"]),
            "statin_start": _to_dt(
                truth["statin_start"], valid=truth["statin_start"] < np.iinfo(np.int64).max
            ),
        }
    )
    contact_frame = pd.DataFrame(
        {
            "person_id": pid[contacts["person"]],
            "contact_id": _ids_as_text(contacts["contact_id"]),
            "date": _to_dt(contacts["start"]),
            "end_date": _to_dt(contacts["end"]),
            "source": np.where(contacts["start"] < _lpr3_day(), "LPR2", "LPR3"),
        }
    )
    return RegistrySim(
        truth=truth_frame,
        coefficients=dict(MI_COEFFICIENTS) | {f"ldl_{k}": v for k, v in LDL_COEFFICIENTS.items()},
        counts=counts,
        observation=obs_frame,
        contacts=contact_frame,
        paths=paths,
    )


# ------------------------------------------------------------------------------------------------------------
# persons, observation, latent truth


def _lpr3_day() -> int:
    return int((LPR3_START - _DAY0).astype(np.int64))


def _to_dt(days: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
    d = np.asarray(days).astype(np.int64)
    out = (d.astype("datetime64[D]")).astype("datetime64[ns]")
    if valid is not None:
        out = np.where(valid, out, np.datetime64("NaT"))
    return pd.Series(out)


def _person_arrays(
    persons: pd.DataFrame, scores: pd.DataFrame, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n = len(persons)
    birth = (persons["birth_date"].to_numpy().astype("datetime64[D]") - _DAY0).astype(np.int64)
    death_raw = persons["death_date"].to_numpy().astype("datetime64[D]")
    death = np.where(np.isnat(death_raw), np.iinfo(np.int64).max // 4, (death_raw - _DAY0).astype(np.int64))
    mi = rng.standard_normal(n)
    ldl = rng.standard_normal(n)
    ind = persons["individual"].to_numpy(dtype=np.int64)
    if len(scores):
        s = scores.set_index("individual")
        has = ind >= 0
        look = s.reindex(ind[has])
        if look["mi_score"].isna().any():
            raise ValueError("genetic_scores lacks a row for an individual of persons")
        mi[has] = look["mi_score"].to_numpy(dtype=float)
        ldl[has] = look["ldl_score"].to_numpy(dtype=float)
    region = persons["region"].to_numpy(dtype=object)
    return {
        "birth": birth,
        "death": death,
        "male": (persons["sex"].to_numpy(dtype=object) == "M"),
        "mi_score": mi,
        "ldl_score": ldl,
        "hovedstaden": region == "Region Hovedstaden",
        "n": np.array(n),
    }


def _draw_observation(
    rng: np.random.Generator, birth: np.ndarray, death: np.ndarray, end_day: int
) -> tuple[np.ndarray, np.ndarray]:
    n = len(birth)
    start = np.maximum(birth, int((OBS_START - _DAY0).astype(np.int64)))
    end = np.minimum(death, end_day)
    if (end < start).any():
        raise ValueError("a person is born after end_date or died before the start of observation")
    span = (end - start).astype(float)
    imm = rng.random(n) < IMMIGRANT_SHARE
    start = np.where(imm, start + np.floor(rng.random(n) * 0.8 * span).astype(np.int64), start)
    span = (end - start).astype(float)
    emi = rng.random(n) < EMIGRANT_SHARE
    end = np.where(emi, start + np.floor((0.2 + 0.8 * rng.random(n)) * span).astype(np.int64), end)
    return start, end


def _gompertz_onset(
    rng: np.random.Generator,
    birth: np.ndarray,
    log_rr: np.ndarray,
    params: tuple[float, float, float, float, float],
) -> np.ndarray:
    """Onset day (float; +inf if after age 110) from a Gompertz-type hazard starting at age ``params[4]``."""
    h60, slope, _, _, age_from = params
    e = rng.exponential(1.0, size=len(birth)) / np.exp(log_rr)
    if slope == 0:
        age = age_from + e / h60
    else:
        a0 = h60 * np.exp(-slope * 60.0)
        age = np.log(np.exp(slope * age_from) + e * slope / a0) / slope
    day = birth + age * _YEAR
    return np.where(age < 110, day, np.inf)


def _draw_truth(
    rng: np.random.Generator, p: dict[str, np.ndarray], obs_start: np.ndarray, obs_end: np.ndarray
) -> dict[str, np.ndarray]:
    n = len(obs_start)
    male = p["male"]
    smoking = rng.standard_normal(n)
    dm_latent = rng.standard_normal(n)
    dm_log_rr = _DIABETES_LATENT * dm_latent + _DIABETES[2] * smoking + _DIABETES[3] * male
    dm_onset = np.floor(_gompertz_onset(rng, p["birth"], dm_log_rr, _DIABETES))
    diabetes = dm_onset <= obs_end
    age_2012 = (15340 - p["birth"]) / _YEAR  # 2012-01-01 is day 15340
    c = LDL_COEFFICIENTS
    ldl_true = (
        c["intercept"]
        + c["ldl_score"] * p["ldl_score"]
        + c["age_per_year"] * (age_2012 - 50)
        + c["male"] * male
        + rng.normal(0.0, c["sd_person"], n)
    )
    ldl_true = np.maximum(ldl_true, 0.8)
    age_at_start = (obs_start - p["birth"]) / _YEAR
    observed_years = np.maximum(obs_end - obs_start, 1) / _YEAR
    b = MI_COEFFICIENTS
    lp = (
        b["intercept"]
        + b["mi_score"] * p["mi_score"]
        + b["age_per_10y"] * (age_at_start - 60) / 10
        + b["male"] * male
        + b["ldl_per_mmol"] * (ldl_true - 3)
        + b["diabetes"] * diabetes
        + b["smoking"] * smoking
        + np.log(observed_years / 20)
    )
    mi_case = rng.random(n) < 1 / (1 + np.exp(-lp))
    # MI day within observation, density rising 8 %/year (inverse CDF of an exponential growth density)
    k = 0.08 / _YEAR
    span = (obs_end - obs_start).astype(float)
    u = rng.random(n)
    mi_day = obs_start + np.floor(np.log1p(u * np.expm1(k * span)) / k).astype(np.int64)
    mi_day = np.minimum(mi_day, obs_end)
    # statins: after MI, or primary prevention for high LDL or diabetes
    never = np.iinfo(np.int64).max
    after_mi = np.where(mi_case & (rng.random(n) < 0.85), mi_day + rng.integers(2, 46, n), never)
    high_ldl = (ldl_true > 4.2) & (rng.random(n) < 0.5)
    dm_start = np.maximum(dm_onset, obs_start)
    dm_stat = diabetes & (rng.random(n) < 0.4)
    primary_from = np.where(dm_stat, dm_start, obs_start).astype(np.int64)
    primary = np.where(
        high_ldl | dm_stat,
        primary_from + np.floor(rng.random(n) * np.maximum(obs_end - primary_from, 0)).astype(np.int64),
        never,
    )
    statin_start = np.minimum(after_mi, primary)
    statin_start = np.where(statin_start <= obs_end, statin_start, never)
    return {
        "smoking": smoking,
        "diabetes": diabetes,
        "dm_onset": np.where(np.isfinite(dm_onset), dm_onset, 0),
        "ldl_true": ldl_true,
        "age_at_start": age_at_start,
        "observed_years": observed_years,
        "mi_case": mi_case,
        "mi_day": mi_day,
        "statin_start": statin_start,
        "statin_response": rng.uniform(0.55, 0.75, n),
        "statin_atc": np.array([_ATC_INDEX[a] for a in ("C10AA01", "C10AA05", "C10AA07")])[
            rng.choice(3, size=n, p=[0.35, 0.45, 0.2])
        ],
    }


def _draw_conditions(
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    obs_start: np.ndarray,
    obs_end: np.ndarray,
) -> dict[str, np.ndarray]:
    """Chronic conditions recorded during observation: person, group, code, first recorded day."""
    person, group, code, first = [], [], [], []
    groups = list(_CONDITIONS) + ["diabetes"]
    for gi, g in enumerate(groups):
        if g == "diabetes":
            onset = np.where(truth["diabetes"], truth["dm_onset"], np.inf)
        else:
            params = _CONDITIONS[g]
            onset = np.floor(
                _gompertz_onset(rng, p["birth"], params[2] * truth["smoking"] + params[3] * p["male"], params)
            )
        has = np.flatnonzero(onset <= obs_end)
        # prevalent before observation: first recorded at a later contact (exponential, mean 2 years)
        rec = np.where(
            onset[has] < obs_start[has],
            obs_start[has] + np.floor(rng.exponential(2 * _YEAR, len(has))),
            onset[has],
        ).astype(np.int64)
        keep = rec <= obs_end[has]
        has, rec = has[keep], rec[keep]
        cands, weights = codes.select_sks_codes(g)
        if g == "cancer":
            pick = _pick_cancer(rng, cands, weights, p["male"][has])
        else:
            pick = rng.choice(len(cands), size=len(has), p=weights)
        person.append(has)
        group.append(np.full(len(has), gi, np.int64))
        code.append(np.array([_SKS_INDEX[c] for c in cands], np.int64)[pick])
        first.append(rec)
    out = {
        "person": np.concatenate(person),
        "group": np.concatenate(group),
        "code": np.concatenate(code),
        "first": np.concatenate(first),
    }
    order = np.lexsort((out["group"], out["person"]))
    out = {k: v[order] for k, v in out.items()}
    out["groups"] = np.array(groups, dtype=object)
    return out


def _pick_cancer(
    rng: np.random.Generator, cands: list[str], weights: list[float], male: np.ndarray
) -> np.ndarray:
    w = np.array(weights)
    w_f = np.where(np.array(cands) == "DC619", 0.0, w)
    w_m = np.where(np.array(cands) == "DC509", 0.0, w)
    pick_f = rng.choice(len(cands), size=len(male), p=w_f / w_f.sum())
    pick_m = rng.choice(len(cands), size=len(male), p=w_m / w_m.sum())
    return np.where(male, pick_m, pick_f)


# ------------------------------------------------------------------------------------------------------------
# hospital contacts and diagnoses


def _uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def _choose_kind(rng: np.random.Generator, size: int, probs: dict[int, float]) -> np.ndarray:
    keys = np.array(list(probs), np.int64)
    w = np.array(list(probs.values()))
    return keys[rng.choice(len(keys), size=size, p=w / w.sum())]


def _build_contacts(
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    cond: dict[str, np.ndarray],
    obs_start: np.ndarray,
    obs_end: np.ndarray,
) -> dict[str, np.ndarray]:
    parts: list[dict[str, np.ndarray]] = []
    n = len(obs_start)

    def add(
        person: np.ndarray, start: np.ndarray, kind: np.ndarray, code: np.ndarray, acute: np.ndarray
    ) -> None:
        parts.append(
            {
                "person": person.astype(np.int64),
                "start": start.astype(np.int64),
                "kind": kind.astype(np.int64),
                "code": code.astype(np.int64),
                "acute": acute.astype(bool),
            }
        )

    # chronic conditions: first contact, then follow-ups
    cp, cf, cc = cond["person"], cond["first"], cond["code"]
    kind = _choose_kind(rng, len(cp), {_IN: 0.25, _OUT: 0.65, _EMER: 0.10})
    add(cp, cf, kind, cc, kind != _OUT)
    years_left = (obs_end[cp] - cf) / _YEAR
    n_fu = rng.poisson(0.35 * years_left)
    fp = np.repeat(np.arange(len(cp)), n_fu)
    fday = _uniform_days(rng, cf[fp], obs_end[cp[fp]])
    kind = _choose_kind(rng, len(fp), {_OUT: 0.8, _VIRT: 0.1, _DAYC: 0.05, _IN: 0.05})
    add(cp[fp], fday, kind, cc[fp], kind == _IN)

    # background acute contacts: rate rising with age
    mid_age = ((obs_start + obs_end) / 2 - p["birth"]) / _YEAR
    years = (obs_end - obs_start + 1) / _YEAR
    rate = 0.10 * np.exp(0.025 * (mid_age - 50))
    n_bg = rng.poisson(rate * years)
    bp = np.repeat(np.arange(n), n_bg)
    bday = _uniform_days(rng, obs_start[bp], obs_end[bp])
    acodes = [c.code for c in codes.SKS_CODES if c.group in ("acute", "symptom")]
    aw = np.array([c.weight for c in codes.SKS_CODES if c.group in ("acute", "symptom")])
    bcode = np.array([_SKS_INDEX[c] for c in acodes])[rng.choice(len(acodes), size=len(bp), p=aw / aw.sum())]
    kind = _choose_kind(rng, len(bp), {_EMER: 0.55, _IN: 0.2, _OUT: 0.25})
    add(bp, bday, kind, bcode, kind != _OUT)

    # myocardial infarction, subsequent MI within 28 days, cardiology follow-up
    mp = np.flatnonzero(truth["mi_case"])
    mcodes, mw = codes.select_sks_codes("mi")
    mcode = np.array([_SKS_INDEX[c] for c in mcodes])[rng.choice(len(mcodes), size=len(mp), p=mw)]
    add(mp, truth["mi_day"][mp], np.full(len(mp), _IN), mcode, np.ones(len(mp), bool))
    sub = mp[rng.random(len(mp)) < 0.04]
    sday = truth["mi_day"][sub] + rng.integers(8, 29, len(sub))
    ok = sday <= obs_end[sub]
    add(
        sub[ok],
        sday[ok],
        np.full(ok.sum(), _IN),
        np.full(ok.sum(), _SKS_INDEX["DI229"]),
        np.ones(ok.sum(), bool),
    )
    n_card = rng.poisson(3.0, len(mp))
    kp = np.repeat(mp, n_card)
    kday = truth["mi_day"][kp] + rng.integers(30, 730, len(kp))
    ok = kday <= obs_end[kp]
    kp, kday = kp[ok], kday[ok]
    ccodes, cw = codes.select_sks_codes("cardiac")
    kcode = np.array([_SKS_INDEX[c] for c in ccodes])[rng.choice(len(ccodes), size=len(kp), p=cw)]
    kind = _choose_kind(rng, len(kp), {_OUT: 0.85, _VIRT: 0.15})
    add(kp, kday, kind, kcode, np.zeros(len(kp), bool))

    c = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    order = np.lexsort((c["code"], c["kind"], c["start"], c["person"]))
    c = {k: v[order] for k, v in c.items()}
    return _finish_contacts(rng, c, p, obs_end)


def _finish_contacts(
    rng: np.random.Generator, c: dict[str, np.ndarray], p: dict[str, np.ndarray], obs_end: np.ndarray
) -> dict[str, np.ndarray]:
    """Register-specific fields: ids, end dates, times, LPR2 patient type, LPR3 contact type and priority."""
    m = len(c["person"])
    lpr3 = c["start"] >= _lpr3_day()
    kind = c["kind"].copy()
    kind[~lpr3 & (kind == _VIRT)] = _OUT
    kind[lpr3 & (kind == _DAYC)] = _OUT
    los = np.where(kind == _IN, 1 + rng.poisson(3.0, m), 0)
    end = np.minimum(c["start"] + los, obs_end[c["person"]])
    end = np.where(lpr3, end, np.minimum(end, _lpr3_day() - 1))
    end = np.maximum(end, c["start"])
    # times (minutes after midnight): inpatients any time, others in opening hours, same day
    start_min = np.where(kind == _IN, rng.integers(0, 1440, m), rng.integers(8 * 60, 16 * 60, m))
    dur = np.where(kind == _EMER, rng.integers(60, 360, m), rng.integers(15, 120, m))
    end_min = np.where(kind == _IN, rng.integers(8 * 60, 18 * 60, m), np.minimum(start_min + dur, 1439))
    days = end - c["start"]
    # an inpatient stay lasts at least 12 hours when it spans a night; one cut short on the same day >= 1 h
    end_min = np.where(
        (kind == _IN) & (days > 0), np.maximum(end_min, start_min - days * 1440 + 720), end_min
    )
    end_min = np.where(
        (kind == _IN) & (days == 0), np.minimum(np.maximum(end_min, start_min + 60), 1439), end_min
    )
    end_min = np.where(days == 0, np.maximum(end_min, start_min), end_min)
    acute = c["acute"] | (kind == _EMER)
    acute &= kind != _VIRT
    lpr3_type = np.where(
        kind == _VIRT,
        _VIRT,
        np.where(days * 1440 + end_min - start_min >= 720, _IN, np.where(acute, _EMER, _OUT)),
    )
    contact_type = np.where(lpr3, lpr3_type, kind)
    contact_id = np.where(lpr3, 400_000_000_000 + np.arange(m), 10_000_000 + np.arange(m))
    hovedstaden = p["hovedstaden"][c["person"]]
    hh = np.array(_HOSPITALS["Region Hovedstaden"], dtype=object)
    hs = np.array(_HOSPITALS["Region Sjælland"], dtype=object)
    hosp = np.where(hovedstaden, hh[rng.integers(0, len(hh), m)], hs[rng.integers(0, len(hs), m)])
    return c | {
        "end": end,
        "kind": kind,
        "start_min": start_min,
        "end_min": end_min,
        "acute": acute,
        "contact_type": contact_type,
        "contact_id": contact_id,
        "lpr3": lpr3,
        "hospital": hosp,
    }


def _build_diagnoses(
    rng: np.random.Generator, contacts: dict[str, np.ndarray], cond: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Diagnosis rows: contact index, code index, diagnosis type, disproven flag (LPR3 only)."""
    m = len(contacts["person"])
    lpr3 = contacts["lpr3"]
    rows_c = [np.arange(m)]
    rows_code = [contacts["code"]]
    rows_type = [np.full(m, "A", dtype=object)]
    rows_dis = [np.zeros(m, bool)]
    # per-person chronic conditions for B/G diagnoses: a random recorded condition, if recorded by then
    n_cond = np.bincount(cond["person"], minlength=int(contacts["person"].max(initial=0)) + 1)
    offset = np.concatenate([[0], np.cumsum(n_cond)[:-1]])

    def pick_condition(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per = contacts["person"][idx]
        cnt = n_cond[per]
        has = cnt > 0
        idx, per, cnt = idx[has], per[has], cnt[has]
        j = offset[per] + np.floor(rng.random(len(idx)) * cnt).astype(np.int64)
        ok = (cond["first"][j] <= contacts["start"][idx]) & (cond["code"][j] != contacts["code"][idx])
        return idx[ok], cond["code"][j[ok]]

    for dtype, share, only_lpr2 in (("B", 0.35, False), ("B", 0.10, False), ("G", 0.04, True)):
        cand = np.flatnonzero(rng.random(m) < share)
        if only_lpr2:
            cand = cand[~lpr3[cand]]
        idx, code = pick_condition(cand)
        rows_c.append(idx)
        rows_code.append(code)
        rows_type.append(np.full(len(idx), dtype, dtype=object))
        rows_dis.append(np.zeros(len(idx), bool))
    # LPR2 referral diagnoses (H): a symptom code
    sym, sw = codes.select_sks_codes("symptom")
    hidx = np.flatnonzero((rng.random(m) < 0.05) & ~lpr3)
    rows_c.append(hidx)
    rows_code.append(np.array([_SKS_INDEX[s] for s in sym])[rng.choice(len(sym), size=len(hidx), p=sw)])
    rows_type.append(np.full(len(hidx), "H", dtype=object))
    rows_dis.append(np.zeros(len(hidx), bool))
    # LPR3 diagnoses later disproven: suspected MI at chest-pain contacts, and a few others
    chest = np.flatnonzero(lpr3 & (contacts["code"] == _SKS_INDEX["DR074"]) & (rng.random(m) < 0.4))
    other = np.flatnonzero(lpr3 & (rng.random(m) < 0.01))
    acodes, aw = codes.select_sks_codes("acute")
    for idx, code in (
        (chest, np.full(len(chest), _SKS_INDEX["DI219"])),
        (other, np.array([_SKS_INDEX[a] for a in acodes])[rng.choice(len(acodes), len(other), p=aw)]),
    ):
        rows_c.append(idx)
        rows_code.append(code)
        rows_type.append(np.full(len(idx), "B", dtype=object))
        rows_dis.append(np.ones(len(idx), bool))
    d = {
        "contact": np.concatenate(rows_c),
        "code": np.concatenate(rows_code),
        "diag_type": np.concatenate(rows_type),
        "disproven": np.concatenate(rows_dis),
    }
    # one code per contact and type: drop duplicates (a B equal to another B of the same contact)
    key = pd.DataFrame({"c": d["contact"], "k": d["code"]})
    keep = ~key.duplicated().to_numpy()
    d = {k: v[keep] for k, v in d.items()}
    order = np.argsort(d["contact"], kind="stable")
    return {k: v[order] for k, v in d.items()}


def _build_history(rng: np.random.Generator, p: dict[str, np.ndarray], truth: dict[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    """LPR2 contacts of 1977-1993 coded in ICD-8, for persons who were adults then (and alive).

    A prior MI (41099) with probability 4 % x exp(0.45 mi_score) x 1.8 if male x (age in 1985 - 30) / 30 (0 below
    30), a diabetes contact (25000/24900) on the diabetes onset when that falls in the era, and background
    contacts at 0.08 per year. Returns contact arrays: person, start, end, code (text), pattype (0-3), contact_id.
    """
    lo_era = int((LPR_START - _DAY0).astype(np.int64))
    hi_era = int((ICD10_START - _DAY0).astype(np.int64)) - 1
    lo = np.maximum(lo_era, p["birth"] + int(18 * _YEAR))
    hi = np.minimum(hi_era, p["death"] - 1)
    ok = lo <= hi
    age85 = (lo_era + 8 * _YEAR - p["birth"]) / _YEAR
    risk = 0.04 * np.exp(0.45 * p["mi_score"]) * np.where(p["male"], 1.8, 1.0) * np.clip((age85 - 30) / 30, 0, None)
    mi = np.flatnonzero(ok & (rng.random(len(lo)) < np.minimum(risk, 0.5)))
    onset = truth["dm_onset"]
    dm = np.flatnonzero(ok & truth["diabetes"] & (onset >= lo) & (onset <= hi))
    years = np.where(ok, (hi - lo + 1) / _YEAR, 0.0)
    bg = np.repeat(np.arange(len(lo)), rng.poisson(0.08 * years))
    by_group: dict[str, tuple[list[str], np.ndarray]] = {}
    for group in ("mi", "diabetes", "history"):
        cs = [c for c in codes.ICD8_CODES if c.group == group]
        w = np.array([c.weight for c in cs])
        by_group[group] = ([c.code for c in cs], w / w.sum())
    parts = []
    for group, who, day in (("mi", mi, _uniform_days(rng, lo[mi], hi[mi])), ("diabetes", dm, onset[dm]),
                            ("history", bg, _uniform_days(rng, lo[bg], hi[bg]))):
        names, w = by_group[group]
        code = np.array(names, dtype=object)[rng.choice(len(names), size=len(who), p=w)]
        pattype = np.zeros(len(who), np.int64) if group == "mi" else rng.choice(4, size=len(who),
                                                                               p=[0.3, 0.05, 0.5, 0.15])
        parts.append((who, day.astype(np.int64), code, pattype))
    person = np.concatenate([x[0] for x in parts]).astype(np.int64)
    start = np.concatenate([x[1] for x in parts])
    code = np.concatenate([x[2] for x in parts])
    pattype = np.concatenate([x[3] for x in parts])
    order = np.lexsort((code.astype(str), start, person))
    person, start, code, pattype = person[order], start[order], code[order], pattype[order]
    los = np.where(pattype == 0, 1 + rng.poisson(5.0, len(person)), 0)
    end = np.minimum(start + los, np.maximum(hi[person], start))
    return {"person": person, "start": start, "end": end, "code": code, "pattype": pattype,
            "contact_id": 5_000_000 + np.arange(len(person), dtype=np.int64)}


def _history_events(h: dict[str, np.ndarray], pid: np.ndarray) -> pd.DataFrame:
    kinds = np.array(["inpatient", "day", "outpatient", "emergency"], dtype=object)
    return pd.DataFrame({
        "person_id": pid[h["person"]], "contact_id": _ids_as_text(h["contact_id"]), "date": _to_dt(h["start"]),
        "end_date": _to_dt(h["end"]), "code": h["code"].astype(object), "vocabulary": "ICD8", "diag_type": "A",
        "contact_type": kinds[h["pattype"]], "source": "LPR2",
    })


def _diagnosis_events(
    diag: dict[str, np.ndarray], contacts: dict[str, np.ndarray], pid: np.ndarray
) -> pd.DataFrame:
    keep = ~diag["disproven"]
    ci = diag["contact"][keep]
    return pd.DataFrame(
        {
            "person_id": pid[contacts["person"][ci]],
            "contact_id": _ids_as_text(contacts["contact_id"][ci]),
            "date": _to_dt(contacts["start"][ci]),
            "end_date": _to_dt(contacts["end"][ci]),
            "code": np.array(_SKS, dtype=object)[diag["code"][keep]],
            "vocabulary": "SKS",
            "diag_type": diag["diag_type"][keep],
            "contact_type": np.array(_KINDS, dtype=object)[contacts["contact_type"][ci]],
            "source": np.where(contacts["lpr3"][ci], "LPR3", "LPR2").astype(object),
        }
    )


# ------------------------------------------------------------------------------------------------------------
# prescriptions


def _draw_fills(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, interval: float, stop_prob: float
) -> tuple[np.ndarray, np.ndarray]:
    """Repeated fills of courses from ``start``, about every ``interval`` days, until ``end`` or a stop.

    Returns the course index (into ``start``) and the day of every fill.
    """
    n_max = np.where(start <= end, np.floor((end - start) / (0.8 * interval)).astype(np.int64) + 1, 0)
    n_fill = np.minimum(n_max, rng.geometric(stop_prob, len(start))) if stop_prob > 0 else n_max
    course = np.repeat(np.arange(len(start)), n_fill)
    step = rng.uniform(0.85 * interval, 1.15 * interval, len(course))
    first = np.concatenate([[0], np.cumsum(n_fill)[:-1]]).astype(np.int64)
    step[np.arange(len(course)) == first[course]] = 0.0
    cum = np.cumsum(step)
    cum -= cum[first[course]]
    day = start[course] + np.floor(cum).astype(np.int64)
    keep = day <= end[course]
    return course[keep], day[keep]


def _build_prescriptions(
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    cond: dict[str, np.ndarray],
    contacts: dict[str, np.ndarray],
    obs_start: np.ndarray,
    obs_end: np.ndarray,
) -> dict[str, np.ndarray]:
    persons, days, atcs = [], [], []

    def add(person: np.ndarray, day: np.ndarray, atc: np.ndarray | str) -> None:
        persons.append(person)
        days.append(day)
        idx = np.full(len(person), _ATC_INDEX[atc]) if isinstance(atc, str) else atc
        atcs.append(np.asarray(idx, dtype=np.int64))

    never = np.iinfo(np.int64).max
    users = np.flatnonzero(truth["statin_start"] != never)
    ci, fd = _draw_fills(rng, truth["statin_start"][users], obs_end[users], 90.0, 0.02)
    add(users[ci], fd, truth["statin_atc"][users[ci]])
    # after MI: aspirin, clopidogrel (one year), metoprolol
    mp = np.flatnonzero(truth["mi_case"])
    for atc, prob, years in (("B01AC06", 0.9, 30.0), ("B01AC04", 0.5, 1.0), ("C07AB02", 0.7, 30.0)):
        who = mp[rng.random(len(mp)) < prob]
        start = truth["mi_day"][who] + rng.integers(1, 10, len(who))
        stop = np.minimum(obs_end[who], start + int(years * _YEAR))
        ci, fd = _draw_fills(rng, start, stop, 95.0, 0.02)
        add(who[ci], fd, atc)
    # drugs for chronic conditions (one drug per person and condition)
    groups = list(cond["groups"])
    for g, (atc_list, prob, interval) in _CONDITION_DRUGS.items():
        sel = np.flatnonzero((cond["group"] == groups.index(g)) & (rng.random(len(cond["group"])) < prob))
        who = cond["person"][sel]
        start = cond["first"][sel] + rng.integers(0, 60, len(sel))
        choice = np.array([_ATC_INDEX[a] for a in atc_list])[rng.integers(0, len(atc_list), len(who))]
        ci, fd = _draw_fills(rng, start, obs_end[who], interval, 0.015)
        add(who[ci], fd, choice[ci])
    # antibiotics after infections, short courses at the contact's end
    inf = np.isin(contacts["code"], [_SKS_INDEX[c] for c in _INFECTIONS]) & (
        rng.random(len(contacts["code"])) < 0.7
    )
    ip = contacts["person"][inf]
    antibiotics = np.array([_ATC_INDEX["J01CA04"], _ATC_INDEX["J01CE02"]])
    add(ip, contacts["end"][inf], antibiotics[rng.integers(0, 2, len(ip))])
    # common drugs without a hospital diagnosis: omeprazole and paracetamol courses
    n = len(obs_end)
    for atc, share, interval in (("A02BC01", 0.08, 100.0), ("N02BE01", 0.06, 60.0)):
        who = np.flatnonzero(rng.random(n) < share)
        start = _uniform_days(rng, obs_start[who], obs_end[who])
        ci, fd = _draw_fills(rng, start, obs_end[who], interval, 0.2)
        add(who[ci], fd, atc)
    pr = {
        "person": np.concatenate(persons).astype(np.int64),
        "day": np.concatenate(days).astype(np.int64),
        "atc_idx": np.concatenate(atcs),
    }
    order = np.lexsort((pr["atc_idx"], pr["day"], pr["person"]))
    pr = {k: v[order] for k, v in pr.items()}
    m = len(pr["person"])
    pr["apk"] = np.where(rng.random(m) < 0.15, 2, 1).astype(np.int64)
    return pr


def _prescription_events(pr: dict[str, np.ndarray], pid: np.ndarray) -> pd.DataFrame:
    cat, idx = codes.ATC_CODES, pr["atc_idx"]
    return pd.DataFrame(
        {
            "person_id": pid[pr["person"]],
            "date": _to_dt(pr["day"]),
            "code": np.array(_ATC, dtype=object)[idx],
            "vocabulary": "ATC",
            "ddd": pr["apk"] * np.array([c.ddd_per_package for c in cat])[idx],
            "packages": pr["apk"].astype(float),
            "strength": np.array([f"{c.strength:g} {c.strength_unit}" for c in cat], dtype=object)[idx],
            "source": "LMDB",
        }
    )


# ------------------------------------------------------------------------------------------------------------
# lab results

_NPU_LDL, _NPU_CHOL, _NPU_HDL, _NPU_TG, _NPU_HBA1C, _NPU_HB, _NPU_CREA, _NPU_CRP = (
    c.code for c in codes.NPU_CODES
)


def _build_labs(
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    contacts: dict[str, np.ndarray],
    obs_start: np.ndarray,
    obs_end: np.ndarray,
) -> dict[str, np.ndarray]:
    n = len(obs_start)
    male = p["male"]
    never = np.iinfo(np.int64).max
    monitored = truth["diabetes"] | (truth["statin_start"] != never) | truth["mi_case"]
    years = (obs_end - obs_start + 1) / _YEAR
    mid_age = ((obs_start + obs_end) / 2 - p["birth"]) / _YEAR
    rate = 0.25 * np.exp(0.02 * (mid_age - 50)) * np.where(monitored, 2.5, 1.0)
    n_occ = rng.poisson(rate * years)
    op = np.repeat(np.arange(n), n_occ)
    oday = _uniform_days(rng, obs_start[op], obs_end[op])
    # plus a full panel at every MI admission
    mp = np.flatnonzero(truth["mi_case"])
    op = np.concatenate([op, mp])
    oday = np.concatenate([oday, truth["mi_day"][mp]])
    atmi = np.concatenate([np.zeros(len(op) - len(mp), bool), np.ones(len(mp), bool)])
    order = np.lexsort((oday, op))
    op, oday, atmi = op[order], oday[order], atmi[order]
    k = len(op)
    minute = rng.integers(7 * 60, 16 * 60, k)
    mon = monitored[op]
    dm_now = truth["diabetes"][op] & (oday >= truth["dm_onset"][op])
    panels = {
        "lipid": (rng.random(k) < np.where(mon, 0.7, 0.3)) | atmi,
        "hba1c": rng.random(k) < np.where(dm_now, 0.8, 0.15),
        "hb": (rng.random(k) < 0.6) | atmi,
        "crea": (rng.random(k) < 0.55) | atmi,
        "crp": (rng.random(k) < 0.35) | atmi,
    }
    # person-level latent levels
    hdl_p = np.maximum(1.65 - 0.35 * male + rng.normal(0, 0.3, n), 0.5)
    tg_p = np.exp(np.log(1.2) + 0.35 * truth["diabetes"] + rng.normal(0, 0.4, n))
    on_statin = oday >= truth["statin_start"][op]
    ldl = truth["ldl_true"][op] * np.where(on_statin, truth["statin_response"][op], 1.0)
    ldl = np.maximum(ldl + rng.normal(0, LDL_COEFFICIENTS["sd_measurement"], k), 0.2)
    hdl = np.maximum(hdl_p[op] + rng.normal(0, 0.1, k), 0.3)
    tg = tg_p[op] * np.exp(rng.normal(0, 0.25, k))
    chol = ldl + hdl + tg / 2.2 + rng.normal(0, 0.1, k)
    hba1c = np.where(dm_now, np.maximum(rng.normal(52, 10, k), 35), rng.normal(36, 3.5, k))
    age = (oday - p["birth"][op]) / _YEAR
    mo = male[op]
    hb = np.where(mo, rng.normal(9.1, 0.7, k), rng.normal(8.3, 0.6, k))
    crea = np.where(mo, 82, 68) * np.exp(0.006 * (age - 50) + rng.normal(0, 0.18, k))
    crp = np.exp(rng.normal(np.log(2.0), 1.2, k)) + np.where(atmi, rng.exponential(20, k), 0)
    series = [
        (_NPU_LDL, "lipid", ldl),
        (_NPU_CHOL, "lipid", chol),
        (_NPU_HDL, "lipid", hdl),
        (_NPU_TG, "lipid", tg),
        (_NPU_HBA1C, "hba1c", hba1c),
        (_NPU_HB, "hb", hb),
        (_NPU_CREA, "crea", crea),
        (_NPU_CRP, "crp", crp),
    ]
    occ, code, value_text = [], [], []
    for npu, panel, values in series:
        sel = np.flatnonzero(panels[panel])
        spec = codes.NPU_BY_CODE[npu]
        rounded = pc.round(pa.array(values[sel]), ndigits=spec.decimals)
        text = pc.cast(rounded, pa.string())
        if npu == _NPU_CRP:
            text = pc.if_else(pc.less(rounded, 0.5), pa.scalar("<0.5"), text)
        occ.append(sel)
        code.append(np.full(len(sel), _NPU.index(npu)))
        value_text.append(text)
    occ_all = np.concatenate(occ)
    lab = {"occ": occ_all, "code": np.concatenate(code), "text": pa.concat_arrays(value_text)}
    order = np.argsort(occ_all, kind="stable")
    lab = {"occ": lab["occ"][order], "code": lab["code"][order], "text": lab["text"].take(pa.array(order))}
    lab["person"] = op[lab["occ"]]
    lab["day"] = oday[lab["occ"]]
    lab["minute"] = minute[lab["occ"]]
    inv, cat = lab["code"], codes.NPU_CODES
    mp_ = male[lab["person"]]
    lab["refl"] = np.where(
        mp_, np.array([c.ref_low_m for c in cat])[inv], np.array([c.ref_low_f for c in cat])[inv]
    )
    lab["refu"] = np.where(
        mp_, np.array([c.ref_high_m for c in cat])[inv], np.array([c.ref_high_f for c in cat])[inv]
    )
    n_h, n_s = len(_LABS["Region Hovedstaden"]), len(_LABS["Region Sjælland"])
    occ_lab = np.where(p["hovedstaden"][op], rng.integers(0, n_h, k), n_h + rng.integers(0, n_s, k))
    lab["lab_idx"] = occ_lab[lab["occ"]]
    del lab["occ"]
    return lab


def _lab_events(lab: dict[str, np.ndarray], pid: np.ndarray) -> pd.DataFrame:
    text = lab["text"]
    is_num = pc.invert(pc.starts_with(text, "<"))
    value = pc.cast(pc.if_else(is_num, text, pa.scalar(None, pa.string())), pa.float64())
    value_text = pc.if_else(is_num, pa.scalar(None, pa.string()), text)
    ts = lab["day"].astype("datetime64[D]").astype("datetime64[s]") + lab["minute"].astype(
        "timedelta64[m]"
    ).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "person_id": pid[lab["person"]],
            "datetime": pd.Series(ts),
            "code": np.array(_NPU, dtype=object)[lab["code"]],
            "vocabulary": "NPU",
            "value": value.to_numpy(zero_copy_only=False),
            "value_text": value_text.to_numpy(zero_copy_only=False),
            "unit": np.array([c.unit for c in codes.NPU_CODES], dtype=object)[lab["code"]],
            "ref_low": lab["refl"],
            "ref_high": lab["refu"],
            "lab_id": np.array(_LAB_IDS, dtype=object)[lab["lab_idx"]],
        }
    )


# ------------------------------------------------------------------------------------------------------------
# raw extracts


def write_raw_csv(table: pa.Table, path: Path) -> Path:
    """Write ``table`` as a UTF-8 comma-separated CSV with header, atomically (temp file, then rename).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_raw_csv(pa.table({"pnr": ["0101011234"]}), Path(d) / "x.csv")
    ...     out.read_text()
    'pnr\\n0101011234\\n'
    """
    path = Path(path)
    with replace_atomically(path) as tmp, open(tmp, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return path


def _ids_as_text(ids: np.ndarray) -> np.ndarray:
    return pc.cast(pa.array(ids), pa.string()).to_numpy(zero_copy_only=False)


def _take(values: list[str] | np.ndarray, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as an Arrow string array, without building Python strings per row."""
    return pa.array(list(values), pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def _date_arr(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days).astype(np.int32), pa.int32()).cast(pa.date32())


def _time_arr(minutes: np.ndarray) -> pa.Array:
    hh = pc.utf8_lpad(pc.cast(pa.array(minutes // 60), pa.string()), 2, "0")
    mm = pc.utf8_lpad(pc.cast(pa.array(minutes % 60), pa.string()), 2, "0")
    return pc.binary_join_element_wise(hh, mm, ":")


def _write_raw_persons(raw_dir: Path, persons: pd.DataFrame, cpr_arr: pa.Array) -> Path:
    death = persons["death_date"].to_numpy().astype("datetime64[D]")
    return write_raw_csv(
        pa.table(
            {
                "pnr": cpr_arr,
                "koen": pa.array(np.where(persons["sex"].to_numpy(dtype=object) == "F", "K", "M")),
                "foed_dag": pa.array(persons["birth_date"].to_numpy().astype("datetime64[D]"), pa.date32()),
                "doed_dato": pa.array(death, pa.date32(), mask=np.isnat(death)),
                "region": pa.array(persons["region"].to_numpy(dtype=object), pa.string()),
            }
        ),
        raw_dir / "cpr_register.csv",
    )


def _write_raw_migrations(raw_dir: Path, birth: np.ndarray, death: np.ndarray, end_day: int,
                          obs_start: np.ndarray, obs_end: np.ndarray, cpr_arr: pa.Array) -> Path:
    """``cpr_vandringer.csv`` (pnr, indud_kode I|U, haend_dato): the moves that open or close observation.

    An immigration (I) on the first day of observation when it starts after birth and the extract's start, an
    emigration (U) on the last day when it ends before death and the extract's end.
    """
    base_start = np.maximum(birth, int((OBS_START - _DAY0).astype(np.int64)))
    base_end = np.minimum(death, end_day)
    imm = np.flatnonzero(obs_start > base_start)
    emi = np.flatnonzero(obs_end < base_end)
    rows = np.concatenate([imm, emi])
    kind = np.array(["I"] * len(imm) + ["U"] * len(emi), dtype=object)
    day = np.concatenate([obs_start[imm], obs_end[emi]])
    order = np.lexsort((kind, rows))
    when = (_DAY0 + day[order].astype("timedelta64[D]")).astype("datetime64[D]")
    return write_raw_csv(
        pa.table({"pnr": cpr_arr.take(pa.array(rows[order])), "indud_kode": pa.array(kind[order], pa.string()),
                  "haend_dato": pa.array(when, pa.date32())}),
        raw_dir / "cpr_vandringer.csv",
    )


def _write_raw_lpr(
    raw_dir: Path, cpr_arr: pa.Array, contacts: dict[str, np.ndarray], diag: dict[str, np.ndarray],
    history: dict[str, np.ndarray] | None = None,
) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    l2 = np.flatnonzero(~contacts["lpr3"])
    l3 = np.flatnonzero(contacts["lpr3"])
    pattype = np.array([0, 1, 2, 3, 2])[contacts["kind"][l2]]
    h = history if history is not None else {k: np.zeros(0, np.int64) for k in ("person", "start", "end",
                                                                               "pattype", "contact_id")} | {
        "code": np.zeros(0, object)}
    # ICD-8 codes as LPR extracts of the era often write them: with the dot (410.99); the importer normalises
    h_code = np.array([f"{c[:3]}.{c[3:]}" if i % 2 else c for i, c in enumerate(h["code"])], dtype=object)
    hsgh = np.array(_HOSPITALS["Region Hovedstaden"], dtype=object)
    h_adm = pa.table({
        "pnr": cpr_arr.take(pa.array(h["person"], pa.int64())),
        "recnum": pc.cast(pa.array(h["contact_id"], pa.int64()), pa.string()),
        "d_inddto": _date_arr(h["start"]), "d_uddto": _date_arr(h["end"]),
        "c_pattype": pa.array(h["pattype"].astype(np.int64)),
        "c_sgh": pa.array(hsgh[np.arange(len(h["person"])) % len(hsgh)], pa.string()),
        "c_adiag": pa.array(h_code, pa.string()),
    })
    h_diag = pa.table({"recnum": h_adm["recnum"], "c_diag": pa.array(h_code, pa.string()),
                       "c_diagtype": pa.array(np.full(len(h_code), "A", dtype=object), pa.string())})
    paths["lpr_adm"] = write_raw_csv(
        pa.concat_tables([h_adm, pa.table(
            {
                "pnr": cpr_arr.take(pa.array(contacts["person"][l2])),
                "recnum": pc.cast(pa.array(contacts["contact_id"][l2]), pa.string()),
                "d_inddto": _date_arr(contacts["start"][l2]),
                "d_uddto": _date_arr(contacts["end"][l2]),
                "c_pattype": pa.array(pattype.astype(np.int64)),
                "c_sgh": pa.array(contacts["hospital"][l2], pa.string()),
                "c_adiag": _take(_SKS, contacts["code"][l2]),
            }
        )]),
        raw_dir / "lpr_adm.csv",
    )
    d2 = ~contacts["lpr3"][diag["contact"]]
    paths["lpr_diag"] = write_raw_csv(
        pa.concat_tables([h_diag, pa.table(
            {
                "recnum": pc.cast(pa.array(contacts["contact_id"][diag["contact"][d2]]), pa.string()),
                "c_diag": _take(_SKS, diag["code"][d2]),
                "c_diagtype": pa.array(diag["diag_type"][d2], pa.string()),
            }
        )]),
        raw_dir / "lpr_diag.csv",
    )
    kontakttype = np.where(contacts["kind"][l3] == _VIRT, "ALCA10", "ALCA00")
    prioritet = np.where(contacts["acute"][l3], "ATA1", "ATA3")
    hospitals = sorted(_SOR)
    sor = _take(
        [_SOR[h] for h in hospitals], np.searchsorted(hospitals, contacts["hospital"][l3].astype(str))
    )
    paths["lpr3_kontakter"] = write_raw_csv(
        pa.table(
            {
                "cpr": cpr_arr.take(pa.array(contacts["person"][l3])),
                "dw_ek_kontakt": pc.cast(pa.array(contacts["contact_id"][l3]), pa.string()),
                "dato_start": _date_arr(contacts["start"][l3]),
                "tidspunkt_start": _time_arr(contacts["start_min"][l3]),
                "dato_slut": _date_arr(contacts["end"][l3]),
                "tidspunkt_slut": _time_arr(contacts["end_min"][l3]),
                "kontakttype": pa.array(kontakttype),
                "prioritet": pa.array(prioritet),
                "sorenhed_ans": sor,
            }
        ),
        raw_dir / "lpr3_kontakter.csv",
    )
    d3 = ~d2
    paths["lpr3_diagnoser"] = write_raw_csv(
        pa.table(
            {
                "dw_ek_kontakt": pc.cast(pa.array(contacts["contact_id"][diag["contact"][d3]]), pa.string()),
                "diagnosekode": _take(_SKS, diag["code"][d3]),
                "diagnosetype": pa.array(diag["diag_type"][d3], pa.string()),
                "senere_afkraeftet": pa.array(np.where(diag["disproven"][d3], "Ja", "Nej")),
            }
        ),
        raw_dir / "lpr3_diagnoser.csv",
    )
    return paths


def _write_raw_lmdb(raw_dir: Path, cpr_arr: pa.Array, presc: dict[str, np.ndarray]) -> Path:
    cat, idx = codes.ATC_CODES, presc["atc_idx"]
    return write_raw_csv(
        pa.table(
            {
                "pnr": cpr_arr.take(pa.array(presc["person"])),
                "atc": _take(_ATC, idx),
                "eksd": _date_arr(presc["day"]),
                "apk": pa.array(presc["apk"]),
                "packsize": pa.array(np.array([c.packsize for c in cat], dtype=np.int64)[idx]),
                "volume": pa.array(np.array([c.ddd_per_package for c in cat])[idx]),
                "voltypetxt": _take(["DDD"], np.zeros(len(idx), np.int64)),
                "strnum": pa.array(np.array([c.strength for c in cat], dtype=float)[idx]),
                "strunit": _take([c.strength_unit for c in cat], idx),
                "vnr": _take([c.vnr for c in cat], idx),
            }
        ),
        raw_dir / "lmdb.csv",
    )


def _write_raw_labka(raw_dir: Path, cpr_arr: pa.Array, lab: dict[str, np.ndarray]) -> Path:
    return write_raw_csv(
        pa.table(
            {
                "pnr": cpr_arr.take(pa.array(lab["person"])),
                "samplingdate": _date_arr(lab["day"]),
                "samplingtime": _time_arr(lab["minute"]),
                "analysiscode": _take(_NPU, lab["code"]),
                "value": lab["text"],
                "unit": _take([c.unit for c in codes.NPU_CODES], lab["code"]),
                "refl": pa.array(lab["refl"]),
                "refu": pa.array(lab["refu"]),
                "laboratorium_idcode": _take(_LAB_IDS, lab["lab_idx"]),
            }
        ),
        raw_dir / "labka.csv",
    )
