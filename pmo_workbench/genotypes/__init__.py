"""Open and import genotype data with a backend: embedded (VCF Zarr, numpy/C/numba) or Hail (MatrixTable, Spark).

:func:`open_genotypes` opens a VCF/BCF or PLINK 1 fileset with a backend of the registry
(:mod:`pmo_workbench.genotypes.backends`) and returns a genotype set (:class:`~.backends.GenotypeSet`: sample
IDs, the variant table, contig kinds and PARs); the methods of :mod:`pmo_workbench.qc` ask the registry for
their backend's kernels.

Examples
--------
>>> from pmo_workbench.genotypes import open_genotypes
>>> g2 = open_genotypes(g.path, cache_dir=g.store_path.parent)  # g: the doctests' simulated set, in its cache
>>> g2.backend, g2.sample_id[:3].tolist()
('embedded', ['S01', 'S02', 'S03'])
"""

from pmo_workbench.genotypes.backends import GenotypeSet, open_genotypes
from pmo_workbench.genotypes.store import GenotypeChunk, Genotypes, compute_dosage
from pmo_workbench.genotypes.vcf_header import VcfWarning

__all__ = ["GenotypeChunk", "GenotypeSet", "Genotypes", "VcfWarning", "compute_dosage", "open_genotypes"]
