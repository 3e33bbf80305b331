"""The report runner with real papermill runs of a fixture notebook on real kernels (docs/reference/runs.md).

Each run takes a few seconds (kernel start-up and HTML rendering), so runs are shared where a test only reads.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import numpy as np
import psutil
import pytest

from pmo_workbench.catalogue import write_catalogue
from pmo_workbench.errors import ConfigError, PrivacyError
from pmo_workbench.params import TRACK_PARAMS, TrackParams, register_track
from pmo_workbench.runner import RunRecord, latest_run, list_runs, run_track
from pmo_workbench.runner.execute import remove_stale_work_dirs
from pmo_workbench.runner.finish import move_into_place

FIXTURE_NB = Path(__file__).resolve().parents[1] / "notebooks" / "fixtures" / "runner_fixture.ipynb"
TRACK = "runner_fixture"
CPR_VALUE = "0101901234"  # the value the fixture builds at run time (1 Jan 1990)


class FixtureParams(TrackParams):
    action: Literal["ok", "fail", "sleep", "kill", "memory", "cpr", "config", "incomplete", "cpr_extra", "disk"] = "ok"
    n_rows: int = 3
    sleep_s: float = 0.0
    label: str = ""


@pytest.fixture(scope="module", autouse=True)
def _fixture_track():
    register_track(TRACK, FixtureParams)
    yield
    TRACK_PARAMS.pop(TRACK, None)


def _make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pmo.yaml").write_text("name: t\nprivacy: {synthetic: true}\n", encoding="utf-8")
    reg = root / "data" / "registry"
    reg.mkdir(parents=True)
    (reg / "person.csv").write_text("person_id,sex\nP1,F\nP2,M\n", encoding="utf-8")
    (reg / "lab.csv").write_bytes(b"x" * 3_000_000)  # larger than one hashing chunk
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return _make_project(tmp_path_factory.mktemp("proj") / "p")


def _run(project: Path, action: str = "ok", **kw) -> RunRecord:
    params = {"action": action, **kw.pop("params", {})}
    return run_track(TRACK, project, params, notebook=FIXTURE_NB, **kw)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()}


def _no_children_left(before: set[int]) -> list[psutil.Process]:
    """Processes started since ``before`` that still run (other fixtures' servers may live for the session)."""
    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            continue
    return alive


class _Rows(HTMLParser):
    """Catalogue rows: (classes, cells' text, hrefs)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "run" in (a.get("class") or "").split():
            self.rows.append({"class": a["class"].split(), "cells": [], "hrefs": [], "run": a.get("data-run")})
        elif tag == "td" and self.rows:
            self._cell = []
        elif tag == "a" and self.rows and self._cell is not None:
            self.rows[-1]["hrefs"].append(a["href"])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _catalogue_rows(project: Path) -> list[dict]:
    parser = _Rows()
    parser.feed((project / "runs" / "index.html").read_text(encoding="utf-8"))
    return parser.rows


@pytest.fixture(scope="module")
def good_run(project) -> RunRecord:
    return _run(project, params={"n_rows": 4})


# ------------------------------------------------------------------------------------------------ success


def test_good_run_report_has_outputs_but_no_code(good_run):
    assert good_run.status == "succeeded" and good_run.error is None
    html = good_run.report_path.read_text(encoding="utf-8")
    assert "wrote 4 rows, sum of squares = 14" in html  # 0 + 1 + 4 + 9
    assert "The last cell ran." in html  # markdown is kept
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', html)) == 1  # the figure, embedded
    assert "code-is-hidden" not in html and "def " not in html  # no code cell input
    assert "this cell is removed" not in html  # remove-cell tag honoured
    assert "pmo-error" not in html.split("</style>")[-1]  # no error banner on success
    # self-contained: no script, stylesheet or image fetched from anywhere
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"<link[^>]*stylesheet", html)
    assert not re.search(r"""(src|href)=["']https?:""", html)
    assert re.search(r"<header class=\"pmo-run pmo-succeeded\">", html)
    assert f">{TRACK} <span" in html and "internal" in html


def test_good_run_folder_name_and_content(good_run, project):
    assert good_run.run_dir.parent == (project / "runs" / TRACK).resolve()
    assert re.fullmatch(r"\d{8}T\d{6}Z", good_run.run_dir.name)
    names = sorted(p.name for p in good_run.run_dir.iterdir())
    assert names == ["report.html", "report.ipynb", "run.json", "run_extra.json", "squares.csv"]
    assert (good_run.run_dir / "squares.csv").read_text() == "i,square\n0,0\n1,1\n2,4\n3,9\n"
    # no hidden work folder is left behind
    assert [p.name for p in good_run.run_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_good_run_record(good_run, project):
    rec = json.loads((good_run.run_dir / "run.json").read_text(encoding="utf-8"))
    assert rec["track"] == TRACK and rec["status"] == "succeeded" and rec["error"] is None
    assert rec["project"] == {"name": "t", "path": str(project.resolve())}
    assert rec["parameters"] == {"project": str(project.resolve()), "mode": "internal",
                                 "output_dir": str(good_run.run_dir), "action": "ok", "n_rows": 4,
                                 "sleep_s": 0.0, "label": ""}
    assert rec["mode"] == "internal"
    from datetime import datetime
    started, ended = datetime.fromisoformat(rec["started"]), datetime.fromisoformat(rec["ended"])
    assert started.utcoffset().total_seconds() == 0
    assert abs((ended - started).total_seconds() - rec["duration_s"]) < 0.01 and rec["duration_s"] > 0
    assert good_run.run_dir.name == started.strftime("%Y%m%dT%H%M%SZ")
    # inputs: pmo.yaml and the registry folder file by file, with independent checksums
    inputs = {i["path"]: i for i in rec["inputs"]}
    assert set(inputs) == {"pmo.yaml", "data/registry/person.csv", "data/registry/lab.csv"}
    for rel, item in inputs.items():
        assert item["sha256"] == _sha(project / rel)
        assert item["size"] == (project / rel).stat().st_size
    assert inputs["data/registry/lab.csv"]["sha256"] == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    # outputs: every file but run.json, with sizes and checksums
    outputs = {o["path"]: o for o in rec["outputs"]}
    assert set(outputs) == {"report.html", "report.ipynb", "run_extra.json", "squares.csv"}
    for rel, item in outputs.items():
        assert item["sha256"] == _sha(good_run.run_dir / rel)
        assert item["size"] == (good_run.run_dir / rel).stat().st_size
    # versions from the environment
    assert rec["versions"]["python"] == platform.python_version()
    assert rec["versions"]["numpy"] == np.__version__
    import pandas as pd
    import papermill
    assert rec["versions"]["pandas"] == pd.__version__
    assert rec["versions"]["papermill"] == papermill.__version__
    assert "hail" in rec["versions"] and "pyspark" in rec["versions"] and "java" in rec["versions"]
    assert rec["notebook"]["sha256"] == _sha(FIXTURE_NB)
    # fields the notebook added; a clash with a runner field is kept apart, never overriding it
    assert rec["definition_hash"] == "sha256:abc123"
    assert rec["extra"] == {"status": "not the runner's"}
    # the kernel ran the current interpreter
    assert Path(rec["kernel_python"]).resolve() == Path(sys.executable).resolve()
    assert rec["host"]["cpus"] >= 1 and rec["host"]["name"]


def test_good_run_executed_notebook_records_final_output_dir(good_run):
    import nbformat

    nb = nbformat.read(good_run.notebook_path, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert f'output_dir = "{good_run.run_dir}"' in injected[0].source
    assert ".tmp" not in injected[0].source


def test_good_run_catalogue_row(good_run, project):
    rows = [r for r in _catalogue_rows(project) if r["run"] == f"{TRACK}/{good_run.run_dir.name}"]
    assert len(rows) == 1
    row = rows[0]
    assert "succeeded" in row["class"]
    assert row["cells"][1:4] == [TRACK, "succeeded", "internal"]
    link = project / "runs" / row["hrefs"][0]
    assert link.resolve() == good_run.report_path


# ------------------------------------------------------------------------------------------------ failures


def test_failing_cell_keeps_earlier_run(project, good_run):
    before = _snapshot(good_run.run_dir)
    rec = _run(project, "fail")
    assert rec.status == "failed"
    assert rec.error.type == "ZeroDivisionError" and rec.error.message == "planned failure in the fixture"
    import nbformat

    nb = nbformat.read(rec.notebook_path, as_version=4)
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    assert "raise ZeroDivisionError" in cells[rec.error.cell_index].source
    assert cells[rec.error.cell_index].execution_count == rec.error.execution_count
    html = rec.report_path.read_text(encoding="utf-8")
    body = html.split("</style>")[-1]
    banner = body.index('class="pmo-error"')
    assert banner < body.index("wrote 3 rows")  # the error comes before every output
    assert "ZeroDivisionError: planned failure in the fixture" in body[banner:banner + 600]
    assert "pmo-run pmo-failed" in body
    assert json.loads((rec.run_dir / "run.json").read_text())["error"]["type"] == "ZeroDivisionError"
    # catalogue: a failed row linking this report; the earlier run is byte-for-byte and mtime untouched
    row = next(r for r in _catalogue_rows(project) if r["run"] == f"{TRACK}/{rec.run_dir.name}")
    assert "failed" in row["class"] and row["cells"][2] == "failed"
    assert (project / "runs" / row["hrefs"][0]).resolve() == rec.report_path
    assert _snapshot(good_run.run_dir) == before
    assert rec.run_dir != good_run.run_dir
    # later tracks read the latest *good* run
    assert latest_run(project, TRACK).run_dir == good_run.run_dir
    assert latest_run(project, TRACK, status="failed").run_dir == rec.run_dir
    assert latest_run(project, TRACK, status=None).run_dir == rec.run_dir
    assert latest_run(project, "no_such_track") is None


def test_timeout_stops_the_run(tmp_path):
    proj = _make_project(tmp_path / "p")
    before = _children()
    t0 = time.monotonic()
    rec = _run(proj, "sleep", params={"sleep_s": 300}, timeout_s=8)
    elapsed = time.monotonic() - t0
    assert rec.status == "timeout" and rec.exit_code == 4 and rec.error.type == "TimeoutError"
    assert "time limit of 8 s" in rec.error.message
    # killed at the limit (+ rendering the report, slower on a loaded machine), never the 300 s of the cell
    assert elapsed < 8 + 40, elapsed
    html = rec.report_path.read_text(encoding="utf-8")
    assert "TimeoutError" in html.split("</style>")[-1]
    assert json.loads((rec.run_dir / "run.json").read_text())["status"] == "timeout"
    assert "This run timed out" in html
    row = next(r for r in _catalogue_rows(proj) if r["run"] == f"{TRACK}/{rec.run_dir.name}")
    assert "timeout" in row["class"] and row["cells"][2] == "timeout"
    assert _no_children_left(before) == []  # worker and kernel are gone


def test_killed_kernel_is_a_failure_not_a_hang(tmp_path):
    proj = _make_project(tmp_path / "p")
    before = _children()
    t0 = time.monotonic()
    rec = _run(proj, "kill", timeout_s=120)
    assert time.monotonic() - t0 < 60
    assert rec.status == "failed" and rec.error.type == "DeadKernelError"
    import nbformat

    nb = nbformat.read(rec.notebook_path, as_version=4)
    assert "os.kill(os.getpid()" in nb.cells[rec.error.cell_index].source
    assert "DeadKernelError" in rec.report_path.read_text(encoding="utf-8")
    assert _no_children_left(before) == []


def test_memory_limit(tmp_path):
    proj = _make_project(tmp_path / "p")
    rec = _run(proj, "memory", memory_gb=1.0)  # the cell asks for 3 GiB
    assert rec.status == "failed" and rec.error.type == "MemoryError"
    assert rec.error.message == "memory limit exceeded (1 GB, --memory-gb)"
    assert rec.record["limits"]["memory_gb"] == 1.0
    assert (rec.run_dir / "squares.csv").exists()  # the kernel itself ran fine under the limit


def test_cpr_in_output_fails_and_is_removed(tmp_path, capfd):
    proj = _make_project(tmp_path / "p")
    rec = _run(proj, "cpr")
    assert rec.status == "failed" and rec.error.type == "PrivacyError"
    assert "persons.csv: column cpr_raw" in rec.error.message
    assert "report.ipynb: output of cell" in rec.error.message  # it was printed too
    assert not (rec.run_dir / "persons.csv").exists()
    assert "persons.csv" in rec.record["removed_outputs"]
    for f in [*rec.run_dir.rglob("*"), proj / "runs" / "index.html"]:
        if f.is_file():
            data = f.read_bytes()
            assert CPR_VALUE.encode() not in data and b"010190-1234" not in data, f
    assert CPR_VALUE not in capfd.readouterr().out
    html = rec.report_path.read_text(encoding="utf-8")
    assert "PrivacyError" in html and "persons.csv" in html
    assert (rec.run_dir / "squares.csv").exists()  # clean outputs stay


# ------------------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_rowz": 3}, "n_rowz: unknown parameter"),
        ({"n_rows": "many"}, "n_rows"),
        ({"output_dir": "/tmp/elsewhere"}, "output_dir: not a settable parameter"),
        ({"mode": "export"}, "use --mode"),
    ],
)
def test_bad_parameters_write_nothing(tmp_path, params, message):
    proj = _make_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_track(TRACK, proj, params, notebook=FIXTURE_NB)
    assert not (proj / "runs").exists()


def test_unknown_track_and_bad_params_file_write_nothing(tmp_path):
    proj = _make_project(tmp_path / "p")
    with pytest.raises(ConfigError, match="unknown track 'nope'"):
        run_track("nope", proj, notebook=FIXTURE_NB)
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_rows: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+: not valid YAML"):
        run_track(TRACK, proj, params_file=bad, notebook=FIXTURE_NB)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        run_track(TRACK, proj, params_file=listed, notebook=FIXTURE_NB)
    with pytest.raises(ConfigError, match="no notebook for track"):
        run_track(TRACK, proj, notebook=tmp_path / "missing.ipynb")
    with pytest.raises(PrivacyError, match="parameters") as info:
        run_track(TRACK, proj, {"label": "person 010190-1234"}, notebook=FIXTURE_NB)
    assert "1234" not in str(info.value)
    assert not (proj / "runs").exists()


def test_two_runs_two_folders_params_file_and_cli_override(tmp_path):
    proj = _make_project(tmp_path / "p")
    preset = tmp_path / "preset.yaml"
    preset.write_text("n_rows: 5\naction: ok\n", encoding="utf-8")
    first = run_track(TRACK, proj, params_file=preset, notebook=FIXTURE_NB)
    first_bytes = _snapshot(first.run_dir)
    second = run_track(TRACK, proj, {"n_rows": 2}, params_file=preset, notebook=FIXTURE_NB, mode="export")
    assert first.run_dir != second.run_dir and first.run_dir.parent == second.run_dir.parent
    assert (first.run_dir / "squares.csv").read_text().count("\n") == 6  # header + 5 rows from the file
    assert (second.run_dir / "squares.csv").read_text().count("\n") == 3  # -p wins over the file
    assert second.parameters["mode"] == "export" and second.mode == "export"
    assert {i["source"] for i in second.record["inputs"]} >= {"params_file", "pmo.yaml"}
    assert _snapshot(first.run_dir) == first_bytes
    runs = list_runs(proj)
    assert [r.run_dir for r in runs] == [second.run_dir, first.run_dir]  # newest first
    rows = _catalogue_rows(proj)
    assert [r["run"] for r in rows] == [f"{TRACK}/{second.run_dir.name}", f"{TRACK}/{first.run_dir.name}"]
    assert rows[0]["cells"][3] == "export"


def test_same_second_names_do_not_collide(tmp_path):
    """Two runs finishing with the same timestamp get ``<stamp>`` and ``<stamp>-2``."""
    track_dir = tmp_path / "runs" / "t"
    track_dir.mkdir(parents=True)
    stamp = "20261126T104350Z"
    made = []
    for k in range(3):
        tmp = track_dir / f".{stamp}.{k}.tmp"
        tmp.mkdir()
        (tmp / "table.csv").write_text(f"run {k}\n")
        (tmp / "report.ipynb").write_text(json.dumps({"output_dir": str(tmp)}))
        record = {"parameters": {"output_dir": str(tmp)}}
        made.append(move_into_place(tmp, track_dir, stamp, record))
    assert [p.name for p in made] == [stamp, f"{stamp}-2", f"{stamp}-3"]
    assert [(p / "table.csv").read_text() for p in made] == ["run 0\n", "run 1\n", "run 2\n"]
    for p in made:
        assert json.loads((p / "run.json").read_text())["run_dir"] == str(p)
        assert json.loads((p / "report.ipynb").read_text()) == {"output_dir": str(p)}


def test_catalogue_is_empty_but_valid_without_runs(tmp_path):
    proj = _make_project(tmp_path / "p")
    path = write_catalogue(proj)
    assert path == proj.resolve() / "runs" / "index.html"
    text = path.read_text(encoding="utf-8")
    assert "No runs yet" in text and _catalogue_rows(proj) == []


_RUNNER_SCRIPT = """
import sys
from pathlib import Path
from pmo_workbench.params import TrackParams, register_track
from pmo_workbench.runner import run_track

class P(TrackParams):
    action: str = "ok"
    n_rows: int = 3
    sleep_s: float = 0.0
    label: str = ""

register_track(sys.argv[3], P)
run_track(sys.argv[3], sys.argv[1], {"action": "sleep", "sleep_s": 300}, notebook=Path(sys.argv[2]), timeout_s=600)
"""


def test_killed_runner_leaves_no_kernel_and_its_work_folder_is_cleaned(tmp_path):
    import signal
    import subprocess

    proj = _make_project(tmp_path / "p")
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER_SCRIPT, str(proj), str(FIXTURE_NB), TRACK])
    procs: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            procs = psutil.Process(runner.pid).children(recursive=True)
            if any("ipykernel_launcher" in " ".join(p.cmdline()) for p in procs if p.is_running()):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the kernel never started")
        time.sleep(2)
        job = Path(next(p for p in procs if "pmo_workbench.runner.worker" in p.cmdline()).cmdline()[-1])
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    gone, alive = psutil.wait_procs(procs, timeout=15)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []  # the worker's watchdog killed the kernel and itself
    assert not job.parent.exists()  # and removed its scratch folder
    track_dir = proj / "runs" / TRACK
    work = [d.name for d in track_dir.iterdir()]
    assert len(work) == 1 and work[0].startswith(".")  # the unfinished run never became a run folder
    assert list_runs(proj, TRACK) == []
    remove_stale_work_dirs(track_dir)
    assert list(track_dir.iterdir()) == []


# ------------------------------------------------------------------------------------ statuses (#13 item 1)


def _body_text(html: str) -> str:
    body = html.split("</style>")[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_config_error_in_the_notebook_is_misconfigured_with_problem_and_fix(tmp_path):
    proj = _make_project(tmp_path / "p")
    rec = _run(proj, "config")
    assert rec.status == "misconfigured" and rec.exit_code == 2
    assert rec.error.type == "ConfigError"
    assert rec.error.message == "pmo.yaml: field sources.genotypes: the project has no genotypes"
    assert rec.error.fix == "set sources.genotypes in pmo.yaml, or run `pmo synth` for a demo project"
    html = rec.report_path.read_text(encoding="utf-8")
    text = _body_text(html)
    assert "This run is misconfigured" in text
    problem = text.index("Problem: pmo.yaml: field sources.genotypes: the project has no genotypes")
    fix = text.index("Fix: set sources.genotypes in pmo.yaml")
    assert problem < fix < text.index("wrote 3 rows")  # problem and fix first, then what ran before it
    assert "Traceback" not in html and "raise ConfigError" not in html and "\x1b[" not in html
    assert "The last cell ran." not in text and "After" not in text  # nothing after the failing cell
    saved = json.loads((rec.run_dir / "run.json").read_text())
    assert saved["status"] == "misconfigured" and saved["error"]["fix"].startswith("set sources.genotypes")
    row = next(r for r in _catalogue_rows(proj) if r["run"] == f"{TRACK}/{rec.run_dir.name}")
    assert "misconfigured" in row["class"] and row["cells"][2] == "misconfigured"
    assert "fix: set sources.genotypes" in row["cells"][-1]
    assert latest_run(proj, TRACK) is None  # never counts as a good run
    # asked for: the traceback stays in the report
    again = _run(proj, "config", show_traceback=True)
    assert again.status == "misconfigured"
    assert "Traceback" in again.report_path.read_text(encoding="utf-8")


def test_a_rule_that_could_not_be_applied_makes_the_run_incomplete_never_green(tmp_path):
    proj = _make_project(tmp_path / "p")
    rec = _run(proj, "incomplete")
    assert rec.status == "incomplete" and rec.exit_code == 3 and rec.error is None
    assert rec.incomplete_reasons == ["the genome rule was not applied: the project has no WGS QC run"]
    assert json.loads((rec.run_dir / "run.json").read_text())["incomplete"] == rec.incomplete_reasons
    text = _body_text(rec.report_path.read_text(encoding="utf-8"))
    assert text.index("This run is incomplete") < text.index("the genome rule was not applied") < \
        text.index("wrote 3 rows")
    assert "The last cell ran." in text  # it finished
    row = next(r for r in _catalogue_rows(proj) if r["run"] == f"{TRACK}/{rec.run_dir.name}")
    assert "incomplete" in row["class"] and "succeeded" not in row["class"]
    assert "the genome rule was not applied" in row["cells"][-1]
    assert latest_run(proj, TRACK) is None and latest_run(proj, TRACK, status="incomplete").run_dir == rec.run_dir


# ------------------------------------------------------------------------------- hardening (#12 items 3, 9, 10)


def test_cpr_like_value_in_the_extra_record_never_reaches_run_json(tmp_path):
    proj = _make_project(tmp_path / "p")
    rec = _run(proj, "cpr_extra")
    assert rec.status == "failed" and rec.error.type == "PrivacyError"
    assert "run_extra.json" in rec.error.message and "run_extra.json" in rec.record["removed_outputs"]
    assert "cohort_name" not in rec.record and "definition_hash" not in rec.record  # nothing of it was merged
    for f in [*rec.run_dir.rglob("*"), proj / "runs" / "index.html"]:
        if f.is_file():
            assert CPR_VALUE.encode() not in f.read_bytes(), f


def test_run_record_strings_and_keys_holding_cpr_like_values_are_withheld():
    from pmo_workbench.runner.scan import WITHHELD, withhold_cpr_in_record

    record = {"project": {"name": "p", "path": "/data/0101901234/p"}, "inputs": [{"path": "a.csv"}],
              "notes": {"010190-1234": 1}, "n": 101901234}
    withheld = withhold_cpr_in_record(record)
    assert withheld == ["project.path", "notes.…"]  # the key itself is not named
    assert record["project"] == {"name": "p", "path": WITHHELD} and record["notes"] == {"withheld_1": 1}
    assert record["n"] == 101901234 and record["inputs"] == [{"path": "a.csv"}]
    assert "0101901234" not in json.dumps(withheld)


def test_unwritable_run_folder_still_leaves_a_failed_report_and_catalogue_row(tmp_path, project, good_run):
    """A directory where the runner writes report.html: finishing fails with a real OSError (EISDIR), as a full disk
    or read-only folder (ENOSPC/EROFS) would at the same place; a minimal failed run takes the folder's place."""
    before = _snapshot(good_run.run_dir)
    rec = _run(project, "disk")
    assert rec.status == "failed" and rec.exit_code == 1 and rec.error.type == "OSError"
    assert "could not be written" in rec.error.message and "report.html" in rec.error.message
    assert rec.report_path.is_file() and "This run failed" in rec.report_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in rec.run_dir.iterdir()) == ["report.html", "run.json"]
    row = next(r for r in _catalogue_rows(project) if r["run"] == f"{TRACK}/{rec.run_dir.name}")
    assert "failed" in row["class"]
    assert [p.name for p in rec.run_dir.parent.iterdir() if p.name.startswith(".")] == []
    assert _snapshot(good_run.run_dir) == before


def test_runs_folder_that_cannot_be_created_is_one_line_input_error(tmp_path):
    from pmo_workbench.errors import InputError

    proj = _make_project(tmp_path / "p")
    (proj / "runs").write_text("a file where the runs folder should be\n")
    with pytest.raises(InputError, match=r"runs/runner_fixture: cannot create the run folder"):
        _run(proj)


@pytest.mark.parametrize("kw, field", [({"timeout_s": float("inf")}, "timeout_s"),
                                       ({"timeout_s": float("nan")}, "timeout_s"),
                                       ({"timeout_s": -1}, "timeout_s"),
                                       ({"memory_gb": float("inf")}, "memory_gb"),
                                       ({"memory_gb": float("nan")}, "memory_gb"),
                                       ({"memory_gb": 0}, "memory_gb")])
def test_limits_must_be_finite_and_positive(tmp_path, kw, field):
    proj = _make_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=f"field {field}: must be a finite number"):
        _run(proj, **kw)
    assert not (proj / "runs").exists()


def test_foreign_or_broken_run_json_is_skipped_with_a_warning(tmp_path):
    from pmo_workbench.catalogue import RunFileWarning, latest_run_dir

    proj = _make_project(tmp_path / "p")
    naive = proj / "runs" / TRACK / "20250101T000000Z"
    naive.mkdir(parents=True)
    (naive / "run.json").write_text(json.dumps({
        "track": TRACK, "status": "succeeded", "started": "2025-01-01T00:00:00", "ended": "2025-01-01T00:01:00",
        "duration_s": 60, "mode": "internal"}))
    broken = proj / "runs" / TRACK / "20250102T000000Z"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    with pytest.warns(RunFileWarning) as caught:
        rec = _run(proj)
    assert rec.status == "succeeded"  # a later run is not broken by them
    messages = sorted(str(w.message) for w in caught)
    assert any("20250101T000000Z" in m and "no time zone" in m for m in messages)
    assert any("20250102T000000Z" in m for m in messages)
    with pytest.warns(RunFileWarning):
        assert [r.run_dir for r in list_runs(proj)] == [rec.run_dir]
    assert [r["run"] for r in _catalogue_rows(proj)] == [f"{TRACK}/{rec.run_dir.name}"]
    assert latest_run_dir(proj, TRACK, needs=None) == rec.run_dir


# --------------------------------------------------------------------------------------- catalogue (#13 item 6)


def _fake_run(project: Path, track: str, name: str, status: str, extra: dict, outputs: list[str]) -> Path:
    d = project / "runs" / track / name
    d.mkdir(parents=True)
    started = f"{name[:4]}-{name[4:6]}-{name[6:8]}T{name[9:11]}:{name[11:13]}:{name[13:15]}+00:00"
    for o in outputs:
        (d / o).write_bytes(b"")
    (d / "run.json").write_text(json.dumps({
        "track": track, "status": status, "started": started, "ended": started, "duration_s": 1.0,
        "mode": "internal", "outputs": [{"path": o} for o in outputs], **extra}))
    return d


def test_catalogue_summaries_links_and_status_colours(tmp_path):
    import pandas as pd

    proj = _make_project(tmp_path / "p")
    _fake_run(proj, "wgs_qc", "20260101T000000Z", "succeeded",
              {"qc_counts": {"samples": 500, "samples_passed": 470}}, ["qc_decisions.parquet", "report.html"])
    _fake_run(proj, "cohort_selection", "20260102T000000Z", "incomplete",
              {"counts": {"cases": 40, "controls": None}, "incomplete": ["genome rules not applied"]},
              ["attrition.parquet"])
    md = _fake_run(proj, "model_development", "20260103T000000Z", "succeeded",
                   {"model_development": {"auroc_clinical": 0.71234}}, ["performance.parquet"])
    pd.DataFrame({"model": ["clinical", "clinical"], "split": ["pooled", "fold 1"], "n": [1200, 240]}
                 ).to_parquet(md / "performance.parquet")
    _fake_run(proj, "overview", "20260104T000000Z", "misconfigured",
              {"error": {"type": "ConfigError", "message": "no registry", "fix": "import one"}}, [])
    _fake_run(proj, "overview", "20260105T000000Z", "timeout",
              {"error": {"type": "TimeoutError", "message": "time limit"}}, [])
    write_catalogue(proj)
    rows = {r["run"]: r for r in _catalogue_rows(proj)}
    qc = rows["wgs_qc/20260101T000000Z"]
    assert qc["cells"][5] == "samples passing 470 of 500"
    assert qc["hrefs"] == ["wgs_qc/20260101T000000Z/report.html", "wgs_qc/20260101T000000Z/run.json",
                           "wgs_qc/20260101T000000Z/qc_decisions.parquet"]
    cohort = rows["cohort_selection/20260102T000000Z"]
    assert cohort["cells"][5] == "cases 40 · controls –" and "incomplete" in cohort["class"]
    assert "genome rules not applied" in cohort["cells"][6]
    assert rows["model_development/20260103T000000Z"]["cells"][5] == "persons 1200 · AUROC 0.712"
    assert "fix: import one" in rows["overview/20260104T000000Z"]["cells"][6]
    assert "timeout" in rows["overview/20260105T000000Z"]["class"]
    # every status has a colour of its own, and the legend explains them
    html = (proj / "runs" / "index.html").read_text(encoding="utf-8")
    colours = {s: re.search(rf"tr\.{s} \.status, \.legend \.{s} {{ color: (#[0-9a-f]{{6}}); }}", html).group(1)
               for s in ("succeeded", "incomplete", "misconfigured", "failed", "timeout")}
    assert len(set(colours.values())) == 5
    assert "stopped on a configuration or input problem" in html


def test_run_options_are_declared_once_and_unknown_ones_refused(tmp_path: Path) -> None:
    """run_track forwards its options to prepare_run; both accept exactly RunOptions' keys."""
    import inspect

    from pmo_workbench.runner import RunOptions, prepare_run

    for fn in (run_track, prepare_run):
        kinds = [p.kind for p in inspect.signature(fn).parameters.values()]
        assert kinds[-1] is inspect.Parameter.VAR_KEYWORD
    assert set(RunOptions.__annotations__) == {"params_file", "mode", "timeout_s", "memory_gb", "notebook",
                                                "progress", "show_traceback"}
    with pytest.raises(TypeError, match="unknown run option.*timeout\\b"):
        run_track(TRACK, tmp_path, timeout=5)
    assert not (tmp_path / "runs").exists()
