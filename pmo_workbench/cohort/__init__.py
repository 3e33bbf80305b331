"""Declarative cohort definitions compiled to SQL on DuckDB: attrition, consent, specimens, matching, pick lists."""
