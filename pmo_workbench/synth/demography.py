"""Demographic model of the synthetic cohort: a Northern-European-like majority and three minorities.

A simplified out-of-Africa model in the spirit of Gravel et al. (2011), in generations (25 years each):
an ancestral population grows at 8,800 generations; the out-of-Africa bottleneck splits from the African-like
population 5,600 generations ago; a West-Eurasian and a South-Asian-like branch separate 2,000 generations ago;
the Northern-European-like majority and the Middle-Eastern-like population separate 1,200 generations ago.
Neighbouring populations exchange a few migrants per generation.

Examples
--------
>>> demography = build_demography()
>>> sorted(POPULATION_SHARES)
['AFR', 'MDE', 'NEU', 'SAS']
>>> round(sum(POPULATION_SHARES.values()), 6)
1.0
"""

from __future__ import annotations

import msprime

#: Share of sampled founders per population (the majority is Northern-European-like).
POPULATION_SHARES: dict[str, float] = {"NEU": 0.87, "MDE": 0.05, "SAS": 0.04, "AFR": 0.04}

#: Human-readable label of each sampled population.
POPULATION_LABELS: dict[str, str] = {
    "NEU": "Northern-European-like",
    "MDE": "Middle-Eastern-like",
    "SAS": "South-Asian-like",
    "AFR": "African-like",
}

RECOMBINATION_RATE = 1e-8
MUTATION_RATE = 1.25e-8


def build_demography(size_scale: float = 1.0) -> msprime.Demography:
    """Build the msprime demography.

    Parameters
    ----------
    size_scale
        Multiplies every effective population size (0.75 for chrX, whose effective size is three quarters of an
        autosome's).

    Returns
    -------
    msprime.Demography
        Sampled populations ``NEU``, ``MDE``, ``SAS``, ``AFR``; ancestral ``WEA``, ``OOA``, ``ANC``.

    Examples
    --------
    >>> d = build_demography(0.75)
    >>> d["NEU"].initial_size
    7500.0
    """
    s = float(size_scale)
    d = msprime.Demography()
    d.add_population(name="NEU", initial_size=10_000 * s, description=POPULATION_LABELS["NEU"])
    d.add_population(name="MDE", initial_size=8_000 * s, description=POPULATION_LABELS["MDE"])
    d.add_population(name="SAS", initial_size=8_000 * s, description=POPULATION_LABELS["SAS"])
    d.add_population(name="AFR", initial_size=14_474 * s, description=POPULATION_LABELS["AFR"])
    d.add_population(name="WEA", initial_size=5_000 * s, description="West-Eurasian ancestor")
    d.add_population(name="OOA", initial_size=1_861 * s, description="out-of-Africa bottleneck")
    d.add_population(name="ANC", initial_size=14_474 * s, description="ancestral")
    d.set_symmetric_migration_rate(["NEU", "MDE"], 5e-5)
    d.set_symmetric_migration_rate(["MDE", "SAS"], 3e-5)
    d.set_symmetric_migration_rate(["AFR", "MDE"], 1e-5)
    d.add_population_split(time=1_200, derived=["NEU", "MDE"], ancestral="WEA")
    d.add_population_split(time=2_000, derived=["WEA", "SAS"], ancestral="OOA")
    d.add_population_split(time=5_600, derived=["AFR", "OOA"], ancestral="ANC")
    d.add_population_parameters_change(time=8_800, initial_size=7_300 * s, population="ANC")
    d.sort_events()
    return d
