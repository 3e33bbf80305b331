"""Privacy core (README "Privacy", ARCHITECTURE.md "Disclosure and reports"): CPR numbers, pseudonyms, disclosure control and the output scan.

* :func:`parse_cpr` — parse and validate a Danish CPR number, replacement number (erstatningspersonnummer) or
  healthcare eCPR number (X-eCPR, D-eCPR).
* :func:`pseudonymise` — keyed HMAC-SHA256 pseudonyms; the key comes from :func:`load_pseudonym_key`.
* :func:`suppress_small_counts` — primary and complementary suppression of small counts in count tables, with
  :func:`format_suppressed` for display and :func:`assert_no_small_counts` for report code.
* :class:`Disclosure` — the one disclosure layer: what every table, figure count and written file of a run may
  show in ``internal`` or ``export`` mode.
* :func:`scan_for_cpr` / :func:`check_no_cpr` — find CPR-like values in frames and output files, naming the file and
  the column or line, never the value.

No function here ever puts a CPR number into an error message or a hit.

Examples
--------
>>> from pmo_workbench.privacy import DEMO_KEY, parse_cpr, pseudonymise
>>> parse_cpr("010190-2000").birth_date
datetime.date(1990, 1, 1)
>>> pseudonymise("0101902000", DEMO_KEY) == pseudonymise("010190-2000", DEMO_KEY)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmo_workbench.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from pmo_workbench.privacy.cpr import (
        ECPR_CENTURY,
        MOD11_WEIGHTS,
        Cpr,
        compute_cpr_validity,
        compute_cpr_years,
        compute_ecpr_validity,
        find_valid_cprs,
        parse_cpr,
    )
    from pmo_workbench.privacy.disclosure import (
        TOTAL_LABELS,
        assert_no_small_counts,
        format_suppressed,
        suppress_small_counts,
    )
    from pmo_workbench.privacy.disclosure_layer import Disclosure
    from pmo_workbench.privacy.pseudonyms import (
        DEMO_KEY,
        MIN_KEY_BYTES,
        check_key_fingerprint,
        compute_key_fingerprint,
        load_pseudonym_key,
        load_pseudonym_key_source,
        pseudonymise,
        record_key_fingerprint,
    )
    from pmo_workbench.privacy.scan import TABLE_SUFFIXES, TEXT_SUFFIXES, CprHit, check_no_cpr, scan_for_cpr

__all__ = [
    "ECPR_CENTURY",
    "compute_ecpr_validity",
    "find_valid_cprs",
    "check_key_fingerprint",
    "compute_key_fingerprint",
    "load_pseudonym_key_source",
    "record_key_fingerprint",
    "MIN_KEY_BYTES",
    "MOD11_WEIGHTS",
    "TABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "TOTAL_LABELS",
    "compute_cpr_validity",
    "compute_cpr_years",
    "DEMO_KEY",
    "Cpr",
    "Disclosure",
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

# Each name is imported from its module on first use: a writer that checks strings for CPR numbers
# (:mod:`.cpr_text`, numpy alone) need not import pandas and pyarrow with the table scanner (~50 MB).
_MODULE_OF = {
    'ECPR_CENTURY': 'cpr',
    'MOD11_WEIGHTS': 'cpr',
    'Cpr': 'cpr',
    'compute_cpr_validity': 'cpr',
    'compute_cpr_years': 'cpr',
    'compute_ecpr_validity': 'cpr',
    'find_valid_cprs': 'cpr',
    'parse_cpr': 'cpr',
    'TOTAL_LABELS': 'disclosure',
    'assert_no_small_counts': 'disclosure',
    'format_suppressed': 'disclosure',
    'suppress_small_counts': 'disclosure',
    'Disclosure': 'disclosure_layer',
    'DEMO_KEY': 'pseudonyms',
    'MIN_KEY_BYTES': 'pseudonyms',
    'check_key_fingerprint': 'pseudonyms',
    'compute_key_fingerprint': 'pseudonyms',
    'load_pseudonym_key': 'pseudonyms',
    'load_pseudonym_key_source': 'pseudonyms',
    'pseudonymise': 'pseudonyms',
    'record_key_fingerprint': 'pseudonyms',
    'TABLE_SUFFIXES': 'scan',
    'TEXT_SUFFIXES': 'scan',
    'CprHit': 'scan',
    'check_no_cpr': 'scan',
    'scan_for_cpr': 'scan',
}

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, __all__)
