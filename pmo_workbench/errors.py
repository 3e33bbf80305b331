"""Exceptions with a location: every bad input names its file, line/record and field.

Examples
--------
>>> err = InputError("bad date", file="data/registry/person.parquet", row=12, field="birth_date")
>>> str(err)
'data/registry/person.parquet: row 12: field birth_date: bad date'
"""

from __future__ import annotations

from pathlib import Path


class PmoError(Exception):
    """Base class of every error the workbench raises on purpose (the CLI turns it into exit code 2)."""


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
        self.message = message
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
