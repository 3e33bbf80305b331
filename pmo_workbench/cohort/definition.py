"""Cohort definitions: the YAML contract of issue 4, validated with pydantic, normalised and hashed.

A bad key is a :class:`~pmo_workbench.errors.ConfigError` naming the file and the YAML key path, e.g.
``cohorts/mi.yaml: field criteria[2].exclude.window: window start 10 is after its end -1``.

Semantics (also in the selection docs):

- ``entry.occurrence: first`` -- the person's first-ever qualifying event (all recorded history, same codes and
  diagnosis types) is the index event, and the person enters only if that event lies inside ``date_range``
  (incident cases: persons whose first event is before the range are not entered). ``all`` -- every qualifying
  event inside ``date_range`` is a candidate index event; a person is kept with the earliest index event that
  passes every rule.
- Windows ``[start, end]`` are days relative to the index date, both ends inclusive.
- ``exclude``/``require`` count events in the window (``min_count``, default 1; lab ``value`` min/max inclusive).
- ``observation: {prior_days: N}`` needs one observation period covering [index - N, index].
- ``age_at_index: [lo, hi]`` in completed years, inclusive. ``sex`` is a list of F/M.
- Consent cannot be configured: persons without a Tissue Use Register lookup and opt-outs are always removed (a
  ``consent`` key is an error).

The hash (:func:`definition_hash`) is the sha256 of the canonical JSON of the validated model: codes upper-cased,
de-duplicated and sorted, dates in ISO form, defaults filled in, keys sorted; ``description`` is left out.

Examples
--------
>>> d = parse_definition({"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
...                       "criteria": [{"age_at_index": [40, 85]}]})
>>> d.rule_names()
['entry', 'age_at_index', 'Tissue Use Register not looked up', 'Tissue Use Register opt-out']
>>> len(definition_hash(d))
64
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pmo_workbench.errors import ConfigError
from pmo_workbench.health.codelists import (
    CODE_VOCABULARIES,
    DOMAIN_VOCABULARY,
    CodePattern,
    endpoint_codes,
    parse_code,
)
from pmo_workbench.names import check_name

LOOKUP_RULE = "Tissue Use Register not looked up"
"""Name of the next-to-last attrition step: persons the Tissue Use Register lookup did not cover (e.g. imported
from another source after the lookup) are removed; it cannot be disabled."""

CONSENT_RULE = "Tissue Use Register opt-out"
"""Name of the last attrition step; it cannot be disabled."""

CONSENT_RULES = (LOOKUP_RULE, CONSENT_RULE)
"""The Tissue Use Register steps, always applied, never disabled."""

DOMAINS = ("diagnosis", "prescription", "lab", "specimen")
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2100, 12, 31)
MAX_WINDOW_DAYS = 150 * 366


class _PathError(ValueError):
    """A ValueError that knows the key path below the field that raised it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_window(v: tuple[int, int] | None) -> tuple[int, int] | None:
    if v is None:
        return v
    a, b = v
    if a > b:
        raise ValueError(f"window start {a} is after its end {b}")
    if abs(a) > MAX_WINDOW_DAYS or abs(b) > MAX_WINDOW_DAYS:
        raise ValueError(f"window [{a}, {b}] reaches beyond {MAX_WINDOW_DAYS} days")
    return v


class CodeSet(_Strict):
    """Codes by vocabulary (normalised, sorted) and whether OMOP concepts expand to their descendants."""

    codes: dict[str, tuple[str, ...]]
    descendants: bool = False

    def patterns(self) -> list[CodePattern]:
        """The parsed patterns of every vocabulary."""
        return [parse_code(c, v) for v, cs in self.codes.items() for c in cs]


def _parse_codes(raw: Any, domain: str) -> CodeSet:
    """Read the ``codes`` value: a list in the domain's vocabulary, or a mapping ``{vocabulary: [...]}``."""
    if isinstance(raw, (str, int)):
        raw = [raw]
    descendants = False
    if isinstance(raw, list):
        groups = {DOMAIN_VOCABULARY[domain]: raw}
        where = {DOMAIN_VOCABULARY[domain]: ""}
    elif isinstance(raw, dict):
        groups, where = {}, {}
        for key, value in raw.items():
            if key == "descendants":
                if not isinstance(value, bool):
                    raise _PathError("descendants", "must be true or false")
                descendants = value
                continue
            vocab = str(key).upper()
            if vocab == "ENDPOINT":    # a shipped ICD-8 + ICD-10 harmonised endpoint (codelists.ENDPOINTS)
                for name in value if isinstance(value, list) else [value]:
                    try:
                        for v, cs in endpoint_codes(name).items():
                            groups[v] = [*groups.get(v, []), *cs]
                            where.setdefault(v, str(key))
                    except ValueError as exc:
                        raise _PathError(str(key), str(exc)) from None
                continue
            if vocab not in CODE_VOCABULARIES:
                raise _PathError(str(key)[:40], f"unknown vocabulary {str(key)[:40]!r} (known: "
                                 f"{', '.join(v.lower() for v in CODE_VOCABULARIES)}, endpoint)")
            groups[vocab] = [*groups.get(vocab, []), *(value if isinstance(value, list) else [value])]
            where[vocab] = str(key)
        if descendants and "OMOP" not in groups:
            raise _PathError("descendants", "descendants apply to OMOP concept ids only")
    else:
        raise ValueError("codes must be a list of codes or a mapping such as {omop: [192671], descendants: true}")
    out: dict[str, tuple[str, ...]] = {}
    for vocab, codes in groups.items():
        if not codes:
            raise _PathError(where[vocab], "empty code list")
        parsed = []
        for i, code in enumerate(codes):
            try:
                parsed.append(str(parse_code(code, vocab)))
            except ValueError as exc:
                sub = f"{where[vocab]}[{i}]" if where[vocab] else f"[{i}]"
                raise _PathError(sub, str(exc)) from None
        out[vocab] = tuple(sorted(set(parsed)))
    if not out:
        raise ValueError("no codes given")
    return CodeSet(codes=dict(sorted(out.items())), descendants=descendants)


class ValueRange(_Strict):
    """Lab value limits (inclusive; either may be omitted)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if any(v is not None and not math.isfinite(v) for v in (self.min, self.max)):
            raise ValueError("value limits must be finite numbers (leave min or max out for no limit)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"value min {self.min} is above max {self.max}")
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        return self


class _HasCodes(_Strict):
    domain: Literal["diagnosis", "prescription", "lab", "specimen"]
    codes: CodeSet
    diag_types: tuple[str, ...] | None = None
    value: ValueRange | None = None

    @model_validator(mode="before")
    @classmethod
    def _codes_by_domain(cls, data: Any) -> Any:
        if isinstance(data, dict) and "codes" in data and not isinstance(data["codes"], CodeSet):
            domain = data.get("domain")
            if domain in DOMAINS:
                try:
                    codes = _parse_codes(data["codes"], domain)
                except _PathError as exc:
                    raise _PathError("codes" + ("" if exc.path.startswith("[") else ".") + exc.path,
                                     exc.message) from None
                except ValueError as exc:
                    raise _PathError("codes", str(exc)) from None
                data = {**data, "codes": codes}
        return data

    @model_validator(mode="after")
    def _domain_fields(self) -> _HasCodes:
        if self.diag_types is not None and self.domain != "diagnosis":
            raise _PathError("diag_types", "diag_types apply to the diagnosis domain only")
        if self.value is not None and self.domain != "lab":
            raise _PathError("value", "value limits apply to the lab domain only")
        return self

    @field_validator("diag_types")
    @classmethod
    def _types_upper(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("empty list")
        return tuple(sorted({str(t).strip().upper() for t in v}))


class Entry(_HasCodes):
    """The entry event: it defines the index date."""

    occurrence: Literal["first", "all"] = "first"
    date_range: tuple[date, date] | None = None

    @field_validator("date_range")
    @classmethod
    def _range_ok(cls, v: tuple[date, date] | None) -> tuple[date, date] | None:
        if v is None:
            return v
        for d in v:
            if not MIN_DATE <= d <= MAX_DATE:
                raise ValueError(f"date {d} is outside {MIN_DATE}..{MAX_DATE}")
        if v[0] > v[1]:
            raise ValueError(f"date range starts {v[0]} after it ends {v[1]}")
        return v


class EventRule(_HasCodes):
    """``require``/``exclude``: at least ``min_count`` events in ``window`` (days relative to the index date)."""

    name: str | None = None
    window: tuple[int, int]
    min_count: int = Field(1, ge=1)

    _window_ok = field_validator("window")(classmethod(lambda cls, v: _check_window(v)))


class Observation(_Strict):
    """Under observation from ``prior_days`` before to ``post_days`` after the index date."""

    prior_days: int = Field(0, ge=0, le=MAX_WINDOW_DAYS)
    post_days: int = Field(0, ge=0, le=MAX_WINDOW_DAYS)


class Criterion(_Strict):
    """One item of ``criteria``: exactly one of the rule keys (plus an optional ``name``)."""

    name: str | None = None
    age_at_index: tuple[float, float] | None = None
    sex: tuple[Literal["F", "M"], ...] | None = None
    exclude: EventRule | None = None
    require: EventRule | None = None
    observation: Observation | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_rule(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("each criterion is a mapping with one rule key, e.g. {age_at_index: [40, 85]}")
        keys = [k for k in data if k != "name"]
        known = ("age_at_index", "sex", "exclude", "require", "observation")
        rules = [k for k in keys if k in known]
        if len(rules) != 1 and not [k for k in keys if k not in known]:
            raise ValueError(f"give exactly one of {', '.join(known)} (got {', '.join(keys) or 'none'})")
        return data

    @field_validator("age_at_index")
    @classmethod
    def _ages(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 <= v[0] <= v[1] <= 150):
            raise ValueError(f"ages must satisfy 0 <= {v[0]} <= {v[1]} <= 150")
        return v

    @field_validator("sex")
    @classmethod
    def _sexes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and not v:
            raise ValueError("empty list")
        return tuple(sorted(set(v))) if v is not None else v

    @property
    def kind(self) -> str:
        for k in ("age_at_index", "sex", "exclude", "require", "observation"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated criterion without a rule")  # pragma: no cover

    @property
    def default_name(self) -> str:
        if self.kind in ("exclude", "require"):
            rule = getattr(self, self.kind)
            return rule.name or f"{self.kind}_{rule.domain}"
        return self.kind


class Specimens(_Strict):
    """Usable specimens: one of ``types`` with at least ``min_aliquots`` left, collected in the window."""

    types: tuple[str, ...] = Field(..., min_length=1)
    min_aliquots: int = Field(1, ge=1)
    min_volume_ul: float | None = Field(None, ge=0)
    collected: tuple[int, int] | None = None

    _window_ok = field_validator("collected")(classmethod(lambda cls, v: _check_window(v)))


class Genomes(_Strict):
    """Genome requirements: passed the latest WGS QC run; unrelated (maximal independent set, cases first)."""

    qc_pass: bool = False
    unrelated: bool = False


class Match(_Strict):
    """Matching of controls: ``sex``/``region`` exact, ``birth_year`` within +- the given years."""

    sex: Literal["exact"] | None = None
    birth_year: int | None = Field(None, ge=0, le=50)
    region: Literal["exact"] | None = None


class Controls(_Strict):
    """Matched controls per case: ``ratio``, risk-set sampling, without replacement, ``seed``."""

    ratio: int = Field(..., ge=1, le=100)
    match: Match = Match()
    risk_set: bool = True
    seed: int = 0


class CohortDefinition(_Strict):
    """A validated cohort definition (see the module docstring for semantics).

    ``name`` becomes a folder and file name (``cohorts/<name>``), so it is a simple name
    (:func:`pmo_workbench.names.check_name`): no slashes, ``..``, absolute paths or CPR-like numbers.
    """

    name: str = Field(..., min_length=1)
    description: str = ""
    entry: Entry
    criteria: tuple[Criterion, ...] = ()
    specimens: Specimens | None = None
    genomes: Genomes | None = None
    controls: Controls | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_consent_switch(cls, data: Any) -> Any:
        if isinstance(data, dict) and "consent" in data:
            raise _PathError("consent", "consent cannot be configured: Tissue Use Register opt-outs are always "
                                        "removed")
        return data

    @field_validator("name")
    @classmethod
    def _simple_name(cls, v: str) -> str:
        return check_name(v, "cohort name")

    @model_validator(mode="after")
    def _unique_names(self) -> CohortDefinition:
        seen: set[str] = set()
        for i, c in enumerate(self.criteria):
            if c.name is not None:
                if c.name in seen or c.name in _RESERVED:
                    raise _PathError(f"criteria[{i}].name", f"rule name {c.name!r} is used twice or reserved")
                seen.add(c.name)
        return self

    def criterion_names(self) -> list[str]:
        """Unique names of the criteria, in order (explicit ``name``, else the rule kind, suffixed _2, _3...)."""
        names: list[str] = []
        explicit = {c.name for c in self.criteria if c.name}
        for c in self.criteria:
            if c.name:
                names.append(c.name)
                continue
            base, n = c.default_name, 1
            name = base
            while name in names or name in explicit or name in _RESERVED:
                n += 1
                name = f"{base}_{n}"
            names.append(name)
        return names

    def rule_names(self) -> list[str]:
        """Every attrition step in order: entry, criteria, specimens, genomes, consent."""
        names = ["entry", *self.criterion_names()]
        if self.specimens is not None:
            names.append("specimens")
        if self.genomes is not None and self.genomes.qc_pass:
            names.append("genomes.qc_pass")
        if self.genomes is not None and self.genomes.unrelated:
            names.append("genomes.unrelated")
        names.extend(CONSENT_RULES)
        return names

    def canonical(self) -> dict[str, Any]:
        """The normalised content that is hashed (no description)."""
        return self.model_dump(mode="json", exclude={"description"})


_RESERVED = {"entry", "specimens", "genomes.qc_pass", "genomes.unrelated", *CONSENT_RULES}


def definition_hash(definition: CohortDefinition) -> str:
    """sha256 (hex) of the canonical JSON of ``definition``.

    Examples
    --------
    >>> a = parse_definition({"name": "x", "entry": {"domain": "lab", "codes": ["npu01567"]}})
    >>> b = parse_definition({"name": "x", "entry": {"domain": "lab", "codes": ["NPU01567", "NPU01567"]}})
    >>> definition_hash(a) == definition_hash(b)
    True
    """
    text = json.dumps(definition.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_key_path(loc: tuple[Any, ...]) -> str:
    """``("criteria", 2, "exclude", "window")`` -> ``criteria[2].exclude.window``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("["):
            out += str(part)
        else:
            out += ("." if out else "") + str(part)
    return out or "<top>"


def parse_definition(data: Any, *, file: str | Path | None = None) -> CohortDefinition:
    """Validate a mapping (the parsed YAML) into a :class:`CohortDefinition`.

    Raises
    ------
    ConfigError
        Naming ``file`` and the YAML key path of the first problem.

    Examples
    --------
    >>> try:
    ...     parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": ["I21"]}}, file="x.yaml")
    ... except ConfigError as e:
    ...     print(e.field)
    entry.codes[0]
    """
    where = file or "<cohort definition>"
    if not isinstance(data, dict):
        raise ConfigError("a cohort definition is a mapping of keys to values", file=where)
    try:
        return CohortDefinition.model_validate(data)
    except _PathError as exc:  # raised outside pydantic's wrapping (top-level before-validator)
        raise ConfigError(exc.message, file=where, field=exc.path) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _PathError):
            loc = (*loc, cause.path)
            msg = cause.message
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        raise ConfigError(msg, file=where, field=format_key_path(loc)) from None


def load_definition(path: str | Path) -> CohortDefinition:
    """Read and validate a cohort definition YAML file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = f.write_text("name: c\\nentry: {domain: diagnosis, codes: [DI21*]}\\n")
    >>> load_definition(f).entry.codes.codes
    {'SKS': ('DI21*',)}
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError("cohort definition not found", file=path)
    from pmo_workbench.yaml_input import load_yaml

    raw = load_yaml(path)   # bounded size and aliases, latin-1/cp1252 read too, one-line errors
    return parse_definition(raw, file=path)
