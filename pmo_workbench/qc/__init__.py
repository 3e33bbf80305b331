"""WGS quality control: per-sample and per-variant QC, sex, kinship, ancestry, outliers and decisions.

Every function takes a genotype set from :func:`pmo_workbench.genotypes.open_genotypes` and returns pandas tables
with the columns of DESIGN.md §4.2 (field names as in Hail).

Example
-------
>>> from pmo_workbench.genotypes import open_genotypes  # doctest: +SKIP
>>> from pmo_workbench.qc import run_qc  # doctest: +SKIP
>>> result = run_qc(open_genotypes("cohort.vcf.gz"), manifest="manifest.tsv")  # doctest: +SKIP
>>> result.decisions.head()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pmo_workbench.qc.ancestry import ancestry
from pmo_workbench.qc.kinship import kinship
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.sex import impute_sex
from pmo_workbench.qc.variant_qc import variant_qc

if TYPE_CHECKING:
    from pmo_workbench.qc.decisions import QcResult, QcThresholds, run_qc

__all__ = ["QcResult", "QcThresholds", "ancestry", "impute_sex", "kinship", "run_qc", "sample_qc", "variant_qc"]

# imported on first use: pydantic (for the thresholds) costs ~0.15 s, which a sample_qc-only process need not pay
_LAZY = {"QcResult", "QcThresholds", "run_qc"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pmo_workbench.qc import decisions

        return getattr(decisions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
