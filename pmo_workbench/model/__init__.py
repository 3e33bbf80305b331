"""Model development: GWAS, polygenic scores, features, prediction, evaluation and model cards."""
