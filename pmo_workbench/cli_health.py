"""``pmo import omop|registry`` and ``pmo cohort count|select``: typer sub-apps mounted by :mod:`pmo_workbench.cli`.

Errors are :class:`~pmo_workbench.errors.PmoError` (one line, exit code 2 through the main ``pmo`` group).

Examples
--------
    $ pmo import omop --source ../shared/data/omop_gibleed --out gibleed --synthetic
    $ pmo import registry --raw demo/raw --out demo --lookup-date 2026-01-15
    $ pmo cohort count --project demo --definition cohorts/mi.yaml
    $ pmo cohort select --project demo --definition cohorts/mi.yaml --out demo/cohorts/mi
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

import_app = typer.Typer(help="Import health data into a project's event tables.", no_args_is_help=True,
                         add_completion=False)
cohort_app = typer.Typer(help="Select cohorts from a project's event tables.", no_args_is_help=True,
                         add_completion=False)


def _print_counts(counts: dict[str, int]) -> None:
    for name, n in counts.items():
        typer.echo(f"{name:<22} {n:>10,}")


@import_app.command("omop")
def import_omop_command(
    source: Annotated[Path, typer.Option("--source", help="OMOP CDM 5.3/5.4 CSV folder or zip.")],
    out: Annotated[Path, typer.Option("--out", help="Project folder (created if missing).")],
    synthetic: Annotated[bool, typer.Option("--synthetic",
                                            help="Mark a new project as synthetic (public data).")] = False,
) -> None:
    """Import an OMOP CDM export (person, observation_period, condition_occurrence, drug_exposure, measurement,
    specimen, death, concept, concept_ancestor)."""
    from pmo_workbench.health.omop import import_omop

    _print_counts(import_omop(source, out, synthetic=synthetic))


@import_app.command("registry")
def import_registry_command(
    raw: Annotated[Path, typer.Option("--raw", help="Folder with the raw registry CSV extracts (with CPRs).")],
    out: Annotated[Path, typer.Option("--out", help="Project folder (created if missing).")],
    lookup_date: Annotated[str | None, typer.Option("--lookup-date",
                                                    help="Tissue Use Register lookup date (YYYY-MM-DD).")] = None,
    end_date: Annotated[str, typer.Option("--end-date", help="End of the extract (YYYY-MM-DD).")] = "2025-12-31",
    start_date: Annotated[str, typer.Option(
        "--start-date", help="Start of registration: observation periods open here at the earliest.")] = "1977-01-01",
) -> None:
    """Import LPR2/LPR3, LMDB, lab and Tissue Use Register extracts, pseudonymising CPR numbers on entry."""
    from pmo_workbench.errors import ConfigError
    from pmo_workbench.health.registry import import_registry

    def as_date(text: str | None, name: str) -> date | None:
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConfigError("not a date (YYYY-MM-DD)", field=name) from None

    counts = import_registry(raw, out, lookup_date=as_date(lookup_date, "--lookup-date"),
                             end_date=as_date(end_date, "--end-date") or date(2025, 12, 31),
                             start_date=as_date(start_date, "--start-date") or date(1977, 1, 1))
    _print_counts(counts)


def _select(project: Path, definition: Path):
    from pmo_workbench.cohort.selection import select_cohort

    return select_cohort(project, definition)


def _print_attrition(result) -> None:
    typer.echo(f"cohort {result.definition.name}  (definition sha256 {result.definition_hash[:12]}…)")
    lookup = result.lookup_date.isoformat() if result.lookup_date else "none"
    typer.echo(f"Tissue Use Register lookup date: {lookup}")
    for row in result.attrition.itertuples(index=False):
        typer.echo(f"{row.step:>3}  {row.rule:<34} {row.n_persons:>10,}  (-{row.n_removed:,})")


@cohort_app.command("count")
def cohort_count(
    project: Annotated[Path, typer.Option("--project", help="Project folder.")],
    definition: Annotated[Path, typer.Option("--definition", help="Cohort definition YAML.")],
) -> None:
    """Print the attrition (persons left after each rule) of a cohort definition."""
    result = _select(project, definition)
    _print_attrition(result)
    roles = result.cohort["role"].value_counts()
    typer.echo(f"cases {int(roles.get('case', 0)):,}  controls {int(roles.get('control', 0)):,}")


@cohort_app.command("select")
def cohort_select(
    project: Annotated[Path, typer.Option("--project", help="Project folder.")],
    definition: Annotated[Path, typer.Option("--definition", help="Cohort definition YAML.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default PROJECT/cohorts/<name>).")] = None,
) -> None:
    """Select the cohort and write cohort.parquet, attrition.csv, table1.csv, pick_list.csv, selection.json."""
    result = _select(project, definition)
    _print_attrition(result)
    target = out if out is not None else Path(project) / "cohorts" / result.definition.name
    for path in result.write(target):
        typer.echo(f"wrote {path}")
