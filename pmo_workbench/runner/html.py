"""The HTML report of a run: the executed notebook without code (nbconvert, ``templates/report``), with a run
header and, when the run did not succeed, its problem first.

A report stops where the run stopped: cells after the failing one (never executed: empty headings) are left out.
For a *misconfigured* run the failing cell's traceback is left out too (the banner states the problem and its
fix) unless the run was asked to keep it (``pmo run --traceback``).

Examples
--------
>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("# later")])
>>> len(trim_notebook(nb, error_cell=0, drop_traceback=True).cells)
1
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pmo_workbench.catalogue import REPORT_TEMPLATE, TEMPLATES_DIR
from pmo_workbench.files import write_text_atomic
from pmo_workbench.runner.scan import PAPERMILL_ERROR_TAG


def trim_notebook(nb: Any, *, error_cell: int | None, drop_traceback: bool) -> Any:
    """A copy of ``nb`` ending at the failing cell (papermill's banner cells not counted), optionally without
    its error output."""
    if error_cell is None:
        return nb
    nb = copy.deepcopy(nb)
    kept, i = [], -1
    for cell in nb.cells:
        if PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
            kept.append(cell)
            continue
        i += 1
        if i > error_cell:
            break
        if i == error_cell and drop_traceback:
            cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        kept.append(cell)
    nb.cells = kept
    return nb


def render_report(nb: Any, header: dict[str, Any], target: Path) -> None:
    """Write ``report.html`` for ``nb`` (``None``: the kernel never started, a banner only) with ``header``."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    if nb is None:
        nb = nbformat.v4.new_notebook()
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled = True
    cfg.TagRemovePreprocessor.remove_cell_tags = {"remove-cell", PAPERMILL_ERROR_TAG}
    cfg.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    cfg.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = HTMLExporter(config=cfg, template_name=REPORT_TEMPLATE,
                            extra_template_basedirs=[str(TEMPLATES_DIR)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    title = f"{header['track']} · {header['project']} · {header['status']}"
    resources = {"metadata": {"name": title}, "pmo": header}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    write_text_atomic(target, body)


def render_minimal_report(header: dict[str, Any], target: Path) -> None:
    """A small self-contained report without nbconvert (when the run folder could not be finished normally)."""
    from html import escape

    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                   for k, v in header.items() if k in ("track", "project", "status", "mode", "started"))
    text = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(header['track'])} · "
            f"{escape(str(header['status']))}</title></head><body><header class=\"pmo-run pmo-{escape(header['status'])}\">"
            f"<table>{rows}</table></header><section class=\"pmo-error\" role=\"alert\"><h2>This run failed</h2>"
            f"<p>{escape(str(header.get('error') or ''))}</p></section></body></html>\n")
    write_text_atomic(target, text)
