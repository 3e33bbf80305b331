"""The Hail backend: the one module that imports and initialises Hail, and the cached MatrixTable it reads.

:func:`init_hail` starts Hail once per process (Spark master ``local[*]`` by default, or a cluster URL from
``pmo.yaml``), binds the driver to 127.0.0.1 unless told otherwise, silences only Hail's Java-version warning
and writes Hail's log into the temporary directory, never the working directory.

:func:`open_hail_genotypes` imports a VCF (bgzipped or plain gzip) or PLINK 1 fileset once into a MatrixTable
under ``cache_dir``, keyed by the input's sha256 (the same key as the embedded store), written to a temporary
directory and renamed into place when complete. It returns a :class:`HailGenotypes` with the metadata of the
embedded :class:`~pmo_workbench.genotypes.store.Genotypes` (``sample_id``, ``variants`` in file order,
``contig_kind``, ``is_par``, ...) and the MatrixTable as ``mt``; the Hail backend's kernels
(:mod:`pmo_workbench.genotypes.backends.hail`) compute the methods' counts from it with Hail's own methods.

Hail keeps rows sorted by locus and every keyed table sorted by its key (a ``cols()`` table by sample ID, so
``tsk_10`` comes before ``tsk_2``). Results therefore leave Hail through :func:`collect_rows` (file order, by the
row field ``file_order``), :func:`collect_cols` (column order, by a column index) and
:meth:`HailGenotypes.select_variants` (a file-order variant mask applied through ``variant_index``).

As in the embedded reader, a half-missing call (``0/.``, ``./1``; e.g. a male on non-PAR chrX padded to two
alleles) is read as a haploid call, not as missing: Hail would otherwise drop it.

Examples
--------
>>> g = open_hail_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz", "/tmp/pmo-cache")  # doctest: +SKIP
>>> g.n_samples, g.n_variants, g.mt.count()  # doctest: +SKIP
(100, 346, (346, 100))
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.genotypes import cache
from pmo_workbench.genotypes.contigs import (
    PAR_INTERVALS,
    ContigKind,
    classify_contig,
    compute_par_mask,
    guess_build,
)
from pmo_workbench.genotypes.vcf_header import parse_vcf_header
from pmo_workbench.genotypes.vcf_source import detect_compression

HAIL_CACHE_VERSION = "2"
"""Bumped whenever the cached MatrixTable's layout or the import's semantics change."""

PADDED_CALL_REWRITE = ("\\t(?:([0-9]+)[/|]\\.|\\.[/|]([0-9]+))(?=[:\\t]|$)", "\t$1$2")
"""Java regex applied to each VCF line on import: ``0/.`` and ``./0`` (the GT field) become haploid ``0``."""

VARIANT_INDEX_FILE = "variant_index.npy"
"""In the cache: the file-order index of each MatrixTable row (see :attr:`HailGenotypes.variant_index`)."""

_JAVA_WARNING = r"Hail was built and tested with Java"
_ENTRY_FIELDS = {"GT": None, "DP": "int32", "GQ": "int32", "AD": "array<int32>"}
_LOOPBACK = "127.0.0.1"
_session: dict[str, Any] | None = None


def init_hail(master: str | None = None, tmp_dir: str | Path | None = None, *, quiet: bool = True,
              spark_conf: dict[str, str] | None = None, driver_host: str = _LOOPBACK) -> Any:
    """Initialise Hail once per process and return the ``hail`` module (later calls return it directly).

    Parameters
    ----------
    master
        Spark master URL: ``"local[*]"`` (default), ``"local[2]"``, or a cluster such as
        ``"spark://10.0.0.5:7077"``.
    tmp_dir
        Hail's temporary directory (and where its log goes); default ``$TMPDIR/pmo_hail``. On a cluster it
        must be visible to every worker.
    quiet
        Suppress Hail's banner and Spark's progress bars.
    spark_conf
        Extra Spark properties; they override the defaults here (e.g. ``spark.driver.host`` on a cluster).
    driver_host
        Address the driver binds to and advertises; 127.0.0.1 keeps Spark on loopback. On a real cluster set it
        to an address the workers can reach.

    Raises
    ------
    ConfigError
        Hail is already running in this process with another master (Hail can only be initialised once).

    Examples
    --------
    >>> hl = init_hail("local[2]")  # doctest: +SKIP
    >>> hl.eval(hl.literal(1) + 1)  # doctest: +SKIP
    2
    """
    global _session
    if _session is not None:
        if master is not None and master != _session["master"]:
            raise ConfigError(f"Hail already runs with master {_session['master']!r} in this process; it can be "
                              f"initialised only once (asked for {master!r})", field="backend.spark_master")
        return _session["hl"]
    master = master or "local[*]"
    tmp = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.gettempdir()) / "pmo_hail"
    tmp.mkdir(parents=True, exist_ok=True)
    conf = {"spark.driver.host": driver_host, "spark.driver.bindAddress": driver_host,
            "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
    conf.update({str(k): str(v) for k, v in (spark_conf or {}).items()})
    if conf["spark.driver.host"] == _LOOPBACK:
        os.environ.setdefault("SPARK_LOCAL_IP", _LOOPBACK)
    warnings.filterwarnings("ignore", message=_JAVA_WARNING, category=UserWarning)
    import hail as hl
    from hail.utils.java import Env

    if Env._hc is None:
        log = tmp / f"hail-{os.getpid()}.log"
        hl.init(master=master, tmp_dir=str(tmp), local_tmpdir=str(tmp), log=str(log), quiet=quiet,
                spark_conf=conf, app_name="pmo_workbench")
    _session = {"hl": hl, "master": master, "tmp_dir": tmp}
    return hl


def init_hail_from_config(backend: Any) -> Any:
    """:func:`init_hail` with a project's ``backend`` settings (``pmo.yaml``: spark_master, spark_conf, tmp_dir).

    Examples
    --------
    >>> from pmo_workbench.project import load_project  # doctest: +SKIP
    >>> hl = init_hail_from_config(load_project("my-project").config.backend)  # doctest: +SKIP
    """
    return init_hail(backend.spark_master, backend.tmp_dir, spark_conf=dict(backend.spark_conf))


def running_master() -> str | None:
    """The Spark master of the Hail session of this process, or None when Hail has not been initialised here.

    Examples
    --------
    >>> running_master() is None or running_master().startswith(("local", "spark://", "yarn"))
    True
    """
    return None if _session is None else str(_session["master"])


def stop_hail() -> None:
    """Stop the Hail session started by :func:`init_hail` (a new one cannot be started in this process)."""
    global _session
    if _session is not None:
        _session["hl"].stop()
        _session = None


class HailGenotypes:
    """A genotype data set imported into a cached Hail MatrixTable (backend ``"hail"``).

    Attributes
    ----------
    path : Path
        The source file (VCF, or the PLINK ``.bed``).
    store_path : Path
        The cache directory holding ``matrix.mt``, ``variants.parquet``, ``variant_index.npy`` and ``meta.json``.
    source_format : str
        ``"vcf"`` or ``"plink"``.
    reference_build : str or None
        ``"GRCh37"``/``"GRCh38"`` from the header or given to the opener; None if unknown (PARs of both builds).
    sample_id : np.ndarray of str
        Sample IDs in file order (the MatrixTable's column order).
    backend : str
        ``"hail"``: the registry's name of this backend (:mod:`pmo_workbench.genotypes.backends`).
    """

    backend = "hail"

    def __init__(self, store_path: str | Path, *, path: str | Path | None = None,
                 reference_build: str | None = None) -> None:
        self.store_path = Path(store_path)
        self.meta: dict[str, Any] = json.loads((self.store_path / "meta.json").read_text())
        self.path = Path(path) if path is not None else Path(self.meta["source"])
        self.source_format: str = self.meta["source_format"]
        self.reference_build: str | None = reference_build or self.meta.get("reference_build")
        self.reference_genome: str = self.meta["reference_genome"]
        self.sample_id: np.ndarray = np.asarray(self.meta["sample_id"], dtype=str)
        self.original_contig: dict[str, str] = self.meta["original_contig"]
        self._variants: pd.DataFrame | None = None
        self._variant_index: np.ndarray | None = None
        self._mt: Any = None

    def __repr__(self) -> str:
        return (f"HailGenotypes({self.path.name!r}, {self.n_samples} samples x {self.n_variants} variants, "
                f"{self.source_format}, reference={self.reference_genome})")

    @property
    def mt(self) -> Any:
        """The MatrixTable (rows keyed by locus/alleles; entries GT and DP/GQ/AD when present).

        Row field ``file_order`` (tuple of int64) sorts the rows into file order.
        """
        if self._mt is None:
            hl = init_hail() if _session is None else _session["hl"]
            self._mt = hl.read_matrix_table(str(self.store_path / "matrix.mt"))
        return self._mt

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return len(self.sample_id)

    @property
    def n_variants(self) -> int:
        """Number of variants (records)."""
        return int(self.meta["n_variants"])

    def has_field(self, name: str) -> bool:
        """True when the MatrixTable holds the entry field ``name`` (``"DP"``, ``"GQ"`` or ``"AD"``): the input has
        it as Integer and it was asked for (``format_fields``) by this or an earlier open."""
        return name in self.meta["fields"]

    @property
    def fields_not_imported(self) -> list[str]:
        """Entry fields of ``DP``, ``GQ``, ``AD`` the input has that the MatrixTable does not keep (not asked
        for when it was imported)."""
        return list(self.meta.get("fields_not_imported", []))

    @property
    def variants(self) -> pd.DataFrame:
        """One row per variant in file order: contig, position, id, ref, alt, n_alleles, filters, qual.

        ``filters`` joins a record's FILTER names with ``;`` in sorted order (Hail keeps them as a set).
        """
        if self._variants is None:
            self._variants = pd.read_parquet(self.store_path / "variants.parquet")
        return self._variants

    @property
    def variant_index(self) -> np.ndarray:
        """int64 [n_variants]: the file-order index (row of :attr:`variants`) of each MatrixTable row, in the
        MatrixTable's (locus) order."""
        if self._variant_index is None:
            self._variant_index = np.load(self.store_path / VARIANT_INDEX_FILE)
        return self._variant_index

    def select_variants(self, variant_mask: np.ndarray | None = None) -> Any:
        """The MatrixTable restricted to the variants selected by a file-order boolean mask, with the row field
        ``variant_index`` (int64, the row of :attr:`variants`).

        Examples
        --------
        >>> autosomal = (g.variants["contig"] != "X").to_numpy()  # doctest: +SKIP
        >>> g.select_variants(autosomal).count_rows() == autosomal.sum()  # doctest: +SKIP
        True
        """
        hl = _session["hl"] if _session is not None else init_hail()
        mt = self.mt.add_row_index("_pmo_key_row")
        index = hl.literal(self.variant_index.tolist())
        mt = mt.annotate_rows(variant_index=index[hl.int32(mt._pmo_key_row)])
        if variant_mask is not None:
            mask = np.asarray(variant_mask, dtype=bool)
            if mask.shape != (self.n_variants,):
                raise ValueError(f"variant_mask must have {self.n_variants} elements, not {mask.shape}")
            if not mask.all():
                keep = hl.literal(mask[self.variant_index].tolist())
                mt = mt.filter_rows(keep[hl.int32(mt._pmo_key_row)])
        return mt.drop("_pmo_key_row")

    def contig_kind(self, contig: str) -> ContigKind:
        """``"autosome"``, ``"X"``, ``"Y"``, ``"MT"`` or ``"other"`` (``chr`` prefix and PLINK codes understood)."""
        return classify_contig(contig)

    def is_par(self, contig: str, position: np.ndarray | int) -> np.ndarray:
        """Boolean array: positions of ``contig`` inside PAR1/PAR2 of this data set's build."""
        return compute_par_mask(contig, np.atleast_1d(np.asarray(position)), self.reference_build)


def _read_vcf_head(path: Path) -> tuple[str, list[str], str | None]:
    """(compression, header lines, first record's CHROM or None)."""
    with open(path, "rb") as fh:
        head = fh.read(32)
    compression = detect_compression(head)
    opener = gzip.open if compression != "none" else open
    lines: list[str] = []
    first: str | None = None
    with opener(path, "rt", errors="replace") as fh:
        if fh.read(3) == "BCF":
            raise InputError("the Hail backend reads VCF text, not BCF; convert it with "
                             "`bcftools view -Oz -o out.vcf.gz` or use the embedded backend", file=path)
        fh.seek(0)
        for line in fh:
            if line.startswith("#"):
                lines.append(line.rstrip("\r\n"))
                continue
            first = line.split("\t", 1)[0]
            break
    return compression, lines, first


def choose_reference(contig_names: list[str], build: str | None, *, plink: bool = False
                     ) -> tuple[str, dict[str, str]]:
    """Hail reference genome and contig recoding for data with these contig names and (guessed) build.

    ``chr``-prefixed names or a GRCh38 build give GRCh38, otherwise GRCh37. Names are recoded only when their
    style differs from the genome's (``1`` -> ``chr1`` and ``MT`` -> ``chrM`` for GRCh38; ``chr1`` -> ``1``
    and ``chrM`` -> ``MT`` for GRCh37), so the recoding can be inverted; with ``plink`` PLINK's numeric
    codes 23-26 are recoded to X, Y, X (PAR) and MT as well.

    Examples
    --------
    >>> choose_reference(["1", "X"], "GRCh38")[1]["X"]
    'chrX'
    >>> choose_reference(["chr20"], None)
    ('GRCh38', {})
    """
    prefixed = any(c[:3].lower() == "chr" for c in contig_names)
    reference = build if build in ("GRCh37", "GRCh38") else ("GRCh38" if prefixed else "GRCh37")
    names = [str(i) for i in range(1, 23)] + ["X", "Y"]
    recoding: dict[str, str] = {}
    if reference == "GRCh38" and not prefixed:
        recoding.update({n: f"chr{n}" for n in names})
        recoding["MT"] = "chrM"
    elif reference == "GRCh37" and prefixed:
        recoding.update({f"chr{n}": n for n in names})
        recoding["chrM"] = "MT"
    if plink:
        mt_name, x, y = ("chrM", "chrX", "chrY") if reference == "GRCh38" else ("MT", "X", "Y")
        recoding.update({"23": x, "24": y, "25": x, "26": mt_name})
    return reference, recoding


def _custom_reference(hl: Any, name: str, lengths: dict[str, int], build: str | None) -> Any:
    """A reference genome with exactly the data's contigs and lengths (for contigs GRCh37/38 lack)."""
    contigs = list(lengths)
    try:
        return hl.get_reference(name)
    except KeyError:
        pass
    kinds = {c: classify_contig(c) for c in contigs}
    par = []
    for c in contigs:
        if kinds[c] in ("X", "Y"):
            for b in ([build] if build in PAR_INTERVALS else list(PAR_INTERVALS)):
                par += [(c, lo, hi + 1) for lo, hi in PAR_INTERVALS[b][kinds[c]]]
    return hl.ReferenceGenome(
        name, contigs, {c: int(lengths[c]) for c in contigs},
        x_contigs=[c for c in contigs if kinds[c] == "X"], y_contigs=[c for c in contigs if kinds[c] == "Y"],
        mt_contigs=[c for c in contigs if kinds[c] == "MT"], par=par)


def _import_vcf(hl: Any, path: Path, digest: str, build_hint: str | None, *, attempt: int = 0,
                fields: tuple[str, ...] = ()) -> tuple[Any, dict[str, Any]]:
    """Import with the standard genome of the (guessed) build (attempt 0), the other build (1, when the
    build was only guessed from contig names), or a reference made of the data's own contigs (2); entries GT
    and the FORMAT ``fields`` asked for (of DP, GQ, AD, where the input has them as Integer)."""
    compression, lines, first = _read_vcf_head(path)
    header = parse_vcf_header(lines, path)
    build = build_hint or guess_build(header.contig_lengths, header.text)
    contigs = list(header.contig_order) or ([first] if first else [])
    if first and first not in contigs:
        contigs.append(first)
    reference, recoding = choose_reference(contigs, build)
    if attempt == 1:
        reference, recoding = choose_reference(contigs, "GRCh38" if reference == "GRCh37" else "GRCh37")
    options = {"force_bgz": True} if compression == "bgzf" else {"force": compression == "gzip"}
    if attempt == 2:
        scan = hl.import_vcf(str(path.resolve()), reference_genome=None, drop_samples=True, **options).rows()
        seen = scan.aggregate(hl.agg.group_by(scan.locus.contig, hl.agg.max(scan.locus.position)))
        lengths = {c: max(int(header.contig_lengths.get(c, 0)), int(seen[c])) for c in contigs if c in seen}
        lengths.update({c: max(int(header.contig_lengths.get(c, 0)), int(n)) for c, n in seen.items()})
        reference, recoding = f"pmo_{digest[:16]}", {}
        _custom_reference(hl, reference, lengths, build)
    mt = hl.import_vcf(str(path.resolve()), reference_genome=reference, contig_recoding=recoding or None,
                       array_elements_required=False, find_replace=PADDED_CALL_REWRITE,
                       _create_row_uids=True, **options)
    mt = mt.rename({"__row_uid": "file_order"})
    present = [name for name, dtype in _ENTRY_FIELDS.items()
               if name in mt.entry and (dtype is None or str(mt[name].dtype) == dtype)]
    entry = {name: mt[name] for name in present if name == "GT" or name in fields}
    mt = mt.select_entries(**entry).select_rows("rsid", "qual", "filters", "file_order")
    info = {"reference_build": build, "reference_genome": reference, "recoding": recoding,
            "fields": [f for f in entry if f != "GT"], "source_format": "vcf"}
    skipped = [f for f in present if f != "GT" and f not in entry]
    if skipped:  # written only when not empty: a cache without it (written before fields were chosen) has all
        info["fields_not_imported"] = skipped
    return mt, info


def _import_plink(hl: Any, files: list[Path], build_hint: str | None) -> tuple[Any, dict[str, Any]]:
    """PLINK 1 as the embedded reader sees it: male calls on non-PAR X/Y and all MT calls are haploid
    (a heterozygous one is missing)."""
    bim = pd.read_csv(files[1], sep=r"\s+", header=None, usecols=[0, 3], names=["contig", "position"],
                      dtype={"contig": str, "position": np.int64})
    contigs = list(pd.unique(bim["contig"]))
    reference, recoding = choose_reference(contigs, build_hint, plink=True)
    kinds = bim["contig"].map(classify_contig).to_numpy()
    haploid_rows = np.zeros(len(bim), dtype=bool)
    for contig in contigs:
        sel = (bim["contig"] == contig).to_numpy()
        if classify_contig(contig) in ("X", "Y"):
            haploid_rows[sel] = ~compute_par_mask(contig, bim["position"].to_numpy()[sel], build_hint)
    mt = hl.import_plink(*(str(f.resolve()) for f in files), reference_genome=reference,
                         contig_recoding=recoding or None, quant_pheno=True, missing="-9")
    mt = mt.add_row_index("pmo_row")
    mt = mt.annotate_rows(file_order=hl.tuple([hl.int64(0), mt.pmo_row]), qual=hl.missing(hl.tfloat64),
                          filters=hl.missing(hl.tset(hl.tstr)))
    if haploid_rows.any() or (kinds == "MT").any():
        sex_rows = hl.literal(haploid_rows.tolist())[hl.int32(mt.pmo_row)]
        all_rows = hl.literal((kinds == "MT").tolist())[hl.int32(mt.pmo_row)]
        male = hl.is_defined(mt.is_female) & ~mt.is_female
        haploid = hl.or_missing(mt.GT[0] == mt.GT[1], hl.call(mt.GT[0]))
        mt = mt.annotate_entries(GT=hl.if_else(all_rows | (sex_rows & male), haploid, mt.GT))
    mt = mt.select_rows("rsid", "qual", "filters", "file_order").select_entries("GT")
    info = {"reference_build": build_hint, "reference_genome": reference, "recoding": recoding,
            "fields": [], "source_format": "plink"}
    return mt, info


def _plink_variants(bim_path: Path) -> pd.DataFrame:
    """The embedded reader's variant table of a ``.bim`` (ID ``.`` -> ``""``, A2 = REF, A1 = ALT)."""
    bim = pd.read_csv(bim_path, sep=r"\s+", header=None, names=["contig", "id", "cm", "position", "a1", "a2"],
                      dtype=str)
    missing_alt = bim["a1"].isin(["0", "."]).to_numpy()
    return pd.DataFrame({
        "contig": bim["contig"].to_numpy(dtype=object),
        "position": bim["position"].astype(np.int64).to_numpy(),
        "id": np.where(bim["id"] == ".", "", bim["id"]).astype(object),
        "ref": bim["a2"].to_numpy(dtype=object),
        "alt": np.where(missing_alt, "", bim["a1"]).astype(object),
        "n_alleles": np.where(missing_alt, 1, 2).astype(np.int64),
        "filters": np.full(len(bim), ".", dtype=object),
        "qual": np.full(len(bim), np.nan),
    })


def _variants_table(rows: pd.DataFrame, original: dict[str, str]) -> pd.DataFrame:
    alleles = rows["alleles"]
    filters = rows["filters"].map(lambda f: "." if f is None or f is pd.NA else (";".join(sorted(f)) or "PASS"))
    contig = rows["contig"].map(lambda c: original.get(c, c))
    return pd.DataFrame({
        "contig": contig.to_numpy(dtype=object),
        "position": rows["position"].to_numpy(dtype=np.int64),
        "id": rows["rsid"].fillna("").to_numpy(dtype=object),
        "ref": alleles.map(lambda a: a[0]).to_numpy(dtype=object),
        "alt": alleles.map(lambda a: ",".join(a[1:])).to_numpy(dtype=object),
        "n_alleles": alleles.map(len).to_numpy(dtype=np.int64),
        "filters": filters.to_numpy(dtype=object),
        # stored as float32, as in the embedded store (VCF Zarr's variant_quality)
        "qual": pd.to_numeric(rows["qual"], errors="coerce").to_numpy(np.float32, na_value=np.nan).astype(np.float64),
    })


def hl_int64(expr: Any) -> Any:
    """``hl.int64(expr)`` (Hail imported lazily)."""
    return _session["hl"].int64(expr) if _session is not None else init_hail().int64(expr)


def collect_rows(mt: Any, **fields: Any) -> pd.DataFrame:
    """Row fields of ``mt`` (plus contig, position, alleles) as pandas, sorted into file order.

    Examples
    --------
    >>> collect_rows(g.mt, an=hl.agg.count_where(hl.is_defined(g.mt.GT)))  # doctest: +SKIP
    """
    df, order = _collect_rows_in_key_order(mt, **fields)
    return df.iloc[order].reset_index(drop=True)


def _collect_rows_in_key_order(mt: Any, **fields: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of :func:`collect_rows` in the MatrixTable's (locus) order, and the permutation into file
    order (``df.iloc[order]``)."""
    ht = (mt.annotate_rows(**fields) if fields else mt).rows().key_by()
    ht = ht.select(contig=ht.locus.contig, position=ht.locus.position, alleles=ht.alleles,
                   _order0=hl_int64(ht.file_order[0]), _order1=hl_int64(ht.file_order[1]),
                   **{k: ht[k] for k in fields})
    df = ht.to_pandas()
    order = np.lexsort((df["_order1"].to_numpy(np.int64), df["_order0"].to_numpy(np.int64)))
    return df.drop(columns=["_order0", "_order1"]), order


def collect_cols(mt: Any, **fields: Any) -> pd.DataFrame:
    """Column fields of ``mt`` (``s`` plus ``fields``, e.g. aggregations over the entries) as pandas, in column
    (file) order.

    ``mt.cols()`` is a table keyed by the sample ID and so sorted by it (``tsk_10`` before ``tsk_2``); the rows
    are put back into column order by a column index.

    Examples
    --------
    >>> collect_cols(g.mt, n_called=hl.agg.count_where(hl.is_defined(g.mt.GT)))  # doctest: +SKIP
    """
    mt = (mt.annotate_cols(**fields) if fields else mt).add_col_index("_pmo_col")
    ht = mt.cols().key_by()
    ht = ht.select("s", "_pmo_col", **{k: ht[k] for k in fields})
    df = ht.to_pandas()
    df = df.sort_values("_pmo_col", kind="stable").drop(columns="_pmo_col")
    return df.reset_index(drop=True)


def open_hail_genotypes(path: str | Path, cache_dir: str | Path | None = None, *, progress: bool = False,
                        reference_build: str | None = None, master: str | None = None,
                        tmp_dir: str | Path | None = None, spark_conf: dict[str, str] | None = None,
                        format_fields: tuple[str, ...] = ()) -> HailGenotypes:
    """Open a VCF (plain, gzip or BGZF) or PLINK 1 fileset as a cached Hail MatrixTable.

    Parameters
    ----------
    path
        A ``.vcf``, ``.vcf.gz``/``.vcf.bgz``, or a PLINK ``.bed`` (or its prefix). BCF is not read by Hail.
    cache_dir
        Where stores live; default ``$PMO_CACHE_DIR`` or ``~/.cache/pmo_workbench/genotypes``. On a cluster it
        must be a shared filesystem every worker sees at the same path.
    progress
        Accepted for signature parity with the embedded backend (Spark reports its own progress).
    reference_build
        ``"GRCh37"``/``"GRCh38"`` when the header does not say (chooses Hail's reference and the PARs).
    master, tmp_dir, spark_conf
        Passed to :func:`init_hail` when Hail is not yet running.
    format_fields
        Entry fields to keep beside GT, of ``DP``, ``GQ``, ``AD`` (where the input has them). As in the embedded
        backend, a cached MatrixTable holding them serves the request; one lacking a field the input has is
        imported again with the union of its fields and those asked for, and replaced atomically.

    Raises
    ------
    InputError
        A missing input, a BCF, or one Hail cannot parse (nothing is left in the cache).

    Examples
    --------
    >>> g = open_hail_genotypes("../shared/data/1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz")  # doctest: +SKIP
    >>> g.reference_genome, g.variants.contig.iloc[0]  # doctest: +SKIP
    ('GRCh38', '10')
    """
    del progress
    path = Path(path)
    plink, inputs, cache_path, digest = cache.locate_source(path, cache_dir)
    store = cache_path / f"{digest[:24]}-hail-r{HAIL_CACHE_VERSION}-{reference_build or 'auto'}"
    hl = init_hail(master, tmp_dir, spark_conf=spark_conf) if _session is None else _session["hl"]
    format_fields = tuple(format_fields)

    def importer(fields: tuple[str, ...]):
        def build(tmp: Path) -> None:
            if plink is not None:
                mt, info = _import_plink(hl, plink, reference_build)
            else:
                mt, info = _import_vcf(hl, path, digest, reference_build, fields=fields)
            try:
                for attempt in (1, 2, None):
                    try:
                        mt.write(str(tmp / "matrix.mt"), overwrite=True)
                        break
                    except Exception as exc:  # records outside the reference genome: try the next one
                        if attempt is None or plink is not None or "reference genome" not in str(exc):
                            raise
                        if attempt == 1 and reference_build is not None:
                            attempt = 2
                        mt, info = _import_vcf(hl, path, digest, reference_build, attempt=attempt,
                                               fields=fields)
            except Exception as exc:  # Hail raises FatalError/HailUserError with the parser's message
                message = str(exc).strip().splitlines()
                summary = next((m for m in reversed(message) if "Error summary" in m), message[-1] if message else "")
                raise InputError(f"Hail could not import it: {summary}", file=inputs[0]) from exc
            written = hl.read_matrix_table(str(tmp / "matrix.mt"))
            original = {v: k for k, v in info.pop("recoding").items()}
            keyed, order = _collect_rows_in_key_order(written, rsid=written.rsid, qual=written.qual,
                                                      filters=written.filters)
            file_index = np.empty(len(keyed), dtype=np.int64)
            file_index[order] = np.arange(len(keyed), dtype=np.int64)
            np.save(tmp / VARIANT_INDEX_FILE, file_index)
            rows = keyed.iloc[order].reset_index(drop=True)
            variants = _plink_variants(plink[1]) if plink is not None else _variants_table(rows, original)
            if len(variants) != len(rows):
                raise InputError(f"Hail read {len(rows)} variants, the file has {len(variants)}", file=inputs[0])
            if plink is not None and (rows["position"].to_numpy() != variants["position"].to_numpy()).any():
                raise InputError("the .bim is not sorted by position; the Hail backend keeps Hail's sorted order "
                                 "(sort it with `plink2 --sort-vars`) or use the embedded backend", file=plink[1])
            variants.to_parquet(tmp / "variants.parquet", index=False)
            meta = {**info, "source": str(path), "source_sha256": digest, "original_contig": original,
                    "sample_id": collect_cols(written)["s"].astype(str).tolist(), "n_variants": len(variants),
                    "hail_cache_version": HAIL_CACHE_VERSION}
            (tmp / "meta.json").write_text(json.dumps(meta))
        return build

    def missing(meta: dict[str, Any]) -> list[str]:
        return [f for f in format_fields if f in meta.get("fields_not_imported", [])]

    if not cache.is_complete(store):
        cache.build_store_atomically(store, importer(format_fields))
    if missing(json.loads((store / "meta.json").read_text())):
        with cache.lock_store(store):
            meta = json.loads((store / "meta.json").read_text())
            if missing(meta):
                union = tuple(f for f in ("DP", "GQ", "AD") if f in format_fields or f in meta["fields"])
                cache.replace_store_atomically(store, importer(union))
    return HailGenotypes(store, path=path, reference_build=reference_build)

