"""Polygenic scoring files of the synthetic project, as if published by an external GWAS of each simulated trait.

``data/pgs/<trait>_pgs.txt`` is a PGS Catalog format 2.0 file (header with ``#genome_build=GRCh38``) holding the
trait's causal variants from ``truth/causal_variants.tsv`` with their true per-allele effects on the standardised
genetic score as weights (effect allele = ALT). Scoring the project's genomes with it recovers the simulated
genetic score of each sequenced person, so tests can check that adding it to a clinical model improves
discrimination.

Examples
--------
>>> import tempfile, pandas as pd
>>> causal = pd.DataFrame({"trait": ["mi"], "chrom": ["chr1"], "pos": [100], "ref": ["A"], "alt": ["G"],
...                        "effect": [0.25]})
>>> [p.name for p in write_scoring_files(tempfile.mkdtemp(), causal)]
['mi_pgs.txt']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRAITS = {"mi": "Myocardial infarction (synthetic)", "ldl": "LDL cholesterol (synthetic)"}


def write_scoring_files(folder: str | Path, causal: pd.DataFrame) -> list[Path]:
    """Write one scoring file per trait in ``causal`` (columns trait, chrom, pos, ref, alt, effect)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for trait, rows in causal.groupby("trait", sort=True):
        path = folder / f"{trait}_pgs.txt"
        header = (f"###PGS CATALOG SCORING FILE - synthetic\n#format_version=2.0\n##POLYGENIC SCORE (PGS) "
                  f"INFORMATION\n#pgs_id=PGS_SYNTH_{str(trait).upper()}\n#pgs_name={trait}_causal\n"
                  f"#trait_reported={TRAITS.get(str(trait), str(trait))}\n#genome_build=GRCh38\n"
                  f"#variants_number={len(rows)}\n#weight_type=beta\n")
        body = pd.DataFrame({"chr_name": rows["chrom"].str.replace("chr", "", regex=False),
                             "chr_position": rows["pos"].astype(int), "effect_allele": rows["alt"],
                             "other_allele": rows["ref"], "effect_weight": rows["effect"].round(8)})
        path.write_text(header + body.to_csv(sep="\t", index=False, lineterminator="\n"), encoding="utf-8")
        written.append(path)
    return written
