"""The synthetic cohort's simulated population (ngrl_assets.synth.genome): msprime's
coalescent and mutations under a human demography, read back here as a geneticist
would check a cohort: the allele-frequency spectrum, Ti/Tv, indel form, ploidy, and the
same genomes for the same seed."""

from __future__ import annotations

import msprime
import numpy as np
import pytest

from ngrl_assets.synth import genome

SEED = 11
COHORT = 400  # individuals read back (a demo-sized library)
TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}


@pytest.fixture(scope="module")
def block() -> genome.Block:
    return genome.population(SEED).block(0)


def frequencies(block: genome.Block) -> np.ndarray:
    """ALT allele frequency in the first COHORT individuals, one per ALT carried."""
    out = []
    for w in genome.WINDOWS:
        codes = block.codes[w][: 2 * COHORT]
        for k, site in enumerate(block.sites[w]):
            for code in range(1, len(site.alts) + 1):
                out.append((codes[:, k] == code).mean())
    afs = np.array(out)
    return afs[afs > 0]


def test_spectrum_is_dominated_by_rare_variants(block):
    afs = frequencies(block)
    assert len(afs) > 3000
    assert (afs < 0.01).mean() >= 0.5  # most sites are rare
    assert (afs < 0.05).mean() >= 0.65
    assert (afs * 2 * COHORT < 1.5).mean() >= 0.2  # many singletons
    assert (afs > 0.5).mean() <= 0.15  # REF is the minor allele at a few sites
    counts, _ = np.histogram(afs, bins=[0, 0.01, 0.05, 0.1, 0.5, 1.0])
    assert counts[0] > counts[1] > counts[2]


def test_snv_titv_and_normalised_indels(block):
    ti = tv = indels = 0
    for w in genome.WINDOWS:
        seq = genome.reference(w)
        last_end = 0
        for site in block.sites[w]:
            assert site.pos > last_end, "sites never overlap"
            last_end = site.end
            assert seq[site.pos - w.start :].startswith(site.ref)
            assert not any(s <= site.end and site.pos <= e for s, e in genome.shared_gaps(w))
            if site.kind in ("snv", "multiallelic_snv"):
                assert len(site.ref) == 1 and all(len(a) == 1 for a in site.alts)
                ti += (site.ref, site.alts[0]) in TRANSITIONS
                tv += (site.ref, site.alts[0]) not in TRANSITIONS
                continue
            indels += 1
            (alt,) = site.alts
            assert alt[0] == site.ref[0] and 1 <= abs(len(alt) - len(site.ref)) <= 10
            if site.kind == "deletion":  # left-aligned: cannot shift one base left
                assert len(alt) == 1 and site.ref[-1] != site.ref[0]
            else:
                assert len(site.ref) == 1 and alt[-1] != site.ref
    assert 1.85 <= ti / tv <= 2.25
    assert 0.07 <= indels / (ti + tv + indels) <= 0.17


def test_males_are_hemizygous_outside_the_pars():
    pop = genome.population(SEED)
    x = [w for w in pop.windows if w.hemizygous_in_males]
    assert x
    hets_xx = 0
    for individual in range(0, 200, 2):
        as_xy = pop.genome(individual, hemizygous_x=True)
        as_xx = pop.genome(individual, hemizygous_x=False)
        for w in x:
            assert all(a == b for _, a, b in as_xy[w])
            hets_xx += sum(a != b for _, a, b in as_xx[w])
        autosome = next(w for w in pop.windows if w.chrom == "chr1")
        assert as_xy[autosome] == as_xx[autosome]
    assert hets_xx > 0


def test_same_seed_same_genomes_and_other_seeds_differ():
    windows = genome.WINDOWS[:3]
    one = genome.Population(SEED, windows).block(0)
    two = genome.Population(SEED, windows).block(0)
    other = genome.Population(SEED + 1, windows).block(0)
    for w in windows:
        assert one.sites[w] == two.sites[w]
        assert np.array_equal(one.codes[w], two.codes[w])
    assert any(one.sites[w] != other.sites[w] for w in windows)


def test_the_demography_is_the_published_out_of_africa_model():
    """Gutenkunst et al. (2009) as msprime builds it for its own documentation."""
    ours = genome.demography()
    if hasattr(msprime.Demography, "_ooa_model"):
        assert ours.is_equivalent(msprime.Demography._ooa_model())
    assert [p.name for p in ours.populations][:3] == ["YRI", "CEU", "CHB"]
