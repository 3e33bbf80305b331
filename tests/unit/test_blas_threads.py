"""``import pmo_workbench`` shortens OpenBLAS's idle spin (pmo_workbench.blas_threads): the setting reaches
OpenBLAS, the worker threads no longer burn CPU after start-up, and a user's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SPIN = """
import os, sys, time
{imports}
time.sleep(0.4)  # OpenBLAS' default spin (2^28 cycles) is ~0.1 s
tick = os.sysconf("SC_CLK_TCK")
other = 0
for tid in os.listdir("/proc/self/task"):
    if int(tid) != os.getpid():
        with open(f"/proc/self/task/{{tid}}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        other += int(fields[11]) + int(fields[12])  # utime + stime of the thread
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), other / tick)
"""


def _run(imports: str, env_value: str | None = None) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if env_value is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = env_value
    res = subprocess.run([sys.executable, "-c", SPIN.format(imports=imports)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    value, seconds = res.stdout.split()
    return value, float(seconds)


def _has_openblas_threads() -> bool:
    import numpy as np

    config = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    return "openblas" in str(blas.get("name", "")).lower() and (os.cpu_count() or 1) > 1


def test_importing_the_package_sets_the_spin_before_numpy_loads() -> None:
    value, _ = _run("import pmo_workbench, numpy")
    assert value == "20"
    value, _ = _run("import pmo_workbench.genotypes")  # a subpackage import runs the package's __init__ first
    assert value == "20"


def test_a_users_own_setting_wins_and_nothing_is_set_once_numpy_is_loaded() -> None:
    assert _run("import pmo_workbench, numpy", env_value="26")[0] == "26"
    assert _run("import numpy, pmo_workbench")[0] == "None"


@pytest.mark.skipif(not _has_openblas_threads(), reason="numpy without OpenBLAS, or one core (no worker threads)")
def test_openblas_workers_no_longer_burn_cpu_after_start_up() -> None:
    _, shortened = _run("import pmo_workbench, numpy")
    _, default = _run("import numpy")  # OpenBLAS' own default: the oracle
    assert shortened <= 0.02, f"OpenBLAS workers used {shortened:.2f} s of CPU while idle"
    assert default > shortened, (default, shortened)
