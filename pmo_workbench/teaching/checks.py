"""Exercise checks of the workshop sessions: each compares an answer with the library or the synthetic truth.

A check prints one line starting with a tick when the answer is right, and raises :class:`ExerciseNotSolved`
(an ``AssertionError``, so the notebook stops there and nbval fails) with a hint when it is not -- never with
the expected value, so the check cell does not give the answer away.

Examples
--------
>>> check("demo.sum", 3, None, values=(1, 2))
✓ demo.sum: correct
>>> check("demo.sum", 4, None, values=(1, 2))
Traceback (most recent call last):
...
pmo_workbench.teaching.checks.ExerciseNotSolved: demo.sum: not yet -- add the values
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class ExerciseNotSolved(AssertionError):
    """The answer of an exercise is missing or wrong (the message is a hint, never the answer)."""


_Expected = Callable[..., tuple[Any, str]]
EXERCISES: dict[str, _Expected] = {}
"""Exercise id -> function ``(project, **kwargs) -> (expected answer, hint)``."""


def exercise(name: str) -> Callable[[_Expected], _Expected]:
    """Register the expected-answer function of exercise ``name``."""
    def wrap(fn: _Expected) -> _Expected:
        EXERCISES[name] = fn
        return fn
    return wrap


def _same(answer: Any, expected: Any) -> bool:
    if answer is None:
        return False
    if isinstance(expected, set | frozenset):
        try:
            return {str(a) for a in answer} == {str(e) for e in expected}
        except TypeError:
            return False
    if isinstance(expected, float):
        try:
            return bool(np.isclose(float(answer), expected, rtol=1e-3, atol=1e-6))
        except (TypeError, ValueError):
            return False
    if isinstance(expected, tuple):
        return isinstance(answer, tuple | list) and len(answer) == len(expected) and all(
            _same(a, e) for a, e in zip(answer, expected, strict=True))
    if isinstance(expected, bool | np.bool_):
        return isinstance(answer, bool | np.bool_) and bool(answer) == bool(expected)
    if isinstance(expected, int | np.integer):
        return isinstance(answer, int | np.integer) and not isinstance(answer, bool) and int(answer) == int(expected)
    return answer == expected


def check(name: str, answer: Any, project: str | Path | None, **kwargs: Any) -> None:
    """Check the answer of exercise ``name`` on ``project``; print a tick or raise :class:`ExerciseNotSolved`."""
    if name not in EXERCISES:
        raise KeyError(f"unknown exercise {name!r} (known: {', '.join(sorted(EXERCISES))})")
    if answer is None or answer is Ellipsis:
        raise ExerciseNotSolved(f"{name}: no answer yet -- replace the ... with your code")
    fn = EXERCISES[name]
    if "answer" in inspect.signature(fn).parameters:  # the exercise judges the answer itself (e.g. a definition)
        kwargs = {**kwargs, "answer": answer}
    expected, hint = fn(project, **kwargs)
    if not _same(answer, expected):
        raise ExerciseNotSolved(f"{name}: not yet -- {hint}")
    print(f"✓ {name}: correct")


@exercise("demo.sum")
def _demo_sum(_project: Any, values: tuple[int, ...] = ()) -> tuple[int, str]:
    return sum(values), "add the values"


# -- shared, cached computations -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _qc(project: str, **thresholds: Any) -> Any:
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.project import load_project
    from pmo_workbench.qc import run_qc
    from pmo_workbench.qc.report import QC_FORMAT_FIELDS

    proj = load_project(project)
    # depth and GQ, as the workshop notebook opens the genotypes (sample_qc's dp_mean and gq_mean)
    g = open_genotypes(proj.path(proj.config.sources.genotypes), format_fields=QC_FORMAT_FIELDS)
    return g, run_qc(g, manifest=proj.path(proj.config.sources.manifest),
                     pedigree=proj.path(proj.config.sources.pedigree) if proj.config.sources.pedigree else None,
                     thresholds=thresholds or None)


# -- WGS QC --------------------------------------------------------------------------------------------------
@exercise("wgs_qc.size")
def _wgs_size(project: str | Path) -> tuple[tuple[int, int], str]:
    g, _ = _qc(str(project))
    return (g.n_samples, g.n_variants), "give (number of samples, number of variants) of the opened genotype set"


@exercise("wgs_qc.low_call_rate")
def _wgs_low_call(project: str | Path, below: float = 0.97) -> tuple[set[str], str]:
    _, res = _qc(str(project))
    sqc = res.sample_qc
    return set(sqc.loc[sqc["call_rate"] < below, "sample_id"]), \
        f"the sample_id of every row of sample_qc whose call_rate is below {below}"


@exercise("wgs_qc.sex_mismatch")
def _wgs_sex(project: str | Path) -> tuple[set[str], str]:
    _, res = _qc(str(project))
    dec = res.decisions
    return set(dec.loc[dec["reasons"].map(lambda r: "sex_mismatch" in r), "sample_id"]), \
        "the sample_id of every row of decisions whose reasons include sex_mismatch"


@exercise("wgs_qc.duplicates")
def _wgs_dups(project: str | Path, cutoff: float = 0.354) -> tuple[set[str], str]:
    _, res = _qc(str(project))
    kin = res.kinship
    pairs = kin[kin["kinship"] > cutoff]
    return set(pairs["sample_i"]) | set(pairs["sample_j"]), \
        f"both samples of every kinship row with kinship above {cutoff}"


@exercise("wgs_qc.n_failed")
def _wgs_failed(project: str | Path, **thresholds: Any) -> tuple[int, str]:
    _, res = _qc(str(project), **thresholds)
    return int((~res.decisions["pass"].astype(bool)).sum()), \
        "count the rows of decisions that do not pass" + (f" at {thresholds}" if thresholds else "")


# -- cohort selection ----------------------------------------------------------------------------------------
def _attrition(project: str | Path, definition: Any) -> pd.DataFrame:
    from pmo_workbench.cohort import select_cohort

    return select_cohort(project, definition).attrition


@exercise("cohort.first_mi")
def _cohort_first_mi(project: str | Path) -> tuple[int, str]:
    n = _attrition(project, {"name": "first_mi", "entry": {
        "domain": "diagnosis", "codes": ["DI21*"], "occurrence": "first",
        "date_range": ["2005-01-01", "2025-12-31"]}})["n_persons"].iloc[0]
    return int(n), "the persons after the entry step of a definition with DI21* as first diagnosis in 2005-2025"


@exercise("cohort.statin_definition")
def _cohort_statin(project: str | Path, answer: dict[str, Any] | None = None) -> tuple[Any, str]:
    expected = _attrition(project, {"name": "statins", "entry": {
        "domain": "prescription", "codes": ["C10AA*"], "occurrence": "first",
        "date_range": ["2010-01-01", "2024-12-31"]}, "criteria": [{"age_at_index": [40, 80]}]})
    got = _attrition(project, answer) if isinstance(answer, dict) else None
    same = got is not None and got["n_persons"].tolist() == expected["n_persons"].tolist()
    return (answer if same else object()), \
        "entry: first C10AA* prescription in 2010-2024; one criterion: age 40-80 at the index date"


@exercise("cohort.opted_out")
def _cohort_opted_out(project: str | Path) -> tuple[int, str]:
    from pmo_workbench.cohort import load_definition
    from pmo_workbench.cohort.definition import CONSENT_RULE

    att = _attrition(project, load_definition(Path(project) / "cohorts" / "statin_users.yaml"))
    return int(att.loc[att["rule"] == CONSENT_RULE, "n_removed"].iloc[0]), \
        "the n_removed of the Tissue Use Register step of the attrition"


# -- model development ---------------------------------------------------------------------------------------
@exercise("model.pgs_matched")
def _model_pgs(project: str | Path) -> tuple[int, str]:
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.model.pgs import score_pgs
    from pmo_workbench.project import load_project

    proj = load_project(project)
    g = open_genotypes(proj.path(proj.config.sources.genotypes))
    res = score_pgs(g, Path(project) / "data" / "pgs" / "mi_pgs.txt")
    rep = res.match_report.iloc[0]
    return int(rep["matched"] + rep["matched after flip"]), \
        "matched plus matched-after-flip variants of the match report"


@exercise("model.auroc")
def _model_auroc(_project: Any, y: Any = (), p: Any = ()) -> tuple[float, str]:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y), np.asarray(p))), "the AUROC point estimate of these predictions"


@exercise("model.net_benefit")
def _model_nb(_project: Any, y: Any = (), p: Any = (), threshold: float = 0.1) -> tuple[float, str]:
    y, p = np.asarray(y), np.asarray(p)
    flagged = p >= threshold
    tp, fp = np.sum(flagged & (y == 1)), np.sum(flagged & (y == 0))
    n = len(y)
    return float(tp / n - fp / n * threshold / (1 - threshold)), \
        f"net benefit = TP/n - FP/n * t/(1-t) at t = {threshold} (flag p >= t)"
