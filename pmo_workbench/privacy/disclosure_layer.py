"""One disclosure layer: :class:`Disclosure` decides what every table, figure count and written file may show.

Every track (overview, WGS QC, cohort selection, model development) builds one ``Disclosure(mode, min_count)``
and passes each table through it before it is shown, drawn or written; the notebooks hold no rule of their own.

Modes
----------------------
``internal`` (default)
    Everything is shown as computed; individual-level tables, plots and files are allowed.
``export`` (results that leave the research environment)
    * **counts** (:meth:`Disclosure.counts`): every count 1 … ``min_count``-1 suppressed, with complementary
      suppression so that none can be derived from totals
      (:func:`~pmo_workbench.privacy.suppress_small_counts`). A table of numbers is a cross-tabulation; a table
      that also has text columns is a list whose count columns are suppressed one by one.
    * **attrition chains** (:meth:`Disclosure.attrition`): a step's count is shown only if it is 0 or at least
      ``min_count`` and the difference to the previous shown step is 0 or at least ``min_count``; the longest such
      chain is shown, ending with the final count when it may be shown. ``n_removed`` only between two shown
      neighbours.
    * **Table 1** (:meth:`Disclosure.table1`): per variable, the levels x (case, control) counts are suppressed
      together (the group sizes counted as published); a yes/no variable with its "no" counts. Percentages of
      hidden counts are hidden.
    * **means and SDs** (:meth:`Disclosure.summary_statistic`): hidden for a group of fewer than ``min_count``
      persons (or whose size is hidden); otherwise **rounded to a step** ``10**ceil(log10(min_count / n))``
      (at least 0.1), so that ``n x mean`` — the sum of the values — is only known within a window at least
      ``min_count`` wide (groups under 50 persons: whole units; 50 or more: one decimal). A **narrow group**, whose
      SD is below one step, shows no SD: e.g. six persons aged 85–86 (85.5 ± 0.5477, which gives away three of
      each age) are shown as a mean of 86 with the SD suppressed.
    * **per-group metrics** (:meth:`Disclosure.group_metrics`, e.g. per-batch medians, per-subgroup AUROC):
      groups under ``min_count`` keep no values; share columns that times the size give counts are dropped.
    * **per-variant rows** (:meth:`Disclosure.variant_rows`): rows of variants with fewer than ``min_count``
      minor-allele copies left out.
    * **individual-level** tables, plots and files (:meth:`Disclosure.individual`, :attr:`individual_level`): not
      shown and not written.
    * single numbers (:meth:`Disclosure.count`, :meth:`Disclosure.counts_record`) follow the same rules.

Suppressed cells are ``<NA>`` in the tables and ``x`` in reports (:data:`SUPPRESSED`), with
:attr:`Disclosure.footnote` below the table.

Examples
--------
>>> import pandas as pd
>>> d = Disclosure("export", 5)
>>> d.counts(pd.Series([3, 20, 30])).isna().tolist()
[True, True, False]
>>> d.summary_statistic(85.5, n=6), d.summary_statistic(0.5477, n=6, statistic="sd")
(86.0, None)
>>> Disclosure("internal", 5).summary_statistic(85.5, n=6)
85.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pmo_workbench.errors import PrivacyError
from pmo_workbench.privacy.disclosure import suppress_small_counts

MODES = ("internal", "export")
SUPPRESSED = "x"
"""How a suppressed cell is written in a report (the same mark for small and complementary cells)."""

Kind = Literal["counts", "attrition", "table1", "group_metrics", "individual", "aggregate", "derived"]
KINDS: tuple[str, ...] = ("counts", "attrition", "table1", "group_metrics", "individual", "aggregate", "derived")
"""What a table is, for :meth:`Disclosure.release`:

* ``counts`` — persons/samples/events counted per category;
* ``attrition`` — a chain of persons left after each rule;
* ``table1`` — tidy Table 1 (``variable, level, statistic, case, control``);
* ``group_metrics`` — per-group summaries with the group size in a column (``n_samples``/``n``);
* ``individual`` — one row per person, sample, pair or specimen (internal mode only);
* ``aggregate`` — numbers that are not counts of persons (variants, thresholds, model coefficients, metrics of a
  whole cohort);
* ``derived`` — computed only from tables this layer has released (e.g. a funnel or the balance from a disclosed
  Table 1): passed through.
"""


def _small(v: float, m: int) -> bool:
    return 0 < v < m


def _shown_chain(values: list[int], m: int) -> set[int]:
    """Indices of the longest chain of counts that is safe to show (see the module docstring)."""
    n = len(values)
    ok = [not _small(v, m) for v in values]
    best = [1 if ok[j] else 0 for j in range(n)]
    prev = [-1] * n
    for j in range(n):
        if not ok[j]:
            continue
        for i in range(j):
            if ok[i] and best[i] + 1 > best[j] and not _small(values[i] - values[j], m):
                best[j], prev[j] = best[i] + 1, i
    if n == 0 or not any(ok):
        return set()
    end = n - 1 if ok[n - 1] else max(range(n), key=lambda j: (best[j], j))
    chain = set()
    while end >= 0:
        chain.add(end)
        end = prev[end]
    return chain


@dataclass(frozen=True)
class Disclosure:
    """The disclosure rules of one run (see the module docstring).

    Parameters
    ----------
    mode
        ``internal`` or ``export``.
    min_count
        Smallest count that may be shown in export mode (pmo.yaml ``privacy.min_cell_count``).

    Examples
    --------
    >>> Disclosure("export", 5).individual_level, Disclosure("internal").individual_level
    (False, True)
    """

    mode: str = "internal"
    min_count: int = 5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'internal' or 'export', not {self.mode!r}")
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int | np.integer) \
                or self.min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {self.min_count!r}")

    @classmethod
    def for_project(cls, project: Any, mode: str = "internal") -> Disclosure:
        """The layer of a project's run: ``min_count`` from its ``privacy.min_cell_count``."""
        return cls(mode, int(project.config.privacy.min_cell_count))

    # -- what the mode allows --------------------------------------------------------------------------------
    @property
    def export(self) -> bool:
        return self.mode == "export"

    @property
    def individual_level(self) -> bool:
        """Whether individual-level tables, plots (one mark per person or sample) and files are allowed."""
        return self.mode == "internal"

    @property
    def footnote(self) -> str:
        """The note under a table with suppressed cells."""
        return (f"{SUPPRESSED}: suppressed, a count below {self.min_count} or a cell that would reveal one")

    def describe(self) -> str:
        """One line for a report header."""
        if self.export:
            return (f"export (counts below {self.min_count} suppressed, means and SDs rounded, no individual-level "
                    "tables, plots or files)")
        return f"internal (min cell count {self.min_count} applies to exports only)"

    # -- dispatch --------------------------------------------------------------------------------------------
    def release(self, table: pd.DataFrame | pd.Series, kind: str = "counts", *, what: str = "") -> Any:
        """``table`` as it may be shown or written, by ``kind`` (:data:`KINDS`).

        Examples
        --------
        >>> Disclosure("export").release(pd.DataFrame({"sample_id": ["a"]}), "individual")
        Traceback (most recent call last):
        ...
        pmo_workbench.errors.PrivacyError: an individual-level table is not shown or written in export mode
        """
        if kind == "counts":
            return self.counts(table)
        if kind == "attrition":
            return self.attrition(table)
        if kind == "table1":
            return self.table1(table)
        if kind == "group_metrics":
            return self.group_metrics(table)
        if kind == "individual":
            return self.individual(table, what=what)
        if kind in ("aggregate", "derived"):
            return table
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")

    def individual(self, table: Any, *, what: str = "") -> Any:
        """An individual-level table (or file): unchanged in internal mode; :class:`PrivacyError` in export."""
        if not self.individual_level:
            raise PrivacyError(f"{what or 'an individual-level table'} is not shown or written in export mode")
        return table

    # -- counts ----------------------------------------------------------------------------------------------
    def counts(self, table: pd.DataFrame | pd.Series, *, margins: str | None = "auto") -> pd.DataFrame | pd.Series:
        """A count table as it may be shown: unchanged in internal mode; small counts suppressed in export.

        A table of numbers only is a cross-tabulation (complementary suppression over rows and columns); a table
        that also has text columns is a list, whose count columns are suppressed one by one. An empty table, or
        one of zeros only, passes through.

        Examples
        --------
        >>> t = pd.DataFrame({"F": [3, 40, 22], "M": [30, 41, 19]}, index=["a", "b", "c"])
        >>> int(Disclosure("export").counts(t).isna().sum().sum()) >= 2
        True
        """
        if not self.export:
            return table
        if table.empty:
            return table
        numbers = table.select_dtypes("number") if isinstance(table, pd.DataFrame) else table
        if numbers.size and not (numbers.fillna(0).to_numpy() != 0).any():
            return table  # zeros only: nothing to hide
        if isinstance(table, pd.DataFrame):
            numeric = table.select_dtypes("number").columns
            if len(numeric) < table.shape[1]:
                out = table.copy()
                for col in numeric:
                    if (table[col].fillna(0) != 0).any():
                        out[col] = suppress_small_counts(table[col], min_count=self.min_count, margins=margins)
                return out
        return suppress_small_counts(table, min_count=self.min_count, margins=margins)

    def count(self, n: int | None) -> int | None:
        """One count: ``None`` in export mode when it is 1 … ``min_count``-1.

        Examples
        --------
        >>> Disclosure("export").count(3), Disclosure("export").count(0), Disclosure("internal").count(3)
        (None, 0, 3)
        """
        if n is None:
            return None
        n = int(n)
        return None if self.export and _small(n, self.min_count) else n

    def counts_record(self, counts: dict[str, Any], parts: tuple[tuple[str, ...], ...] = ()) -> dict[str, Any]:
        """A record of counts (e.g. for ``run.json``): each small count ``None`` in export mode, and every count
        of a group in ``parts`` (counts that add up to a published total) ``None`` when one of them is small.

        Examples
        --------
        >>> Disclosure("export").counts_record({"samples": 40, "passed": 38, "failed": 2},
        ...                                    parts=(("passed", "failed"),))
        {'samples': 40, 'passed': None, 'failed': None}
        """
        out = dict(counts)
        if not self.export:
            return out
        for group in parts:
            if any(out.get(k) is not None and _small(int(out[k]), self.min_count) for k in group):
                for k in group:
                    out[k] = None
        for k, v in out.items():
            if isinstance(v, int | np.integer) and not isinstance(v, bool) and _small(int(v), self.min_count):
                out[k] = None
        return out

    # -- attrition -------------------------------------------------------------------------------------------
    def attrition(self, attrition: pd.DataFrame, *, count: str | None = None,
                  removed: str | None = None) -> pd.DataFrame:
        """An attrition table (``..., n_persons, n_removed``; or ``n, removed``) as it may be shown (see the
        module docstring).

        Examples
        --------
        >>> att = pd.DataFrame({"rule": ["entry", "sex", "opt-out"], "n_persons": [40, 37, 30],
        ...                     "n_removed": [0, 3, 7]})
        >>> Disclosure("export").attrition(att)["n_persons"].tolist()
        [40, <NA>, 30]
        """
        if not self.export:
            return attrition.copy()
        count = count or ("n_persons" if "n_persons" in attrition.columns else "n")
        removed = removed or ("n_removed" if "n_removed" in attrition.columns else "removed")
        values = [int(v) for v in attrition[count]]
        shown = _shown_chain(values, self.min_count)
        out = attrition.copy()
        out[count] = pd.array([v if i in shown else None for i, v in enumerate(values)], dtype="Int64")
        if removed in out.columns:
            rem = [0 if i == 0 and i in shown else
                   (values[i - 1] - values[i] if i in shown and i - 1 in shown else None) for i in range(len(values))]
            out[removed] = pd.array(rem, dtype="Int64")
        return out

    # -- means and SDs ---------------------------------------------------------------------------------------
    def rounding_step(self, n: int) -> float:
        """The step means and SDs of a group of ``n`` are rounded to in export mode (see the module docstring).

        Examples
        --------
        >>> [Disclosure("export", 5).rounding_step(n) for n in (6, 49, 50, 5000)]
        [1.0, 1.0, 0.1, 0.1]
        """
        if n <= 0:
            return math.inf
        return max(0.1, 10.0 ** math.ceil(math.log10(self.min_count / n) - 1e-12))

    def summary_statistic(self, value: float | None, *, n: int | None, statistic: str = "mean") -> float | None:
        """A mean or SD of a group of ``n`` as it may be shown: unchanged internally; in export ``None`` for a
        small or hidden group and for the SD of a narrow group, else rounded to :meth:`rounding_step`."""
        if value is None or pd.isna(value):
            return None
        if not self.export:
            return float(value)
        if n is None or pd.isna(n) or n < self.min_count:
            return None
        step = self.rounding_step(int(n))
        if statistic == "sd" and float(value) < step:
            return None
        decimals = max(0, -int(round(math.log10(step))))
        return float(round(round(float(value) / step) * step, decimals))

    # -- Table 1 ---------------------------------------------------------------------------------------------
    def table1(self, table1: pd.DataFrame) -> pd.DataFrame:
        """Table 1 (tidy: ``variable, level, statistic, case, control``) as it may be shown.

        Examples
        --------
        >>> t = pd.DataFrame({"variable": ["n", "sex", "sex", "sex", "sex"], "level": ["", "F", "F", "M", "M"],
        ...                   "statistic": ["n", "n", "%", "n", "%"], "case": [20, 3, 15.0, 17, 85.0],
        ...                   "control": [80, 40, 50.0, 40, 50.0]})
        >>> Disclosure("export").table1(t)["case"].isna().tolist()
        [False, True, True, True, True]
        """
        if not self.export:
            return table1.copy()
        m = self.min_count
        roles = [r for r in ("case", "control") if r in table1.columns]
        out = table1.copy()
        for r in roles:
            out[r] = out[r].astype("Float64")
        is_n = out["statistic"] == "n"
        n_row = out[(out["variable"] == "n") & is_n]
        sizes = {r: int(n_row[r].iloc[0]) if len(n_row) and not pd.isna(n_row[r].iloc[0]) else 0 for r in roles}
        size_hidden = {r: _small(sizes[r], m) for r in roles}
        if len(n_row):
            shown_n = suppress_small_counts(pd.Series([sizes[r] for r in roles], index=roles), min_count=m)
            for r in roles:
                out.loc[n_row.index, r] = shown_n[r]
                size_hidden[r] = bool(pd.isna(shown_n[r]))
        for var in out.loc[out["variable"] != "n", "variable"].unique():
            rows = out[(out["variable"] == var)]
            n_rows = rows[rows["statistic"] == "n"]
            if not len(n_rows):  # mean / sd
                for idx, row in rows.iterrows():
                    for r in roles:
                        size = None if size_hidden[r] else sizes[r]
                        v = self.summary_statistic(table1.loc[idx, r], n=size, statistic=str(row["statistic"]))
                        out.loc[idx, r] = pd.NA if v is None else v
                continue
            counts = n_rows.set_index("level")[roles].astype(float).astype("int64")
            if len(counts) == 1:  # a yes-only row: suppress together with the "no" counts
                full = pd.concat([counts, pd.DataFrame([[sizes[r] - counts.iloc[0][r] for r in roles]],
                                                       index=["__no__"], columns=roles)])
                shown = suppress_small_counts(full, min_count=m, margins=None).iloc[:1]
            else:
                shown = suppress_small_counts(counts, min_count=m, margins=None)
            for level, row in shown.iterrows():
                sel = rows[rows["level"] == level]
                for r in roles:
                    if pd.isna(row[r]):
                        out.loc[sel.index, r] = pd.NA
        return out

    # -- per-group metrics and per-variant rows ------------------------------------------------------------
    def group_metrics(self, table: pd.DataFrame, *, size: str | tuple[str, ...] = ("n_samples", "n", "events"),
                      keep: tuple[str, ...] = ("batch", "by", "group", "model", "split", "metric"),
                      drop: tuple[str, ...] = ("fail_rate",)) -> pd.DataFrame:
        """Per-group metrics as they may be shown: in export, a group with a size column under ``min_count``
        keeps no values (label columns ``keep`` stay), and ``drop`` columns (shares that times the size give
        small counts) are removed.

        Examples
        --------
        >>> bm = pd.DataFrame({"batch": ["B1", "B2"], "n_samples": [40, 3], "fail_rate": [0.1, 0.0],
        ...                    "call_rate": [0.99, 0.98]})
        >>> Disclosure("export").group_metrics(bm)["call_rate"].tolist()
        [0.99, nan]
        """
        if not self.export:
            return table
        sizes = [size] if isinstance(size, str) else [c for c in size if c in table.columns]
        out = table.drop(columns=[c for c in drop if c in table.columns]).copy()
        small = np.zeros(len(out), dtype=bool)
        for c in sizes:
            v = pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float)
            small |= (v < self.min_count) & ~np.isnan(v)
        cols = [c for c in out.columns if c not in keep and pd.api.types.is_numeric_dtype(out[c])]
        out[cols] = out[cols].astype(float)
        out.loc[small, cols] = np.nan
        return out

    def variant_rows(self, table: pd.DataFrame, *, af: str = "AF", n: str = "n") -> pd.DataFrame:
        """Per-variant rows as they may leave: in export, variants with fewer than ``min_count`` minor-allele
        copies (``min(AF, 1-AF) x 2n``) are left out.

        Examples
        --------
        >>> t = pd.DataFrame({"AF": [0.5, 0.01], "n": [100, 100]})
        >>> len(Disclosure("export").variant_rows(t)), len(Disclosure("internal").variant_rows(t))
        (1, 2)
        """
        if not self.export:
            return table
        mac = np.minimum(table[af], 1 - table[af]) * 2 * table[n]
        return table[mac >= self.min_count]

    # -- written files ---------------------------------------------------------------------------------------
    def write_table(self, table: pd.DataFrame | pd.Series, output_dir: str | Path | None, name: str, *,
                    kind: str = "counts", fmt: str = "parquet") -> Path | None:
        """Write ``table`` as ``output_dir/name.parquet`` (or ``.csv``) as this layer releases it (``kind`` as in
        :meth:`release`), after a check that it holds no CPR-like value; atomically. ``output_dir`` None (an
        interactive run): nothing is written, returns None.

        Examples
        --------
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> Disclosure("export").write_table(pd.Series([3, 20, 30], name="n"), out, "t").name
        't.parquet'
        >>> pd.read_parquet(f"{out}/t.parquet")["n"].isna().tolist()
        [True, True, False]
        """
        if output_dir is None:
            return None
        from pmo_workbench.files import replace_atomically
        from pmo_workbench.privacy.scan import check_no_cpr

        released = self.release(table, kind, what=f"{name}.{fmt}")
        frame = released.to_frame() if isinstance(released, pd.Series) else released
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()
            frame.columns = [str(c) for c in frame.columns]
        check_no_cpr(frame)
        target = Path(output_dir) / f"{name}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with replace_atomically(target) as tmp:
            if fmt == "csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
        return target

    def write_text(self, output_dir: str | Path, name: str, text: str, *, kind: str = "aggregate") -> Path:
        """Write a text file of the run folder (``kind="individual"`` for e.g. a sample list: refused in export)
        after the CPR scan."""
        from pmo_workbench.files import write_text_atomic
        from pmo_workbench.privacy.scan import check_no_cpr

        self.release(pd.DataFrame(), kind, what=name)
        check_no_cpr(pd.DataFrame({"line": text.splitlines()}))
        target = Path(output_dir) / name
        write_text_atomic(target, text)
        return target
