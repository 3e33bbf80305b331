"""Privacy core (DESIGN.md §4.5): CPR numbers, pseudonyms, disclosure control and the output scan.

* :func:`parse_cpr` — parse and validate a Danish CPR number or replacement number (erstatningspersonnummer).
* :func:`pseudonymise` — keyed HMAC-SHA256 pseudonyms; the key comes from :func:`load_pseudonym_key`.
* :func:`suppress_small_counts` — primary and complementary suppression of small counts in count tables, with
  :func:`format_suppressed` for display and :func:`assert_no_small_counts` for report code.
* :func:`scan_for_cpr` / :func:`check_no_cpr` — find CPR-like values in frames and output files, naming the file and
  the column or line, never the value.

No function here ever puts a CPR number into an error message or a hit.

Examples
--------
>>> parse_cpr("010190-2000").birth_date
datetime.date(1990, 1, 1)
>>> pseudonymise("0101902000", DEMO_KEY) == pseudonymise("010190-2000", DEMO_KEY)
True
"""

from __future__ import annotations

from pmo_workbench.privacy.cpr import MOD11_WEIGHTS, Cpr, compute_cpr_validity, compute_cpr_years, parse_cpr
from pmo_workbench.privacy.disclosure import (
    TOTAL_LABELS,
    assert_no_small_counts,
    format_suppressed,
    suppress_small_counts,
)
from pmo_workbench.privacy.pseudonyms import DEMO_KEY, MIN_KEY_BYTES, load_pseudonym_key, pseudonymise
from pmo_workbench.privacy.scan import TABLE_SUFFIXES, TEXT_SUFFIXES, CprHit, check_no_cpr, scan_for_cpr

__all__ = [
    "MIN_KEY_BYTES",
    "MOD11_WEIGHTS",
    "TABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "TOTAL_LABELS",
    "compute_cpr_validity",
    "compute_cpr_years",
    "DEMO_KEY",
    "Cpr",
    "CprHit",
    "assert_no_small_counts",
    "check_no_cpr",
    "format_suppressed",
    "load_pseudonym_key",
    "parse_cpr",
    "pseudonymise",
    "scan_for_cpr",
    "suppress_small_counts",
]
