"""Pick lists for the biobanks: one usable specimen per selected person, ordered for retrieval.

For each person of the cohort (cases and controls; a person in two matched sets is picked once, at the first
index date) the usable specimens are those of the definition's ``specimens`` rule (type, status available or
unknown, aliquots -- unknown counts as 1 --, volume, collected in the window relative to the person's index
date), or, without a ``specimens`` rule, every available specimen. Of these one is picked: the first type in the
definition's ``types`` order, then the most aliquots left, then the latest collection, then specimen_id.
Freezer, rack, box and position come from their columns or, where empty, from ``location``
(``freezer/rack/box/position``). Rows are sorted by biobank, freezer, rack, box and position, numbers inside
labels compared as numbers (``R2`` before ``R10``).

Examples
--------
>>> sort_key("R10") > sort_key("R2")
True
"""

from __future__ import annotations

import re

import pandas as pd

from pmo_workbench.cohort.compile import specimen_conditions, specimen_type_list
from pmo_workbench.cohort.definition import Specimens
from pmo_workbench.health.database import HealthDatabase

PICK_LIST_COLUMNS = ["specimen_id", "person_id", "biobank", "freezer", "rack", "box", "position",
                     "specimen_type", "volume_ul"]


def sort_key(label: object) -> tuple:
    """Natural-sort key of a location label (None/NaN last)."""
    if label is None or (isinstance(label, float) and label != label) or label is pd.NA:
        return ((2, 0, ""),)
    parts = re.split(r"(\d+)", str(label))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def compute_pick_list(db: HealthDatabase, cohort: pd.DataFrame, specimens: Specimens | None) -> pd.DataFrame:
    """The pick list of ``cohort`` (``person_id, index_date``) from the ``specimen`` table of ``db``.

    Returns a DataFrame with :data:`PICK_LIST_COLUMNS`, one row per person with a usable specimen.
    """
    people = cohort.sort_values("index_date", kind="stable").drop_duplicates("person_id")
    db.register("pick_people", people[["person_id", "index_date"]])
    conds = specimen_conditions(specimens)
    type_rank = "0"
    if specimens is not None:
        type_rank = f"list_position([{specimen_type_list(specimens)}], lower(s.specimen_type))"
    sql = (f"SELECT s.*, {type_rank} AS _rank FROM pick_people i JOIN specimen s ON s.person_id = i.person_id "
           f"WHERE {' AND '.join(conds)} "
           f"QUALIFY row_number() OVER (PARTITION BY s.person_id ORDER BY _rank, coalesce(s.aliquots_left, 1) DESC, "
           f"s.collected_date DESC, s.specimen_id) = 1")
    picked = db.query(sql)
    loc = picked["location"].astype(object).where(picked["location"].notna(), "").astype(str).str.split("/")
    for i, col in enumerate(["freezer", "rack", "box", "position"]):
        from_loc = loc.map(lambda parts, i=i: parts[i] if len(parts) > i and parts[i] != "" else None)
        picked[col] = picked[col].astype(object).where(picked[col].notna(), from_loc)
    out = picked[PICK_LIST_COLUMNS].copy()
    keys = out[["biobank", "freezer", "rack", "box", "position", "specimen_id"]].map(sort_key)
    order = sorted(range(len(out)), key=lambda r: tuple(keys.iloc[r]))
    return out.iloc[order].reset_index(drop=True)
