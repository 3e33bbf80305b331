"""WGS quality control: per-sample and per-variant QC, sex, kinship, ancestry, outliers and decisions.

Every method takes a genotype set from :func:`pmo_workbench.genotypes.open_genotypes` (either backend) and
returns a pandas table whose columns :mod:`pmo_workbench.qc.tables` declares (field names as in Hail). By
concern:

- methods: :mod:`.sample_qc`, :mod:`.variant_qc`, :mod:`.sex`, :mod:`.kinship`, :mod:`.ancestry` (their counts
  come from the backend registry, :mod:`pmo_workbench.genotypes.backends`), with :mod:`.sites`, :mod:`.hwe`,
  :mod:`.ld`, :mod:`.pedigree` and :mod:`.outliers`;
- decisions: :mod:`.thresholds` (:class:`QcThresholds`), :mod:`.rules` (pure rules and
  :func:`~pmo_workbench.qc.rules.apply_thresholds`), :mod:`.pipeline` (:func:`run_qc`);
- around a run: :mod:`.review` (reviewed thresholds), :mod:`.trend` (batch trend), :mod:`.report` (the
  notebook's logic).

Examples
--------
>>> from pmo_workbench.qc import run_qc
>>> result = run_qc(g, manifest=manifest)  # g, manifest: the doctests' simulated set and its manifest
>>> int(result.decisions["pass"].sum()), len(result.passing_samples())
(37, 37)
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from pmo_workbench.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from pmo_workbench.qc.ancestry import ancestry
    from pmo_workbench.qc.kinship import kinship
    from pmo_workbench.qc.pipeline import QcResult, run_qc
    from pmo_workbench.qc.rules import apply_thresholds
    from pmo_workbench.qc.sample_qc import sample_qc
    from pmo_workbench.qc.sequencing_metrics import sequencing_metrics
    from pmo_workbench.qc.sex import impute_sex
    from pmo_workbench.qc.thresholds import QcThresholds
    from pmo_workbench.qc.variant_qc import variant_qc

__all__ = ["QcResult", "QcThresholds", "ancestry", "apply_thresholds", "impute_sex", "kinship", "run_qc",
           "sample_qc", "sequencing_metrics", "variant_qc"]

# Each name is imported from its module on first use: a process that runs sample_qc and variant_qc alone need
# not import numba (kinship, ancestry: ~0.25 s), scikit-learn or pydantic (the thresholds: ~0.15 s).
_MODULE_OF = {"QcResult": "pipeline", "QcThresholds": "thresholds", "run_qc": "pipeline",
              "apply_thresholds": "rules", "ancestry": "ancestry", "impute_sex": "sex", "kinship": "kinship",
              "sample_qc": "sample_qc", "variant_qc": "variant_qc",
              "sequencing_metrics": "sequencing_metrics"}

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, __all__)


class _QcPackage(types.ModuleType):
    """Importing a submodule binds its name on the package (``qc.sample_qc`` = the module); where the submodule
    shares its name with the function it holds, bind the function instead, as an eager import would have."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _MODULE_OF.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _QcPackage
