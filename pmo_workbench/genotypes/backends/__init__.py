"""Genotype backends by name, and the kernels each provides: the one seam between the methods and the data.

A *backend* opens a genotype source (VCF/BCF, PLINK 1) as a :class:`GenotypeSet` and provides *kernels*: the
counts and genotype blocks the methods are built on, computed its own way. The methods (sample and variant QC,
sex, kinship, ancestry in :mod:`pmo_workbench.qc`; GWAS and PGS next) never ask which backend they hold: they
look up the kernel of ``g.backend`` here, and build their table from what it returns, once for all backends.

Built-in backends, each one module of this package (``backends/<name>.py``, imported on first use):

- ``embedded``: a VCF Zarr store in the cache (:mod:`pmo_workbench.genotypes.store`), kernels in numpy, C
  (:mod:`pmo_workbench.ckernels`) and numba (:mod:`pmo_workbench.numba_kernels`); no Java;
- ``hail``: a Hail MatrixTable in the cache (:mod:`pmo_workbench.genotypes.hail_backend`), kernels with
  Hail's own methods on Spark (local or a cluster).

Kernels every built-in backend provides (arguments after ``g`` as the methods pass them; the result types are
in :mod:`pmo_workbench.genotypes.counts`; ``sites`` is a file-order boolean mask over the variants; a backend
ignores ``chunk_size`` where it has no chunks):

- ``sample_counts(g, *, chunk_size)`` -> ``SampleCounts`` (``hl.sample_qc``'s counts);
- ``variant_counts(g, *, chunk_size)`` -> ``VariantCounts`` (``hl.variant_qc``'s);
- ``sex_counts(g, x_sites, y_sites, *, aaf_threshold, chunk_size)`` -> ``SexCounts`` (chrX F sums, chrY calls);
- ``king_counts(g, sites, *, min_maf, chunk_size)`` -> ``KingCounts`` (KING-robust pair counts);
- ``heterozygosity_counts(g, sites, *, min_maf, chunk_size)`` -> ``HeterozygosityCounts``;
- ``dosage_blocks(g, sites, *, min_maf, chunk_size)`` -> iterator of ``(variants, dosage)``: the ALT allele
  counts (int8 [sites, samples], -1 missing) of the selected sites whose minor allele frequency is at least
  ``min_maf``, one block per run of ``chunk_size`` records of the file (PCA input).

A site's minor allele frequency (``min_maf``) is computed from the called alleles of the samples (a haploid call
counts once; 0 where nothing is called).

Adding a kernel (a new method's per-variant regression, a dosage score) is one registration per backend, in
the method's module or in the backend's::

    from pmo_workbench.genotypes.backends import get_kernel, register_kernel

    @register_kernel("gwas_linear", backend="embedded")
    def _gwas_linear_embedded(g, sites, y, covariates, *, chunk_size=20_000): ...

    @register_kernel("gwas_linear", backend="hail")
    def _gwas_linear_hail(g, sites, y, covariates, *, chunk_size=20_000): ...

    def gwas(g, ...):
        result = get_kernel("gwas_linear", g)(g, sites, y, covariates)   # then build the table once

A kernel registered for :data:`ANY` backend serves every backend that has none of its own (for kernels written
against the :class:`GenotypeSet` protocol and other kernels, e.g. a score over ``dosage_blocks``). The module
holding a registration must have been imported when the kernel is looked up: the backend's own module is
imported with the backend, a method's module when the method runs.

Adding a backend is one new module ``pmo_workbench/genotypes/backends/<name>.py`` that calls
:func:`register_backend` with its opener and registers its kernels; ``open_genotypes(path, backend="<name>")``
then imports it. A backend module elsewhere registers itself the same way when imported.

Imports run one way: methods -> this registry -> (by name, on first use) the backend modules -> stores,
kernels and :mod:`pmo_workbench.genotypes.counts`; a backend module never imports a method.

Examples
--------
>>> {"embedded", "hail"} <= set(list_backends())
True
>>> counts = get_kernel("sample_counts", g)(g)  # g: a small simulated embedded genotype set
>>> bool((counts.n_called + counts.n_not_called == g.n_variants).all())
True
>>> @register_kernel("example_n_records", backend=ANY)
... def _n_records(g):
...     return g.n_variants
>>> get_kernel("example_n_records", g)(g) == g.n_variants
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pmo_workbench.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pmo_workbench.genotypes.contigs import ContigKind

ANY = "*"
"""Backend name of kernels that serve every backend without a kernel of its own."""

BUILTIN_BACKENDS = ("embedded", "hail")
"""Backends of this package, each in ``pmo_workbench.genotypes.backends.<name>`` (imported on first use)."""

FORMAT_FIELDS = ("DP", "GQ", "AD")
"""The FORMAT fields a genotype set can hold beside GT, when asked for (``open_genotypes(..., format_fields=)``)."""

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class GenotypeSet(Protocol):
    """An opened genotype data set, as every backend's opener returns it and every method reads it.

    Samples and variants are in file order; ``variants`` has one row per record with columns ``contig``,
    ``position`` (int64), ``id``, ``ref``, ``alt`` (comma-separated, ``""`` when none), ``n_alleles``
    (int64), ``filters`` (the VCF FILTER string: ``PASS``, ``.`` or names joined by ``;``) and ``qual``
    (float64). ``has_field(name)`` is True when the set holds the FORMAT field ``name`` (``"DP"``, ``"GQ"``,
    ``"AD"``): the input declares it and it was asked for (``format_fields``), now or by an earlier open of the
    same cached store.
    """

    backend: str
    path: Path
    reference_build: str | None
    sample_id: np.ndarray

    @property
    def n_samples(self) -> int: ...

    @property
    def n_variants(self) -> int: ...

    @property
    def variants(self) -> pd.DataFrame: ...

    def has_field(self, name: str) -> bool: ...

    def contig_kind(self, contig: str) -> ContigKind: ...

    def is_par(self, contig: str, position: np.ndarray | int) -> np.ndarray: ...


@dataclass(frozen=True)
class Backend:
    """A registered backend: its name, the function that opens a source with it, and a one-line description."""

    name: str
    opener: Callable[..., GenotypeSet]
    description: str = ""


_BACKENDS: dict[str, Backend] = {}
_KERNELS: dict[tuple[str, str], Callable[..., Any]] = {}


def register_backend(name: str, opener: Callable[..., GenotypeSet], *, description: str = "") -> Backend:
    """Register (or replace) backend ``name``.

    ``opener(path, cache_dir=None, *, progress=False, reference_build=None, format_fields=(), **options)``
    opens a source and returns a :class:`GenotypeSet` whose ``backend`` attribute is ``name``; ``format_fields``
    (checked names of :data:`FORMAT_FIELDS`, in that order) are the FORMAT fields to keep beside GT.
    """
    if not name or name == ANY:
        raise ValueError(f"invalid backend name {name!r}")
    backend = Backend(name, opener, description)
    _BACKENDS[name] = backend
    return backend


def register_kernel(kernel: str, *, backend: str) -> Callable[[F], F]:
    """Decorator: register the function as kernel ``kernel`` of ``backend`` (or of :data:`ANY` backend).

    Registering a kernel name again for the same backend replaces the earlier function.
    """

    def decorate(fn: F) -> F:
        _KERNELS[(kernel, backend)] = fn
        return fn

    return decorate


def list_backends() -> list[str]:
    """Names of the built-in and the registered backends."""
    return sorted(set(BUILTIN_BACKENDS) | set(_BACKENDS))


def get_backend(name: str) -> Backend:
    """The backend ``name``, importing its module ``pmo_workbench.genotypes.backends.<name>`` on first use.

    Raises
    ------
    ConfigError
        No such backend (the message lists the known ones).
    """
    if name not in _BACKENDS and name in BUILTIN_BACKENDS:
        importlib.import_module(f"{__name__}.{name}")
    if name not in _BACKENDS:
        known = " or ".join(repr(n) for n in list_backends())
        raise ConfigError(f"unknown genotype backend {name!r} (use {known})", field="backend")
    return _BACKENDS[name]


def get_kernel(kernel: str, backend: str | GenotypeSet) -> Callable[..., Any]:
    """The function of kernel ``kernel`` for ``backend`` (a name, or a genotype set whose backend is meant).

    Raises
    ------
    ConfigError
        The backend is unknown, or neither it nor :data:`ANY` has the kernel (the message lists what it has).
    """
    name = backend if isinstance(backend, str) else getattr(backend, "backend", "embedded")
    get_backend(name)  # imports the backend's module, which registers its kernels
    fn = _KERNELS.get((kernel, name)) or _KERNELS.get((kernel, ANY))
    if fn is None:
        has = sorted(k for k, b in _KERNELS if b in (name, ANY))
        raise ConfigError(f"the {name} backend has no kernel {kernel!r} (it has: {', '.join(has)})",
                          field="backend")
    return fn


def list_kernels(backend: str) -> list[str]:
    """Names of the kernels ``backend`` provides (its own and those of :data:`ANY` backend)."""
    get_backend(backend)
    return sorted({k for k, b in _KERNELS if b in (backend, ANY)})


def check_format_fields(format_fields: Sequence[str] | str | None) -> tuple[str, ...]:
    """The FORMAT fields asked for, checked and in :data:`FORMAT_FIELDS` order (a single name may be a string).

    Raises
    ------
    ConfigError
        A name other than ``"DP"``, ``"GQ"`` and ``"AD"`` (the message names it).

    Examples
    --------
    >>> check_format_fields(["AD", "DP", "DP"])
    ('DP', 'AD')
    >>> check_format_fields("GQ")
    ('GQ',)
    """
    if format_fields is None:
        return ()
    names = [format_fields] if isinstance(format_fields, str) else list(format_fields)
    unknown = [str(n) for n in names if n not in FORMAT_FIELDS]
    if unknown:
        raise ConfigError(f"unknown FORMAT field {unknown[0]!r} in format_fields: a genotype set keeps "
                          f"{', '.join(FORMAT_FIELDS)} beside GT", field="format_fields")
    return tuple(f for f in FORMAT_FIELDS if f in names)


def open_genotypes(path: str | Path, backend: str = "embedded", cache_dir: str | Path | None = None, *,
                   progress: bool = False, reference_build: str | None = None,
                   format_fields: Sequence[str] = (), **options: Any) -> GenotypeSet:
    """Open a VCF/BCF (plain, gzip or BGZF) or PLINK 1 fileset with a backend, importing it into the cache on
    first use (later opens of the same content are instant).

    Parameters
    ----------
    path
        A ``.vcf``, ``.vcf.gz``/``.vcf.bgz``, ``.bcf`` (embedded backend only), or a PLINK ``.bed`` (or its
        prefix).
        Or a project folder (or cohort store folder): its cohort store of single-sample gVCFs added batch by
        batch (:mod:`pmo_workbench.genotypes.gvcf_store`), densified for QC.
    backend
        ``"embedded"`` (default: a VCF Zarr store, computed with numpy and compiled kernels, no Java) or
        ``"hail"`` (a Hail MatrixTable, computed on Spark), or another registered backend.
    cache_dir
        Where stores live; default ``$PMO_CACHE_DIR`` or ``~/.cache/pmo_workbench/genotypes``. The store of an
        input is keyed by the sha256 of its content.
    progress
        Show a progress bar while importing.
    reference_build
        ``"GRCh37"``/``"GRCh38"`` when the header does not say (used for PAR boundaries).
    format_fields
        FORMAT fields to keep beside GT, of ``"DP"``, ``"GQ"`` and ``"AD"`` (default none: GT only, as sgkit's
        ``vcf_to_zarr``; the QC track asks for DP and GQ). A field the input does not declare (as Integer) is
        simply absent (``has_field`` says so). A store in the cache that holds the fields asked for serves the
        request as it is; one that lacks a field the input has is imported again with the fields it held plus
        those asked for, and replaced atomically.
    **options
        Passed to the backend's opener (Hail: ``master``, ``tmp_dir``, ``spark_conf``).

    Raises
    ------
    InputError
        A missing or malformed input (file, line and field named); nothing is left in the cache.
    ConfigError
        An unknown backend, or an unknown name in ``format_fields``.

    Warns
    -----
    VcfWarning
        Readable oddities of the input (embedded backend), repeated on every open of the same store.

    Examples
    --------
    >>> h = open_genotypes(g.path, cache_dir=g.store_path.parent)  # the doctest set, opened again from its cache
    >>> (h.backend, h.n_samples, h.n_variants) == ("embedded", g.n_samples, g.n_variants)
    True
    >>> h.has_field("DP")  # the cached store was imported with DP, GQ and AD: it serves a GT-only open as it is
    True
    """
    fields = check_format_fields(format_fields)
    return get_backend(backend).opener(path, cache_dir, progress=progress, reference_build=reference_build,
                                       format_fields=fields, **options)


__all__ = ["ANY", "BUILTIN_BACKENDS", "FORMAT_FIELDS", "Backend", "GenotypeSet", "check_format_fields", "get_backend",
           "get_kernel", "list_backends", "list_kernels", "open_genotypes", "register_backend", "register_kernel"]
