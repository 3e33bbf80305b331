"""Each track's HTML report of a small synthetic project, opened in a real browser (Debian chromium via
Playwright): a full-page screenshot is kept in the artefacts folder (``PMO_UI_ARTIFACTS``, default
``<pytest basetemp>/ui-artifacts``), and the page shows no "nan", no raw traceback in a successful run, no pandas
index column and counts as integers (#13 item 7)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pmo_workbench.cli import NOTEBOOKS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (track, mode); wgs_qc first: the cohort and model tracks use its latest run
RUNS = [("wgs_qc", "internal"), ("overview", "export"), ("cohort_selection", "internal"),
        ("cohort_selection", "export"), ("model_development", "export")]
COUNT_HEADER = re.compile(r"^(n|persons|samples|events|specimens|count|deaths|pairs|passed|failed|"
                          r"n_samples|n_persons|n_removed|F|M)$")
INTEGER = re.compile(r"^(x|–|-?\d{1,3}(,\d{3})*)$")

TABLES_JS = """() => Array.from(document.querySelectorAll('table')).map(t => ({
  caption: t.caption ? t.caption.innerText : '',
  headers: Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()),
  body_th: t.querySelectorAll('tbody th').length,
  rows: Array.from(t.querySelectorAll('tbody tr')).map(tr => Array.from(tr.querySelectorAll('td')).map(
    td => td.innerText.trim())),
}))"""


def _pmo() -> str:
    exe = Path(sys.executable).with_name("pmo")
    return str(exe) if exe.exists() else "pmo"


@pytest.fixture(scope="module")
def reports(small_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    project = tmp_path_factory.mktemp("report_pages") / "project"
    shutil.copytree(small_project, project, symlinks=True)
    out: dict[tuple[str, str], Path] = {}
    for track, mode in RUNS:
        preset = NOTEBOOKS_DIR / "params" / f"{track}.demo.yaml"
        cmd = [_pmo(), "run", track, "--project", str(project), "--mode", mode, "--timeout", "900"]
        if preset.exists():
            cmd += ["-f", str(preset)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        assert res.returncode == 0, f"{track} {mode}: {res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        runs = sorted((project / "runs" / track).iterdir(), key=lambda p: p.name)
        record = json.loads((runs[-1] / "run.json").read_text())
        assert record["status"] == "succeeded"
        out[(track, mode)] = runs[-1] / "report.html"
    return out


@pytest.mark.parametrize(("track", "mode"), RUNS, ids=[f"{t}-{m}" for t, m in RUNS])
def test_report_page_reads_cleanly(reports, chromium, ui_artifacts, track, mode):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(reports[(track, mode)].as_uri(), wait_until="load")
        shot = ui_artifacts / f"report-{track}-{mode}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        text = page.inner_text("body")
        assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE), re.findall(r".{40}\bnan\b.{20}", text, re.I)
        assert "<NA>" not in text and "Traceback" not in text
        tables = page.evaluate(TABLES_JS)
        assert tables, "the report shows tables"
        for t in tables:
            where = t["caption"] or t["headers"]
            assert t["body_th"] == 0, f"index column in table {where}"
            assert all(h != "" for h in t["headers"]), f"an unnamed (index) column in table {where}"
            for j, h in enumerate(t["headers"]):
                if COUNT_HEADER.match(h):
                    cells = [r[j] for r in t["rows"] if j < len(r)]
                    bad = [c for c in cells if not INTEGER.match(c)]
                    assert not bad, f"counts that are not integers in {where}, column {h}: {bad[:5]}"
        if mode == "export":
            assert "individual-level" in text or "export" in text
    finally:
        page.close()
