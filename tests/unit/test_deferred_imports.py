"""The runner defers jsonschema's IRI grammars (pmo_workbench.runner.deferred_imports): nothing is compiled at
import, and an ``iri`` format check answers exactly as without the deferral (a fresh interpreter is the oracle)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax")

VALUES = ["http://example.org/ä?q=1#f", "urn:isbn:0451450523", "not an iri", "a b", "", "//host/path",
          "http://[::1]:80/", "mailto:x@y.dk", "http://ex.org/%zz", "relative/path?x"]

CHECK = """
import json, sys
import jsonschema
fc = jsonschema.FormatChecker()
values = json.loads(sys.argv[1])
print(json.dumps([[fc.conforms(v, "iri"), fc.conforms(v, "iri-reference")] for v in values]))
"""


def _python(code: str, *args: str) -> str:
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_importing_the_runner_and_papermill_compiles_no_grammar_and_checks_answer_as_before() -> None:
    deferred = _python(
        "import sys, pmo_workbench.runner, papermill, nbformat, nbconvert\n"
        "print('lark' in sys.modules, type(sys.modules['rfc3987_syntax']).__name__)\n"
        "from pmo_workbench.runner.deferred_imports import defer_iri_grammars\n"
        "print(defer_iri_grammars())\n" + CHECK
        + "print('lark' in sys.modules, type(sys.modules['rfc3987_syntax']).__name__)\n",
        json.dumps(VALUES),
    ).splitlines()
    assert deferred[0] == "False _DeferredModule"  # nothing compiled at import
    assert deferred[1] == "False"  # a second call does nothing
    assert deferred[3] == "True module"  # the first check imported the real module, which now stands in sys.modules
    plain = json.loads(_python(CHECK, json.dumps(VALUES)))  # the oracle: jsonschema with the real module at import
    answers = json.loads(deferred[2])
    assert answers == plain
    assert [True, True] in answers and [False, False] in answers  # the values tell valid from invalid


def test_nothing_is_deferred_once_jsonschema_has_imported_its_checkers() -> None:
    out = _python("import sys, jsonschema\n"
                  "from pmo_workbench.runner.deferred_imports import defer_iri_grammars\n"
                  "print(defer_iri_grammars(), type(sys.modules['rfc3987_syntax']).__name__)")
    assert out.split() == ["False", "module"]
