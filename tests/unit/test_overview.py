"""Overview aggregates against independent computations (pandas on the same Parquet, bcftools on VCFs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.overview import ProjectOverview, summarise_vcf
from pmo_workbench.privacy import Disclosure


@pytest.mark.parametrize("rel", ["1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz", "hail_1kg_chr20_100/sample.vcf.gz",
                                 "1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz"])
def test_summarise_vcf_matches_bcftools(shared_data, rel):
    path = shared_data / rel
    summary = summarise_vcf(path)
    samples = subprocess.run(["bcftools", "query", "-l", str(path)], capture_output=True, text=True, check=True)
    assert summary.n_samples == len(samples.stdout.split())
    contigs = subprocess.run(["bcftools", "query", "-f", "%CHROM\\n", str(path)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert summary.variants_per_contig.to_dict() == pd.Series(contigs).value_counts().to_dict()


def test_summarise_vcf_rejects_headerless_file(tmp_path):
    bad = tmp_path / "bad.vcf"
    bad.write_text("1\t100\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"bad.vcf: line 1: no #CHROM header"):
        summarise_vcf(bad)


def test_project_aggregates_match_pandas(small_project):
    ov = ProjectOverview(small_project)
    persons = pd.read_parquet(small_project / "data/registry/person.parquet")
    expected = pd.crosstab(persons["region"], persons["sex"])
    got = ov.persons_by_region_sex()
    assert got.loc[expected.index, expected.columns].to_numpy().tolist() == expected.to_numpy().tolist()

    diag = pd.read_parquet(small_project / "data/registry/diagnosis.parquet")
    cov = ov.registry_coverage(first_year=1900)
    years = pd.to_datetime(diag["date"]).dt.year
    for source in diag["source"].unique():
        want = years[diag["source"] == source].value_counts().sort_index()
        have = cov[f"diagnosis {source}"]
        assert have[have > 0].to_dict() == want.to_dict()

    ages = ov.persons_by_age_sex()
    ref = pd.Timestamp(ov.reference_date)
    alive = persons[persons["death_date"].isna() | (pd.to_datetime(persons["death_date"]) > ref)]
    assert int(ages.to_numpy().sum()) == len(alive)

    manifest = pd.read_csv(small_project / "data/genotypes/manifest.tsv", sep="\t")
    assert int(ov.samples_by_batch().to_numpy().sum()) == len(manifest)
    tur = pd.read_parquet(small_project / "data/consent/tissue_use_register.parquet")
    assert ov.consent_summary()["opted out"] == tur.loc[tur["opt_out"], "person_id"].nunique()
    link = ov.linkage()
    assert int(link.to_numpy().sum()) == len(persons)


def test_disclose_export_hides_small_counts_and_internal_keeps_them():
    t = pd.DataFrame({"F": [3, 40, 22], "M": [30, 41, 19]}, index=["a", "b", "c"])
    assert Disclosure("internal", 5).counts(t).equals(t)
    shown = Disclosure("export", 5).counts(t)
    assert pd.isna(shown.loc["a", "F"])
    assert shown.isna().sum().sum() >= 2  # complementary suppression: a lone hidden cell is derivable
    with pytest.raises(ValueError, match="mode"):
        Disclosure("public", 5).counts(t)


def test_overview_of_a_project_without_data(tmp_path):
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates" / "project", tmp_path / "p")
    (tmp_path / "p" / "pmo.yaml").write_text("name: empty\n")
    ov = ProjectOverview(tmp_path / "p")
    assert ov.persons_by_region_sex().empty and ov.registry_coverage().empty
    assert ov.genotype_summary() is None
    assert ov.consent_summary()["persons"] == 0


def test_disclose_list_table_suppresses_count_columns_and_keeps_text():
    t = pd.DataFrame({"description": ["a", "b", "c"], "persons": [2, 50, 60], "events": [9, 70, 3]},
                     index=["X1", "X2", "X3"])
    shown = Disclosure("export", 5).counts(t)
    assert shown["description"].tolist() == ["a", "b", "c"]
    assert pd.isna(shown.loc["X1", "persons"]) and pd.isna(shown.loc["X3", "events"])
    for col in ("persons", "events"):
        visible = shown[col].dropna()
        assert ((visible == 0) | (visible >= 5)).all()
        assert shown[col].isna().sum() >= 2  # a lone suppressed cell would be derivable from the total


def test_top_codes_carry_descriptions_from_the_project_code_lists(small_project):
    top = ProjectOverview(small_project).top_codes("lab", 3)
    assert (top["description"] != "").all()
    assert list(top.columns) == ["description", "vocabulary", "persons", "events"]


def test_plot_count_table_takes_series_and_frames_with_suppressed_cells():
    from pmo_workbench.plots import plot_count_table

    ax = plot_count_table(pd.Series([3, 5], index=["a", "b"], name="count"), title="s")
    assert sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0) == [3, 5]
    frame = pd.DataFrame({"F": [1, None], "M": [2, 3]}, index=["a", "b"]).astype("Int64")
    ax = plot_count_table(frame, title="f")
    assert sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0) == [1, 2, 3]
