"""Exceptions with a location: every bad input names its file, line/record and field.

Examples
--------
>>> err = InputError("bad date", file="data/registry/person.parquet", row=12, field="birth_date")
>>> str(err)
'data/registry/person.parquet: row 12: field birth_date: bad date'
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_MESSAGE_CHARS = 500
"""Longest error message shown to a user (:func:`format_error`); the rest is cut and counted."""

MASK = "<CPR-like value>"
"""What a CPR-like value in an error message is replaced by."""

_CPR_LIKE = re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)[0-9]{6}[- ]?[0-9](?:[0-9]{3}|[A-Za-z]{2}[0-9])"
                       r"(?![0-9A-Za-z])(?!\.[0-9])")
"""CPR numbers (``DDMMYYSSSS``, ``DDMMYY-SSSS``) and eCPR numbers (``DDMMYYCAAG``, ``DDMMYY-CAAG``) not inside a
longer run of letters or digits nor the decimals of a number. Deliberately wider than the output scan (no date check): masking a harmless
10-digit number in an error message costs nothing, echoing a CPR number is a breach."""


def mask_cpr_like(text: str) -> str:
    """``text`` with every CPR- or eCPR-shaped value replaced by :data:`MASK`.

    Examples
    --------
    >>> mask_cpr_like("bad code 010190-2000 and 0203291WQ3 in row 12, id 12345678901")
    'bad code <CPR-like value> and <CPR-like value> in row 12, id 12345678901'
    """
    return _CPR_LIKE.sub(MASK, text)


def format_error(error: BaseException | str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The one form in which an error reaches a user: one line, CPR-like values masked, at most ``limit`` characters.

    Every user-facing error message goes through here (the CLI prints nothing else; run records store this).

    Examples
    --------
    >>> format_error(ValueError("row 3: value 0101902000\\nis not a date"))
    'row 3: value <CPR-like value> is not a date'
    >>> len(format_error("x" * 10_000))
    500
    """
    text = error if isinstance(error, str) else (str(error) or type(error).__name__)
    text = " ".join(mask_cpr_like(text).split())
    if len(text) > limit:
        more = f" … ({len(text) - limit} more characters)"
        keep = max(limit - len(more), 0)
        text = (text[:keep] + more)[:limit]
    return text


class PmoError(Exception):
    """Base class of every error the workbench raises on purpose (the CLI turns it into exit code 2).

    Its text never holds a CPR-like value: ``str(error)`` masks them (:func:`mask_cpr_like`), whatever the raiser
    put in.
    """

    def __str__(self) -> str:
        return mask_cpr_like(super().__str__())


class InputError(PmoError, ValueError):
    """A bad input: names the file, the line or row, and the field, never the offending personal value.

    Parameters
    ----------
    message
        What is wrong, in one line.
    file
        The file (or YAML/zip member) the bad value came from.
    line, row
        1-based text line, or 0-based table row, where known.
    field
        The column, FORMAT/INFO field or YAML key path.
    fix
        What the user should do about it, in one sentence (shown under the problem in a *misconfigured* run's
        report and in the CLI); not part of the message.

    Examples
    --------
    >>> InputError("no genotypes", field="sources.genotypes", fix="run `pmo import ...` first").fix
    'run `pmo import ...` first'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = mask_cpr_like(message)
        self.fix = fix
        self.file = str(file) if file is not None else None
        self.line = line
        self.row = row
        self.field = field
        parts = []
        if self.file:
            parts.append(self.file)
        if line is not None:
            parts.append(f"line {line}")
        if row is not None:
            parts.append(f"row {row}")
        if field:
            parts.append(f"field {field}")
        parts.append(message)
        super().__init__(": ".join(parts))


class ConfigError(InputError):
    """A bad ``pmo.yaml``, parameters file or cohort definition (names the key path)."""


class PrivacyError(PmoError):
    """A privacy rule would be broken (a CPR-like value in an output, a missing pseudonym key, ...)."""
