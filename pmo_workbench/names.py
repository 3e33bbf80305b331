"""Names that become file or folder names (cohorts, runs, projects) and output paths that must stay in the project.

A name is a simple identifier: a letter or digit, then letters, digits, ``_``, ``-`` or ``.``, at most 64
characters -- so no ``/``, no ``..``, no absolute path, no spaces or newlines -- and it must not look like a CPR or
eCPR number (names end up in folder names and run records). Every output path the workbench derives is resolved
(symbolic links followed) and refused when it leaves the project folder.

Examples
--------
>>> check_name("mi_2026")
'mi_2026'
>>> try:
...     check_name("../../../x")
... except ValueError as e:
...     print(e)
'../../../x' is not a simple name: letters, digits, _, - and . (starting with a letter or digit, up to 64)
"""

from __future__ import annotations

import re
from pathlib import Path

from pmo_workbench.errors import ConfigError, mask_cpr_like

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A cohort, run or project name (matched in full)."""

NAME_RULE = "letters, digits, _, - and . (starting with a letter or digit, up to 64)"


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it is a simple name (:data:`NAME_PATTERN`, not CPR-like), else ValueError (the pydantic
    validators' form; :func:`require_name` raises :class:`ConfigError`).

    Examples
    --------
    >>> check_name("cohort-1.v2")
    'cohort-1.v2'
    """
    if not isinstance(name, str):
        raise ValueError(f"a {what} must be text, not {type(name).__name__}")
    if not NAME_PATTERN.fullmatch(name):
        shown = mask_cpr_like(name)
        shown = repr(shown) if len(shown) <= 80 else repr(shown[:77] + "...")
        raise ValueError(f"{shown} is not a simple {what}: {NAME_RULE}")
    if mask_cpr_like(name) != name:
        raise ValueError(f"a {what} must not hold a CPR-like number")
    return name


def require_name(name: object, what: str = "name", *, field: str | None = "name",
                 file: str | Path | None = None) -> str:
    """:func:`check_name` raising :class:`ConfigError` (one line, exit code 2 from the CLI).

    Examples
    --------
    >>> try:
    ...     require_name("/etc/passwd", "cohort name")
    ... except ConfigError as e:
    ...     print(e.field, "|", e.message.split(":")[0])
    name | '/etc/passwd' is not a simple cohort name
    """
    try:
        return check_name(name, what)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, field=field) from None


def resolve_inside(root: str | Path, path: str | Path, what: str = "output") -> Path:
    """``path`` (relative paths against ``root``) resolved, if it lies inside the folder ``root``; else a
    :class:`ConfigError` naming both. Symbolic links are followed, so a link pointing out is refused too.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> resolve_inside(root, "cohorts/mi") == (root / "cohorts" / "mi").resolve()
    True
    >>> try:
    ...     resolve_inside(root, "../x")
    ... except ConfigError as e:
    ...     print(str(e).split(" leaves")[0])
    output path ../x
    """
    base = Path(root).resolve()
    p = Path(path).expanduser()
    target = (p if p.is_absolute() else base / p).resolve()
    if target != base and not target.is_relative_to(base):
        raise ConfigError(f"{what} path {mask_cpr_like(str(path))} leaves the project folder {base} (outputs are "
                          "written inside the project only)")
    return target


def make_name(text: str, default: str = "project") -> str:
    """A valid name made from ``text`` (e.g. a folder name): other characters become ``_``, cut to 64.

    Examples
    --------
    >>> make_name("My study (2026)")
    'My_study_2026'
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")[:64].strip("_.-")
    try:
        return check_name(name)
    except ValueError:
        return default
