"""`pmo run model_development` refuses bad inputs before running: one line naming the file and the field, exit
code 2, nothing written (the pre-flight checks of ModelDevelopmentParams)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PMO = [sys.executable, "-m", "pmo_workbench.cli"]
HEAD = "#pgs_id=X1\n#trait_reported=t\n"


def _project(tmp_path: Path, scoring: str, features: str | None = None) -> Path:
    root = tmp_path / "p"
    (root / "data" / "pgs").mkdir(parents=True)
    (root / "pmo.yaml").write_text("name: t\nsources: {reference_build: GRCh38}\n")
    (root / "data" / "pgs" / "s.txt").write_text(scoring)
    (root / "features.yaml").write_text(features or "name: f\ndemographics: [age, sex]\n"
                                        "pgs: [{name: pgs, scoring_file: data/pgs/s.txt}]\n")
    return root


@pytest.mark.parametrize(("scoring", "features", "expected"), [
    (HEAD + "#genome_build=GRCh37\nchr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t0.1\n", None,
     "s.txt: field #genome_build: genome build GRCh37 differs from the genotypes' GRCh38"),
    (HEAD + "#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\n1\t5\tA\n", None,
     "s.txt: line 4: field effect_weight: missing column"),
    (HEAD + "#genome_build=GRCh38\nrsID\teffect_allele\teffect_weight\nrs1\tA\t0.1\n", None,
     "s.txt: line 4: field chr_position: no positions"),
    (HEAD + "#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t0.1\n",
     "name: f\nlabs: [{name: ldl, codes: [NPU01567], window: [-30, 10]}]\n",
     "features.yaml: field labs[0].window: the window ends 10 days after the index date"),
])
def test_bad_model_inputs_exit_2_and_write_nothing(tmp_path: Path, scoring: str, features: str | None,
                                                   expected: str) -> None:
    root = _project(tmp_path, scoring, features)
    res = subprocess.run([*PMO, "run", "model_development", "--project", str(root), "-p", "features",
                          str(root / "features.yaml")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert not (root / "runs").exists()
