"""The privacy gate of a run: every output file (content and name), the executed notebook, the extra record and
the run record are scanned for CPR-like values before anything leaves the hidden run folder.

A file with a hit is deleted; in the executed notebook, outputs holding a hit are replaced by a notice (and the
notebook is deleted if a cell's source holds one); a string of the run record holding a hit is withheld. Messages
name the place, never the value.

Examples
--------
>>> record = {"project": {"name": "study 010190-1234"}, "mode": "internal", "n": [1, "x"]}
>>> withhold_cpr_in_record(record)
['project.name']
>>> record["project"]["name"]
'(withheld: it held a CPR-like value)'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pmo_workbench.catalogue import REPORT_NOTEBOOK, RunError

PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
WITHHELD = "(withheld: it held a CPR-like value)"


def code_cells(nb: Any) -> list[tuple[int, Any]]:
    """The notebook's cells (index, cell) without papermill's error banner cells."""
    cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    return list(enumerate(cells))


def scan_text(texts: list[str], column: str) -> list[Any]:
    """CPR hits in lines of text (an empty list when there are none)."""
    import pandas as pd

    from pmo_workbench.privacy import scan_for_cpr

    lines = [line for t in texts for line in str(t).splitlines()]
    if not lines:
        return []
    return scan_for_cpr(pd.DataFrame({column: lines}))


def enforce_privacy(work_dir: Path, nb: Any) -> tuple[RunError | None, dict[str, Any]]:
    """Scan every output in the hidden run folder (content and path); remove what holds a CPR-like value.

    Returns the privacy error (or ``None``) and what was removed: ``{"files": [...], "notebook": bool}``.
    """
    from pmo_workbench.privacy import scan_for_cpr

    problems: list[str] = []
    removed: dict[str, Any] = {"files": []}
    files = sorted(p for p in work_dir.rglob("*") if p.is_file())
    rels = [p.relative_to(work_dir).as_posix() for p in files]
    named = {i for i, _ in enumerate(rels) if scan_text([rels[i]], "name")}
    for i, (path, rel) in enumerate(zip(files, rels, strict=True)):
        if rel == REPORT_NOTEBOOK:
            continue
        if i in named:
            problems.append(f"a file name ({_safe_place(rel)})")
            path.unlink()
            removed["files"].append(_safe_place(rel))
            continue
        hits = scan_for_cpr(path)  # tables by column, text files by line; images and binaries are skipped
        if hits:
            problems.append(describe_hits(rel, hits))
            path.unlink()
            removed["files"].append(rel)
    for d in sorted((p for p in work_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        rel = d.relative_to(work_dir).as_posix()
        if scan_text([rel], "name"):
            import shutil

            shutil.rmtree(d, ignore_errors=True)
            problems.append(f"a folder name ({_safe_place(rel)})")
    nb_file = work_dir / REPORT_NOTEBOOK
    if nb is not None and nb_file.exists():
        import nbformat

        changed = source_hit = False
        for i, cell in code_cells(nb):
            if scan_text([cell.get("source", "")], f"cell {i} source"):
                source_hit = True
                problems.append(f"{REPORT_NOTEBOOK}: source of cell {i}")
            if scan_text(output_texts(cell), f"cell {i} output"):
                changed = True
                problems.append(f"{REPORT_NOTEBOOK}: output of cell {i}")
                cell["outputs"] = [nbformat.v4.new_output(
                    "stream", name="stderr", text="[output removed by the runner: it held a CPR-like value]\n")]
        if changed or source_hit:
            removed["notebook"] = True
        if source_hit:
            nb_file.unlink()
            removed["files"].append(REPORT_NOTEBOOK)
            for cell in nb.cells:  # the HTML report keeps outputs only
                cell["source"] = ""
        elif changed:
            from pmo_workbench.files import write_text_atomic

            write_text_atomic(nb_file, nbformat.writes(nb))
    if not problems:
        return None, removed
    return RunError("PrivacyError", "CPR-like value found, output removed: " + "; ".join(problems)), removed


def _safe_place(rel: str) -> str:
    """A path with every part that holds a CPR-like value replaced by ``…``."""
    return "/".join("…" if scan_text([part], "name") else part for part in rel.split("/"))


def output_texts(cell: Any) -> list[str]:
    """The human-readable text of a cell's outputs (stream, text/*, errors), not images or widget state."""
    texts: list[str] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            texts.append(_joined(out.get("text", "")))
        elif kind == "error":
            texts.append(str(out.get("evalue", "")))
            texts.extend(_joined(t) for t in out.get("traceback", []))
        elif kind in ("display_data", "execute_result"):
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime in ("application/json", "image/svg+xml"):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def describe_hits(rel: str, hits: list[Any]) -> str:
    """``persons.csv: column cpr_raw`` or ``notes.txt: line 3`` — the place, never the value."""
    columns = sorted({h.column for h in hits if h.column is not None})
    if columns:
        return f"{rel}: column {', '.join(columns)}"
    lines = sorted({h.line for h in hits if h.line is not None})
    return f"{rel}: line {', '.join(map(str, lines))}" if lines else rel


def _strings(value: Any, path: str) -> list[tuple[str, str, Any, Any]]:
    """Every string leaf (and mapping key) of a JSON-like value: (path, text, container, key)."""
    out: list[tuple[str, str, Any, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else str(k)
            out.append((p + " (key)", str(k), None, None))
            if isinstance(v, str):
                out.append((p, v, value, k))
            else:
                out.extend(_strings(v, p))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(v, str):
                out.append((p, v, value, i))
            else:
                out.extend(_strings(v, p))
    return out


def withhold_cpr_in_record(record: dict[str, Any]) -> list[str]:
    """Replace every string of ``record`` that holds a CPR-like value by a notice; return their paths.

    Keys holding one are renamed ``withheld_<n>``. Numbers are not scanned (a CPR stored as a number has lost its
    leading zero and is not recognisable anyway).
    """
    leaves = _strings(record, "")
    if not leaves or not scan_text([t for _, t, _, _ in leaves], "record"):
        return []
    withheld: list[str] = []
    for path, text, container, key in leaves:
        if not scan_text([text], "record"):
            continue
        if container is None:  # a mapping key: rename it
            withheld.append(path)
            continue
        container[key] = WITHHELD
        withheld.append(path)
    if any(p.endswith(" (key)") for p in withheld):
        _rename_keys(record)
    return [_safe_place_path(p) for p in withheld]


def _rename_keys(value: Any) -> None:
    n = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k in list(v):
                if scan_text([str(k)], "key"):
                    n += 1
                    v[f"withheld_{n}"] = v.pop(k)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _safe_place_path(path: str) -> str:
    return ".".join("…" if scan_text([part], "key") else part for part in path.split("."))
