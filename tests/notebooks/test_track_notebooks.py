"""Every track notebook runs with papermill on a synthetic project, passes nbval as stored, and is stored stripped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from pmo_workbench.cli import NOTEBOOKS_DIR, available_tracks
from pmo_workbench.runner import run_track

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs_and_has_parameters(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert "project" in tagged[0].source and "mode" in tagged[0].source


def test_every_track_notebook_is_runnable_by_pmo():
    names = {p.stem for p in NOTEBOOKS}
    assert "overview" in names
    assert set(available_tracks()) == names, "every notebook needs a parameter class in pmo_workbench.params"


@pytest.mark.parametrize("track", available_tracks())
def test_track_runs_with_papermill_and_writes_a_report(writable_project, track):
    preset = NOTEBOOKS_DIR / "params" / f"{track}.demo.yaml"
    record = run_track(track, writable_project, {}, params_file=preset if preset.exists() else None,
                       timeout_s=900)
    # the demo preset's cohort has genome rules and the project no WGS QC run yet: finished, but incomplete
    expected = "incomplete" if track == "cohort_selection" else "succeeded"
    assert record.status == expected, record.error
    if expected == "incomplete":
        assert record.exit_code == 3
        assert any("no succeeded WGS QC run" in r for r in record.incomplete_reasons), record.incomplete_reasons
    html = Path(record.report_path).read_text(encoding="utf-8")
    assert "import pmo_workbench" not in html and "from pmo_workbench" not in html  # no code in the report
    run = json.loads((Path(record.run_dir) / "run.json").read_text())
    assert run["status"] == expected and run["track"] == track
    index = (writable_project / "runs" / "index.html").read_text(encoding="utf-8")
    assert Path(record.report_path).relative_to(writable_project / "runs").as_posix() in index


def test_overview_export_mode_suppresses_every_small_count(writable_project):
    record = run_track("overview", writable_project, {}, mode="export", timeout_s=900)
    assert record.status == "succeeded", record.error
    tables = sorted(Path(record.run_dir).glob("*.parquet"))
    assert {t.stem for t in tables} >= {"persons_by_region_sex", "samples_by_batch", "specimens_by_biobank",
                                        "linkage", "registry_coverage"}
    min_count = 5
    suppressed_somewhere = False
    for table in tables:
        df = pd.read_parquet(table)
        for col in df.select_dtypes("number").columns:
            values = df[col].dropna()
            if col in ("year",):
                continue
            small = values[(values > 0) & (values < min_count)]
            assert small.empty, f"{table.name}:{col} shows counts below {min_count}: {small.tolist()}"
            suppressed_somewhere |= df[col].isna().any()
    assert suppressed_somewhere, "the small synthetic project must have some small cells to suppress"
    internal = run_track("overview", writable_project, {}, mode="internal", timeout_s=900)
    small_internal = pd.read_parquet(Path(internal.run_dir) / "samples_by_batch.parquet")
    assert small_internal.select_dtypes("number").notna().all().all()


def test_notebooks_pass_nbval_as_stored(writable_project, tmp_path):
    """nbval runs copies of the stored notebooks in a scratch folder (they write nothing: output_dir is None)."""
    scratch = tmp_path / "notebooks"
    scratch.mkdir()
    for nb in NOTEBOOKS:
        shutil.copyfile(nb, scratch / nb.name)
    env = dict(os.environ, PMO_PROJECT=str(writable_project), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
           "-o", "addopts=", "--rootdir", str(scratch), *[nb.name for nb in NOTEBOOKS]]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=scratch, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and " failed" not in res.stdout


def test_tight_memory_limit_ends_quickly_as_memory_limit_exceeded(writable_project):
    """`--memory-gb 0.3`: the overview cannot import its libraries under the limit; the run ends at once with
    "memory limit exceeded", not at the time limit and not as a timeout (#12 item 10)."""
    import time

    t0 = time.monotonic()
    record = run_track("overview", writable_project, {}, memory_gb=0.3, timeout_s=600)
    elapsed = time.monotonic() - t0
    assert record.status == "failed" and record.exit_code == 1, record.error
    assert record.error.type == "MemoryError"
    assert record.error.message.startswith("memory limit exceeded (0.3 GB, --memory-gb)")
    assert elapsed < 150, elapsed  # kernel start-up, a few cells and the report; never the 600 s limit
    assert "memory limit exceeded" in Path(record.report_path).read_text(encoding="utf-8")


def test_cohort_selection_without_a_definition_is_misconfigured(writable_project):
    """A configuration problem found inside a track notebook: exit code 2, status misconfigured, a short report
    with the problem and a fix at the top, no traceback, no empty headings after it (#13 item 1)."""
    for f in (writable_project / "cohorts").glob("*.y*ml"):
        f.unlink()
    record = run_track("cohort_selection", writable_project, {}, timeout_s=600)
    assert record.status == "misconfigured" and record.exit_code == 2, record.error
    assert record.error.type == "ConfigError"
    assert "no cohort definition given and the project has no cohorts/*.yaml" in record.error.message
    assert record.error.fix.startswith("Correct the file or setting named above, then run again: pmo run "
                                       "cohort_selection --project ")
    html = Path(record.report_path).read_text(encoding="utf-8")
    body = html.split("</style>")[-1]
    assert "This run is misconfigured" in body and "Traceback" not in body and "\x1b[" not in body
    assert "Table 1" not in body and "Pick list" not in body  # the headings after the failing cell are gone
    index = (writable_project / "runs" / "index.html").read_text(encoding="utf-8")
    assert 'class="run misconfigured"' in index
