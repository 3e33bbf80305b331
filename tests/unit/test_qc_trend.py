"""Batch trend: per-batch medians, control limits and drift flags against hand-computed values."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmo_workbench.project import ProjectConfig, load_project, write_project_file
from pmo_workbench.qc.trend import (
    check_batch_trend,
    compute_batch_metrics,
    compute_control_limits,
    load_batch_history,
    select_reference_batches,
    write_batch_metrics,
)


def test_batch_metrics_are_per_batch_medians_with_fail_rate():
    sqc = pd.DataFrame({
        "sample_id": ["a", "b", "c", "d", "e"],
        "call_rate": [0.99, 0.97, 0.95, 0.90, 0.98],
        "n_het": [10, 30, 20, 5, 8],
        "n_called": [100, 100, 100, 50, 100],
        "dp_mean": [30.0, 31.0, 20.0, np.nan, 22.0],
    })
    man = pd.DataFrame({"sample_id": ["a", "b", "c", "d", "e", "zz"], "batch": ["B1", "B1", "B1", "B2", "B2", "B9"]})
    dec = pd.DataFrame({"sample_id": ["a", "b", "c", "d", "e"], "pass": [True, True, False, False, True]})
    bm = compute_batch_metrics(sqc, man, dec).set_index("batch")
    assert bm.index.tolist() == ["B1", "B2"]  # only batches with samples in the QC table
    assert bm["n_samples"].tolist() == [3, 2]
    assert bm.loc["B1", "call_rate"] == pytest.approx(0.97)
    assert bm.loc["B2", "call_rate"] == pytest.approx(0.94)
    assert bm.loc["B1", "het_rate"] == pytest.approx(0.2)  # median of 0.1, 0.3, 0.2
    assert bm.loc["B2", "het_rate"] == pytest.approx(0.09)  # median of 0.1, 0.08
    assert bm.loc["B2", "dp_mean"] == pytest.approx(22.0)  # NaN ignored
    assert bm["fail_rate"].tolist() == pytest.approx([1 / 3, 0.5])
    assert "gq_mean" not in bm  # absent metrics are not invented


def test_control_limits_sd_and_mad_by_hand():
    ref = pd.DataFrame({"x": [10.0, 12.0, 14.0, 100.0]})
    sd = compute_control_limits(ref, ["x"], method="sd", k=3, rel_floor=0).iloc[0]
    assert sd["center"] == pytest.approx(34.0)
    assert sd["spread"] == pytest.approx(np.std([10, 12, 14, 100], ddof=1))
    assert sd["upper"] == pytest.approx(34.0 + 3 * sd["spread"])
    mad = compute_control_limits(ref, ["x"], method="mad", k=3, rel_floor=0).iloc[0]
    assert mad["center"] == pytest.approx(13.0)  # robust to the wild batch
    assert mad["spread"] == pytest.approx(1.4826 * 2.0)  # |dev| = 3, 1, 1, 87 -> median 2
    assert (mad["lower"], mad["upper"]) == pytest.approx((13 - 3 * 2.9652, 13 + 3 * 2.9652))


def test_too_few_reference_batches_give_no_limits_and_a_floor_guards_identical_ones():
    few = compute_control_limits(pd.DataFrame({"x": [1.0, 2.0]}), ["x"], min_batches=3).iloc[0]
    assert few["n_reference"] == 2 and np.isnan(few["lower"])
    same = compute_control_limits(pd.DataFrame({"x": [2.0, 2.0, 2.0]}), ["x"], rel_floor=0.01, k=3).iloc[0]
    assert same["spread"] == pytest.approx(0.02)
    assert (same["lower"], same["upper"]) == pytest.approx((1.94, 2.06))
    with pytest.raises(ValueError, match="method"):
        compute_control_limits(pd.DataFrame({"x": [1.0]}), ["x"], method="iqr")  # type: ignore[arg-type]


def _history(values: dict[str, float], started: str = "2026-01-01") -> pd.DataFrame:
    return pd.DataFrame({"batch": list(values), "call_rate": list(values.values()),
                         "run_started": pd.Timestamp(started, tz="UTC")})


def test_degraded_batch_is_flagged_and_a_normal_rerun_is_not():
    earlier = {"B1": 0.991, "B2": 0.987, "B3": 0.989, "B4": 0.993}
    history = _history(earlier)
    rerun = pd.DataFrame({"batch": list(earlier), "call_rate": list(earlier.values())})
    trend = check_batch_trend(rerun, history, metrics=["call_rate"])
    assert trend.drifting == [] and not trend.table["flagged"].any()
    assert trend.table["previous"].tolist() == list(earlier.values())
    degraded = rerun.assign(call_rate=[0.991, 0.987, 0.90, 0.993])
    bad = check_batch_trend(degraded, history, metrics=["call_rate"])
    assert bad.drifting == ["B3"]
    row = bad.flagged().iloc[0]
    assert (row["batch"], row["metric"], row["value"], row["previous"]) == ("B3", "call_rate", 0.90, 0.989)
    assert row["n_reference"] == 4


def test_first_run_flags_nothing():
    current = pd.DataFrame({"batch": ["B1"], "call_rate": [0.5]})
    trend = check_batch_trend(current, pd.DataFrame(columns=["batch", "run_started"]), metrics=["call_rate"])
    assert trend.drifting == [] and not trend.has_history


def test_a_batch_seen_in_several_runs_counts_once_with_its_latest_value():
    history = pd.concat([_history({"B1": 0.90, "B2": 0.99}, "2026-01-01"),
                         _history({"B1": 0.95}, "2026-02-01")], ignore_index=True)
    ref = select_reference_batches(history).set_index("batch")["call_rate"]
    assert ref.to_dict() == {"B1": 0.95, "B2": 0.99}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 1.0), min_size=3, max_size=10))
def test_rerunning_earlier_batches_unchanged_never_flags_them(values):
    # with n <= 10 reference points no point lies more than (n-1)/sqrt(n) < 3 sample SDs from their mean
    batches = {f"B{i}": v for i, v in enumerate(values)}
    current = pd.DataFrame({"batch": list(batches), "call_rate": list(batches.values())})
    assert check_batch_trend(current, _history(batches), metrics=["call_rate"], rel_floor=1e-9).drifting == []


def _fake_run(project, stamp: str, status: str, metrics: pd.DataFrame | None) -> Path:
    run_dir = project.runs_dir / "wgs_qc" / stamp
    run_dir.mkdir(parents=True)
    started = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    (run_dir / "run.json").write_text(json.dumps({
        "track": "wgs_qc", "status": status, "started": started.isoformat(), "ended": started.isoformat(),
        "duration_s": 1.0, "parameters": {}}))
    if metrics is not None:
        write_batch_metrics(metrics, run_dir)
    return run_dir


def test_history_reads_earlier_succeeded_runs_only(tmp_path):
    root = tmp_path / "p"
    write_project_file(root, ProjectConfig(name="trend_test"))
    project = load_project(root)
    _fake_run(project, "20260101T000000Z", "succeeded", pd.DataFrame({"batch": ["B1"], "call_rate": [0.99]}))
    _fake_run(project, "20260102T000000Z", "failed", pd.DataFrame({"batch": ["B2"], "call_rate": [0.5]}))
    _fake_run(project, "20260103T000000Z", "succeeded", None)  # an older run without the file
    own = _fake_run(project, "20260104T000000Z", "succeeded", pd.DataFrame({"batch": ["B3"], "call_rate": [0.9]}))
    hist = load_batch_history(project, exclude=own)
    assert hist["batch"].tolist() == ["B1"]
    assert hist["run_dir"].tolist() == ["20260101T000000Z"]
    assert sorted(load_batch_history(project)["batch"]) == ["B1", "B3"]
