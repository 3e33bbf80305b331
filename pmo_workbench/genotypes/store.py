"""The embedded backend's genotype store: :class:`Genotypes`, read in chunks, and :func:`open_store`.

A VCF/BCF or PLINK 1 fileset is imported once into a VCF Zarr store (see :mod:`.store_writer` for the layout)
in a cache keyed by the input's sha256, so later opens are instant; :func:`pmo_workbench.genotypes.open_genotypes`
opens it with ``backend="embedded"`` (the default). The store keeps the calls as int8 ``call_genotype``
[variants, samples, ploidy] (-1 missing, -2 no allele: the padding of a haploid call) and, for biallelic
diploid rows, a 2-bit copy (:mod:`.packed_calls`) that the QC counts read without decoding the calls.

Examples
--------
>>> g.n_samples, g.n_variants, g.has_field("DP")  # g: the small simulated set of the doctests
(40, 680, True)
>>> [(chunk.start, chunk.stop, chunk.gt.shape) for chunk in g.iter_chunks(chunk_size=500)]
[(0, 500, (500, 40, 2)), (500, 680, (180, 40, 2))]
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmo_workbench.genotypes import cache, packed_calls, store_arrays, unpacked_calls
from pmo_workbench.genotypes.contigs import ContigKind, classify_contig, compute_par_mask
from pmo_workbench.genotypes.vcf_header import VcfWarning
from pmo_workbench.numba_kernels.calls import fill_dosage

if TYPE_CHECKING:  # pandas is imported when the variant table is first read (an import does not need it)
    import pandas as pd


class _OnFirstUse:
    """A module imported on first use: zarr and numcodecs (0.1 s of CPU to import) are not needed by a QC pass on
    a store, which reads its arrays' files itself (:mod:`.store_arrays`)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


zarr = _OnFirstUse("zarr")
numcodecs = _OnFirstUse("numcodecs")

@dataclass
class GenotypeChunk:
    """A run of variants with all samples: ``gt`` int8 [v, samples, ploidy] (-1 missing, -2 no allele).

    ``start``/``stop`` are variant indices of the range read; with a ``variant_mask`` the arrays hold only
    the selected variants of that range (``index`` gives their variant indices). ``dp`` and ``gq``
    (int32/int16 [v, samples], -1 missing) are read on first use and are None when the input has no such field.
    """

    start: int
    stop: int
    index: np.ndarray
    variants: pd.DataFrame
    gt: np.ndarray
    _store: Genotypes = field(repr=False)
    _cache: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)

    def _load(self, name: str) -> np.ndarray | None:
        if name not in self._cache:
            arr = self._store._array(name)
            if arr is None:
                self._cache[name] = None
            else:
                data = arr[self.start:self.stop]
                if len(self.index) != self.stop - self.start:
                    data = data[self.index - self.start]
                self._cache[name] = data
        return self._cache[name]

    @property
    def dp(self) -> np.ndarray | None:
        """Read depth per call (int32, -1 missing), or None."""
        return self._load("call_DP")

    @property
    def gq(self) -> np.ndarray | None:
        """Genotype quality per call (int16, -1 missing), or None."""
        return self._load("call_GQ")

    @property
    def ad(self) -> np.ndarray | None:
        """Allelic depths per call (int32 [v, samples, alleles], -1 missing), or None."""
        return self._load("call_AD")


def compute_dosage(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele count (int8, -1 missing) and ploidy (int8, 0 when missing) of each call in ``gt``."""
    dosage = np.empty(gt.shape[:2], dtype=np.int8)
    ploidy = np.empty(gt.shape[:2], dtype=np.int8)
    fill_dosage(gt, dosage, ploidy)
    return dosage, ploidy


class Genotypes:
    """An opened genotype store (embedded backend): metadata in memory, calls read in chunks.

    Attributes
    ----------
    path : Path
        The source file (VCF/BCF, or the PLINK ``.bed``) this store was opened for.
    store_path : Path
        The VCF Zarr directory.
    source_format : str
        ``"vcf"`` or ``"plink"``.
    reference_build : str or None
        ``"GRCh37"``/``"GRCh38"`` from the header or given to :func:`open_store`; None if unknown.
    sample_id : np.ndarray of str
        Sample IDs in file order.
    backend : str
        ``"embedded"``: the registry's name of this backend (:mod:`pmo_workbench.genotypes.backends`).
    """

    backend = "embedded"

    def __init__(self, store_path: str | Path, *, path: str | Path | None = None,
                 reference_build: str | None = None) -> None:
        self.store_path = Path(store_path)
        # metadata from the JSON files; zarr opens the group when an array is first read through it
        self._zarr_group: zarr.Group | None = None
        gt_meta = store_arrays.read_meta(self.store_path, "call_genotype")
        if gt_meta is None or not (self.store_path / ".zgroup").is_file():
            self._group  # noqa: B018 - zarr's error for a folder that is not a store
        self._gt_shape = tuple(gt_meta["shape"]) if gt_meta else tuple(self._group["call_genotype"].shape)
        self.attrs: dict[str, Any] = store_arrays.read_attrs(self.store_path)
        self.path = Path(path) if path is not None else Path(self.attrs.get("source", ""))
        self.source_format: str = self.attrs["source_format"]
        self.reference_build: str | None = reference_build or self.attrs.get("reference_build")
        samples = store_arrays.read_string_list(self.store_path, "sample_id")  # (no pyarrow on the import path)
        self.sample_id: np.ndarray = np.asarray(samples if samples is not None else self._group["sample_id"][:],
                                                dtype=str)
        self._variants: pd.DataFrame | None = None
        self._has_packed = store_arrays.read_meta(self.store_path, packed_calls.PACKED_NAME) is not None
        self._packable: np.ndarray | None = None
        self._derived: dict[str, Any] = {}  # results computed from the calls (e.g. call counts), per object

    def __repr__(self) -> str:
        return (f"Genotypes({self.path.name!r}, {self.n_samples} samples x {self.n_variants} variants, "
                f"{self.source_format}, build={self.reference_build})")

    @property
    def _group(self) -> zarr.Group:
        """The store opened with zarr (on first use)."""
        if self._zarr_group is None:
            self._zarr_group = zarr.open_group(zarr.DirectoryStore(str(self.store_path)), mode="r")
        return self._zarr_group

    @property
    def call_genotype(self) -> zarr.Array:
        """The calls int8 [variants, samples, ploidy] (-1 missing, -2 no allele), a zarr array."""
        return self._group["call_genotype"]

    @property
    def _packed(self) -> zarr.Array | None:
        return self._array(packed_calls.PACKED_NAME) if self._has_packed else None

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self._gt_shape[1])

    @property
    def n_variants(self) -> int:
        """Number of variants (records)."""
        return int(self._gt_shape[0])

    @property
    def ploidy(self) -> int:
        """Width of the allele dimension of ``call_genotype`` (2 unless the input has polyploid calls)."""
        return int(self._gt_shape[2])

    def has_field(self, name: str) -> bool:
        """True when the store holds the FORMAT field ``name`` (``"DP"``, ``"GQ"`` or ``"AD"``): the input
        declares it as Integer and it was asked for (``format_fields``) by this or an earlier open."""
        return name in self.attrs.get("fields", [])

    @property
    def fields_not_imported(self) -> list[str]:
        """FORMAT fields of :data:`~.vcf_reader.FORMAT_FIELDS` the input declares as Integer that this store does
        not hold (not asked for when it was imported); ``open_genotypes(..., format_fields=...)`` adds them."""
        return list(self.attrs.get("fields_not_imported", []))

    def _array(self, name: str) -> zarr.Array | None:
        return self._group[name] if name in self._group else None

    def read_array(self, name: str, rows: tuple[int, int] | None = None) -> np.ndarray | None:
        """The array ``name`` of numbers or booleans, whole or its rows ``[start, stop)`` of ``rows`` (None when
        the store has none): its chunk files read straight (:mod:`.store_arrays`) where they allow, else through
        zarr."""
        got = store_arrays.read_array(self.store_path, name, rows)
        if got is None:
            arr = self._array(name)
            got = None if arr is None else arr[:] if rows is None else arr[rows[0]:rows[1]]
        return got

    @property
    def call_DP(self) -> zarr.Array | None:  # noqa: N802 - VCF Zarr name
        """Read depth [variants, samples] (int32, -1 missing), or None."""
        return self._array("call_DP")

    @property
    def call_GQ(self) -> zarr.Array | None:  # noqa: N802 - VCF Zarr name
        """Genotype quality [variants, samples] (int16, -1 missing), or None."""
        return self._array("call_GQ")

    @property
    def call_AD(self) -> zarr.Array | None:  # noqa: N802 - VCF Zarr name
        """Allelic depths [variants, samples, alleles] (int32, -1 missing), or None."""
        return self._array("call_AD")

    @property
    def variants(self) -> pd.DataFrame:
        """One row per variant in file order: contig, position, id, ref, alt, n_alleles, filters, qual."""
        if self._variants is None:
            import pandas as pd

            g = self._group
            contigs = np.asarray(self.attrs["contig_id"] or [""], dtype=object)
            self._variants = pd.DataFrame({
                "contig": contigs[g["variant_contig"][:].astype(np.int64)] if self.n_variants else
                np.zeros(0, dtype=object),
                "position": g["variant_position"][:].astype(np.int64),
                "id": g["variant_id"][:],
                "ref": g["variant_ref"][:],
                "alt": g["variant_alt"][:],
                "n_alleles": g["variant_n_alleles"][:].astype(np.int64),
                "filters": g["variant_filters"][:],
                "qual": g["variant_quality"][:].astype(np.float64),
            })
        return self._variants

    def contig_kind(self, contig: str) -> ContigKind:
        """``"autosome"``, ``"X"``, ``"Y"``, ``"MT"`` or ``"other"`` (``chr`` prefix and PLINK codes understood)."""
        return classify_contig(contig)

    def is_par(self, contig: str, position: np.ndarray | int) -> np.ndarray:
        """Boolean array: positions of ``contig`` inside PAR1/PAR2 of this store's build.

        With an unknown build the union of the GRCh37 and GRCh38 PARs is used.
        """
        return compute_par_mask(contig, np.atleast_1d(np.asarray(position)), self.reference_build)

    def iter_chunks(self, chunk_size: int = 20_000, *, variant_mask: np.ndarray | None = None
                    ) -> Iterator[GenotypeChunk]:
        """Yield :class:`GenotypeChunk` over runs of ``chunk_size`` variants (all samples).

        ``variant_mask`` (bool, one per variant) keeps only the selected variants; ranges with none selected
        are skipped.
        """
        if variant_mask is not None:
            variant_mask = np.asarray(variant_mask, dtype=bool)
            if variant_mask.shape != (self.n_variants,):
                raise ValueError(f"variant_mask must have {self.n_variants} elements, not {variant_mask.shape}")
        variants = self.variants
        tasks = []
        for start in range(0, self.n_variants, chunk_size):
            stop = min(start + chunk_size, self.n_variants)
            if variant_mask is None:
                tasks.append((start, stop, None))
                continue
            local = np.flatnonzero(variant_mask[start:stop])
            if len(local):
                tasks.append((start, stop, local))

        def read(task: tuple[int, int, np.ndarray | None]) -> np.ndarray:
            start, stop, local = task
            gt = self.call_genotype[start:stop]
            return gt if local is None or len(local) == stop - start else gt[local]

        # read (decompress) the next chunk in a background thread while the caller works on this one
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(read, tasks[0]) if tasks else None
            for k, task in enumerate(tasks):
                gt = future.result()
                if k + 1 < len(tasks):
                    future = pool.submit(read, tasks[k + 1])
                start, stop, local = task
                index = np.arange(start, stop) if local is None else local + start
                yield GenotypeChunk(start, stop, index, variants.iloc[index], gt, self)

    def read_gt_rows(self, rows: np.ndarray) -> np.ndarray:
        """The calls of the variants ``rows`` (ascending indices): int8 [len(rows), samples, ploidy].

        A chunk of ``call_genotype`` (10,000 variants x all samples, Blosc) holds a few rows the 2-bit copy
        lacks (multi-allelic sites); decoding the whole chunk for them cost a QC pass most of its time (at 2,500
        samples 50 MB per chunk). Blosc compresses a chunk in independent blocks, so only the blocks holding
        the rows are decompressed here (numcodecs' partial decompression); where the array's layout does not
        allow it, or numcodecs lacks it, zarr reads the rows.

        Examples
        --------
        >>> rows = np.array([3, 500, 679])
        >>> bool((g.read_gt_rows(rows) == g.call_genotype.get_orthogonal_selection((rows, slice(None)))).all())
        True
        """
        rows = np.asarray(rows, dtype=np.int64)
        arr = self.call_genotype
        partial = _blosc_partial()
        if (partial is None or not isinstance(arr.compressor, numcodecs.Blosc) or arr.filters
                or arr.dtype != np.int8 or arr.order != "C" or tuple(arr.chunks[1:]) != tuple(arr.shape[1:])
                or len(rows) == 0):
            return np.ascontiguousarray(arr.get_orthogonal_selection((rows, slice(None), slice(None))))
        per_row = int(np.prod(arr.shape[1:]))
        out = np.empty((len(rows), *arr.shape[1:]), np.int8)
        chunk_rows = arr.chunks[0]
        store = arr.chunk_store
        which = rows // chunk_rows
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "experimental" in numcodecs 0.15
            for c in np.unique(which).tolist():
                at = np.flatnonzero(which == c)
                try:
                    data = store[arr._chunk_key((c, 0, 0))]
                except KeyError:  # a chunk never written holds the fill value
                    out[at] = arr.fill_value
                    continue
                # rows starting in the same Blosc block are decoded by one call (each block once)
                local = rows[at] - c * chunk_rows
                block = (local * per_row) // _blosc_block_size(data)
                cuts = np.flatnonzero(np.diff(block)) + 1
                for group in np.split(np.arange(len(at)), cuts):
                    first, last = int(local[group[0]]), int(local[group[-1]])
                    if len(group) == 1:
                        partial(data, first * per_row, per_row, out[at[group[0]]])
                        continue
                    span = np.empty((last - first + 1, *arr.shape[1:]), np.int8)
                    partial(data, first * per_row, len(span) * per_row, span)
                    out[at[group]] = span[local[group] - first]
        return out

    def has_packed(self) -> bool:
        """True when the store holds the 2-bit copy of :mod:`.packed_calls` (stores written since reader 2)."""
        return self._has_packed

    def packable(self) -> np.ndarray:
        """Bool per variant: its calls are in the 2-bit copy (biallelic diploid calls only; see
        :mod:`.packed_calls`). All False when the store has no such copy."""
        if self._packable is None:
            if not self._has_packed:
                self._packable = np.zeros(self.n_variants, dtype=bool)
            else:
                ok = self.read_array(packed_calls.PACKABLE_NAME).astype(bool)
                # (variant_n_alleles, not the slow variant table)
                self._packable = packed_calls.in_packed_copy(ok, self.read_array("variant_n_alleles"))
        return self._packable

    def iter_packed(self, chunk_size: int = 20_000, *, prefetch: bool = True, reuse: bool = False,
                    rows: tuple[int, int] | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, packed)`` over runs of variants: uint8 [v, row bytes] 2-bit calls (rows not
        :meth:`packable` are zero). The next run is decompressed in a background thread, unless ``prefetch`` is
        False (a caller whose work per run dwarfs the decompression saves a run's memory: at 2,500 samples
        12.5 MB).

        With ``reuse`` the runs are decompressed into buffers used in turn (two with ``prefetch``, else one), so
        a yielded array is overwritten once the next run is taken (fresh memory for each run costs its page
        faults: at 2,500 samples x 1M variants 0.3 s of system time, a sixth of plink2's whole ``--score``).

        ``rows=(first, last)``: the runs cover the variants ``first <= v < last`` only (a pass in batches).
        """
        if self._packed is None:
            raise ValueError("this store has no packed genotype copy")
        first, last = (0, self.n_variants) if rows is None else rows
        ranges = [(a, min(a + chunk_size, last)) for a in range(first, last, chunk_size)]
        arr = self._packed
        buffers = [np.empty((min(chunk_size, last - first), arr.shape[1]), arr.dtype)
                   for _ in range(2 if prefetch else 1)] if reuse and ranges else []

        def read(k: int) -> np.ndarray:
            start, stop = ranges[k]
            if not buffers:
                return arr[start:stop]
            out = buffers[k % len(buffers)][:stop - start]
            arr.get_basic_selection(slice(start, stop), out=out)
            return out

        if not prefetch:
            for k, (start, stop) in enumerate(ranges):
                yield start, stop, read(k)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(read, 0) if ranges else None
            for k, (start, stop) in enumerate(ranges):
                data = future.result()
                if k + 1 < len(ranges):
                    future = pool.submit(read, k + 1)
                yield start, stop, data

    def dosage_chunks(self, chunk_size: int = 20_000, variant_mask: np.ndarray | None = None,
                      biallelic_only: bool = True) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
        """Yield ``(variants, dosage, ploidy)``: ALT allele counts int8 [v, samples] (-1 missing; 0/1 for
        haploid calls) and call ploidy int8 [v, samples] (0 when missing).

        With ``biallelic_only`` (default) variants with more than one ALT allele are skipped; otherwise the
        dosage counts all non-reference alleles.
        """
        mask = np.ones(self.n_variants, dtype=bool) if variant_mask is None else np.asarray(variant_mask, bool)
        if biallelic_only:
            mask = mask & (self.variants["n_alleles"].to_numpy() == 2)
        if self.has_packed() and mask.any():
            # rows in the 2-bit copy need no decoding of call_genotype; a run with other rows reads it
            variants = self.variants
            packable = self.packable()
            for start, stop, packed in self.iter_packed(chunk_size):
                local = np.flatnonzero(mask[start:stop])
                if len(local) == 0:
                    continue
                if packable[start:stop][local].all():
                    rows = packed if len(local) == stop - start else packed[local]
                    dosage, ploidy = packed_calls.unpack_dosage(rows, self.n_samples)
                else:
                    dosage, ploidy = compute_dosage(self.call_genotype[start:stop][local])
                yield variants.iloc[local + start], dosage, ploidy
            return
        for chunk in self.iter_chunks(chunk_size, variant_mask=mask):
            dosage, ploidy = compute_dosage(chunk.gt)
            yield chunk.variants, dosage, ploidy


@functools.cache
def _blosc_partial():  # -> the partial decompression of numcodecs.blosc, or None
    """numcodecs' Blosc partial decompression (``blosc_getitem``); None where numcodecs no longer has it (the
    callers then decode whole chunks)."""
    import numcodecs.blosc

    fn = getattr(numcodecs.blosc, "_decompress_partial", None) or getattr(numcodecs.blosc, "decompress_partial", None)
    if fn is None:
        return None
    return getattr(fn, "__wrapped__", fn)  # the function under the deprecation wrapper, if it has one


def _blosc_block_size(data: bytes) -> int:
    """The block size of a Blosc 1 frame (bytes 8-11 of its 16-byte header, little-endian)."""
    return max(int.from_bytes(bytes(data[8:12]), "little"), 1)


def _read_attrs(store: Path) -> dict[str, Any]:
    return store_arrays.read_attrs(store)  # the .zattrs JSON zarr reads (without importing zarr)


def missing_fields(attrs: dict[str, Any], format_fields: tuple[str, ...]) -> list[str]:
    """The fields of ``format_fields`` a store (its attributes) lacks although its input has them: those it
    would gain by an import with them. A store without ``fields_not_imported`` (imported before fields were
    chosen, or with all of them) lacks none.

    Examples
    --------
    >>> missing_fields({"fields": ["DP"], "fields_not_imported": ["GQ", "AD"]}, ("DP", "GQ"))
    ['GQ']
    >>> missing_fields({"fields": ["DP", "GQ", "AD"]}, ("DP", "GQ"))
    []
    """
    return [f for f in format_fields if f in attrs.get("fields_not_imported", [])]


def open_store(path: str | Path, cache_dir: str | Path | None = None, *, progress: bool = False,
               reference_build: str | None = None, format_fields: tuple[str, ...] = ()) -> Genotypes:
    """The embedded backend's opener: a VCF/BCF or PLINK 1 fileset as a :class:`Genotypes`, imported into a VCF
    Zarr store in the cache on first use (parameters, errors and warnings of
    :func:`pmo_workbench.genotypes.open_genotypes`, which calls it for ``backend="embedded"``).

    ``format_fields`` (checked names, of ``DP``, ``GQ``, ``AD``) are the FORMAT fields to keep beside GT. The
    cached store of the input serves every request whose fields it holds (or its input lacks); a request for a
    field it lacks and its input has imports the input again with the union of the store's and the requested
    fields, and that store replaces the old one atomically (:func:`.cache.replace_store_atomically`, under
    :func:`.cache.lock_store`). PLINK filesets have no FORMAT fields: ``format_fields`` is then moot.

    Examples
    --------
    >>> open_store(g.path, g.store_path.parent).store_path == g.store_path  # found in the cache by content
    True
    """
    path = Path(path)
    format_fields = tuple(format_fields)
    # a VCF not seen before is hashed as the import reads it (no second pass over the file for its cache key)
    plink, inputs, cache_path, digest = cache.locate_source(path, cache_dir, defer_hash=True)
    gathered: list[unpacked_calls.SparseCalls | None] = []  # each import's rows outside the 2-bit copy

    def importer(fields: tuple[str, ...]):
        def build(tmp: Path) -> str:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if plink is not None:
                    from pmo_workbench.genotypes.plink_reader import import_plink

                    import_plink(plink[0], tmp)
                    read = {}
                else:
                    from pmo_workbench.genotypes.vcf_reader import import_vcf

                    read = import_vcf(path, tmp, progress=progress, fields=fields, checksum=digest is None,
                                      on_unpacked=gathered.append)
            key = digest or read.get("source_sha256") or cache.compute_sha256(inputs)
            group = zarr.open_group(zarr.DirectoryStore(str(tmp)), mode="r+")
            group.attrs.update({"source": str(path), "source_sha256": key,
                                "reader_version": cache.READER_VERSION,
                                "warnings": [str(w.message) for w in caught if issubclass(w.category, VcfWarning)]})
            for w in caught:
                if not issubclass(w.category, VcfWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return key
        return build

    built = False
    if digest is None:
        store, digest = cache.build_store_by_content(inputs, cache_path, importer(format_fields))
        built = True
    else:
        store = cache.store_path_for(cache_path, digest)
    if not cache.is_complete(store):
        cache.build_store_atomically(store, importer(format_fields))
        built = True
    if missing_fields(_read_attrs(store), format_fields):  # (another process may have built it without them)
        with cache.lock_store(store):
            attrs = _read_attrs(store)  # as the last upgrade (if any) left it
            if missing_fields(attrs, format_fields):
                union = tuple(f for f in ("DP", "GQ", "AD") if f in format_fields or f in attrs.get("fields", []))
                cache.replace_store_atomically(store, importer(union))
                built = True
    g = Genotypes(store, path=path, reference_build=reference_build)
    if built and g.ploidy == 2:  # the QC counts' copy of the rows outside the 2-bit copy (the store stays as it is)
        # (written from the rows the last import gathered)
        unpacked_calls.load_unpacked_calls(g, gathered[-1] if gathered else None)
    for message in g.attrs.get("warnings", []):
        warnings.warn(message, VcfWarning, stacklevel=3)  # the caller of open_genotypes
    return g
