"""Pseudonyms: keyed HMAC-SHA256 of normalised identifiers; the key comes from :func:`load_pseudonym_key`.

Examples
--------
>>> pseudonymise("0101902000", DEMO_KEY) == pseudonymise("010190-2000", DEMO_KEY)
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pmo_workbench.errors import PrivacyError

if TYPE_CHECKING:  # pragma: no cover
    from pmo_workbench.project import Project

DEMO_KEY: bytes = b"PMO-WORKBENCH-PUBLIC-DEMO-KEY::synthetic-projects-only::NOT-SECRET"
"""The public key of synthetic/demo projects. It is in the source code, so it protects nothing: never use it on
real data (:func:`load_pseudonym_key` only returns it with ``allow_demo`` or ``privacy.synthetic: true``)."""

MIN_KEY_BYTES = 16


def load_pseudonym_key(
    project: Project | None = None,
    *,
    env: str = "PMO_PSEUDONYM_KEY",
    file: str | Path | None = None,
    allow_demo: bool = False,
) -> bytes:
    """The pseudonymisation key: from an environment variable, else a key file outside the project, else demo.

    With a project whose import record holds a key fingerprint (:func:`record_key_fingerprint`), a different key is
    refused (:func:`check_key_fingerprint`): a new key would silently give every person new pseudonyms.

    Parameters
    ----------
    project
        A loaded project; its ``privacy.pseudonym_key.env``/``.file`` are used where ``env`` is left at its default
        and ``file`` is None, and ``privacy.synthetic: true`` allows the demo key.
    env
        Name of the environment variable holding the key (UTF-8 text; an empty value counts as unset).
    file
        Key file (bytes; surrounding whitespace stripped). Relative paths are resolved against the project folder.
        A key file inside the project folder is refused (projects get copied and shared).
    allow_demo
        Return :data:`DEMO_KEY` when no key is configured (synthetic data only).

    Raises
    ------
    PrivacyError
        No key (and demo not allowed), a missing key file, a key file inside the project, a key shorter than
        16 bytes, or a key that is not the one the project was imported with.

    Examples
    --------
    >>> load_pseudonym_key(env="PMO_NO_SUCH_VARIABLE", allow_demo=True) == DEMO_KEY
    True
    """
    key, source = load_pseudonym_key_source(project, env=env, file=file, allow_demo=allow_demo)
    if project is not None:
        check_key_fingerprint(project, key, source)
    return key


def load_pseudonym_key_source(
    project: Project | None = None,
    *,
    env: str = "PMO_PSEUDONYM_KEY",
    file: str | Path | None = None,
    allow_demo: bool = False,
) -> tuple[bytes, str]:
    """:func:`load_pseudonym_key` without the fingerprint check, also saying where the key came from
    (``"environment variable PMO_PSEUDONYM_KEY"``, ``"key file /path"``, ``"the public demo key"``).

    Examples
    --------
    >>> load_pseudonym_key_source(env="PMO_NO_SUCH_VARIABLE", allow_demo=True)[1]
    'the public demo key'
    """
    root: Path | None = None
    if project is not None:
        root = project.root
        cfg = project.config.privacy
        if env == "PMO_PSEUDONYM_KEY":
            env = cfg.pseudonym_key.env
        if file is None:
            file = cfg.pseudonym_key.file
        allow_demo = allow_demo or cfg.synthetic
    value = os.environ.get(env, "")
    if value:
        where = f"environment variable {env}"
        if file is not None:
            where += " (it takes precedence over privacy.pseudonym_key.file)"
        return _checked_key(value.encode("utf-8"), where), where
    if file is not None:
        path = Path(file).expanduser()
        if root is not None and not path.is_absolute():
            path = root / path
        path = path.resolve()
        if root is not None and path.is_relative_to(root.resolve()):
            raise PrivacyError(
                f"pseudonym key file {path} is inside the project folder {root}; move it outside the project "
                "(projects are copied and shared) and point privacy.pseudonym_key.file at it"
            )
        if not path.is_file():
            raise PrivacyError(f"pseudonym key file {path} does not exist (set by privacy.pseudonym_key.file)")
        where = f"key file {path}"
        return _checked_key(path.read_bytes().strip(), where), where
    if allow_demo:
        return DEMO_KEY, "the public demo key"
    raise PrivacyError(
        f"no pseudonym key: set the environment variable {env} (at least {MIN_KEY_BYTES} bytes, e.g. "
        "`export PMO_PSEUDONYM_KEY=$(openssl rand -hex 32)`) or set privacy.pseudonym_key.file in pmo.yaml to a "
        "key file outside the project folder; the public demo key is only for synthetic projects"
    )


FINGERPRINT_LABEL = b"PMO-WORKBENCH pseudonym key fingerprint v1"
"""The fixed message whose HMAC under the key is the key's fingerprint."""


def compute_key_fingerprint(key: bytes) -> str:
    """The key's fingerprint: HMAC-SHA256 of :data:`FINGERPRINT_LABEL` under the key, 16 hex digits. It tells keys
    apart without revealing them (the key cannot be recovered from it, and it is not a pseudonym of anybody).

    Examples
    --------
    >>> compute_key_fingerprint(DEMO_KEY) == compute_key_fingerprint(DEMO_KEY), len(compute_key_fingerprint(DEMO_KEY))
    (True, 16)
    """
    return hmac.new(_checked_key(key), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def check_key_fingerprint(project: Project, key: bytes, source: str) -> None:
    """Refuse ``key`` if the project recorded another key's fingerprint (one line naming where each key came from).

    Raises
    ------
    PrivacyError
        The fingerprints differ.
    """
    from pmo_workbench.project import IMPORT_RECORD, load_import_record

    recorded = load_import_record(project).get("pseudonym_key") or {}
    expected = recorded.get("fingerprint") if isinstance(recorded, dict) else None
    if not expected:
        return
    got = compute_key_fingerprint(key)
    if got != expected:
        raise PrivacyError(
            f"the pseudonym key from {source} (fingerprint {got}) is not the key this project's pseudonyms were made "
            f"with (fingerprint {expected}, from {recorded.get('source', 'an unrecorded source')}, recorded in "
            f"{IMPORT_RECORD}): a different key gives every person new pseudonyms and breaks the links to the "
            "existing tables (specimens, genomes); use the original key, or import into a new project"
        )


def record_key_fingerprint(key: bytes, source: str, *, timestamp: bool = True) -> dict:
    """The ``pseudonym_key`` entry of an import record: fingerprint, where the key came from, when (unless
    ``timestamp`` is False: synthetic projects are byte-identical for a seed).

    Examples
    --------
    >>> sorted(record_key_fingerprint(DEMO_KEY, "the public demo key", timestamp=False))
    ['fingerprint', 'source']
    """
    import datetime

    entry = {"fingerprint": compute_key_fingerprint(key), "source": source}
    if timestamp:
        entry["recorded"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return entry


def _checked_key(key: bytes | str, where: str = "key") -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray):
        raise PrivacyError(f"pseudonym key must be bytes, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise PrivacyError(f"pseudonym key from {where} is too short: {len(key)} bytes, need at least {MIN_KEY_BYTES}")
    return bytes(key)


class _Hmac:
    """HMAC-SHA256 with the inner and outer pads hashed once (3x faster than ``hmac.digest`` per value)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def pseudonym(self, value: str) -> str:
        h = self.inner.copy()
        h.update(value.encode("utf-8"))
        o = self.outer.copy()
        o.update(h.digest())
        return "P" + o.digest()[:8].hex()


_STRIP = str.maketrans("", "", "- ")
_ECPR_SHAPE = re.compile(r"[0-9]{7}[A-Za-z]{2}[0-9]")
"""An eCPR number once hyphen and spaces are gone; its letters are upper-cased (other identifiers keep case)."""


def _normalise(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        raise TypeError("a boolean is not an identifier")
    if isinstance(value, int | np.integer):
        return f"{int(value):010d}"
    if isinstance(value, str):
        s = value.strip().translate(_STRIP)
        return s.upper() if _ECPR_SHAPE.fullmatch(s) else s
    raise TypeError(f"cannot pseudonymise a value of type {type(value).__name__}")


def pseudonymise(values: str | Sequence | np.ndarray | pd.Series, key: bytes) -> str | list | pd.Series:
    """Keyed pseudonyms ``"P" + 16 hex digits`` (HMAC-SHA256 of the normalised identifier).

    The identifier is normalised first: surrounding whitespace, hyphens and spaces are removed (integers are
    zero-padded to 10 digits), so ``"010190-2000"`` and ``"0101902000"`` give the same pseudonym; eCPR numbers
    (``DDMMYY-CAAG``) are treated the same way, with their letters upper-cased, so ``"020329-1wq3"`` and
    ``"0203291WQ3"`` are one person.

    Parameters
    ----------
    values
        One identifier (returns a str), a list/array (returns a list) or a pandas Series (returns a Series with the
        same index; NA stays NA).
    key
        At least 16 bytes, from :func:`load_pseudonym_key`.

    Examples
    --------
    >>> p = pseudonymise("010190-2000", DEMO_KEY)
    >>> p[0], len(p)
    ('P', 17)
    >>> pseudonymise("020329-1wq3", DEMO_KEY) == pseudonymise("0203291WQ3", DEMO_KEY)
    True
    """
    mac = _Hmac(_checked_key(key))
    if isinstance(values, str | int | np.integer):
        return mac.pseudonym(_normalise(values))
    if isinstance(values, pd.Series):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        pseudo = np.array(_pseudonyms(mac, uniques), dtype=object)
        out = np.empty(len(values), dtype=object)
        known = codes >= 0
        out[known] = pseudo[codes[known]]
        out[~known] = pd.NA
        return pd.Series(out, index=values.index, name=values.name, dtype=object)
    if isinstance(values, Iterable):
        items = list(values)
        na = [_is_na(v) for v in items]
        done = iter(_pseudonyms(mac, [v for v, m in zip(items, na, strict=True) if not m]))
        return [None if m else next(done) for m in na]
    raise TypeError(f"pseudonymise expects a str, a list/array or a pandas Series, not {type(values).__name__}")


def _pseudonyms(mac: _Hmac, values: Sequence | np.ndarray | pd.Index) -> list[str]:
    """Pseudonyms of non-missing values; all-text input is normalised in one vectorised pass."""
    if len(values) and all(isinstance(v, str) for v in values):
        text = pd.Series(values, dtype=object).str.strip().str.replace(r"[- ]", "", regex=True)
        ecpr = text.str.fullmatch(_ECPR_SHAPE.pattern)
        normal = text.where(~ecpr, text.str.upper()).tolist()
    else:
        normal = [_normalise(v) for v in values]
    inner, outer = mac.inner, mac.outer
    out = []
    for v in normal:
        h = inner.copy()
        h.update(v.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        out.append(o.digest()[:8].hex())
    return ["P" + x for x in out]


def _is_na(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)
