"""Hardy-Weinberg exact test, mid-p version, vectorised with numpy. Pure: no I/O.

The exact test conditions on the sample size ``n`` and the allele counts (Levene-Haldane
distribution; Wigginton, Cutler & Abecasis 2005). With ``k`` homozygotes for the rarer
allele (``nA`` copies of it), ``h = nA - 2k`` heterozygotes and ``c = n - nA + k``
homozygotes for the commoner allele::

    P(k)  proportional to  2^h / (k! h! c!)

The mid p-value (Graffelman & Moreno 2013; aggV2's ``phwe_*`` came from plink's
``--hardy midp``, which differs only for exact ties) is the probability of every
configuration less likely than the observed one plus half the probability of those
exactly as likely (the observed one and any exact tie)::

    p_mid = sum(P < P_obs) + 0.5 * sum(P == P_obs)

A site with a single possible configuration (monomorphic, or a single copy of the rarer
allele) therefore gets p_mid = 0.5 (HardyWeinberg::HWExact reports 1 there).

Efficiency. Triples are made canonical (homozygote counts ordered) and deduplicated. Each
triple is evaluated on a window of ``k`` around the HWE expectation (13 standard deviations
plus a margin) instead of its whole support; the distribution is unimodal, so once both
window edges are below ``TRUNCATE * P_max`` every configuration outside is too, and the
result moves by less than ``n_conf * TRUNCATE`` (< 1e-24) in absolute terms. Windows whose
edges are not that small are recomputed over the whole support. An observed configuration
outside its window has p_mid < 1e-24 and is reported as 0.0. Windows are evaluated in
batches padded to a power-of-two width that depends only on the triple itself, so a
triple's result never depends on which other triples share its batch. ``log P`` comes from
a cumulative sum of the log recurrence ratios, never from large factorials.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TIE_RTOL = 1e-9  # configurations whose probabilities agree this closely are ties
TRUNCATE = 1e-30  # configurations below this fraction of the mode are not enumerated
_BATCH_CELLS = 1 << 20  # cells of one batch matrix (float64: 8 MiB per array)

IntArray = npt.NDArray[np.int64]


def hwe_midp(
    n_het: npt.ArrayLike, n_hom_a: npt.ArrayLike, n_hom_b: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """HWE exact mid p-value per row of genotype counts; NaN where there are none."""
    het = np.asarray(n_het, dtype=np.int64)
    hom_a = np.asarray(n_hom_a, dtype=np.int64)
    hom_b = np.asarray(n_hom_b, dtype=np.int64)
    if not het.shape == hom_a.shape == hom_b.shape or het.ndim != 1:
        raise ValueError("hwe_midp needs three 1-d arrays of the same length")
    if (het < 0).any() or (hom_a < 0).any() or (hom_b < 0).any():
        raise ValueError("genotype counts must be non-negative")
    out = np.full(het.shape, np.nan)
    ok = (het + hom_a + hom_b) > 0
    if not ok.any():
        return out
    triples = np.stack(
        [het[ok], np.minimum(hom_a, hom_b)[ok], np.maximum(hom_a, hom_b)[ok]], axis=1
    )
    uniq, inverse = np.unique(triples, axis=0, return_inverse=True)
    out[ok] = _midp_unique(uniq[:, 0], uniq[:, 1], uniq[:, 2])[inverse.reshape(-1)]
    return out


def _midp_unique(het: IntArray, hom_rare: IntArray, hom_common: IntArray) -> npt.NDArray:
    n = het + hom_rare + hom_common
    n_rare = 2 * hom_rare + het  # copies of the rarer allele, <= n
    last = n_rare // 2  # k runs over 0 .. last
    p = n_rare / (2.0 * n)
    centre = np.rint(n * p * p).astype(np.int64)  # expected rare homozygotes
    half = np.ceil(13.0 * np.sqrt(n * p * p * (1 - p) * (1 - p))).astype(np.int64) + 32
    lo = np.clip(centre - half, 0, last)
    hi = np.clip(centre + half, 0, last)
    mid, edges_ok = _windows(n, n_rare, last, hom_rare, lo, hi)
    redo = np.flatnonzero(~edges_ok)
    if redo.size:
        zero = np.zeros(redo.size, dtype=np.int64)
        mid[redo], _ = _windows(n[redo], n_rare[redo], last[redo], hom_rare[redo], zero, last[redo])
    return mid


def _windows(
    n: IntArray, n_rare: IntArray, last: IntArray, k_obs: IntArray, lo: IntArray, hi: IntArray
) -> tuple[npt.NDArray, npt.NDArray[np.bool_]]:
    span = hi - lo + 1
    width = np.left_shift(1, np.ceil(np.log2(span)).astype(np.int64))
    mid = np.empty(n.shape)
    edges_ok = np.empty(n.shape, dtype=bool)
    for w in np.unique(width):
        rows = np.flatnonzero(width == w)
        step = max(1, _BATCH_CELLS // int(w))
        for start in range(0, rows.size, step):
            i = rows[start : start + step]
            mid[i], edges_ok[i] = _batch(n[i], n_rare[i], last[i], k_obs[i], lo[i], hi[i], int(w))
    return mid, edges_ok


def _batch(
    n: IntArray,
    n_rare: IntArray,
    last: IntArray,
    k_obs: IntArray,
    lo: IntArray,
    hi: IntArray,
    width: int,
) -> tuple[npt.NDArray, npt.NDArray[np.bool_]]:
    k = lo[:, None] + np.arange(width, dtype=np.int64)[None, :]
    # Step k -> k + 1 (two hets become one homozygote of each kind):
    # P(k+1) / P(k) = h (h - 1) / (4 (k + 1) (c + 1)), h = n_rare - 2k, c = n - n_rare + k.
    step_ok = k < hi[:, None]
    h = np.where(step_ok, n_rare[:, None] - 2 * k, 2).astype(np.float64)
    c = np.where(step_ok, (n - n_rare)[:, None] + k, 0).astype(np.float64)
    log_ratio = np.where(step_ok, np.log(h * (h - 1)) - np.log(4.0 * (k + 1) * (c + 1)), 0.0)
    log_p = np.concatenate([np.zeros((n.size, 1)), np.cumsum(log_ratio[:, :-1], axis=1)], axis=1)
    valid = k <= hi[:, None]
    log_p = np.where(valid, log_p, -np.inf)
    prob = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    rows = np.arange(n.size)
    edge_lo = prob[:, 0]
    edge_hi = prob[rows, hi - lo]
    edges_ok = ((lo == 0) | (edge_lo < TRUNCATE)) & ((hi == last) | (edge_hi < TRUNCATE))
    inside = (k_obs >= lo) & (k_obs <= hi)
    p_obs = prob[rows, np.clip(k_obs - lo, 0, width - 1)][:, None]
    tie = np.abs(prob - p_obs) <= TIE_RTOL * p_obs
    less = valid & ~tie & (prob < p_obs)
    total = prob.sum(axis=1)
    mid = np.where(less, prob, 0.0).sum(axis=1) + 0.5 * np.where(tie, prob, 0.0).sum(axis=1)
    mid = np.where(inside, np.clip(mid / total, 0.0, 1.0), 0.0)
    return mid, edges_ok
