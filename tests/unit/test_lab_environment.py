"""The Jupyter side of an environment (pmo_workbench.teaching.lab_environment): JupyterLab with no news and no
extension reporting a version conflict, Voila with the offline template -- checked with the real `jupyter`
commands on a real environment prefix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from pmo_workbench.teaching.lab_environment import (
    UNUSED_LABEXTENSIONS,
    VOILA_TEMPLATE,
    configure_lab_environment,
)

CONFLICT = "may be outdated or specify dependencies that are incompatible"


def test_settings_are_merged_into_what_is_there_and_a_second_call_changes_nothing(tmp_path):
    overrides = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    overrides.parent.mkdir(parents=True)
    overrides.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                     "@jupyterlab/apputils-extension:notification": {"fetchNews": "true"}}))
    page_config = tmp_path / "etc" / "jupyter" / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": ["some-extension"]}))
    server = tmp_path / "etc" / "jupyter" / "jupyter_server_config.json"
    server.write_text(json.dumps({"ServerApp": {"root_dir": "/srv"}}))

    done = configure_lab_environment(tmp_path)
    assert len(done) == 5, done
    lab = json.loads(overrides.read_text())
    assert lab["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}  # kept
    assert lab["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert json.loads(page_config.read_text())["disabledExtensions"] == {
        "some-extension": True, "@jupyterlab/extensionmanager-extension": True}
    config = json.loads(server.read_text())["ServerApp"]
    assert config["root_dir"] == "/srv" and config["tornado_settings"] == {"mathjax_url": None,
                                                                          "mathjax_config": None}
    voila = json.loads((tmp_path / "etc" / "jupyter" / "voila.json").read_text())
    assert voila == {"VoilaConfiguration": {"template": VOILA_TEMPLATE}}
    assert configure_lab_environment(tmp_path) == []


def test_the_voila_template_links_nothing_outside_the_server():
    from pmo_workbench.teaching.lab_environment import TEMPLATE_SOURCE

    text = (TEMPLATE_SOURCE / "index.html.j2").read_text()
    code = text.split("-#}", 1)[1]  # after the comment at the top
    assert "http" not in code and "//" not in code.replace("://", "")
    assert json.loads((TEMPLATE_SOURCE / "conf.json").read_text())["base_template"] == "lab"


def _env_on_this_one(root: Path) -> Path:
    """A virtual environment at ``root`` (its own prefix) that imports this environment's packages."""
    venv.create(root, with_pip=False, symlinks=True)
    site = Path(sysconfig.get_paths(vars={"base": str(root), "platbase": str(root)})["purelib"])
    site.mkdir(parents=True, exist_ok=True)
    (site / "parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return root / "bin" / "python"


def _labextension_list(python: Path, home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"))
    res = subprocess.run([str(python), "-m", "jupyterlab.labextensions", "list"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout + res.stderr


def test_this_environment_has_no_lab_extension_in_conflict(tmp_path):
    # `make demo`, `make test` and Binder's postBuild configure the environment they install
    out = _labextension_list(Path(sys.executable), tmp_path)
    assert CONFLICT not in out, (
        "a JupyterLab extension reports a version conflict; `python -m pmo_workbench.teaching.lab_environment` "
        "configures this environment as `make` does:\n" + out)
    for name in ("anywidget", "@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/jupyterlab-preview"):
        line = next((x for x in out.splitlines() if name + " v" in x), "")
        assert "enabled" in line and "OK" in line, (name, out)


def test_configuring_removes_the_extension_in_conflict(tmp_path):
    source = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    if not (source / "jupyterlab-plotly").is_dir():
        pytest.skip("this environment is configured already: no jupyterlab-plotly to copy")
    python = _env_on_this_one(tmp_path / "env")
    target = tmp_path / "env" / "share" / "jupyter" / "labextensions"
    shutil.copytree(source, target)  # the environment's front-end extensions as pip installed them
    before = _labextension_list(python, tmp_path)
    assert CONFLICT in before and "jupyterlab-plotly" in before.split(CONFLICT)[1]

    done = configure_lab_environment(tmp_path / "env")
    assert any(line.startswith("removed lab extension: jupyterlab-plotly") for line in done)
    after = _labextension_list(python, tmp_path)
    assert CONFLICT not in after and "jupyterlab-plotly" not in after, after
    for name in ("anywidget", "@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/jupyterlab-preview"):
        line = next((x for x in after.splitlines() if name + " v" in x), "")
        assert "enabled" in line and "OK" in line, (name, after)
    assert "@jupyterlab/extensionmanager-extension" in after.split("Disabled extensions:")[1]
    assert set(UNUSED_LABEXTENSIONS) == {"jupyterlab-plotly"}
