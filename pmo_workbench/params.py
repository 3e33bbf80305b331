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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


TRACK_PARAMS: dict[str, type[TrackParams]] = {
    "overview": OverviewParams,
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
