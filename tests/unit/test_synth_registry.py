"""Synthetic persons, registry and biobank: schema, registry rules, the MI/LDL model and raw → event rebuild.

The statistical checks compare what the generator wrote with the truth it returns (coefficients, scores), and
the rebuild test re-derives the event tables from the raw CSV extracts with an independent pandas mapping.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pmo_workbench.health.schema import EVENT_TABLES, read_table, validate_table
from pmo_workbench.privacy import DEMO_KEY, parse_cpr, pseudonymise
from pmo_workbench.synth import codes
from pmo_workbench.synth.biobank import simulate_biobank
from pmo_workbench.synth.persons import simulate_persons
from pmo_workbench.synth.registry import LPR3_START, MI_COEFFICIENTS, simulate_registry

N_PERSONS = 20_000
"""The statistical tests' world: enough MI cases (about 1,100) to pin the log-odds per SD to ±0.035."""
N_SMALL = 3_000
"""The structural tests' world (schema, registry rules, raw rebuild, biobank)."""
LPR3 = pd.Timestamp(LPR3_START)


def make_individuals() -> pd.DataFrame:
    """8 trios, 2 quartets (two children), 4 sibling pairs without genotyped parents, 20 unrelated."""
    rows = []

    def add(pop: str, sex: str, fam: str | None, father: int, mother: int, role: str) -> int:
        rows.append(
            {
                "individual": len(rows),
                "population": pop,
                "sex": sex,
                "family_id": fam,
                "father": father,
                "mother": mother,
                "role": role,
            }
        )
        return len(rows) - 1

    for f in range(10):
        fam = f"FAM{f:02d}"
        mo = add("NEU", "F", fam, -1, -1, "founder")
        fa = add("NEU", "M", fam, -1, -1, "founder")
        for c in range(1 if f < 8 else 2):
            add("NEU", "MF"[c % 2], fam, fa, mo, "child")
    for s in range(4):
        for c in range(2):
            add("NEU" if s else "SAS", "FM"[c], f"SIB{s}", -1, -1, "child")
    for u in range(20):
        add(["NEU", "NEU", "NEU", "SAS", "AFR"][u % 5], "FM"[u % 2], None, -1, -1, "unrelated")
    return pd.DataFrame(rows)


def make_genome_side(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ind = make_individuals()
    rng = np.random.default_rng(seed)
    m = len(ind)
    mi, ldl = rng.standard_normal(m), rng.standard_normal(m)
    scores = pd.DataFrame(
        {
            "individual": np.arange(m),
            "mi_score": (mi - mi.mean()) / mi.std(),
            "ldl_score": (ldl - ldl.mean()) / ldl.std(),
        }
    )
    labelled = list(range(m)) + [3]  # individual 3 sequenced twice
    samples = pd.DataFrame(
        {"sample_id": [f"S{i + 1:05d}" for i in range(len(labelled))], "individual": labelled}
    )
    return ind, scores, samples


def build_world(root: Path, n_persons: int, seed: int = 11) -> dict:
    ind, scores, samples = make_genome_side()
    ss = np.random.SeedSequence(seed).spawn(3)
    persons = simulate_persons(n_persons, ind, ss[0], key=DEMO_KEY)
    reg = simulate_registry(persons, scores, ss[1], out_dir=root / "registry", raw_dir=root / "raw")
    bb = simulate_biobank(
        persons,
        samples,
        ss[2],
        out_dir=root / "biobank",
        consent_dir=root / "consent",
        raw_dir=root / "raw",
        registry=reg,
    )
    return {
        "root": root,
        "ind": ind,
        "scores": scores,
        "samples": samples,
        "persons": persons,
        "reg": reg,
        "bb": bb,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_world(tmp_path_factory.mktemp("synth"), N_PERSONS)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_world(tmp_path_factory.mktemp("synth_small"), N_SMALL, seed=3)


def _read_events(root: Path) -> dict[str, pd.DataFrame]:
    out = {
        t: read_table(root / "registry", t)
        for t in ("person", "observation_period", "diagnosis", "prescription", "lab")
    }
    out["specimen"] = read_table(root / "biobank", "specimen")
    out["tissue_use_register"] = read_table(root / "consent", "tissue_use_register")
    return out


@pytest.fixture(scope="module")
def events(world: dict) -> dict[str, pd.DataFrame]:
    return _read_events(world["root"])


@pytest.fixture(scope="module")
def small_events(small: dict) -> dict[str, pd.DataFrame]:
    return _read_events(small["root"])


# ------------------------------------------------------------------------------------------------------------
# persons


def test_persons_start_with_the_individuals(world: dict) -> None:
    p, ind = world["persons"], world["ind"]
    m = len(ind)
    assert list(p.columns) == [
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
    assert (p["individual"].iloc[:m].to_numpy() == np.arange(m)).all()
    assert (p["individual"].iloc[m:] == -1).all()
    assert (p["sex"].iloc[:m].to_numpy() == ind["sex"].to_numpy()).all()
    assert (p["population"].iloc[:m].to_numpy() == ind["population"].to_numpy()).all()
    assert p["person_id"].is_unique and p["person_id"].str.fullmatch(r"P[0-9a-f]{16}").all()
    assert p["birth_date"].dt.year.between(1930, 2005).all()
    assert abs((p["sex"] == "F").mean() - 0.5) < 0.02
    assert abs((p["region"] == "Region Hovedstaden").mean() - 0.70) < 0.02
    assert set(p["region"]) == {"Region Hovedstaden", "Region Sjælland"}


def test_family_birth_dates_are_consistent(world: dict) -> None:
    p, ind = world["persons"], world["ind"]
    birth = p["birth_date"].iloc[: len(ind)].to_numpy()
    years = lambda a, b: (birth[a] - birth[b]) / np.timedelta64(1, "D") / 365.25  # noqa: E731
    children = ind[ind["father"] >= 0]
    assert len(children) == 12
    for _, c in children.iterrows():
        for parent in (c["father"], c["mother"]):
            assert 18 <= years(c["individual"], parent) <= 45
        assert abs(years(c["father"], c["mother"])) <= 8
    for _, fam in ind[ind["role"] == "child"].groupby("family_id"):
        if len(fam) == 2:  # siblings: a few years apart, never twins here
            gap = abs(years(fam["individual"].iloc[0], fam["individual"].iloc[1]))
            assert 1.4 <= gap <= 6, gap


def test_deaths_rise_with_age_and_fall_in_follow_up(world: dict) -> None:
    p = world["persons"]
    dead = p["death_date"].notna()
    by = p["birth_date"].dt.year
    share = [dead[(by >= lo) & (by < hi)].mean() for lo, hi in ((1930, 1945), (1945, 1965), (1975, 2006))]
    assert share[0] > 0.5 > share[1] > share[2] and share[2] < 0.05
    d = p.loc[dead]
    assert (d["death_date"] >= pd.Timestamp("2000-01-01")).all()
    assert (d["death_date"] >= d["birth_date"]).all() and (
        d["death_date"] <= pd.Timestamp("2025-12-31")
    ).all()


def test_cpr_numbers_parse_back_to_birth_date_and_sex(world: dict) -> None:
    p = world["persons"]
    kinds = p["cpr_kind"].value_counts(normalize=True)
    assert 0.002 < kinds["replacement"] < 0.01
    assert (p.loc[p["cpr_kind"] == "nonmod11", "birth_date"] >= pd.Timestamp("1965-01-01")).all()
    late = p["birth_date"] >= pd.Timestamp("1965-01-01")
    assert 0.03 < (p.loc[late, "cpr_kind"] == "nonmod11").mean() < 0.07
    assert p["cpr"].str.fullmatch(r"\d{10}").all() and p["cpr"].is_unique
    check = p[(p["cpr_kind"] != "valid") | (p["person_idx"] % 10 == 0)]
    assert len(check) > 2000
    for row in check.itertuples():
        c = parse_cpr(row.cpr)
        assert c.birth_date == row.birth_date.date() and c.sex == row.sex
        assert c.kind == ("replacement" if row.cpr_kind == "replacement" else "cpr")
        if row.cpr_kind != "replacement":
            assert c.mod11_valid == (row.cpr_kind == "valid")
    assert p["person_id"].tolist() == pseudonymise(p["cpr"], DEMO_KEY).tolist()


def test_too_few_persons_is_an_error() -> None:
    ind = make_individuals()
    with pytest.raises(ValueError, match="at least the number of individuals"):
        simulate_persons(len(ind) - 1, ind, 1, key=DEMO_KEY)


# ------------------------------------------------------------------------------------------------------------
# registry structure


def test_tables_follow_the_event_schema(small: dict, small_events: dict[str, pd.DataFrame]) -> None:
    ev = small_events
    for name, df in ev.items():
        assert list(df.columns) == list(EVENT_TABLES[name].columns), name
        validate_table(df, name)
        assert len(df) > 0
    counts = small["reg"].counts
    assert counts["diagnosis"] == len(ev["diagnosis"]) and counts["lab"] == len(ev["lab"])
    assert set(ev["diagnosis"]["vocabulary"]) == {"SKS", "ICD8"}
    assert set(ev["prescription"]["vocabulary"]) == {"ATC"} and set(ev["lab"]["vocabulary"]) == {"NPU"}
    icd8 = ev["diagnosis"]["vocabulary"] == "ICD8"      # the LPR history before 1994 (ICD-8), LPR2 only
    assert set(ev["diagnosis"].loc[~icd8, "code"]) <= set(codes.SKS_BY_CODE)
    assert set(ev["diagnosis"].loc[icd8, "code"]) <= {c.code for c in codes.ICD8_CODES}
    assert (ev["diagnosis"].loc[icd8, "date"] < pd.Timestamp("1994-01-01")).all()
    assert (ev["diagnosis"].loc[~icd8, "date"] >= pd.Timestamp("1994-01-01")).all()
    assert (ev["diagnosis"].loc[icd8, "source"] == "LPR2").all() and counts["contacts_icd8"] == icd8.sum()
    assert set(ev["prescription"]["code"]) <= set(codes.ATC_BY_CODE)
    assert set(ev["diagnosis"]["contact_type"]) == {"inpatient", "outpatient", "emergency", "day", "virtual"}
    assert set(ev["diagnosis"]["diag_type"]) == {"A", "B", "G", "H"}


def test_lpr2_before_march_2019_and_lpr3_after(small: dict, small_events: dict[str, pd.DataFrame]) -> None:
    d = small_events["diagnosis"]
    l2, l3 = d[d["source"] == "LPR2"], d[d["source"] == "LPR3"]
    assert len(l2) > 0 and len(l3) > 0 and len(l2) + len(l3) == len(d)
    assert (l2["date"] < LPR3).all() and (l2["end_date"] < LPR3).all()
    assert (l3["date"] >= LPR3).all()
    assert set(l3["diag_type"]) == {"A", "B"} and set(l3["contact_type"]) >= {"virtual", "inpatient"}
    assert "day" not in set(l3["contact_type"]) and "virtual" not in set(l2["contact_type"])
    raw = small["root"] / "raw"
    adm = pd.read_csv(raw / "lpr_adm.csv", dtype=str)
    kon = pd.read_csv(raw / "lpr3_kontakter.csv", dtype=str)
    assert (pd.to_datetime(adm["d_inddto"]) < LPR3).all() and (
        pd.to_datetime(kon["dato_start"]) >= LPR3
    ).all()
    # every contact has exactly one A diagnosis
    assert (d[d["diag_type"] == "A"].groupby("contact_id").size() == 1).all()
    assert d[d["diag_type"] == "A"]["contact_id"].nunique() == d["contact_id"].nunique()


def test_no_event_outside_observation_or_after_death(
    small: dict, small_events: dict[str, pd.DataFrame]
) -> None:
    obs = small_events["observation_period"].set_index("person_id")
    person = small_events["person"].set_index("person_id")
    assert obs.index.is_unique and (obs["start_date"] <= obs["end_date"]).all()
    assert (obs["start_date"] >= pd.Timestamp("2000-01-01")).all()
    assert (obs["end_date"] <= pd.Timestamp("2025-12-31")).all()
    assert (obs["start_date"] >= person.loc[obs.index, "birth_date"]).all()
    death = person.loc[obs.index, "death_date"]
    assert (obs["end_date"][death.notna()] <= death[death.notna()]).all()
    assert (obs["start_date"] > pd.Timestamp("2000-01-01")).sum() > 0  # immigrants and young persons
    checks = [
        ("diagnosis", "date"),
        ("diagnosis", "end_date"),
        ("prescription", "date"),
        ("lab", "datetime"),
        ("specimen", "collected_date"),
    ]
    for table, col in checks:
        df = small_events[table]
        if table == "diagnosis":    # the ICD-8 history before 1994 is look-back before the observation window
            history = df[df["vocabulary"] == "ICD8"]
            born = history["person_id"].map(person["birth_date"])
            assert (history[col] >= born + pd.Timedelta(days=int(18 * 365.25))).all()
            assert (history[col] < pd.Timestamp("1994-01-01")).all() and len(history) > 0
            df = df[df["vocabulary"] != "ICD8"]
        day = df[col].dt.normalize()
        lo = df["person_id"].map(obs["start_date"])
        hi = df["person_id"].map(obs["end_date"])
        assert (day >= lo).all() and (day <= hi).all(), (table, col)
        dd = df["person_id"].map(person["death_date"])
        assert not (day > dd).any(), (table, col)


def test_disproven_lpr3_diagnoses_stay_out_of_the_events(
    small: dict, small_events: dict[str, pd.DataFrame]
) -> None:
    raw = pd.read_csv(small["root"] / "raw" / "lpr3_diagnoser.csv", dtype=str)
    ja = raw[raw["senere_afkraeftet"] == "Ja"]
    assert 0 < len(ja) < 0.05 * len(raw)
    d = small_events["diagnosis"]
    lpr3 = d[d["source"] == "LPR3"]
    assert len(lpr3) == (raw["senere_afkraeftet"] == "Nej").sum()
    merged = ja.merge(lpr3, left_on=["dw_ek_kontakt", "diagnosekode"], right_on=["contact_id", "code"])
    assert merged.empty
    assert (ja["diagnosekode"] == "DI219").sum() > 0  # suspected MI, later disproven: a trap for importers


# ------------------------------------------------------------------------------------------------------------
# the model: MI, LDL, statins


def test_mi_events_match_the_truth(world: dict, events: dict[str, pd.DataFrame]) -> None:
    truth = world["reg"].truth.set_index("person_id")
    d = events["diagnosis"]
    mi = d[d["code"].str.match(r"DI2[12]")]
    first = mi.groupby("person_id")["date"].min()
    cases = truth.index[truth["mi_case"]]
    assert set(first.index) == set(cases)
    assert (first.sort_index() == truth.loc[first.index, "mi_date"].sort_index()).all()
    share = truth["mi_case"].mean()
    assert 0.03 < share < 0.10, share
    adults = world["persons"].set_index("person_id").loc[truth.index, "birth_date"] < pd.Timestamp(
        "1975-01-01"
    )
    assert truth.loc[adults.to_numpy(), "mi_case"].mean() > share


def test_mi_model_coefficients_are_recovered(world: dict) -> None:
    truth = world["reg"].truth
    male = (world["persons"]["sex"].to_numpy() == "M").astype(float)
    assert (
        truth.loc[truth["mi_case"], "mi_score"].mean() > truth.loc[~truth["mi_case"], "mi_score"].mean() + 0.2
    )
    X = pd.DataFrame(
        {
            "intercept": 1.0,
            "mi_score": truth["mi_score"],
            "age_per_10y": (truth["age_at_start"] - 60) / 10,
            "male": male,
            "ldl_per_mmol": truth["ldl_true"] - 3,
            "diabetes": truth["diabetes"].astype(float),
            "smoking": truth["smoking"],
        }
    )
    fit = sm.GLM(
        truth["mi_case"].astype(float),
        X,
        family=sm.families.Binomial(),
        offset=np.log(truth["observed_years"] / 20),
    ).fit()
    for name, true in MI_COEFFICIENTS.items():
        est, se = fit.params[name], fit.bse[name]
        assert abs(est - true) < max(4 * se, 0.05), (name, est, true, se)
    assert fit.bse["mi_score"] < 0.05  # the test has power: the OR per SD is pinned to about ±10 %
    assert np.exp(fit.params["mi_score"]) > 1.4


def _first_ldl(events: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lab = events["lab"]
    return lab[lab["code"] == "NPU01567"].sort_values(["person_id", "datetime"])


def test_ldl_follows_the_ldl_score(world: dict, events: dict[str, pd.DataFrame]) -> None:
    truth = world["reg"].truth.set_index("person_id")
    ldl = _first_ldl(events)
    start = ldl["person_id"].map(truth["statin_start"])
    untreated = ldl[start.isna() | (ldl["datetime"] < start)].groupby("person_id").first()
    assert len(untreated) > 3000
    t = truth.loc[untreated.index]
    p = world["persons"].set_index("person_id").loc[untreated.index]
    X = pd.DataFrame(
        {
            "const": 1.0,
            "ldl_score": t["ldl_score"],
            "age": (pd.Timestamp("2012-01-01") - p["birth_date"]).dt.days / 365.25,
            "male": (p["sex"] == "M").astype(float),
        }
    )
    fit = sm.OLS(untreated["value"], X).fit()
    assert abs(fit.params["ldl_score"] - 0.35) < 0.05, fit.params
    assert abs(fit.params["age"] - 0.012) < 0.004 and abs(fit.params["male"] - 0.15) < 0.06
    assert 0.3 < np.corrcoef(untreated["value"], t["ldl_score"])[0, 1] < 0.6
    # the measured level tracks the true person level
    assert np.corrcoef(untreated["value"], t["ldl_true"])[0, 1] > 0.85


def test_statins_follow_mi_and_lower_ldl(world: dict, events: dict[str, pd.DataFrame]) -> None:
    truth = world["reg"].truth.set_index("person_id")
    rx = events["prescription"]
    statin = rx[rx["code"].str.startswith("C10AA")]
    first = statin.groupby("person_id")["date"].min()
    users = truth.index[truth["statin_start"].notna()]
    assert set(first.index) == set(users)
    assert (first.sort_index() == truth.loc[first.index, "statin_start"].sort_index()).all()
    assert statin.groupby("person_id").size().median() >= 5  # repeated fills
    cases = truth[truth["mi_case"]]
    soon = (cases["statin_start"] - cases["mi_date"]).dt.days.between(0, 60)
    assert soon.mean() > 0.75
    assert (
        truth.loc[~truth["mi_case"] & truth["statin_start"].notna(), "ldl_true"].mean()
        > truth.loc[truth["statin_start"].isna(), "ldl_true"].mean() + 0.5
    )
    ldl = _first_ldl(events)
    ldl = ldl[ldl["person_id"].isin(users)]
    after = ldl["datetime"] >= ldl["person_id"].map(truth["statin_start"])
    before_mean = ldl[~after].groupby("person_id")["value"].mean()
    after_mean = ldl[after].groupby("person_id")["value"].mean()
    both = before_mean.index.intersection(after_mean.index)
    assert len(both) > 200
    ratio = after_mean[both].mean() / before_mean[both].mean()
    assert 0.55 < ratio < 0.8, ratio


def test_lab_units_reference_ranges_and_text_values(events: dict[str, pd.DataFrame]) -> None:
    lab = events["lab"]
    for code, g in lab.groupby("code"):
        spec = codes.NPU_BY_CODE[code]
        assert set(g["unit"]) == {spec.unit}
        assert set(g["ref_high"]) <= {spec.ref_high_f, spec.ref_high_m}
    assert set(lab["code"]) == set(codes.NPU_BY_CODE)
    text = lab[lab["value_text"].notna()]
    assert len(text) > 0 and set(text["value_text"]) == {"<0.5"} and text["value"].isna().all()
    assert set(text["code"]) == {"NPU19748"}
    assert lab.loc[lab["value_text"].isna(), "value"].notna().all()
    hb = lab[lab["code"] == "NPU02319"]
    assert 7.5 < hb["value"].median() < 9.5


# ------------------------------------------------------------------------------------------------------------
# raw extracts reproduce the event tables


def _read_raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _norm(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table's schema columns (absent ones, e.g. the OMOP-only ``source_value``, as nulls), sorted rows."""
    out = df.reindex(columns=list(EVENT_TABLES[table].columns))
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].astype("datetime64[ns]")
        elif out[c].dtype == object or pd.api.types.is_string_dtype(out[c]) or out[c].isna().all():
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def test_raw_extracts_rebuild_the_event_tables(small: dict, small_events: dict[str, pd.DataFrame]) -> None:
    raw = small["root"] / "raw"
    pid = lambda s: pseudonymise(s, DEMO_KEY).astype(object)  # noqa: E731

    cpr = _read_raw(raw / "cpr_register.csv")
    person = pd.DataFrame(
        {
            "person_id": pid(cpr["pnr"]),
            "sex": cpr["koen"].map({"K": "F", "M": "M"}),
            "birth_date": pd.to_datetime(cpr["foed_dag"]),
            "death_date": pd.to_datetime(cpr["doed_dato"]),
            "region": cpr["region"],
        }
    )
    pd.testing.assert_frame_equal(_norm(person, "person"), _norm(small_events["person"], "person"))

    adm, dg = _read_raw(raw / "lpr_adm.csv"), _read_raw(raw / "lpr_diag.csv")
    l2 = dg.merge(adm, on="recnum", how="left", validate="many_to_one")
    lpr2 = pd.DataFrame(
        {
            "person_id": pid(l2["pnr"]),
            "contact_id": l2["recnum"],
            "date": pd.to_datetime(l2["d_inddto"]),
            "end_date": pd.to_datetime(l2["d_uddto"]),
            "code": l2["c_diag"].str.replace(".", "", regex=False),   # ICD-8 written 410.99 in old extracts
            "vocabulary": np.where(l2["c_diag"].str.fullmatch(r"[0-9.]+"), "ICD8", "SKS"),
            "diag_type": l2["c_diagtype"],
            "contact_type": l2["c_pattype"].map(
                {"0": "inpatient", "1": "day", "2": "outpatient", "3": "emergency"}
            ),
            "source": "LPR2",
        }
    )
    kon, d3 = _read_raw(raw / "lpr3_kontakter.csv"), _read_raw(raw / "lpr3_diagnoser.csv")
    l3 = d3[d3["senere_afkraeftet"] == "Nej"].merge(
        kon, on="dw_ek_kontakt", how="left", validate="many_to_one"
    )
    hours = (
        pd.to_datetime(l3["dato_slut"] + " " + l3["tidspunkt_slut"])
        - pd.to_datetime(l3["dato_start"] + " " + l3["tidspunkt_start"])
    ).dt.total_seconds() / 3600
    ctype = np.where(
        l3["kontakttype"] == "ALCA10",
        "virtual",
        np.where(hours >= 12, "inpatient", np.where(l3["prioritet"] == "ATA1", "emergency", "outpatient")),
    )
    lpr3 = pd.DataFrame(
        {
            "person_id": pid(l3["cpr"]),
            "contact_id": l3["dw_ek_kontakt"],
            "date": pd.to_datetime(l3["dato_start"]),
            "end_date": pd.to_datetime(l3["dato_slut"]),
            "code": l3["diagnosekode"],
            "vocabulary": "SKS",
            "diag_type": l3["diagnosetype"],
            "contact_type": ctype,
            "source": "LPR3",
        }
    )
    rebuilt = pd.concat([lpr2, lpr3], ignore_index=True)
    pd.testing.assert_frame_equal(_norm(rebuilt, "diagnosis"), _norm(small_events["diagnosis"], "diagnosis"))

    lm = _read_raw(raw / "lmdb.csv")
    assert set(lm["voltypetxt"]) == {"DDD"}
    rx = pd.DataFrame(
        {
            "person_id": pid(lm["pnr"]),
            "date": pd.to_datetime(lm["eksd"]),
            "code": lm["atc"],
            "vocabulary": "ATC",
            "ddd": lm["apk"].astype(float) * lm["volume"].astype(float),
            "packages": lm["apk"].astype(float),
            "strength": [f"{float(s):g} {u}" for s, u in zip(lm["strnum"], lm["strunit"], strict=True)],
            "source": "LMDB",
        }
    )
    pd.testing.assert_frame_equal(
        _norm(rx, "prescription"), _norm(small_events["prescription"], "prescription")
    )

    lk = _read_raw(raw / "labka.csv")
    value = pd.to_numeric(lk["value"], errors="coerce")
    lab = pd.DataFrame(
        {
            "person_id": pid(lk["pnr"]),
            "datetime": pd.to_datetime(lk["samplingdate"] + " " + lk["samplingtime"]),
            "code": lk["analysiscode"],
            "vocabulary": "NPU",
            "value": value,
            "value_text": lk["value"].where(value.isna(), None),
            "unit": lk["unit"],
            "ref_low": lk["refl"].astype(float),
            "ref_high": lk["refu"].astype(float),
            "lab_id": lk["laboratorium_idcode"],
        }
    )
    pd.testing.assert_frame_equal(_norm(lab, "lab"), _norm(small_events["lab"], "lab"))
    for f in raw.glob("*.csv"):  # raw files are plain CSV: unquoted header, UTF-8
        assert not f.read_text(encoding="utf-8").startswith('"')


# ------------------------------------------------------------------------------------------------------------
# biobank and consent


def test_every_sample_has_a_dna_specimen_of_its_person(
    small: dict, small_events: dict[str, pd.DataFrame]
) -> None:
    samples, persons, link = small["samples"], small["persons"], small["bb"].sample_specimen
    spec = small_events["specimen"].set_index("specimen_id")
    assert list(link["sample_id"]) == list(samples["sample_id"]) and link["specimen_id"].is_unique
    expected = persons.set_index("individual").loc[samples["individual"], "person_id"].to_numpy()
    assert (spec.loc[link["specimen_id"], "person_id"].to_numpy() == expected).all()
    assert (spec.loc[link["specimen_id"], "specimen_type"] == "DNA").all()


def test_specimens_are_realistic(small: dict, small_events: dict[str, pd.DataFrame]) -> None:
    spec = small_events["specimen"]
    persons = small["persons"]
    share = spec["person_id"].nunique() / len(persons)
    assert 0.5 < share < 0.7
    assert set(spec["specimen_type"]) == {"EDTA-blood", "plasma", "serum", "buffy coat", "DNA"}
    assert set(spec["biobank"]) == {
        "Region Hovedstaden Biobank",
        "Region Sjælland Biobank",
        "Danish National Biobank",
    }
    assert ((spec["aliquots_left"] == 0) == (spec["status"] == "depleted")).all()
    assert (spec.loc[spec["aliquots_left"] == 0, "volume_ul"] == 0).all()
    assert (spec.loc[spec["aliquots_left"] > 0, "volume_ul"] > 0).all()
    assert 0.03 < (spec["status"] == "depleted").mean() < 0.15
    assert spec["location"].str.fullmatch(r"F\d{2}/R\d{2}/B\d{3}/[A-J](0[1-9]|10)").all()
    assert (
        spec["location"] == spec["freezer"] + "/" + spec["rack"] + "/" + spec["box"] + "/" + spec["position"]
    ).all()
    assert not spec.duplicated(["biobank", "location"]).any()
    # regional biobanks hold their region's persons
    region = spec["person_id"].map(persons.set_index("person_id")["region"])
    sj = spec["biobank"] == "Region Sjælland Biobank"
    assert (region[sj] == "Region Sjælland").all()
    # collected at hospital contacts where the person has one
    contacts = small["reg"].contacts
    at_contact = spec.merge(contacts, left_on=["person_id", "collected_date"], right_on=["person_id", "date"])
    assert at_contact["specimen_id"].nunique() / len(spec) > 0.7


def test_tissue_use_register_opt_outs(world: dict, events: dict[str, pd.DataFrame]) -> None:
    tur = events["tissue_use_register"]
    persons = world["persons"]
    assert len(tur) == len(persons) and set(tur["person_id"]) == set(persons["person_id"])
    assert abs(tur["opt_out"].mean() - 0.03) < 0.006
    assert (tur["lookup_date"] == pd.Timestamp("2026-01-15")).all()
    raw = _read_raw(world["root"] / "raw" / "tissue_use_register.csv")
    assert set(pseudonymise(raw["pnr"], DEMO_KEY)) == set(tur.loc[tur["opt_out"], "person_id"])
    assert set(world["bb"].opt_outs) == set(tur.loc[tur["opt_out"], "person_id"])
    reg = pd.to_datetime(raw["registreringsdato"])
    birth = raw["pnr"].map(persons.set_index("cpr")["birth_date"])
    assert (reg < pd.Timestamp("2026-01-15")).all() and (reg >= birth).all()
    assert (reg >= pd.Timestamp("1997-06-01")).all()


def test_sample_of_unknown_individual_is_an_error(world: dict, tmp_path: Path) -> None:
    bad = pd.DataFrame({"sample_id": ["S99999"], "individual": [10_000]})
    with pytest.raises(ValueError, match="S99999"):
        simulate_biobank(world["persons"], bad, 1, out_dir=tmp_path, consent_dir=tmp_path, raw_dir=tmp_path)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------------------
# determinism


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a = _file_bytes(build_world(tmp_path / "a", 800, seed=5)["root"])
    b = _file_bytes(build_world(tmp_path / "b", 800, seed=5)["root"])
    assert len(a) == 16 and a == b
    c = _file_bytes(build_world(tmp_path / "c", 800, seed=6)["root"])
    assert c.keys() == a.keys() and c["registry/diagnosis.parquet"] != a["registry/diagnosis.parquet"]
    assert not any(re.search(r"\.tmp$", name) for name in a)
