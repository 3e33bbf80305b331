"""Select a cohort: attrition, consent, genomes, matched controls, Table 1 and pick lists.

:func:`select_cohort` runs one SQL query per rule (see :mod:`pmo_workbench.cohort.compile`) over the entry
events and keeps, per event, which rules it passes. The attrition is then person-level and in order: entry, the
criteria, specimens, ``genomes.qc_pass``, ``genomes.unrelated``, and last, always, the Tissue Use Register: persons
the lookup did not cover ("not looked up": consent is checked per person, so persons imported later from another
source, e.g. OMOP, are never selected without a lookup), then the opt-outs. A person stays after a step while at least one of their index events has passed every step so far;
the case's index date is the earliest such event. Because the per-rule answers are kept,
:meth:`CohortResult.what_if` re-runs the attrition without the disabled rules without querying again (only the
controls are drawn again).

``genomes.unrelated`` is a greedy maximal independent set (:mod:`pmo_workbench.cohort.matching`) over the persons
still in at that step who are not opted out (an opted-out relative never costs a case its place), using the
latest WGS QC run's ``kinship.parquet``; controls must then be unrelated to every case and to each other.

Controls (risk-set sampling) are drawn for the final cases. A candidate must, at the case's index date: be born
and alive, be under observation (when the project has observation periods), not yet be a case (no entry event
on or before that date; with ``risk_set: false``, never), match on the ``match`` keys, and pass the rules that
describe the source population rather than the disease: ``age_at_index``, ``sex``, ``observation``, every
``exclude``, ``specimens``, ``genomes.qc_pass``, the Tissue Use Register. ``require`` rules define the cases
(a required lab value, a treatment after the event) and are not applied to controls. A person who becomes a
case later may serve as a control before (standard in risk-set sampling), so a person can be in the cohort
table twice with different roles; nobody is a control twice.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pmo_workbench.health.schema import write_table
>>> d = tempfile.mkdtemp()
>>> _ = write_table(pd.DataFrame({"person_id": ["a", "b"], "sex": ["F", "M"],
...                               "birth_date": ["1950-01-01", "1960-01-01"]}), "person", f"{d}/data/registry")
>>> _ = write_table(pd.DataFrame({"person_id": ["a", "b"], "date": ["2015-03-01", "2016-01-01"],
...                               "code": ["DI219", "DI210"], "vocabulary": "SKS", "source": "LPR2"}),
...                 "diagnosis", f"{d}/data/registry")
>>> _ = write_table(pd.DataFrame({"person_id": ["a", "b"], "opt_out": [False, True],
...                               "lookup_date": ["2026-01-15", "2026-01-15"]}), "tissue_use_register", f"{d}/data/consent")
>>> _ = open(f"{d}/pmo.yaml", "w").write("name: doc\\n")
>>> r = select_cohort(d, {"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]}})
>>> r.attrition["n_persons"].tolist(), r.cohort["person_id"].tolist()
([2, 2, 1], ['a'])
"""

from __future__ import annotations

import json
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.cohort.compile import compile_entry, compile_risk_set, compile_rule, compile_specimens
from pmo_workbench.cohort.definition import (
    CONSENT_RULE,
    CONSENT_RULES,
    LOOKUP_RULE,
    CohortDefinition,
    _parse_codes,
    definition_hash,
    load_definition,
    parse_definition,
)
from pmo_workbench.cohort.matching import build_relatives, sample_controls, select_unrelated
from pmo_workbench.cohort.picklist import compute_pick_list
from pmo_workbench.errors import ConfigError
from pmo_workbench.files import replace_atomically
from pmo_workbench.health.codelists import code_condition
from pmo_workbench.health.database import HealthDatabase, load_genome_status, open_database
from pmo_workbench.project import Project, as_project

COHORT_COLUMNS = ["person_id", "index_date", "role", "matched_set"]

DEFAULT_COMORBIDITIES: dict[str, list[str]] = {
    "diabetes": ["DE10-DE14"],
    "hypertension": ["DI10-DI15"],
    "ischaemic heart disease": ["DI20-DI25"],
    "heart failure": ["DI50*"],
    "stroke": ["DI60-DI64"],
    "COPD": ["DJ44*"],
    "cancer": ["DC00-DC97"],
    "chronic kidney disease": ["DN18*"],
}
"""Comorbidities of :meth:`CohortResult.table1` (SKS; any diagnosis before the index date)."""

_CONTROL_KINDS = ("age_at_index", "sex", "observation", "exclude")


def _sql_rules(definition: CohortDefinition) -> list[str]:
    return [n for n in definition.rule_names() if n not in ("entry", "genomes.unrelated")]


def _control_rules(definition: CohortDefinition) -> list[str]:
    names = [n for n, c in zip(definition.criterion_names(), definition.criteria, strict=True)
             if c.kind in _CONTROL_KINDS]
    for n in ("specimens", "genomes.qc_pass", *CONSENT_RULES):
        if n in definition.rule_names():
            names.append(n)
    return names


def _pair_mask(frame: pd.DataFrame, passed: pd.DataFrame) -> np.ndarray:
    if passed.empty or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    left = pd.MultiIndex.from_arrays([frame["person_id"].astype(str), pd.to_datetime(frame["index_date"])])
    right = pd.MultiIndex.from_arrays([passed["person_id"].astype(str), pd.to_datetime(passed["index_date"])])
    return np.asarray(left.isin(right))


class CohortResult:
    """The outcome of :func:`select_cohort`.

    Attributes
    ----------
    cohort
        ``person_id, index_date, role (case|control), matched_set`` (matched_set is null without controls).
    attrition
        ``step, rule, n_persons, n_removed`` -- persons left after each rule, in order.
    definition, definition_hash
        The validated definition and its sha256.
    lookup_date
        The Tissue Use Register's lookup date (None if the project has no register; synthetic projects only).
    qc_run
        The WGS QC run folder used for genome rules, if any.
    disabled
        Rules switched off by :meth:`what_if`.
    controls_short
        Number of cases that got fewer than ``controls.ratio`` controls.
    """

    def __init__(self, *, db: HealthDatabase, definition: CohortDefinition, flags: pd.DataFrame,
                 relatives: dict[str, set[str]], lookup_date: date | None, qc_run: Path | None,
                 disabled: tuple[str, ...] = (), project_root: Path | None = None) -> None:
        self.db = db
        self.definition = definition
        self.definition_hash = definition_hash(definition)
        self.lookup_date = lookup_date
        self.qc_run = qc_run
        self.project_root = project_root
        self.disabled = disabled
        self._flags = flags
        self._relatives = relatives
        self.attrition, cases, self._survivors_before_unrelated = self._run_attrition()
        self.controls_short = 0
        self.cohort = self._add_controls(cases)

    # -- attrition ------------------------------------------------------------------------------------------
    def _run_attrition(self) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
        flags = self._flags
        mask = np.ones(len(flags), dtype=bool)
        rows = [("entry", int(flags["person_id"].nunique()))]
        before_unrelated: set[str] = set()
        for name in self.definition.rule_names()[1:]:
            if name in self.disabled:
                continue
            if name == "genomes.unrelated":
                alive = flags.loc[mask, "person_id"]
                before_unrelated = set(alive)
                may = flags[CONSENT_RULE].to_numpy() & flags[LOOKUP_RULE].to_numpy()
                consenting = set(flags.loc[mask & may, "person_id"])
                kept = select_unrelated(sorted(consenting), self._relatives)
                drop = consenting - kept
                mask &= ~flags["person_id"].isin(drop).to_numpy()
            else:
                mask &= flags[name].to_numpy()
            rows.append((name, int(flags.loc[mask, "person_id"].nunique())))
        att = pd.DataFrame(rows, columns=["rule", "n_persons"])
        att.insert(0, "step", range(len(att)))
        att["n_removed"] = (att["n_persons"].shift(1) - att["n_persons"]).fillna(0).astype(int)
        cases = (flags.loc[mask, ["person_id", "index_date"]].sort_values(["index_date", "person_id"])
                 .drop_duplicates("person_id").reset_index(drop=True))
        return att, cases, before_unrelated

    # -- controls -------------------------------------------------------------------------------------------
    def _add_controls(self, cases: pd.DataFrame) -> pd.DataFrame:
        cases = cases.sort_values(["index_date", "person_id"]).reset_index(drop=True)
        controls_cfg = self.definition.controls
        if controls_cfg is None:
            out = cases.assign(role="case", matched_set=pd.array([pd.NA] * len(cases), dtype="Int64"))
            return out[COHORT_COLUMNS]
        cases = cases.assign(matched_set=np.arange(1, len(cases) + 1, dtype="int64"))
        candidates = self._control_candidates(cases)
        unrelated = "genomes.unrelated" in self.definition.rule_names() and "genomes.unrelated" not in self.disabled
        controls = sample_controls(cases, candidates, ratio=controls_cfg.ratio, seed=controls_cfg.seed,
                                   related=self._relatives if unrelated else None)
        counts = controls.groupby("matched_set").size().reindex(cases["matched_set"], fill_value=0)
        self.controls_short = int((counts < controls_cfg.ratio).sum())
        out = pd.concat([cases.assign(role="case"), controls.assign(role="control")], ignore_index=True)
        out = out.sort_values(["matched_set", "role", "person_id"]).reset_index(drop=True)
        out["matched_set"] = out["matched_set"].astype("Int64")
        return out[COHORT_COLUMNS]

    def _control_candidates(self, cases: pd.DataFrame) -> pd.DataFrame:
        cfg = self.definition.controls
        assert cfg is not None
        self.db.register("cases", cases[["person_id", "index_date", "matched_set"]])
        rules = [n for n in _control_rules(self.definition) if n not in self.disabled]
        # The candidate pool: persons passing the control rules that do not depend on the index date (genome QC,
        # consent, sex -- these are then settled) and the undated part of ``specimens`` (a usable specimen of any
        # date, checked in full below), so no pair is built that would be dropped anyway.
        everyone = "(SELECT person_id, CAST(NULL AS DATE) AS index_date FROM person)"
        pool = []
        kinds = dict(zip(self.definition.criterion_names(), (c.kind for c in self.definition.criteria), strict=True))
        exact_in_pool = [n for n in rules if n in ("genomes.qc_pass", *CONSENT_RULES) or kinds.get(n) == "sex"]
        for n in rules:
            if n in exact_in_pool:
                pool.append(compile_rule(self.definition, n, everyone))
            elif n == "specimens" and self.definition.specimens is not None:
                undated = self.definition.specimens.model_copy(update={"collected": None})
                pool.append(compile_specimens(undated, everyone))
        where = (" WHERE person_id IN (SELECT person_id FROM (" + " INTERSECT ".join(f"({q})" for q in pool) + "))"
                 if pool else "")
        self.db.con.execute(f"CREATE OR REPLACE TABLE cpool AS SELECT * FROM person{where}")
        # Matching keys are hash-join keys: the birth-year band becomes 2k+1 exact years.
        on = ["p.person_id <> c.person_id"]
        band = ""
        if cfg.match.sex == "exact":
            on.append("p.sex = pc.sex")
        if cfg.match.region == "exact":
            on.append("p.region = pc.region")
        if cfg.match.birth_year is not None:
            k = cfg.match.birth_year
            band = f" CROSS JOIN range({-k}, {k + 1}) b(off)"
            on.append("year(p.birth_date) = year(pc.birth_date) + b.off")
        self.db.con.execute(
            "CREATE OR REPLACE TABLE pairs AS SELECT c.matched_set, c.index_date, p.person_id FROM cases c "
            f"JOIN person pc ON pc.person_id = c.person_id{band} JOIN cpool p ON {' AND '.join(on)}")
        self.db.con.execute("CREATE OR REPLACE TABLE cidx AS SELECT DISTINCT person_id, index_date FROM pairs")
        # Every rule keeps or drops each (person, index date) on its own, so applying them one after another to
        # what is left equals their intersection -- and the event joins run on fewer rows. Selective rules first.
        dated = [n for n in rules if n not in exact_in_pool]
        first = [n for n in dated if kinds.get(n) == "age_at_index" or n == "specimens"]
        steps: list = [*first, None, *(n for n in dated if n not in first)]  # None: the risk set
        for k, n in enumerate(steps):
            src = "cidx" if k == 0 else f"cidx_{k}"
            sql = (compile_risk_set(self.definition, src, risk_set=cfg.risk_set) if n is None
                   else compile_rule(self.definition, n, src))
            self.db.con.execute(f"CREATE OR REPLACE TABLE cidx_{k + 1} AS {sql}")
            if k:
                self.db.con.execute(f"DROP TABLE {src}")
        out = self.db.query(f"SELECT matched_set, person_id FROM pairs JOIN cidx_{len(steps)} "
                            "USING (person_id, index_date) ORDER BY matched_set, person_id")
        self.db.con.execute(f"DROP TABLE cidx_{len(steps)}")
        return out

    # -- public API -----------------------------------------------------------------------------------------
    def what_if(self, disable: list[str] | tuple[str, ...] = ()) -> CohortResult:
        """The result with the named rules switched off (entry and the Tissue Use Register steps cannot be).

        Examples
        --------
        >>> # r.what_if(disable=["age_at_index"]).attrition
        """
        names = self.definition.rule_names()
        for n in disable:
            if n in CONSENT_RULES:
                raise ValueError(f"the {n!r} step cannot be disabled")
            if n == "entry":
                raise ValueError("the entry event cannot be disabled")
            if n not in names:
                raise ValueError(f"no rule named {n!r}; rules: {', '.join(names)}")
        return CohortResult(db=self.db, definition=self.definition, flags=self._flags, relatives=self._relatives,
                            lookup_date=self.lookup_date, qc_run=self.qc_run, disabled=tuple(disable),
                            project_root=self.project_root)

    def reasons(self, person_id: str) -> list[str]:
        """The rules ``person_id`` failed (all of them, in order; ``["entry"]`` if the person never entered).

        A person failing none of the rules but not selected either lost out in ``genomes.unrelated`` or, with
        ``occurrence: all``, has no single index event passing every rule (reported as ``"no index event passes
        every rule"``).
        """
        rows = self._flags[self._flags["person_id"] == person_id]
        if rows.empty:
            return ["entry"]
        failed = [n for n in _sql_rules(self.definition) if n not in self.disabled and not rows[n].any()]
        is_case = bool(((self.cohort["person_id"] == person_id) & (self.cohort["role"] == "case")).any())
        if not failed and not is_case:
            if person_id in self._survivors_before_unrelated:
                failed.append("genomes.unrelated")
            else:
                failed.append("no index event passes every rule")
        order = {n: i for i, n in enumerate(self.definition.rule_names())}
        return sorted(failed, key=lambda n: order.get(n, len(order)))

    def table1(self, comorbidities: dict[str, Any] | None = None) -> pd.DataFrame:
        """Cases versus controls: n, age at index (mean, sd), sex, region and comorbidities before the index.

        Parameters
        ----------
        comorbidities
            Name -> codes in the cohort-definition form (a list of SKS codes or ``{vocabulary: [...]}``);
            default :data:`DEFAULT_COMORBIDITIES`.

        Returns
        -------
        pandas.DataFrame
            Tidy: ``variable, level, statistic (n | % | mean | sd), case, control``.
        """
        comorbidities = comorbidities if comorbidities is not None else DEFAULT_COMORBIDITIES
        self.db.register("t1", self.cohort[["person_id", "index_date", "role"]])
        base = self.db.query(
            "SELECT t.person_id, t.index_date, t.role, p.sex, p.region, "
            "(year(t.index_date) - year(p.birth_date) - CASE WHEN strftime(t.index_date, '%m%d') < "
            "strftime(p.birth_date, '%m%d') THEN 1 ELSE 0 END) AS age FROM t1 t JOIN person p USING (person_id)")
        for name, raw in comorbidities.items():
            cond = code_condition(_parse_codes(raw, "diagnosis").patterns(), descendants=True)
            hit = self.db.query(f"SELECT DISTINCT t.person_id, t.index_date FROM t1 t JOIN diagnosis d "
                                f"ON d.person_id = t.person_id AND d.date < t.index_date WHERE {cond}")
            base[f"cm:{name}"] = _pair_mask(base, hit)
        rows: list[tuple] = []
        roles = ["case", "control"]
        groups = {r: base[base["role"] == r] for r in roles}
        rows.append(("n", "", "n", *[len(groups[r]) for r in roles]))
        rows.append(("age at index", "", "mean", *[groups[r]["age"].mean() for r in roles]))
        rows.append(("age at index", "", "sd", *[groups[r]["age"].std() for r in roles]))
        for var in ("sex", "region"):
            levels = sorted(base[var].dropna().astype(str).unique())
            for level in levels:
                counts = [int((groups[r][var] == level).sum()) for r in roles]
                rows.append((var, level, "n", *counts))
                rows.append((var, level, "%", *[_pct(c, len(groups[r])) for c, r in zip(counts, roles, strict=True)]))
        for name in comorbidities:
            counts = [int(groups[r][f"cm:{name}"].sum()) for r in roles]
            rows.append((name, "yes", "n", *counts))
            rows.append((name, "yes", "%", *[_pct(c, len(groups[r])) for c, r in zip(counts, roles, strict=True)]))
        return pd.DataFrame(rows, columns=["variable", "level", "statistic", "case", "control"])

    def pick_list(self) -> pd.DataFrame:
        """Specimens to retrieve: ``specimen_id, person_id, biobank, freezer, rack, box, position, specimen_type,
        volume_ul``, one per person, ordered by biobank, freezer, rack, box, position
        (see :mod:`pmo_workbench.cohort.picklist`)."""
        specimens = self.definition.specimens if "specimens" not in self.disabled else None
        return compute_pick_list(self.db, self.cohort, specimens)

    def summary(self) -> dict[str, Any]:
        """What goes into a run record: name, hash, lookup date, QC run, disabled rules, counts."""
        roles = self.cohort["role"].value_counts()
        return {"definition": self.definition.name, "definition_hash": self.definition_hash,
                "tissue_use_register_lookup_date": self.lookup_date.isoformat() if self.lookup_date else None,
                "wgs_qc_run": str(self.qc_run) if self.qc_run else None, "disabled": list(self.disabled),
                "n_cases": int(roles.get("case", 0)), "n_controls": int(roles.get("control", 0)),
                "cases_with_fewer_controls": self.controls_short}

    def write(self, out_dir: str | Path, *, pick_list: bool = True, root: str | Path | None = None) -> list[Path]:
        """Write ``cohort.parquet``, ``attrition.csv``, ``table1.csv``, ``pick_list.csv`` and ``selection.json``
        into ``out_dir`` (each atomically; every table and the selection record are scanned for CPR-like values
        first, so a refused write leaves nothing).

        ``root``: the project folder (default: the selected project's); ``out_dir`` (relative paths against it)
        must lie inside it, else :class:`~pmo_workbench.errors.ConfigError` and nothing is written.
        """
        from pmo_workbench.errors import PrivacyError
        from pmo_workbench.names import resolve_inside
        from pmo_workbench.privacy import check_no_cpr

        root = root if root is not None else self.project_root
        out = resolve_inside(root, out_dir, "cohort output") if root is not None else Path(out_dir)
        text = json.dumps(self.summary(), indent=2)
        # selection.json (it holds the cohort's name) and the folder's name pass the scan before anything is written
        if _holds_cpr(text.splitlines()) or _holds_cpr([out.name]):
            raise PrivacyError("CPR-like value in selection.json or the output folder's name (e.g. in the cohort "
                               "name): nothing written")
        tables: dict[str, pd.DataFrame] = {"cohort.parquet": self.cohort, "attrition.csv": self.attrition}
        if self.definition.controls is not None or len(self.cohort):
            tables["table1.csv"] = self.table1()
        if pick_list:
            tables["pick_list.csv"] = self.pick_list()
        for frame in tables.values():
            check_no_cpr(frame)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in tables.items():
            written.append(_write_atomic(out / name, frame))
        written.append(_write_atomic(out / "selection.json", text))
        return written


def _pct(count: int, total: int) -> float:
    return 100.0 * count / total if total else float("nan")


def _holds_cpr(lines: list[str]) -> bool:
    """Whether any of ``lines`` holds a CPR-like value."""
    from pmo_workbench.privacy import scan_for_cpr

    return bool(lines) and bool(scan_for_cpr(pd.DataFrame({"text": lines})))


def _write_atomic(path: Path, content: pd.DataFrame | str) -> Path:
    with replace_atomically(path) as tmp:
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        elif path.suffix == ".parquet":
            content.to_parquet(tmp, index=False)
        else:
            content.to_csv(tmp, index=False)
    return path


def _as_definition(definition: str | Path | dict | CohortDefinition) -> CohortDefinition:
    if isinstance(definition, CohortDefinition):
        return definition
    if isinstance(definition, dict):
        return parse_definition(definition)
    return load_definition(definition)


def _lookup_date(db: HealthDatabase, project: Project | None) -> date | None:
    """The Tissue Use Register's (latest) lookup date, after checking that the lookup covers the project.

    Real projects need the register (else no cohort); a synthetic project without one gets every person as looked
    up and not opted out, with a warning. Persons without a lookup row (``LOOKUP_RULE``) are removed at selection,
    or, with ``privacy.not_looked_up: refuse`` in ``pmo.yaml``, the selection is refused.
    """
    where = project.source("consent") if project is not None else "data/consent"
    if "tissue_use_register" not in db.present:
        synthetic = project is not None and project.config.privacy.synthetic
        if not synthetic:
            raise ConfigError("no Tissue Use Register lookup (tissue_use_register.parquet): opted-out persons "
                              "cannot be removed, so no cohort can be selected", file=where,
                              field="tissue_use_register")
        warnings.warn("synthetic project without a Tissue Use Register lookup: no opt-outs removed",
                      RuntimeWarning, stacklevel=3)
        if not db.con.execute("SELECT count(*) FROM tissue_use_register").fetchone()[0]:
            db.con.execute("INSERT INTO tissue_use_register (person_id, opt_out) SELECT person_id, false FROM person")
        return None
    if project is not None and project.config.privacy.not_looked_up == "refuse":
        missing = db.con.execute("SELECT count(*) FROM person WHERE person_id NOT IN "
                                 "(SELECT person_id FROM tissue_use_register)").fetchone()[0]
        if missing:
            raise ConfigError(f"{missing} persons of the project have no Tissue Use Register lookup (imported after "
                              "or apart from the lookup): look them up and import the register again with "
                              "--lookup-date, or set privacy.not_looked_up: exclude to leave them out",
                              file=where, field="tissue_use_register")
    value = db.query("SELECT max(lookup_date) AS d FROM tissue_use_register")["d"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).date()


def select_cohort(project: str | Path | Project, definition: str | Path | dict | CohortDefinition, *,
                  db: HealthDatabase | None = None) -> CohortResult:
    """Select the cohort of ``definition`` in ``project``.

    Parameters
    ----------
    project
        A project folder (or its ``pmo.yaml``) or a loaded :class:`~pmo_workbench.project.Project`.
    definition
        A YAML file, a mapping (the parsed YAML) or a validated :class:`CohortDefinition`.
    db
        An already opened :func:`~pmo_workbench.health.database.open_database` of the project (reused).

    Raises
    ------
    ConfigError
        A bad definition (naming the YAML key path), no Tissue Use Register lookup (real projects), or genome
        rules without a WGS QC run.
    """
    proj = as_project(project)
    defn = _as_definition(definition)
    db = db if db is not None else open_database(proj)
    lookup = _lookup_date(db, proj)
    qc_run = None
    relatives: dict[str, set[str]] = {}
    if defn.genomes is not None and (defn.genomes.qc_pass or defn.genomes.unrelated):
        qc, pairs, qc_run = load_genome_status(proj)
        db.register("genome_qc", qc)
        relatives = build_relatives(pairs)
    needs_omop = any(c.exclude is not None and c.exclude.codes.descendants or
                     c.require is not None and c.require.codes.descendants for c in defn.criteria)
    if (defn.entry.codes.descendants or needs_omop) and "concept_ancestor" not in db.present:
        raise ConfigError("descendants need the OMOP concept_ancestor table (import the project with "
                          "`pmo import omop`)", file=proj.source("registry"), field="entry.codes.descendants")
    # the entry events stay in DuckDB (rid numbers them); pandas gets them once, as datetime64
    db.con.execute("DROP TABLE IF EXISTS idx")
    db.con.execute(f"CREATE TABLE idx AS SELECT person_id, CAST(index_date AS DATE) AS index_date, "
                   f"CAST(row_number() OVER () - 1 AS BIGINT) AS rid FROM ({compile_entry(defn.entry)}) e")
    flags = db.query("SELECT person_id, CAST(index_date AS TIMESTAMP) AS index_date FROM idx ORDER BY rid")
    flags["person_id"] = flags["person_id"].astype(str)
    for name in _sql_rules(defn):
        rids = db.con.execute(f"SELECT i.rid FROM idx i SEMI JOIN ({compile_rule(defn, name, 'idx')}) q "
                              "USING (person_id, index_date)").fetchnumpy()["rid"]
        mask = np.zeros(len(flags), dtype=bool)
        mask[np.asarray(rids, dtype="int64")] = True
        flags[name] = mask
    return CohortResult(db=db, definition=defn, flags=flags, relatives=relatives, lookup_date=lookup,
                        qc_run=qc_run, project_root=proj.root)
