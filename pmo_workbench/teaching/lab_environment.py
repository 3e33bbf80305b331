"""The Jupyter side of a workbench environment: JupyterLab quiet and free of version conflicts, Voila offline.

``make demo``, ``make test`` and Binder's ``postBuild`` call :func:`configure_lab_environment` on the environment
they installed (``python -m pmo_workbench.teaching.lab_environment``). It

- installs the Voila page template ``pmo`` (:data:`VOILA_TEMPLATE`, from ``pmo_workbench/resources/voila/``) and
  selects it (``etc/jupyter/voila.json``): Voila's own ``lab`` template links Font Awesome from a public CDN, and
  the workbench runs in closed networks; and it leaves Voila's MathJax URL unset (``jupyter_server_config.json``),
  so that Voila typesets with its bundled MathJax instead of loading one from cdnjs.cloudflare.com;
- turns off JupyterLab's news and update check and the extension manager (``overrides.json`` and
  ``page_config.json``; merged into what is there, so other settings stay);
- removes front-end extensions the workbench does not use and that JupyterLab reports as incompatible
  (:data:`UNUSED_LABEXTENSIONS`). Disabling is not enough: JupyterLab 4 still loads a disabled extension's code
  (so that its plugins can be switched on again) and the browser console warns about its shared modules.

Every step is idempotent: a second call changes nothing.

Example
-------
>>> import tempfile
>>> prefix = Path(tempfile.mkdtemp())
>>> [line.split(":")[0] for line in configure_lab_environment(prefix)]
['voila template', 'voila config', 'server config', 'lab overrides', 'lab page config']
>>> configure_lab_environment(prefix)
[]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from pmo_workbench.files import write_text_atomic

VOILA_TEMPLATE = "pmo"
"""Name of the workbench's Voila template (``share/jupyter/voila/templates/pmo``)."""

TEMPLATE_SOURCE = Path(__file__).resolve().parents[1] / "resources" / "voila" / VOILA_TEMPLATE

VOILA_CONFIG: dict[str, Any] = {"VoilaConfiguration": {"template": VOILA_TEMPLATE}}
"""Voila's settings (``etc/jupyter/voila.json``: read by ``voila`` and by Voila in a Jupyter server)."""

SERVER_CONFIG: dict[str, Any] = {
    # no MathJax URL: Voila's page then typesets with the MathJax 3 bundled in its static files (with a URL -- by
    # default cdnjs.cloudflare.com -- it loads MathJax 2 from there)
    "ServerApp": {"tornado_settings": {"mathjax_url": None, "mathjax_config": None}},
}
"""Merged into ``etc/jupyter/jupyter_server_config.json`` (a ``jupyter_server_config.d`` file would only be read
for enabling extensions)."""

UNUSED_LABEXTENSIONS: dict[str, str] = {
    "jupyterlab-plotly": "plotly's figure renderer, installed with MultiQC's plotly dependency; the workbench "
                         "draws no plotly figures, and it is built for other JupyterLab versions (the browser "
                         "console warns 'Unsatisfied version ... of shared singleton module @lumino/widgets')",
}
"""Front-end extensions removed from the environment, with the reason."""

LAB_OVERRIDES: dict[str, Any] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}
"""JupyterLab settings of the environment (``share/jupyter/lab/settings/overrides.json``)."""

DISABLED_LABEXTENSIONS = ["@jupyterlab/extensionmanager-extension"]
"""JupyterLab's own plugins switched off (``etc/jupyter/labconfig/page_config.json``)."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _write_json_if_changed(path: Path, data: dict[str, Any]) -> bool:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return True


def configure_lab_environment(prefix: str | Path | None = None) -> list[str]:
    """Configure the Jupyter files of the environment at ``prefix`` (default: this Python's ``sys.prefix``).

    Parameters
    ----------
    prefix
        The environment's root (a virtualenv or conda prefix: the folder holding ``share/jupyter`` and
        ``etc/jupyter``).

    Returns
    -------
    list of str
        One line per change made (empty when everything was already in place).
    """
    root = Path(prefix if prefix is not None else sys.prefix)
    done: list[str] = []
    share, etc = root / "share" / "jupyter", root / "etc" / "jupyter"

    template = share / "voila" / "templates" / VOILA_TEMPLATE
    changed = []
    for src in sorted(TEMPLATE_SOURCE.iterdir()):
        dst = template / src.name
        if src.is_file() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
            dst.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(dst, src.read_text(encoding="utf-8"))
            changed.append(src.name)
    if changed:
        done.append(f"voila template: {template} ({', '.join(changed)})")

    voila_config = etc / "voila.json"
    if _write_json_if_changed(voila_config, _merge(_read_json(voila_config), VOILA_CONFIG)):
        done.append(f"voila config: {voila_config}")

    server_config = etc / "jupyter_server_config.json"
    if _write_json_if_changed(server_config, _merge(_read_json(server_config), SERVER_CONFIG)):
        done.append(f"server config: {server_config}")

    overrides = share / "lab" / "settings" / "overrides.json"
    if _write_json_if_changed(overrides, _merge(_read_json(overrides), LAB_OVERRIDES)):
        done.append(f"lab overrides: {overrides}")

    page_config = etc / "labconfig" / "page_config.json"
    current = _read_json(page_config)
    disabled = current.get("disabledExtensions", {})
    if isinstance(disabled, list):  # both forms are valid; JupyterLab writes the mapping
        disabled = {name: True for name in disabled}
    if _write_json_if_changed(page_config, {**current, "disabledExtensions": {
            **disabled, **{name: True for name in DISABLED_LABEXTENSIONS}}}):
        done.append(f"lab page config: {page_config}")

    for name, why in UNUSED_LABEXTENSIONS.items():
        folder = share / "labextensions" / name
        if folder.is_dir():
            shutil.rmtree(folder)
            done.append(f"removed lab extension: {name} ({why.split(';')[0]})")
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m pmo_workbench.teaching.lab_environment [PREFIX]``: configure; one line of output."""
    args = sys.argv[1:] if argv is None else argv
    done = configure_lab_environment(args[0] if args else None)
    what = "; ".join(line.split(" (")[0].split(": ")[0] if not line.startswith("removed") else line.split(" (")[0]
                     for line in done)
    print(f"[setup] Jupyter: {what or 'already configured'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
