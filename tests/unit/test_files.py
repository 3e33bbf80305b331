"""Atomic file output (pmo_workbench.files): the old file survives a failed write, no temporary file is left."""

import os
import stat

import pytest

from pmo_workbench.files import replace_atomically, write_text_atomic


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.csv"
    write_text_atomic(target, "good\n")
    with pytest.raises(RuntimeError, match="disk full"), replace_atomically(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_interrupt_is_cleaned_up_too(tmp_path):
    target = tmp_path / "sub" / "t.txt"
    with pytest.raises(KeyboardInterrupt), replace_atomically(target) as tmp:
        tmp.write_text("x")
        raise KeyboardInterrupt
    assert not target.exists() and list((tmp_path / "sub").iterdir()) == []


def test_new_files_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_text_atomic(tmp_path / "shared.html", "<p>")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert umask & 0o044 or stat.S_IMODE(path.stat().st_mode) & 0o044, "readable by the group and others"
    assert path.read_text() == "<p>"
