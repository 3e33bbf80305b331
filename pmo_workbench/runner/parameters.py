"""Parameters of a run: the params file and ``-p`` values merged, typed and validated; limits checked.

Nothing is written before these checks pass: a bad parameter, file or limit is a :class:`ConfigError` (exit 2).

Examples
--------
>>> check_limits(600, None)
(600.0, None)
>>> check_limits(float("inf"), None)
Traceback (most recent call last):
...
pmo_workbench.errors.ConfigError: parameters: field timeout_s: must be a finite number of seconds above 0 (got inf)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from pmo_workbench.errors import ConfigError, PrivacyError
from pmo_workbench.params import parse_track_params
from pmo_workbench.project import Project

RUNNER_PARAMS = ("project", "output_dir", "mode")
"""Parameters the runner sets itself; a user may not."""
MIN_MEMORY_GB = 0.05
"""Below this a kernel cannot even be attempted (the limit is refused up front)."""


def resolve_parameters(
    track: str, proj: Project, parameters: dict[str, Any] | None, params_file: Path | None, mode: str
) -> dict[str, Any]:
    """Merge the params file and ``parameters`` (these win), add the runner's own, validate by the track's class."""
    raw: dict[str, Any] = {}
    source = "parameters"
    if params_file is not None:
        params_file = Path(params_file)
        source = str(params_file)
        try:
            loaded = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read parameters file ({exc.strerror})", file=params_file) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", file=params_file) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=params_file,
                              line=mark.line + 1 if mark else None) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError("must be a mapping of parameter names to values", file=params_file)
        raw.update(loaded)
    raw.update(parameters or {})
    for name in RUNNER_PARAMS:
        if name in raw:
            hint = "use --mode" if name == "mode" else "the runner sets it"
            raise ConfigError(f"not a settable parameter ({hint})", file=source, field=name)
    raw.update(project=str(proj.root), mode=mode, output_dir=str(proj.runs_dir / track))
    return parse_track_params(track, raw, source=source).model_dump(mode="json")


def check_no_cpr_in_values(params: dict[str, Any]) -> None:
    """Refuse parameters holding a CPR-like value (they would be written into the report and ``run.json``)."""
    import pandas as pd

    from pmo_workbench.privacy import check_no_cpr

    values = {k: [json.dumps(v) if not isinstance(v, str) else v] for k, v in params.items()}
    try:
        check_no_cpr(pd.DataFrame(values))
    except PrivacyError as exc:
        raise PrivacyError(f"parameters: {exc}") from None


def check_limits(timeout_s: Any, memory_gb: Any) -> tuple[float, float | None]:
    """The time limit (seconds) and memory limit (GB) as finite positive numbers, else a one-line ConfigError."""
    try:
        timeout = float(timeout_s)
    except (TypeError, ValueError):
        raise ConfigError(f"must be a number of seconds (got {str(timeout_s)[:40]!r})", file="parameters",
                          field="timeout_s") from None
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"must be a finite number of seconds above 0 (got {timeout:g})", file="parameters",
                          field="timeout_s")
    if memory_gb is None:
        return timeout, None
    try:
        memory = float(memory_gb)
    except (TypeError, ValueError):
        raise ConfigError(f"must be a number of GB (got {str(memory_gb)[:40]!r})", file="parameters",
                          field="memory_gb") from None
    if not math.isfinite(memory) or memory < MIN_MEMORY_GB:
        raise ConfigError(f"must be a finite number of GB, at least {MIN_MEMORY_GB:g} (got {memory:g})",
                          file="parameters", field="memory_gb")
    return timeout, memory
