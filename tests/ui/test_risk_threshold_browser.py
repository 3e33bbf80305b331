"""RiskThreshold in a real browser: JupyterLab + Debian's chromium (fixtures in tests/ui/conftest.py).

Hand-made risks of 10 persons (3 cases). At 0.3 the flagged are .9(case) .4(case) .35 .5 .3: sensitivity 66.7 %,
PPV 40.0 %, 500 flagged per 1,000; at 0.6 only .9: PPV 100.0 %, 100 per 1,000; at the slider's minimum (0.005)
everyone: sensitivity 100.0 %, 1000 per 1,000.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CELLS = [
    "import numpy as np\nfrom pmo_widgets import RiskThreshold",
    """y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
risk = np.array([.9, .4, .35, .1, .5, .2, .05, .3, .1, .15])
w = RiskThreshold(y, risk, threshold=0.3, title="MI within 10 years")
w""",
]


def text(page, testid: str) -> str:  # noqa: ANN001 - a playwright Page
    return page.locator(f"[data-testid={testid}]").inner_text()


def wait_for(page, testid: str, expected: str) -> None:  # noqa: ANN001
    page.wait_for_function(
        "([id, v]) => document.querySelector(`[data-testid=${id}]`)?.textContent === v",
        arg=[testid, expected], timeout=10_000)


def test_threshold_changes_in_the_page_update_the_metrics(lab) -> None:  # noqa: ANN001
    lab.server.write_notebook("risk_threshold.ipynb", CELLS)
    lab.open_notebook("risk_threshold.ipynb")
    lab.run_all()
    page = lab.page
    page.locator("[data-testid=rt-sensitivity]").wait_for(timeout=15_000)
    assert lab.cell_errors() == []
    wait_for(page, "rt-sensitivity", "66.7 %")
    assert text(page, "rt-ppv") == "40.0 %" and text(page, "rt-flagged") == "500"
    assert page.locator("[data-testid=rt-curve] path").count() == 2
    assert page.locator("[data-testid=rt-histogram] rect").count() > 10

    box = page.locator("[data-testid=rt-input]")
    box.fill("0.6")
    box.dispatch_event("change")
    wait_for(page, "rt-ppv", "100.0 %")
    assert text(page, "rt-flagged") == "100" and text(page, "rt-counts") == "1 / 0 / 2 / 7"

    slider = page.locator("[data-testid=rt-slider]")
    slider.focus()
    page.keyboard.press("Home")
    wait_for(page, "rt-sensitivity", "100.0 %")
    assert text(page, "rt-flagged") == "1000"
