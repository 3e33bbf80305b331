"""CohortBuilder in a real browser: JupyterLab + Debian's chromium (fixtures in tests/ui/conftest.py).

The expected counts come from ``select_cohort`` on the same synthetic project, computed in the test process.
"""

from __future__ import annotations

import time

import pytest

from pmo_workbench.cohort import load_definition, select_cohort

pytestmark = pytest.mark.browser


def wait_for_text(page, testid: str, expected: str, timeout: float = 15.0) -> None:  # noqa: ANN001
    page.wait_for_function(
        "([id, n]) => document.querySelector(`[data-testid=${id}]`)?.textContent === n",
        arg=[testid, expected],
        timeout=timeout * 1000,
    )


def test_toggling_a_rule_in_the_page_changes_the_count_and_save_writes_the_definition(lab, writable_project):
    t0 = time.monotonic()
    reference = select_cohort(writable_project, load_definition(writable_project / "cohorts" / "statin_users.yaml"))
    n_all = int(reference.attrition["n_persons"].iloc[-1])
    n_without_ldl = int(reference.what_if(disable=["ldl_measured"]).attrition["n_persons"].iloc[-1])
    assert n_without_ldl != n_all, "the test needs a rule that changes the count"
    lab.server.write_notebook("cohort_builder.ipynb", [
        "from pmo_widgets import CohortBuilder",
        f"w = CohortBuilder({str(writable_project)!r}, 'statin_users')\nw",
    ])
    lab.open_notebook("cohort_builder.ipynb")
    lab.run_all()
    page = lab.page
    page.locator("[data-testid=cb-count]").wait_for(timeout=20_000)
    assert lab.cell_errors() == []
    wait_for_text(page, "cb-count", f"{n_all:,}")
    rows = page.locator("[data-testid=cb-attrition] tbody tr")
    assert rows.count() == len(reference.attrition)

    # switch the LDL rule off: the count becomes select_cohort's without that rule, its attrition row goes
    page.locator("input[data-rule=ldl_measured]").uncheck()
    wait_for_text(page, "cb-count", f"{n_without_ldl:,}")
    assert rows.count() == len(reference.attrition) - 1
    assert page.locator("[data-testid=cb-attrition] tr[data-rule=ldl_measured]").count() == 0
    # the consent rule cannot be switched off
    assert page.locator("input[data-rule='Tissue Use Register opt-out']").is_disabled()

    # the code picker: search the diagnosis codes of the exclusion rule, with descriptions
    page.locator("[data-testid=cb-target]").select_option("no_prior_mi")
    page.locator("[data-testid=cb-search]").fill("myocardial infarction")
    page.locator("[data-testid=cb-results] button[data-code=DI219]").wait_for(timeout=10_000)
    assert "Acute myocardial infarction" in page.locator("[data-testid=cb-results]").inner_text()

    # switch it on again, then off, and save under a new name
    page.locator("input[data-rule=ldl_measured]").check()
    wait_for_text(page, "cb-count", f"{n_all:,}")
    page.locator("input[data-rule=ldl_measured]").uncheck()
    wait_for_text(page, "cb-count", f"{n_without_ldl:,}")
    page.locator("[data-testid=cb-save-name]").fill("statin_no_ldl")
    page.locator("[data-testid=cb-save]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=cb-status]')?.textContent.startsWith('Saved to')")
    saved = load_definition(writable_project / "cohorts" / "statin_no_ldl.yaml")
    assert saved.name == "statin_no_ldl" and "ldl_measured" not in saved.criterion_names()
    assert select_cohort(writable_project, saved).attrition["n_persons"].iloc[-1] == n_without_ldl
    assert time.monotonic() - t0 < 60
