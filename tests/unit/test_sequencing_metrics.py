"""Read-level metrics on real pipeline files (../shared/data/sequencing_metrics): MultiQC's parsed values against
every value of its expected_values.tsv that MultiQC keeps, and the sample-metrics table against the README's
known values (units, NA never 0)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.genotypes.delivery_metrics import multiqc_raw_data, parse_metrics_files, pivot_metrics

DATA = Path("../shared/data/sequencing_metrics")
EXPECTED = pd.read_csv(DATA / "expected_values.tsv", sep="\t", dtype=str, keep_default_na=False)
# parse groups: MultiQC merges samples of one name, so files whose sample names collide are parsed apart
GROUPS = ["dragen", "mosdepth/test.mosdepth.global.dist.txt", "mosdepth/tiny.mosdepth.global.dist.txt",
          "mosdepth/noalignments.mosdepth.global.dist.txt", "mosdepth/shallow", "picard/WgsMetrics", "picard/AlignmentSummaryMetrics", "picard/InsertSizeMetrics",
          "picard/MarkDuplicates", "samtools", "verifybamid", "verifybamid2_upstream/result.selfSM",
          "verifybamid2_upstream/test.LongRead.pileup.selfSM"]


@pytest.fixture(scope="module")
def parsed() -> dict[str, tuple[dict, dict]]:
    return {g: multiqc_raw_data([DATA / g]) for g in GROUPS}


def as_number(text: str) -> float | None:
    t = text.strip().replace(",", ".") if re.fullmatch(r"-?\d+,\d+", text.strip()) else text.strip()
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def group_of(file: str) -> str | None:
    return next((g for g in GROUPS if file == g or file.startswith(g + "/")), None)


def dragen_lookup(raw: dict, file: str, locator: str) -> tuple[str, object] | None:
    parts = [p.strip() for p in locator.split(" | ")]
    if len(parts) != 4:
        return None  # histogram, contig-coverage and overall-mean rows
    section, rg, metric, kind = parts
    name = Path(file).name
    prefix = name.split(".")[0]
    if rg != "-" and not section.startswith("VARIANT CALLER"):
        return None  # per-read-group rows: MultiQC keeps them for its table only (a caller's "RG" is the sample)
    if "MAPPING/ALIGNING SUMMARY" in section:
        key, sample = "dragen_map_metrics", prefix + ("_normal" if section.startswith("NORMAL") else "")
    elif section == "COVERAGE SUMMARY":
        key, sample = "dragen_wgs_cov_metrics", prefix + ("_normal" if name.endswith("_normal.csv") else "")
    elif section == "PLOIDY ESTIMATION":
        key, sample = "dragen_ploidy", prefix
    elif section.startswith("VARIANT CALLER POSTFILTER"):
        key, sample = ("dragen_gvcf_metrics" if "gvcf_metrics" in name else "dragen_vc_metrics"), prefix
    elif section == "VARIANT CALLER SUMMARY":
        key, sample = "dragen_vc_metrics", prefix
    else:
        return None  # PREFILTER: MultiQC keeps the POSTFILTER section
    values = raw["dragen"][key].get(sample, {})
    norm = {re.sub(r"\s+", "", k): v for k, v in values.items()}
    field = re.sub(r"\s+", "", metric + (" pct" if kind == "pct" else ""))
    return f"{key}/{sample}/{metric}", norm.get(field, "<absent>")


def picard_lookup(raw: dict, where: dict, file: str, locator: str) -> tuple[str, object] | None:
    parts = [p.strip() for p in locator.split(" | ")]
    if len(parts) != 3:
        return None  # the METRICS CLASS line
    block, rowkey, column = parts
    m = re.fullmatch(r"(\w+)='(.*)'", rowkey)
    rows = [(s, d) for key, by in raw["picard"].items() for s, d in by.items()
            if isinstance(d, dict) and column in d and where.get(s, where.get(str(d.get("SAMPLE_NAME")), ""))
            .endswith(file)]
    if m and m.group(1) != "row":
        rows = [(s, d) for s, d in rows if str(d.get(m.group(1), "")) == m.group(2)]
    if "two_samples" in file:
        rows = [(s, d) for s, d in rows if s.endswith("_first" if block == "block 1" else "_second")]
    if len(rows) != 1:
        return None  # several libraries in one file: MultiQC merges them into one row
    return f"picard/{rows[0][0]}/{column}", rows[0][1][column]


def lookup(parsed: dict, file: str, locator: str) -> tuple[str, object] | None:
    group = group_of(file)
    if group is None:
        return None
    raw, where = parsed[group]
    if file.startswith("dragen/"):
        return dragen_lookup(raw, file, locator)
    if file.startswith("picard/"):
        return picard_lookup(raw, where, file, locator)
    if file.startswith("samtools/") and locator.startswith("SN "):
        field = locator[3:].rstrip(":").strip().replace(" ", "_")
        sample = next(s for s, p in where.items() if p.endswith(file))
        return f"samtools/{sample}/{field}", raw["samtools"]["multiqc_samtools_stats"][sample].get(field, "<absent>")
    if file.startswith("mosdepth/") and file.endswith("global.dist.txt"):
        m = re.fullmatch(r"chrom=total \| fraction >= (\d+)x", locator)
        if m is None:
            return None  # per-chromosome rows: MultiQC keeps the total only
        sample = Path(file).name.split(".")[0]
        cum = raw["mosdepth"]["mosdepth_cumcov_dist"][sample]
        return f"mosdepth/{sample}/{m.group(1)}x", cum[m.group(1)] / 100 if m.group(1) in cum else "<absent>"
    if file.startswith("verifybamid") and locator.startswith("row 1 | "):
        column = locator.split(" | ")[1]
        sample = next(s for s, p in where.items() if p.endswith(file))
        return f"verifybamid/{sample}/{column}", raw["verifybamid"]["multiqc_verifybamid"][sample].get(column,
                                                                                                  "<absent>")
    return None


def test_multiqc_values_equal_every_expected_value_it_keeps(parsed) -> None:
    compared, mismatched = 0, []
    for file, locator, expected in EXPECTED.itertuples(index=False):
        found = lookup(parsed, file, locator)
        if found is None:
            continue
        name, got = found
        want = as_number(expected)
        if want is None:  # NA, ?, inf, empty: MultiQC must not turn it into a number (never 0)
            ok = got == "<absent>" or not isinstance(got, int | float) or not math.isfinite(got) \
                or str(got) == expected
        elif isinstance(got, int | float):  # equal to the digits printed (MultiQC may recompute from counts)
            decimals = len(expected.strip().replace(",", ".").split(".")[1]) if re.fullmatch(
                r"-?\d+[.,]\d+", expected.strip()) else 0
            ok = math.isclose(float(got), want, rel_tol=1e-9, abs_tol=0.5 * 10 ** -decimals + 1e-12)
        else:
            ok = as_number(str(got)) == want
        if not ok and expected.strip() and not isinstance(got, int | float) and str(got) == expected:
            ok = True
        compared += 1
        if not ok:
            mismatched.append((file, locator, expected, got, name))
    # 404 of the 712 rows: those of the per-sample data MultiQC keeps. Not compared: DRAGEN per-read-group,
    # PREFILTER, histogram and per-contig rows; Picard FIRST/SECOND_OF_PAIR rows and the libraries MultiQC
    # merges; mosdepth per-chromosome and summary rows (the table test below checks its means); somalier and
    # VerifyBamID ancestry files (not read-level metrics of the table)
    assert compared >= 400, compared
    # MultiQC drops a few rows it treats as non-numeric; anything else is a mismatch
    assert not [m for m in mismatched if m[3] != "<absent>"], mismatched[:10]
    assert len(mismatched) <= 0.08 * compared, mismatched


@pytest.mark.parametrize(("path", "expected"), [
    ("dragen/alignment", {"TEST": dict(mean_coverage=0.50, pct_ge_20x=1.17, pct_mapped=99.62, pct_duplicates=0.0,
                                       insert_size_median=490.0, contamination=None, ploidy_estimate=None)}),
    ("dragen/tn_varcall/T_SRR7890936_50pc", {
        "T_SRR7890936_50pc": dict(mean_coverage=82.09, pct_ge_20x=95.44, pct_mapped=96.86, pct_duplicates=19.71,
                                  insert_size_median=376.0, ploidy_estimate="X0"),
        "T_SRR7890936_50pc_normal": dict(mean_coverage=45.61, pct_ge_20x=92.79, pct_mapped=96.98,
                                         pct_duplicates=11.23, insert_size_median=376.0)}),
    ("dragen/issue_1374", {"6405-JL-0001_111": dict(pct_mapped=89.32, pct_duplicates=12.66, insert_size_median=None,
                                                    contamination=None)}),
    ("dragen/issue_2328_inf_values", {"sample": dict(mean_coverage=2.28, pct_ge_20x=2.57)}),
    ("picard/WgsMetrics/test1.wgs.metrics.txt", {"test1": dict(mean_coverage=25.944209, pct_ge_20x=84.4969)}),
    ("picard/WgsMetrics/parabricks_issue_2122", {"200K_HA2WPADXX_2": dict(mean_coverage=0.01731,
                                                                          pct_ge_20x=0.0002)}),
    ("picard/AlignmentSummaryMetrics/A1.sorted.dup.recal.all.metrics.alignment_summary_metrics",
     {"A1": dict(pct_mapped=99.9384)}),
    ("picard/InsertSizeMetrics/P1339_1001.collectInsertSize.txt", {"P1339_1001": dict(insert_size_median=456.0)}),
    ("picard/InsertSizeMetrics/Test-Sample.insert_size_metrics.txt", {"Test-Sample": dict(insert_size_median=287.0)}),
    ("picard/InsertSizeMetrics/sentieon_issue_1420", {}),
    ("picard/MarkDuplicates/Example_101.metrics", {"Example_101": dict(pct_duplicates=3.7049)}),
    ("picard/MarkDuplicates/SRR1067500_1.fastq.gz_bowtie_srtd.bam_picardDupMetrics.txt",
     {"SRR1067500_1": dict(pct_duplicates=16.0307)}),
    ("mosdepth/test.mosdepth.global.dist.txt", {"test": dict(pct_ge_20x=91.226, mean_coverage=None)}),
    ("mosdepth/shallow", {"shallow": dict(mean_coverage=0.40)}),
    ("samtools/stats/Test1.txt", {"Test1": dict(pct_mapped=81 / 101 * 100, pct_duplicates=0.0,
                                                insert_size_median=None)}),
    ("verifybamid/example_data.selfSM", {"sample_name": dict(contamination=0.00037)}),
    ("verifybamid/issue_1112", {"BloodSeq_21": dict(contamination=0.00642505)}),
    ("verifybamid2_upstream/result.selfSM", {"DefaultSampleName": dict(contamination=0.21808)}),
    ("verifybamid2_upstream/test.LongRead.pileup.selfSM", {"DefaultSampleName": dict(contamination=0.419446)}),
])
def test_sample_metrics_table_on_real_files(path: str, expected: dict) -> None:
    long = parse_metrics_files([DATA / path])
    table = pivot_metrics(long)
    assert sorted(table.index) == sorted(expected)
    for sample, values in expected.items():
        for metric, want in values.items():
            got = table.loc[sample, metric]
            if want is None:
                assert pd.isna(got), (sample, metric, got)
            elif isinstance(want, str):
                assert got == want
            else:
                assert float(got) == pytest.approx(want, rel=1e-9), (sample, metric)
    for row in long.itertuples():
        assert row.source_file and Path(row.source_file).is_file() and row.unit == table.attrs["units"][row.metric]


def test_contamination_is_a_fraction_and_ploidy_a_label() -> None:
    long = parse_metrics_files([DATA / "verifybamid2_upstream" / "result.selfSM",
                                DATA / "dragen" / "tn_varcall" / "T_SRR7890936_50pc" /
                                "T_SRR7890936_50pc.ploidy_estimation_metrics.csv"])
    t = pivot_metrics(long)
    assert t.loc["DefaultSampleName", "contamination"] == pytest.approx(0.21808)
    assert t.loc["T_SRR7890936_50pc", "ploidy_estimate"] == "X0"
    assert pd.isna(t.loc["DefaultSampleName", "ploidy_estimate"])
    assert t.attrs["units"] == {"mean_coverage": "x", "pct_ge_20x": "%", "pct_mapped": "%", "pct_duplicates": "%",
                                "insert_size_median": "bp", "contamination": "fraction", "ploidy_estimate": ""}


def deeper_lookup(file: str, locator: str, deep: dict) -> tuple[str, object] | None:
    """Values MultiQC keeps below its per-sample tables: DRAGEN's overall mean coverage and fragment-length
    histogram, and somalier's per-sample and per-pair data (its own module)."""
    name = Path(file).name
    prefix = name.split(".")[0]
    if name.endswith("overall_mean_cov.csv") and "| raw value" in locator:
        data = deep["dragen"]["dragen"]["dragen_overall_mean_cov_data"]
        by_prefix = next(v for k, v in data.items() if file.startswith(str(Path(k).relative_to(DATA))))
        return "dragen_overall_mean_cov_data", by_prefix[prefix]["wgs"]["value"]
    m = re.fullmatch(r"(.+) \| modal FragmentLength \(Count\)", locator)
    if m and name.endswith("fragment_length_hist.csv"):
        hist = deep["dragen"]["dragen"]["dragen_frag_len"][prefix][m.group(1)]
        length = max(hist, key=lambda k: (hist[k], -k))
        return "dragen_frag_len", f"{length} ({hist[length]})"
    if file.startswith("somalier/"):
        data = deep["somalier"].get("somalier", {}).get("multiqc_somalier", {})
        parts = locator.split(" | ")
        m = re.fullmatch(r"#?sample_id=(.+)", parts[0])
        if m and name.endswith(".samples.tsv") and parts[1] in data.get(m.group(1), {}):
            return f"multiqc_somalier/{m.group(1)}/{parts[1]}", data[m.group(1)][parts[1]]
        m = re.fullmatch(r"(.+) x (.+)", parts[0])
        if m and f"{m.group(1)}*{m.group(2)}" in data and parts[1] in data[f"{m.group(1)}*{m.group(2)}"]:
            return f"multiqc_somalier/pair/{parts[1]}", data[f"{m.group(1)}*{m.group(2)}"][parts[1]]
    return None


def test_the_values_multiqc_does_not_keep_in_its_tables(parsed) -> None:
    """The 308 expected values the comparison above leaves out: from MultiQC's deeper data where it keeps them
    (DRAGEN overall mean coverage and fragment-length mode, somalier's samples and pairs), else from the small
    parser of :mod:`pmo_workbench.genotypes.metrics_files`; every one equal to the README's value."""
    from pmo_workbench.genotypes.metrics_files import read_metric_values

    deep = {"dragen": multiqc_raw_data([DATA / "dragen"])[0],
            "somalier": multiqc_raw_data([DATA / "somalier"], modules=["somalier"])[0]}
    files: dict[str, dict[str, str]] = {}
    via: dict[str, int] = {"multiqc": 0, "parser": 0}
    mismatched = []
    rest = [r for r in EXPECTED.itertuples(index=False) if lookup(parsed, r.file, r.locator) is None]
    assert len(rest) == 308
    for file, locator, expected in rest:
        found = None if file.startswith("somalier/ex-gt") else deeper_lookup(file, locator, deep)
        if found is not None:
            got = found[1]
            ok = (as_number(str(got)) == as_number(expected) if as_number(expected) is not None
                  else str(got) == expected) if not isinstance(got, float) else math.isclose(
                got, as_number(expected), rel_tol=1e-9, abs_tol=1e-12)
            via["multiqc"] += 1
        else:
            if file not in files:
                files[file] = read_metric_values(DATA / file)
            got = files[file].get(locator.replace(" (note leading space)", ""), "<absent>")
            ok = got == expected  # the text as written
            via["parser"] += 1
        if not ok:
            mismatched.append((file, locator, expected, got))
    assert not mismatched, mismatched[:10]
    assert via["multiqc"] >= 40 and via["multiqc"] + via["parser"] == 308, via


def test_the_parser_reads_every_expected_value_as_written() -> None:
    """The small parser against all 712 values of the README (exact text: '0.00', 'inf', '?', 'NA', '')."""
    from pmo_workbench.genotypes.metrics_files import read_metric_values

    files: dict[str, dict[str, str]] = {}
    wrong = []
    for file, locator, expected in EXPECTED.itertuples(index=False):
        if file not in files:
            files[file] = read_metric_values(DATA / file)
        got = files[file].get(locator.replace(" (note leading space)", ""), "<absent>")
        if got != expected:
            wrong.append((file, locator, expected, got))
    assert not wrong, wrong[:10]
    assert len(EXPECTED) == 712
