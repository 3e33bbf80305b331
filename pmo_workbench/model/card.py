"""Model card and TRIPOD+AI checklist, filled from the run's own metadata.

:func:`build_model_card` takes what a model-development run knows -- the cohort (definition hash, attrition), the
WGS QC run it used, the features with their windows and missing shares, the outcome, the validation scheme, the
performance and subgroup tables, the named problems -- and returns a :class:`ModelCard` whose
:meth:`~ModelCard.to_markdown` is the card and whose :attr:`~ModelCard.checklist` follows the TRIPOD+AI
statement (Collins et al., BMJ 2024; 27 items). Each checklist item is ``filled`` (from the run), ``partial``
(filled, the author must add context) or ``author`` (only the author can write it: background, ethics, funding,
interpretation, ...), so nobody mistakes an empty item for a finished one.

Examples
--------
>>> card = build_model_card({"title": "10-year MI risk", "outcome": {"name": "mi", "horizon_days": 3652}})
>>> card.checklist.set_index("item").loc["8a", "status"]
'partial'
>>> bool(card.checklist["status"].value_counts()["author"] > 5)
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pmo_workbench.files import write_text_atomic

AUTHOR = "author"
FILLED = "filled"
PARTIAL = "partial"

# (item, section, topic, where the content comes from: a key of the metadata, or None for the author)
TRIPOD_AI_ITEMS: list[tuple[str, str, str, str | None]] = [
    ("1", "Title", "Development and/or evaluation of a prediction model, target population, outcome", "title"),
    ("2", "Abstract", "Structured summary (TRIPOD+AI for Abstracts)", None),
    ("3a", "Introduction", "Healthcare context and rationale", None),
    ("3b", "Introduction", "Target population and intended purpose in the care pathway", None),
    ("3c", "Introduction", "Known health inequalities between groups", None),
    ("4", "Introduction", "Objectives: development and/or validation", "objective"),
    ("5a", "Methods: data", "Sources of data, representativeness", "data_sources"),
    ("5b", "Methods: data", "Dates of data collection, start and end of accrual and follow-up", "dates"),
    ("6a", "Methods: participants", "Study setting and centres", "setting"),
    ("6b", "Methods: participants", "Eligibility criteria", "cohort"),
    ("6c", "Methods: participants", "Treatments received, if relevant", None),
    ("7", "Methods: data preparation", "Pre-processing and quality checking", "data_preparation"),
    ("8a", "Methods: outcome", "Outcome definition, time horizon, how assessed", "outcome"),
    ("8b", "Methods: outcome", "Qualifications/demographics of outcome assessors", None),
    ("8c", "Methods: outcome", "Blinding of outcome assessment", None),
    ("9a", "Methods: predictors", "Choice of initial predictors", "features"),
    ("9b", "Methods: predictors", "Definition of predictors, how and when measured", "features"),
    ("9c", "Methods: predictors", "Blinding of predictor assessment", None),
    ("10", "Methods: sample size", "Study size and sample size justification", "sample_size"),
    ("11", "Methods: missing data", "How missing data were handled", "missing_data"),
    ("12a", "Methods: analysis", "How data were used (development, evaluation)", "validation"),
    ("12b", "Methods: analysis", "How predictors were handled (functional form, scaling)", "model"),
    ("12c", "Methods: analysis", "Model type, building, hyperparameter tuning, internal validation", "model"),
    ("12d", "Methods: analysis", "Heterogeneity across clusters (regions, periods)", "validation"),
    ("12e", "Methods: analysis", "Performance measures and their rationale", "measures"),
    ("12f", "Methods: analysis", "Model updating, if done", None),
    ("12g", "Methods: analysis", "Comparison with an existing model", "comparison"),
    ("13", "Methods: class imbalance", "Methods for class imbalance, recalibration", "class_imbalance"),
    ("14", "Methods: fairness", "Approaches to address model fairness", "fairness"),
    ("15", "Methods: model output", "Output of the model (risk), thresholds", "model_output"),
    ("16", "Methods: training vs evaluation", "Differences between development and evaluation data", "validation"),
    ("17", "Methods: ethics", "Ethics committee approval and consent", None),
    ("18a", "Open science", "Funding", None),
    ("18b", "Open science", "Conflicts of interest", None),
    ("18c", "Open science", "Protocol", None),
    ("18d", "Open science", "Registration", None),
    ("18e", "Open science", "Data sharing", None),
    ("18f", "Open science", "Code sharing", "software"),
    ("19", "Patient and public involvement", "Details of patient and public involvement", None),
    ("20a", "Results: participants", "Flow of participants, number with and without the outcome, follow-up",
     "attrition"),
    ("20b", "Results: participants", "Characteristics overall and per data source/setting", "setting"),
    ("20c", "Results: participants", "Distribution of predictors in development vs evaluation data", "validation"),
    ("21", "Results: model development", "Number of participants and outcome events in each analysis",
     "sample_size"),
    ("22", "Results: model specification", "Full model (coefficients) or how to access it", "specification"),
    ("23a", "Results: model performance", "Performance with confidence intervals", "performance"),
    ("23b", "Results: model performance", "Heterogeneity across subgroups", "subgroups"),
    ("24", "Results: model updating", "Results of model updating", None),
    ("25", "Discussion: interpretation", "Overall interpretation, fairness", None),
    ("26", "Discussion: limitations", "Limitations (non-representative sample, sample size, overfitting, missing)",
     "problems"),
    ("27a", "Discussion: usability", "How poor-quality or unavailable input data are handled", "missing_data"),
    ("27b", "Discussion: usability", "Whether users must interact with the inputs", None),
    ("27c", "Discussion: implications", "Next steps for future research and applicability", None),
]
"""TRIPOD+AI checklist items: number, section, topic, and the metadata key that fills it (None: the author)."""

CARD_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Intended use", ("objective",)), ("Cohort", ("cohort",)), ("Attrition", ("attrition", "model_rows")),
    ("Genomes (WGS QC run)", ("genomes",)), ("Outcome", ("outcome",)), ("Features", ("features",)),
    ("Missing data", ("missing_data",)), ("Model", ("model", "specification")), ("Validation", ("validation",)),
    ("Performance", ("performance",)), ("Incremental value of genetics", ("comparison",)),
    ("Subgroups (fairness)", ("fairness", "subgroups")), ("Problems and limitations", ("problems",)),
    ("Software", ("software",)),
]
"""Sections of the card (title, metadata keys whose content fills it, in order); a section without content
says it is the author's to write."""

_PARTIAL_KEYS = {"title", "objective", "data_sources", "setting", "outcome", "features", "problems", "comparison"}


@dataclass
class ModelCard:
    """A filled model card: ``sections`` (title -> markdown), ``checklist`` (TRIPOD+AI) and the ``metadata``."""

    sections: dict[str, str]
    checklist: pd.DataFrame
    metadata: dict[str, Any]

    def to_markdown(self) -> str:
        """The card as one markdown document (the checklist last)."""
        parts = [f"# Model card: {self.metadata.get('title', 'prediction model')}"]
        for title, body in self.sections.items():
            parts.append(f"## {title}\n\n{body}")
        rows = ["| item | topic | status | content |", "|---|---|---|---|"]
        for r in self.checklist.itertuples():
            content = str(r.content).replace("\n", " ").replace("|", "/")
            rows.append(f"| {r.item} | {r.topic} | {r.status} | {content} |")
        parts.append("## TRIPOD+AI checklist\n\n`filled`: from the run · `partial`: from the run, the author adds "
                     "context · `author`: only the author can write it.\n\n" + "\n".join(rows))
        return "\n\n".join(parts) + "\n"

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``model_card.md`` and ``model_card.json`` (atomically)."""
        folder = Path(folder)
        payload = {"metadata": self.metadata, "sections": self.sections,
                   "checklist": self.checklist.to_dict(orient="records")}
        return [write_text_atomic(folder / "model_card.md", self.to_markdown()),
                write_text_atomic(folder / "model_card.json", json.dumps(payload, indent=2, default=str))]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, pd.DataFrame):
        if not len(value):
            return ""
        shown = value.astype(object).where(value.notna(), None)  # missing values as "–", never "nan"
        return shown.to_markdown(index=False, floatfmt=".4g", missingval="–")
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list | tuple):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, float) and value != value:
        return "–"
    return str(value)


def build_model_card(metadata: dict[str, Any]) -> ModelCard:
    """Fill the model card and the TRIPOD+AI checklist from a run's metadata.

    ``metadata`` keys (all optional): title, objective, data_sources, dates, setting, cohort (definition name and
    hash, QC run), data_preparation, outcome, features (a table), sample_size, missing_data, validation, model,
    measures, comparison, class_imbalance, fairness, subgroups (a table), model_output, software, attrition and
    model_rows (tables), genomes (the WGS QC run and sample counts), specification, performance (a table),
    problems (list of strings).
    """
    rows = []
    for item, section, topic, key in TRIPOD_AI_ITEMS:
        content = _text(metadata.get(key)) if key else ""
        if key is None or not content:
            status, content = AUTHOR, content or "to be written by the author"
        else:
            status = PARTIAL if key in _PARTIAL_KEYS else FILLED
        rows.append({"item": item, "section": section, "topic": topic, "status": status, "content": content})
    checklist = pd.DataFrame(rows)
    sections = {}
    for title, keys in CARD_SECTIONS:
        body = "\n\n".join(t for t in (_text(metadata.get(k)) for k in keys) if t)
        sections[title] = body or "_to be written by the author_"
    return ModelCard(sections, checklist, {k: v for k, v in metadata.items()
                                           if not isinstance(v, pd.DataFrame)})
