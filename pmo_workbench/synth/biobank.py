"""Synthetic biobank: specimens in regional and national biobanks, and the Tissue Use Register.

About 60 % of persons have specimens (EDTA blood, plasma, serum, buffy coat, DNA), collected at one of their
hospital contacts (or, for persons without one, on a day inside their observation period) and stored in the
biobank of their region (80 %) or the Danish National Biobank. Every genome sample gets its own DNA specimen
of the person it is labelled as (a duplicate sequencing is a second extraction). Each specimen has aliquots
left (0 means depleted, status ``depleted``; 2 % of the others are ``reserved``), a volume and a unique
freezer position ``F03/R12/B045/A07`` (freezer / rack / box / position in a 10×10 box) assigned in order of
arrival.

Tissue Use Register (Vævsanvendelsesregistret): about 3 % of persons opted out. The raw extract
``tissue_use_register.csv`` lists only them (``pnr, registreringsdato``), as the real register does. The
event-schema table records the look-up: **one row per person of the project**, ``opt_out`` True for the
registered and False for the others, all with ``lookup_date`` (the day the register was consulted), so
"looked up and not registered" differs from "never looked up" (no row; cohort selection must treat that as not
cleared).

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> from pmo_workbench.privacy import DEMO_KEY
>>> from pmo_workbench.synth.persons import simulate_persons
>>> ind = pd.DataFrame({"individual": [0], "population": ["NEU"], "sex": ["F"], "family_id": [None],
...                     "father": [-1], "mother": [-1], "role": ["unrelated"]})
>>> persons = simulate_persons(100, ind, 1, key=DEMO_KEY)
>>> samples = pd.DataFrame({"sample_id": ["S00001"], "individual": [0]})
>>> with tempfile.TemporaryDirectory() as d:
...     bb = simulate_biobank(persons, samples, 2, out_dir=Path(d), consent_dir=Path(d), raw_dir=Path(d))
>>> bb.sample_specimen.loc[0, "person_id"] == persons.loc[0, "person_id"]
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pmo_workbench.health.schema import write_table
from pmo_workbench.synth.registry import RegistrySim, write_raw_csv

BIOBANKS = ("Region Hovedstaden Biobank", "Region Sjælland Biobank", "Danish National Biobank")
SPECIMEN_TYPES = ("EDTA-blood", "plasma", "serum", "buffy coat", "DNA")
OPT_OUT_SHARE = 0.03
PERSONS_WITH_SPECIMENS = 0.60
NATIONAL_SHARE = 0.20
DEPLETED_SHARE = 0.08
RESERVED_SHARE = 0.02
REGISTER_START = np.datetime64("1997-06-01", "D")
"""The Tissue Use Register opened in 1997: no registration is older."""
OBS_START = np.datetime64("2000-01-01", "D")

_TYPE_WEIGHTS = np.array([0.25, 0.30, 0.25, 0.15, 0.05])
_MAX_ALIQUOTS = np.array([3, 8, 8, 2, 4])
_ALIQUOT_UL = np.array([1000.0, 250.0, 250.0, 200.0, 50.0])
_DNA = SPECIMEN_TYPES.index("DNA")
_BOX, _RACK, _FREEZER = 100, 20 * 100, 20 * 20 * 100
_DAY0 = np.datetime64("1970-01-01", "D")


@dataclass
class BiobankSim:
    """What :func:`simulate_biobank` wrote: specimen table, sample → specimen links, opt-outs and counts."""

    specimens: pd.DataFrame
    sample_specimen: pd.DataFrame
    opt_outs: list[str]
    counts: dict[str, int]
    paths: dict[str, Path] = field(default_factory=dict)


def simulate_biobank(
    persons: pd.DataFrame,
    samples: pd.DataFrame,
    seed: np.random.SeedSequence | int,
    *,
    out_dir: Path,
    consent_dir: Path,
    raw_dir: Path,
    lookup_date: date = date(2026, 1, 15),
    registry: RegistrySim | None = None,
) -> BiobankSim:
    """Simulate specimens and Tissue Use Register opt-outs; write ``specimen`` and ``tissue_use_register``.

    Parameters
    ----------
    persons
        From :func:`pmo_workbench.synth.persons.simulate_persons`.
    samples
        The genome samples (``sample_id``, ``individual`` = the individual the sample is labelled as).
    seed
        Seed or ``SeedSequence``.
    out_dir, consent_dir, raw_dir
        Folders for ``specimen.parquet``, ``tissue_use_register.parquet`` and the raw
        ``tissue_use_register.csv``.
    lookup_date
        The day the Tissue Use Register was consulted.
    registry
        The registry simulation; when given, specimens are collected at the person's hospital contacts and
        inside the observation periods. Without it, collection days fall between 2000-01-01 (or birth) and
        death or the day before ``lookup_date``.

    Returns
    -------
    BiobankSim

    Examples
    --------
    >>> bb = simulate_biobank(persons, gs.samples, 4, out_dir=Path("data/biobank"),  # doctest: +SKIP
    ...                       consent_dir=Path("data/consent"), raw_dir=Path("raw"), registry=reg)
    """
    rng = np.random.default_rng(seed)
    n = len(persons)
    lookup = np.datetime64(lookup_date, "D")
    lookup_day = int((lookup - _DAY0).astype(np.int64))
    pid = persons["person_id"].to_numpy(dtype=object)
    birth = (persons["birth_date"].to_numpy().astype("datetime64[D]") - _DAY0).astype(np.int64)
    death_raw = persons["death_date"].to_numpy().astype("datetime64[D]")
    death = np.where(np.isnat(death_raw), lookup_day - 1, (death_raw - _DAY0).astype(np.int64))
    win_lo, win_hi = _collection_windows(persons, registry, birth, np.minimum(death, lookup_day - 1))

    # which persons are sequenced: each sample -> the person of its labelled individual
    ind_to_person = pd.Series(np.arange(n), index=persons["individual"].to_numpy())
    ind_to_person = ind_to_person[ind_to_person.index >= 0]
    s_ind = samples["individual"].to_numpy(dtype=np.int64)
    missing = ~np.isin(s_ind, ind_to_person.index.to_numpy())
    if missing.any():
        raise ValueError(
            f"sample {samples['sample_id'].iloc[int(missing.argmax())]} is labelled as an individual "
            "without a person"
        )
    s_person = ind_to_person.reindex(s_ind).to_numpy(dtype=np.int64)

    # general specimens
    has = rng.random(n) < PERSONS_WITH_SPECIMENS
    n_spec = np.where(has, 1 + rng.poisson(1.2, n), 0)
    g_person = np.repeat(np.arange(n), n_spec)
    g_type = rng.choice(len(SPECIMEN_TYPES), size=len(g_person), p=_TYPE_WEIGHTS)
    person = np.concatenate([s_person, g_person])
    stype = np.concatenate([np.full(len(s_person), _DNA), g_type])
    is_seq = np.concatenate([np.ones(len(s_person), bool), np.zeros(len(g_person), bool)])
    day = _draw_collection_days(rng, person, win_lo, win_hi, registry, pid)

    k = len(person)
    regional = np.where(persons["region"].to_numpy(dtype=object)[person] == "Region Hovedstaden", 0, 1)
    national = rng.random(k) < np.where(is_seq, 0.5, NATIONAL_SHARE)
    bank = np.where(national, 2, regional)
    max_aliq = _MAX_ALIQUOTS[stype]
    left = 1 + np.floor(rng.random(k) * max_aliq).astype(np.int64)
    left = np.where(rng.random(k) < DEPLETED_SHARE, 0, left)
    status = np.where(
        left == 0, "depleted", np.where(rng.random(k) < RESERVED_SHARE, "reserved", "available")
    )
    volume = np.round(left * _ALIQUOT_UL[stype] * rng.uniform(0.9, 1.0, k), 1)

    # ids and freezer positions in order of arrival per biobank
    order = np.lexsort((stype, person, day))
    spec_no = np.empty(k, np.int64)
    spec_no[order] = np.arange(k)
    slot = np.empty(k, np.int64)
    for b in range(len(BIOBANKS)):
        idx = order[bank[order] == b]
        slot[idx] = np.arange(len(idx))
    freezer, rack = slot // _FREEZER + 1, (slot // _RACK) % 20 + 1
    box, pos = (slot // _BOX) % 400 + 1, slot % _BOX
    parts = [
        _fmt("F", freezer, 2),
        _fmt("R", rack, 2),
        _fmt("B", box, 3),
        pc.binary_join_element_wise(
            pa.array(np.array(list("ABCDEFGHIJ"))[pos // 10]), _fmt("", pos % 10 + 1, 2), ""
        ),
    ]
    specimen_id = _fmt("SP", spec_no + 1, 8)
    spec = (
        pd.DataFrame(
            {
                "specimen_id": specimen_id.to_numpy(zero_copy_only=False),
                "person_id": pid[person],
                "biobank": np.array(BIOBANKS, dtype=object)[bank],
                "specimen_type": np.array(SPECIMEN_TYPES, dtype=object)[stype],
                "collected_date": pd.Series(day.astype("datetime64[D]").astype("datetime64[ns]")),
                "aliquots_left": left,
                "volume_ul": volume,
                "location": pc.binary_join_element_wise(*parts, "/").to_numpy(zero_copy_only=False),
                "freezer": parts[0].to_numpy(zero_copy_only=False),
                "rack": parts[1].to_numpy(zero_copy_only=False),
                "box": parts[2].to_numpy(zero_copy_only=False),
                "position": parts[3].to_numpy(zero_copy_only=False),
                "status": status.astype(object),
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    paths = {"specimen": write_table(spec, "specimen", out_dir)}
    sample_specimen = pd.DataFrame(
        {
            "sample_id": samples["sample_id"].to_numpy(dtype=object),
            "specimen_id": specimen_id.to_numpy(zero_copy_only=False)[: len(s_person)],
            "person_id": pid[s_person],
        }
    )

    # Tissue Use Register
    opt = rng.random(n) < OPT_OUT_SHARE
    reg_lo = np.maximum(birth, int((REGISTER_START - _DAY0).astype(np.int64)))
    reg_hi = np.minimum(death, lookup_day - 1)
    reg_day = reg_lo + np.floor(rng.random(n) * (np.maximum(reg_hi - reg_lo, 0) + 1)).astype(np.int64)
    tur = pd.DataFrame({"person_id": pid, "opt_out": opt, "lookup_date": pd.Timestamp(lookup)})
    paths["tissue_use_register"] = write_table(tur, "tissue_use_register", consent_dir)
    o = np.flatnonzero(opt)
    paths["tissue_use_register_raw"] = write_raw_csv(
        pa.table(
            {
                "pnr": pa.array(persons["cpr"].to_numpy(dtype=object)[o], pa.string()),
                "registreringsdato": pa.array(reg_day[o].astype(np.int32), pa.int32()).cast(pa.date32()),
            }
        ),
        Path(raw_dir) / "tissue_use_register.csv",
    )
    counts = {
        "specimens": k,
        "persons_with_specimens": int(len(np.unique(person))),
        "dna_for_samples": len(s_person),
        "depleted": int((left == 0).sum()),
        "opt_outs": int(opt.sum()),
    }
    counts |= {f"specimens_{b}": int((bank == i).sum()) for i, b in enumerate(BIOBANKS)}
    return BiobankSim(
        specimens=spec, sample_specimen=sample_specimen, opt_outs=list(pid[o]), counts=counts, paths=paths
    )


def _fmt(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "") if prefix else text


def _collection_windows(
    persons: pd.DataFrame, registry: RegistrySim | None, birth: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest collection day per person: the observation period, or 2000/birth to death."""
    if registry is None:
        lo = np.maximum(birth, int((OBS_START - _DAY0).astype(np.int64)))
        return lo, np.maximum(last, lo)
    obs = registry.observation.set_index("person_id").reindex(persons["person_id"])
    if obs["start_date"].isna().any():
        raise ValueError("registry.observation lacks a person of persons")
    lo = (obs["start_date"].to_numpy().astype("datetime64[D]") - _DAY0).astype(np.int64)
    hi = (obs["end_date"].to_numpy().astype("datetime64[D]") - _DAY0).astype(np.int64)
    return lo, np.minimum(hi, np.maximum(last, lo))


def _draw_collection_days(
    rng: np.random.Generator,
    person: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    registry: RegistrySim | None,
    pid: np.ndarray,
) -> np.ndarray:
    """A random contact day of the person when there is one inside the window, else a uniform day in it."""
    day = lo[person] + np.floor(rng.random(len(person)) * (hi[person] - lo[person] + 1)).astype(np.int64)
    if registry is None or not len(registry.contacts):
        return day
    c = registry.contacts
    c_person = pd.Index(pid).get_indexer(c["person_id"].to_numpy(dtype=object))
    c_day = (c["date"].to_numpy().astype("datetime64[D]") - _DAY0).astype(np.int64)
    ok = c_person >= 0
    c_person, c_day = c_person[ok], c_day[ok]
    ok = (c_day >= lo[c_person]) & (c_day <= hi[c_person])
    c_person, c_day = c_person[ok], c_day[ok]
    srt = np.lexsort((c_day, c_person))
    c_person, c_day = c_person[srt], c_day[srt]
    count = np.bincount(c_person, minlength=len(lo))
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    cnt = count[person]
    pick = offset[person] + np.floor(rng.random(len(person)) * np.maximum(cnt, 1)).astype(np.int64)
    at_contact = cnt > 0
    day[at_contact] = c_day[pick[at_contact]]
    return day
