"""Bradley–Terry scores, 95% intervals and tie-aware ranks from pairwise outcomes.

Model. P(model i beats model j) = sigmoid(theta_i - theta_j). A tie (and "both bad") scores
0.5 for each side, as in LMArena: the estimating equation sum(score - p) = 0 stays unbiased
whenever the expected score equals the BT win probability, whatever the tie rate.

Fit. Outcomes are first aggregated per unordered pair (votes n, points s of the first model,
sum of squared points q), so the fit never touches individual votes: 100k votes over 50 models
become at most 1,225 rows. The log-likelihood is maximised by Newton's method with step halving
on those counts (concave problem, a few milliseconds).

Scale. Scores are on an Elo-like scale: 400/ln(10) points per logit, mean 1000 over the rated
models. A 100-point lead means a 64% expected win rate.

Intervals. 95% Wald intervals from the *sandwich* covariance H⁺ M H⁺, computed from the
aggregated counts: H is the Fisher information (bread), M the empirical variance of the scores
(meat: sum over pairs of sum((score - p)²), which needs only n, s and q per pair). This is
LMArena's current method. We chose it over the plain inverse Fisher information because ties
and "both bad" votes carry less variance than a win/loss coin flip; inverse Fisher ignores that
and gives intervals that are too wide (99-99.5% coverage in our simulations with ties) while the
sandwich reads the actual spread of the votes. Small-sample guard: each pair's residual variance
is shrunk toward the binomial variance p(1-p) by one pseudo-vote, so a handful of identical
votes (e.g. three ties) can never produce a zero-width interval; the effect vanishes as votes
grow. The intervals of individual scores refer to the mean-centred scale; intervals of
differences come from `BTResult.diff`.

Correlated outcomes. Outcomes derived from one rater's grid (a best pick beats every other
image) are one judgment, not independent votes. Given `cluster_column`, outcomes sharing a
cluster id (>= 0) are summed before squaring — the cluster-robust sandwich: the meat gains the
cross terms sum_c g_c g_c^T - sum_o g_o g_o^T, where g is an outcome's score contribution.
Outcomes alone in their cluster (id -1: pair votes) add nothing, so their intervals are exactly
as above; an outcome copied k times inside one cluster yields the interval of the single copy.

Rank. rank = 1 + number of rated models whose lower bound is above this model's upper bound
(LMArena's "Rank (UB)"), so statistically tied models share a rank.

Small samples. The maximum-likelihood estimate exists only when the "scored against" graph
(i -> j when i took any points from j) is strongly connected. Otherwise (a model won or lost
every vote, or groups never compared) we add a weak prior to *every* rated model: one win and
one loss against a virtual opponent of average strength (theta = 0). This keeps all scores and
intervals finite, favours no model, and fades as votes accumulate (it weighs two votes per
model). It is applied only when needed so that, whenever the MLE exists, the published scores are
exactly the textbook MLE (and match choix / LMArena). Models outside the main strongly connected
group carry `estimate_flag`. Models with no votes are placed at the mean (1000) with the prior's
interval and get no rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, log_expit
from scipy.stats import norm
from threadpoolctl import ThreadpoolController

ELO_PER_LOGIT = 400.0 / math.log(10.0)
BASE_SCORE = 1000.0
DEFAULT_MIN_VOTES = 20
# One win + one loss against a virtual average opponent (see module docstring).
DEFAULT_PRIOR_VOTES = 2.0
# Pseudo-votes pulling each pair's residual variance toward p(1-p) (small-sample guard).
VARIANCE_PSEUDO_VOTES = 1.0
# Most numbers held at once for the clusters' score rows (16 MB of float64).
CLUSTER_CHUNK_ENTRIES = 2**21


@dataclass(frozen=True)
class CodedVotes:
    """Outcomes as arrays: sides `a` and `b` index `models`; `cluster` is a judgment id per
    outcome (-1: independent), for cluster-robust intervals. What a caller that already holds
    integer codes passes instead of an outcomes frame (no names matched again)."""

    a: np.ndarray
    b: np.ndarray
    score_a: np.ndarray
    cluster: np.ndarray
    models: tuple[str, ...]


@dataclass(frozen=True)
class PairCounts:
    """Outcomes aggregated per unordered pair of models (i < j)."""

    models: tuple[str, ...]
    i: np.ndarray  # index of the first model, int
    j: np.ndarray  # index of the second model, int, always > i
    n: np.ndarray  # number of votes between i and j
    s: np.ndarray  # points of i: wins + 0.5 * ties
    q: np.ndarray  # sum of squared points of i: wins + 0.25 * ties (for the sandwich meat)

    @property
    def n_models(self) -> int:
        """Number of models (including ones without votes)."""
        return len(self.models)

    def votes_per_model(self) -> np.ndarray:
        """Number of votes each model took part in."""
        m = self.n_models
        return np.bincount(self.i, self.n, m) + np.bincount(self.j, self.n, m)


def pair_counts_from_arrays(
    a: np.ndarray, b: np.ndarray, score_a: np.ndarray, models: Sequence[str]
) -> PairCounts:
    """Aggregate index arrays (a, b, score of a) into per-pair counts; a == b rows are dropped."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    y = np.asarray(score_a, dtype=float)
    keep = a != b
    if not keep.all():  # a copy of every column only when some row must go
        a, b, y = a[keep], b[keep], y[keep]
    m = len(models)
    # Orient every vote as (low index, high index) so each pair has one row.
    swap = a > b
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    y = np.where(swap, 1.0 - y, y)
    key = lo * m + hi
    n = np.bincount(key, minlength=m * m).astype(float)
    s = np.bincount(key, y, m * m)
    q = np.bincount(key, y * y, m * m)
    nz = np.flatnonzero(n)
    return PairCounts(tuple(models), nz // m, nz % m, n[nz], s[nz], q[nz])


def count_pairs(outcomes: pd.DataFrame, models: Sequence[str] | None = None) -> PairCounts:
    """Aggregate an outcomes frame (columns a, b, score_a) into per-pair counts."""
    a, b, score, names, _ = _outcome_arrays(outcomes, models)
    return pair_counts_from_arrays(a, b, score, names)


def _outcome_arrays(
    outcomes: pd.DataFrame, models: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Per-outcome model indices (a, b), scores, the model names, and which rows were kept."""
    names = [str(x) for x in models] if models is not None else []
    seen = set(names)
    a_codes, a_names = _codes(outcomes["a"])
    b_codes, b_names = _codes(outcomes["b"])
    score = outcomes["score_a"].to_numpy(float)
    # Rows with a missing model or score cannot be counted.
    valid = (a_codes >= 0) & (b_codes >= 0) & ~np.isnan(score)
    a_codes, b_codes, score = a_codes[valid], b_codes[valid], score[valid]
    # Which names occur: a count per code, not a sort of every row.
    used = set(a_names[np.flatnonzero(np.bincount(a_codes, minlength=len(a_names)))]) | set(
        b_names[np.flatnonzero(np.bincount(b_codes, minlength=len(b_names)))]
    )
    names += sorted(str(x) for x in used if x not in seen)
    index = pd.Index(names)
    # Map the (few) distinct names, not the (many) rows.
    a = index.get_indexer(a_names)[a_codes]
    b = index.get_indexer(b_names)[b_codes]
    return a, b, score, names, valid


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their distinct values (uses a Categorical's codes when available)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories.to_numpy(dtype=object)
    codes, uniques = pd.factorize(column)
    return codes, np.asarray(uniques, dtype=object)


def win_matrix(counts: PairCounts) -> np.ndarray:
    """Dense matrix W with W[i, j] = points of i against j (ties count 0.5 each way)."""
    m = counts.n_models
    w = np.zeros((m, m))
    w[counts.i, counts.j] = counts.s
    w[counts.j, counts.i] = counts.n - counts.s
    return w


def _laplacian(i: np.ndarray, j: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
    """Weighted graph Laplacian sum_k w_k (e_i - e_j)(e_i - e_j)^T as a dense matrix."""
    # The weights summed per (i, j) first, in one pass: the matrix is then made from m x m
    # numbers, not from four copies of the outcomes (a vote with i == j adds nothing).
    per_pair = np.bincount(i * m + j, w, m * m).reshape(m, m)
    both = per_pair + per_pair.T
    out = -both
    out[np.diag_indices(m)] += both.sum(axis=1)
    return out


def _strong_components(counts: PairCounts) -> np.ndarray:
    """Strongly connected component label of each model in the 'took points from' graph."""
    m = counts.n_models
    fwd = counts.s > 0  # i took points from j
    bwd = counts.n - counts.s > 0  # j took points from i
    rows = np.concatenate([counts.i[fwd], counts.j[bwd]])
    cols = np.concatenate([counts.j[fwd], counts.i[bwd]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="strong")
    return labels


def _weak_groups(counts: PairCounts, rated: np.ndarray) -> list[list[int]]:
    """Groups of rated models linked by at least one vote (undirected components)."""
    m = counts.n_models
    graph = coo_matrix((np.ones(len(counts.i)), (counts.i, counts.j)), shape=(m, m)).tocsr()
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for k in np.flatnonzero(rated):
        groups.setdefault(int(labels[k]), []).append(int(k))
    return sorted(groups.values(), key=lambda g: (-len(g), g))


def _positions(n_models: int, sub: np.ndarray) -> np.ndarray:
    """Each model's position among the fitted models `sub`, -1 for the others."""
    pos = np.full(n_models, -1)
    pos[sub] = np.arange(len(sub))
    return pos


def _newton(
    counts: PairCounts, sub: np.ndarray, prior_votes: float
) -> tuple[np.ndarray, np.ndarray]:
    """Maximise the (optionally penalised) log-likelihood over models `sub`; return theta, H."""
    m = len(sub)
    pos = _positions(counts.n_models, sub)
    keep = (pos[counts.i] >= 0) & (pos[counts.j] >= 0)
    i, j = pos[counts.i[keep]], pos[counts.j[keep]]
    n, s = counts.n[keep], counts.s[keep]
    c = prior_votes

    def loglik(t: np.ndarray) -> float:
        d = t[i] - t[j]
        ll = float(np.sum(s * log_expit(d) + (n - s) * log_expit(-d)))
        if c > 0:
            ll += float(np.sum(0.5 * c * (log_expit(t) + log_expit(-t))))
        return ll

    theta = np.zeros(m)
    ll = loglik(theta)
    hess = np.zeros((m, m))
    for _ in range(200):
        p = expit(theta[i] - theta[j])
        r = s - n * p
        grad = np.bincount(i, r, m) - np.bincount(j, r, m)
        hess = _laplacian(i, j, n * p * (1.0 - p), m)
        if c > 0:
            pv = expit(theta)
            grad += c * (0.5 - pv)
            hess[np.diag_indices(m)] += c * pv * (1.0 - pv)
            step = np.linalg.solve(hess, grad)
        else:
            # The likelihood is flat along the all-ones direction; J/m fixes that gauge
            # without changing the step (the gradient is orthogonal to it).
            step = np.linalg.solve(hess + 1.0 / m, grad)
        # Step halving keeps Newton monotone on lopsided data.
        for _ in range(60):
            cand = theta + step
            if c == 0:
                cand -= cand.mean()
            new_ll = loglik(cand)
            if new_ll >= ll - 1e-12 * abs(ll):
                break
            step = step / 2.0
        theta, ll = cand, new_ll
        if np.max(np.abs(step)) < 1e-11:
            break
    p = expit(theta[i] - theta[j])
    hess = _laplacian(i, j, n * p * (1.0 - p), m)
    if c > 0:
        pv = expit(theta)
        hess[np.diag_indices(m)] += c * pv * (1.0 - pv)
    return theta, hess


def _meat(counts: PairCounts, sub: np.ndarray, theta_sub: np.ndarray) -> np.ndarray:
    """Empirical score variance (sandwich meat) from aggregated counts, shrunk per pair."""
    m = len(sub)
    pos = _positions(counts.n_models, sub)
    keep = (pos[counts.i] >= 0) & (pos[counts.j] >= 0)
    i, j = pos[counts.i[keep]], pos[counts.j[keep]]
    n, s, q = counts.n[keep], counts.s[keep], counts.q[keep]
    p = expit(theta_sub[i] - theta_sub[j])
    # sum over votes of (y - p)^2, expanded so only n, s, q are needed.
    rss = np.maximum(q - 2.0 * p * s + n * p * p, 0.0)
    k = VARIANCE_PSEUDO_VOTES
    per_vote = (rss + k * p * (1.0 - p)) / (n + k)
    return _laplacian(i, j, n * per_vote, m)


def _cluster_cross_terms(
    outcomes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_models: int,
    sub: np.ndarray,
    theta_sub: np.ndarray,
    chunk_entries: int = CLUSTER_CHUNK_ENTRIES,
) -> np.ndarray:
    """sum_c g_c g_c^T - sum_o g_o g_o^T over outcomes in clusters (id >= 0): the meat's
    cross terms between outcomes of one judgment."""
    a, b, y, cluster = outcomes
    m = len(sub)
    pos = _positions(n_models, sub)
    keep = (cluster >= 0) & (pos[a] >= 0) & (pos[b] >= 0) & (a != b)
    if not keep.any():
        return np.zeros((m, m))
    ia, ib, y = pos[a[keep]], pos[b[keep]], y[keep]
    c = pd.factorize(cluster[keep])[0]  # clusters numbered 0..k-1 (a hash, not a sort)
    r = y - expit(theta_sub[ia] - theta_sub[ib])  # the outcome's score: +r for a, -r for b
    # g_c is a dense row per cluster, built by bincount and multiplied by BLAS; clusters are
    # taken in chunks so the rows never hold more than `chunk_entries` numbers.
    per_chunk = max(1, chunk_entries // m)
    n_clusters = int(c.max()) + 1
    starts = np.arange(0, n_clusters, per_chunk)  # first cluster of each chunk
    if len(starts) == 1:
        edges = np.array([0, len(c)])
    else:
        order = np.argsort(c, kind="stable")
        ia, ib, r, c = ia[order], ib[order], r[order], c[order]
        edges = np.append(np.searchsorted(c, starts), len(c))
    cross = np.zeros((m, m))
    for first, lo, hi in zip(starts, edges[:-1], edges[1:], strict=True):
        size = min(per_chunk, n_clusters - int(first)) * m
        base = (c[lo:hi] - first) * m
        g = (
            np.bincount(base + ia[lo:hi], r[lo:hi], size)
            - np.bincount(base + ib[lo:hi], r[lo:hi], size)
        ).reshape(-1, m)
        cross += g.T @ g
    return cross - _laplacian(ia, ib, r * r, m)


@dataclass(frozen=True)
class BTResult:
    """A Bradley–Terry fit: per-model arrays in the order of `models`."""

    models: tuple[str, ...]
    theta: np.ndarray  # centred logits (mean 0 over rated models)
    cov: np.ndarray  # covariance of theta (logits²), centred
    score: np.ndarray  # Elo-like score, mean 1000 over rated models
    lo: np.ndarray
    hi: np.ndarray
    rank: np.ndarray  # float; NaN for models without votes
    votes: np.ndarray  # int
    preliminary: np.ndarray  # bool: votes < min_votes
    estimate_flag: np.ndarray  # bool: MLE missing for this model (prior used or no votes)
    flag_reason: tuple[str, ...]
    prior_applied: bool
    groups: tuple[tuple[str, ...], ...]  # groups of models compared with each other
    disconnection: str | None
    counts: PairCounts
    level: float
    min_votes: int
    prior_votes: float

    def index(self, model: str) -> int:
        """Position of `model` in the result arrays."""
        return self.models.index(model)

    def diff(self, a: str, b: str) -> tuple[float, float, float]:
        """Score difference a - b (Elo points) with its interval at the result's level."""
        ia, ib = self.index(a), self.index(b)
        d = (self.theta[ia] - self.theta[ib]) * ELO_PER_LOGIT
        var = self.cov[ia, ia] + self.cov[ib, ib] - 2.0 * self.cov[ia, ib]
        half = _z(self.level) * math.sqrt(max(var, 0.0)) * ELO_PER_LOGIT
        return float(d), float(d - half), float(d + half)

    def table(self) -> pd.DataFrame:
        """One row per model, sorted by score (best first)."""
        df = pd.DataFrame(
            {
                "model_key": list(self.models),
                "score": self.score,
                "lo": self.lo,
                "hi": self.hi,
                "rank": pd.array(
                    [None if np.isnan(r) else int(r) for r in self.rank], dtype="Int64"
                ),
                "votes": self.votes.astype(int),
                "preliminary": self.preliminary,
                "estimate_flag": self.estimate_flag,
                "flag_reason": list(self.flag_reason),
            }
        )
        return df.sort_values(["score", "model_key"], ascending=[False, True]).reset_index(
            drop=True
        )


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2.0))


def _ranks(lo: np.ndarray, hi: np.ndarray, rated: np.ndarray) -> np.ndarray:
    """Rank (UB): 1 + number of rated models whose lower bound exceeds this upper bound."""
    los = np.sort(lo[rated])
    above = len(los) - np.searchsorted(los, hi, side="right")
    return np.where(rated, 1.0 + above, np.nan)


_BLAS: ThreadpoolController | None = None


def _one_blas_thread():
    """A context in which BLAS/LAPACK run on one thread.

    The fit solves and inverts matrices of one row per competitor (tens to hundreds). On
    these OpenBLAS's thread pool only costs: on the 2-core machine with other work running, a
    200 x 200 solve took 100 ms with its default two threads and 0.7 ms with one.
    """
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()  # finds the loaded BLAS libraries once
    return _BLAS.limit(limits=1, user_api="blas")


def fit_bradley_terry(
    data: pd.DataFrame | PairCounts | CodedVotes,
    models: Sequence[str] | None = None,
    *,
    min_votes: int = DEFAULT_MIN_VOTES,
    level: float = 0.95,
    prior_votes: float = DEFAULT_PRIOR_VOTES,
    cluster_column: str | None = None,
) -> BTResult:
    """Fit BT on outcomes (a frame with a, b, score_a; or CodedVotes) or PairCounts; never raises
    on small data.

    `cluster_column` names an outcomes column of judgment ids (-1: independent) for
    cluster-robust intervals; see the module docstring.
    """
    with _one_blas_thread():
        return _fit(
            data,
            models,
            min_votes=min_votes,
            level=level,
            prior_votes=prior_votes,
            cluster_column=cluster_column,
        )


def _fit(
    data: pd.DataFrame | PairCounts | CodedVotes,
    models: Sequence[str] | None,
    *,
    min_votes: int,
    level: float,
    prior_votes: float,
    cluster_column: str | None,
) -> BTResult:
    """The body of `fit_bradley_terry` (run with BLAS on one thread)."""
    clustered = None
    if isinstance(data, CodedVotes):
        a, b = data.a.astype(np.int64), data.b.astype(np.int64)
        y = np.asarray(data.score_a, dtype=float)
        counts = pair_counts_from_arrays(a, b, y, data.models)
        clustered = (a, b, y, np.asarray(data.cluster, dtype=np.int64))
    elif isinstance(data, PairCounts):
        if cluster_column is not None:
            raise ValueError("cluster_column needs the outcomes frame, not PairCounts")
        counts = data
    elif cluster_column is not None:
        a, b, y, names, valid = _outcome_arrays(data, models)
        cluster = data[cluster_column].to_numpy(np.int64)[valid]
        counts = pair_counts_from_arrays(a, b, y, names)
        clustered = (a, b, y, cluster)
    else:
        counts = count_pairs(data, models)
    m = counts.n_models
    votes = np.rint(counts.votes_per_model()).astype(int)
    rated = votes > 0
    sub = np.flatnonzero(rated)

    theta = np.zeros(m)
    cov = np.zeros((m, m))
    prior_applied = False
    flag = ~rated
    reason = ["no votes" if not r else "" for r in rated]
    groups_idx = _weak_groups(counts, rated) if len(sub) else []

    if len(sub) >= 2:
        labels = _strong_components(counts)
        comp_sizes = np.bincount(labels[sub])
        n_strong = int(np.count_nonzero(comp_sizes))
        prior_applied = n_strong > 1
        c = prior_votes if prior_applied else 0.0
        if prior_applied and c <= 0:
            raise ValueError("prior_votes must be > 0: the MLE does not exist for these votes")
        t_sub, hess = _newton(counts, sub, c)
        meat = _meat(counts, sub, t_sub)
        if clustered is not None:
            meat = meat + _cluster_cross_terms(clustered, m, sub, t_sub)
        k = len(sub)
        if prior_applied:
            h_inv = np.linalg.inv(hess)
            pv = expit(t_sub)
            # The prior enters the meat with its own (model-based) variance, so a model
            # with few votes keeps a prior-sized interval rather than a vanishing one.
            cov_sub = h_inv @ (meat + np.diag(c * pv * (1.0 - pv))) @ h_inv
        else:
            h_inv = np.linalg.inv(hess + 1.0 / k) - 1.0 / k  # pseudo-inverse of a Laplacian
            cov_sub = h_inv @ meat @ h_inv
        # Centre on the rated models; carry the covariance through the same projection.
        centre = np.eye(k) - 1.0 / k
        t_sub = t_sub - t_sub.mean()
        cov_sub = centre @ cov_sub @ centre
        theta[sub] = t_sub
        cov[np.ix_(sub, sub)] = cov_sub
        if prior_applied:
            weak = np.full(m, -1)
            for g, members in enumerate(groups_idx):
                weak[members] = g
            _flag_outside_main(counts, labels, weak, sub, comp_sizes, votes, flag, reason)
    # Models without votes sit at the mean with the prior's own variance.
    no_vote_var = 1.0 / (max(prior_votes, 1e-9) * 0.25)
    unrated = np.flatnonzero(~rated)
    cov[unrated, unrated] = no_vote_var

    z = _z(level)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    score = BASE_SCORE + ELO_PER_LOGIT * theta
    lo = score - z * ELO_PER_LOGIT * sd
    hi = score + z * ELO_PER_LOGIT * sd
    model_names = counts.models
    groups = tuple(tuple(model_names[i] for i in g) for g in groups_idx)
    return BTResult(
        models=model_names,
        theta=theta,
        cov=cov,
        score=score,
        lo=lo,
        hi=hi,
        rank=_ranks(lo, hi, rated),
        votes=votes,
        preliminary=votes < min_votes,
        estimate_flag=flag,
        flag_reason=tuple(reason),
        prior_applied=prior_applied,
        groups=groups,
        disconnection=explain_disconnection(groups),
        counts=counts,
        level=level,
        min_votes=min_votes,
        prior_votes=prior_votes,
    )


def _flag_outside_main(
    counts: PairCounts,
    labels: np.ndarray,
    weak: np.ndarray,
    sub: np.ndarray,
    comp_sizes: np.ndarray,
    votes: np.ndarray,
    flag: np.ndarray,
    reason: list[str],
) -> None:
    """Flag rated models outside the single largest strongly connected group (in place)."""
    biggest = np.flatnonzero(comp_sizes == comp_sizes.max())
    main = int(biggest[0]) if len(biggest) == 1 else -1
    m = counts.n_models
    points = np.bincount(counts.i, counts.s, m) + np.bincount(counts.j, counts.n - counts.s, m)
    main_weak = weak[np.flatnonzero(labels == main)[0]] if main >= 0 else -1
    for k in sub:
        if labels[k] == main:
            continue
        flag[k] = True
        if points[k] >= votes[k] - 1e-9:
            reason[k] = "won its only vote" if votes[k] == 1 else f"won all {votes[k]} votes"
        elif points[k] <= 1e-9:
            reason[k] = "lost its only vote" if votes[k] == 1 else f"lost all {votes[k]} votes"
        elif weak.max() > 0 and (main < 0 or weak[k] != main_weak):
            reason[k] = "in a group never compared with the other groups"
        else:
            reason[k] = "only wins or only losses against the rest"


def explain_disconnection(groups: Sequence[Sequence[str]]) -> str | None:
    """A sentence naming groups of models never compared with each other, or None."""
    if len(groups) <= 1:
        return None
    named = "; ".join("{" + ", ".join(g) + "}" for g in groups)
    return (
        f"The votes form {len(groups)} groups that were never compared with each other: "
        f"{named}. Scores are comparable only within a group; across groups they are pulled "
        "to the same average by the prior. Vote on pairs that mix the groups to join them."
    )


@dataclass(frozen=True)
class VotesNeeded:
    """How many more a-vs-b votes would likely separate a and b at the given level."""

    a: str
    b: str
    diff: float  # current difference a - b, Elo points
    se: float  # its standard error, Elo points
    votes: float  # additional direct votes needed (math.inf when the difference is 0)
    level: float
    power: float
    separated: bool  # the difference interval already excludes 0


def votes_needed(
    result: BTResult, a: str, b: str, *, level: float = 0.95, power: float = 0.8
) -> VotesNeeded:
    """Estimate further a-vs-b votes for the difference interval to exclude 0 with `power`."""
    ia, ib = result.index(a), result.index(b)
    d = float(result.theta[ia] - result.theta[ib])
    var = float(result.cov[ia, ia] + result.cov[ib, ib] - 2.0 * result.cov[ia, ib])
    z_sep = _z(level)
    separated = abs(d) > z_sep * math.sqrt(max(var, 0.0))
    # One direct vote adds p(1-p) to the precision of the difference (Sherman–Morrison on
    # the information matrix); we need |d| / se_new >= z_level + z_power.
    p = float(expit(d))
    per_vote = p * (1.0 - p)
    target = z_sep + float(norm.ppf(power))
    if separated:
        needed = 0.0
    elif abs(d) < 1e-12:
        needed = math.inf
    else:
        precision_needed = (target / abs(d)) ** 2
        current = 1.0 / var if var > 0 else math.inf
        needed = max(0.0, math.ceil((precision_needed - current) / per_vote))
    return VotesNeeded(
        a=a,
        b=b,
        diff=d * ELO_PER_LOGIT,
        se=math.sqrt(max(var, 0.0)) * ELO_PER_LOGIT,
        votes=needed,
        level=level,
        power=power,
        separated=separated,
    )


def simulate_votes_needed(
    result: BTResult,
    a: str,
    b: str,
    extra_votes: int,
    *,
    n_sims: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> float:
    """Share of simulated studies in which a and b are separated after `extra_votes` more votes.

    Each simulation redraws every existing pair's votes from the fitted strengths (parametric
    bootstrap, win/loss only), adds `extra_votes` a-vs-b votes, refits and checks whether the
    difference interval excludes 0. With extra_votes = votes_needed(...).votes the share should
    be close to the requested power.
    """
    rng = np.random.default_rng(seed)
    counts = result.counts
    ia, ib = result.index(a), result.index(b)
    i = np.append(counts.i, min(ia, ib))
    j = np.append(counts.j, max(ia, ib))
    n = np.append(counts.n, float(extra_votes))
    p = expit(result.theta[i] - result.theta[j])
    hits = 0
    for _ in range(n_sims):
        wins = rng.binomial(n.astype(np.int64), p).astype(float)
        sim = merge_pair_rows(i, j, n, wins, wins, counts.models)
        fit = fit_bradley_terry(sim, min_votes=result.min_votes, level=level)
        _, d_lo, d_hi = fit.diff(a, b)
        hits += bool(d_lo > 0 or d_hi < 0)
    return hits / n_sims


def merge_pair_rows(
    i: np.ndarray,
    j: np.ndarray,
    n: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
    models: Sequence[str],
) -> PairCounts:
    """Build PairCounts from already-aggregated rows (i < j), summing repeated pairs."""
    m = len(models)
    key = np.asarray(i, dtype=np.int64) * m + np.asarray(j, dtype=np.int64)
    n_all = np.bincount(key, n, m * m)
    nz = np.flatnonzero(n_all)
    return PairCounts(
        tuple(models),
        nz // m,
        nz % m,
        n_all[nz],
        np.bincount(key, s, m * m)[nz],
        np.bincount(key, q, m * m)[nz],
    )
