"""The genome manifest (one row per genome: ``sample_id``, ``reported_sex``, ``batch``, ...): read it, and compare
its sample IDs with a genotype set's, listing differences by name.

Examples
--------
>>> import numpy as np, pandas as pd
>>> load_manifest(pd.DataFrame({"sample_id": [1, 2], "batch": ["B1", "B1"]}))["sample_id"].tolist()
['1', '2']
>>> class G:  # anything with a ``sample_id`` array
...     sample_id = np.array(["A", "B", "C::D"])
>>> check = check_manifest(G(), pd.DataFrame({"sample_id": ["A", "D", "E"]}))
>>> check.missing_from_genotypes, check.missing_from_manifest, check.prefixed
(['D', 'E'], ['B', 'C::D'], {'C::D': 'D'})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError


def load_manifest(manifest: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A manifest as a DataFrame with a string ``sample_id`` column (TSV, or CSV by extension; every column read
    as str; a DataFrame is copied).

    Raises
    ------
    InputError
        The file cannot be read, or has no ``sample_id`` column (naming the file).
    """
    if isinstance(manifest, pd.DataFrame):
        df = manifest.copy()
        name = "<manifest>"
    else:
        name = str(manifest)
        try:
            df = pd.read_csv(manifest, sep="," if name.endswith(".csv") else "\t", dtype=str)
        except OSError as exc:
            raise InputError(f"cannot read manifest: {exc.strerror}", file=name) from None
    if "sample_id" not in df.columns:
        raise InputError("manifest lacks column 'sample_id'", file=name, field="sample_id")
    df["sample_id"] = df["sample_id"].astype(str)
    return df


class _HasSamples(Protocol):
    sample_id: np.ndarray


@dataclass
class ManifestCheck:
    """Outcome of :func:`check_manifest`.

    Attributes
    ----------
    missing_from_genotypes : list of str
        Manifest sample IDs with no genome in the store.
    missing_from_manifest : list of str
        Store sample IDs that the manifest does not list.
    prefixed : dict
        Store IDs of the form ``PREFIX::ID`` (e.g. Hail/GATK's ``C1046::HG02024``) whose ``ID`` is in the
        manifest: store ID -> manifest ID. They also appear in ``missing_from_manifest``.
    """

    missing_from_genotypes: list[str] = field(default_factory=list)
    missing_from_manifest: list[str] = field(default_factory=list)
    prefixed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when both ID sets are identical."""
        return not self.missing_from_genotypes and not self.missing_from_manifest

    def raise_if_mismatched(self, file: str | Path | None = None) -> None:
        """Raise :class:`InputError` naming (up to 20 of) the unmatched IDs on each side."""
        if self.ok:
            return
        parts = []
        if self.missing_from_genotypes:
            parts.append(f"{len(self.missing_from_genotypes)} manifest sample(s) without genotypes: "
                         f"{', '.join(self.missing_from_genotypes[:20])}")
        if self.missing_from_manifest:
            parts.append(f"{len(self.missing_from_manifest)} genotyped sample(s) not in the manifest: "
                         f"{', '.join(self.missing_from_manifest[:20])}")
        if self.prefixed:
            parts.append("some genotype IDs carry a 'PREFIX::' (strip it?)")
        raise InputError("; ".join(parts), file=file, field="sample_id")


def check_manifest(g: _HasSamples, manifest: pd.DataFrame, *, column: str = "sample_id") -> ManifestCheck:
    """List sample IDs present in only one of the genotype store and the manifest.

    Raises
    ------
    InputError
        When the manifest has no ``column`` or duplicated IDs.
    """
    if column not in manifest.columns:
        raise InputError(f"the manifest has no column {column!r}", field=column)
    ids = manifest[column].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"duplicated sample IDs in the manifest: {', '.join(sorted(set(dup))[:20])}",
                         row=int(dup.index[0]), field=column)
    in_manifest = set(ids)
    in_store = [str(s) for s in g.sample_id]
    store_set = set(in_store)
    prefixed = {s: s.split("::", 1)[1] for s in in_store
                if "::" in s and s not in in_manifest and s.split("::", 1)[1] in in_manifest}
    return ManifestCheck(
        missing_from_genotypes=[s for s in ids if s not in store_set],
        missing_from_manifest=[s for s in in_store if s not in in_manifest],
        prefixed=prefixed,
    )
