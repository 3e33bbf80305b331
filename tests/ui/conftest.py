"""Real-browser fixtures: a private JupyterLab server on 127.0.0.1 driven by Playwright with Debian's chromium.

Reusable by every widget test under ``tests/ui/`` (see ``/work/shared/notes/browser-testing.md`` for the facts
behind the choices). Never run ``playwright install``: the system chromium is used through ``executable_path``.

Fixtures
--------
``jupyter_lab`` (session)
    A :class:`JupyterLab` server (``jupyter_process``, waited for) started once per session as a subprocess in its own process group: free port,
    fixed token, ``--allow-root``, every ``JUPYTER*``/IPython/matplotlib folder in a temporary directory, the
    news toast off, the app exposed as ``window.jupyterapp`` (for menu commands). ``jupyter_lab.root_dir`` is
    the folder the server serves; write notebooks there with :meth:`JupyterLab.write_notebook`.
``chromium`` (session)
    A headless Playwright ``Browser`` on ``/usr/bin/chromium`` (override with ``PMO_CHROMIUM``).
``lab`` (function)
    A :class:`LabPage`: a fresh browser context and page bound to the server, with helpers
    ``open_notebook(name)`` (opens it and waits for ``Python 3 (ipykernel) | Idle``), ``run_all()`` (menu
    command ``runmenu:run-all``, then waits until every code cell has run and the kernel is idle again) and
    ``wait_for_kernel_idle()``. On a failed test a full-page screenshot and the server log path are written to
    the artifacts folder (``PMO_UI_ARTIFACTS``, default ``<pytest basetemp>/ui-artifacts``) and printed.
    Kernels started by the test are shut down afterwards. Every request of the page to a host other than the
    local server is recorded (``offsite_requests``) and fails the test: the workbench runs offline.

Example
-------
::

    pytestmark = pytest.mark.browser

    def test_my_widget(lab):
        lab.server.write_notebook("w.ipynb", ["from pmo_widgets import MyWidget", "MyWidget()"])
        lab.open_notebook("w.ipynb")
        lab.run_all()
        lab.page.locator("[data-testid=my-count]").wait_for()
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

CHROMIUM = os.environ.get("PMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TOKEN = "pmo-ui-test-token"
KERNEL_IDLE = re.compile(r"Python 3 \(ipykernel\)\s*\|\s*Idle")
_REPORT_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def is_local_url(url: str) -> bool:
    """Whether the browser may load ``url`` offline: the local server, or an inline/page-made resource."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome", "chrome-extension"}:
        return True
    return parts.hostname in LOCAL_HOSTS


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JupyterLab:
    """A running JupyterLab server (see the module docstring)."""

    url: str
    token: str
    root_dir: Path
    log_file: Path
    proc: subprocess.Popen[bytes]
    started_kernels: set[str] = field(default_factory=set)

    def page_url(self, path: str) -> str:
        """Browser URL of ``path`` (e.g. ``lab/tree/x.ipynb``) with the token, starting from a reset workspace."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}/{path.lstrip('/')}{sep}reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API; returns the decoded JSON (None for an empty body)."""
        req = urllib.request.Request(f"{self.url}/api/{path.lstrip('/')}?token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """Write a notebook of code cells (Python 3 kernel in its metadata) under ``root_dir``."""
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        path = self.root_dir / name
        nbformat.write(nb, path)
        return path

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel (and its session)."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_file.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


@pytest.fixture(scope="session")
def jupyter_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """The server process, started but perhaps not answering yet (use ``jupyter_lab``)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        d = base / var.lower()
        d.mkdir()
        env[var] = str(d)
    env["MPLBACKEND"] = "Agg"
    # the workbench's Jupyter settings (Voila's offline template and MathJax, quiet lab) in a prefix of their own,
    # so that the test does not depend on how this environment was installed
    from pmo_workbench.teaching.lab_environment import configure_lab_environment

    prefix = base / "prefix"
    configure_lab_environment(prefix)
    env["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    env["JUPYTER_CONFIG_PATH"] = str(prefix / "etc" / "jupyter")
    notification = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"
    labconfig.mkdir()  # no build check: it costs seconds of CPU on every page load and is irrelevant here
    (labconfig / "page_config.json").write_text(json.dumps({"buildCheck": False, "buildAvailable": False}))
    port = find_free_port()
    log_file = base / "server.log"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = JupyterLab(f"http://127.0.0.1:{port}", TOKEN, root, log_file, proc)
    try:
        yield server
    finally:
        if proc.poll() is None:
            try:  # kernels run in sessions of their own: stop them through the server first
                server.shutdown_kernels()
            except (urllib.error.URLError, OSError):
                pass
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def jupyter_lab(jupyter_process: JupyterLab) -> JupyterLab:
    """The server, once ``/api/status`` answers (fails with the log tail if it exits or takes > 60 s)."""
    server, proc = jupyter_process, jupyter_process.proc
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            server.api("status")
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 60 s:\n{server.log_tail()}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (apt-get install chromium; never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def ui_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for screenshots of failed browser tests."""
    d = Path(os.environ.get("PMO_UI_ARTIFACTS") or tmp_path_factory.getbasetemp() / "ui-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    rep = yield
    item.stash.setdefault(_REPORT_KEY, {})[rep.when] = rep
    return rep


class LabPage:
    """A browser page on a :class:`JupyterLab` server with the helpers widget tests need.

    Attributes
    ----------
    server : JupyterLab
    page : playwright.sync_api.Page
    """

    def __init__(self, server: JupyterLab, page: Any) -> None:
        self.server = server
        self.page = page
        self.offsite_requests: list[str] = []
        """URLs the page asked for from any host but the local server (the workbench runs offline)."""

    def open_notebook(self, name: str, *, timeout: float = 30.0) -> None:
        """Open ``root_dir/name`` in JupyterLab and wait until its kernel is idle."""
        self.page.goto(self.server.page_url(f"lab/tree/{name}"), wait_until="domcontentloaded")
        self.page.locator(".jp-Notebook").first.wait_for(timeout=timeout * 1000)
        self.wait_for_kernel_idle(timeout=timeout)

    def wait_for_kernel_idle(self, *, timeout: float = 30.0) -> None:
        """Wait until the status bar reads ``Python 3 (ipykernel) | Idle`` (a kernel exists and is idle)."""
        self.page.locator("#jp-main-statusbar").get_by_text(KERNEL_IDLE).wait_for(timeout=timeout * 1000)

    def run_all(self, *, timeout: float = 30.0) -> None:
        """Run all cells (``runmenu:run-all``) and wait until every code cell has an execution count and the
        kernel is idle."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=timeout * 1000,
        )
        self.wait_for_kernel_idle(timeout=timeout)

    def cell_errors(self) -> list[str]:
        """Text of every error or stderr output in the open notebook (empty when all cells ran cleanly)."""
        return self.page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()


@pytest.fixture
def lab(
    jupyter_process: JupyterLab,  # first: the server boots while chromium starts
    chromium: Any,
    jupyter_lab: JupyterLab,
    ui_artifacts: Path,
    request: pytest.FixtureRequest,
) -> Iterator[LabPage]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(20_000)
    page = context.new_page()
    lab_page = LabPage(jupyter_lab, page)

    def on_request(req: Any) -> None:
        if not is_local_url(req.url):
            lab_page.offsite_requests.append(req.url)

    context.on("request", on_request)
    try:
        yield lab_page
    finally:
        reports = request.node.stash.get(_REPORT_KEY, {})
        if any(rep.failed for rep in reports.values()):
            shot = ui_artifacts / f"{request.node.name}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot of the failed browser test: {shot}\nserver log: {jupyter_lab.log_file}")
            except Exception as exc:  # the page may be gone; the test's own error matters more
                print(f"\nno screenshot ({exc}); server log: {jupyter_lab.log_file}")
        context.close()
        jupyter_lab.shutdown_kernels()
        if lab_page.offsite_requests and not any(rep.failed for rep in reports.values()):
            pytest.fail("the page made requests to other hosts than the local server (the workbench runs "
                        "offline):\n" + "\n".join(sorted(set(lab_page.offsite_requests))[:10]))
