"""QcExplorer, Python side: threshold changes give the flagged sets computed by hand; save round-trips.

The hand frame (12 samples, n_called = 1000 each):

- call rate 0.99 except s05 0.985, s07 0.98, s08 0.97, s09 0.96, s10 0.94, s11 0.93;
- het rate s00 0.400, s01 0.330, s02..s11 0.300..0.309. Median 0.3055; absolute deviations sorted
  .0005 .0005 .0015 .0015 .0025 .0025 .0035 .0035 .0045 .0055 .0245 .0945 -> MAD .003, scaled .0044478.
  k=4: [0.287709, 0.323291] flags s00, s01; k=10: [0.261022, 0.349978] flags s00 only;
  k=1: [0.301052, 0.309948] flags s00, s01, s02 (0.300) and s03 (0.301);
- chrX F (500 X sites each): s02 F=0.85 reported F, s03 F=0.50 reported M, s00/s01/s04..s07 F=1.0 reported M,
  s08..s11 F=0.0 reported F;
- kinship pairs: s06-s07 0.48 (s07 has the lower call rate), s04-s05 0.30 (s05 lower).

At the defaults (call rate 0.95, het 4·MAD, F 0.2/0.8, duplicate 0.354) the failing samples are
s00, s01 (het), s02 (sex_mismatch), s03 (sex_ambiguous), s07 (duplicate), s10, s11 (call rate).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pmo_widgets import QcExplorer
from pmo_workbench.errors import ConfigError
from pmo_workbench.project import ProjectConfig, write_project_file
from pmo_workbench.qc.review import load_reviewed_thresholds
from pmo_workbench.qc.thresholds import QcThresholds

IDS = [f"s{i:02d}" for i in range(12)]
BASE_FAIL = {"s00", "s01", "s02", "s07", "s10", "s11"}
"""Failing at the defaults; s03 (ambiguous sex) is sent to review."""
SMALL = {"outlier_metrics": ["r_ti_tv"], "min_outlier_samples": 5, "min_stratum_size": 10}
"""Twelve hand-made samples: the outlier tests need fewer samples than a real cohort's defaults allow."""


def _tables() -> dict[str, pd.DataFrame]:
    het = [0.400, 0.330] + [0.300 + 0.001 * i for i in range(10)]
    call = [0.99, 0.99, 0.99, 0.99, 0.99, 0.985, 0.99, 0.98, 0.97, 0.96, 0.94, 0.93]
    sqc = pd.DataFrame(
        {
            "sample_id": IDS,
            "call_rate": call,
            "n_called": 1000,
            "n_het": [round(h * 1000) for h in het],
            "r_ti_tv": 2.0,
        }
    )
    f = [1.0, 1.0, 0.85, 0.50, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    reported = ["M", "M", "F", "M", "M", "M", "M", "M", "F", "F", "F", "F"]
    genetic = ["M", "M", "M", "ambiguous", "M", "M", "M", "M", "F", "F", "F", "F"]
    sex = pd.DataFrame(
        {
            "sample_id": IDS,
            "f_stat": f,
            "n_called_x": 500,
            "genetic_sex": genetic,
            "reported_sex": reported,
            "mismatch": pd.array([g != r if g != "ambiguous" else False for g, r in zip(genetic, reported, strict=True)],
                                 dtype="boolean"),
        }
    )
    kin = pd.DataFrame(
        {"sample_i": ["s06", "s04"], "sample_j": ["s07", "s05"], "kinship": [0.48, 0.30], "unexpected": False}
    )
    manifest = pd.DataFrame({"sample_id": IDS, "batch": ["B1"] * 6 + ["B2"] * 6})
    return {"sample_qc": sqc, "sex_check": sex, "kinship": kin, "manifest": manifest}


@pytest.fixture
def widget() -> QcExplorer:
    return QcExplorer(**_tables(), thresholds=SMALL)


def reasons_of(w: QcExplorer) -> dict[str, list[str]]:
    """Failing and review reasons of each sample, in REASONS order."""
    from pmo_workbench.qc.rules import REASONS

    return {s: [r for r in REASONS if r in set(a) | set(b)] for s, a, b in
            zip(w.decisions["sample_id"], w.decisions["reasons"], w.decisions["review_reasons"], strict=True)}


def test_defaults_flag_the_hand_computed_samples(widget: QcExplorer) -> None:
    assert set(widget.flagged_samples()) == BASE_FAIL
    assert widget.n_flagged == 6 and widget.n_review == 1 and widget.n_samples == 12
    r = reasons_of(widget)
    assert r["s02"] == ["sex_mismatch"] and r["s03"] == ["sex_ambiguous"] and r["s07"] == ["duplicate"]
    assert widget.reason_counts == {"low_call_rate": 2, "het_outlier": 2, "sex_mismatch": 1, "sex_ambiguous": 1,
                                    "duplicate": 1}
    rows = {row["sample_id"]: row for row in widget.flagged}
    assert set(rows) == BASE_FAIL | {"s03"}
    assert rows["s03"]["verdict"] == "review" and rows["s02"]["verdict"] == "fail"
    # each row explains itself: the metric, its value, the bound and the stratum
    assert rows["s10"]["explanation"] == ["low_call_rate (fail): call_rate = 0.94 < 0.95"]
    # by hand: het median .3055, MAD .003 * 1.4826 = .0044478, fail bound + 5 MAD = .32774
    assert rows["s00"]["explanation"] == ["het_outlier (fail): het_rate = 0.4 > 0.3277 (median ± 5 MAD, stratum "
                                          "all samples)"]
    assert set(widget.thresholds) == {"min_call_rate", "het_mad_k", "female_threshold", "male_threshold",
                                      "duplicate_kinship", "mad_k"}  # no PCs: no ancestry control


def test_call_rate_threshold_changes_the_flagged_set(widget: QcExplorer) -> None:
    widget.set_thresholds(min_call_rate=0.975)
    assert set(widget.flagged_samples()) == BASE_FAIL | {"s08", "s09"}
    assert widget.n_flagged == 8
    assert (widget.n_newly_flagged, widget.n_newly_passing) == (2, 0)
    new_rows = {row["sample_id"] for row in widget.flagged if row["new"]}
    assert new_rows == {"s08", "s09"}
    hist = next(h for h in widget.histograms if h["key"] == "call_rate")
    assert sum(hist["hit"]) == 4 and sum(hist["pass"]) + sum(hist["other"]) + sum(hist["hit"]) == 12
    assert [line["value"] for line in hist["lines"]] == [0.975]
    widget.set_thresholds(min_call_rate=0.9)
    assert set(widget.flagged_samples()) == BASE_FAIL - {"s10", "s11"}
    assert widget.n_newly_passing == 2


def test_het_k_changes_flags_and_bound_lines(widget: QcExplorer) -> None:
    widget.set_thresholds(het_mad_k=10)
    assert set(widget.flagged_samples()) == BASE_FAIL - {"s01"}
    hist = next(h for h in widget.histograms if h["key"] == "het_rate")
    assert [round(line["value"], 6) for line in hist["lines"]] == [0.261022, 0.349978]
    widget.set_thresholds(het_mad_k=1)
    r = reasons_of(widget)
    assert [s for s in IDS if "het_outlier" in r[s]] == ["s00", "s01", "s02", "s03"]
    assert r["s02"] == ["het_outlier", "sex_mismatch"]  # REASONS order
    assert widget.n_flagged == 6  # k moves the review bound; failing needs het_mad_k_fail (5): s00 and s01
    assert widget.n_review == 1  # s03: het beyond 1 MAD and ambiguous sex, both review reasons


def test_sex_thresholds_reassign_genetic_sex(widget: QcExplorer) -> None:
    widget.set_thresholds(male_threshold=0.9)  # s02 (F=0.85) is now ambiguous, not a mismatch
    assert reasons_of(widget)["s02"] == ["sex_ambiguous"]
    widget.set_thresholds(female_threshold=0.2, male_threshold=0.45)  # s03 (F=0.5, reported M) is male
    r = reasons_of(widget)
    assert r["s02"] == ["sex_mismatch"] and r["s03"] == []
    assert set(widget.flagged_samples()) == BASE_FAIL and widget.n_review == 0
    hist = next(h for h in widget.histograms if h["key"] == "f_stat")
    assert [line["value"] for line in hist["lines"]] == [0.2, 0.45]
    assert sum(hist["hit"]) == 1  # s02 only


def test_duplicate_kinship_cutoff(widget: QcExplorer) -> None:
    widget.set_thresholds(duplicate_kinship=0.25)
    assert set(widget.flagged_samples()) == BASE_FAIL | {"s05"}  # s05 has the lower call rate of its pair
    widget.set_thresholds(duplicate_kinship=0.49)
    assert set(widget.flagged_samples()) == BASE_FAIL - {"s07"}


def test_invalid_values_are_refused_and_the_previous_kept(widget: QcExplorer) -> None:
    with pytest.raises(ConfigError, match="female_threshold"):
        widget.set_thresholds(female_threshold=0.9)
    with pytest.raises(ConfigError, match="min_call_rate"):
        widget.set_thresholds(min_call_rate=1.5)
    # as the browser does it: the trait is set directly; the widget reverts it and says why
    widget.thresholds = {**widget.thresholds, "min_call_rate": -1}
    assert widget.thresholds["min_call_rate"] == 0.95
    assert widget.status.startswith("Not applied") and "min_call_rate" in widget.status
    assert set(widget.flagged_samples()) == BASE_FAIL


def test_stratum_view_limits_table_and_histograms(widget: QcExplorer) -> None:
    assert widget.strata_options == {"batch": ["B1", "B2"]}
    widget.view_by = "batch"
    assert widget.view_value == "B1"  # the first value is chosen
    assert widget.n_flagged_view == 3  # s00..s02 (s03 to review)
    widget.view_value = "B2"
    assert widget.n_flagged_view == 3 and widget.n_flagged == 6
    assert [row["sample_id"] for row in widget.flagged] == ["s07", "s10", "s11"]
    assert all(row["stratum"] == "B2" for row in widget.flagged)
    hist = next(h for h in widget.histograms if h["key"] == "call_rate")
    assert hist["n"] == 6 and sum(hist["hit"]) == 2


def test_strata_in_thresholds_give_per_batch_bounds() -> None:
    tables = _tables()
    w = QcExplorer(**tables, thresholds={**SMALL, "strata": ["batch"], "min_stratum_size": 6})
    # B1 het rates .300 .301 .302 .303 .330 .400: median .3025, deviations .0005 .0005 .0015 .0025 .0275 .0975:
    # MAD .002 * 1.4826 = .0029652, k=4: [0.290639, 0.314361]. B2 (.304-.309): MAD .0022239, nothing flagged.
    w.view_by = "batch"
    hist = next(h for h in w.histograms if h["key"] == "het_rate")
    assert [round(line["value"], 6) for line in hist["lines"]] == [0.290639, 0.314361]
    assert [s for s, r in reasons_of(w).items() if "het_outlier" in r] == ["s00", "s01"]


def test_save_writes_yaml_that_round_trips(widget: QcExplorer, tmp_path: Path) -> None:
    write_project_file(tmp_path, ProjectConfig(name="qc-review"))
    w = QcExplorer(**_tables(), thresholds=SMALL, project=tmp_path)
    w.set_thresholds(min_call_rate=0.975, het_mad_k=5.5)
    with pytest.raises(ConfigError, match="reviewer"):
        w.save()
    assert not (tmp_path / "params" / "wgs_qc.yaml").exists()
    path = w.save(reviewer="Ada Reviewer", note="raised call rate: batch B2 sequenced shallow")
    assert path == tmp_path / "params" / "wgs_qc.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(doc) == {"thresholds", "reviewer", "date", "note"}
    assert doc["reviewer"] == "Ada Reviewer" and doc["note"].startswith("raised call rate")
    assert doc["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    th = QcThresholds.model_validate(doc["thresholds"])
    assert th == w.qc_thresholds
    reviewed = load_reviewed_thresholds(path)  # the reader of the WGS QC notebook
    assert reviewed.thresholds == th and reviewed.reviewer == "Ada Reviewer" and reviewed.note == doc["note"]
    assert (th.min_call_rate, th.het_mad_k, th.outlier_metrics) == (0.975, 5.5, ["r_ti_tv"])
    assert sorted(p.name for p in (tmp_path / "params").iterdir()) == ["wgs_qc.yaml"]  # no temp file left
    # a widget built from the saved thresholds flags the same samples
    again = QcExplorer(**_tables(), thresholds=th)
    assert set(again.flagged_samples()) == set(w.flagged_samples()) == BASE_FAIL | {"s08", "s09"}


def test_the_page_save_message_saves_what_the_page_shows(tmp_path: Path) -> None:
    """ipywidgets holds state updates back while the kernel is busy, custom messages it does not: the save
    message can arrive before the note or the last threshold, so it carries them (a CI run saved an empty note)."""
    write_project_file(tmp_path, ProjectConfig(name="qc-review"))
    w = QcExplorer(**_tables(), thresholds=SMALL, project=tmp_path)
    path = tmp_path / "params" / "wgs_qc.yaml"
    shown = {**w.thresholds, "min_call_rate": 1.5}  # refused: nothing is saved, and the page says why
    w._on_custom_msg(w, {"type": "save", "reviewer": "Ada", "note": "n", "thresholds": shown}, None)
    assert not path.exists() and w.status.startswith("Not saved: ") and "min_call_rate" in w.status
    assert w.thresholds["min_call_rate"] == 0.95  # the default is kept
    assert w.reviewer == "" and w.note == ""  # neither the trait updates nor the save reached the kernel

    shown = {**w.thresholds, "min_call_rate": 0.975}
    w._on_custom_msg(w, {"type": "save", "reviewer": "Ada", "note": "call rate raised", "thresholds": shown}, None)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert (doc["reviewer"], doc["note"]) == ("Ada", "call rate raised")
    assert QcThresholds.model_validate(doc["thresholds"]).min_call_rate == 0.975 == w.qc_thresholds.min_call_rate
    assert set(w.flagged_samples()) == BASE_FAIL | {"s08", "s09"}  # the flags follow the saved thresholds
    assert w.status == f"Saved to {path}"
    # a save message from an older page (no fields) saves the kernel's own state, as before
    w._on_custom_msg(w, {"type": "save"}, None)
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["note"] == "call rate raised"


def test_without_project_save_is_refused(widget: QcExplorer) -> None:
    assert widget.can_save is False
    with pytest.raises(ConfigError, match="project"):
        widget.save(reviewer="Ada")


def test_from_run_qc_result_matches_a_rerun_at_new_thresholds(small_project: Path, tmp_path: Path) -> None:
    """Widget decisions after a change equal run_qc's at the new thresholds (sex is re-imputed there)."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.project import load_project
    from pmo_workbench.qc.pipeline import run_qc

    project = load_project(small_project)
    g = open_genotypes(project.source("genotypes"), cache_dir=tmp_path / "cache")
    manifest, ped = project.source("manifest"), project.source("pedigree")
    start = {"strata": ["batch"]}
    result = run_qc(g, manifest=manifest, pedigree=ped, thresholds=start)
    w = QcExplorer(result, manifest=manifest)
    assert w.flagged_samples() == result.decisions.loc[~result.decisions["pass"], "sample_id"].tolist()
    change = {"min_call_rate": 0.99, "female_threshold": 0.3, "male_threshold": 0.6, "duplicate_kinship": 0.3}
    w.set_thresholds(**change)
    rerun = run_qc(g, manifest=manifest, pedigree=ped, thresholds={**start, **change})
    pd.testing.assert_frame_equal(w.decisions, rerun.decisions)
    assert set(w.flagged_samples()) != set(result.decisions.loc[~result.decisions["pass"], "sample_id"])


def test_sample_qc_and_decisions_only_keep_reasons_that_cannot_be_recomputed() -> None:
    tables = _tables()
    # decisions of an earlier run: s05 failed the sex check, s06 was a duplicate, s10 had a low call rate
    decisions = pd.DataFrame(
        {"sample_id": IDS, "pass": [s not in {"s05", "s06", "s10"} for s in IDS],
         "reasons": [["sex_mismatch"] if s == "s05" else ["duplicate"] if s == "s06" else
                     ["low_call_rate"] if s == "s10" else [] for s in IDS]}
    )
    w = QcExplorer(sample_qc=tables["sample_qc"], decisions=decisions, thresholds=SMALL)
    assert "female_threshold" not in w.thresholds and "duplicate_kinship" not in w.thresholds
    # recomputed: call rate (s10, s11) and het (s00, s01); carried over: s05 sex, s06 duplicate
    assert set(w.flagged_samples()) == {"s00", "s01", "s05", "s06", "s10", "s11"}
    w.set_thresholds(min_call_rate=0.9)
    r = reasons_of(w)
    assert r["s05"] == ["sex_mismatch"] and r["s06"] == ["duplicate"] and r["s10"] == []
    assert w.n_newly_passing == 1 and w.n_newly_flagged == 2  # s10 passes; s00, s01 were not in the run's list


def test_read_level_metrics_join_the_widget_decisions() -> None:
    """Read-level metrics (#14): the widget fails low coverage and contamination as run_qc does, and its
    controls move those thresholds; without metrics the controls are absent."""
    rm = pd.DataFrame({"mean_coverage": [31.0] * 10 + [11.0, None], "contamination": [0.001] * 11 + [0.07]},
                      index=pd.Index(IDS, name="sample_id"))
    w = QcExplorer(**_tables(), thresholds={"outlier_metrics": ["r_ti_tv"]}, read_metrics=rm)
    names = {c["name"] for c in w.controls}
    assert {"min_mean_coverage", "max_contamination"} <= names
    r = reasons_of(w)
    assert "low_coverage" in r[IDS[10]] and "contamination" in r[IDS[11]]
    assert not any("low_coverage" in r[s] or "contamination" in r[s] for s in IDS[:10])
    w.set_thresholds(min_mean_coverage=10.0, max_contamination=0.1)
    r = reasons_of(w)
    assert not any("low_coverage" in r[s] or "contamination" in r[s] for s in IDS)
    assert not {"min_mean_coverage", "max_contamination"} & {c["name"] for c in QcExplorer(**_tables()).controls}


def test_a_metric_without_data_gets_no_empty_histogram() -> None:
    tables = _tables()
    tables["sample_qc"] = tables["sample_qc"].assign(dp_mean=np.nan)  # e.g. a GT-only VCF: no depth
    w = QcExplorer(**tables, thresholds={"outlier_metrics": ["r_ti_tv", "dp_mean"]})
    keys = [h["key"] for h in w.histograms]
    assert "metric:dp_mean" not in keys and "call_rate" in keys
    assert all(h["n"] > 0 for h in w.histograms)
