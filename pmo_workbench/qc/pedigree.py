"""PED files: read a pedigree and list the relationships it implies between pairs of samples.

A PED file has six whitespace-separated columns (family, sample, father, mother, sex, phenotype); ``0`` or
``-9`` (or ``.``/``NA``) mean unknown. Lines starting with ``#`` are comments or a header; extra columns
after the
sixth are kept. The relationships follow from the pedigree kinship coefficient (Wright's coefficient of
relationship halved), computed recursively over the generations, so any family structure is understood.

Examples
--------
>>> import io
>>> ped = read_pedigree(io.StringIO("f A 0 0 1 -9\\nf B 0 0 2 -9\\nf C A B 1 -9\\nf D A B 2 -9\\n"))
>>> rel = compute_expected_relationships(ped)
>>> rel.set_index(["sample_i", "sample_j"]).loc[("C", "D"), "expected_detail"]
'full-sibling'
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pmo_workbench.errors import InputError

if TYPE_CHECKING:  # imported where a table is made (kinship imports this module before it counts)
    import pandas as pd

PED_COLUMNS = ["family_id", "sample_id", "father_id", "mother_id", "sex", "phenotype"]
_MISSING = {"0", "-9", ".", "NA", "na", ""}
_SEX = {"1": "M", "2": "F", "M": "M", "F": "F", "m": "M", "f": "F", "male": "M", "female": "F"}

# The kinship table's degree classes (``relationship``), keyed by the lower bound of the KING kinship: plink2's
# cutoffs 2^-1.5, 2^-2.5, 2^-3.5 and 2^-4.5 (halfway, on a log scale, between the expected kinships 1/2, 1/4, ...).
DEGREE_CUTOFFS: tuple[tuple[float, str], ...] = (
    (0.354, "duplicate/MZ"),
    (0.177, "first"),
    (0.0884, "second"),
    (0.0442, "third"),
)


def classify_kinship(phi: float) -> str:
    """Map a kinship coefficient to a degree class: duplicate/MZ, first, second, third or unrelated.

    The bounds are plink2's (``--make-king-table`` documentation): > 0.354, > 0.177, > 0.0884, > 0.0442.

    Examples
    --------
    >>> classify_kinship(0.25), classify_kinship(0.01)
    ('first', 'unrelated')
    """
    for cut, name in DEGREE_CUTOFFS:
        if phi > cut:
            return name
    return "unrelated"


def read_pedigree(source: str | Path | io.TextIOBase) -> pd.DataFrame:
    """Read a PED file.

    Parameters
    ----------
    source
        Path of a PED file, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        One row per sample, columns

        - ``family_id`` (str)
        - ``sample_id`` (str)
        - ``father_id`` (str or None when unknown: ``0``/``-9``/``.``)
        - ``mother_id`` (str or None)
        - ``sex`` (``"M"``, ``"F"`` or None)
        - ``phenotype`` (str or None)
        - any extra columns, named from a ``#`` header line when there is one, else ``extra_7``, ``extra_8``,
          ...

    Raises
    ------
    InputError
        For a line with fewer than six columns, a sample listed twice, a bad sex code or a sample that is its
        own parent (naming file, line and field).

    Examples
    --------
    >>> import io
    >>> read_pedigree(io.StringIO("#fam id dad mom sex pheno\\nf1 A 0 0 1 -9\\n")).loc[0, "sex"]
    'M'
    """
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "<pedigree>")
    if isinstance(source, str | Path):
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise InputError(f"cannot read pedigree: {exc.strerror}", file=name) from None
    else:
        text = source.read()
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            fields = line.lstrip("#").split()
            if len(fields) >= 6 and not rows:
                header = fields
            continue
        fields = line.split()
        if len(fields) < 6:
            raise InputError(f"expected at least 6 columns, found {len(fields)}", file=name, line=lineno)
        rows.append(fields)
        lines.append(lineno)
    n_extra = max((len(r) for r in rows), default=6) - 6
    extra_names = [
        header[6 + i] if header is not None and len(header) > 6 + i else f"extra_{7 + i}"
        for i in range(n_extra)
    ]
    records = []
    seen: dict[str, int] = {}
    for fields, lineno in zip(rows, lines, strict=True):
        fam, sid, dad, mom, sex, pheno = fields[:6]
        if sid in _MISSING:
            raise InputError("sample ID is missing", file=name, line=lineno, field="sample_id")
        if sid in seen:
            raise InputError(
                f"sample {sid} listed twice (first on line {seen[sid]})",
                file=name,
                line=lineno,
                field="sample_id",
            )
        seen[sid] = lineno
        if sex not in _MISSING and sex not in _SEX:
            raise InputError("sex must be 1, 2, 0 or -9", file=name, line=lineno, field="sex")
        dad_v = None if dad in _MISSING else dad
        mom_v = None if mom in _MISSING else mom
        if sid in (dad_v, mom_v):
            raise InputError("a sample cannot be its own parent", file=name, line=lineno, field="father_id")
        rec = {
            "family_id": fam,
            "sample_id": sid,
            "father_id": dad_v,
            "mother_id": mom_v,
            "sex": _SEX.get(sex),
            "phenotype": None if pheno in _MISSING else pheno,
        }
        for i, col in enumerate(extra_names):
            rec[col] = fields[6 + i] if len(fields) > 6 + i else None
        records.append(rec)
    import pandas as pd

    return pd.DataFrame.from_records(records, columns=PED_COLUMNS + extra_names)


def as_pedigree(pedigree: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Return ``pedigree`` as the DataFrame of :func:`read_pedigree` (reading it when a path is given)."""
    import pandas as pd

    if isinstance(pedigree, pd.DataFrame):
        missing = [c for c in PED_COLUMNS[:4] if c not in pedigree.columns]
        if missing:
            raise InputError(f"pedigree table lacks columns {missing}", field=missing[0])
        return pedigree
    return read_pedigree(pedigree)


def compute_pedigree_kinship(ped: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Kinship coefficients implied by a pedigree, for every pair of samples in the same family.

    Parents named in a family but without a row of their own are treated as founders and are paired too.
    The recursion is the classical one: phi(a, b) = (phi(father(a), b) + phi(mother(a), b)) / 2 when ``a`` is
    not an ancestor of ``b``, and phi(a, a) = (1 + phi(father(a), mother(a))) / 2.

    Returns
    -------
    dict
        ``(sample_a, sample_b) -> kinship`` for a < b (string order), same family only.

    Examples
    --------
    >>> import io
    >>> ped = read_pedigree(io.StringIO("f A 0 0 1 -9\\nf B 0 0 2 -9\\nf C A B 1 -9\\n"))
    >>> compute_pedigree_kinship(ped)[("A", "C")]
    0.25
    """
    out: dict[tuple[str, str], float] = {}
    for _, fam in ped.groupby("family_id", sort=False):
        parents = {
            r.sample_id: (r.father_id, r.mother_id)
            for r in fam[["sample_id", "father_id", "mother_id"]].itertuples(index=False)
        }
        for p in [x for pair in parents.values() for x in pair if x is not None]:
            parents.setdefault(p, (None, None))
        members = list(parents)  # parents without a row of their own count as members too
        out.update(_family_kinship(parents, members))
    return out


def _family_kinship(
    parents: dict[str, tuple[str | None, str | None]], members: list[str]
) -> dict[tuple[str, str], float]:
    order = _topological_order(parents)
    rank = {s: i for i, s in enumerate(order)}
    memo: dict[tuple[str, str], float] = {}

    def phi(a: str | None, b: str | None) -> float:
        if a is None or b is None:
            return 0.0
        if rank[a] < rank[b]:
            a, b = b, a  # a is the later one: never an ancestor of b
        key = (a, b)
        if key not in memo:
            fa, mo = parents[a]
            memo[key] = (1.0 + phi(fa, mo)) / 2.0 if a == b else (phi(fa, b) + phi(mo, b)) / 2.0
        return memo[key]

    out = {}
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            out[(a, b) if a < b else (b, a)] = phi(a, b)
    return out


def _topological_order(parents: dict[str, tuple[str | None, str | None]]) -> list[str]:
    """Samples ordered so that parents come before their children; raises on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}
    for start in parents:
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, done = stack.pop()
            if done:
                state[node] = 2
                order.append(node)
                continue
            if state.get(node) == 2:
                continue
            if state.get(node) == 1:
                raise InputError(f"pedigree has a cycle through sample {node}", field="father_id")
            state[node] = 1
            stack.append((node, True))
            for p in parents[node]:
                if p is not None and state.get(p) != 2:
                    if state.get(p) == 1:
                        raise InputError(f"pedigree has a cycle through sample {p}", field="father_id")
                    stack.append((p, False))
    return order


def compute_expected_relationships(ped: pd.DataFrame, samples: Iterable[str] | None = None) -> pd.DataFrame:
    """Every pair of samples that share a family, with the relationship the pedigree implies.

    Parameters
    ----------
    ped
        A pedigree from :func:`read_pedigree`.
    samples
        Restrict to pairs where both samples are in this collection (e.g. the genotyped samples).

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_i``, ``sample_j`` (str, sample_i < sample_j), ``family_id`` (str),
        ``expected_kinship`` (float), ``expected_relationship`` (str: duplicate/MZ, first, second, third,
        unrelated) and ``expected_detail`` (str: parent-offspring, full-sibling, half-sibling, grandparent,
        avuncular, first-cousin, spouse/unrelated or the degree when no name applies).

    Examples
    --------
    >>> import io
    >>> ped = read_pedigree(io.StringIO("f A 0 0 1 -9\\nf B 0 0 2 -9\\nf C A B 1 -9\\n"))
    >>> compute_expected_relationships(ped)["expected_detail"].tolist()
    ['unrelated', 'parent-offspring', 'parent-offspring']
    """
    keep = set(samples) if samples is not None else None
    phis = compute_pedigree_kinship(ped)
    parent_of = {
        r.sample_id: {p for p in (r.father_id, r.mother_id) if p is not None}
        for r in ped[["sample_id", "father_id", "mother_id"]].itertuples(index=False)
    }
    family = dict(zip(ped["sample_id"], ped["family_id"], strict=True))
    for r in ped[["family_id", "father_id", "mother_id"]].itertuples(index=False):
        for p in (r.father_id, r.mother_id):
            if p is not None:
                family.setdefault(p, r.family_id)
    rows = []
    for (a, b), phi in phis.items():
        if keep is not None and (a not in keep or b not in keep):
            continue
        rows.append(
            {
                "sample_i": a,
                "sample_j": b,
                "family_id": family[a],
                "expected_kinship": phi,
                "expected_relationship": classify_kinship(phi),
                "expected_detail": _name_relationship(a, b, phi, parent_of),
            }
        )
    cols = [
        "sample_i",
        "sample_j",
        "family_id",
        "expected_kinship",
        "expected_relationship",
        "expected_detail",
    ]
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=cols)


def _name_relationship(a: str, b: str, phi: float, parent_of: dict[str, set[str]]) -> str:
    pa, pb = parent_of.get(a, set()), parent_of.get(b, set())
    if a in pb or b in pa:
        return "parent-offspring"
    shared = pa & pb
    if len(shared) == 2:
        return "full-sibling"
    if len(shared) == 1:
        return "half-sibling"
    grand_a = {g for p in pa for g in parent_of.get(p, set())}
    grand_b = {g for p in pb for g in parent_of.get(p, set())}
    if a in grand_b or b in grand_a:
        return "grandparent"
    if phi == 0:
        return "unrelated"

    def siblings(x: str) -> set[str]:
        px = parent_of.get(x, set())
        return {s for s, ps in parent_of.items() if s != x and ps & px} if px else set()

    if any(a in siblings(p) for p in pb) or any(b in siblings(p) for p in pa):
        return "avuncular"
    if any(q in siblings(p) for p in pa for q in pb):
        return "first-cousin"
    return classify_kinship(phi)
