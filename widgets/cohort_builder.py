"""``CohortBuilder``: edit a cohort definition with a searchable code picker and rule toggles, see the attrition
after every change, and save the definition to ``PROJECT/cohorts/<name>.yaml``.

The widget runs :func:`~pmo_workbench.cohort.select_cohort` once per change of the codes (the per-rule answers
are kept) and :meth:`~pmo_workbench.cohort.CohortResult.what_if` for every toggle, so a switched-off rule gives
exactly the attrition of ``select_cohort(...).what_if(disable=[rule])``. Controls are not drawn here (they do not
change the attrition; the cohort-selection report draws them). The code picker searches a
:class:`~pmo_workbench.health.codelists.CodeIndex` of the project's code lists and the codes found in its data
(with the number of persons), by code or description words. The front end (``cohort_builder.js``) is plain DOM:
no libraries, works offline.

"Save" writes the definition as it is switched on: switched-off criteria and specimens are left out, a
switched-off genome rule is written as ``false``. The file is validated before it is written atomically, so it
always loads with :func:`~pmo_workbench.cohort.load_definition`.

Examples
--------
>>> from pmo_widgets import CohortBuilder  # doctest: +SKIP
>>> w = CohortBuilder("demo", "cohorts/statin_users.yaml")  # doctest: +SKIP
>>> w.set_enabled("ldl_measured", False)  # doctest: +SKIP
>>> w.attrition_frame  # same as select_cohort(...).what_if(disable=["ldl_measured"]).attrition  # doctest: +SKIP
>>> w.save("statin_no_ldl")  # doctest: +SKIP
PosixPath('demo/cohorts/statin_no_ldl.yaml')
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import anywidget
import pandas as pd
import traitlets as t
import yaml

from pmo_workbench import names
from pmo_workbench.catalogue import latest_run_dir
from pmo_workbench.cohort.definition import CONSENT_RULES, CohortDefinition, parse_definition
from pmo_workbench.cohort.report import describe_definition, resolve_definition_path
from pmo_workbench.cohort.selection import CohortResult, select_cohort
from pmo_workbench.errors import ConfigError, format_error
from pmo_workbench.files import write_text_atomic
from pmo_workbench.health.codelists import DOMAIN_VOCABULARY, CodeIndex, parse_code
from pmo_workbench.health.database import HealthDatabase, open_database
from pmo_workbench.project import Project, as_project

NAME_PATTERN = names.NAME_PATTERN
"""Allowed definition names (they become file names): :func:`pmo_workbench.names.check_name`."""

_CODE_TABLES = {"diagnosis": "SKS", "prescription": "ATC", "lab": "NPU"}


def count_code_persons(db: HealthDatabase) -> dict[tuple[str, str], int]:
    """Persons per ``(vocabulary, code)`` in the diagnosis, prescription and lab tables of ``db``."""
    parts = [db.query(f"SELECT upper(coalesce(vocabulary, '{vocab}')) AS vocabulary, upper(code) AS code, "
                      f"count(DISTINCT person_id) AS persons FROM {table} WHERE code IS NOT NULL GROUP BY ALL")
             for table, vocab in _CODE_TABLES.items() if table in db.present]
    if not parts:
        return {}
    seen = pd.concat(parts, ignore_index=True).groupby(["vocabulary", "code"])["persons"].sum()
    return {key: int(n) for key, n in seen.items()}


def build_code_index(project: str | Path | Project, db: HealthDatabase | None = None) -> CodeIndex:
    """A :class:`CodeIndex` of the project's code lists plus every code found in its event tables.

    Codes the project's lists (``codelists/*.tsv``, an OMOP ``concept`` table) do not describe get an empty
    description, so that every code in the data can be found by its code.

    Examples
    --------
    >>> idx = build_code_index("demo")  # doctest: +SKIP
    >>> idx.describe("DI219", "SKS")  # doctest: +SKIP
    'Akut myokardieinfarkt UNS (Acute myocardial infarction, unspecified)'
    """
    proj = as_project(project)
    db = db if db is not None else open_database(proj)
    listed = CodeIndex.from_project(proj).codes
    seen = pd.DataFrame(list(count_code_persons(db)), columns=["vocabulary", "code"])
    codes = pd.concat([listed, seen.assign(description="")], ignore_index=True)
    return CodeIndex(codes.drop_duplicates(["vocabulary", "code"], keep="first"))


def write_definition(path: str | Path, raw: dict[str, Any]) -> Path:
    """Validate ``raw`` (a cohort definition mapping) and write it as YAML to ``path`` atomically.

    Raises :class:`ConfigError` (nothing written) when the mapping is not a valid definition.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = write_definition(p, {"name": "c", "entry": {"domain": "lab", "codes": ["NPU01567"]}})
    >>> from pmo_workbench.cohort import load_definition
    >>> load_definition(p).name
    'c'
    """
    path = Path(path)
    parse_definition(raw, file=path)
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)
    return write_text_atomic(path, text)


def _raw_codes(codes: Any, domain: str) -> list[tuple[str, str]]:
    """``(vocabulary, code)`` pairs of a YAML ``codes`` value (a list in the domain's vocabulary or a mapping)."""
    if isinstance(codes, (str, int)):
        codes = [codes]
    if isinstance(codes, list):
        return [(DOMAIN_VOCABULARY[domain], str(c)) for c in codes]
    out = []
    for key, value in codes.items():
        if key == "descendants":
            continue
        for c in value if isinstance(value, list) else [value]:
            out.append((str(key).upper(), str(c)))
    return out


def _set_raw_codes(rule: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    domain = rule["domain"]
    native = DOMAIN_VOCABULARY[domain]
    old = rule.get("codes")
    descendants = isinstance(old, dict) and old.get("descendants", False)
    if all(v == native for v, _ in pairs) and not descendants:
        rule["codes"] = [c for _, c in pairs]
        return
    grouped: dict[str, list[Any]] = {}
    for v, c in pairs:
        grouped.setdefault(v.lower(), []).append(int(c) if v == "OMOP" else c)
    if descendants:
        grouped["descendants"] = True  # type: ignore[assignment]
    rule["codes"] = grouped


_VOCABULARY_DOMAIN = {"SKS": "diagnosis", "ICD10": "diagnosis", "ICD8": "diagnosis", "ATC": "prescription",
                      "NPU": "lab", "SPECIMEN": "specimen", "OMOP": "omop"}
"""The domain a code of each vocabulary belongs to (shown beside each search hit)."""


def _plain(markdown: str) -> str:
    """Markdown of the report's definition text as plain text for the widget (no backticks or emphasis).

    Examples
    --------
    >>> _plain("codes `DI21*` in **A** or *B*")
    'codes DI21* in A or B'
    """
    # code spans keep their content as written (a prefix's * is not emphasis); emphasis marks go elsewhere
    parts = re.split(r"(`[^`]*`)", markdown)
    return "".join(p[1:-1] if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else re.sub(r"\*{1,2}([^*]+)\*{1,2}", r"\1", p) for p in parts)


def _rule_summaries(defn: CohortDefinition) -> dict[str, str]:
    """Rule name -> its description in plain words (from :func:`~pmo_workbench.cohort.report.describe_definition`)."""
    lines = describe_definition(defn).splitlines()
    out = {"entry": _plain(lines[0].replace("**Entry** (the index date): ", "").rstrip("."))}
    for line in lines[1:]:
        if line.startswith("- `") and "`: " in line:
            name, text = line[3:].split("`: ", 1)
            out[name] = _plain(text)
    return out


class CohortBuilder(anywidget.AnyWidget):
    """Build a cohort definition interactively (see the module docstring).

    Parameters
    ----------
    project
        Project folder or loaded :class:`~pmo_workbench.project.Project`.
    definition
        A YAML file (relative: to the project or its ``cohorts/``), a mapping, a :class:`CohortDefinition`, or
        None for the project's default (``cohorts/mi_cases.yaml``, else the first ``cohorts/*.yaml``).
    index
        Code index for the picker (default: :func:`build_code_index`).

    Attributes
    ----------
    attrition_frame : pandas.DataFrame
        The current attrition (``step, rule, n_persons, n_removed``).
    elapsed_ms : float
        Time of the last recount in milliseconds.
    """

    _esm = Path(__file__).with_name("cohort_builder.js")
    _css = Path(__file__).with_name("cohort_builder.css")

    name = t.Unicode("").tag(sync=True)
    entry = t.Dict().tag(sync=True)
    rules = t.List().tag(sync=True)
    attrition = t.List().tag(sync=True)
    n_selected = t.Int(0).tag(sync=True)
    n_entry = t.Int(0).tag(sync=True)
    query = t.Unicode("").tag(sync=True)
    search_results = t.List().tag(sync=True)
    target = t.Unicode("entry").tag(sync=True)
    targets = t.List().tag(sync=True)
    elapsed_ms = t.Float(0.0).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    saved_path = t.Unicode("").tag(sync=True)
    save_name = t.Unicode("").tag(sync=True)
    overwrite = t.Bool(False).tag(sync=True)

    def __init__(self, project: str | Path | Project, definition: str | Path | dict | CohortDefinition | None = None,
                 *, index: CodeIndex | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._project = as_project(project)
        self._db = open_database(self._project)
        self._index = index if index is not None else build_code_index(self._project, self._db)
        self._persons = count_code_persons(self._db)
        self._raw = self._load_raw(definition)
        self._disabled: set[str] = set()
        self._unavailable: set[str] = set()
        self._base: CohortResult | None = None
        self._result: CohortResult | None = None
        self.name = str(self._raw.get("name", "cohort"))
        self.save_name = self.name
        self._rebuild()
        self.on_msg(self._on_page_msg)

    # -- set-up ---------------------------------------------------------------------------------------------
    def _load_raw(self, definition: str | Path | dict | CohortDefinition | None) -> dict[str, Any]:
        if isinstance(definition, CohortDefinition):
            raw = definition.model_dump(mode="json", exclude_none=True)
            if not raw.get("description"):
                raw.pop("description", None)
            return raw
        if isinstance(definition, dict):
            parse_definition(definition)
            return copy.deepcopy(definition)
        path = resolve_definition_path(self._project, definition)
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parse_definition(raw, file=path)
        return raw

    # -- the definition -------------------------------------------------------------------------------------
    def definition(self, *, enabled_only: bool = False) -> CohortDefinition:
        """The definition being edited (``enabled_only``: without the switched-off rules, as :meth:`save` writes)."""
        return parse_definition(self.raw_definition(enabled_only=enabled_only))

    def raw_definition(self, *, enabled_only: bool = True) -> dict[str, Any]:
        """The definition as a YAML mapping; ``enabled_only`` drops switched-off criteria and specimens."""
        raw = copy.deepcopy(self._raw)
        if not enabled_only or not self._disabled:
            return raw
        names = parse_definition(self._raw).criterion_names()
        raw["criteria"] = [c for c, n in zip(raw.get("criteria", []), names, strict=True) if n not in self._disabled]
        if not raw["criteria"]:
            raw.pop("criteria")
        if "specimens" in self._disabled:
            raw.pop("specimens", None)
        genomes = dict(raw.get("genomes") or {})
        for key in ("qc_pass", "unrelated"):
            if f"genomes.{key}" in self._disabled:
                genomes[key] = False
        if "genomes" in raw:
            raw["genomes"] = genomes
        return raw

    def _event_rules(self) -> dict[str, dict[str, Any]]:
        """Rule name -> the raw mapping holding its ``codes`` (entry and every require/exclude)."""
        out = {"entry": self._raw["entry"]}
        names = parse_definition(self._raw).criterion_names()
        for c, n in zip(self._raw.get("criteria", []), names, strict=True):
            for kind in ("require", "exclude"):
                if kind in c:
                    out[n] = c[kind]
        return out

    # -- recount --------------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Select again (codes changed): one select_cohort without controls, then the toggles."""
        defn = parse_definition(self._raw)
        self._unavailable = set()
        base = defn.model_copy(update={"controls": None})
        g = defn.genomes
        if g is not None and (g.qc_pass or g.unrelated) and latest_run_dir(self._project, "wgs_qc", "qc_decisions.parquet") is None:
            self._unavailable = {f"genomes.{k}" for k in ("qc_pass", "unrelated") if getattr(g, k)}
            base = base.model_copy(update={"genomes": None})
        t0 = time.perf_counter()
        self._base = select_cohort(self._project, base, db=self._db)
        self._apply_toggles(t0)

    def _apply_toggles(self, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        assert self._base is not None
        names = self._base.definition.rule_names()
        self._result = self._base.what_if(disable=[n for n in names if n in self._disabled])
        self.elapsed_ms = round(1000 * (time.perf_counter() - t0), 1)
        self._publish()

    def _publish(self) -> None:
        assert self._result is not None
        att = self._result.attrition
        self.attrition = [{"rule": r.rule, "n_persons": int(r.n_persons), "n_removed": int(r.n_removed)}
                          for r in att.itertuples(index=False)]
        self.n_entry = int(att["n_persons"].iloc[0])
        self.n_selected = int(att["n_persons"].iloc[-1])
        defn = parse_definition(self._raw)
        words = _rule_summaries(defn)
        rule_codes = self._event_rules()
        rules = []
        for n in defn.rule_names():
            if n == "entry":
                continue
            item: dict[str, Any] = {"name": n, "enabled": n not in self._disabled and n not in self._unavailable,
                                    "locked": n in CONSENT_RULES or n in self._unavailable,
                                    "note": "no WGS QC run" if n in self._unavailable else
                                    ("always applied" if n in CONSENT_RULES else ""),
                                    "summary": words.get(n, "")}
            if n in rule_codes:
                item["codes"] = self._code_items(rule_codes[n])
            rules.append(item)
        self.rules = rules
        self.entry = {"summary": words["entry"], "codes": self._code_items(self._raw["entry"])}
        self.targets = list(rule_codes)
        if self.target not in rule_codes:
            self.target = "entry"

    def _code_items(self, rule: dict[str, Any]) -> list[dict[str, str]]:
        items = []
        for vocab, code in _raw_codes(rule["codes"], rule["domain"]):
            stem = code.rstrip("*").split("-")[0].upper()
            desc = self._index.describe(stem, vocab) if vocab not in ("SPECIMEN",) else None
            items.append({"code": code, "vocabulary": vocab, "description": desc or ""})
        return items

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def attrition_frame(self) -> pd.DataFrame:
        assert self._result is not None
        return self._result.attrition.copy()

    @property
    def result(self) -> CohortResult:
        """The current :class:`CohortResult` (cases only; no controls)."""
        assert self._result is not None
        return self._result

    def set_enabled(self, rule: str, enabled: bool) -> None:
        """Switch a rule on or off (the entry, the Tissue Use Register and unavailable genome rules cannot be)."""
        names = parse_definition(self._raw).rule_names()
        if rule not in names or rule == "entry":
            raise ValueError(f"no rule named {rule!r}; rules: {', '.join(names[1:])}")
        if rule in CONSENT_RULES:
            raise ValueError(f"the {rule!r} step cannot be switched off")
        if rule in self._unavailable:
            raise ValueError(f"{rule} needs a WGS QC run, which this project does not have")
        (self._disabled.discard if enabled else self._disabled.add)(rule)
        self._apply_toggles()

    def search(self, query: str, vocabulary: str | None = None, limit: int = 30) -> pd.DataFrame:
        """Codes whose code or description contains every word of ``query`` (see :meth:`CodeIndex.search`)."""
        return self._index.search(query, vocabulary, limit=limit)

    def _target_rule(self, target: str | None) -> dict[str, Any]:
        rules = self._event_rules()
        name = target or self.target
        if name not in rules:
            raise ValueError(f"no rule with codes named {name!r}; choose one of {', '.join(rules)}")
        return rules[name]

    def add_code(self, code: str, vocabulary: str | None = None, target: str | None = None) -> None:
        """Add ``code`` (a code, ``X*`` prefix or range) to the entry or a require/exclude rule and select again."""
        rule = self._target_rule(target)
        vocab = (vocabulary or DOMAIN_VOCABULARY[rule["domain"]]).upper()
        code_domain = _VOCABULARY_DOMAIN.get(vocab)
        if code_domain not in (rule["domain"], "omop"):
            raise ValueError(f"{code} is a {code_domain} code ({vocab}); add it to a {code_domain} rule, not to "
                             f"{target or 'entry'} ({rule['domain']})")
        text = str(parse_code(code, vocab))
        pairs = _raw_codes(rule["codes"], rule["domain"])
        if any(v == vocab and c.upper() == text.upper() for v, c in pairs):
            return
        self._edit_codes(rule, [*pairs, (vocab, text)])

    def remove_code(self, code: str, target: str | None = None) -> None:
        """Remove ``code`` from the entry or a require/exclude rule (the last code cannot be removed)."""
        rule = self._target_rule(target)
        pairs = _raw_codes(rule["codes"], rule["domain"])
        kept = [(v, c) for v, c in pairs if c.upper() != code.upper()]
        if len(kept) == len(pairs):
            raise ValueError(f"{code!r} is not in the rule's codes")
        if not kept:
            raise ValueError("a rule needs at least one code")
        self._edit_codes(rule, kept)

    def _edit_codes(self, rule: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
        old = copy.deepcopy(rule["codes"])
        _set_raw_codes(rule, pairs)
        try:
            self._rebuild()
        except Exception:
            rule["codes"] = old
            self._rebuild()
            raise

    def save(self, name: str | None = None, *, overwrite: bool = False) -> Path:
        """Write the switched-on definition to ``PROJECT/cohorts/<name>.yaml`` (validated, atomically)."""
        name = (name or self.save_name or self.name).strip()
        names.require_name(name, "definition name")
        path = names.resolve_inside(self._project.root, Path("cohorts") / f"{name}.yaml", "definition")
        if path.exists() and not overwrite:
            raise ConfigError("a definition of this name exists (tick overwrite or choose another name)", file=path)
        raw = self.raw_definition(enabled_only=True)
        raw = {"name": name, **{k: v for k, v in raw.items() if k != "name"}}
        write_definition(path, raw)
        self.saved_path = str(path)
        return path

    # -- front end ------------------------------------------------------------------------------------------
    @t.observe("query", "target")
    def _on_query(self, _change: dict[str, Any]) -> None:
        q = self.query.strip()
        if not q:
            self.search_results = []
            return
        # every vocabulary is searched ("statin" finds ATC codes while the entry is a diagnosis); each hit says
        # its domain, and the target rule's own domain comes first
        rule = self._event_rules().get(self.target, self._raw["entry"])
        hits = self.search(q, None, limit=60)
        rows = [{"code": r.code, "vocabulary": r.vocabulary, "domain": _VOCABULARY_DOMAIN.get(r.vocabulary, ""),
                 "description": r.description or "", "persons": self._persons.get((r.vocabulary, r.code), 0)}
                for r in hits.itertuples(index=False)]
        rows.sort(key=lambda r: r["domain"] != rule["domain"])  # stable: the index's order within each group
        self.search_results = rows[:30]

    def _on_page_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        self.error = ""
        try:
            if kind == "toggle":
                self.set_enabled(str(content["rule"]), bool(content["enabled"]))
                self.status = f"{content['rule']} switched {'on' if content['enabled'] else 'off'}"
            elif kind == "add_code":
                self.add_code(str(content["code"]), content.get("vocabulary"), content.get("target"))
                self.status = f"added {content['code']}"
            elif kind == "remove_code":
                self.remove_code(str(content["code"]), content.get("target"))
                self.status = f"removed {content['code']}"
            elif kind == "save":
                path = self.save(content.get("name"), overwrite=bool(content.get("overwrite", False)))
                self.status = f"Saved to {path}"
        except (ValueError, ConfigError) as exc:
            self.error = format_error(exc)
            self._publish()
