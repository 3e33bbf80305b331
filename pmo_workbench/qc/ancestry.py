"""Genetic ancestry: LD-pruned PCA on unrelated samples, relatives projected, populations assigned from a
reference.

Steps (gnomAD's approach): autosomal biallelic common sites are LD-pruned; dosages are standardised with the
allele frequencies of the unrelated samples, ``(d - 2p) / sqrt(2p(1 - p))`` with missing calls at 0; the
unrelated samples define the principal axes (SVD); related samples are projected onto them. With a labelled
reference (samples of this data set with a known population), a random forest on the PCs gives each sample a
population and its probability; below ``min_probability`` the sample is ``"other"`` (gnomAD's ``oth``).

The dosages of the candidate sites come from the genotype set's backend (the ``dosage_blocks`` kernel of
:mod:`pmo_workbench.genotypes.backends`, one block per run of ``chunk_size`` records of the file); pruning, PCA
and assignment run here, for every backend alike.

Examples
--------
>>> labels = pd.DataFrame({"sample_id": ["S01", "S02", "S04", "S21", "S22", "S24"], "population": list("AAABBB")})
>>> anc = ancestry(g, reference=labels, k=1)  # the doctests' set: populations S01-S20 and S21-S40
>>> anc.groupby("assigned_population").size().to_dict()
{'A': 20, 'B': 20}
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.qc.ld import select_unlinked_sites
from pmo_workbench.qc.sites import select_autosomal_sites, thin_pca_candidates
from pmo_workbench.qc.tables import ANCESTRY, returns_table

OTHER = "other"


def load_population_labels(path: str | Path | TextIO, *, column: str | None = None) -> pd.DataFrame:
    """Read a sample -> population table (TSV) into columns ``sample_id``, ``population``.

    Understands the 1000 Genomes panel (``sample``, ``pop``, ``super_pop``; super-populations by default) and
    somalier's labels (``#sample``, ``superpop``, ``population``), or any TSV with ``sample_id`` and
    ``population``. ``column`` picks the label column explicitly.

    Examples
    --------
    >>> import io
    >>> tsv = io.StringIO("#sample\\tsuperpop\\tpopulation\\nHG00096\\tEUR\\tGBR\\n")
    >>> load_population_labels(tsv).iloc[0].tolist()
    ['HG00096', 'EUR']
    """
    df = pd.read_csv(path, sep="\t", dtype=str)
    df.columns = [c.lstrip("#").strip() for c in df.columns]
    id_col = next((c for c in ("sample_id", "sample", "sample.id", "IID") if c in df.columns), None)
    label_col = column or next((c for c in ("super_pop", "superpop", "population") if c in df.columns), None)
    if id_col is None or label_col is None or label_col not in df.columns:
        raise InputError("needs a sample column and a population column", file=str(path), field=column)
    out = df[[id_col, label_col]].dropna()
    out.columns = ["sample_id", "population"]
    return out.reset_index(drop=True)


def collect_pca_sites(
    g: GenotypeSet,
    *,
    variant_mask: np.ndarray | None = None,
    min_maf: float = 0.05,
    min_call_rate: float = 0.95,
    ld_window_bp: int = 500_000,
    ld_r2: float = 0.1,
    max_sites: int = 50_000,
    chunk_size: int = 20_000,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Common, well-called, LD-pruned autosomal biallelic sites: ``(variants, dosage int8 [sites, samples])``.

    When the candidates outnumber ``2 * max_sites``, every k-th candidate is taken first (evenly thinned,
    which bounds the pruning cost on WGS data); LD pruning (:func:`~pmo_workbench.qc.ld.select_unlinked_sites`)
    runs within each block of ``chunk_size`` records. When more than ``max_sites`` remain, an evenly spaced
    subset is kept.

    Examples
    --------
    >>> variants, dosage = collect_pca_sites(g)
    >>> dosage.shape == (len(variants), g.n_samples)
    True
    """
    sites = thin_pca_candidates(select_autosomal_sites(g.variants, g.contig_kind, variant_mask), max_sites)
    blocks = get_kernel("dosage_blocks", g)(g, sites, min_maf=min_maf, chunk_size=chunk_size)
    return prune_pca_blocks(blocks, min_call_rate=min_call_rate, ld_window_bp=ld_window_bp, ld_r2=ld_r2,
                            max_sites=max_sites, source=str(getattr(g, "path", "")))


def prune_pca_blocks(
    blocks: Iterable[tuple[pd.DataFrame, np.ndarray]],
    *,
    min_call_rate: float = 0.95,
    ld_window_bp: int = 500_000,
    ld_r2: float = 0.1,
    max_sites: int = 50_000,
    source: str = "",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-called, LD-pruned sites of dosage blocks ``(variants, dosage int8 [sites, samples])`` (the sites of
    one run of records each; pruning runs within a block), then at most ``max_sites`` evenly spaced of them."""
    kept_v: list[pd.DataFrame] = []
    kept_d: list[np.ndarray] = []
    for variants, dosage in blocks:
        if len(variants) == 0:
            continue
        ok = (dosage >= 0).mean(axis=1) >= min_call_rate
        variants, dosage = variants[ok], dosage[ok]
        if len(variants) == 0:
            continue
        unlinked = select_unlinked_sites(
            dosage,
            variants["contig"].to_numpy(),
            variants["position"].to_numpy(),
            window_bp=ld_window_bp,
            r2_threshold=ld_r2,
        )
        kept_v.append(variants[unlinked])
        kept_d.append(dosage[unlinked])
    if not kept_v:
        raise InputError("no autosomal biallelic common sites for PCA", file=source)
    variants = pd.concat(kept_v)
    dosage = np.concatenate(kept_d, axis=0)
    if len(variants) > max_sites:
        pick = np.linspace(0, len(variants) - 1, max_sites).round().astype(np.int64)
        variants, dosage = variants.iloc[pick], dosage[pick]
    return variants, dosage


def compute_pca(
    dosage: np.ndarray, fit_samples: np.ndarray, k: int = 10, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of standardised dosages: axes from ``fit_samples``, every sample scored on them.

    Parameters
    ----------
    dosage
        int8 [sites, samples], -1 missing.
    fit_samples
        Boolean [samples]: the samples that define the axes (unrelated ones).
    k
        Number of components.
    seed
        Seed of the randomized SVD (used for large matrices).

    Returns
    -------
    scores : numpy.ndarray (samples, k)
        Fit samples: U·S; the others: their standardised dosages projected on the loadings.
    eigenvalues : numpy.ndarray (k,)
        Squared singular values divided by the number of sites (GCTA/plink2 scaling).
    loadings : numpy.ndarray (k, sites)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = rng.integers(0, 3, size=(200, 30)).astype(np.int8)
    >>> compute_pca(d, np.ones(30, dtype=bool), k=3)[0].shape
    (30, 3)
    """
    fit = np.asarray(fit_samples, dtype=bool)
    called = dosage >= 0
    df = np.where(called[:, fit], dosage[:, fit], 0).astype(np.float64)
    an = 2.0 * called[:, fit].sum(axis=1)
    p = np.divide(df.sum(axis=1), an, out=np.zeros(len(an)), where=an > 0)
    sd = np.sqrt(2.0 * p * (1.0 - p))
    usable = sd > 0
    p, sd = p[usable], sd[usable]
    x = np.where(called[usable], (dosage[usable] - 2.0 * p[:, None]) / sd[:, None], 0.0).astype(np.float32).T
    k_eff = int(min(k, fit.sum() - 1, x.shape[1]))
    if k_eff < 1:
        raise ValueError("too few samples or sites for PCA")
    xf = x[fit]
    import scipy.linalg  # imported here: scipy/sklearn cost ~2 s at import of every pmo_workbench.qc module
    from sklearn.utils.extmath import randomized_svd

    # One BLAS thread: LAPACK on a shared 2-core machine is many times slower with oversubscribed threads.
    with threadpool_limits(limits=1, user_api="blas"):
        if xf.shape[0] <= 1500:  # exact: eigen-decomposition of the samples' Gram matrix
            gram = xf.astype(np.float64) @ xf.T.astype(np.float64)
            n_fit = gram.shape[0]
            w, u = scipy.linalg.eigh(gram, subset_by_index=[n_fit - k_eff, n_fit - 1])
            order = np.argsort(w)[::-1]
            s = np.sqrt(np.clip(w[order], 0, None))
            u = u[:, order]
            vt = (u.T @ xf.astype(np.float64)) / np.where(s > 0, s, 1.0)[:, None]
        else:
            u, s, vt = randomized_svd(xf, n_components=k_eff, n_iter=7, random_state=seed)
    # a deterministic sign: the largest loading of each axis is positive
    sign = np.sign(vt[np.arange(k_eff), np.abs(vt).argmax(axis=1)])
    u, vt = u * sign, vt * sign[:, None]
    scores = np.empty((x.shape[0], k_eff))
    scores[fit] = u * s
    if (~fit).any():
        scores[~fit] = x[~fit] @ vt.T
    loadings = np.zeros((k_eff, dosage.shape[0]))
    loadings[:, usable] = vt
    return scores, s**2 / x.shape[1], loadings


def select_pca_samples(
    sample_id: Iterable[str], pairs: pd.DataFrame | None, *, max_kinship: float = 0.0884
) -> np.ndarray:
    """Boolean mask of the samples that define the PCA axes: a maximal set with no pair above ``max_kinship``,
    found by dropping the sample with the most relatives first until no related pair is left (the dropped
    samples are projected). (The cohort's :func:`pmo_workbench.cohort.matching.select_unrelated` is another
    rule: it keeps persons, fewest relatives first, cases before controls.)

    ``pairs`` has columns sample_i, sample_j, kinship (the :func:`~pmo_workbench.qc.kinship.kinship` table).

    Examples
    --------
    >>> pairs = pd.DataFrame({"sample_i": ["a", "a"], "sample_j": ["b", "c"], "kinship": [0.25, 0.25]})
    >>> select_pca_samples(["a", "b", "c", "d"], pairs).tolist()
    [False, True, True, True]
    """
    ids = [str(s) for s in sample_id]
    keep = dict.fromkeys(ids, True)
    if pairs is None or len(pairs) == 0:
        return np.ones(len(ids), dtype=bool)
    rel = pairs[pairs["kinship"] > max_kinship]
    adj: dict[str, set[str]] = {}
    for a, b in zip(rel["sample_i"].astype(str), rel["sample_j"].astype(str), strict=True):
        if a in keep and b in keep and a != b:
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
    heap = [(-len(nb), s) for s, nb in adj.items()]
    heapq.heapify(heap)
    while heap:
        neg_deg, s = heapq.heappop(heap)
        if not keep[s] or -neg_deg != len(adj[s]) or not adj[s]:
            continue  # stale entry, or no relatives left
        keep[s] = False
        for nb in adj.pop(s):
            adj[nb].discard(s)
            heapq.heappush(heap, (-len(adj[nb]), nb))
        adj[s] = set()
    return np.array([keep[s] for s in ids], dtype=bool)


@returns_table(ANCESTRY)
def ancestry(
    g: GenotypeSet,
    reference: pd.DataFrame | str | Path | None = None,
    k: int = 10,
    *,
    related: Iterable[str] | None = None,
    variant_mask: np.ndarray | None = None,
    min_maf: float = 0.05,
    ld_window_bp: int = 500_000,
    ld_r2: float = 0.1,
    max_sites: int = 50_000,
    min_probability: float = 0.9,
    n_classifier_pcs: int | None = None,
    n_estimators: int = 100,
    seed: int = 0,
    cv_folds: int = 5,
    chunk_size: int = 20_000,
) -> pd.DataFrame:
    """PCA on LD-pruned common sites and, with a labelled reference, population assignment with a probability.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
    reference
        DataFrame ``sample_id``, ``population`` (or a TSV for :func:`load_population_labels`); samples of
        ``g``
        found in it train the classifier. Without it, ``assigned_population`` is None.
    k
        Number of principal components.
    related
        Sample IDs left out of the PCA fit (projected instead), e.g. one of each related pair.
    variant_mask
        Boolean [n_variants] restricting the candidate sites (e.g. QC-passing ones).
    min_maf, ld_window_bp, ld_r2, max_sites
        Site selection (see :func:`collect_pca_sites`).
    min_probability
        Below this classifier probability the population is ``"other"`` (gnomAD uses 0.9).
    n_classifier_pcs
        PCs given to the classifier (default: all ``k``).
    n_estimators, seed
        Random forest size and seed (the result is deterministic for a seed).
    cv_folds
        The labelled samples' probabilities are out-of-fold: each comes from a forest trained on the other
        folds of a stratified ``cv_folds``-fold split (in-sample probabilities of a random forest are near 1
        for its own training samples, and would hide how well the populations separate). A reference with one
        population has no classifier: its samples keep it and others join it inside its PC cloud, else
        ``other``.
    chunk_size
        Records per block of candidate sites (LD pruning runs within a block; the embedded backend reads the
        store in chunks of this size).

    Returns
    -------
    pandas.DataFrame
        One row per sample, in file order; the columns of :data:`~pmo_workbench.qc.tables.ANCESTRY` (listed
        below). ``attrs["eigenvalues"]`` and ``attrs["n_sites"]`` record the PCA.
    """
    _, dosage = collect_pca_sites(
        g,
        variant_mask=variant_mask,
        min_maf=min_maf,
        ld_window_bp=ld_window_bp,
        ld_r2=ld_r2,
        max_sites=max_sites,
        chunk_size=chunk_size,
    )
    return compute_ancestry_table(np.asarray(g.sample_id).astype(str), dosage, reference, k, related=related,
                                  min_probability=min_probability, n_classifier_pcs=n_classifier_pcs,
                                  n_estimators=n_estimators, seed=seed, cv_folds=cv_folds)


def compute_ancestry_table(
    sample_id: np.ndarray,
    dosage: np.ndarray,
    reference: pd.DataFrame | str | Path | None = None,
    k: int = 10,
    *,
    related: Iterable[str] | None = None,
    min_probability: float = 0.9,
    n_classifier_pcs: int | None = None,
    n_estimators: int = 100,
    seed: int = 0,
    cv_folds: int = 5,
) -> pd.DataFrame:
    """The table of :func:`ancestry` from the PCA sites' dosages (int8 [sites, samples]), whichever backend
    read them. Parameters as in :func:`ancestry`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> compute_ancestry_table(np.array(["a", "b", "c", "d"]), rng.integers(0, 3, (50, 4)).astype(np.int8),
    ...                        k=2).columns.tolist()[:3]
    ['sample_id', 'PC1', 'PC2']
    """
    sample_id = np.asarray(sample_id).astype(str)
    related_set = {str(s) for s in related} if related is not None else set()
    fit = ~np.isin(sample_id, list(related_set))
    scores, eigenvalues, _ = compute_pca(dosage, fit, k=k, seed=seed)
    k_eff = scores.shape[1]
    pcs = [f"PC{i + 1}" for i in range(k_eff)]
    out = pd.DataFrame(scores, columns=pcs)
    out.insert(0, "sample_id", sample_id)
    assigned = np.full(len(sample_id), None, dtype=object)
    prob = np.full(len(sample_id), np.nan)
    if reference is not None:
        ref = reference if isinstance(reference, pd.DataFrame) else load_population_labels(reference)
        labels = ref.drop_duplicates("sample_id").set_index("sample_id")["population"]
        train = np.isin(sample_id, labels.index.astype(str))
        y = labels.reindex(sample_id[train]).to_numpy().astype(str) if train.any() else np.array([], dtype=str)
        if train.sum() < 2:
            raise InputError("the reference labels fewer than two samples of this data set")
        use = pcs[: n_classifier_pcs or k_eff]
        if len(set(y)) < 2:  # one population: its samples keep it; others join it when inside its PC cloud
            assigned, prob = _assign_single_population(scores[:, : len(use)], train, str(y[0]))
            out.attrs["cv_accuracy"] = float("nan")
        else:
            assigned, prob, accuracy = _assign_populations(scores[:, : len(use)], train, y, min_probability,
                                                           n_estimators=n_estimators, seed=seed,
                                                           cv_folds=cv_folds)
            out.attrs["cv_accuracy"] = accuracy
    out["assigned_population"] = assigned
    out["probability"] = prob
    out["pc_distance"] = compute_pc_distance(scores, fit, assigned)
    out["projected"] = ~fit
    out.attrs["eigenvalues"] = eigenvalues.tolist()
    out.attrs["n_sites"] = int(dosage.shape[0])
    return out


def _assign_populations(x: np.ndarray, train: np.ndarray, y: np.ndarray, min_probability: float, *,
                        n_estimators: int, seed: int, cv_folds: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Random-forest populations: out-of-fold probabilities for the labelled samples (``cv_folds``-fold
    stratified cross-validation: a sample is never judged by a forest that saw its label), the full forest's
    for the others; ``other`` below ``min_probability``. Returns (assigned, probability, cross-validated
    accuracy of the labelled samples with the ``other`` rule)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    clf = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    clf.fit(x[train], y)
    classes = clf.classes_
    proba = clf.predict_proba(x)
    counts = pd.Series(y).value_counts()
    folds = int(min(cv_folds, counts.max()))
    if folds >= 2:
        oof = np.zeros((int(train.sum()), len(classes)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        xt = x[train]
        import warnings

        with warnings.catch_warnings():  # a population with fewer members than folds: sklearn warns, still splits
            warnings.simplefilter("ignore", UserWarning)
            splits = list(splitter.split(xt, y))
        for fit_idx, test_idx in splits:
            f = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
            f.fit(xt[fit_idx], y[fit_idx])
            cols = np.searchsorted(classes, f.classes_)
            oof[np.ix_(test_idx, cols)] = f.predict_proba(xt[test_idx])
        proba[train] = oof
    best = proba.argmax(axis=1)
    prob = proba[np.arange(len(best)), best]
    assigned = np.where(prob >= min_probability, classes[best], OTHER).astype(object)
    accuracy = float(np.mean(assigned[train] == y))
    return assigned, prob, accuracy


def _assign_single_population(x: np.ndarray, train: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One labelled population: its samples keep it; another sample joins it when its distance from the
    population's median (PCs scaled by the population's SD) is within median + 4 MAD of the population's own
    distances, else ``other``. Probability NaN (no classifier)."""
    from pmo_workbench.qc.outliers import compute_mad_bounds

    sd = x[train].std(axis=0)
    z = x / np.where(sd > 0, sd, 1.0)
    centre = np.median(z[train], axis=0)
    dist = np.linalg.norm(z - centre, axis=1)
    upper = compute_mad_bounds(dist[train], 4.0)[3]
    assigned = np.where(train | (dist <= upper), name, OTHER).astype(object)
    return assigned, np.full(len(x), np.nan)


def compute_pc_distance(scores: np.ndarray, fit: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Euclidean distance of each sample from its group's median, in PCs scaled by their SD over ``fit``
    samples.

    Samples whose group is None are measured from the median of all samples.
    """
    sd = scores[fit].std(axis=0)
    z = scores / np.where(sd > 0, sd, 1.0)
    dist = np.empty(len(z))
    keys = np.array(["\0all" if x is None else str(x) for x in groups], dtype=object)
    for key in pd.unique(keys):
        sel = keys == key
        center = np.median(z[sel & fit] if (sel & fit).any() else z[sel], axis=0)
        dist[sel] = np.linalg.norm(z[sel] - center, axis=1)
    return dist
