"""The one disclosure layer (#9 item 4) and the export rule for means and SDs (#12 item 3): hand-computed cases,
and a grep that no notebook or track module decides disclosure itself any more."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import PrivacyError
from pmo_workbench.privacy import Disclosure

REPO = Path(__file__).resolve().parents[2]


def _six_persons_aged_85_86() -> pd.DataFrame:
    ages = np.array([85, 85, 85, 86, 86, 86])
    assert ages.mean() == 85.5 and round(ages.std(ddof=1), 4) == 0.5477
    return pd.DataFrame([("n", "", "n", 6, 120), ("age at index", "", "mean", ages.mean(), 61.37),
                         ("age at index", "", "sd", ages.std(ddof=1), 9.84)],
                        columns=["variable", "level", "statistic", "case", "control"])


def test_export_rounds_the_mean_and_hides_the_sd_of_a_narrow_small_group():
    t = _six_persons_aged_85_86()
    out = Disclosure("export", 5).table1(t).set_index(["variable", "statistic"])
    assert out.loc[("age at index", "mean"), "case"] == 86.0, "85.5 from 6 persons: rounded to whole years"
    assert pd.isna(out.loc[("age at index", "sd"), "case"]), "SD 0.55 < one step (1 year): a narrow group"
    # 120 controls: step 0.1 (5 / 120 = 0.042 -> 0.1)
    assert out.loc[("age at index", "mean"), "control"] == 61.4
    assert out.loc[("age at index", "sd"), "control"] == 9.8
    # internal mode keeps full precision
    inside = Disclosure("internal", 5).table1(t).set_index(["variable", "statistic"])
    assert inside.loc[("age at index", "mean"), "case"] == 85.5


def test_the_rounded_mean_no_longer_pins_down_the_count_at_each_age():
    """With the mean at full precision, 6 x 85.5 = 513 = 6 x 85 + 3: exactly three persons are 86. Rounded to
    86, the sum is only known within [513, 519): 3, 4, 5 or 6 persons of 86 all fit (a window of min_count)."""
    d = Disclosure("export", 5)
    shown = d.summary_statistic(85.5, n=6)
    step = d.rounding_step(6)
    fits = [k for k in range(7) if abs((6 * 85 + k) / 6 - shown) <= step / 2]
    assert len(fits) >= 4
    assert d.summary_statistic(85.5, n=4) is None, "a group under min_count shows no mean"
    assert d.summary_statistic(float("nan"), n=40) is None


@pytest.mark.parametrize(("n", "m", "step"), [(5, 5, 1.0), (6, 5, 1.0), (49, 5, 1.0), (50, 5, 0.1),
                                              (10_000, 5, 0.1), (99, 10, 1.0), (100, 10, 0.1), (6, 11, 10.0)])
def test_rounding_step_keeps_the_sum_window_at_least_min_count_wide(n, m, step):
    got = Disclosure("export", m).rounding_step(n)
    assert got == pytest.approx(step)
    assert n * got >= m or got == 0.1


def test_counts_record_hides_both_parts_of_a_total():
    d = Disclosure("export", 5)
    rec = d.counts_record({"samples": 40, "samples_passed": 37, "samples_failed": 3, "variants": 2},
                          parts=(("samples_passed", "samples_failed"),))
    assert rec == {"samples": 40, "samples_passed": None, "samples_failed": None, "variants": None}
    assert Disclosure("internal").counts_record({"a": 3}) == {"a": 3}


def test_individual_level_tables_and_files_are_refused_in_export(tmp_path):
    d = Disclosure("export", 5)
    with pytest.raises(PrivacyError, match="cohort.parquet"):
        d.write_table(pd.DataFrame({"person_id": ["p1"]}), tmp_path, "cohort", kind="individual")
    with pytest.raises(PrivacyError):
        d.write_text(tmp_path, "passing_samples.txt", "s1\n", kind="individual")
    assert list(tmp_path.iterdir()) == []
    assert Disclosure("internal").write_table(pd.DataFrame({"person_id": ["p1"]}), tmp_path, "cohort",
                                              kind="individual").exists()
    assert d.write_table(pd.DataFrame({"n": [3]}), None, "x") is None, "no output folder: nothing written"


def test_group_metrics_and_variant_rows():
    d = Disclosure("export", 5)
    perf = pd.DataFrame({"model": ["a", "a"], "split": ["s1", "s2"], "n": [100, 40], "events": [20, 3],
                         "auroc": [0.7, 0.9]})
    out = d.group_metrics(perf)
    assert out["auroc"].tolist()[0] == 0.7 and np.isnan(out["auroc"].tolist()[1])
    assert out["split"].tolist() == ["s1", "s2"]
    g = pd.DataFrame({"AF": [0.5, 0.01, 0.99, 0.025], "n": [100, 100, 100, 100]})
    assert d.variant_rows(g)["AF"].tolist() == [0.5, 0.025]  # MAC 100, 2, 2, 5


def test_mode_and_min_count_are_validated():
    with pytest.raises(ValueError, match="mode"):
        Disclosure("public", 5)
    with pytest.raises(ValueError, match="min_count"):
        Disclosure("export", 0)
    with pytest.raises(ValueError, match="kind"):
        Disclosure("export").release(pd.DataFrame(), "whatever")


# --------------------------------------------------------------------------- no disclosure rule elsewhere

OLD_HELPERS = ("disclose(", "disclose_attrition", "disclose_table1", "disclose_counts", "disclose_batch_metrics",
               "style_disclosed", "suppress_small_counts", "mode == \"export\"", "mode == 'export'",
               "mode != \"internal\"", "mode == \"internal\"", "mode != \"export\"", "min_count=min_count")
TRACK_MODULES = ("overview.py", "notebook.py", "plots.py", "qc/report.py", "cohort/report.py", "model/report.py",
                 "model/figures.py", "rendering.py")


def _code_cells(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("notebook", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_notebooks_hold_no_disclosure_rules(notebook):
    code = _code_cells(REPO / "notebooks" / notebook)
    found = [h for h in OLD_HELPERS if h in code]
    assert not found, f"{notebook} decides disclosure itself ({found}); use privacy.Disclosure"
    assert not re.search(r"\bmode\s*[!=]=", code), f"{notebook} tests the mode; ask the Disclosure object"
    assert "Disclosure" in code or "disclosure" in code


@pytest.mark.parametrize("module", TRACK_MODULES)
def test_track_modules_hold_no_disclosure_rules(module):
    text = (REPO / "pmo_workbench" / module).read_text()
    found = [h for h in OLD_HELPERS if h in text]
    assert not found, f"{module} decides disclosure itself ({found}); use privacy.Disclosure"
