"""Matched controls (risk-set sampling without replacement) and the unrelated-persons step.

Controls are drawn per case, cases taken in order of index date (then person_id): the eligible candidates of a
case (already matched and checked against the rules in SQL, see :mod:`pmo_workbench.cohort.selection`) are
sorted by person_id, shuffled with ``numpy.random.default_rng(seed)`` and taken in that order, skipping anyone
already used as a control (without replacement) and, when ``related`` is given, anyone related to a kept case or
an already chosen control, until ``ratio`` are found. A case may get fewer than ``ratio`` controls; it keeps its
``matched_set``.

Unrelated persons: a greedy maximal independent set -- repeatedly keep the person with the fewest remaining
relatives (ties broken by person_id), drop their relatives -- run first over the cases, so a case is never
dropped for a control.

Examples
--------
>>> import pandas as pd
>>> pairs = pd.DataFrame({"person_a": ["a", "b"], "person_b": ["b", "c"]})
>>> sorted(select_unrelated(["a", "b", "c"], pairs))
['a', 'c']
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import numpy as np
import pandas as pd


def build_relatives(pairs: pd.DataFrame) -> dict[str, set[str]]:
    """Adjacency sets from a ``person_a, person_b`` pair table (symmetric)."""
    rel: dict[str, set[str]] = {}
    for a, b in zip(pairs["person_a"].astype(str), pairs["person_b"].astype(str), strict=True):
        if a == b:
            continue
        rel.setdefault(a, set()).add(b)
        rel.setdefault(b, set()).add(a)
    return rel


def select_unrelated(persons: Iterable[str], pairs: pd.DataFrame | dict[str, set[str]]) -> set[str]:
    """A maximal set of mutually unrelated persons (greedy, fewest relatives first).

    Parameters
    ----------
    persons
        The persons to choose from.
    pairs
        Related pairs (``person_a, person_b``) or adjacency sets from :func:`build_relatives`.
    """
    rel = build_relatives(pairs) if isinstance(pairs, pd.DataFrame) else pairs
    remaining = set(persons)
    degree = {p: len(rel.get(p, set()) & remaining) for p in remaining}
    # A heap of (degree, person) with stale entries skipped: degrees only fall, so the first entry that is still
    # current is the minimum over the remaining persons (the same choice as a scan, in O(n log n)).
    heap = [(d, p) for p, d in degree.items()]
    heapq.heapify(heap)
    kept: set[str] = set()
    while heap:
        d, p = heapq.heappop(heap)
        if p not in remaining or d != degree[p]:
            continue
        kept.add(p)
        gone = (rel.get(p, set()) & remaining) | {p}
        remaining -= gone
        for g in gone:
            for q in rel.get(g, set()) & remaining:
                degree[q] -= 1
                heapq.heappush(heap, (degree[q], q))
    return kept


def sample_controls(cases: pd.DataFrame, candidates: pd.DataFrame, *, ratio: int, seed: int,
                    related: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Draw up to ``ratio`` controls per case without replacement.

    Parameters
    ----------
    cases
        ``person_id, index_date, matched_set`` (one row per case).
    candidates
        ``matched_set, person_id``: the eligible controls of each case.
    ratio, seed
        Controls per case; the random seed.
    related
        Adjacency sets of related persons; when given, controls are unrelated to every case in ``cases`` and to
        each other.

    Returns
    -------
    pandas.DataFrame
        ``person_id, index_date, matched_set`` of the controls (the case's index date).

    Examples
    --------
    >>> cases = pd.DataFrame({"person_id": ["c1"], "index_date": [pd.Timestamp("2020-01-01")], "matched_set": [1]})
    >>> cand = pd.DataFrame({"matched_set": [1, 1, 1], "person_id": ["x", "y", "z"]})
    >>> len(sample_controls(cases, cand, ratio=2, seed=1))
    2
    """
    rng = np.random.default_rng(seed)
    # each case's pool, deduplicated and sorted by person_id (one sort of the whole table, then slices)
    cand = candidates[candidates["matched_set"].notna()].drop_duplicates(["matched_set", "person_id"])
    cand = cand.sort_values(["matched_set", "person_id"], kind="stable")
    keys = cand["matched_set"].to_numpy()
    ids = cand["person_id"].to_numpy(dtype=object)
    cuts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1, len(keys)]
    by_set = {keys[a]: ids[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a}
    used: set[str] = set()
    blocked: set[str] = set()
    if related is not None:
        for c in cases["person_id"]:
            blocked |= related.get(str(c), set())
    rows = []
    order = cases.sort_values(["index_date", "person_id"], kind="stable")
    for case in order.itertuples(index=False):
        pool = by_set.get(case.matched_set, ())
        if len(pool) == 0:
            continue
        chosen = 0
        for j in rng.permutation(len(pool)):
            pid = pool[j]
            if pid in used or pid in blocked or pid == case.person_id:
                continue
            used.add(pid)
            if related is not None:
                blocked |= related.get(pid, set())
            rows.append((pid, case.index_date, case.matched_set))
            chosen += 1
            if chosen == ratio:
                break
    out = pd.DataFrame(rows, columns=["person_id", "index_date", "matched_set"])
    return out.astype({"matched_set": "int64"})
