"""What a project holds: persons, genomes, specimens, registry coverage and opt-outs, as aggregated count tables.

The logic of ``notebooks/overview.ipynb``. Every function returns *counts only* (no individual-level rows), so
that :meth:`~pmo_workbench.privacy.Disclosure.counts` can make any of them safe for export with complementary
small-count suppression. What a project lacks is said, never shown as a number: without a Tissue Use Register
lookup the consent figures are "not available" (:meth:`ProjectOverview.describe_consent`).

Examples
--------
>>> from pmo_workbench.privacy import Disclosure
>>> ov = ProjectOverview(project)
>>> ov.consent_available  # the doctest project has no Tissue Use Register lookup
False
>>> print(ov.describe_consent(Disclosure("internal")).split(" — ")[0])
**Tissue Use Register: not available**
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.privacy.disclosure_layer import Disclosure
from pmo_workbench.project import Project, as_project

AGE_BANDS = [0, 18, 30, 40, 50, 60, 70, 80, 90, 120]


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
        """Events per calendar year (rows) by table and source (columns: diagnosis LPR2, diagnosis LPR3,
        diagnosis OMOP, prescription ..., lab NPU or lab OMOP: labs by their vocabulary)."""
        parts = []
        for table, date_col in (("diagnosis", "date"), ("prescription", "date"), ("lab", "datetime")):
            path = _parquet(self.registry, table)
            if path is None:
                continue
            src = "coalesce(source, 'unknown')" if table != "lab" else "coalesce(vocabulary, 'unknown')"
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
        """Persons by what can be linked to them: genome, usable specimen (rows), and consent (columns: opted out,
        may be used — looked up in the Tissue Use Register and not registered —, or not looked up)."""
        if self._person is None:
            return pd.DataFrame()
        man = self.manifest()
        genome = set(man["person_id"]) if not man.empty else set()
        spec_path = _parquet(self.biobank, "specimen")
        specimen = set(_query("SELECT DISTINCT person_id FROM read_parquet($p) WHERE coalesce(aliquots_left,0) > 0",
                              p=spec_path)["person_id"]) if spec_path else set()
        opted = self.opted_out_ids()
        looked_up = self.looked_up_ids()
        persons = _query("SELECT person_id FROM read_parquet($p)", p=self._person)["person_id"]
        consent = np.where(persons.isin(opted), "opted out",
                           np.where(persons.isin(looked_up), "may be used", "not looked up"))
        frame = pd.DataFrame({
            "genome": persons.isin(genome).map({True: "genome", False: "no genome"}),
            "specimen": persons.isin(specimen).map({True: "specimen", False: "no specimen"}),
            "consent": consent,
        })
        return pd.crosstab([frame["genome"], frame["specimen"]], frame["consent"])

    def opted_out_ids(self) -> set[str]:
        path = _parquet(self.consent, "tissue_use_register")
        if path is None:
            return set()
        return set(_query("SELECT person_id FROM read_parquet($p) WHERE opt_out", p=path)["person_id"])

    def looked_up_ids(self) -> set[str]:
        """Persons with a Tissue Use Register lookup (opted out or not)."""
        path = _parquet(self.consent, "tissue_use_register")
        if path is None:
            return set()
        return set(_query("SELECT DISTINCT person_id FROM read_parquet($p)", p=path)["person_id"])

    @property
    def consent_available(self) -> bool:
        """Whether the project holds a Tissue Use Register lookup."""
        return _parquet(self.consent, "tissue_use_register") is not None

    def describe_consent(self, disclosure: Disclosure) -> str:
        """The consent sentence of the overview (Markdown): the lookup date and the share opted out, or, without a
        lookup, that these figures are not available and why.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()); _ = (p / "pmo.yaml").write_text("name: empty\\n")
        >>> print(ProjectOverview(p).describe_consent(Disclosure("internal")))  # doctest: +ELLIPSIS
        **Tissue Use Register: not available** — ...
        """
        if not self.consent_available:
            where = self.consent if self.consent is not None else "sources.consent (not set in pmo.yaml)"
            return ("**Tissue Use Register: not available** — the project holds no Tissue Use Register lookup "
                    f"(`tissue_use_register.parquet` in {where}). Opt-outs are unknown, so no share of opted-out "
                    "persons can be given and nobody is known to be usable for research: look the persons up "
                    "and import the result (see `pmo import --help`) before selecting a cohort.")
        summary = self.consent_summary()
        n_persons, n_opted = int(summary["persons"]), int(summary["opted out"])
        n_looked = len(self.looked_up_ids() & self._person_ids())
        lookup = summary["lookup date"] or "on a date not recorded in the lookup"
        text = f"Tissue Use Register looked up **{lookup}**; "
        shown = disclosure.counts(pd.Series({"opted out": n_opted, "not opted out": n_looked - n_opted,
                                             "not looked up": n_persons - n_looked}))
        if n_persons == 0:
            return text + "the project holds no persons."
        if pd.isna(shown["opted out"]):
            text += "the opt-out count is suppressed (a small count)."
        else:
            text += f"**{n_opted / n_persons:.1%}** of {n_persons:,} persons opted out."
        if n_looked < n_persons:
            missing = shown["not looked up"]
            text += (" **" + ("Some" if pd.isna(missing) else f"{int(missing):,}") + "** persons were not looked "
                     "up: their consent is unknown and they are not selected for research.")
        return text

    def _person_ids(self) -> set[str]:
        if self._person is None:
            return set()
        return set(_query("SELECT person_id FROM read_parquet($p)", p=self._person)["person_id"])

    def describe_coverage(self) -> str:
        """What the registry coverage shows and, where the project has them, the LPR2→LPR3 change (March 2019);
        OMOP projects have no LPR line."""
        cov = self.registry_coverage(first_year=1900)
        if cov.empty:
            return ("_Registry coverage: not available — the project has no diagnosis, prescription or lab table "
                    "(`sources.registry` in pmo.yaml; `pmo import registry` or `pmo import omop`)._")
        series = [str(c) for c in cov.columns]
        text = "Events per calendar year and source."
        if any("LPR3" in c for c in series):
            text += (" Hospital diagnoses come from LPR2 until March 2019 and from LPR3 after it (dashed line); "
                     "a gap or a jump at the line is a data problem to look into.")
        if any(c.endswith("OMOP") for c in series):
            text += " Events imported from an OMOP CDM database are one series per table (`... OMOP`)."
        absent = [t for t in ("diagnosis", "prescription", "lab") if not any(c.startswith(t + " ") for c in series)]
        if absent:
            text += f" Not available in this project: {', '.join(absent)} data."
        return text

    def lpr_change(self) -> str | None:
        """The date of the LPR2→LPR3 change when the project's diagnoses come from the LPR, else None."""
        path = _parquet(self.registry, "diagnosis")
        if path is None:
            return None
        found = _query("SELECT count(*) AS n FROM read_parquet($p) WHERE source IN ('LPR2', 'LPR3')", p=path)
        return "2019-03-01" if int(found["n"].iloc[0]) else None

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


def write_overview_outputs(tables: dict[str, pd.DataFrame | pd.Series], output_dir: str | Path | None,
                           disclosure: Disclosure) -> list[str]:
    """Write the overview's count tables (``<name>.parquet``) as the disclosure layer releases them; empty tables
    and ``output_dir`` None (an interactive run) write nothing. Returns the file names written."""
    written = []
    for name, table in tables.items():
        if table is None or table.empty:
            continue
        if disclosure.write_table(table, output_dir, name, kind="counts") is not None:
            written.append(f"{name}.parquet")
    return written
