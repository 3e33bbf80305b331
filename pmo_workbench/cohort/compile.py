"""Compile a cohort definition into DuckDB SQL: one query per rule.

The entry query yields candidate index events ``(person_id, index_date)``. Every other rule is a query over a
table of such pairs (named by ``idx``) that returns the pairs passing the rule, so the same SQL serves the cases
(over the entry events) and the controls (over candidate persons at their case's index date). Tables used:
``person``, ``observation_period``, ``diagnosis``, ``prescription``, ``lab``, ``specimen``,
``tissue_use_register``, ``concept_ancestor`` and, for genome rules, ``genome_qc`` (person_id, pass).

Examples
--------
>>> from pmo_workbench.cohort.definition import parse_definition
>>> d = parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
...                       "criteria": [{"sex": ["F"]}]})
>>> "LIKE 'DI21%'" in compile_entry(d.entry)
True
>>> print(compile_rule(d, "sex", idx="idx"))
SELECT i.person_id, i.index_date FROM idx i JOIN person p ON p.person_id = i.person_id WHERE p.sex IN ('F')
"""

from __future__ import annotations

from pmo_workbench.cohort.definition import (
    CONSENT_RULE,
    LOOKUP_RULE,
    CohortDefinition,
    Criterion,
    Entry,
    EventRule,
    Specimens,
    _HasCodes,
)
from pmo_workbench.health.codelists import CodePattern, code_condition

_DATE = {"diagnosis": "date", "prescription": "date", "lab": "CAST(datetime AS DATE)", "specimen": "collected_date"}
_TABLE = {"diagnosis": "diagnosis", "prescription": "prescription", "lab": "lab", "specimen": "specimen"}


def _q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_q(v) for v in values)


def _after(text: str) -> str | None:
    """The smallest string greater than every string starting with ``text`` (None if there is none).

    Strings compare by code point (DuckDB compares UTF-8 bytes, the same order). The last character is
    incremented, skipping the surrogates (not encodable); a prefix ending in the highest code point drops that
    character and increments the one before.

    Examples
    --------
    >>> _after("DI21"), _after("A\U0010ffff")
    ('DI22', 'B')
    """
    while text and ord(text[-1]) >= 0x10FFFF:
        text = text[:-1]
    if not text:
        return None
    nxt = ord(text[-1]) + 1
    return text[:-1] + chr(0xE000 if 0xD800 <= nxt <= 0xDFFF else nxt)


def code_bounds(patterns: list[CodePattern]) -> tuple[str, str, bool] | None:
    """``(low, high, inclusive)``: every code the patterns cover has ``low <= code < high`` (``<=`` when
    ``inclusive``), or None.

    A necessary condition, added to the code condition as plain comparisons so that DuckDB checks it against the
    min/max statistics of each Parquet row group (or in-memory segment) and skips those that cannot hold a
    matching code. None when the patterns have OMOP concept ids (descendants come from a subquery) or a pattern
    without an upper bound.

    Examples
    --------
    >>> from pmo_workbench.health.codelists import parse_code
    >>> code_bounds([parse_code("DI21*", "SKS"), parse_code("DI20-DI25", "SKS")])
    ('DI20', 'DI26', False)
    """
    lows: list[str] = []
    highs: list[tuple[str, bool]] = []
    for p in patterns:
        if p.vocabulary == "OMOP":
            return None
        if p.kind == "exact":
            highs.append((p.value, True))
        else:
            high = _after((p.high if p.kind == "range" else p.value) or "")
            if high is None:
                return None
            highs.append((high, False))
        lows.append(p.value)
    if not lows:
        return None
    high, inclusive = max(highs)
    return min(lows), high, inclusive


def _bounds_condition(patterns: list[CodePattern]) -> list[str]:
    bounds = code_bounds(patterns)
    if bounds is None:
        return []
    low, high, inclusive = bounds
    return [f"code >= {_q(low)} AND code {'<=' if inclusive else '<'} {_q(high)}"]


def event_filter(rule: _HasCodes) -> str:
    """The WHERE condition selecting a rule's events in its domain table (codes, diag_types, lab values)."""
    if rule.domain == "specimen":
        types = [str(p).lower() for p in rule.codes.patterns()]
        conds = [f"lower(specimen_type) IN ({_in_list(types)})"]
    else:
        patterns = rule.codes.patterns()
        conds = [*_bounds_condition(patterns), code_condition(patterns, descendants=rule.codes.descendants)]
    if rule.diag_types is not None:
        conds.append(f"upper(diag_type) IN ({_in_list(rule.diag_types)})")
    if rule.value is not None:
        if rule.value.min is not None:
            conds.append(f"value >= {float(rule.value.min)!r}")
        if rule.value.max is not None:
            conds.append(f"value <= {float(rule.value.max)!r}")
    return " AND ".join(conds)


def compile_events(rule: _HasCodes) -> str:
    """SQL of the qualifying events of ``rule``: ``person_id, event_date`` (all recorded history)."""
    return (f"SELECT person_id, {_DATE[rule.domain]} AS event_date FROM {_TABLE[rule.domain]} "
            f"WHERE {event_filter(rule)}")


def compile_entry(entry: Entry) -> str:
    """SQL of the index events ``person_id, index_date`` (persons must be in ``person``).

    ``first``: the first-ever qualifying event, kept if it lies in ``date_range``. ``all``: every qualifying
    event in ``date_range`` (one row per person and date).
    """
    events = compile_events(entry)
    rng = ""
    if entry.date_range is not None:
        lo, hi = entry.date_range
        rng = f"index_date BETWEEN DATE '{lo.isoformat()}' AND DATE '{hi.isoformat()}'"
    # Persons are checked against ``person`` after grouping, by an inner join (person_id is unique there), so the
    # hash table is built on the few entering persons rather than on the whole population.
    if entry.occurrence == "first":
        sql = f"SELECT person_id, min(event_date) AS index_date FROM ({events}) ev GROUP BY person_id"
    else:
        sql = (f"SELECT DISTINCT person_id, event_date AS index_date FROM ({events}) ev "
               f"WHERE event_date IS NOT NULL")
    sql = f"SELECT f.person_id, f.index_date FROM ({sql}) f JOIN person p ON p.person_id = f.person_id"
    return f"SELECT * FROM ({sql}) a" + (f" WHERE {rng}" if rng else "")


def _window_join(idx: str, rule: EventRule) -> str:
    a, b = rule.window
    if rule.domain == "lab":
        # the day of a lab result is CAST(datetime AS DATE); comparing the timestamps themselves (day d+a from
        # midnight up to, not including, day d+b+1) is the same test and lets DuckDB skip row groups by datetime
        events = f"SELECT person_id, datetime AS event_ts FROM lab WHERE {event_filter(rule)}"
        cond = (f"e.event_ts >= CAST(i.index_date + ({a}) AS TIMESTAMP) "
                f"AND e.event_ts < CAST(i.index_date + ({b + 1}) AS TIMESTAMP)")
    else:
        events = compile_events(rule)
        cond = f"e.event_date BETWEEN i.index_date + ({a}) AND i.index_date + ({b})"
    return (f"SELECT i.person_id, i.index_date, count(*) AS n FROM {idx} i JOIN ({events}) e "
            f"ON e.person_id = i.person_id AND {cond} GROUP BY i.person_id, i.index_date")


def compile_event_rule(kind: str, rule: EventRule, idx: str) -> str:
    """``require``: at least ``min_count`` events in the window. ``exclude``: fewer than ``min_count``."""
    hits = f"SELECT person_id, index_date FROM ({_window_join(idx, rule)}) h WHERE n >= {rule.min_count}"
    if kind == "require":
        return hits
    return f"SELECT person_id, index_date FROM {idx} EXCEPT {hits}"


def compile_criterion(c: Criterion, idx: str) -> str:
    """SQL of the ``(person_id, index_date)`` pairs of ``idx`` passing criterion ``c``."""
    base = f"SELECT i.person_id, i.index_date FROM {idx} i"
    kind = c.kind
    if kind == "age_at_index":
        lo, hi = c.age_at_index  # type: ignore[misc]
        age = ("(year(i.index_date) - year(p.birth_date) - CASE WHEN strftime(i.index_date, '%m%d') < "
               "strftime(p.birth_date, '%m%d') THEN 1 ELSE 0 END)")
        return f"{base} JOIN person p ON p.person_id = i.person_id WHERE {age} >= {lo!r} AND {age} <= {hi!r}"
    if kind == "sex":
        return f"{base} JOIN person p ON p.person_id = i.person_id WHERE p.sex IN ({_in_list(c.sex)})"  # type: ignore
    if kind == "observation":
        o = c.observation
        assert o is not None
        return (f"{base} WHERE EXISTS (SELECT 1 FROM observation_period op WHERE op.person_id = i.person_id "
                f"AND op.start_date <= i.index_date - ({o.prior_days}) "
                f"AND op.end_date >= i.index_date + ({o.post_days}))")
    rule = getattr(c, kind)
    return compile_event_rule(kind, rule, idx)


def specimen_conditions(s: Specimens | None) -> list[str]:
    """SQL conditions on ``specimen s`` (joined to an index pair ``i``) for a usable specimen: status available
    (or unknown) and, with a ``specimens`` rule, its type, aliquots (unknown counts as 1), volume and collection
    window relative to ``i.index_date``. The one definition used by the rule, the pick list and the
    availability table.

    Examples
    --------
    >>> specimen_conditions(None)
    ["coalesce(s.status, 'available') = 'available'"]
    """
    conds = ["coalesce(s.status, 'available') = 'available'"]
    if s is None:
        return conds
    conds.append(f"lower(s.specimen_type) IN ({specimen_type_list(s)})")
    conds.append(f"coalesce(s.aliquots_left, 1) >= {s.min_aliquots}")
    if s.min_volume_ul is not None:
        conds.append(f"s.volume_ul >= {float(s.min_volume_ul)!r}")
    if s.collected is not None:
        a, b = s.collected
        conds.append(f"s.collected_date BETWEEN i.index_date + ({a}) AND i.index_date + ({b})")
    return conds


def specimen_type_list(s: Specimens) -> str:
    """The rule's specimen types, lower-cased, as an SQL list body in the rule's order."""
    return _in_list([t.lower() for t in s.types])


def compile_specimens(s: Specimens, idx: str) -> str:
    """Pairs with a usable specimen (:func:`specimen_conditions`)."""
    return (f"SELECT i.person_id, i.index_date FROM {idx} i WHERE EXISTS (SELECT 1 FROM specimen s "
            f"WHERE s.person_id = i.person_id AND {' AND '.join(specimen_conditions(s))})")


def compile_lookup(idx: str) -> str:
    """Pairs whose person the Tissue Use Register lookup covered (a row in ``tissue_use_register``, opted out or
    not). A person imported after the lookup, or from a source the lookup never saw, has no row and no consent."""
    return (f"SELECT person_id, index_date FROM {idx} WHERE person_id IN "
            f"(SELECT person_id FROM tissue_use_register)")


def compile_consent(idx: str) -> str:
    """Pairs whose person is not opted out in the Tissue Use Register."""
    return (f"SELECT person_id, index_date FROM {idx} WHERE person_id NOT IN "
            f"(SELECT person_id FROM tissue_use_register WHERE opt_out)")


def compile_qc_pass(idx: str) -> str:
    """Pairs whose person has at least one genome that passed the latest WGS QC (table ``genome_qc``)."""
    return (f"SELECT person_id, index_date FROM {idx} WHERE person_id IN "
            f"(SELECT person_id FROM genome_qc WHERE pass)")


def compile_rule(definition: CohortDefinition, name: str, idx: str = "idx") -> str:
    """SQL of one named rule of ``definition`` (not ``entry`` nor ``genomes.unrelated``, which is a graph step)."""
    if name == CONSENT_RULE:
        return compile_consent(idx)
    if name == LOOKUP_RULE:
        return compile_lookup(idx)
    if name == "specimens":
        assert definition.specimens is not None
        return compile_specimens(definition.specimens, idx)
    if name == "genomes.qc_pass":
        return compile_qc_pass(idx)
    names = definition.criterion_names()
    if name in names:
        return compile_criterion(definition.criteria[names.index(name)], idx)
    raise KeyError(f"no SQL rule named {name!r}")


def compile_risk_set(definition: CohortDefinition, idx: str, *, risk_set: bool) -> str:
    """Candidate controls at an index date: born before and alive on it, under observation on it (when the project
    has observation periods), and not yet a case -- no entry event (any date, same codes) on or before the index
    date, or, without risk-set sampling, no entry event at all."""
    first = f"SELECT person_id, min(event_date) AS first_event FROM ({compile_events(definition.entry)}) ev " \
            "GROUP BY person_id"
    case = "f.first_event IS NULL" + (" OR f.first_event > i.index_date" if risk_set else "")
    return (f"SELECT i.person_id, i.index_date FROM {idx} i JOIN person p ON p.person_id = i.person_id "
            f"LEFT JOIN ({first}) f ON f.person_id = i.person_id "
            f"WHERE p.birth_date <= i.index_date AND (p.death_date IS NULL OR p.death_date > i.index_date) "
            f"AND ({case}) "
            f"AND (NOT EXISTS (SELECT 1 FROM observation_period) OR EXISTS (SELECT 1 FROM observation_period op "
            f"WHERE op.person_id = i.person_id AND op.start_date <= i.index_date AND op.end_date >= i.index_date))")
