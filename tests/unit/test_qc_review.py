"""Reviewed QC thresholds: the params file (validation, atomic save) and the comparison with the earlier run."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pmo_workbench.errors import ConfigError
from pmo_workbench.project import ProjectConfig, load_project, write_project_file
from pmo_workbench.qc.review import (
    ReviewedThresholds,
    compare_decisions,
    compare_thresholds,
    load_reviewed_thresholds,
    resolve_reviewed_thresholds,
    review_thresholds,
    save_reviewed_thresholds,
    write_run_thresholds,
)
from pmo_workbench.qc.thresholds import QcThresholds


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    write_project_file(root, ProjectConfig(name="review_test"))
    return load_project(root)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_save_then_load_round_trips_only_changed_thresholds(project):
    th = QcThresholds(min_call_rate=0.97, strata=["batch"], mad_k=5.0)
    path = save_reviewed_thresholds(project, th, reviewer=" Ada Reviewer ", note="after B4",
                                    date=datetime.date(2026, 11, 20))
    assert path == project.params_dir / "wgs_qc.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw["thresholds"] == {"min_call_rate": 0.97, "mad_k": 5.0, "strata": ["batch"]}
    assert raw["reviewer"] == "Ada Reviewer" and raw["date"] == "2026-11-20"
    loaded = load_reviewed_thresholds(path)
    assert loaded.thresholds == th
    assert (loaded.reviewer, loaded.date, loaded.note) == ("Ada Reviewer", datetime.date(2026, 11, 20), "after B4")
    assert loaded.describe() == "reviewed by Ada Reviewer on 2026-11-20: after B4"
    assert [p.name for p in path.parent.iterdir()] == ["wgs_qc.yaml"]  # no temporary file left


def test_save_refuses_an_anonymous_review(project):
    with pytest.raises(ConfigError, match="reviewer"):
        save_reviewed_thresholds(project, QcThresholds(), reviewer="  ")
    assert not (project.params_dir / "wgs_qc.yaml").exists()


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("date: 2026-11-20\nthresholds: {}\n", "reviewer", None),
        ("reviewer: A\ndate: 20/11/2026\n", "date", 2),
        ("reviewer: A\ndate: 2026-11-20\nthresholds:\n  min_call_rate: 0.9\n  min_call_rat: 0.9\n",
         "thresholds.min_call_rat", 5),
        ("reviewer: A\ndate: 2026-11-20\nthresholds:\n  min_call_rate: 1.5\n", "thresholds.min_call_rate", 4),
        ("reviewer: A\ndate: 2026-11-20\nthreshold:\n  min_call_rate: 0.9\n", "threshold", 3),
    ],
)
def test_bad_thresholds_file_names_file_line_and_key(tmp_path, text, field, line):
    path = _write(tmp_path / "wgs_qc.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_reviewed_thresholds(path)
    assert err.value.field == field
    assert err.value.file == str(path)
    if line is not None:
        assert err.value.line == line


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    path = _write(tmp_path / "wgs_qc.yaml", "reviewer: A\ndate: 2026-11-20\nthresholds: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_reviewed_thresholds(path)
    assert err.value.line is not None and err.value.line >= 3


def test_resolution_order_named_file_then_project_file_then_defaults(project):
    assert resolve_reviewed_thresholds(project).reviewed is False
    assert resolve_reviewed_thresholds(project).thresholds == QcThresholds()
    save_reviewed_thresholds(project, {"min_call_rate": 0.9}, reviewer="P")
    assert resolve_reviewed_thresholds(project).thresholds.min_call_rate == 0.9
    _write(project.root / "other.yaml", "reviewer: Q\ndate: 2026-01-02\nthresholds: {min_call_rate: 0.8}\n")
    other = resolve_reviewed_thresholds(project, "other.yaml")
    assert (other.thresholds.min_call_rate, other.reviewer) == (0.8, "Q")
    with pytest.raises(ConfigError, match="not found"):
        resolve_reviewed_thresholds(project, "missing.yaml")


def test_compare_thresholds_lists_each_change_once():
    a = QcThresholds(strata=["batch"])
    b = QcThresholds(min_call_rate=0.97, strata=["batch", "sequencing_site"])
    changed = compare_thresholds(a, b).set_index("threshold")
    assert changed.to_dict("index") == {
        "min_call_rate": {"previous": "0.95", "current": "0.97"},
        "strata": {"previous": "batch", "current": "batch, sequencing_site"},
    }
    assert compare_thresholds(a, a).empty


def test_compare_decisions_ignores_samples_in_only_one_run():
    old = pd.DataFrame({"sample_id": ["a", "b", "c", "d"], "pass": [True, False, True, True],
                        "reasons": [[], ["duplicate"], [], []]})
    new = pd.DataFrame({"sample_id": ["a", "b", "c", "e"], "pass": [False, True, True, False],
                        "reasons": [["low_call_rate", "het_outlier"], [], [], ["duplicate"]]})
    fail, passed = compare_decisions(old, new)
    assert fail.to_dict("records") == [{"sample_id": "a", "previous_reasons": "",
                                        "reasons": "low_call_rate, het_outlier"}]
    assert passed.to_dict("records") == [{"sample_id": "b", "previous_reasons": "duplicate", "reasons": ""}]


def _fake_run(project, stamp: str, *, status: str = "succeeded", thresholds: QcThresholds | None = None,
              decisions: pd.DataFrame | None = None) -> Path:
    """A finished run folder as run_track leaves it (run.json + the notebook's outputs)."""
    run_dir = project.runs_dir / "wgs_qc" / stamp
    run_dir.mkdir(parents=True)
    started = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    (run_dir / "run.json").write_text(json.dumps({
        "track": "wgs_qc", "status": status, "started": started.isoformat(), "ended": started.isoformat(),
        "duration_s": 1.0, "parameters": {}, "mode": "internal"}))
    if thresholds is not None:
        write_run_thresholds(ReviewedThresholds(thresholds, "R", datetime.date(2026, 1, 1), "n", Path("x")),
                             run_dir)
    if decisions is not None:
        decisions.to_parquet(run_dir / "qc_decisions.parquet", index=False)
    return run_dir


def _decide(call_rate: pd.Series, threshold: float) -> pd.DataFrame:
    ok = call_rate >= threshold
    return pd.DataFrame({"sample_id": call_rate.index, "pass": ok.to_numpy(),
                         "reasons": [[] if v else ["low_call_rate"] for v in ok]})


def test_review_lists_exactly_the_samples_a_raised_threshold_fails(project):
    call_rate = pd.Series({"S1": 0.999, "S2": 0.975, "S3": 0.962, "S4": 0.951, "S5": 0.94, "S6": 0.99})
    _fake_run(project, "20260101T000000Z", thresholds=QcThresholds(min_call_rate=0.95),
              decisions=_decide(call_rate, 0.95))
    _fake_run(project, "20260201T000000Z", status="failed")  # failed runs are never the reference
    current = QcThresholds(min_call_rate=0.97)
    review = review_thresholds(project, current, _decide(call_rate, 0.97))
    assert review.previous_run.run_dir.name == "20260101T000000Z"
    assert review.previous.reviewer == "R"
    assert review.changed["threshold"].tolist() == ["min_call_rate"]
    assert sorted(review.newly_failing["sample_id"]) == ["S3", "S4"]
    assert review.newly_passing.empty
    # lowering it again: the same two pass again, compared with the newer run
    _fake_run(project, "20260301T000000Z", thresholds=current, decisions=_decide(call_rate, 0.97))
    back = review_thresholds(project, QcThresholds(min_call_rate=0.95), _decide(call_rate, 0.95))
    assert back.previous_run.run_dir.name == "20260301T000000Z"
    assert sorted(back.newly_passing["sample_id"]) == ["S3", "S4"] and back.newly_failing.empty


def test_review_without_history_or_without_decisions(project):
    first = review_thresholds(project, QcThresholds(), _decide(pd.Series({"a": 1.0}), 0.9))
    assert first.previous_run is None and not first.thresholds_changed
    own = _fake_run(project, "20260101T000000Z", thresholds=QcThresholds(min_call_rate=0.9))  # export: no table
    review = review_thresholds(project, QcThresholds(), _decide(pd.Series({"a": 1.0}), 0.95))
    assert review.decisions_available is False
    assert any("export" in n for n in review.notes)
    assert review.changed["threshold"].tolist() == ["min_call_rate"]
    assert review_thresholds(project, QcThresholds(), _decide(pd.Series({"a": 1.0}), 0.95),
                             exclude_run=own).previous_run is None
