"""What a project holds: persons, genomes, specimens, registry coverage and opt-outs, as aggregated count tables.

The logic of ``notebooks/overview.ipynb``. Every function returns *counts only* (no individual-level rows), so
that :func:`disclose` can make any of them safe for export with complementary small-count suppression.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"F": [3, 40], "M": [30, 41]}, index=["a", "b"])
>>> disclose(t, mode="internal", min_count=5).equals(t)
True
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.privacy import suppress_small_counts
from pmo_workbench.project import Project, as_project

AGE_BANDS = [0, 18, 30, 40, 50, 60, 70, 80, 90, 120]


def disclose(table: pd.DataFrame | pd.Series, *, mode: str, min_count: int) -> pd.DataFrame | pd.Series:
    """Return ``table`` as it may be shown: unchanged in ``internal`` mode, small counts suppressed in ``export``.

    A table of numbers only is treated as a cross-tabulation (complementary suppression over rows and columns);
    a table that also has text columns (e.g. code descriptions) is a list, whose count columns are suppressed
    one by one and whose text columns are kept.
    """
    if mode == "internal":
        return table
    if mode != "export":
        raise ValueError(f"mode must be 'internal' or 'export', not {mode!r}")
    if isinstance(table, pd.DataFrame):
        numeric = table.select_dtypes("number").columns
        if len(numeric) < table.shape[1]:
            out = table.copy()
            for col in numeric:
                out[col] = suppress_small_counts(table[col], min_count=min_count)
            return out
    return suppress_small_counts(table, min_count=min_count)


def _parquet(folder: Path | None, table: str) -> str | None:
    if folder is None:
        return None
    path = folder / f"{table}.parquet"
    return str(path) if path.exists() else None


def _query(sql: str, **params) -> pd.DataFrame:
    with duckdb.connect() as con:
        return con.execute(sql, params).df()


@dataclass
class GenotypeSummary:
    """Samples and variants of a project's genotype file (from the header and a pass over the first column)."""

    path: Path
    n_samples: int
    variants_per_contig: pd.Series

    @property
    def n_variants(self) -> int:
        return int(self.variants_per_contig.sum())


def summarise_vcf(path: str | Path) -> GenotypeSummary:
    """Count samples and records per contig of a VCF (gzip/BGZF or plain); uses the index when bcftools can.

    Raises :class:`InputError` naming the file and line when there is no ``#CHROM`` header line.
    """
    path = Path(path)
    opener = gzip.open if path.suffix in (".gz", ".bgz") else open
    n_samples = None
    counts: dict[str, int] = {}
    index_used = False
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("##"):
                continue
            if line.startswith("#CHROM"):
                n_samples = max(0, len(line.rstrip("\n").split("\t")) - 9)
                break
            raise InputError("no #CHROM header line before the first record", file=path, line=lineno)
        if n_samples is None:
            raise InputError("no #CHROM header line", file=path)
        has_index = any(Path(str(path) + ext).exists() for ext in (".tbi", ".csi"))
        if has_index and shutil.which("bcftools"):
            res = subprocess.run(["bcftools", "index", "-s", str(path)], capture_output=True, text=True)
            if res.returncode == 0 and res.stdout.strip():
                for row in res.stdout.strip().splitlines():
                    contig, _length, n = row.split("\t")
                    counts[contig] = int(n)
                index_used = True
        if not index_used:
            for line in fh:
                contig = line[: line.find("\t")]
                counts[contig] = counts.get(contig, 0) + 1
    return GenotypeSummary(path, n_samples, pd.Series(counts, name="variants", dtype="int64").rename_axis("contig"))


class ProjectOverview:
    """Aggregated views of one project, computed with DuckDB directly on its Parquet files.

    Parameters
    ----------
    project
        A project folder or a loaded :class:`~pmo_workbench.project.Project`.
    reference_date
        The date ages are computed at (default: the latest event date in the registry, else today).
    """

    def __init__(self, project: str | Path | Project, *, reference_date: date | None = None) -> None:
        self.project = as_project(project)
        self.registry = self.project.source("registry")
        self.biobank = self.project.source("biobank")
        self.consent = self.project.source("consent")
        self._person = _parquet(self.registry, "person")
        self.reference_date = reference_date or self._latest_event_date() or date.today()

    def _latest_event_date(self) -> date | None:
        path = _parquet(self.registry, "diagnosis")
        if path is None:
            return None
        value = _query("SELECT max(date) AS d FROM read_parquet($p)", p=path)["d"].iloc[0]
        return None if pd.isna(value) else pd.Timestamp(value).date()

    # -- persons -------------------------------------------------------------------------------------------
    def persons_by_region_sex(self) -> pd.DataFrame:
        """Persons per region (rows) and sex (columns)."""
        if self._person is None:
            return pd.DataFrame()
        df = _query("SELECT coalesce(region, 'unknown') AS region, sex, count(*) AS n FROM read_parquet($p) "
                    "GROUP BY ALL", p=self._person)
        return df.pivot_table(index="region", columns="sex", values="n", aggfunc="sum", fill_value=0)

    def persons_by_age_sex(self) -> pd.DataFrame:
        """Living persons per age band at the reference date (rows) and sex (columns)."""
        if self._person is None:
            return pd.DataFrame()
        df = _query("SELECT sex, date_diff('year', birth_date, $d::DATE) "
                    "- CASE WHEN strftime(birth_date, '%m%d') > strftime($d::DATE, '%m%d') THEN 1 ELSE 0 END AS age "
                    "FROM read_parquet($p) WHERE death_date IS NULL OR death_date > $d::DATE",
                    p=self._person, d=self.reference_date)
        df["age_band"] = pd.cut(df["age"], AGE_BANDS, right=False,
                                labels=[f"{a}-{b - 1}" for a, b in zip(AGE_BANDS[:-1], AGE_BANDS[1:], strict=True)])
        return df.pivot_table(index="age_band", columns="sex", values="age", aggfunc="count", fill_value=0,
                              observed=False)

    def deaths_by_year(self) -> pd.Series:
        """Deaths per calendar year."""
        if self._person is None:
            return pd.Series(dtype="int64")
        df = _query("SELECT year(death_date) AS year, count(*) AS n FROM read_parquet($p) "
                    "WHERE death_date IS NOT NULL GROUP BY 1 ORDER BY 1", p=self._person)
        return df.set_index("year")["n"].rename("deaths")

    # -- registry ------------------------------------------------------------------------------------------
    def registry_coverage(self, first_year: int = 2000) -> pd.DataFrame:
        """Events per calendar year (rows) by table and source (columns: diagnosis LPR2, diagnosis LPR3, ...)."""
        parts = []
        for table, date_col in (("diagnosis", "date"), ("prescription", "date"), ("lab", "datetime")):
            path = _parquet(self.registry, table)
            if path is None:
                continue
            src = "coalesce(source, 'unknown')" if table != "lab" else "'NPU'"
            df = _query(f"SELECT year({date_col}) AS year, '{table} ' || {src} AS series, count(*) AS n "
                        f"FROM read_parquet($p) WHERE year({date_col}) >= $y GROUP BY ALL", p=path, y=first_year)
            parts.append(df)
        if not parts:
            return pd.DataFrame()
        long = pd.concat(parts, ignore_index=True)
        return long.pivot_table(index="year", columns="series", values="n", aggfunc="sum", fill_value=0).sort_index()

    def top_codes(self, table: str, n: int = 10) -> pd.DataFrame:
        """The ``n`` most frequent codes of an event table: description (from the project's code lists),
        persons and events."""
        from pmo_workbench.health.codelists import CodeIndex

        path = _parquet(self.registry, table)
        if path is None:
            return pd.DataFrame()
        top = _query("SELECT code, vocabulary, count(DISTINCT person_id) AS persons, count(*) AS events "
                     "FROM read_parquet($p) GROUP BY ALL ORDER BY persons DESC, code LIMIT $n", p=path, n=n)
        names = CodeIndex.from_project(self.project).codes.drop_duplicates(["code", "vocabulary"])
        top = top.merge(names, on=["code", "vocabulary"], how="left")
        top["description"] = top["description"].fillna("")
        return top.set_index("code")[["description", "vocabulary", "persons", "events"]]

    # -- genomes and biobank -------------------------------------------------------------------------------
    def manifest(self) -> pd.DataFrame:
        path = self.project.source("manifest")
        if path is None or not path.exists():
            return pd.DataFrame()
        return pd.read_csv(path, sep="\t", dtype=str)

    def samples_by_batch(self) -> pd.DataFrame:
        """Sequenced samples per batch (rows) and reported sex (columns)."""
        man = self.manifest()
        if man.empty:
            return pd.DataFrame()
        return pd.crosstab(man["batch"], man["reported_sex"]).rename_axis(index="batch", columns="reported_sex")

    def genotype_summary(self) -> GenotypeSummary | None:
        path = self.project.source("genotypes")
        if path is None or not path.exists():
            return None
        return summarise_vcf(path)

    def specimens_by_biobank(self) -> pd.DataFrame:
        """Specimens per biobank (rows) and specimen type (columns), counting those with aliquots left."""
        path = _parquet(self.biobank, "specimen")
        if path is None:
            return pd.DataFrame()
        df = _query("SELECT biobank, specimen_type, count(*) AS n FROM read_parquet($p) "
                    "WHERE coalesce(aliquots_left, 0) > 0 GROUP BY ALL", p=path)
        return df.pivot_table(index="biobank", columns="specimen_type", values="n", aggfunc="sum", fill_value=0)

    def specimen_status(self) -> pd.Series:
        path = _parquet(self.biobank, "specimen")
        if path is None:
            return pd.Series(dtype="int64")
        df = _query("SELECT coalesce(status, 'unknown') AS status, count(*) AS n FROM read_parquet($p) "
                    "GROUP BY ALL ORDER BY 1", p=path)
        return df.set_index("status")["n"].rename("specimens")

    # -- linkage and consent -------------------------------------------------------------------------------
    def linkage(self) -> pd.DataFrame:
        """Persons by what can be linked to them: genome, usable specimen, opted out (one row per combination)."""
        if self._person is None:
            return pd.DataFrame()
        man = self.manifest()
        genome = set(man["person_id"]) if not man.empty else set()
        spec_path = _parquet(self.biobank, "specimen")
        specimen = set(_query("SELECT DISTINCT person_id FROM read_parquet($p) WHERE coalesce(aliquots_left,0) > 0",
                              p=spec_path)["person_id"]) if spec_path else set()
        opted = self.opted_out_ids()
        persons = _query("SELECT person_id FROM read_parquet($p)", p=self._person)["person_id"]
        frame = pd.DataFrame({
            "genome": persons.isin(genome).map({True: "genome", False: "no genome"}),
            "specimen": persons.isin(specimen).map({True: "specimen", False: "no specimen"}),
            "opted_out": persons.isin(opted).map({True: "opted out", False: "may be used"}),
        })
        return pd.crosstab([frame["genome"], frame["specimen"]], frame["opted_out"])

    def opted_out_ids(self) -> set[str]:
        path = _parquet(self.consent, "tissue_use_register")
        if path is None:
            return set()
        return set(_query("SELECT person_id FROM read_parquet($p) WHERE opt_out", p=path)["person_id"])

    def consent_summary(self) -> pd.Series:
        """Persons in the project, opted out (Tissue Use Register), and the register's lookup date."""
        n_persons = 0 if self._person is None else int(
            _query("SELECT count(*) AS n FROM read_parquet($p)", p=self._person)["n"].iloc[0])
        path = _parquet(self.consent, "tissue_use_register")
        lookup = None
        if path is not None:
            lookup = _query("SELECT max(lookup_date) AS d FROM read_parquet($p)", p=path)["d"].iloc[0]
        return pd.Series({"persons": n_persons, "opted out": len(self.opted_out_ids()),
                          "lookup date": None if lookup is None or pd.isna(lookup) else str(pd.Timestamp(lookup).date())})
