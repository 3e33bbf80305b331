"""Health data in the workbench's event schema (``health/schema.py`` is its contract): registry adapters, OMOP import, code lists."""

from pmo_workbench.health.schema import EVENT_TABLES, TableSpec, read_table, validate_table, write_table

__all__ = ["EVENT_TABLES", "TableSpec", "read_table", "validate_table", "write_table"]
