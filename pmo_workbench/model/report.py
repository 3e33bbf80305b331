"""The logic of ``notebooks/model_development.ipynb``: from a cohort and a WGS QC run to a validated model.

:func:`run_model_development` runs the whole track and returns a :class:`ModelDevelopment` holding every table
the notebook shows: the cohort and its attrition, the outcome's follow-up, the features (with windows and missing
shares), the polygenic scores and their match report, the GWAS of the outcome and of a lab trait with λGC and
lead variants, the validated clinical model, the incremental value of genetics (clinical vs clinical + PGS on the
persons with a genome, same validation splits), calibration, decision curves, subgroups and the model card.
:func:`write_model_outputs` writes the run folder through the run's
:class:`~pmo_workbench.privacy.Disclosure` (in ``export`` mode only aggregated tables: no per-person risk, score or
feature table, attrition as a disclosed chain, and GWAS rows of variants with fewer than ``min_count`` minor
alleles left out).

On the synthetic project (which has ``truth/``), :func:`compare_with_truth` checks the lead variants against the
simulated causal variants and the polygenic score against the simulated genetic score.

Examples
--------
>>> md = run_model_development("demo")  # doctest: +SKIP
>>> md.comparison.table()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import ConfigError
from pmo_workbench.files import write_text_atomic
from pmo_workbench.model import evaluation as ev
from pmo_workbench.model.card import ModelCard, build_model_card
from pmo_workbench.model.features import (
    FeatureSet,
    FeatureTable,
    add_genetic_features,
    build_features,
    load_feature_set,
)
from pmo_workbench.model.gwas import (
    compute_lambda_gc,
    run_gwas,
    select_lead_variants,
    select_samples_from_run,
)
from pmo_workbench.model.outcomes import OutcomeSpec, OutcomeTable, compute_outcomes
from pmo_workbench.model.pgs import PgsResult
from pmo_workbench.model.prediction import ModelData, ValidationResult, prepare_data, validate_model
from pmo_workbench.model.study_base import load_cohort_run, select_baseline_cohort
from pmo_workbench.privacy.disclosure_layer import Disclosure
from pmo_workbench.project import Project, as_project
from pmo_workbench.rendering import format_table

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FEATURES = "templates/features/mi_clinical.yaml"
N_PCS = 4


@dataclass
class GwasResult:
    """One GWAS: the trait, the table, λGC, the lead variants and the analysed sample count."""

    trait: str
    model: str
    table: pd.DataFrame
    lambda_gc: float
    leads: pd.DataFrame
    n: int
    covariates: list[str]


@dataclass
class ModelDevelopment:
    """Everything of one model-development run (see the module docstring)."""

    project: Project
    settings: dict[str, Any]
    cohort: pd.DataFrame
    cohort_info: dict[str, Any]
    attrition: pd.DataFrame
    outcomes: OutcomeTable
    features: FeatureTable
    data: ModelData
    clinical: ValidationResult
    qc_info: dict[str, Any] = field(default_factory=dict)
    pgs: PgsResult | None = None
    genetic_rows: np.ndarray | None = None
    clinical_on_genomes: ValidationResult | None = None
    genetic: ValidationResult | None = None
    comparison: ev.ModelComparison | None = None
    gwas: list[GwasResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    card: ModelCard | None = None
    feature_set: FeatureSet | None = None
    ancestry: pd.Series | None = None
    """Genetic ancestry group per person_id (the WGS QC run's ``assigned_population``), for persons with a genome."""

    def performance(self, *, pooled_only: bool = False) -> pd.DataFrame:
        """Validation metrics of each model: every split, or (``pooled_only``) for cross-validation the pooled
        rows of each repeat and for internal-external validation every split."""
        rows = []
        for name, res in (("clinical (all persons)", self.clinical),
                          ("clinical (persons with a genome)", self.clinical_on_genomes),
                          ("clinical + genetics (persons with a genome)", self.genetic)):
            if res is None:
                continue
            m = res.metrics.copy()
            if pooled_only and res.scheme == "cv":
                m = m[m["split"].str.startswith("pooled")]
            rows.append(m.assign(model=name))
        out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        return out[["model", *[c for c in out.columns if c != "model"]]] if len(out) else out


def _resolve(proj: Project, path: str) -> Path:
    p = Path(path)
    for cand in (p, proj.root / p, REPO_ROOT / p):
        if cand.exists():
            return cand
    raise ConfigError("file not found (relative to the project folder or the workbench)", file=p)


def _latest(proj: Project, track: str, needs: str) -> Path | None:
    from pmo_workbench.catalogue import latest_run_dir

    return latest_run_dir(proj, track, needs)


def resolve_cohort(proj: Project, db: Any, spec: OutcomeSpec, *, cohort_definition: str | None,
                   cohort_run: str | None, baseline_date: str | None, age_min: float, age_max: float
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The cohort (person_id, index_date), its attrition and where it came from."""
    if cohort_run:
        run = _latest(proj, "cohort_selection", "cohort.parquet") if cohort_run == "latest" else \
            _resolve(proj, cohort_run)
        if run is None:
            raise ConfigError("no cohort-selection run with cohort.parquet", file=proj.runs_dir, field="cohort_run")
        cohort = load_cohort_run(run)
        info = {"source": "cohort run", "run": Path(run).name}
        meta = Path(run) / "run.json"
        if meta.exists():
            record = json.loads(meta.read_text())
            info["definition_sha256"] = record.get("definition_sha256") or record.get("definition", {}).get("sha256")
        attrition = pd.DataFrame({"step": ["persons in the cohort run"], "n_persons": [cohort["person_id"].nunique()],
                                  "n_removed": [0]})
        return cohort[["person_id", "index_date"]], attrition, info
    if cohort_definition:
        from pmo_workbench.cohort import definition_hash, load_definition, select_cohort

        path = _resolve(proj, cohort_definition)
        defn = load_definition(path)
        result = select_cohort(proj, defn, db=db)
        info = {"source": "cohort definition", "definition": defn.name, "file": path.name,
                "definition_sha256": definition_hash(defn)}
        return result.cohort[["person_id", "index_date"]], result.attrition, info
    base = baseline_date or "2005-01-01"
    cond = spec.condition("d") if spec.domain == "diagnosis" else None
    cohort, attrition = select_baseline_cohort(db, base, age_min=age_min, age_max=age_max, exclude_condition=cond)
    return cohort, attrition, {"source": "baseline", "baseline_date": str(base), "age": [age_min, age_max]}


def _genome_link(proj: Project, samples: list[str]) -> pd.DataFrame:
    from pmo_workbench.health.database import read_genome_links

    path = proj.source("manifest")
    if path is None or not path.exists():
        raise ConfigError("no genome manifest (sources.manifest) to link genomes to persons", file=proj.root /
                          "pmo.yaml", field="sources.manifest")
    man = read_genome_links(path)[["sample_id", "person_id"]].astype(str)
    man = man[man["sample_id"].isin(set(samples))]
    return man.drop_duplicates("person_id", keep="first")


def _pcs(qc_run: Path) -> pd.DataFrame | None:
    path = qc_run / "ancestry.parquet"
    if not path.exists():
        return None
    anc = pd.read_parquet(path)
    cols = [c for c in anc.columns if str(c).startswith("PC")][:N_PCS]
    keep = ["sample_id", *cols] + (["assigned_population"] if "assigned_population" in anc else [])
    return anc[keep].astype({"sample_id": str})


def _lab_trait(db: Any, persons: pd.DataFrame, code: str) -> pd.DataFrame:
    """The first value of lab ``code`` taken before any statin (untreated level) and the age then."""
    db.register("_pmo_gwas_persons", persons[["person_id"]].drop_duplicates())
    return db.query(
        "SELECT l.person_id, arg_min(l.value, l.datetime) AS value, min(l.datetime) AS at, "
        "any_value(p.birth_date) AS birth_date, any_value(p.sex) AS sex FROM lab l JOIN _pmo_gwas_persons c "
        "ON c.person_id = l.person_id JOIN person p ON p.person_id = l.person_id "
        f"WHERE l.code = '{code}' AND l.value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prescription r WHERE "
        "r.person_id = l.person_id AND r.code LIKE 'C10%' AND r.date <= CAST(l.datetime AS DATE)) "
        "GROUP BY l.person_id")


def _binary_trait(db: Any, persons: pd.DataFrame, spec: OutcomeSpec) -> pd.DataFrame:
    """Ever having the outcome (any time in the registry), with age at the end of data and sex."""
    db.register("_pmo_gwas_persons", persons[["person_id"]].drop_duplicates())
    return db.query(
        f"SELECT c.person_id, CAST(EXISTS (SELECT 1 FROM {spec.domain} d WHERE d.person_id = c.person_id AND "
        f"{spec.condition('d')}) AS DOUBLE) AS value, p.birth_date, p.sex, "
        "(SELECT max(end_date) FROM observation_period) AS at FROM _pmo_gwas_persons c JOIN person p "
        "ON p.person_id = c.person_id")


def _gwas_for(g: Any, trait: pd.DataFrame, link: pd.DataFrame, pcs: pd.DataFrame | None, *, name: str,
              model: str, samples: list[str]) -> GwasResult:
    t = trait.merge(link, on="person_id")
    at = pd.to_datetime(t["at"])
    cov = pd.DataFrame({"age": (at - pd.to_datetime(t["birth_date"])).dt.days / 365.25,
                        "male": (t["sex"] == "M").astype(float)})
    cov.index = t["sample_id"].to_numpy()
    if pcs is not None:
        cov = cov.join(pcs.set_index("sample_id")[[c for c in pcs.columns if str(c).startswith("PC")]])
    y = pd.Series(t["value"].to_numpy(float), index=t["sample_id"].to_numpy(), name=name)
    res = run_gwas(g, y, cov, model=model, samples=samples)  # type: ignore[arg-type]
    leads = select_lead_variants(res, p_threshold=5e-8, window_kb=500, genotypes=g, samples=samples)
    return GwasResult(name, model, res, compute_lambda_gc(res["p_value"]), leads, int(res.attrs["n_analysed"]),
                      list(cov.columns))


def run_model_development(project: str | Path | Project, *, cohort_definition: str | None = None,
                          cohort_run: str | None = None, baseline_date: str | None = "2005-01-01",
                          age_min: float = 40, age_max: float = 80, outcome: str = "mi",
                          outcome_codes: tuple[str, ...] | list[str] = ("DI21*", "DI22*"),
                          horizon_days: int = 3652, features: str = DEFAULT_FEATURES, model: str = "logistic",
                          validation: str = "cv", n_splits: int = 5, n_repeats: int = 2,
                          period_year: int | None = None, gwas_lab: str | None = "NPU01567",
                          qc_run: str | None = None, backend: str | None = None, seed: int = 1,
                          n_boot: int = 500, nri_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2)
                          ) -> ModelDevelopment:
    """Run the model-development track (see the module docstring); every parameter is a notebook parameter.

    Raises
    ------
    ConfigError, InputError
        A bad parameter or input file (named); :class:`~pmo_workbench.model.prediction.ModelDataError` when no
        model can be fitted (no cases, ...).
    """
    from pmo_workbench.health.database import open_database

    proj = as_project(project)
    db = open_database(proj)
    spec = OutcomeSpec(name=outcome, codes=list(outcome_codes), horizon_days=horizon_days)
    fs: FeatureSet = load_feature_set(_resolve(proj, features))
    cohort, attrition, cohort_info = resolve_cohort(proj, db, spec, cohort_definition=cohort_definition,
                                                    cohort_run=cohort_run, baseline_date=baseline_date,
                                                    age_min=age_min, age_max=age_max)
    outcomes = compute_outcomes(db, cohort, spec)
    ft = build_features(db, cohort, fs)
    settings = {"model": model, "validation": validation, "n_splits": n_splits, "n_repeats": n_repeats,
                "period_year": period_year, "seed": seed, "horizon_days": horizon_days,
                "outcome_codes": list(outcome_codes), "features": fs.name, "n_boot": n_boot,
                "vocabulary": _vocabulary(db)}
    notes: list[str] = []
    # genetics: QC-passing unrelated samples of the QC run, linked to persons through the manifest
    pgs_res = None
    qc_info: dict[str, Any] = {}
    link = pd.DataFrame(columns=["sample_id", "person_id"])
    g = None
    gwas: list[GwasResult] = []
    ancestry: pd.Series | None = None
    run_dir = _resolve(proj, qc_run) if qc_run else _latest(proj, "wgs_qc", "qc_decisions.parquet")
    if run_dir is None:
        notes.append("No WGS QC run: no polygenic score, no GWAS (run `pmo run wgs_qc` first).")
    else:
        from pmo_workbench.genotypes import open_genotypes

        samples, qc_info = select_samples_from_run(run_dir)
        link = _genome_link(proj, samples)
        genotypes = proj.source("genotypes")
        engine = backend or proj.config.backend.engine
        if engine == "hail":
            from pmo_workbench.genotypes.hail_backend import init_hail_from_config

            init_hail_from_config(proj.config.backend)
        g = open_genotypes(genotypes, backend=engine, cache_dir=proj.root / "cache" / "genotypes",
                           reference_build=proj.config.sources.reference_build)
        qc_info["backend"] = engine
        pcs = _pcs(run_dir)
        if pcs is not None and "assigned_population" in pcs:
            pop = link.merge(pcs[["sample_id", "assigned_population"]], on="sample_id")
            label = pop["assigned_population"].astype(object)
            label = label.where(label.notna() & (label.astype(str) != ""), UNASSIGNED).astype(str)
            ancestry = pd.Series(label.to_numpy(), index=pop["person_id"].to_numpy(), name="ancestry")
        results = add_genetic_features(ft, g, link, root=proj.root, samples=samples)
        if results:
            pgs_res = results[0] if len(results) == 1 else PgsResult(
                pd.concat([r.scores for r in results], ignore_index=True),
                pd.concat([r.match_report for r in results], ignore_index=True),
                pd.concat([r.variants for r in results], ignore_index=True),
                [sf for r in results for sf in r.scoring_files], results[0].settings)
        analysed = [s for s in samples if s in set(link["sample_id"])]
        if len(analysed) >= 30:
            gwas.append(_gwas_for(g, _binary_trait(db, link, spec), link, pcs, name=outcome, model="logistic",
                                  samples=analysed))
            if gwas_lab:
                lab = _lab_trait(db, link, gwas_lab)
                if len(lab) >= 30:
                    gwas.append(_gwas_for(g, lab, link, pcs, name=gwas_lab, model="linear", samples=analysed))
                else:
                    notes.append(f"Lab trait {gwas_lab}: fewer than 30 persons with an untreated value; no GWAS.")
        else:
            notes.append("Fewer than 30 QC-passing unrelated genomes linked to persons: no GWAS.")
    clinical_names = [c for c in ft.features if c not in fs.genetic_names()]
    kind = model  # type: ignore[assignment]
    data = prepare_data(ft, outcomes, kind=kind, feature_names=clinical_names)  # type: ignore[arg-type]
    clinical = validate_model(data, kind, scheme=validation, n_splits=n_splits, n_repeats=n_repeats,  # type: ignore[arg-type]
                              seed=seed, period_year=period_year, n_boot=n_boot)
    md = ModelDevelopment(proj, settings, cohort, cohort_info, attrition, outcomes, ft, data, clinical, qc_info,
                          pgs_res, gwas=gwas, notes=notes, feature_set=fs, ancestry=ancestry)
    genetic_names = [n for n in fs.genetic_names() if n in ft.table]
    if genetic_names:
        full = prepare_data(ft, outcomes, kind=kind, feature_names=clinical_names + genetic_names)  # type: ignore[arg-type]
        rows = np.flatnonzero(full.X[genetic_names].notna().all(axis=1).to_numpy())
        md.genetic_rows = rows
        sub = full.subset(rows)
        events = int((sub.status == 1).sum()) if kind == "cox" else int(np.nansum(sub.y))
        if events < 2 or sub.n - events < 2:
            notes.append(f"Persons with a genome: {sub.n}, {events} with the outcome: too few to compare models.")
        else:
            common = dict(scheme="cv", n_splits=n_splits, n_repeats=n_repeats, seed=seed, n_boot=n_boot)
            clin_sub = ModelData(sub.X[clinical_names], sub.y, sub.time, sub.status, sub.ids, sub.horizon_days)
            md.clinical_on_genomes = validate_model(clin_sub, kind, **common)  # type: ignore[arg-type]
            md.genetic = validate_model(sub, kind, **common)  # type: ignore[arg-type]
            a = md.clinical_on_genomes.pooled_risk()
            b = md.genetic.pooled_risk()
            y = _binary_at_horizon(a, kind, sub.horizon_days)
            md.comparison = ev.compare_models(y, a["risk"].to_numpy(), b["risk"].to_numpy(),
                                              thresholds=nri_thresholds, n_boot=n_boot, seed=seed)
    md.card = build_model_card(card_metadata(md))
    return md


def _vocabulary(db: Any) -> str:
    """``OMOP`` when most diagnoses are OMOP concepts (an OMOP import), else ``SKS`` (Danish registries)."""
    found = db.query("SELECT vocabulary, count(*) AS n FROM diagnosis GROUP BY 1 ORDER BY n DESC LIMIT 1")
    return "OMOP" if len(found) and str(found["vocabulary"].iloc[0]).upper() == "OMOP" else "SKS"


def describe_cohort(md: ModelDevelopment) -> str:
    """One line: where the cohort came from and how many persons it holds."""
    info = md.cohort_info
    n = int(md.cohort["person_id"].nunique())
    if info.get("source") == "baseline":
        return f"everyone resident and aged {info['age'][0]:g}-{info['age'][1]:g} on {info['baseline_date']} ({n} persons)"
    if info.get("source") == "cohort definition":
        return f"definition `{info['definition']}` (sha256 `{str(info['definition_sha256'])[:12]}…`, {n} persons)"
    return f"cohort run `{info.get('run')}` ({n} persons)"


def _binary_at_horizon(pooled: pd.DataFrame, kind: str, horizon: float | None) -> np.ndarray:
    if kind != "cox":
        return pooled["y"].to_numpy(float)
    t, s = pooled["time"].to_numpy(float), pooled["status"].to_numpy()
    h = float(horizon or 0)
    return np.where((s == 1) & (t <= h), 1.0, np.where((t >= h) | (s == 2), 0.0, np.nan))


NO_GENOME = "no genome"
"""Ancestry group of persons without a QC-passing, unrelated genome."""
UNASSIGNED = "not assigned"
"""Ancestry group of persons whose genome the WGS QC run assigned to no population."""


def validated_risk(md: ModelDevelopment, which: str = "clinical") -> pd.DataFrame:
    """Per person of a model (``clinical``, ``clinical_on_genomes`` or ``genetic``): the mean validated risk, the
    outcome within the horizon and the subgroup columns (sex, region, ancestry: the genetic ancestry group of
    the WGS QC run, :data:`NO_GENOME` for persons without a genome)."""
    res = {"clinical": md.clinical, "genetic": md.genetic, "clinical_on_genomes": md.clinical_on_genomes}[which]
    if res is None:
        return pd.DataFrame()
    pooled = res.pooled_risk()
    rows = np.arange(md.data.n) if which == "clinical" else np.asarray(md.genetic_rows)
    base = md.data.X.iloc[rows].reset_index(drop=True)  # the genetic models' rows index the genome subset
    ids = md.data.ids.iloc[rows].reset_index(drop=True)
    out = pooled.assign(y=_binary_at_horizon(pooled, md.settings["model"], md.settings["horizon_days"]))
    for col in ("sex", "region"):
        if col in base:
            out[col] = base[col].iloc[out["row"]].to_numpy()
    if md.ancestry is not None and len(ids):
        person = ids["person_id"].astype(str).iloc[out["row"]]
        out["ancestry"] = person.map(md.ancestry).fillna(NO_GENOME).to_numpy()
    return out


SUBGROUP_COLUMNS = ["by", "group", "n", "events", "auroc", "auroc_lower", "auroc_upper", "calibration_slope",
                    "calibration_intercept", "oe_ratio", "brier"]
"""Columns of :func:`subgroup_table`."""


def subgroup_table(md: ModelDevelopment, which: str = "clinical", *, n_boot: int = 200) -> pd.DataFrame:
    """Discrimination and calibration of one model's validated risks by sex, region and genetic ancestry group
    (:data:`SUBGROUP_COLUMNS`; ``by`` names the grouping). Empty when the model was not fitted."""
    risk = validated_risk(md, which)
    if risk.empty:
        return pd.DataFrame(columns=SUBGROUP_COLUMNS)
    risk = risk.dropna(subset=["y"])
    frames = []
    for col in ("sex", "region", "ancestry"):
        if col in risk:
            frames.append(ev.compute_subgroup_performance(risk["y"], risk["risk"], risk[col], n_boot=n_boot,
                                                          seed=md.settings.get("seed", 1)).assign(by=col))
    return pd.concat(frames, ignore_index=True)[SUBGROUP_COLUMNS] if frames else \
        pd.DataFrame(columns=SUBGROUP_COLUMNS)


def compare_with_truth(md: ModelDevelopment, *, window_kb: float = 500) -> dict[str, pd.DataFrame] | None:
    """On a synthetic project (``truth/`` present): each GWAS's leads against the simulated causal variants of
    its trait (a lead is true when a causal variant lies within ``window_kb``), and the correlation of each
    polygenic score with the simulated genetic score. None for a real project."""
    truth = md.project.root / "truth"
    if not (truth / "causal_variants.tsv").exists():
        return None
    causal = pd.read_csv(truth / "causal_variants.tsv", sep="\t")
    trait_of = {md.settings.get("outcome_name", "mi"): "mi", "NPU01567": "ldl", "mi": "mi"}
    rows = []
    for gw in md.gwas:
        trait = trait_of.get(gw.trait)
        c = causal[causal["trait"] == trait] if trait else causal.iloc[0:0]
        for _, lead in gw.leads.iterrows():
            near = c[(c["chrom"] == lead["contig"]) & ((c["pos"] - lead["position"]).abs() <= window_kb * 1000)]
            rows.append({"trait": gw.trait, "lead": f"{lead['contig']}:{lead['position']}", "p_value": lead["p_value"],
                         "causal_nearby": len(near) > 0,
                         "is_causal": bool(((c["chrom"] == lead["contig"]) & (c["pos"] == lead["position"])).any())})
    leads = pd.DataFrame(rows, columns=["trait", "lead", "p_value", "causal_nearby", "is_causal"])
    out = {"leads": leads}
    if md.pgs is not None and (truth / "person_outcomes.tsv").exists():
        po = pd.read_csv(truth / "person_outcomes.tsv", sep="\t")
        link = md.features.table[["person_id"]].drop_duplicates()
        corr = []
        for f in (md.feature_set.pgs if md.feature_set is not None else []):
            t = link.assign(score=md.features.table[f.name]).merge(po, on="person_id").dropna(subset=["score"])
            for col in ("mi_score", "ldl_score"):
                corr.append({"pgs": f.name, "simulated": col, "n": len(t),
                             "correlation": float(np.corrcoef(t["score"], t[col])[0, 1]) if len(t) > 2 else np.nan})
        out["pgs"] = pd.DataFrame(corr)
    return out


def card_metadata(md: ModelDevelopment, disclosure: Disclosure | None = None) -> dict[str, Any]:
    """What the model card knows about this run, as ``disclosure`` releases it (default: internal): tables as
    formatted text (integers as integers, no "nan"; suppressed cells ``x`` in export), counts disclosed."""
    disclosure = disclosure or Disclosure("internal")
    s = md.settings
    spec = md.outcomes.spec
    perf = md.performance()

    def text(table: pd.DataFrame, kind: str) -> pd.DataFrame:
        return format_table(disclosure.release(table, kind), export=disclosure.export)

    problems = [str(p) for p in md.clinical.problems] + md.clinical.notes + md.notes
    subgroups = _card_subgroups(md)
    meta: dict[str, Any] = {
        "title": f"{spec.horizon_years:g}-year risk of {spec.name} ({', '.join(spec.codes)})",
        "objective": f"Development and internal validation of a {s['model']} model of {spec.name} within "
                     f"{spec.horizon_years:g} years, and the incremental value of a polygenic score.",
        "data_sources": ("An OMOP CDM database imported into the workbench's event schema (conditions, drug "
                         "exposures and measurements as OMOP concepts), biobank genomes after WGS QC."
                         if s.get("vocabulary") == "OMOP" else
                         "Danish registry extracts in the workbench's event schema (CPR, LPR2/LPR3, prescriptions, "
                         "NPU labs), biobank genomes after WGS QC."),
        "dates": f"end of data {md.outcomes.end_of_data}",
        "setting": md.cohort_info,
        "cohort": {**md.cohort_info, "persons": int(md.cohort["person_id"].nunique()), "qc_run": md.qc_info.get("qc_run")},
        "genomes": _card_genomes(md, disclosure),
        "model_rows": text(md.data.attrition, "attrition"),
        "data_preparation": "Features from events dated on or before the index date only (windows in the feature "
                            "table); constant features dropped.",
        "outcome": f"{spec.name}: codes {', '.join(spec.codes)} ({spec.domain}), horizon {spec.horizon_days} days; "
                   "censoring at emigration and end of data; death "
                   + ("competing (binary outcome 0)." if spec.competing_death else "censoring."),
        "features": text(md.features.dictionary, "aggregate"),
        "sample_size": disclosure.counts_record({"rows": int(md.data.n), "events": int(np.nansum(md.data.y))
                                                 if s["model"] != "cox" else int((md.data.status == 1).sum())}),
        "missing_data": "Numeric features: median imputation with missing-indicator columns (logistic, Cox); "
                        "native missing-value handling (gradient boosting). Persons censored before the horizon "
                        "without the outcome are left out of binary models.",
        "validation": f"{s['validation']} ({s['n_splits']} folds × {s['n_repeats']} repeats for cross-validation; "
                      f"seed {s['seed']})",
        "model": {"logistic": "L2-penalised logistic regression, penalty chosen by inner 5-fold CV (nested)",
                  "gboost": "histogram gradient boosting (fixed conservative settings)",
                  "cox": "cause-specific Cox models (death competing), ridge 0.01"}.get(s["model"], s["model"]),
        "measures": "AUROC with stratified-bootstrap CI, AUPRC, Brier score, calibration slope and intercept, "
                    "decision curves, subgroup AUROC.",
        "class_imbalance": "none applied (risks stay calibrated)",
        "fairness": "Discrimination and calibration reported by sex, region and genetic ancestry group (the WGS "
                    "QC run's assigned population; persons without a genome form their own group).",
        "subgroups": text(subgroups, "group_metrics") if len(subgroups) else subgroups,
        "model_output": f"absolute risk within {spec.horizon_years:g} years",
        "software": "pmo-workbench; package versions in model.json",
        "attrition": text(md.attrition, "attrition"),
        "specification": "saved as model.joblib (coefficients in coefficients.parquet)",
        "performance": text(perf, "group_metrics") if len(perf) else perf,
        "problems": problems,
    }
    if md.comparison is not None:
        meta["comparison"] = text(md.comparison.table(), "aggregate")
    return meta


def model_card(md: ModelDevelopment, disclosure: Disclosure) -> ModelCard:
    """The model card of a run as ``disclosure`` releases it (what the report shows and writes)."""
    return build_model_card(card_metadata(md, disclosure))


def _card_genomes(md: ModelDevelopment, disclosure: Disclosure) -> dict[str, Any] | str:
    """The WGS QC run the genetics came from and its sample counts (in export only the run, the backend and the
    number of genomes analysed, when not small: the other counts differ from it by small numbers)."""
    if not md.qc_info:
        return "no WGS QC run: no genetics"
    if not disclosure.export:
        return dict(md.qc_info)
    keep = {k: md.qc_info[k] for k in ("qc_run", "backend") if k in md.qc_info}
    return {**keep, **disclosure.counts_record({"analysed": int(md.qc_info.get("analysed", 0))})}


def _card_subgroups(md: ModelDevelopment) -> pd.DataFrame:
    """Subgroup results of the clinical model and (on persons with a genome) of the model with genetics (released
    through the disclosure layer as group metrics: in export a group under ``min_count`` keeps no values)."""
    n_boot = min(int(md.settings.get("n_boot", 200)), 200)
    parts = [subgroup_table(md, which, n_boot=n_boot).assign(model=name)
             for which, name in (("clinical", "clinical"), ("genetic", "clinical + genetics"))]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["model", *SUBGROUP_COLUMNS])
    t = pd.concat(parts, ignore_index=True)
    return t[["model", *SUBGROUP_COLUMNS]].reset_index(drop=True)


def write_model_outputs(md: ModelDevelopment, output_dir: str | Path | None, disclosure: Disclosure) -> list[str]:
    """Write the run folder through the disclosure layer: the model, the card, aggregated tables (attrition as a
    disclosed chain, performance per split with small splits blanked, GWAS rows of variants with fewer than
    ``min_count`` minor alleles left out in export) and, internally, individual-level ones (validated risk, scores).
    ``output_dir`` None writes nothing."""
    if output_dir is None:
        return []
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    written += [p.name for p in md.clinical.model.save(out)]
    written += [p.name for p in model_card(md, disclosure).write(out)]
    tables: dict[str, tuple[pd.DataFrame | None, str]] = {
        "performance": (md.performance(), "group_metrics"), "attrition": (md.attrition, "attrition"),
        "feature_dictionary": (md.features.dictionary, "aggregate"),
        "coefficients": (md.clinical.model.coefficients(), "aggregate")}
    if md.comparison is not None:
        tables["incremental_value"] = (md.comparison.table(), "aggregate")
    if md.pgs is not None:
        tables["pgs_match_report"] = (md.pgs.match_report, "aggregate")
    for gw in md.gwas:
        t = disclosure.variant_rows(gw.table)
        leads = gw.leads
        if "variant_index" in leads and "variant_index" in t:
            leads = leads[leads["variant_index"].isin(t["variant_index"])]
        tables[f"gwas_{gw.trait}"] = (t.drop(columns=["variant_index"], errors="ignore"), "aggregate")
        tables[f"gwas_{gw.trait}_leads"] = (leads.drop(columns=["variant_index"], errors="ignore"), "aggregate")
    if disclosure.individual_level:
        tables["validated_risk"] = (md.data.ids.iloc[md.clinical.pooled_risk()["row"]].reset_index(drop=True).assign(
            risk=md.clinical.pooled_risk()["risk"].to_numpy()), "individual")
        if md.pgs is not None:
            tables["pgs_scores"] = (md.pgs.scores, "individual")
    for name, (table, kind) in tables.items():
        if table is not None and len(table.columns):
            disclosure.write_table(table, out, name, kind=kind)
            written.append(f"{name}.parquet")
    extra = {"model_development": {
        "cohort": md.cohort_info, "qc_run": md.qc_info.get("qc_run"), "outcome": md.outcomes.spec.model_dump(),
        "settings": md.settings, "problems": [str(p) for p in md.clinical.problems],
        "notes": md.notes,
        "auroc_clinical": _pooled(md.clinical, "auroc"),
        "delta_auroc": None if md.comparison is None else md.comparison.delta_auroc.estimate}}
    write_text_atomic(out / "run_extra.json", json.dumps(extra, indent=2, default=str))
    written.append("run_extra.json")
    return written


def _pooled(res: ValidationResult | None, col: str) -> float | None:
    if res is None or col not in res.metrics:
        return None
    return float(res.metrics[col].iloc[-1])
