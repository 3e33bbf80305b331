"""The model track on a synthetic project checked against ``truth/``: the GWAS of the lab trait finds the simulated
major LDL locus and the GWAS of myocardial infarction the simulated major MI locus (and only causal loci reach
genome-wide significance), the MI polygenic score recovers the simulated genetic score, and adding it to the
clinical model improves discrimination (ΔAUROC interval above 0).

A project with 3,000 genomes (GT only, ~30 s to simulate): at the demo's 500 genomes no locus reaches 5e-8. The MI
GWAS is logistic (ever having MI in the registry, ~190 cases among 3,000 genomes) with age and sex as covariates;
the simulation gives MI a strong major locus (``synth.genomes.MAJOR_EFFECT``) for this.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.model import evaluation as ev
from pmo_workbench.model.features import build_features, parse_feature_set
from pmo_workbench.model.gwas import run_gwas, select_lead_variants
from pmo_workbench.model.outcomes import OutcomeSpec, compute_outcomes
from pmo_workbench.model.pgs import score_pgs
from pmo_workbench.model.prediction import ModelData, prepare_data, validate_model
from pmo_workbench.model.report import _binary_trait, _lab_trait
from pmo_workbench.model.study_base import select_baseline_cohort

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.health.database import open_database
    from pmo_workbench.synth.project import synthesize_project

    root = tmp_path_factory.mktemp("truth") / "p"
    synthesize_project(root, persons=4000, samples=3000, variants=3000, seed=5, fields="GT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(root / "data" / "genotypes" / "cohort.vcf.gz",
                           cache_dir=tmp_path_factory.mktemp("truth-cache"))
    manifest = pd.read_csv(root / "data" / "genotypes" / "manifest.tsv", sep="\t").drop_duplicates("person_id")
    return root, g, open_database(root), manifest[["sample_id", "person_id"]].astype(str)


def _check_major_locus(gwas: pd.DataFrame, leads: pd.DataFrame, causal: pd.DataFrame) -> None:
    """The trait's major causal variant is genome-wide significant with the simulated sign and its locus is among
    the leads; every lead lies within 500 kb of a causal variant of the trait (no false locus)."""
    major = causal.assign(v=causal["effect"] ** 2 * causal["af"] * (1 - causal["af"])).sort_values("v").iloc[-1]
    hit = gwas[(gwas["contig"] == major["chrom"]) & (gwas["position"] == major["pos"])]
    assert len(hit) == 1 and hit["p_value"].iloc[0] < 5e-8
    assert np.sign(hit["beta"].iloc[0]) == np.sign(major["effect"])
    assert len(leads) >= 1
    for _, lead in leads.iterrows():
        near = causal[(causal["chrom"] == lead["contig"]) & ((causal["pos"] - lead["position"]).abs() <= 500_000)]
        assert len(near) > 0, f"lead {lead['contig']}:{lead['position']} is not near a causal variant"
    # the major locus is among the leads (several causal variants of a trait may sit on one chromosome)
    assert ((leads["contig"] == major["chrom"]) & ((leads["position"] - major["pos"]).abs() <= 500_000)).any()


def _covariates(trait: pd.DataFrame) -> pd.DataFrame:
    at = pd.to_datetime(trait["at"])
    return pd.DataFrame({"age": ((at - pd.to_datetime(trait["birth_date"])).dt.days / 365.25).to_numpy(),
                         "male": (trait["sex"] == "M").astype(float).to_numpy()}, index=trait["sample_id"])


def test_ldl_gwas_finds_the_causal_major_locus(project) -> None:
    root, g, db, link = project
    trait = _lab_trait(db, link, "NPU01567").merge(link, on="person_id")
    y = pd.Series(trait["value"].to_numpy(float), index=trait["sample_id"], name="ldl")
    gwas = run_gwas(g, y, _covariates(trait))
    causal = pd.read_csv(root / "truth" / "causal_variants.tsv", sep="\t")
    _check_major_locus(gwas, select_lead_variants(gwas, genotypes=g), causal[causal["trait"] == "ldl"])


def test_mi_gwas_finds_the_causal_major_locus(project) -> None:
    root, g, db, link = project
    spec = OutcomeSpec(name="mi", codes=["DI21*", "DI22*"])
    trait = _binary_trait(db, link, spec).merge(link, on="person_id")
    y = pd.Series(trait["value"].to_numpy(float), index=trait["sample_id"], name="mi")
    assert 100 < y.sum() < 0.2 * len(y)
    gwas = run_gwas(g, y, _covariates(trait), model="logistic")
    causal = pd.read_csv(root / "truth" / "causal_variants.tsv", sep="\t")
    _check_major_locus(gwas, select_lead_variants(gwas, genotypes=g), causal[causal["trait"] == "mi"])


def test_mi_pgs_recovers_the_genetic_score_and_improves_discrimination(project) -> None:
    root, g, db, link = project
    res = score_pgs(g, root / "data" / "pgs" / "mi_pgs.txt", keep_ambiguous=True)
    assert res.match_report["match_rate"].iloc[0] == 1.0
    spec = OutcomeSpec(name="mi", codes=["DI21*", "DI22*"], horizon_days=7300)
    cohort, _ = select_baseline_cohort(db, "2003-01-01", age_min=35, age_max=80, exclude_condition=spec.condition("d"))
    fs = parse_feature_set({"name": "clinical", "demographics": ["age", "sex"],
                            "labs": [{"name": "ldl", "codes": ["NPU01567"], "window": [-1095, 0]}],
                            "diagnoses": [{"name": "diabetes", "codes": ["DE10-DE14"]},
                                          {"name": "hypertension", "codes": ["DI10-DI15"]}],
                            "medications": [{"name": "statin", "codes": ["C10AA*"]}]})
    ft = build_features(db, cohort, fs)
    score = link.set_index("person_id")["sample_id"].map(res.wide().iloc[:, 0])
    ft.table["pgs"] = ft.table["person_id"].map((score - score.mean()) / score.std())
    truth = pd.read_csv(root / "truth" / "person_outcomes.tsv", sep="\t").set_index("person_id")
    have = ft.table.dropna(subset=["pgs"])
    assert np.corrcoef(have["pgs"], truth.loc[have["person_id"], "mi_score"])[0, 1] > 0.95
    data = prepare_data(ft, compute_outcomes(db, cohort, spec), feature_names=[*fs.names(), "pgs"])
    sub = data.subset(np.flatnonzero(data.X["pgs"].notna().to_numpy()))
    assert sub.n > 800 and np.nansum(sub.y) > 50
    clinical = validate_model(ModelData(sub.X.drop(columns="pgs"), sub.y, ids=sub.ids), n_repeats=1, n_boot=50)
    genetic = validate_model(sub, n_repeats=1, n_boot=50)
    cmp = ev.compare_models(sub.y, clinical.pooled_risk()["risk"], genetic.pooled_risk()["risk"], n_boot=500)
    assert cmp.delta_auroc.estimate > 0.01 and cmp.delta_auroc.lower > 0
    assert cmp.idi > 0
    coef = genetic.model.coefficients().set_index("term")["coefficient"]
    assert coef["pgs"] > 0.4  # log-odds per SD: the simulation's 0.9, shrunk a little by the penalty
