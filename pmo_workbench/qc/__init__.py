"""WGS quality control: per-sample and per-variant QC, sex, kinship, ancestry, outliers and decisions."""
