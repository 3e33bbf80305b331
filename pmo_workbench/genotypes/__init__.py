"""Open and import genotype data: the embedded backend (VCF Zarr + numpy) and the Hail backend."""
