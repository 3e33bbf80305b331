"""Open and import genotype data: the embedded backend (VCF Zarr + numba) and, later, the Hail backend.

Example
-------
>>> from pmo_workbench.genotypes import open_genotypes
>>> g = open_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz")  # doctest: +SKIP
"""

from pmo_workbench.genotypes.store import GenotypeChunk, Genotypes, compute_dosage, open_genotypes
from pmo_workbench.genotypes.vcf_header import VcfWarning

__all__ = ["GenotypeChunk", "Genotypes", "VcfWarning", "compute_dosage", "open_genotypes"]
