"""All-or-nothing imports: an import's tables are staged beside the project's, then swapped in as one set.

An importer (:mod:`~pmo_workbench.health.registry`, :mod:`~pmo_workbench.health.omop`) writes every output file
into a hidden staging folder inside the project (``.pmo-import-<random>/<folder>/...``, same file system, so the
swap is a series of renames). :meth:`ImportStage.commit` then

1. moves the project's current tables of the *managed set* (every table the importer owns in the folders it
   writes: all event and vocabulary tables of ``data/registry``, plus ``specimen`` or ``tissue_use_register``)
   aside into the staging folder,
2. moves the staged files into place, and
3. writes ``pmo.yaml`` when the project had none.

A table of the managed set that the new import does not provide is therefore dropped (a second OMOP import
never leaves the first one's prescriptions behind). If anything fails -- a bad file found late, a full disk,
an interrupt -- the moves done so far are undone in reverse order, the staging folder is removed and a project
folder the import created is removed again: the project is byte for byte what it was, ``pmo.yaml`` included.
(A process killed with SIGKILL in the middle of step 1-2 can leave the staging folder; it holds the old files.)

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "p"
>>> with ImportStage(root) as stage:
...     _ = (stage.folder("registry") / "person.parquet").write_bytes(b"x")
...     stage.commit({"registry": ["person.parquet"]})
>>> sorted(p.name for p in root.iterdir())
['data', 'pmo.yaml']
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from pmo_workbench.project import PROJECT_FILE, Project, ProjectConfig, load_project

STAGING_PREFIX = ".pmo-import-"


class ImportStage:
    """A staging folder for one import into the project folder ``root`` (created only if the import succeeds).

    Parameters
    ----------
    root
        The project folder; it need not exist (then a minimal ``pmo.yaml`` is written on commit).
    synthetic
        ``privacy.synthetic`` of a project created by this import.

    Attributes
    ----------
    project
        The project as it will be: loaded from ``pmo.yaml`` or, for a new project, the configuration that
        :meth:`commit` writes.
    """

    def __init__(self, root: str | Path, *, synthetic: bool = False) -> None:
        self.root = Path(root)
        self._new_config: ProjectConfig | None = None
        if (self.root / PROJECT_FILE).exists():
            self.project = load_project(self.root, check_files=False)
        else:
            name = self.root.resolve().name or "project"
            self._new_config = ProjectConfig.model_validate({"name": name, "privacy": {"synthetic": synthetic}})
            self.project = Project(self.root, self._new_config)
        # the first missing ancestor: removed again if the import fails
        self._created: Path | None = None
        probe = self.root.resolve()
        while not probe.exists():
            self._created = probe
            probe = probe.parent
        self.root.mkdir(parents=True, exist_ok=True)
        self.dir = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        self.dir.mkdir()
        self._committed = False

    def __enter__(self) -> ImportStage:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None or not self._committed)

    def source(self, name: str) -> Path:
        """The final folder of a project source (``registry``, ``biobank``, ``consent``)."""
        path = self.project.source(name)
        if path is None:
            raise ValueError(f"the project has no {name} folder configured")
        return path

    def folder(self, name: str) -> Path:
        """The staging folder for the files of source ``name`` (created)."""
        path = self.dir / "new" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, managed: dict[str, list[str] | tuple[str, ...]]) -> None:
        """Swap the staged files in: for each source name, the files ``managed`` lists are replaced by the
        staged ones (a listed file that was not staged is removed); other files are left alone."""
        done: list[tuple[Path, Path]] = []      # (from, to) renames, undone in reverse on failure
        made: list[Path] = []
        try:
            for name, files in managed.items():
                final = self.source(name)
                staged = self.dir / "new" / name
                old = self.dir / "old" / name
                old.mkdir(parents=True, exist_ok=True)
                if not final.exists():
                    missing = final
                    while not missing.parent.exists():
                        missing = missing.parent
                    final.mkdir(parents=True)
                    made.append(missing)
                for fname in files:
                    if (final / fname).exists():
                        os.replace(final / fname, old / fname)
                        done.append((final / fname, old / fname))
                for fname in files:
                    if (staged / fname).exists():
                        os.replace(staged / fname, final / fname)
                        done.append((staged / fname, final / fname))
            if self._new_config is not None:
                from pmo_workbench.project import write_project_file

                write_project_file(self.root, self._new_config)
            self._committed = True
        except BaseException:
            for src, dst in reversed(done):
                os.replace(dst, src)
            for path in reversed(made):
                shutil.rmtree(path, ignore_errors=True)
            raise

    def close(self, *, failed: bool) -> None:
        """Remove the staging folder (and, after a failure, a project folder this import created)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        if failed and not self._committed and self._created is not None:
            shutil.rmtree(self._created, ignore_errors=True)
