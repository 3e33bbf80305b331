"""Start-up of the runner's processes: defer the IRI grammars jsonschema builds at import but the runner never uses.

nbformat validates notebooks with jsonschema, and jsonschema imports ``rfc3987_syntax`` for its ``iri`` and
``iri-reference`` format checkers. That module compiles ~35 Earley grammars with lark when it is imported: 2–3 s
of CPU in every process that imports nbformat, papermill or nbconvert — the runner, its execution subprocess and
the git clean filter (python-jsonschema/jsonschema#1428; the maintained fork ``rfc3987-syntax2`` loads lazily, but
jsonschema does not use it yet). No notebook schema uses these formats.

:func:`defer_iri_grammars` puts a stand-in module under that name, so jsonschema's import costs nothing; the first
call of one of its functions imports the real module and hands the call on, so an ``iri`` check gives exactly the
answer it gave before. It does nothing when the real module is imported already, when the module is not installed,
or when the ``rfc3987`` package is (jsonschema then uses that one and never imports ``rfc3987_syntax``).

Examples
--------
>>> from pmo_workbench.runner.deferred_imports import defer_iri_grammars
>>> defer_iri_grammars() in (True, False)  # False when already deferred, imported, or not installed
True
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_NAME = "rfc3987_syntax"
_lock = threading.Lock()


class _DeferredModule(types.ModuleType):
    """Stands in for ``rfc3987_syntax`` until one of its attributes is used, then becomes a view of the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_load_real(), name)


def _load_real() -> types.ModuleType:
    with _lock:
        current = sys.modules.get(_NAME)
        if current is not None and not isinstance(current, _DeferredModule):
            return current
        sys.modules.pop(_NAME, None)
        try:
            return importlib.import_module(_NAME)
        except BaseException:
            if current is not None:
                sys.modules[_NAME] = current
            raise


def _is_valid_syntax(term: str, value: str) -> bool:
    """The real ``rfc3987_syntax.is_valid_syntax``, imported on first use."""
    return _load_real().is_valid_syntax(term, value)


def defer_iri_grammars() -> bool:
    """Put the deferred stand-in for ``rfc3987_syntax`` in place before jsonschema is imported.

    Returns
    -------
    bool
        ``True`` when the stand-in was installed by this call; ``False`` when nothing was needed or possible (the
        real module or the stand-in is imported already, the module is not installed, or jsonschema will use the
        ``rfc3987`` package instead).

    Examples
    --------
    >>> import jsonschema
    >>> defer_iri_grammars()  # jsonschema has imported its checkers already: nothing left to defer
    False
    """
    with _lock:
        if _NAME in sys.modules:
            return False
        if importlib.util.find_spec("rfc3987") is not None or importlib.util.find_spec(_NAME) is None:
            return False
        stub = _DeferredModule(_NAME, __doc__)
        stub.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]  # what jsonschema imports by name
        sys.modules[_NAME] = stub
        return True
