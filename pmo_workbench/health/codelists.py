"""Code lists: SKS/ICD-10 prefix patterns and ranges, ATC prefixes, NPU codes and OMOP concept sets.

A code set in a cohort definition is either a list of strings in the domain's native vocabulary
(``["DI21*", "DI20-DI25", "DI219"]`` for diagnoses, ``["C10AA*"]`` for prescriptions, ``["NPU01567"]`` for labs)
or a mapping naming the vocabulary (``{atc: [...]}``, ``{omop: [192671], descendants: true}``). Each string is
parsed into a :class:`CodePattern` -- exact, prefix (``*`` at the end) or range (``LOW-HIGH``, inclusive, compared
on the first ``len(LOW)`` / ``len(HIGH)`` characters, so ``DI20-DI25`` holds ``DI259``) -- and compiled into a SQL
condition over an event table's ``code`` and ``vocabulary`` columns.

Descriptions come from TSV files with columns ``code`` and ``description`` that a project may ship in its
``codelists/`` folder (file stem = vocabulary, e.g. ``codelists/sks.tsv``) and, after an OMOP import, from the
imported ``concept`` table. :class:`CodeIndex` makes them searchable (for the CohortBuilder widget).

Examples
--------
>>> p = parse_code("DI21*", "SKS")
>>> p.kind, p.value
('prefix', 'DI21')
>>> code_condition([p, parse_code("DI20-DI25", "SKS")])
"(vocabulary = 'SKS' AND (code LIKE 'DI21%' OR (substr(code, 1, 4) >= 'DI20' AND substr(code, 1, 4) <= 'DI25')))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pmo_workbench.errors import InputError

CODE_VOCABULARIES = ("SKS", "ICD10", "ICD8", "ATC", "NPU", "OMOP", "SPECIMEN")
"""Vocabularies a code set may name (ICD8: the Danish ICD-8 of LPR before 1994, 5 digits such as ``41099``;
SPECIMEN: free-text specimen types for the specimen domain)."""

DOMAIN_VOCABULARY = {"diagnosis": "SKS", "prescription": "ATC", "lab": "NPU", "specimen": "SPECIMEN"}
"""The vocabulary a bare list of strings is read in, per domain."""

_EXACT = {
    # SKS diagnosis codes: D + ICD-10 chapter letter + two digits + optional further characters (DI219, DE110A)
    "SKS": re.compile(r"^D[A-Z][0-9]{2}[0-9A-Z]*$"),
    "ICD10": re.compile(r"^[A-Z][0-9]{2}(\.?[0-9A-Z]+)?$"),
    # ICD-8 (Danish edition): 3-digit category and a 2-digit subdivision, written 41099 or 410.99
    "ICD8": re.compile(r"^[0-9]{3}([0-9]{1,2})?$"),
    # ATC: level 1 letter, level 2 two digits, level 3 letter, level 4 letter, level 5 two digits
    "ATC": re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"),
    "NPU": re.compile(r"^(NPU|DNK)[0-9]{5}$"),
    "SPECIMEN": re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]*$"),
}
_PREFIX = {
    "SKS": re.compile(r"^D[A-Z]([0-9][0-9A-Z]*)?$"),
    "ICD10": re.compile(r"^[A-Z]([0-9][0-9.A-Z]*)?$"),
    "ICD8": re.compile(r"^[0-9]{1,5}$"),
    "ATC": re.compile(r"^[A-Z]([0-9]{1,2}([A-Z]([A-Z]([0-9]{1,2})?)?)?)?$"),
}
_EXAMPLES = {"SKS": "DI219, DI21*, DI20-DI25", "ICD10": "I21.9, I21*", "ICD8": "41099, 410.99, 410*, 430-438", "ATC": "C10AA05, C10AA*",
             "NPU": "NPU01567 or DNK05451", "OMOP": "a positive integer concept id",
             "SPECIMEN": "a specimen type such as DNA or EDTA-blood"}


def _shown(value: object) -> str:
    """A value as error messages quote it: ``repr`` cut to 40 characters, and a CPR-like number masked."""
    text = repr(value)
    if len(text) > 40:
        text = text[:38] + "…" + text[0]
    if re.search(r"[0-9]{6}", text):
        import pandas as pd

        from pmo_workbench.privacy import scan_for_cpr

        if scan_for_cpr(pd.DataFrame({"v": [str(value)[:200]]})):
            return "<a CPR-like value>"
    return text


@dataclass(frozen=True)
class CodePattern:
    """One parsed code: ``kind`` is ``exact``, ``prefix`` or ``range`` (then ``value`` is LOW and ``high`` HIGH)."""

    vocabulary: str
    kind: str
    value: str
    high: str | None = None

    def __str__(self) -> str:
        if self.kind == "prefix":
            return f"{self.value}*"
        if self.kind == "range":
            return f"{self.value}-{self.high}"
        return self.value

    def matches(self, code: str) -> bool:
        """Whether ``code`` (in this pattern's vocabulary) is covered by the pattern.

        Examples
        --------
        >>> parse_code("DI20-DI25", "SKS").matches("DI259")
        True
        """
        code = code.upper()
        if self.kind == "exact":
            return code == self.value
        if self.kind == "prefix":
            return code.startswith(self.value)
        assert self.high is not None
        return code[: len(self.value)] >= self.value and code[: len(self.high)] <= self.high


def parse_code(text: str | int, vocabulary: str) -> CodePattern:
    """Parse one code, prefix (``X*``) or range (``LOW-HIGH``) of ``vocabulary``.

    Raises ``ValueError`` saying what is wrong and what a valid code looks like.

    Examples
    --------
    >>> parse_code("c10aa*", "ATC")
    CodePattern(vocabulary='ATC', kind='prefix', value='C10AA', high=None)
    """
    vocabulary = vocabulary.upper()
    if vocabulary not in CODE_VOCABULARIES:
        raise ValueError(f"unknown vocabulary {vocabulary!r} (known: {', '.join(CODE_VOCABULARIES)})")
    if vocabulary == "OMOP":
        if isinstance(text, bool) or not (isinstance(text, int) or (isinstance(text, str) and text.isdigit())):
            raise ValueError(f"malformed OMOP concept id {_shown(text)}: expected {_EXAMPLES['OMOP']}")
        if int(text) <= 0:
            raise ValueError(f"malformed OMOP concept id {_shown(text)}: expected {_EXAMPLES['OMOP']}")
        return CodePattern("OMOP", "exact", str(int(text)))
    if not isinstance(text, str):
        raise ValueError(f"malformed {vocabulary} code {_shown(text)}: expected text such as {_EXAMPLES[vocabulary]}")
    raw = text.strip()
    code = raw if vocabulary == "SPECIMEN" else raw.upper()
    if vocabulary == "ICD8":   # stored without the dot (LPR writes 41099; papers write 410.99)
        code = code.replace(".", "")
    if vocabulary != "SPECIMEN" and code.endswith("*"):
        stem = code[:-1]
        rx = _PREFIX.get(vocabulary)
        if rx is None:
            raise ValueError(f"{vocabulary} codes are matched exactly; {_shown(raw)} has a wildcard")
        if not rx.match(stem):
            raise ValueError(f"malformed {vocabulary} prefix {_shown(raw)}: expected e.g. {_EXAMPLES[vocabulary]}")
        return CodePattern(vocabulary, "prefix", stem)
    if vocabulary in ("SKS", "ICD10", "ICD8", "ATC") and "-" in code:
        low, _, high = code.partition("-")
        for part in (low, high):
            if not (_EXACT[vocabulary].match(part) or _PREFIX[vocabulary].match(part)):
                raise ValueError(f"malformed {vocabulary} range {_shown(raw)}: expected e.g. {_EXAMPLES[vocabulary]}")
        if low[: len(high)] > high:
            raise ValueError(f"empty {vocabulary} range {_shown(raw)}: the start sorts after the end")
        return CodePattern(vocabulary, "range", low, high)
    if not _EXACT[vocabulary].match(code):
        raise ValueError(f"malformed {vocabulary} code {_shown(raw)}: expected e.g. {_EXAMPLES[vocabulary]}")
    return CodePattern(vocabulary, "exact", code)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _prefix_condition(column: str, prefix: str) -> str:
    """``column LIKE 'prefix%'``, escaping ``%``, ``_`` and ``\\`` in the prefix so they match themselves."""
    if not any(ch in prefix for ch in "%_\\"):
        return f"{column} LIKE {_quote(prefix + '%')}"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{column} LIKE {_quote(escaped + '%')} ESCAPE '\\'"


def code_condition(patterns: list[CodePattern], *, descendants: bool = False,
                   ancestor_table: str = "concept_ancestor", code_column: str = "code",
                   vocabulary_column: str | None = "vocabulary") -> str:
    """SQL condition (DuckDB) that is true for events whose code is covered by ``patterns``.

    OMOP concept ids with ``descendants=True`` also cover every descendant in ``ancestor_table``
    (``ancestor_concept_id``, ``descendant_concept_id``). With ``vocabulary_column=None`` the vocabulary is not
    tested (used for specimen types).

    Examples
    --------
    >>> code_condition([parse_code("NPU01567", "NPU")])
    "(vocabulary = 'NPU' AND (code = 'NPU01567'))"
    """
    if not patterns:
        return "FALSE"
    by_vocab: dict[str, list[CodePattern]] = {}
    for p in patterns:
        by_vocab.setdefault(p.vocabulary, []).append(p)
    parts = []
    for vocab, pats in by_vocab.items():
        terms = []
        exact = sorted({p.value for p in pats if p.kind == "exact"})
        if vocab == "OMOP":
            ids = ", ".join(exact)
            terms.append(f"{code_column} IN ({', '.join(_quote(c) for c in exact)})")
            if descendants:
                terms.append(f"{code_column} IN (SELECT CAST(descendant_concept_id AS VARCHAR) FROM "
                             f"{ancestor_table} WHERE ancestor_concept_id IN ({ids}))")
        else:
            if len(exact) == 1:
                terms.append(f"{code_column} = {_quote(exact[0])}")
            elif exact:
                terms.append(f"{code_column} IN ({', '.join(_quote(c) for c in exact)})")
            for p in pats:
                if p.kind == "prefix":
                    terms.append(_prefix_condition(code_column, p.value))
                elif p.kind == "range":
                    assert p.high is not None
                    terms.append(f"(substr({code_column}, 1, {len(p.value)}) >= {_quote(p.value)} AND "
                                 f"substr({code_column}, 1, {len(p.high)}) <= {_quote(p.high)})")
        body = " OR ".join(terms)
        parts.append(f"({vocabulary_column} = {_quote(vocab)} AND ({body}))" if vocabulary_column else f"({body})")
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def load_descriptions(path: str | Path, vocabulary: str | None = None) -> pd.DataFrame:
    """Read a code-description TSV (columns ``code``, ``description``) into ``code, description, vocabulary``.

    The vocabulary defaults to the file stem in upper case (``sks.tsv`` -> ``SKS``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "sks.tsv"
    >>> _ = f.write_text("code\\tdescription\\nDI21\\tAkut myokardieinfarkt\\n")
    >>> load_descriptions(f).iloc[0].tolist()
    ['DI21', 'Akut myokardieinfarkt', 'SKS']
    """
    path = Path(path)
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for col in ("code", "description"):
        if col not in df.columns:
            raise InputError("missing column", file=path, field=col)
    empty = (df["code"].str.strip() == "").to_numpy()
    if empty.any():
        raise InputError("empty code", file=path, row=int(empty.argmax()), field="code")
    vocab = (vocabulary or path.stem).upper()
    return pd.DataFrame({"code": df["code"].str.strip().str.upper(), "description": df["description"],
                         "vocabulary": vocab})


class CodeIndex:
    """A searchable table of codes with descriptions (``code``, ``description``, ``vocabulary``).

    Examples
    --------
    >>> idx = CodeIndex(pd.DataFrame({"code": ["DI21", "DI219"], "vocabulary": "SKS",
    ...                               "description": ["Akut myokardieinfarkt", "AMI, uspecificeret"]}))
    >>> idx.search("myokardie")["code"].tolist()
    ['DI21']
    """

    def __init__(self, codes: pd.DataFrame) -> None:
        self.codes = codes[["code", "description", "vocabulary"]].drop_duplicates(["vocabulary", "code"])
        self.codes = self.codes.sort_values(["vocabulary", "code"]).reset_index(drop=True)
        self._haystack = (self.codes["code"].str.lower() + " " + self.codes["description"].fillna("").str.lower())

    @classmethod
    def from_project(cls, project: object) -> CodeIndex:
        """Index the project's ``codelists/*.tsv`` and, if imported from OMOP, its ``concept`` table."""
        from pmo_workbench.project import as_project

        proj = as_project(project)  # type: ignore[arg-type]
        frames = [load_descriptions(f) for f in sorted((proj.root / "codelists").glob("*.tsv"))]
        registry = proj.source("registry")
        concept = registry / "concept.parquet" if registry else None
        if concept is not None and concept.exists():
            c = pd.read_parquet(concept, columns=["concept_id", "concept_name"])
            frames.append(pd.DataFrame({"code": c["concept_id"].astype(str), "description": c["concept_name"],
                                        "vocabulary": "OMOP"}))
        if not frames:
            return cls(pd.DataFrame(columns=["code", "description", "vocabulary"]))
        return cls(pd.concat(frames, ignore_index=True))

    def search(self, query: str, vocabulary: str | None = None, *, limit: int = 50) -> pd.DataFrame:
        """Codes whose code or description contains every word of ``query`` (case-insensitive).

        Codes that start with the query come first, then by vocabulary and code.
        """
        mask = pd.Series(True, index=self.codes.index)
        if vocabulary is not None:
            mask &= self.codes["vocabulary"] == vocabulary.upper()
        for word in query.lower().split():
            mask &= self._haystack.str.contains(word, regex=False)
        hits = self.codes[mask].copy()
        first = query.strip().upper()
        hits["_rank"] = (~hits["code"].str.startswith(first)).astype(int) if first else 0
        hits = hits.sort_values(["_rank", "vocabulary", "code"]).drop(columns="_rank")
        return hits.head(limit).reset_index(drop=True)

    def describe(self, code: str, vocabulary: str) -> str | None:
        """The description of ``code`` (or of its longest described prefix), None if unknown."""
        sub = self.codes[self.codes["vocabulary"] == vocabulary.upper()].set_index("code")["description"]
        code = code.upper()
        for n in range(len(code), 0, -1):
            if code[:n] in sub.index:
                return str(sub[code[:n]])
        return None


def search_codes(query: str, vocabulary: str | None = None, *, index: CodeIndex | None = None,
                 project: object | None = None, limit: int = 50) -> pd.DataFrame:
    """Search codes by code or description words (``index`` given, or built from ``project``).

    Examples
    --------
    >>> idx = CodeIndex(pd.DataFrame({"code": ["C10AA"], "description": ["HMG CoA reductase inhibitors"],
    ...                               "vocabulary": ["ATC"]}))
    >>> search_codes("reductase", "ATC", index=idx)["code"].tolist()
    ['C10AA']
    """
    if index is None:
        if project is None:
            raise ValueError("give an index or a project")
        index = CodeIndex.from_project(project)
    return index.search(query, vocabulary, limit=limit)


ENDPOINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "mi": {"SKS": ("DI21*", "DI22*"), "ICD8": ("410*",)},
    "stroke": {"SKS": ("DI60*", "DI61*", "DI63*", "DI64*"), "ICD8": ("430*", "431*", "433*", "434*", "436*")},
    "diabetes": {"SKS": ("DE10*", "DE11*", "DE12*", "DE13*", "DE14*"), "ICD8": ("249*", "250*")},
    "cancer": {"SKS": ("DC00-DC43", "DC45-DC97"), "ICD8": ("140-172", "174-209")},
    "breast_cancer": {"SKS": ("DC50*",), "ICD8": ("174*",)},
    "colorectal_cancer": {"SKS": ("DC18*", "DC19*", "DC20*"), "ICD8": ("153*", "154*")},
    "lung_cancer": {"SKS": ("DC34*",), "ICD8": ("162*",)},
    "prostate_cancer": {"SKS": ("DC61*",), "ICD8": ("185*",)},
}
"""Endpoints harmonised over ICD-8 (LPR 1977-1993) and ICD-10 (SKS, LPR from 1994): one rule covers both eras
(``codes: {endpoint: mi}`` in a cohort definition).

Sources (the ICD-8 columns are those of the Danish ICD-8 edition, ``Klassifikation af sygdomme``, whose
3-digit categories are WHO ICD-8's):

- ``mi``: FinnGen endpoint I9_MI_STRICT (ICD-10 I21, I22; ICD-8 410), https://r7.risteys.finngen.fi/phenocode/I9_MI_STRICT.
- ``stroke``: FinnGen I9_STR_SAH (ICD-10 I60, I61, I63, I64; ICD-8 430, 431, 433, 434, 436),
  https://r4.risteys.finngen.fi/phenocode/I9_STR_SAH (FinnGen's exclusions of I63.6 and 431.01/431.91 are not
  applied).
- ``diabetes``: the Danish National Diabetes Register's hospital-diagnosis criteria (ICD-8 249, 250; ICD-10
  E10-E14), Carstensen B, Kristensen JK, Marcussen MM, Borch-Johnsen K. The National Diabetes Register. Scand J
  Public Health 2011;39(7 Suppl):58-61.
- cancers: WHO ICD-8 chapter II (malignant neoplasms 140-209; 173 other skin cancer left out as ICD-10 C44 is)
  and the site codes of FinnGen's C3_* endpoints: breast 174 / C50, colorectal 153-154 / C18-C20, lung 162 /
  C34, prostate 185 / C61.

These are starting points for a study's own validated definitions, not validated definitions themselves.
"""


def endpoint_codes(name: str) -> dict[str, tuple[str, ...]]:
    """The codes of a shipped endpoint by vocabulary (:data:`ENDPOINTS`).

    Examples
    --------
    >>> endpoint_codes("MI")
    {'SKS': ('DI21*', 'DI22*'), 'ICD8': ('410*',)}
    >>> parse_code("410.99", "ICD8").matches("41099")
    True
    """
    key = str(name).strip().lower()
    if key not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {str(name)[:40]!r} (known: {', '.join(ENDPOINTS)})")
    return dict(ENDPOINTS[key])
