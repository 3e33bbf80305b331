"""A project folder and its ``pmo.yaml``, validated into a typed model.

An unknown key, a missing file or a bad value is a one-line :class:`~pmo_workbench.errors.ConfigError` that names
the key path and the file; the CLI turns it into exit code 2 and writes nothing.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "pmo.yaml").write_text("name: tiny\\n")
>>> load_project(d).config.privacy.min_cell_count
5
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pmo_workbench.errors import ConfigError
from pmo_workbench.names import check_name

PROJECT_FILE = "pmo.yaml"
IMPORT_RECORD = "data/imports.json"
"""The project's import record (relative to the project folder): the pseudonym key's fingerprint and one entry per
import (what, from where, when, the Tissue Use Register lookup date). Written by the importers, read before every
import that pseudonymises."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sources(_Strict):
    """Where the project's inputs are, relative to the project folder."""

    genotypes: str | None = Field(None, description="VCF/BCF (bgzipped or gzip) or PLINK .bed prefix")
    manifest: str | None = Field(None, description="genome manifest TSV: sample_id, person_id, specimen_id, batch, ...")
    pedigree: str | None = Field(None, description="PED file with the known families")
    registry: str | None = Field("data/registry", description="folder of event-schema Parquet tables")
    biobank: str | None = Field("data/biobank", description="folder with specimen.parquet")
    consent: str | None = Field("data/consent", description="folder with tissue_use_register.parquet")
    reference_build: Literal["GRCh37", "GRCh38"] = "GRCh38"


class Backend(_Strict):
    """Genotype backend: embedded (VCF Zarr + numpy, no Java) or Hail on Spark."""

    engine: Literal["embedded", "hail"] = "embedded"
    spark_master: str = Field("local[*]", description="Spark master URL, e.g. spark://host:7077 for a cluster")
    spark_conf: dict[str, str] = Field(default_factory=dict)
    tmp_dir: str | None = None


class PseudonymKey(_Strict):
    """Where the pseudonymisation key comes from: an environment variable or a file outside the project."""

    env: str = "PMO_PSEUDONYM_KEY"
    file: str | None = None


class Privacy(_Strict):
    """Disclosure control and pseudonymisation settings (``docs/reference/pmo_yaml.md``)."""

    min_cell_count: int = Field(5, ge=1, le=100)
    pseudonym_key: PseudonymKey = PseudonymKey()
    synthetic: bool = Field(False, description="synthetic/demo project: the public demo key may be used")
    not_looked_up: Literal["exclude", "refuse"] = Field(
        "exclude", description="persons without a Tissue Use Register lookup: removed at selection (counted as "
                               "'not looked up' in the attrition) or the selection refused")


class Limits(_Strict):
    """Default limits of a scheduled run (overridable on the command line)."""

    timeout_s: int = Field(3600, ge=1)
    memory_gb: float | None = Field(None, gt=0)


class ProjectConfig(_Strict):
    """The typed content of ``pmo.yaml``."""

    name: str = Field(..., min_length=1)
    description: str = ""
    sources: Sources = Sources()
    backend: Backend = Backend()
    privacy: Privacy = Privacy()
    limits: Limits = Limits()

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, v: str) -> str:
        return check_name(v, "project name")


class Project:
    """A loaded project: its folder and validated config, with helpers to resolve paths.

    Parameters
    ----------
    root
        The project folder (holding ``pmo.yaml``).
    config
        The validated configuration.
    """

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root.resolve()
        self.config = config

    def __repr__(self) -> str:
        return f"Project({self.config.name!r}, root={str(self.root)!r})"

    def path(self, relative: str | None) -> Path | None:
        """Resolve a path from ``pmo.yaml`` against the project folder (``None`` stays ``None``)."""
        if relative is None:
            return None
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    def source(self, name: str) -> Path | None:
        """The resolved path of a source (``genotypes``, ``manifest``, ``registry``, ...)."""
        return self.path(getattr(self.config.sources, name))

    @property
    def import_record_path(self) -> Path:
        """``data/imports.json``: see :data:`IMPORT_RECORD`."""
        return self.root / IMPORT_RECORD

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def cohorts_dir(self) -> Path:
        return self.root / "cohorts"

    @property
    def params_dir(self) -> Path:
        return self.root / "params"


def _key_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "<top>"


def load_project(path: str | Path, *, check_files: bool = True) -> Project:
    """Read and validate ``pmo.yaml`` in ``path`` (a folder or the yaml file itself).

    Parameters
    ----------
    path
        Project folder or its ``pmo.yaml``.
    check_files
        Check that every configured source exists.

    Raises
    ------
    ConfigError
        Naming the file and the key path: unknown key, bad value, missing source file.
    """
    path = Path(path)
    file = path if path.suffix in (".yaml", ".yml") else path / PROJECT_FILE
    if not file.exists():
        raise ConfigError("no project file here (create one with `pmo new DIR`)", file=file)
    from pmo_workbench.yaml_input import load_yaml

    raw = load_yaml(file)   # bounded size and aliases, latin-1/cp1252 read too, one-line errors
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping of keys to values", file=file)
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _key_path(err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(msg, file=file, field=key) from None
    project = Project(file.parent, config)
    if check_files:
        for name in ("genotypes", "manifest", "pedigree", "registry", "biobank", "consent"):
            rel = getattr(config.sources, name)
            if rel is None:
                continue
            p = project.path(rel)
            exists = p.exists() or (name == "genotypes" and p.with_suffix(".bed").exists())
            if not exists and not (name in ("registry", "biobank", "consent") and rel == Sources.model_fields[name].default):
                raise ConfigError(f"file not found: {rel}", file=file, field=f"sources.{name}")
    return project


def as_project(project: str | Path | Project) -> Project:
    """Accept a project folder path or a loaded :class:`Project`."""
    return project if isinstance(project, Project) else load_project(project)


def write_project_file(root: str | Path, config: ProjectConfig) -> Path:
    """Write ``config`` as ``root/pmo.yaml`` (atomically)."""
    from pmo_workbench.files import write_text_atomic

    data = config.model_dump(mode="json", exclude_defaults=False)
    text = f"# PMØ Workbench project: {config.name}\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return write_text_atomic(Path(root) / PROJECT_FILE, text)


def load_import_record(project: Project) -> dict:
    """The project's import record (:data:`IMPORT_RECORD`): ``{"pseudonym_key": {...}, "imports": [...]}``, empty
    keys when nothing was imported yet.

    Raises
    ------
    ConfigError
        The record exists but is not a JSON object (naming the file).
    """
    import json

    path = project.import_record_path
    if not path.is_file():
        return {"pseudonym_key": None, "imports": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"not a readable import record: {type(exc).__name__}", file=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("imports", []), list):
        raise ConfigError("not an import record (a JSON object with an 'imports' list)", file=path)
    data.setdefault("pseudonym_key", None)
    data.setdefault("imports", [])
    return data


def append_import_record(project: Project, entry: dict, *, pseudonym_key: dict | None = None) -> Path:
    """Add one import ``entry`` to the record (and the key's fingerprint when none is recorded yet), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "pmo.yaml").write_text("name: tiny\\n")
    >>> p = load_project(d)
    >>> _ = append_import_record(p, {"kind": "omop"})
    >>> [e["kind"] for e in load_import_record(p)["imports"]]
    ['omop']
    """
    import json

    from pmo_workbench.files import write_text_atomic

    record = load_import_record(project)
    if pseudonym_key is not None and not record.get("pseudonym_key"):
        record["pseudonym_key"] = pseudonym_key
    record["imports"].append(entry)
    return write_text_atomic(project.import_record_path, json.dumps(record, indent=2, default=str) + "\n")
