"""Atomic file output: a file is either its old self or completely written, never half-written.

Every writer of a result file goes through :func:`replace_atomically` (or :func:`write_text_atomic` for text):
the content is written to a hidden temporary file in the target's folder (same file system, so the final
``os.replace`` is atomic), its permissions are set as an ordinary new file's would be (the process umask, not
``mkstemp``'s 0600, so that a shared report folder stays readable), and only then is it renamed over the target.
On any error — including KeyboardInterrupt — the temporary file is removed and the target is left as it was.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> write_text_atomic(p, "hi").read_text()
'hi'
>>> with replace_atomically(p) as tmp:
...     _ = tmp.write_text("there")
>>> p.read_text()
'there'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def replace_atomically(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on normal exit it replaces ``target``, on error it is removed.

    Parameters
    ----------
    target
        The file to (re)write. Its folder is created when missing.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> with replace_atomically(out) as tmp:
    ...     pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)
    >>> out.read_text()
    'a\\n1\\n'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; returns ``target`` as a Path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> write_text_atomic(pathlib.Path(tempfile.mkdtemp()) / "n.md", "# note").name
    'n.md'
    """
    target = Path(target)
    with replace_atomically(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
