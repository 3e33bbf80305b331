"""Reading YAML input (``pmo.yaml``, cohort definitions) safely: bounded size and alias expansion, any of the
usual encodings, and every problem a one-line :class:`~pmo_workbench.errors.ConfigError` naming file and line.

- **Size**: a file over :data:`MAX_BYTES` is refused before it is parsed.
- **Aliases**: YAML aliases (``*a``) let a few lines stand for an exponentially large document (the
  "billion laughs" bomb, e.g. in a code list). The document's node graph is composed first (aliases are shared
  nodes, so this is cheap) and its expanded size counted with memoisation; more than :data:`MAX_NODES` nodes is
  refused in milliseconds, before any Python object is built.
- **Encodings**: UTF-8 with or without BOM, else latin-1/cp1252 (:func:`pmo_workbench.charsets.decode_text`).
- **Values**: an impossible date (``2020-02-30``) or a non-finite number (``.inf``, ``.nan``) is an error naming
  the line (no limit, window or date in a project or cohort file means infinity).
- Messages are cut to :data:`MAX_MESSAGE` characters.

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
>>> _ = f.write_bytes("name: Ærø\\n".encode("latin-1"))
>>> load_yaml(f)
{'name': 'Ærø'}
>>> _ = f.write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\\n"
...                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\\n"
...                  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\\n")
>>> try:
...     load_yaml(f)
... except Exception as exc:
...     print(type(exc).__name__, str(exc).split(": ", 1)[1])
ConfigError aliases expand to more than 100,000 values (refused)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from pmo_workbench.errors import ConfigError, InputError

MAX_BYTES = 1 << 20
"""Largest YAML file read (1 MiB: a cohort definition or project file is a few KB)."""
MAX_NODES = 100_000
"""Most scalars, sequences and mappings a document may expand to (aliases counted at every use)."""
MAX_MESSAGE = 200
"""Longest problem text quoted from the YAML parser."""


def _short(text: object) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= MAX_MESSAGE else s[: MAX_MESSAGE - 1] + "…"


class _Loader(yaml.SafeLoader):
    """SafeLoader whose dates and floats are checked (errors carry the node's line)."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"not a valid date ({_short(exc)})",
                                                    node.start_mark) from None

    def construct_yaml_float(self, node: yaml.Node) -> float:  # type: ignore[override]
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise yaml.constructor.ConstructorError(None, None, "not a finite number (.inf and .nan are not "
                                                    "allowed)", node.start_mark)
        return value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes of the document with every alias expanded (memoised per shared node), stopping past ``limit``."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if depth > 500:
            raise RecursionError
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > limit:
                    break
        memo[key] = total
        return total

    return size(node, 0)


def load_yaml_text(text: str, *, file: str | Path | None = None) -> Any:
    """Parse ``text`` as one YAML document with the bounds of the module docstring."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_NODES) > MAX_NODES:
            raise ConfigError(f"aliases expand to more than {MAX_NODES:,} values (refused)", file=file)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"not valid YAML: {_short(problem)}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError("nested too deeply", file=file) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse the YAML file ``path`` (size, aliases, encoding and values checked)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"file too large for a YAML configuration ({size:,} bytes; limit {MAX_BYTES:,})",
                              file=path)
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror or type(exc).__name__})", file=path) from None
    from pmo_workbench.charsets import decode_text

    try:
        text = decode_text(data, name=path)
    except InputError as exc:
        raise ConfigError(exc.message, file=path, line=exc.line) from None
    return load_yaml_text(text, file=path)
