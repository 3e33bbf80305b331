"""QcExplorer in a real browser: JupyterLab + Debian's chromium (fixtures in tests/ui/conftest.py).

The notebook builds the widget from a hand-made QC result of 20 samples:

- call rates: S00..S13 0.999, S14 S15 0.97, S16 S17 0.96, S18 0.93, S19 0.90;
- het counts (of 1000 called): S00 400, S01..S19 300..318. Median 0.3095, MAD 0.005·1.4826, k=4 bounds
  [0.27985, 0.33915], k=5 (fail) upper 0.34657: only S00 is a het outlier (and fails) at every call-rate
  threshold used here (20 samples: the notebook lowers ``min_outlier_samples`` from a cohort's 30 to 10).

Flagged samples: at call rate 0.95 S18, S19 + S00 = 3; at 0.975 also S14..S17 = 7; at the slider's minimum
(0.8) only S00 = 1.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pmo_workbench.project import ProjectConfig, write_project_file
from pmo_workbench.qc.thresholds import QcThresholds

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

NOTEBOOK_CELLS = [
    "import pandas as pd\nfrom pmo_widgets import QcExplorer",
    """ids = [f"S{i:02d}" for i in range(20)]
call = [0.999] * 14 + [0.97, 0.97, 0.96, 0.96, 0.93, 0.90]
sample_qc = pd.DataFrame({"sample_id": ids, "call_rate": call, "n_called": 1000,
                          "n_het": [400] + [300 + i for i in range(19)], "r_ti_tv": 2.0})
manifest = pd.DataFrame({"sample_id": ids, "batch": ["B1"] * 10 + ["B2"] * 10})""",
    """w = QcExplorer(sample_qc=sample_qc, manifest=manifest,
               thresholds={"outlier_metrics": ["r_ti_tv"], "min_outlier_samples": 10}, project=PROJECT)
w""",
]


def count_text(page) -> str:  # noqa: ANN001 - a playwright Page
    return page.locator("[data-testid=qc-flagged-count]").inner_text()


def wait_for_count(page, expected: str, timeout: float = 10.0) -> None:  # noqa: ANN001
    page.wait_for_function(
        "n => document.querySelector('[data-testid=qc-flagged-count]')?.textContent === n",
        arg=expected,
        timeout=timeout * 1000,
    )


def test_moving_thresholds_in_the_page_changes_the_flagged_count_and_save_writes_yaml(lab) -> None:  # noqa: ANN001
    project = lab.server.root_dir / "qcproj"
    write_project_file(project, ProjectConfig(name="qc-browser"))
    cells = [NOTEBOOK_CELLS[0], f"PROJECT = {str(project)!r}\n" + NOTEBOOK_CELLS[1], NOTEBOOK_CELLS[2]]
    lab.server.write_notebook("qc_explorer.ipynb", cells)
    lab.open_notebook("qc_explorer.ipynb")
    lab.run_all()
    page = lab.page
    page.locator("[data-testid=qc-flagged-count]").wait_for(timeout=15_000)
    assert lab.cell_errors() == []
    wait_for_count(page, "3")
    # histograms are drawn: one SVG per metric, with the call-rate threshold line at 0.95
    assert page.locator(".pmo-qc-figure").count() >= 3
    line = page.locator("[data-metric=call_rate] line.pmo-qc-threshold")
    assert line.get_attribute("data-value") == "0.95"

    # the number box: type a value and commit it (change event), as a user does with Enter/Tab
    number = page.locator("input[type=number][data-threshold=min_call_rate]")
    number.fill("0.975")
    number.dispatch_event("change")
    wait_for_count(page, "7")
    assert page.locator("[data-testid=qc-flagged-table] tbody tr").count() == 7
    assert page.locator("[data-metric=call_rate] line.pmo-qc-threshold").get_attribute("data-value") == "0.975"

    # the slider, with the keyboard: Home moves it to its minimum (0.8)
    slider = page.locator("input[type=range][data-threshold=min_call_rate]")
    slider.focus()
    page.keyboard.press("Home")
    wait_for_count(page, "1")
    assert page.locator("[data-testid=qc-flagged-table] tbody tr td").first.inner_text() == "S00"

    # an invalid value (call rate above 1) is refused by the kernel: the box reverts, the page says why
    number.fill("1.5")
    number.dispatch_event("change")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=qc-status]')?.textContent.startsWith('Not applied')"
    )
    page.wait_for_function(
        "() => document.querySelector('input[type=number][data-threshold=min_call_rate]').value === '0.8'"
    )
    assert count_text(page) == "1"

    # per-stratum view: batch B1 holds the one flagged sample
    page.locator("[data-testid=qc-view-by]").select_option("batch")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=qc-flagged-view]')?.textContent.includes('1 in view')"
    )
    page.locator("[data-testid=qc-view-value]").select_option("B2")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=qc-flagged-view]')?.textContent.includes('0 in view')"
    )

    # review and save
    params = project / "params" / "wgs_qc.yaml"
    assert not params.exists()
    page.locator("[data-testid=qc-reviewer]").fill("Ada Lovelace")
    page.locator("[data-testid=qc-note]").fill("call rate lowered after review of batch B2")
    page.locator("[data-testid=qc-save]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=qc-status]')?.textContent.startsWith('Saved to')"
    )
    doc = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert doc["reviewer"] == "Ada Lovelace"
    assert doc["note"] == "call rate lowered after review of batch B2"
    assert doc["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    th = QcThresholds.model_validate(doc["thresholds"])
    assert th.min_call_rate == pytest.approx(0.8) and th.outlier_metrics == ["r_ti_tv"]
