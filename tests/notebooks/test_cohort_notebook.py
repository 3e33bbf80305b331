"""The cohort-selection notebook run by ``run_track`` on the session's synthetic project: a definition with genome
rules in internal mode with a minimal WGS QC run folder (checked against the library, the synthetic truth and the QC
tables), and a definition that needs no QC run in export mode (no small count in any written table, no
individual data). Without a QC run the example is reported incomplete: tests/unit/test_cohort_report.py and
the generic track test (demo preset on a project without a QC run)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pandas as pd

from pmo_workbench.cohort import definition_hash, load_definition, select_cohort
from pmo_workbench.runner import run_track

MIN_COUNT = 5
COUNT_COLUMNS = {"attrition": ["n_persons", "n_removed"], "specimens_by_biobank_type": None,
                 "specimens_by_biobank_role": None}


def write_qc_run(project: Path) -> Path:
    """A minimal WGS QC run: samples with an injected problem fail; relatives (truth families) are related."""
    manifest = pd.read_csv(project / "data" / "genotypes" / "manifest.tsv", sep="\t")
    problems = pd.read_csv(project / "truth" / "problem_samples.tsv", sep="\t")
    individuals = pd.read_csv(project / "truth" / "individuals.tsv", sep="\t")
    run = project / "runs" / "wgs_qc" / "20260101T000000Z"
    run.mkdir(parents=True)
    pd.DataFrame({"sample_id": manifest["sample_id"], "pass": ~manifest["sample_id"].isin(problems["sample_id"])}
                 ).to_parquet(run / "qc_decisions.parquet")
    fam = individuals.dropna(subset=["family_id"]).merge(manifest[["sample_id", "person_id"]], on="person_id")
    pairs = [(a, b, "first") for _, g in fam.groupby("family_id")
             for a, b in itertools.combinations(sorted(g["sample_id"]), 2)]
    pd.DataFrame(pairs, columns=["sample_i", "sample_j", "relationship"]).to_parquet(run / "kinship.parquet")
    return run


def run_json(record) -> dict:  # noqa: ANN001 - a RunRecord
    return json.loads((Path(record.run_dir) / "run.json").read_text(encoding="utf-8"))


GENOME_CASES = """\
name: genome_cases
entry: {domain: diagnosis, codes: ["DI10*", "DE11*", "DJ44*"], date_range: [2005-01-01, 2025-12-31]}
criteria:
  - age_at_index: [30, 90]
genomes: {qc_pass: true, unrelated: true}
controls: {ratio: 2, match: {sex: exact, birth_year: 5}, seed: 1}
"""


def test_internal_run_with_genome_rules_writes_the_library_results_and_the_run_record(writable_project):
    # the example mi_cases.yaml selects no case among the 80 genomes of the small project: a broader entry event
    run = write_qc_run(writable_project)
    definition = writable_project / "cohorts" / "genome_cases.yaml"
    definition.write_text(GENOME_CASES, encoding="utf-8")
    record = run_track("cohort_selection", writable_project, {"definition": "genome_cases"}, timeout_s=600)
    assert record.status == "succeeded", record.error
    out = Path(record.run_dir)
    meta = run_json(record)
    assert meta["definition"] == "genome_cases" and meta["cohort_complete"] is True
    assert meta["definition_hash"] == definition_hash(load_definition(definition))
    assert meta["wgs_qc_run"] == str(run)
    register = pd.read_parquet(writable_project / "data" / "consent" / "tissue_use_register.parquet")
    assert meta["tissue_use_register_lookup_date"] == str(pd.Timestamp(register["lookup_date"].max()).date())

    expected = select_cohort(writable_project, definition)
    attrition = pd.read_parquet(out / "attrition.parquet")
    assert attrition["rule"].tolist() == expected.attrition["rule"].tolist()
    assert attrition["rule"].tolist()[-4:] == ["genomes.qc_pass", "genomes.unrelated",
                                               "Tissue Use Register not looked up", "Tissue Use Register opt-out"]
    assert attrition["n_persons"].tolist() == expected.attrition["n_persons"].tolist()
    cohort = pd.read_parquet(out / "cohort.parquet")
    assert len(cohort) == len(expected.cohort) and set(cohort["role"]) == {"case", "control"}
    assert (cohort["role"] == "case").sum() == meta["counts"]["cases"] > 0
    table1 = pd.read_parquet(out / "table1.parquet").set_index(["variable", "level", "statistic"])
    assert table1.loc[("n", "", "n"), "case"] == meta["counts"]["cases"]
    pick = pd.read_parquet(out / "pick_list.parquet")
    assert set(pick["person_id"]) <= set(cohort["person_id"]) and pick["specimen_id"].is_unique
    assert len(pick) == len(expected.pick_list()) == meta["counts"]["pick_list_rows"] > 0

    # independent checks against the synthetic truth and the QC tables
    opted = set(pd.read_csv(writable_project / "truth" / "opt_outs.tsv", sep="\t")["person_id"])
    assert not set(cohort["person_id"]) & opted
    manifest = pd.read_csv(writable_project / "data" / "genotypes" / "manifest.tsv", sep="\t")
    decisions = pd.read_parquet(run / "qc_decisions.parquet").merge(manifest, on="sample_id")
    assert set(cohort["person_id"]) <= set(decisions.loc[decisions["pass"], "person_id"])
    to_person = manifest.set_index("sample_id")["person_id"]
    kin = pd.read_parquet(run / "kinship.parquet")
    related = {frozenset((to_person[a], to_person[b])) for a, b in zip(kin["sample_i"], kin["sample_j"], strict=True)}
    chosen = set(cohort["person_id"])
    assert not [p for p in related if p <= chosen]
    html = Path(record.report_path).read_text(encoding="utf-8")
    assert "Table 1" in html and "Matching balance" in html and "Incomplete selection" not in html
    # the genome rule's removals are explained: never sequenced vs failing QC, adding up to the attrition step
    removed = int(expected.attrition.set_index("rule").loc["genomes.qc_pass", "n_removed"])
    m = re.search(r"removed <strong>(\d+)</strong> person\(s\) with no genome in the WGS QC run .*? and "
                  r"<strong>(\d+)</strong> whose genome failed QC", html)
    assert m is not None and int(m[1]) + int(m[2]) == removed
    sequenced = set(manifest["person_id"])
    entered = set(expected._flags["person_id"])
    assert int(m[1]) <= len(entered - sequenced)
    assert "Comorbidities: any hospital diagnosis (SKS)" in html


def test_export_mode_shows_no_small_count_and_no_individual_data(writable_project):
    record = run_track("cohort_selection", writable_project, {"definition": "statin_users"}, mode="export",
                       timeout_s=600)
    assert record.status == "succeeded", record.error
    out = Path(record.run_dir)
    written = {p.stem for p in out.glob("*.parquet")}
    assert {"attrition", "table1"} <= written
    assert not written & {"cohort", "pick_list"}
    hidden_somewhere = False
    for path in out.glob("*.parquet"):
        df = pd.read_parquet(path)
        if path.stem == "table1":
            counts = df.loc[df["statistic"] == "n", ["case", "control"]]
        elif path.stem == "balance":
            continue  # means, percentages and differences, no counts
        else:
            cols = COUNT_COLUMNS.get(path.stem) or df.select_dtypes("number").columns
            counts = df[list(cols)]
        values = counts.to_numpy(dtype="float64", na_value=float("nan"))
        small = values[(values > 0) & (values < MIN_COUNT)]
        assert small.size == 0, f"{path.name} shows counts below {MIN_COUNT}: {small.tolist()}"
        hidden_somewhere |= bool(pd.isna(values).any())
    assert hidden_somewhere, "the small synthetic project must have some small cells to suppress"
    meta = run_json(record)
    counts = [v for v in meta["counts"].values() if v is not None]
    assert all(not 0 < v < MIN_COUNT for v in counts) and meta["counts"]["pick_list_rows"] is None
    html = Path(record.report_path).read_text(encoding="utf-8")
    assert "No pick list in export mode" in html
