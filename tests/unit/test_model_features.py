"""Features and outcomes of the model track on a hand-made registry: values, windows, censoring and leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import ConfigError
from pmo_workbench.health.database import open_database
from pmo_workbench.health.schema import write_table
from pmo_workbench.model.features import build_features, load_feature_set, parse_feature_set
from pmo_workbench.model.outcomes import OutcomeSpec, compute_outcomes

INDEX = pd.Timestamp("2010-06-15")


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """Four persons; p1-p3 indexed on 2010-06-15 (p4 on 2012-01-01). Events before, on and after the index."""
    reg = tmp_path / "data" / "registry"
    write_table(pd.DataFrame({
        "person_id": ["p1", "p2", "p3", "p4"], "sex": ["F", "M", "M", "F"],
        "birth_date": ["1950-06-15", "1960-01-01", "1945-03-01", "1970-01-01"],
        "death_date": [None, "2014-01-01", None, None],
        "region": ["Region Hovedstaden", "Region Sjælland", "Region Hovedstaden", "Region Sjælland"]}),
        "person", reg)
    write_table(pd.DataFrame({
        "person_id": ["p1", "p2", "p3", "p4"],
        "start_date": ["2000-01-01", "2000-01-01", "2000-01-01", "2000-01-01"],
        "end_date": ["2025-12-31", "2025-12-31", "2013-05-01", "2025-12-31"]}), "observation_period", reg)
    write_table(pd.DataFrame({
        "person_id": ["p1", "p1", "p1", "p2", "p2", "p3", "p4"],
        "datetime": ["2009-01-10 08:00", "2010-06-15 09:00", "2010-06-16 09:00", "2005-01-01 10:00",
                     "2011-01-01 10:00", "2010-01-01 10:00", "2011-06-01 10:00"],
        "code": ["NPU01567"] * 7, "vocabulary": "NPU", "value": [3.1, 3.4, 9.9, 2.5, 9.9, 4.2, 2.0]}), "lab", reg)
    write_table(pd.DataFrame({
        "person_id": ["p1", "p1", "p2", "p2", "p3", "p4"],
        "date": ["2008-01-01", "2010-06-16", "2012-03-01", "2009-05-05", "2010-06-15", "2011-01-01"],
        "code": ["DE119", "DI109", "DI219", "DI109", "DE109", "DI219"], "vocabulary": "SKS",
        "diag_type": ["A", "A", "A", "B", "A", "A"], "source": "LPR2"}), "diagnosis", reg)
    write_table(pd.DataFrame({
        "person_id": ["p1", "p2", "p3", "p3"], "date": ["2010-07-01", "2010-01-01", "2010-06-01", "2010-06-20"],
        "code": ["C10AA05", "C10AA01", "C10AA05", "C10AA05"], "vocabulary": "ATC"}), "prescription", reg)
    (tmp_path / "pmo.yaml").write_text("name: features\n")
    return tmp_path


COHORT = pd.DataFrame({"person_id": ["p1", "p2", "p3", "p4"],
                       "index_date": [INDEX, INDEX, INDEX, pd.Timestamp("2012-01-01")]})
FEATURES = {"name": "mi", "demographics": ["age", "sex", "region"],
            "labs": [{"name": "ldl", "codes": ["NPU01567"], "window": [-730, 0]},
                     {"name": "ldl_mean", "codes": ["NPU01567"], "window": [-36500, 0], "statistic": "mean"}],
            "diagnoses": [{"name": "diabetes", "codes": ["DE10-DE14"]},
                          {"name": "hypertension", "codes": ["DI10-DI15"], "statistic": "count"}],
            "medications": [{"name": "statin", "codes": ["C10AA*"], "window": [-365, 0]}]}


def test_features_take_the_right_values(registry: Path) -> None:
    ft = build_features(open_database(registry), COHORT, parse_feature_set(FEATURES))
    t = ft.table.set_index("person_id")
    # nearest lab before the index within two years: p1's index-day value (3.4), not the later 9.9
    assert t.loc["p1", "ldl"] == pytest.approx(3.4)
    assert np.isnan(t.loc["p2", "ldl"])  # 2005 is outside the window; 2011 is after the index
    assert t.loc["p3", "ldl"] == pytest.approx(4.2)
    assert t.loc["p1", "ldl_mean"] == pytest.approx((3.1 + 3.4) / 2)
    assert t.loc["p1", "age"] == pytest.approx(60.0, abs=0.01)
    assert t.loc["p2", "sex"] == "M" and t.loc["p2", "region"] == "Region Sjælland"
    # diabetes window ends the day before the index: p3's index-day diagnosis does not count
    assert t["diabetes"].to_dict() == {"p1": 1, "p2": 0, "p3": 0, "p4": 0}
    assert t["hypertension"].to_dict() == {"p1": 0, "p2": 1, "p3": 0, "p4": 0}
    assert t["statin"].to_dict() == {"p1": 0, "p2": 1, "p3": 1, "p4": 0}
    d = ft.dictionary.set_index("feature")
    assert t.loc["p4", "ldl"] == pytest.approx(2.0)
    assert d.loc["ldl", "missing_share"] == pytest.approx(0.25)  # p2 has no LDL in the window
    assert d.loc["statin", "window"] == "[-365, 0] days"


def test_no_event_after_the_index_date_enters_a_feature(registry: Path) -> None:
    """Leakage test: plant many events after each index date; the features must not change."""
    db = open_database(registry)
    fs = parse_feature_set(FEATURES)
    before = build_features(db, COHORT, fs).table
    reg = registry / "data" / "registry"
    lab = pd.read_parquet(reg / "lab.parquet")
    diag = pd.read_parquet(reg / "diagnosis.parquet")
    presc = pd.read_parquet(reg / "prescription.parquet")
    planted_lab, planted_diag, planted_presc = [], [], []
    for pid, idx in zip(COHORT["person_id"], COHORT["index_date"], strict=True):
        for days in (1, 2, 30, 365, 4000):
            when = idx + pd.Timedelta(days=days)
            planted_lab.append({"person_id": pid, "datetime": when + pd.Timedelta(hours=1), "code": "NPU01567",
                                "vocabulary": "NPU", "value": 99.0})
            for code in ("DE119", "DI109"):
                planted_diag.append({"person_id": pid, "date": when.date(), "code": code, "vocabulary": "SKS",
                                     "diag_type": "A", "source": "LPR3"})
            planted_presc.append({"person_id": pid, "date": when.date(), "code": "C10AA07", "vocabulary": "ATC"})
        # a lab taken late on the index day is not after the index date: it may count (same day)
    write_table(pd.concat([lab, pd.DataFrame(planted_lab)], ignore_index=True), "lab", reg)
    write_table(pd.concat([diag, pd.DataFrame(planted_diag)], ignore_index=True), "diagnosis", reg)
    write_table(pd.concat([presc, pd.DataFrame(planted_presc)], ignore_index=True), "prescription", reg)
    after = build_features(open_database(registry), COHORT, fs).table
    pd.testing.assert_frame_equal(before, after)
    assert (after.select_dtypes("number").fillna(0) < 99).all().all()


def test_windows_past_the_index_date_are_rejected() -> None:
    bad = dict(FEATURES, medications=[{"name": "statin", "codes": ["C10AA*"], "window": [-10, 30]}])
    with pytest.raises(ConfigError, match=r"medications\[0\]\.window: the window ends 30 days after"):
        parse_feature_set(bad)
    with pytest.raises(ConfigError, match=r"labs\[0\]\.codes"):
        parse_feature_set(dict(FEATURES, labs=[{"name": "x", "codes": ["not-a-code"]}]))
    with pytest.raises(ConfigError, match="used twice"):
        parse_feature_set(dict(FEATURES, diagnoses=[{"name": "ldl", "codes": ["DE11"]}]))


def test_feature_set_from_yaml(tmp_path: Path, repo_root: Path) -> None:
    fs = load_feature_set(repo_root / "templates" / "features" / "mi_clinical.yaml")
    assert "ldl" in fs.names() and fs.without_genetics().genetic_names() == []
    (tmp_path / "bad.yaml").write_text("name: x\nlabs: [{name: a, codes: [NPU01567], window: [0, 1]}]\n")
    with pytest.raises(ConfigError, match="bad.yaml: field labs"):
        load_feature_set(tmp_path / "bad.yaml")


def test_outcomes_censoring_and_competing_death(registry: Path) -> None:
    spec = OutcomeSpec(name="mi", codes=["DI21*"], horizon_days=3652)
    out = compute_outcomes(open_database(registry), COHORT, spec).table.set_index("person_id")
    assert out.loc["p1", "reason"] == "horizon" and out.loc["p1", "event"] == 0
    assert out.loc["p1", "time_days"] == 3652
    # p2: MI on 2012-03-01 (before death 2014): event
    assert out.loc["p2", "reason"] == "event" and out.loc["p2", "status"] == 1
    assert out.loc["p2", "time_days"] == (pd.Timestamp("2012-03-01") - INDEX).days
    # p3 emigrated 2013-05-01 without MI: censored before the horizon, binary outcome unknown
    assert out.loc["p3", "reason"] == "emigration" and np.isnan(out.loc["p3", "event"])
    assert out.loc["p3", "status"] == 0
    # p4 had MI before the index date: prevalent
    assert bool(out.loc["p4", "prevalent"])


def test_death_before_the_outcome_is_competing(registry: Path) -> None:
    cohort = pd.DataFrame({"person_id": ["p2"], "index_date": [pd.Timestamp("2012-06-01")]})
    spec = OutcomeSpec(name="mi", codes=["DI21*"], horizon_days=3652)
    row = compute_outcomes(open_database(registry), cohort, spec).table.iloc[0]
    # p2's MI (2012-03-01) lies before this index: prevalent; death on 2014-01-01 ends follow-up
    assert bool(row["prevalent"])
    spec2 = OutcomeSpec(name="ht", codes=["DI10*"], horizon_days=3652)
    row = compute_outcomes(open_database(registry), cohort, spec2).table.iloc[0]
    assert row["reason"] == "death" and row["status"] == 2 and row["event"] == 0
    assert row["time_days"] == (pd.Timestamp("2014-01-01") - pd.Timestamp("2012-06-01")).days
    no_compete = OutcomeSpec(name="ht", codes=["DI10*"], horizon_days=3652, competing_death=False)
    row = compute_outcomes(open_database(registry), cohort, no_compete).table.iloc[0]
    assert row["reason"] == "death" and row["status"] == 0 and np.isnan(row["event"])


@pytest.fixture
def carrier_genotypes(tmp_path: Path):
    """Four samples: an autosomal SNV (0/0, 0/1, 1/1, missing), a chrX SNV with haploid male calls, and a
    multi-allelic record."""
    import warnings

    from pmo_workbench.genotypes import open_genotypes
    from tests.vcf_files import format_record, write_vcf

    vcf = write_vcf(tmp_path / "carriers.vcf", [
        format_record("chr1", 100, "A", "G", ["0/0", "0/1", "1/1", "./."]),
        format_record("chr1", 200, "C", "T,G", ["0/1", "0/2", "0/0", "1/2"]),
        format_record("chrX", 5_000_000, "G", "A", ["0/1", "1", "0", "1/1"]),
    ], samples=["S1", "S2", "S3", "S4"], contigs=["chr1", "chrX"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(vcf, cache_dir=tmp_path / "cache", reference_build="GRCh38")


def test_carrier_status_counts_alt_alleles_and_names_bad_variants(carrier_genotypes) -> None:
    from pmo_workbench.errors import InputError
    from pmo_workbench.model.features import CarrierFeature, compute_carrier_status

    status = compute_carrier_status(carrier_genotypes, [
        CarrierFeature(name="snv_add", variant="1:100:A:G", coding="additive"),
        CarrierFeature(name="snv_dom", variant="chr1:100:A:G"),
        CarrierFeature(name="x_add", variant="X:5000000:G:A", coding="additive")])
    assert status.index.tolist() == ["S1", "S2", "S3", "S4"]
    np.testing.assert_array_equal(status["snv_add"].to_numpy(), [0, 1, 2, np.nan])
    np.testing.assert_array_equal(status["snv_dom"].to_numpy(), [0, 1, 1, np.nan])
    np.testing.assert_array_equal(status["x_add"].to_numpy(), [1, 1, 0, 2])  # a haploid call counts its allele
    with pytest.raises(InputError, match="not in the genotypes") as err:
        compute_carrier_status(carrier_genotypes, [CarrierFeature(name="v", variant="1:100:A:T")])
    assert err.value.field == "carriers.v"
    with pytest.raises(InputError, match="multi-allelic"):
        compute_carrier_status(carrier_genotypes, [CarrierFeature(name="m", variant="1:200:C:T")])


def test_genetic_features_join_persons_through_their_genome(registry: Path, carrier_genotypes, tmp_path: Path
                                                            ) -> None:
    from pmo_workbench.model.features import add_genetic_features

    score = tmp_path / "TEST_hmPOS_GRCh38.txt"
    score.write_text("#pgs_id=TEST\n#trait_reported=test\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                     "effect_weight\n1\t100\tG\tA\t0.5\nX\t5000000\tA\tG\t2\n")
    fs = parse_feature_set({**FEATURES, "pgs": [{"name": "pgs", "scoring_file": str(score), "standardise": False}],
                            "carriers": [{"name": "g_carrier", "variant": "1:100:A:G"}]})
    ft = build_features(open_database(registry), COHORT, fs)
    link = pd.DataFrame({"sample_id": ["S1", "S2", "S3"], "person_id": ["p1", "p2", "p4"]})
    results = add_genetic_features(ft, carrier_genotypes, link)
    assert results[0].match_report["matched"].iloc[0] == 2
    t = ft.table.set_index("person_id")
    # S1: 0·0.5 + 1·2; S2: 1·0.5 + 1·2 (haploid ALT call); S3: 2·0.5 + 0; p3 has no genome
    np.testing.assert_allclose(t.loc[["p1", "p2", "p4"], "pgs"], [2.0, 2.5, 1.0])
    np.testing.assert_array_equal(t.loc[["p1", "p2", "p4"], "g_carrier"], [0, 1, 1])
    assert t[["pgs", "g_carrier"]].loc["p3"].isna().all()
    d = ft.dictionary.set_index("feature")
    assert d.loc["pgs", "source"] == "polygenic score" and d.loc["g_carrier", "codes"] == "1:100:A:G"
    assert d.loc["g_carrier", "missing_share"] == 0.25
