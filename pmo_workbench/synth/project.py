"""``pmo synth``: a deterministic synthetic Danish project with ground truth (README "Synthetic data").

The genomes (msprime), persons (CPR-like raw identifiers, pseudonyms), registry events (LPR2/LPR3, prescriptions,
NPU labs), biobank specimens and Tissue Use Register opt-outs are simulated by the modules of this package; this
module wires them together with independent random streams, writes the genome manifest, the ``truth/`` folder and
``pmo.yaml``, and moves the finished folder into place (nothing half-written is ever left at ``out``).

Examples
--------
>>> from pathlib import Path
>>> import tempfile
>>> s = synthesize_project(Path(tempfile.mkdtemp()) / "p", persons=300, samples=40, variants=1500, seed=3,
...                        progress=False)
>>> sorted(p.name for p in s.root.iterdir())
['README.md', 'codelists', 'cohorts', 'data', 'params', 'pmo.yaml', 'raw', 'truth']
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pmo_workbench.errors import ConfigError
from pmo_workbench.privacy import DEMO_KEY, record_key_fingerprint
from pmo_workbench.project import (
    Backend,
    Privacy,
    Project,
    ProjectConfig,
    Sources,
    append_import_record,
    load_project,
    write_project_file,
)

COHORT_EXAMPLE = Path(__file__).resolve().parents[2] / "templates" / "cohorts"


@dataclass
class SynthSummary:
    """What :func:`synthesize_project` wrote: the folder, sizes, timing and counts per table."""

    root: Path
    persons: int
    samples: int
    variants: int
    seed: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{self.persons} persons", f"{self.samples} samples", f"{self.variants} variants"]
        parts += [f"{v} {k}" for k, v in self.counts.items() if k in ("diagnosis", "prescription", "lab", "specimen")]
        return ", ".join(parts)


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, lineterminator="\n", na_rep="NA")


def build_manifest(samples: pd.DataFrame, persons: pd.DataFrame, sample_specimen: pd.DataFrame) -> pd.DataFrame:
    """The genome manifest (``docs/reference/pmo_yaml.md``, ``sources.manifest``): sample_id, person_id, specimen_id, batch, sequencing_site, reported_sex.

    ``person_id`` is the person the lab *believes* the sample is (for a swapped pair this differs from the DNA).
    """
    ind_to_person = persons.loc[persons["individual"] >= 0].set_index("individual")["person_id"]
    man = samples[["sample_id", "individual", "batch", "sequencing_site", "reported_sex"]].copy()
    man["person_id"] = man["individual"].map(ind_to_person)
    man = man.merge(sample_specimen[["sample_id", "specimen_id"]], on="sample_id", how="left")
    if man["person_id"].isna().any() or man["specimen_id"].isna().any():
        raise RuntimeError("synthetic manifest lost a sample's person or specimen")  # a generator bug, not input
    return man[["sample_id", "person_id", "specimen_id", "batch", "sequencing_site", "reported_sex"]]


def write_code_catalogues(folder: Path) -> None:
    """Write the synthetic code catalogues as ``codelists/{sks,atc,npu}.tsv`` (code, description) for code search."""
    from pmo_workbench.synth.codes import build_catalogue_frame

    sks = build_catalogue_frame("sks")
    atc = build_catalogue_frame("atc")
    npu = build_catalogue_frame("npu")
    tables = {
        "sks": pd.DataFrame({"code": sks["code"], "description": sks["text_da"] + " (" + sks["text_en"] + ")"}),
        "atc": pd.DataFrame({"code": atc["code"], "description": atc["name"]}),
        "npu": pd.DataFrame({"code": npu["code"], "description": npu["name"] + " [" + npu["unit"] + "]"}),
    }
    for name, table in tables.items():
        _write_tsv(table.drop_duplicates("code").sort_values("code"), folder / f"{name}.tsv")


def _write_truth(truth: Path, genomes, persons: pd.DataFrame, registry, biobank) -> None:
    ind = genomes.individuals
    ind_person = persons.loc[persons["individual"] >= 0, ["individual", "person_id"]]
    samples = genomes.samples.merge(ind_person, on="individual", how="left").merge(
        ind_person.rename(columns={"individual": "true_individual", "person_id": "true_person_id"}),
        on="true_individual", how="left")
    _write_tsv(samples[["sample_id", "person_id", "true_person_id", "batch", "reported_sex", "problem"]]
               .assign(genetic_sex=samples["true_individual"].map(ind.set_index("individual")["sex"])),
               truth / "samples.tsv")
    _write_tsv(samples.loc[samples["problem"].notna(), ["sample_id", "problem", "person_id", "true_person_id"]],
               truth / "problem_samples.tsv")
    pid = ind.merge(ind_person, on="individual")
    parent = pid.set_index("individual")["person_id"]
    pedigree = pd.DataFrame({
        "person_id": pid["person_id"], "population": pid["population"], "sex": pid["sex"],
        "family_id": pid["family_id"], "father": pid["father"].map(parent), "mother": pid["mother"].map(parent),
        "role": pid["role"],
    })
    _write_tsv(pedigree, truth / "individuals.tsv")
    _write_tsv(genomes.causal_variants, truth / "causal_variants.tsv")
    _write_tsv(persons[["person_id", "sex", "birth_date", "population", "cpr_kind"]], truth / "persons.tsv")
    _write_tsv(registry.truth, truth / "person_outcomes.tsv")
    _write_tsv(pd.DataFrame({"person_id": sorted(biobank.opt_outs)}), truth / "opt_outs.tsv")
    (truth / "model.json").write_text(json.dumps(registry.coefficients, indent=2, sort_keys=True) + "\n")


def synthesize_project(
    out: str | Path,
    *,
    persons: int = 5000,
    samples: int = 500,
    variants: int = 20000,
    seed: int = 1,
    fields: str = "GT:DP:GQ:AD",
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    deliveries: bool = False,
) -> SynthSummary:
    """Generate a synthetic project into ``out``; the same arguments give byte-identical files.

    Parameters
    ----------
    out
        Folder to create (must not exist unless ``overwrite``).
    persons, samples, variants
        Registry persons, sequenced samples (VCF columns) and target number of variants.
    seed
        Seed of every random stream.
    fields
        VCF FORMAT fields, ``GT:DP:GQ:AD`` or ``GT``.
    name
        Project name in ``pmo.yaml`` (default ``synthetic_s<seed>``: no file depends on the folder's name, so
        two folders made with the same arguments are byte-identical).
    overwrite
        Replace an existing ``out``.
    progress
        Show progress on the terminal.
    deliveries
        Also write the genomes as per-sample deliveries in their batches (``deliveries/``, with injected
        delivery problems in ``truth/deliveries.tsv``; :mod:`pmo_workbench.synth.deliveries`).

    Returns
    -------
    SynthSummary
    """
    from pmo_workbench.synth.biobank import simulate_biobank
    from pmo_workbench.synth.genomes import simulate_genomes
    from pmo_workbench.synth.persons import simulate_persons
    from pmo_workbench.synth.registry import simulate_registry
    from pmo_workbench.synth.scoring_files import write_scoring_files

    out = Path(out).expanduser().resolve()
    name = name or f"synthetic_s{seed}"
    if out.exists() and not overwrite:
        raise ConfigError("folder exists (use --force to replace it)", file=out)
    if samples > persons:
        raise ConfigError("samples must not exceed persons", field="samples")
    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    s_gen, s_pers, s_reg, s_bio = np.random.SeedSequence(seed).spawn(4)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial.", dir=out.parent))

    def step(name: str, func, *args, **kwargs):
        t = time.perf_counter()
        if progress:
            print(f"  {name} ...", flush=True)
        result = func(*args, **kwargs)
        steps[name] = round(time.perf_counter() - t, 2)
        return result

    try:
        geno_dir, reg_dir = tmp / "data" / "genotypes", tmp / "data" / "registry"
        bio_dir, consent_dir, raw_dir = tmp / "data" / "biobank", tmp / "data" / "consent", tmp / "raw"
        for d in (geno_dir, reg_dir, bio_dir, consent_dir, raw_dir, tmp / "truth", tmp / "cohorts", tmp / "params"):
            d.mkdir(parents=True, exist_ok=True)
        genomes = step("genomes", simulate_genomes, samples, variants, s_gen, geno_dir, fields=fields,
                       progress=progress)
        people = step("persons", simulate_persons, persons, genomes.individuals, s_pers, key=DEMO_KEY)
        registry = step("registry", simulate_registry, people, genomes.genetic_scores, s_reg, out_dir=reg_dir,
                        raw_dir=raw_dir)
        biobank = step("biobank", simulate_biobank, people, genomes.samples, s_bio, out_dir=bio_dir,
                       consent_dir=consent_dir, raw_dir=raw_dir, registry=registry)
        manifest = build_manifest(genomes.samples, people, biobank.sample_specimen)
        _write_tsv(manifest, geno_dir / "manifest.tsv")
        _write_truth(tmp / "truth", genomes, people, registry, biobank)
        if deliveries:
            from pmo_workbench.synth.deliveries import write_deliveries

            truth_samples = pd.read_csv(tmp / "truth" / "samples.tsv", sep="\t", dtype={"problem": object})
            step("deliveries", write_deliveries, tmp, truth_samples, seed=seed, progress=progress)
        write_scoring_files(tmp / "data" / "pgs", genomes.causal_variants)
        write_code_catalogues(tmp / "codelists")
        for example in sorted(COHORT_EXAMPLE.glob("*.yaml")) if COHORT_EXAMPLE.exists() else []:
            shutil.copyfile(example, tmp / "cohorts" / example.name)
        config = ProjectConfig(
            name=name,
            description=f"Synthetic PMØ project (seed {seed}): {persons} persons, {samples} genomes.",
            sources=Sources(
                genotypes=str(genomes.vcf_path.relative_to(tmp)),
                manifest="data/genotypes/manifest.tsv",
                pedigree=str(genomes.ped_path.relative_to(tmp)),
                registry="data/registry", biobank="data/biobank", consent="data/consent",
                reference_build="GRCh38",
            ),
            backend=Backend(),
            privacy=Privacy(synthetic=True),
        )
        write_project_file(tmp, config)
        # the data's pseudonyms were made with the demo key: a later registry import with another key is refused
        append_import_record(Project(tmp, config), {"kind": "synth", "seed": seed},
                             pseudonym_key=record_key_fingerprint(DEMO_KEY, "the public demo key", timestamp=False))
        (tmp / "README.md").write_text(
            f"# {name}: a synthetic PMØ project\n\n"
            f"Made by `pmo synth --persons {persons} --samples {samples} --variants {variants} --seed {seed}`.\n"
            "Everything here is simulated. `raw/` holds the registry extracts in their Danish formats with\n"
            "CPR-like identifiers (as a hospital would deliver them); `data/` holds the same events pseudonymised in\n"
            "the workbench's event schema; `truth/` records every injected fact (problem samples, true pedigree,\n"
            "populations, causal variants and effects, opt-outs) so that tests can measure recall and precision.\n",
            encoding="utf-8")
        counts = {"genomes": len(genomes.samples), "persons": len(people), **registry.counts, **biobank.counts}
        (tmp / "truth" / "summary.json").write_text(json.dumps(
            {"seed": seed, "persons": persons, "samples": samples, "variants_requested": variants,
             "variants_written": int(genomes.variants_written), "fields": fields, "counts": counts},
            indent=2, sort_keys=True) + "\n")
        load_project(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SynthSummary(root=out, persons=persons, samples=len(genomes.samples),
                        variants=int(genomes.variants_written), seed=seed,
                        seconds=round(time.perf_counter() - t0, 2), counts=counts, step_seconds=steps)
