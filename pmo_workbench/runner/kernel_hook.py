"""Installed in the run's kernel at start-up: records an uncaught workbench error (its kind and fix) for the runner.

The kernel reports only an exception's *name* to papermill; whether it was a configuration or input problem
(:class:`~pmo_workbench.errors.InputError` and subclasses, such as ``ConfigError``) and what fixes it is known only
inside the kernel. This hook, run by the kernel's ``exec_lines``, registers an IPython custom exception handler
for :class:`~pmo_workbench.errors.PmoError` that writes one JSON record to ``$PMO_RUN_ERROR_FILE`` and then
shows the traceback exactly as IPython would (so the cell still fails, its error output is the usual one, and
papermill still stops).

Examples
--------
>>> describe_error(ValueError("x"))["kind"]
'other'
"""

from __future__ import annotations

import json
import os
from typing import Any

ERROR_FILE_ENV = "PMO_RUN_ERROR_FILE"


def describe_error(exc: BaseException) -> dict[str, Any]:
    """Type, kind (``input`` for configuration/input errors, ``privacy``, ``other``), message and fix."""
    from pmo_workbench.errors import InputError, PrivacyError

    kind = "input" if isinstance(exc, InputError) else "privacy" if isinstance(exc, PrivacyError) else "other"
    fix = getattr(exc, "fix", None)
    return {"type": type(exc).__name__, "kind": kind, "message": str(exc),
            "fix": str(fix) if fix else None}


def install() -> None:
    """Register the handler in the running IPython kernel (a no-op outside IPython or without the variable)."""
    path = os.environ.get(ERROR_FILE_ENV)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the kernel always has IPython
        return
    shell = get_ipython()
    if shell is None or not path:
        return
    from pmo_workbench.errors import PmoError

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> Any:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(describe_error(value), fh)
        except OSError:
            pass
        # IPython (8.x/9.x) leaves showing the traceback to the handler: show it as it would have
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return []

    shell.set_custom_exc((PmoError,), handler)
