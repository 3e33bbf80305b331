"""One typed parameter class per track: the notebook's ``parameters`` cell, validated before a run starts.

``pmo run <track> -p NAME VALUE`` values arrive as strings; :func:`parse_track_params` converts them to the
declared types and rejects unknown names, so a typo never silently runs with a default.

Example
-------
>>> parse_track_params("overview", {"project": "demo", "mode": "export"}).mode
'export'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pmo_workbench.errors import ConfigError

Mode = Literal["internal", "export"]


class TrackParams(BaseModel):
    """Parameters every track notebook takes."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(..., description="project folder (holding pmo.yaml)")
    mode: Mode = Field("internal", description="internal, or export: small counts suppressed, no individual data")
    output_dir: str = Field(".", description="where the notebook writes its output tables (the run folder)")


class OverviewParams(TrackParams):
    """Parameters of ``notebooks/overview.ipynb``."""

    first_year: int = Field(2000, description="first calendar year shown in registry coverage")


class WgsQcParams(TrackParams):
    """Parameters of ``notebooks/wgs_qc.ipynb`` (None: taken from the project's ``pmo.yaml``)."""

    input: str | None = Field(None, description="VCF/BCF or PLINK prefix (default: sources.genotypes)")
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


TRACK_PARAMS: dict[str, type[TrackParams]] = {
    "overview": OverviewParams,
    "wgs_qc": WgsQcParams,
    "cohort_selection": CohortSelectionParams,
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
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(msg, file=source, field=key) from None
