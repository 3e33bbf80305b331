"""Declarative cohort definitions compiled to SQL on DuckDB: attrition, consent, specimens, matching, pick lists.

Examples
--------
>>> from pmo_workbench.cohort import load_definition, select_cohort  # doctest: +SKIP
>>> result = select_cohort("demo", load_definition("demo/cohorts/mi_cases.yaml"))  # doctest: +SKIP
>>> result.attrition  # doctest: +SKIP
"""

from pmo_workbench.cohort.definition import (
           CohortDefinition,
           definition_hash,
           load_definition,
           parse_definition,
)
from pmo_workbench.cohort.selection import CohortResult, select_cohort

__all__ = ["CohortDefinition", "CohortResult", "definition_hash", "load_definition", "parse_definition",
           "select_cohort"]
