"""A DuckDB connection over a project's event-schema Parquet tables.

Every table of :data:`~pmo_workbench.health.schema.EVENT_TABLES` becomes a DuckDB table or view of the same
name in an in-memory database over ``<folder>/<table>.parquet``: a table of at most :data:`MEMORY_ROWS` rows is
copied into memory, a larger one (the event tables of a national registry) is a view read in place, so opening a
registry of 50 M events takes seconds and every query reads only the columns and row groups it needs (a table
the project does not have is created empty with the schema's columns, and :attr:`HealthDatabase.present` says
which were found). The OMOP vocabulary tables ``concept`` and ``concept_ancestor`` are read when an OMOP import
wrote them. Nothing is written to the project. While opening, each table is checked: required columns present,
no duplicate ids, no raw CPR number in ``person_id``/``specimen_id`` (an
:class:`~pmo_workbench.errors.InputError` naming the file, 0-based row and column, never the value). The CPR
scan first asks the Parquet row-group statistics: a value that could be a CPR number sorts before ``':'``
(it starts with a space or a digit), so row groups whose minimum sorts after it are skipped unread.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pmo_workbench.health.schema import write_table
>>> d = tempfile.mkdtemp()
>>> _ = write_table(pd.DataFrame({"person_id": ["a"], "sex": ["F"], "birth_date": ["1950-01-01"]}), "person",
...                 f"{d}/data/registry")
>>> db = open_database(d, check_project=False)
>>> db.query("SELECT count(*) AS n FROM person")["n"].item()
1
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.errors import InputError
from pmo_workbench.health.schema import EVENT_TABLES
from pmo_workbench.privacy import parse_cpr
from pmo_workbench.project import Project, Sources, as_project

VOCABULARY_TABLES = ("concept", "concept_ancestor")
"""Non-event tables an OMOP import keeps in the registry folder."""

MEMORY_ROWS = 2_000_000
"""Tables with at most this many rows are copied into memory; larger ones are read from Parquet by each query."""

_DUCK_TYPES = {pa.string(): "VARCHAR", pa.date32(): "DATE", pa.float64(): "DOUBLE", pa.int64(): "BIGINT",
               pa.bool_(): "BOOLEAN", pa.timestamp("s"): "TIMESTAMP"}


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class HealthDatabase:
    """An in-memory DuckDB database with a view per event table over the project's Parquet files.

    Attributes
    ----------
    con
        The DuckDB connection (use :meth:`query` for DataFrames).
    present
        Names of the tables that were loaded from Parquet (the others exist but are empty).
    files
        Table name -> Parquet file that was loaded.
    """

    def __init__(self, folders: dict[str, Path | None]) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET threads TO 2")
        self.present: set[str] = set()
        self.files: dict[str, Path] = {}
        for name, spec in EVENT_TABLES.items():
            folder = folders.get(spec.folder)
            path = folder / f"{name}.parquet" if folder is not None else None
            if path is not None and path.exists():
                self._check(name, path)
                self._attach(name, path)
                self.present.add(name)
                self.files[name] = path
            else:
                cols = ", ".join(f'"{c}" {_DUCK_TYPES[t]}' for c, t in spec.columns.items())
                self.con.execute(f"CREATE TABLE {name} ({cols})")
        registry = folders.get("registry")
        for name in VOCABULARY_TABLES:
            path = registry / f"{name}.parquet" if registry is not None else None
            if path is not None and path.exists():
                self._attach(name, path)
                self.present.add(name)
                self.files[name] = path
        if "concept_ancestor" not in self.present:
            self.con.execute("CREATE TABLE concept_ancestor (ancestor_concept_id BIGINT, "
                             "descendant_concept_id BIGINT)")

    def _attach(self, name: str, path: Path) -> None:
        """A small table is copied into memory (faster to query repeatedly); a large one becomes a view."""
        src = f"read_parquet({_quote_path(path)})"
        kind = "TABLE" if pq.ParquetFile(path).metadata.num_rows <= MEMORY_ROWS else "VIEW"
        self.con.execute(f"CREATE {kind} {name} AS SELECT * FROM {src}")

    def _check(self, name: str, path: Path) -> None:
        """Required columns present, no duplicate ids, no raw CPR number in an id column (errors name the row)."""
        spec = EVENT_TABLES[name]
        src = f"read_parquet({_quote_path(path)}, file_row_number = true)"
        columns = set(self.con.execute(f"SELECT * FROM {src} LIMIT 0").df().columns)
        for col in spec.required:
            if col not in columns:
                raise InputError("missing required column", file=path, field=col)
        types = dict(self.con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {src})")
                     .fetchall())
        for col in ("person_id", "specimen_id"):
            if col not in columns:
                continue
            # trim() strips spaces only, so a match starts with ' ' or a digit and sorts before ':' -- a plain
            # comparison DuckDB checks against the row-group min/max before reading a row group.
            pre = f"{col} < ':' AND " if types.get(col) == "VARCHAR" else ""
            hits = self.con.execute(
                f"SELECT file_row_number, {col} FROM {src} WHERE {pre}regexp_full_match(trim(CAST({col} AS "
                f"VARCHAR)), '[0-9]{{6}}-?[0-9]{{4}}') ORDER BY file_row_number LIMIT 1000").fetchall()
            for row, value in hits:
                try:
                    parse_cpr(str(value).strip())
                except ValueError:
                    continue
                raise InputError("a raw CPR number in a pseudonymised column (pseudonymise on import)", file=path,
                                 row=int(row), field=col)
        if spec.key:
            keys = ", ".join(spec.key)
            dup = self.con.execute(
                f"SELECT min(file_row_number) FROM (SELECT file_row_number, row_number() OVER (PARTITION BY {keys} "
                f"ORDER BY file_row_number) AS k FROM {src}) WHERE k > 1").fetchone()[0]
            if dup is not None:
                raise InputError("duplicate id", file=path, row=int(dup), field=",".join(spec.key))

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run ``sql`` and return the result as a DataFrame."""
        return self.con.execute(sql, params or []).df()

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make ``frame`` queryable as table ``name`` (replacing an earlier one); ``index_date`` becomes DATE."""
        self.con.execute(f"DROP TABLE IF EXISTS {name}")
        self.con.register(f"_tmp_{name}", frame)
        cast = " REPLACE (CAST(index_date AS DATE) AS index_date)" if "index_date" in frame.columns else ""
        self.con.execute(f"CREATE TABLE {name} AS SELECT *{cast} FROM _tmp_{name}")
        self.con.unregister(f"_tmp_{name}")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


def open_database(project: str | Path | Project, *, check_project: bool = True) -> HealthDatabase:
    """Load the project's registry, biobank and consent tables into a :class:`HealthDatabase`.

    Parameters
    ----------
    project
        A project folder, its ``pmo.yaml`` or a loaded :class:`~pmo_workbench.project.Project`.
    check_project
        With False, a folder without ``pmo.yaml`` is read with the default source folders.
    """
    if not check_project and not isinstance(project, Project) and not (Path(project) / "pmo.yaml").exists():
        root = Path(project)
        defaults = Sources()
        folders: dict[str, Path | None] = {k: root / getattr(defaults, k) for k in ("registry", "biobank", "consent")}
    else:
        proj = as_project(project)
        folders = {k: proj.source(k) for k in ("registry", "biobank", "consent")}
    return HealthDatabase(folders)


def read_genome_links(path: Path) -> pd.DataFrame:
    """Read the genome manifest (TSV, or CSV/Parquet by suffix): at least ``sample_id`` and ``person_id``."""
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, sep="," if path.suffix == ".csv" else "\t", dtype=str, keep_default_na=False)
    for col in ("sample_id", "person_id"):
        if col not in df.columns:
            raise InputError("missing column", file=path, field=col)
    dup = df["sample_id"].duplicated().to_numpy()
    if dup.any():
        raise InputError("duplicate id", file=path, row=int(dup.argmax()), field="sample_id")
    return df


def load_genome_status(project: Project) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Per-person genome QC status and related person pairs from the latest WGS QC run.

    Returns ``(qc, pairs, run_dir)``: ``qc`` has ``person_id, pass`` (a person passes when any of their samples
    passed), ``pairs`` has ``person_a, person_b`` for every kinship pair whose relationship is not ``unrelated``
    (between different persons; read from the same run's ``kinship.parquet``, empty if it has none).

    Raises
    ------
    ConfigError
        No WGS QC run, or no genome manifest configured (``sources.manifest``).
    """
    from pmo_workbench.catalogue import latest_run_dir
    from pmo_workbench.errors import ConfigError

    run = latest_run_dir(project, "wgs_qc", "qc_decisions.parquet")
    if run is None:
        raise ConfigError("the definition needs genome QC results but the project has no WGS QC run with "
                          "qc_decisions.parquet (run `pmo run wgs_qc` first)", file=project.runs_dir / "wgs_qc",
                          field="genomes")
    manifest_path = project.source("manifest")
    if manifest_path is None or not manifest_path.exists():
        raise ConfigError("the definition needs genomes but the project has no genome manifest",
                          file=project.root / "pmo.yaml", field="sources.manifest")
    decisions_path = run / "qc_decisions.parquet"
    kin_path = run / "kinship.parquet"
    stamp = tuple(_stamp(p) for p in (manifest_path, decisions_path, kin_path))
    cached = _GENOME_CACHE.get(stamp)
    if cached is None:
        cached = _read_genome_status(manifest_path, decisions_path, kin_path)
        _GENOME_CACHE.clear()
        _GENOME_CACHE[stamp] = cached
    return cached[0].copy(), cached[1].copy(), run


_GENOME_CACHE: dict[tuple, tuple[pd.DataFrame, pd.DataFrame]] = {}
"""The last :func:`load_genome_status` answer, keyed by its three files' path, size and mtime (a recount in the
CohortBuilder reads the 50 000-genome manifest and QC tables once, not on every change)."""


def _stamp(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _read_genome_status(manifest_path: Path, decisions_path: Path,
                        kin_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest = read_genome_links(manifest_path)[["sample_id", "person_id"]]
    decisions = pd.read_parquet(decisions_path)
    for col in ("sample_id", "pass"):
        if col not in decisions.columns:
            raise InputError("missing column", file=decisions_path, field=col)
    qc = decisions[["sample_id", "pass"]].merge(manifest, on="sample_id", how="inner")
    qc = qc.assign(**{"pass": qc["pass"].fillna(False).astype(bool)})
    qc = qc.groupby("person_id", as_index=False)["pass"].any()
    pairs = pd.DataFrame({"person_a": pd.Series(dtype=str), "person_b": pd.Series(dtype=str)})
    if kin_path.exists():
        kin = pd.read_parquet(kin_path)
        for col in ("sample_i", "sample_j", "relationship"):
            if col not in kin.columns:
                raise InputError("missing column", file=kin_path, field=col)
        kin = kin[kin["relationship"].astype(str) != "unrelated"]
        to_person = manifest.set_index("sample_id")["person_id"]
        a = kin["sample_i"].map(to_person)
        b = kin["sample_j"].map(to_person)
        keep = a.notna() & b.notna() & (a != b)
        pairs = pd.DataFrame({"person_a": a[keep].astype(str), "person_b": b[keep].astype(str)})
        pairs = pairs.drop_duplicates().reset_index(drop=True)
    return qc, pairs
