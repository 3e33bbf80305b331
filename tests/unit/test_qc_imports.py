"""What a QC pass imports: sample_qc and variant_qc on a store whose rows are all in the 2-bit copy run C
kernels only, so the process never imports numba (its import and first call cost ~1.3 s, more than plink2's
whole QC run at 2,500 x 1M), nor zarr and numcodecs (0.1 s: the store's files are read straight); and the package's public names stay the functions whatever was imported first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from pmo_workbench.genotypes import open_genotypes
from tests.vcf_files import format_record, write_vcf


def _write_biallelic_vcf(path: Path, n_variants: int = 300, n_samples: int = 40) -> Path:
    rng = np.random.default_rng(2)
    records = []
    for v in range(n_variants):
        alt = rng.random((n_samples, 2)) < rng.choice([0.01, 0.2, 0.5])
        calls = ["./." if rng.random() < 0.02 else f"{int(a)}/{int(b)}" for a, b in alt]
        records.append(format_record("1", 100 + 10 * v, "A", "G", calls))
    return write_vcf(path, records, samples=[f"S{i}" for i in range(n_samples)], contigs={"1": 10_000_000})


def test_a_qc_pass_on_a_packed_store_imports_no_numba(tmp_path: Path) -> None:
    vcf, cache = _write_biallelic_vcf(tmp_path / "b.vcf"), tmp_path / "cache"
    g = open_genotypes(vcf, cache_dir=cache)  # import in this process (that uses numba)
    assert g.packable().all()
    code = textwrap.dedent(f"""
        import sys
        from pmo_workbench.genotypes import open_genotypes
        from pmo_workbench.qc.sample_qc import sample_qc
        from pmo_workbench.qc.variant_qc import variant_qc
        g = open_genotypes({str(vcf)!r}, cache_dir={str(cache)!r})
        s, v = sample_qc(g), variant_qc(g)
        print(int(s["n_het"].sum()), int(v["n_het"].sum()), len(v))
        print(sorted(m for m in ("numba", "llvmlite", "sklearn", "pydantic", "zarr", "numcodecs") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    het_by_sample, het_by_variant, n = (int(x) for x in out[0].split())
    assert het_by_sample == het_by_variant > 0 and n == 300
    assert out[1] == "[]", f"the QC pass imported {out[1]}"


def test_public_names_are_the_functions_after_their_modules_were_imported() -> None:
    code = textwrap.dedent("""
        import pmo_workbench.qc.kinship, pmo_workbench.qc.sample_qc, pmo_workbench.qc.variant_qc
        import pmo_workbench.qc.ancestry
        from pmo_workbench.qc import ancestry, impute_sex, kinship, run_qc, sample_qc, variant_qc, QcThresholds
        from pmo_workbench.qc import rules
        import types
        assert all(isinstance(f, types.FunctionType) for f in (ancestry, impute_sex, kinship, run_qc, sample_qc,
                                                                variant_qc)), "a name is bound to a module"
        assert isinstance(rules, types.ModuleType) and isinstance(QcThresholds, type)
        print(sample_qc.__module__, kinship.__module__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["pmo_workbench.qc.sample_qc", "pmo_workbench.qc.kinship"]
