"""One typed parameter class per track: the notebook's ``parameters`` cell, validated before a run starts.

``pmo run <track> -p NAME VALUE`` values arrive as strings; :func:`parse_track_params` converts them to the
declared types and rejects unknown names, so a typo never silently runs with a default.

Examples
--------
>>> parse_track_params("overview", {"project": "demo", "mode": "export"}).mode
'export'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pmo_workbench.errors import ConfigError

Mode = Literal["internal", "export"]


class TrackParams(BaseModel):
    """Parameters every track notebook takes."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(..., description="project folder (holding pmo.yaml)")
    mode: Mode = Field("internal", description="internal, or export: small counts suppressed, no individual data")
    output_dir: str | None = Field(
        None, description="where the notebook writes its outputs (the run folder, set by the runner); None: "
                          "nothing is written (interactive runs)")


class OverviewParams(TrackParams):
    """Parameters of ``notebooks/overview.ipynb``."""

    first_year: int = Field(2000, description="first calendar year shown in registry coverage")


class WgsQcParams(TrackParams):
    """Parameters of ``notebooks/wgs_qc.ipynb`` (None: taken from the project's ``pmo.yaml``)."""

    input: str | None = Field(
        None, description="VCF/BCF or PLINK prefix (default: the cohort store of `pmo ingest` if any, else "
                          "sources.genotypes)"
    )
    backend: Literal["embedded", "hail"] | None = Field(None, description="default: backend.engine of pmo.yaml")
    manifest: str | None = Field(None, description="genome manifest TSV (default: sources.manifest)")
    pedigree: str | None = Field(None, description="PED file (default: sources.pedigree)")
    thresholds_file: str | None = Field(
        None, description="reviewed thresholds YAML (default: PROJECT/params/wgs_qc.yaml if present)"
    )
    strata: list[str] | None = Field(
        None, description="manifest columns grouping the outlier bounds (default: the thresholds', else batch)"
    )
    write_filtered_vcf: bool = Field(False, description="write the passing samples and variants as a VCF")
    reference_labels: str | None = Field(None, description="TSV sample_id, population for ancestry assignment")
    k: int | None = Field(None, ge=1, description="principal components (default: the thresholds' ancestry_k)")
    trend_k: float = Field(3.0, gt=0, description="control limits: centre ± trend_k spreads of earlier batches")
    trend_method: Literal["sd", "mad"] = Field("sd", description="spread: SD around the mean, or scaled MAD")

    @field_validator("strata", mode="before")
    @classmethod
    def _split_strata(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v


class CohortSelectionParams(TrackParams):
    """Parameters of ``notebooks/cohort_selection.ipynb``."""

    definition: str | None = Field(
        None, description="cohort definition YAML, relative to the project folder or its cohorts/ (default: "
                          "cohorts/mi_cases.yaml, else the first cohorts/*.yaml)"
    )
    disable: list[str] | None = Field(None, description="rules switched off for this run (comma-separated names)")
    write_pick_list: bool = Field(True, description="write pick_list.parquet (internal mode only)")
    on_missing_genomes: Literal["report", "fail"] = Field(
        "report", description="genome rules without a WGS QC run: report without them (marked incomplete) or fail"
    )

    @field_validator("disable", mode="before")
    @classmethod
    def _split_disable(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v


class ModelDevelopmentParams(TrackParams):
    """Parameters of ``notebooks/model_development.ipynb`` (cohort: a run, else a definition, else a baseline)."""

    cohort_run: str | None = Field(None, description="cohort-selection run folder, or 'latest'")
    cohort_definition: str | None = Field(None, description="cohort definition YAML (cohorts/...) to select")
    baseline_date: str = Field("2005-01-01", description="without a cohort: everyone resident on this date")
    age_min: float = Field(40, ge=0, le=120, description="baseline cohort: youngest age")
    age_max: float = Field(80, ge=0, le=120, description="baseline cohort: oldest age")
    outcome: str = Field("mi", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="outcome name")
    outcome_codes: list[str] = Field(["DI21*", "DI22*"], min_length=1, description="SKS codes of the outcome")
    horizon_days: int = Field(3652, ge=30, le=36500, description="prediction horizon (days)")
    features: str = Field("templates/features/mi_clinical.yaml", description="feature-set YAML")
    model: Literal["logistic", "gboost", "cox"] = Field("logistic", description="model kind")
    validation: Literal["cv", "region", "period"] = Field("cv", description="validation scheme")
    n_splits: int = Field(5, ge=2, le=20, description="cross-validation folds")
    n_repeats: int = Field(2, ge=1, le=50, description="cross-validation repeats")
    period_year: int | None = Field(None, description="period validation: first validation year")
    gwas_lab: str | None = Field("NPU01567", description="NPU code of the lab trait for a GWAS (None: none)")
    qc_run: str | None = Field(None, description="WGS QC run folder (default: the latest succeeded one)")
    backend: Literal["embedded", "hail"] | None = Field(None, description="default: backend.engine of pmo.yaml")
    seed: int = Field(1, description="seed of every random step")
    n_boot: int = Field(500, ge=0, le=10000, description="bootstrap resamples for confidence intervals")

    @model_validator(mode="after")
    def _check_inputs(self) -> ModelDevelopmentParams:
        """Pre-flight: the feature set, its scoring files (header, columns, build) and the cohort definition, so
        that a bad input stops the run before anything is written (exit code 2)."""
        from pathlib import Path

        from pmo_workbench.model.features import load_feature_set
        from pmo_workbench.model.scoring_file import check_scoring_file

        root = Path(self.project)
        if not (root / "pmo.yaml").exists():
            return self  # the runner reports a missing project itself
        from pmo_workbench.project import load_project

        build = load_project(root).config.sources.reference_build
        repo = Path(__file__).resolve().parents[1]

        def find(name: str) -> Path:
            for cand in (Path(name), root / name, repo / name):
                if cand.exists():
                    return cand
            raise ConfigError("file not found (relative to the project folder or the workbench)", file=name)

        fs = load_feature_set(find(self.features))
        for f in fs.pgs:
            check_scoring_file(find(f.scoring_file), build)
        if self.cohort_definition:
            from pmo_workbench.cohort import load_definition

            load_definition(find(self.cohort_definition))
        return self

    @field_validator("outcome_codes", mode="before")
    @classmethod
    def _split_codes(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v

    @field_validator("outcome_codes")
    @classmethod
    def _check_codes(cls, v: list[str]) -> list[str]:
        from pmo_workbench.health.codelists import parse_code

        for c in v:
            parse_code(c, "SKS")
        return v


TRACK_PARAMS: dict[str, type[TrackParams]] = {
    "overview": OverviewParams,
    "wgs_qc": WgsQcParams,
    "cohort_selection": CohortSelectionParams,
    "model_development": ModelDevelopmentParams,
}
"""Track name -> its parameter class; a track notebook ``notebooks/<track>.ipynb`` exists for each."""


def register_track(name: str, cls: type[TrackParams]) -> None:
    """Register the parameter class of a track (used by the track modules)."""
    TRACK_PARAMS[name] = cls


def parse_track_params(track: str, raw: dict[str, Any], *, source: str = "parameters") -> TrackParams:
    """Validate ``raw`` (from ``-p``, ``-f`` or a preset) against the track's parameter class.

    Raises
    ------
    ConfigError
        For an unknown track, an unknown parameter name or a value of the wrong type (naming it).
    """
    if track not in TRACK_PARAMS:
        raise ConfigError(f"unknown track {track!r} (known: {', '.join(sorted(TRACK_PARAMS))})", file=source)
    cls = TRACK_PARAMS[track]
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        if not key:  # a pre-flight check of the inputs: its message names the file and field itself
            raise ConfigError(msg) from None
        raise ConfigError(msg, file=source, field=key) from None
