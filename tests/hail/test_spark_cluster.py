"""Scale-out: the Hail backend on a Spark standalone cluster (master + one worker on 127.0.0.1) gives the
same QC tables as local mode.

The cluster is started with pyspark's ``bin/spark-class`` and always stopped in a finalizer. Hail can be
initialised once per process, so the cluster run happens in a subprocess; local mode runs in this process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.hail

DATA = "hail_1kg_chr20_100/sample.vcf.gz"

SCRIPT = textwrap.dedent('''
    import sys
    from pmo_workbench.genotypes.hail_backend import init_hail, open_hail_genotypes
    from pmo_workbench.qc.sample_qc import sample_qc
    from pmo_workbench.qc.variant_qc import variant_qc
    master, data, cache, tmp, out = sys.argv[1:6]
    hl = init_hail(master, tmp, spark_conf={"spark.executor.memory": "700m", "spark.cores.max": "1",
                                            "spark.executor.cores": "1"})
    sc = hl.spark_context()
    g = open_hail_genotypes(data, cache, format_fields=("DP", "GQ", "AD"))  # as the local tables: depth compared too
    sample_qc(g).to_pickle(out + "/sample_qc.pkl")
    variant_qc(g).to_pickle(out + "/variant_qc.pkl")
    executors = sc._jsc.sc().getExecutorMemoryStatus().size() - 1
    print("MASTER", sc.master, "EXECUTORS", executors, flush=True)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def spark_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A Spark standalone master and one worker (1 core, 1 GB) on 127.0.0.1; yields the master URL."""
    pyspark = pytest.importorskip("pyspark")
    spark_home = Path(pyspark.__file__).parent
    spark_class = spark_home / "bin" / "spark-class"
    if not spark_class.is_file():
        pytest.skip("pyspark has no bin/spark-class")
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(tmp_path), "SPARK_WORKER_DIR": str(tmp_path / "work"),
           "SPARK_DAEMON_MEMORY": "256m"}
    procs: list[subprocess.Popen] = []

    def stop() -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group holds the executor the worker launched
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    request.addfinalizer(stop)
    port, worker_port = _free_port(), _free_port()

    def start(name: str, *args: str) -> Path:
        log = tmp_path / f"{name}.log"
        procs.append(subprocess.Popen([str(spark_class), *args], env=env, stdout=log.open("w"),
                                      stderr=subprocess.STDOUT, start_new_session=True))
        return log

    start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
          "--webui-port", str(_free_port()))
    _wait_for(lambda: _listening(port) or procs[0].poll() is not None, 90, "the Spark master")
    assert procs[0].poll() is None, (tmp_path / "master.log").read_text()[-2000:]
    url = f"spark://127.0.0.1:{port}"
    start("worker", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", str(worker_port),
          "--webui-port", str(_free_port()), "--cores", "1", "--memory", "1g", url)
    master_log = tmp_path / "master.log"
    _wait_for(lambda: "Registering worker" in master_log.read_text() or procs[1].poll() is not None, 90,
              "the worker to register")
    assert procs[1].poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    return url


def test_cluster_results_equal_local_mode(spark_cluster: str, hail_tables, shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "cluster_qc.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.run([sys.executable, str(script), spark_cluster, str(shared / DATA), str(tmp_path / "cache"),
                           str(tmp_path / "hail-tmp"), str(out)], capture_output=True, text=True, env=env,
                          timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MASTER"))
    assert line.split()[1] == spark_cluster and int(line.split()[3]) >= 1
    # the cluster imported its own MatrixTable (its own cache) and ran the QC on the worker's executor
    assert any(p.name.endswith("-auto") for p in (tmp_path / "cache").iterdir())
    local_s, local_v = hail_tables(DATA)
    pd.testing.assert_frame_equal(pd.read_pickle(out / "sample_qc.pkl"), local_s, check_exact=False, rtol=1e-12)
    remote_v = pd.read_pickle(out / "variant_qc.pkl")
    assert remote_v.locus.tolist() == local_v.locus.tolist()
    for col in ["call_rate", "AN", "n_het", "p_value_hwe", "p_value_excess_het"]:
        pd.testing.assert_series_equal(remote_v[col], local_v[col], check_exact=False, rtol=1e-12)
    assert remote_v.AC.tolist() == local_v.AC.tolist()
