"""The ``pmo`` command line (click): synth, run, demo, new, lab, import, cohort.

Every command prints one-line errors and exits with code 2 for bad input or configuration; ``pmo run`` exits with
the run's status code (:data:`pmo_workbench.catalogue.EXIT_CODES`: 0 succeeded, 1 failed, 2 misconfigured,
3 incomplete, 4 timeout). Every command's ``--help`` ends with an example. Paths in options are resolved as
notebook parameters are: relative to the project folder first, then to the current folder.

Examples
--------
    $ pmo synth --out demo --persons 3000 --samples 300 --variants 4000 --seed 1
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
from pmo_workbench.errors import ConfigError, PmoError, format_error

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
TEMPLATES_DIR = REPO_ROOT / "templates"
DEMO_SIZE = {"persons": 3000, "samples": 300, "variants": 4000}
"""The embedded default project of ``make demo`` and ``pmo demo``."""


class _Group(click.Group):
    """Turns every :class:`PmoError` (and an ``OSError`` of the file system) into a one-line message and exit
    code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PmoError as exc:  # every message goes through format_error: one line, CPR-like values masked
            click.echo(f"pmo: error: {format_error(exc)}", err=True)
            ctx.exit(2)
        except OSError as exc:  # a read-only or full file system, a file where a folder should be: one line too
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            click.echo(f"pmo: error: {format_error(f'{exc.strerror or type(exc).__name__}{where}')}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pmo")
def app() -> None:
    """PMØ Workbench: the track notebooks (overview, WGS QC, cohort selection, model development) as reports on one
    project folder.

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
@click.option("--deliveries", is_flag=True,
              help="Also write the genomes as per-sample WGS deliveries (gVCF + DRAGEN metrics) in deliveries/.")
def synth(out: Path, persons: int, samples: int, variants: int, seed: int, fields: str, name: str | None,
          force: bool, quiet: bool, deliveries: bool) -> None:
    """Generate a deterministic synthetic project with known truth.

    \b
    Example:
      pmo synth --out /tmp/p --persons 2000 --samples 200 --variants 5000 --seed 7
    """
    from pmo_workbench.synth.project import synthesize_project

    if samples > persons:
        raise ConfigError("--samples must not exceed --persons", field="samples")
    if name is not None:
        from pmo_workbench.names import require_name

        require_name(name, "project name", field="--name")
    summary = synthesize_project(out, persons=persons, samples=samples, variants=variants, seed=seed,
                                 fields=fields, name=name, overwrite=force, progress=not quiet,
                                 deliveries=deliveries)
    click.echo(f"wrote {summary.root} in {summary.seconds:.1f} s: {summary.describe()}")


@app.command()
@click.option("--project", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@click.option("--batch", "batch_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True,
              help="Batch folder: one sub-folder per sample (gVCF, metrics files, .md5 sidecars).")
@click.option("--batch-id", default=None, help="Batch ID (default: the folder's name).")
@click.option("--replace", is_flag=True,
              help="Take samples already ingested (other batch or changed files) anew: a changed gVCF replaces the "
                   "sample's genotypes in the cohort store; the ledger keeps the superseded delivery.")
def ingest(project: Path, batch_dir: Path, batch_id: str | None, replace: bool) -> None:
    """Ingest a WGS delivery batch: verify it, parse its read-level metrics, add its gVCFs to the cohort store.

    \b
    Example:
      pmo ingest --project demo --batch demo/deliveries/B1
    Exit code 0: ingested (or "nothing new"); 2: the delivery was refused (the line names sample and file).
    """
    from pmo_workbench.genotypes.deliveries import ingest_batch
    from pmo_workbench.project import load_project

    summary = ingest_batch(load_project(project), batch_dir, batch_id, replace=replace)
    click.echo(summary.describe())


@app.command("qc-tables")
@click.argument("genotypes", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder of sample_qc.parquet and variant_qc.parquet (made if missing).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Genotype store cache (default: $PMO_CACHE_DIR or ~/.cache/pmo_workbench/genotypes).")
@click.option("--format-fields", default="", metavar="DP,GQ",
              help="FORMAT fields to keep, for the samples' dp_mean and gq_mean (default: GT only).")
@click.option("--batch-variants", type=click.IntRange(min=1), default=65_536, show_default=True,
              help="Variants counted at a time: memory holds one batch, not the table.")
def qc_tables(genotypes: Path, out: Path, cache_dir: Path | None, format_fields: str, batch_variants: int) -> None:
    """Write the sample and variant QC tables of a VCF/BCF or PLINK set as Parquet, a batch of variants at a time.

    The tables of sample_qc and variant_qc (Hail's sample_qc/variant_qc names), in bounded memory: for a whole
    genome, or a scheduled job. The input is imported into the cache first if needed.

    \b
    Example:
      pmo qc-tables cohort.vcf.gz --out qc/ --format-fields DP,GQ
    """
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc.qc_files import write_qc_tables

    fields = [f.strip().upper() for f in format_fields.split(",") if f.strip()]
    unknown = sorted(set(fields) - {"DP", "GQ", "AD"})
    if unknown:
        raise ConfigError(f"--format-fields: {', '.join(unknown)} is not one of DP, GQ, AD", field="format-fields")
    g = open_genotypes(genotypes, cache_dir=cache_dir, format_fields=fields)
    files = write_qc_tables(g, out, batch_variants=batch_variants)
    click.echo(f"wrote {files.sample_qc} ({files.n_samples:,} samples) and {files.variant_qc} "
               f"({files.n_variants:,} variants, {files.n_batches} batch{'' if files.n_batches == 1 else 'es'})")


def available_tracks() -> list[str]:
    """Track notebooks that exist (``notebooks/<track>.ipynb``) and have a parameter class."""
    from pmo_workbench.params import TRACK_PARAMS

    order = ["overview", "wgs_qc", "cohort_selection", "model_development"]
    have = [t for t in order if (NOTEBOOKS_DIR / f"{t}.ipynb").exists() and t in TRACK_PARAMS]
    return have + sorted(t for t in TRACK_PARAMS if t not in order and (NOTEBOOKS_DIR / f"{t}.ipynb").exists())


@app.command(epilog="Tracks: " + ", ".join(available_tracks()) + ".")
@click.argument("track")
@click.option("--project", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("-p", "--parameter", "parameters", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="A notebook parameter (repeatable); YAML-typed, so 0.98 is a number.")
@click.option("-f", "--params-file", type=click.Path(path_type=Path, dir_okay=False),
              help="YAML file of parameters, relative to the project folder, else to the current folder "
                   "(e.g. params/wgs_qc.yaml, notebooks/params/<track>.demo.yaml).")
@click.option("--mode", type=click.Choice(["internal", "export"]), default="internal", show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=None,
              help="Wall-clock limit of the run in seconds (default: limits.timeout_s of pmo.yaml).")
@click.option("--memory-gb", type=float, default=None, help="Memory limit of the notebook kernel in GB.")
@click.option("--traceback", "show_traceback", is_flag=True,
              help="Keep the traceback in the report of a misconfigured run.")
def run(track: str, project: Path, parameters: tuple[tuple[str, str], ...], params_file: Path | None, mode: str,
        timeout_s: float | None, memory_gb: float | None, show_traceback: bool) -> None:
    """Run a track notebook on a project and write its report, run record and catalogue entry.

    \b
    Example:
      pmo run overview --project demo --mode export --timeout 600
      pmo run wgs_qc --project demo -f params/wgs_qc.yaml
    \b
    Exit codes (the run's status, also in run.json and the catalogue):
      0 succeeded      every cell ran and every rule was applied
      1 failed         a cell failed, the kernel died, memory limit exceeded, CPR-like value in an output
      2 misconfigured  a configuration or input problem (report: the problem and its fix); also bad options
      3 incomplete     finished, but a rule could not be applied (e.g. genome rules without a WGS QC run)
      4 timeout        stopped at the --timeout limit
    """
    from pmo_workbench.cli_health import resolve_in_project
    from pmo_workbench.runner import run_track

    values = {name: yaml.safe_load(value) if value != "" else "" for name, value in parameters}
    if params_file is not None:
        params_file = resolve_in_project(project, params_file, option="--params-file")
    record = run_track(track, project, values, params_file=params_file, mode=mode, timeout_s=timeout_s,
                       memory_gb=memory_gb, progress=_show_progress(), show_traceback=show_traceback)
    click.echo(f"{record.status}: {record.report_path}")
    if record.status == "misconfigured" and record.error:
        click.echo(f"pmo: run misconfigured: {format_error(record.error.message)}", err=True)
        if record.error.fix:
            click.echo(f"pmo: fix: {format_error(record.error.fix)}", err=True)
    elif record.status == "incomplete":
        click.echo(f"pmo: run incomplete: {format_error('; '.join(record.incomplete_reasons))}", err=True)
    elif record.status != "succeeded" and record.error:
        click.echo(f"pmo: run {record.status}: {format_error(str(record.error))}", err=True)
    sys.exit(record.exit_code)


def _show_progress() -> bool:
    """Progress bars only on a terminal: in a log (cron, CI, ``make demo > log``) each step prints one line."""
    return sys.stderr.isatty()


DEMO_WITHOUT_GENOMES = {"overview"}
"""Tracks of the demo that read no genomes: they run beside the deliveries' ingest and the WGS QC run. The others
(cohort selection, model development: they read the QC run's sample decisions) start once the QC run is done."""
DEMO_WORKERS = 2
"""Track runs of ``pmo demo`` at a time (each is a kernel process; two use the two cores of a laptop or Binder)."""


@app.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("demo"), show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--mode", type=click.Choice(["internal", "export"]), default="internal", show_default=True)
@click.option("--persons", type=click.IntRange(min=50), default=DEMO_SIZE["persons"], show_default=True,
              help="Size of a newly generated project (as pmo synth).")
@click.option("--samples", type=click.IntRange(min=20), default=DEMO_SIZE["samples"], show_default=True)
@click.option("--variants", type=click.IntRange(min=500), default=DEMO_SIZE["variants"], show_default=True)
def demo(directory: Path, seed: int, mode: str, persons: int, samples: int, variants: int) -> None:
    """Generate the demo project (if absent), ingest its WGS deliveries, run every track notebook on it, print the
    catalogue path.

    Runs two tracks at a time where they do not depend on each other: the overview beside the ingest and the WGS
    QC run, then cohort selection beside model development (both read the QC run).

    \b
    Example:
      pmo demo --dir demo
      pmo demo --dir /tmp/small --persons 800 --samples 80 --variants 4000
    """
    from concurrent.futures import ThreadPoolExecutor

    from pmo_workbench.catalogue import write_catalogue
    from pmo_workbench.synth.project import synthesize_project

    if samples > persons:
        raise ConfigError("--samples must not exceed --persons", field="samples")
    if not (directory / "pmo.yaml").exists():
        summary = synthesize_project(directory, seed=seed, progress=_show_progress(), deliveries=True,
                                     persons=persons, samples=samples, variants=variants)
        click.echo(f"generated {summary.root} in {summary.seconds:.1f} s")
    tracks = available_tracks()
    failed: list[str] = []

    def run(track: str, progress: bool = False) -> None:
        record = _run_demo_track(track, directory, mode, progress=progress)
        click.echo(f"{track}: {record.status} ({record.duration_s:.1f} s) {record.report_path}")
        if record.status != "succeeded":
            failed.append(f"{track} ({record.status})")

    with ThreadPoolExecutor(max_workers=DEMO_WORKERS, thread_name_prefix="pmo-demo") as pool:
        beside = [pool.submit(run, t) for t in tracks if t in DEMO_WITHOUT_GENOMES]
        failed.extend(_ingest_demo_deliveries(directory, mode, progress=_show_progress() and not beside))
        if "wgs_qc" in tracks:
            run("wgs_qc", progress=_show_progress() and not beside)
        after = [pool.submit(run, t) for t in tracks if t not in DEMO_WITHOUT_GENOMES and t != "wgs_qc"]
        for future in beside + after:
            future.result()
    write_catalogue(directory)  # once more, after the runs that finished at the same time
    click.echo(str((directory / "runs" / "index.html").resolve()))
    if failed:
        click.echo(f"pmo: failed tracks: {', '.join(failed)}", err=True)
        sys.exit(1)


def _run_demo_track(track: str, directory: Path, mode: str, *, progress: bool) -> Any:
    """One track run of ``pmo demo`` with its demo preset (``notebooks/params/<track>.demo.yaml``)."""
    from pmo_workbench.runner import run_track

    preset = NOTEBOOKS_DIR / "params" / f"{track}.demo.yaml"
    return run_track(track, directory, {}, params_file=preset if preset.exists() else None, mode=mode,
                     progress=progress)


def _ingest_demo_deliveries(directory: Path, mode: str, *, progress: bool = False) -> list[str]:
    """The demo's WGS deliveries batch by batch (``pmo synth --deliveries``): B1 and B2, a WGS QC run, the faulty
    deliveries (each refused with its one-line reason), then B3 (the track runs after this show B3 against the
    earlier batches). Returns the tracks that failed."""
    from pmo_workbench.errors import PmoError
    from pmo_workbench.genotypes.deliveries import ingest_batch, load_ledger
    from pmo_workbench.runner import run_track

    root = directory / "deliveries"
    batches = sorted(p for p in root.glob("B*") if p.is_dir()) if root.is_dir() else []
    if not batches or batches[-1].name in set(load_ledger(directory)["batch_id"].astype(str)):
        return []  # no deliveries, or ingested by an earlier `pmo demo`
    preset = NOTEBOOKS_DIR / "params" / "wgs_qc.demo.yaml"
    failed = []
    for i, batch in enumerate(batches):
        if i == len(batches) - 1:  # before the newest batch: a QC run to compare with, and the refused deliveries
            record = run_track("wgs_qc", directory, {}, params_file=preset if preset.exists() else None, mode=mode,
                               progress=progress)
            click.echo(f"wgs_qc before {batch.name}: {record.status} {record.report_path}")
            if record.status != "succeeded":
                failed.append("wgs_qc")
            for faulty in sorted((root / "faulty").glob("*")) if (root / "faulty").is_dir() else []:
                try:
                    ingest_batch(directory, faulty)
                    click.echo(f"{faulty.name}: ingested (unexpected)")
                except PmoError as exc:
                    click.echo(f"{faulty.name}: refused: {exc}")
        click.echo(ingest_batch(directory, batch).describe())
    return failed


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
    """Export a project's data (e.g. its cohort store as a joint VCF).

    \b
    Example:
      pmo export vcf --project demo --out demo/joint.vcf.gz
    """


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


def _mount_health() -> None:
    """Mount ``pmo import`` and ``pmo cohort`` (:mod:`pmo_workbench.cli_health`)."""
    from pmo_workbench import cli_health

    app.add_command(cli_health.import_group, "import")
    app.add_command(cli_health.cohort_group, "cohort")


_mount_health()


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app", "available_tracks", "iter_commands"]


def iter_commands(group: click.Group = app, prefix: str = "pmo") -> list[tuple[str, click.Command]]:
    """Every command of the ``pmo`` tree with its full name (``pmo cohort select``), groups included.

    Examples
    --------
    >>> "pmo cohort select" in dict(iter_commands())
    True
    """
    out: list[tuple[str, click.Command]] = [(prefix, group)]
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += iter_commands(cmd, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", cmd))
    return out
