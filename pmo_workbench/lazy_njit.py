"""``numba.njit`` for kernels that most processes never call: numba is imported, and the kernel compiled (or
loaded from numba's cache), on the kernel's first call.

Importing numba costs about 0.25 s (llvmlite, its type system and, through its coverage support, the
``coverage`` package where installed). A QC pass on a store whose rows are all in the 2-bit copy runs no
numba code (its kernels are C: :mod:`pmo_workbench.ckernels`), yet it imports the store and call-count modules,
which hold numba kernels for the other rows; those modules declare their kernels with this decorator.

A lazy kernel is called from Python only: a numba kernel cannot call it (numba types a callee when it compiles
the caller), and it takes no ``parallel=True`` (its callers split work over threads, the kernels being
``nogil``).

Examples
--------
>>> import numpy as np
>>> @njit(nogil=True)
... def total(x):
...     s = 0
...     for v in x:
...         s += v
...     return s
>>> total(np.arange(5))
10
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()


class LazyKernel:
    """A function compiled by ``numba.njit(**options)`` on its first call (thread-safe)."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        if options.get("parallel"):
            raise ValueError(f"{fn.__qualname__}: a lazy kernel cannot be parallel=True (split it over threads)")
        self.py_func = fn
        self._options = options
        self._compiled: Callable[..., Any] | None = None
        functools.update_wrapper(self, fn)

    def compiled(self) -> Callable[..., Any]:
        """The numba dispatcher (imports numba and compiles on the first call)."""
        if self._compiled is None:
            with _LOCK:
                if self._compiled is None:
                    import numba

                    self._compiled = numba.njit(**self._options)(self.py_func)
        return self._compiled

    def __call__(self, *args: Any) -> Any:
        compiled = self._compiled
        return (compiled if compiled is not None else self.compiled())(*args)


def njit(**options: Any) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Decorator: ``numba.njit(**options)`` applied on the first call (see the module docstring)."""
    return lambda fn: LazyKernel(fn, options)
