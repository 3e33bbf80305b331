"""``pmo new``: create a project folder from ``templates/project``.

Examples
--------
>>> import tempfile, pathlib
>>> root = create_project(pathlib.Path(tempfile.mkdtemp()) / "study", name="study")
>>> (root / "pmo.yaml").exists()
True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pmo_workbench.errors import ConfigError
from pmo_workbench.names import make_name, require_name
from pmo_workbench.project import load_project

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "project"


def create_project(directory: str | Path, *, name: str | None = None) -> Path:
    """Copy the project template into ``directory`` (which must not exist or be empty) and fill in the name.

    The copy is made in a temporary sibling folder and renamed into place, so a failure leaves nothing behind.
    """
    root = Path(directory).expanduser().resolve()
    if root.exists() and any(root.iterdir()):
        raise ConfigError("folder exists and is not empty", file=root)
    name = require_name(name, "project name") if name else make_name(root.name)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        shutil.copytree(TEMPLATE_DIR, tmp, dirs_exist_ok=True)
        yaml_path = tmp / "pmo.yaml"
        yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace("{name}", name), encoding="utf-8")
        load_project(tmp)  # the template must always validate
        if root.exists():
            root.rmdir()
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
