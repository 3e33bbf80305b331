"""A package's public names imported from their modules on first use (PEP 562), so that importing the package
loads none of its heavy dependencies until a name is used (:mod:`pmo_workbench.qc`: numba, scikit-learn;
:mod:`pmo_workbench.privacy`: pandas, for the table scanner).

Example
-------
>>> getattr_, dir_ = lazy_exports("pmo_workbench.privacy", {"parse_cpr": "cpr"}, ["parse_cpr"])
>>> getattr_("parse_cpr")("010190-2000").birth_date.year
1990
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, module_of: Mapping[str, str], names: Sequence[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package``: name ``n`` is looked up in its submodule
    ``module_of[n]``, imported then; ``__dir__`` lists the package's own names and ``names``."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module attribute hook
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
