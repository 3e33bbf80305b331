"""``pmo import omop|registry`` and ``pmo cohort count|select``: click groups mounted by :mod:`pmo_workbench.cli`.

Errors are :class:`~pmo_workbench.errors.PmoError` (one line, exit code 2 through the main ``pmo`` group). Paths
in options are resolved as notebook parameters are: a relative path is looked up in the project folder first
(``--definition`` also in its ``cohorts/``, a bare name without ``.yaml``), then in the current folder;
``cohort select --out`` is relative to the project.

Examples
--------
    $ pmo import omop --source ../shared/data/omop_gibleed --out gibleed --synthetic
    $ pmo import registry --raw demo/raw --out demo --lookup-date 2026-01-15
    $ pmo cohort count --project demo --definition mi_cases
    $ pmo cohort select --project demo --definition cohorts/mi_cases.yaml --out cohorts/mi
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from pmo_workbench.errors import ConfigError

_CONTEXT = {"help_option_names": ["-h", "--help"]}


_ENCODING_HELP = "Text encoding of the files: utf-8, latin-1, cp1252 or auto (detected per file; the default)."
_CHECKS_HELP = ("Plausibility rule severities, e.g. 'future_date=fatal,duplicate_rows=off' or 'all=fatal' "
                "(rules: see pmo_workbench.health.checks).")


def _print_counts(counts: dict[str, int]) -> None:
    for name, n in counts.items():
        click.echo(f"{name:<22} {n:>10,}")


def describe_missing(project: Path) -> list[tuple[str, str]]:
    """What a freshly imported project lacks for the tracks, each with the next command to run.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (p / "pmo.yaml").write_text("name: t\\n")
    >>> [what.split(":")[0] for what, _ in describe_missing(p)]
    ['no consent data', 'no cohort definitions', 'no genomes']
    """
    from pmo_workbench.project import load_project

    proj = load_project(project)
    missing: list[tuple[str, str]] = []
    consent = proj.source("consent")
    if consent is None or not (consent / "tissue_use_register.parquet").exists():
        missing.append(("no consent data: no Tissue Use Register lookup, so cohort selection cannot check opt-outs",
                        f"pmo import registry --raw <extract folder with the register> --out {proj.root} "
                        "--lookup-date YYYY-MM-DD"))
    cohorts = proj.cohorts_dir
    if not cohorts.is_dir() or not any(cohorts.glob("*.y*ml")):
        missing.append(("no cohort definitions: cohorts/ holds no *.yaml",
                        f"mkdir -p {cohorts} && cp templates/cohorts/mi_cases.yaml {cohorts}/  # then edit it"))
    genotypes = proj.source("genotypes")
    if genotypes is None:
        missing.append(("no genomes: sources.genotypes is not set in pmo.yaml (WGS QC and genome rules need it)",
                        f"edit {proj.root / 'pmo.yaml'}: sources.genotypes and sources.manifest"))
    return missing


def _print_next_steps(project: Path) -> None:
    missing = describe_missing(project)
    if missing:
        click.echo("\nThe project lacks:")
        for what, command in missing:
            click.echo(f"  - {what}\n      next: {command}")
    click.echo("\nNext:")
    click.echo(f"  pmo run overview --project {project}        # what the project holds")
    click.echo(f"  pmo cohort count --project {project} --definition <name>")


@click.group("import", context_settings=_CONTEXT, no_args_is_help=True)
def import_group() -> None:
    """Import health data into a project's event tables.

    \b
    Example:
      pmo import omop --source ../shared/data/omop_gibleed --out gibleed --synthetic
      pmo import registry --raw raw_extracts --out study --lookup-date 2026-01-15
    """


@import_group.command("omop", context_settings=_CONTEXT)
@click.option("--source", type=click.Path(path_type=Path), required=True,
              help="OMOP CDM 5.3/5.4 CSV folder or zip.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Project folder (created if missing).")
@click.option("--synthetic", is_flag=True, help="Mark a new project as synthetic (public data).")
@click.option("--encoding", default=None, help=_ENCODING_HELP)
@click.option("--checks", default=None, help=_CHECKS_HELP)
def import_omop_command(source: Path, out: Path, synthetic: bool, encoding: str | None, checks: str | None) -> None:
    """Import an OMOP CDM export (person, observation_period, condition_occurrence, drug_exposure, measurement,
    specimen, death, concept, concept_ancestor), then print what the project still lacks and what to run next.

    \b
    Example:
      pmo import omop --source ../shared/data/omop_synthea27nj/Synthea27Nj_5.4.zip --out nj --synthetic
    """
    from pmo_workbench.health.omop import import_omop

    counts = import_omop(source, out, synthetic=synthetic, encoding=encoding, checks=checks)
    _print_counts(counts)
    click.echo(counts.checks.summary())
    _print_next_steps(out)


def _as_date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError("not a date (YYYY-MM-DD)", field=name) from None


@import_group.command("registry", context_settings=_CONTEXT)
@click.option("--raw", type=click.Path(path_type=Path), required=True,
              help="Folder with the raw registry CSV extracts (with CPRs).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Project folder (created if missing).")
@click.option("--lookup-date", default=None,
              help="Tissue Use Register lookup date (YYYY-MM-DD); required when the raw folder holds "
                   "tissue_use_register.csv (recorded per import in data/imports.json).")
@click.option("--end-date", default="2025-12-31", show_default=True, help="End of the extract (YYYY-MM-DD).")
@click.option("--start-date", default="1977-01-01", show_default=True,
              help="Start of registration: observation periods open here at the earliest.")
@click.option("--encoding", default=None, help=_ENCODING_HELP)
@click.option("--checks", default=None, help=_CHECKS_HELP)
def import_registry_command(raw: Path, out: Path, lookup_date: str | None, end_date: str, start_date: str,
                            encoding: str | None, checks: str | None) -> None:
    """Import LPR2/LPR3, LMDB, lab and Tissue Use Register extracts, pseudonymising CPR numbers on entry.

    \b
    Example:
      pmo import registry --raw raw_extracts --out study --lookup-date 2026-01-15
    """
    from pmo_workbench.health.registry import import_registry

    counts = import_registry(raw, out, lookup_date=_as_date(lookup_date, "--lookup-date"),
                             end_date=_as_date(end_date, "--end-date") or date(2025, 12, 31),
                             start_date=_as_date(start_date, "--start-date") or date(1977, 1, 1),
                             encoding=encoding, checks=checks)
    _print_counts(counts)
    click.echo(counts.checks.summary())
    _print_next_steps(out)


def resolve_in_project(project: Path, path: Path, *, option: str) -> Path:
    """An option's path as notebook parameters resolve it: absolute as given; relative in the project folder
    first, then in the current folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()); _ = (p / "x.yaml").write_text("")
    >>> resolve_in_project(p, pathlib.Path("x.yaml"), option="--definition") == (p / "x.yaml").resolve()
    True
    """
    path = path.expanduser()
    if path.is_absolute():
        return path
    for cand in (Path(project) / path, path):
        if cand.exists():
            return cand.resolve()
    raise ConfigError(f"not found in the project folder {project} nor in the current folder", file=path,
                      field=option)


def _definition_path(project: Path, definition: str) -> Path:
    from pmo_workbench.cohort.report import resolve_definition_path

    try:
        return resolve_definition_path(project, definition)
    except ConfigError:
        if Path(definition).expanduser().is_file():  # the current folder, as a last resort
            return Path(definition).expanduser().resolve()
        raise


def _select(project: Path, definition: str) -> Any:
    from pmo_workbench.cohort.selection import select_cohort

    return select_cohort(project, _definition_path(project, definition))


def _shown_name(name: str) -> str:
    """A name as it may be printed: withheld when it holds a CPR-like value."""
    import pandas as pd

    from pmo_workbench.privacy import scan_for_cpr

    return "(name withheld: it holds a CPR-like value)" if scan_for_cpr(pd.DataFrame({"name": [name]})) else name


def _print_attrition(result: Any) -> None:
    click.echo(f"cohort {_shown_name(result.definition.name)}  (definition sha256 {result.definition_hash[:12]}…)")
    lookup = result.lookup_date.isoformat() if result.lookup_date else "none"
    click.echo(f"Tissue Use Register lookup date: {lookup}")
    for row in result.attrition.itertuples(index=False):
        click.echo(f"{row.step:>3}  {row.rule:<34} {row.n_persons:>10,}  (-{row.n_removed:,})")


_PROJECT = click.option("--project", type=click.Path(path_type=Path, file_okay=False), required=True,
                        help="Project folder.")
_DEFINITION = click.option(
    "--definition", required=True, metavar="PATH|NAME",
    help="Cohort definition YAML: relative to the project folder or its cohorts/ (a bare name may omit .yaml), "
         "else to the current folder.")


@click.group("cohort", context_settings=_CONTEXT, no_args_is_help=True)
def cohort_group() -> None:
    """Select cohorts from a project's event tables.

    \b
    Example:
      pmo cohort count --project demo --definition mi_cases
      pmo cohort select --project demo --definition mi_cases --out cohorts/mi
    """


@cohort_group.command("count", context_settings=_CONTEXT)
@_PROJECT
@_DEFINITION
def cohort_count(project: Path, definition: str) -> None:
    """Print the attrition (persons left after each rule) of a cohort definition.

    \b
    Example:
      pmo cohort count --project demo --definition cohorts/mi_cases.yaml
    """
    result = _select(project, definition)
    _print_attrition(result)
    roles = result.cohort["role"].value_counts()
    click.echo(f"cases {int(roles.get('case', 0)):,}  controls {int(roles.get('control', 0)):,}")


@cohort_group.command("select", context_settings=_CONTEXT)
@_PROJECT
@_DEFINITION
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder, relative to the project (default: PROJECT/cohorts/<name>).")
def cohort_select(project: Path, definition: str, out: Path | None) -> None:
    """Select the cohort and write cohort.parquet, attrition.csv, table1.csv, pick_list.csv, selection.json.

    \b
    Example:
      pmo cohort select --project demo --definition mi_cases --out cohorts/mi
    """
    from pmo_workbench.names import resolve_inside

    if out is not None:  # checked before anything is selected, printed or written
        resolve_inside(project, out.expanduser(), "--out")
    result = _select(project, definition)
    _print_attrition(result)
    target = Path("cohorts") / result.definition.name if out is None else out.expanduser()
    for path in result.write(resolve_inside(project, target, "cohort output"), root=project):
        click.echo(f"wrote {path}")
