"""``import pmo_workbench`` has pyarrow's mimalloc commit arena memory on demand (pmo_workbench.arrow_allocator):
the setting is in place before pyarrow loads and a user's own value wins. Its effect (#16: the QC tables written
batch by batch peak at 130 MB instead of 150 MB at 2,500 x 1M) is measured by benchmarks/bench_import.py: mimalloc
exposes no way to read its options back, and small synthetic churns of Arrow buffers show no steady difference."""

from __future__ import annotations

import os
import subprocess
import sys

VARIABLE = "MIMALLOC_ARENA_EAGER_COMMIT"

PROBE = """
import os
{imports}
import pyarrow
print(os.environ.get("{variable}"))
"""


def _run(imports: str, env_value: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if env_value is not None:
        env[VARIABLE] = env_value
    res = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports, variable=VARIABLE)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_importing_the_package_sets_on_demand_commit_before_pyarrow_loads() -> None:
    assert _run("import pmo_workbench") == "0"
    assert _run("import pmo_workbench.genotypes") == "0"  # a subpackage import runs the package's __init__


def test_a_users_own_setting_wins_and_nothing_is_set_once_pyarrow_is_loaded() -> None:
    assert _run("import pmo_workbench", env_value="1") == "1"
    assert _run("import pyarrow, pmo_workbench") == "None"
