"""Contig names and pseudo-autosomal regions: ``chr`` prefixes, PLINK's numeric codes, PAR1/PAR2 per build.

Examples
--------
>>> classify_contig("chrX"), classify_contig("23"), classify_contig("MT"), classify_contig("7")
('X', 'X', 'MT', 'autosome')
>>> compute_par_mask("X", np.array([60_001, 2_699_521]), "GRCh37").tolist()
[True, False]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ContigKind = Literal["autosome", "X", "Y", "MT", "other"]

PAR_INTERVALS: dict[str, dict[str, list[tuple[int, int]]]] = {
    "GRCh37": {
        "X": [(60_001, 2_699_520), (154_931_044, 155_260_560)],
        "Y": [(10_001, 2_649_520), (59_034_050, 59_363_566)],
    },
    "GRCh38": {
        "X": [(10_001, 2_781_479), (155_701_383, 156_030_895)],
        "Y": [(10_001, 2_781_479), (56_887_903, 57_217_415)],
    },
}
"""1-based inclusive PAR1 and PAR2 intervals (GRC definitions) on X and Y."""

CHR1_LENGTH = {249_250_621: "GRCh37", 248_956_422: "GRCh38"}
"""Length of chromosome 1, used to recognise the build from ``##contig`` lines."""

_AUTOSOMES = {str(i) for i in range(1, 23)}
_ALIASES: dict[str, ContigKind] = {"X": "X", "23": "X", "25": "X", "XY": "X", "PAR1": "X", "PAR2": "X",
                                   "Y": "Y", "24": "Y", "M": "MT", "MT": "MT", "26": "MT"}


def strip_chr(contig: str) -> str:
    """``"chr7"`` -> ``"7"``; names without the prefix are returned unchanged (case kept)."""
    return contig[3:] if contig[:3].lower() == "chr" else contig


def classify_contig(contig: str) -> ContigKind:
    """Kind of a contig name: ``"autosome"`` (1-22), ``"X"``, ``"Y"``, ``"MT"`` or ``"other"``.

    Understands the ``chr`` prefix and PLINK's numeric codes (23 X, 24 Y, 25 XY = PAR of X, 26 MT).
    """
    name = strip_chr(str(contig)).upper()
    if name in _AUTOSOMES:
        return "autosome"
    return _ALIASES.get(name, "other")


def compute_par_mask(contig: str, position: np.ndarray, build: str | None) -> np.ndarray:
    """Boolean mask: which positions on ``contig`` fall in PAR1/PAR2 of ``build``.

    PLINK's ``XY`` (code 25) contig is entirely pseudo-autosomal. With ``build=None`` the union of the
    GRCh37 and GRCh38 intervals is used (a conservative choice: a few non-PAR sites near the boundaries
    are then treated as PAR and left out of haploid analyses).
    """
    position = np.asarray(position, dtype=np.int64)
    name = strip_chr(str(contig)).upper()
    if name in {"25", "XY", "PAR1", "PAR2"}:
        return np.ones(position.shape, dtype=bool)
    kind = classify_contig(contig)
    mask = np.zeros(position.shape, dtype=bool)
    if kind not in ("X", "Y"):
        return mask
    builds = [build] if build in PAR_INTERVALS else list(PAR_INTERVALS)
    for b in builds:
        for lo, hi in PAR_INTERVALS[b][kind]:
            mask |= (position >= lo) & (position <= hi)
    return mask


def guess_build(contig_lengths: dict[str, int], header_text: str = "") -> str | None:
    """Guess the reference build from ``##contig`` lengths (chromosome 1) or a ``##reference`` line.

    Returns ``"GRCh37"``, ``"GRCh38"`` or None when the header does not say.
    """
    for name, length in contig_lengths.items():
        if strip_chr(name) == "1" and length in CHR1_LENGTH:
            return CHR1_LENGTH[length]
    lowered = header_text.lower()
    for token, build in (("grch38", "GRCh38"), ("hg38", "GRCh38"), ("grch37", "GRCh37"), ("hs37d5", "GRCh37"),
                         ("hg19", "GRCh37"), ("b37", "GRCh37"), ("human_g1k_v37", "GRCh37")):
        if token in lowered:
            return build
    return None
