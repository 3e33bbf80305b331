"""The ``pmo`` command line: synth, run, demo, new, lab (and import/cohort when their tracks are installed).

Every command prints one-line errors and exits with code 2 for bad input or configuration, 1 for a failed run,
0 on success.

Examples
--------
    $ pmo synth --out demo --persons 5000 --samples 500 --variants 20000 --seed 1
    $ pmo run overview --project demo --mode export
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from pmo_workbench import __version__
from pmo_workbench.errors import ConfigError, PmoError

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
TEMPLATES_DIR = REPO_ROOT / "templates"
DEMO_SIZE = {"persons": 5000, "samples": 500, "variants": 20000}
"""The embedded default project of ``make demo`` and ``pmo demo``."""


class _Group(click.Group):
    """Turns every :class:`PmoError` into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PmoError as exc:
            click.echo(f"pmo: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pmo")
def app() -> None:
    """PMØ Workbench: WGS QC, cohort selection and model development on one project folder.

    \b
    Example:
      pmo synth --out demo            # a synthetic Danish project with ground truth
      pmo run overview --project demo # a report in demo/runs/overview/<time>/report.html
      pmo demo                        # both, for every track notebook, then prints the catalogue path
    """


@app.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder to create.")
@click.option("--persons", type=click.IntRange(min=50), default=DEMO_SIZE["persons"], show_default=True)
@click.option("--samples", type=click.IntRange(min=20), default=DEMO_SIZE["samples"], show_default=True,
              help="Sequenced samples (genomes).")
@click.option("--variants", type=click.IntRange(min=500), default=DEMO_SIZE["variants"], show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, byte-identical files.")
@click.option("--fields", type=click.Choice(["GT:DP:GQ:AD", "GT"]), default="GT:DP:GQ:AD", show_default=True,
              help="FORMAT fields of the VCF (GT only for very large projects).")
@click.option("--name", default=None, help="Project name in pmo.yaml (default: synthetic_s<seed>).")
@click.option("--force", is_flag=True, help="Replace an existing folder.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def synth(out: Path, persons: int, samples: int, variants: int, seed: int, fields: str, name: str | None,
          force: bool, quiet: bool) -> None:
    """Generate a deterministic synthetic project with known truth.

    \b
    Example:
      pmo synth --out /tmp/p --persons 2000 --samples 200 --variants 5000 --seed 7
    """
    from pmo_workbench.synth.project import synthesize_project

    if samples > persons:
        raise ConfigError("--samples must not exceed --persons", field="samples")
    summary = synthesize_project(out, persons=persons, samples=samples, variants=variants, seed=seed,
                                 fields=fields, name=name, overwrite=force, progress=not quiet)
    click.echo(f"wrote {summary.root} in {summary.seconds:.1f} s: {summary.describe()}")


def _parse_params_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameters: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise ConfigError("parameters file must be a mapping", file=path)
    return data


@app.command()
@click.argument("track")
@click.option("--project", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("-p", "--parameter", "parameters", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="A notebook parameter (repeatable); YAML-typed, so 0.98 is a number.")
@click.option("-f", "--params-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="YAML file of parameters (e.g. notebooks/params/<track>.demo.yaml).")
@click.option("--mode", type=click.Choice(["internal", "export"]), default="internal", show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Wall-clock limit of the run in seconds.")
@click.option("--memory-gb", type=float, default=None, help="Memory limit of the notebook kernel.")
def run(track: str, project: Path, parameters: tuple[tuple[str, str], ...], params_file: Path | None, mode: str,
        timeout_s: float | None, memory_gb: float | None) -> None:
    """Run a track notebook on a project and write its report, run record and catalogue entry.

    \b
    Example:
      pmo run overview --project demo --mode export --timeout 600
    Exit code 0: succeeded; 1: the notebook failed (report written, marked failed); 2: bad input.
    """
    from pmo_workbench.reports import run_track

    values = {name: yaml.safe_load(value) if value != "" else "" for name, value in parameters}
    record = run_track(track, project, values, params_file=params_file, mode=mode, timeout_s=timeout_s,
                       memory_gb=memory_gb, progress=True)
    click.echo(f"{record.status}: {record.report_path}")
    if record.status != "succeeded":
        if record.error:
            click.echo(f"pmo: run failed: {record.error}", err=True)
        sys.exit(1)


def available_tracks() -> list[str]:
    """Track notebooks that exist (``notebooks/<track>.ipynb``) and have a parameter class."""
    from pmo_workbench.params import TRACK_PARAMS

    order = ["overview", "wgs_qc", "cohort_selection", "model_development"]
    have = [t for t in order if (NOTEBOOKS_DIR / f"{t}.ipynb").exists() and t in TRACK_PARAMS]
    return have + sorted(t for t in TRACK_PARAMS if t not in order and (NOTEBOOKS_DIR / f"{t}.ipynb").exists())


@app.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("demo"), show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--mode", type=click.Choice(["internal", "export"]), default="internal", show_default=True)
def demo(directory: Path, seed: int, mode: str) -> None:
    """Generate the demo project (if absent), run every track notebook on it, print the catalogue path.

    \b
    Example:
      pmo demo --dir demo
    """
    from pmo_workbench.reports import run_track
    from pmo_workbench.synth.project import synthesize_project

    if not (directory / "pmo.yaml").exists():
        summary = synthesize_project(directory, seed=seed, progress=True, **DEMO_SIZE)
        click.echo(f"generated {summary.root} in {summary.seconds:.1f} s")
    failed = []
    for track in available_tracks():
        preset = NOTEBOOKS_DIR / "params" / f"{track}.demo.yaml"
        record = run_track(track, directory, {}, params_file=preset if preset.exists() else None, mode=mode,
                           progress=True)
        click.echo(f"{track}: {record.status} ({record.duration_s:.1f} s) {record.report_path}")
        if record.status != "succeeded":
            failed.append(track)
    index = (directory / "runs" / "index.html").resolve()
    click.echo(str(index))
    if failed:
        click.echo(f"pmo: failed tracks: {', '.join(failed)}", err=True)
        sys.exit(1)


@app.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Project name (default: the folder name).")
def new(directory: Path, name: str | None) -> None:
    """Create an empty project folder from the template (pmo.yaml, data/, cohorts/, params/).

    \b
    Example:
      pmo new ~/projects/mi_study --name mi_study
    """
    from pmo_workbench.project_template import create_project

    root = create_project(directory, name=name)
    click.echo(f"created {root}; edit {root / 'pmo.yaml'} to point at your data")


@app.command()
@click.option("--project", type=click.Path(path_type=Path, file_okay=False), default=Path("demo"), show_default=True)
@click.option("--port", type=int, default=8888, show_default=True)
@click.option("--no-browser", is_flag=True)
def lab(project: Path, port: int, no_browser: bool) -> None:
    """Start JupyterLab on the track notebooks, bound to 127.0.0.1, against a project.

    \b
    Example:
      pmo lab --project demo --port 8899
    """
    from pmo_workbench.project import load_project

    proj = load_project(project)
    env = dict(os.environ, PMO_PROJECT=str(proj.root))
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={NOTEBOOKS_DIR}", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0"]
    if no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    click.echo(f"JupyterLab on http://127.0.0.1:{port} (project {proj.root}); Ctrl-C stops it")
    sys.exit(subprocess.call(cmd, env=env))


@app.group(cls=_Group)
def export() -> None:
    """Export a project's data (e.g. its cohort store as a joint VCF)."""


@export.command("vcf")
@click.option("--project", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Output .vcf.gz (BGZF + tabix index) or .bcf.")
@click.option("--min-ref-gq", type=click.IntRange(min=0), default=None,
              help="GQ a reference block needs to fill hom-ref (default: the store's default, 1).")
def export_vcf(project: Path, out: Path, min_ref_gq: int | None) -> None:
    """Write the project's cohort store (gVCFs added by `pmo ingest`) as a joint multi-sample VCF.

    \b
    Example:
      pmo export vcf --project demo --out demo/joint.vcf.gz
    """
    from pmo_workbench.genotypes.export import write_joint_vcf
    from pmo_workbench.genotypes.gvcf_store import DEFAULT_MIN_REF_GQ, open_cohort

    g = open_cohort(project, min_ref_gq=DEFAULT_MIN_REF_GQ if min_ref_gq is None else min_ref_gq)
    write_joint_vcf(g, out)
    click.echo(f"wrote {out}: {g.n_samples} samples x {g.n_variants} sites")


def _mount_optional() -> None:
    """Mount the sub-commands of tracks whose modules are present (import, cohort, ...)."""
    try:
        import typer.main

        from pmo_workbench import cli_health
    except ImportError:
        return
    for attr, name in (("import_app", "import"), ("cohort_app", "cohort")):
        sub = getattr(cli_health, attr, None)
        if sub is not None:
            app.add_command(typer.main.get_command(sub), name)


_mount_optional()


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app", "available_tracks"]
