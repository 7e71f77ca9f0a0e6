"""Bradley–Terry fit, intervals, ranks, small-sample behaviour and votes-needed."""

from __future__ import annotations

import math

import choix
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from vibegen.bradley_terry import (
    ELO_PER_LOGIT,
    BTResult,
    count_pairs,
    fit_bradley_terry,
    merge_pair_rows,
    pair_counts_from_arrays,
    simulate_votes_needed,
    votes_needed,
    win_matrix,
)


def votes(*specs: tuple[str, str, int, int, int]) -> pd.DataFrame:
    """Outcomes from (a, b, wins of a, wins of b, ties)."""
    rows = []
    for a, b, wa, wb, t in specs:
        rows += [(a, b, 1.0)] * wa + [(a, b, 0.0)] * wb + [(a, b, 0.5)] * t
    return pd.DataFrame(rows, columns=["a", "b", "score_a"])


def row(result: BTResult, model: str) -> pd.Series:
    t = result.table().set_index("model_key")
    return t.loc[model]


def all_finite(result: BTResult) -> bool:
    return bool(
        np.isfinite(result.score).all()
        and np.isfinite(result.lo).all()
        and np.isfinite(result.hi).all()
        and (result.hi > result.lo).all()
    )


def random_outcomes(seed: int, m: int, n: int, tie_rate: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, m)
    a, b = rng.integers(0, m, n), rng.integers(0, m, n)
    y = (rng.random(n) < expit(theta[a] - theta[b])).astype(float)
    y[rng.random(n) < tie_rate] = 0.5
    return a, b, y


@pytest.mark.parametrize(
    "seed,m,n,tie_rate", [(0, 5, 400, 0.0), (1, 8, 3000, 0.2), (2, 12, 900, 0.1)]
)
def test_scores_match_choix_ilsr(seed: int, m: int, n: int, tie_rate: float) -> None:
    a, b, y = random_outcomes(seed, m, n, tie_rate)
    counts = pair_counts_from_arrays(a, b, y, [f"m{k}" for k in range(m)])
    result = fit_bradley_terry(counts)
    assert not result.prior_applied  # the MLE exists on these data
    params = choix.ilsr_pairwise_dense(win_matrix(counts), max_iter=100_000, tol=1e-13)
    expected = 1000.0 + ELO_PER_LOGIT * (params - params.mean())
    np.testing.assert_allclose(result.score, expected, atol=1e-6, rtol=0)
    assert result.score.mean() == pytest.approx(1000.0, abs=1e-9)


def test_elo_scale_two_models() -> None:
    result = fit_bradley_terry(votes(("A", "B", 64, 36, 0)))
    d, lo, hi = result.diff("A", "B")
    # 64% expected score <=> 400*log10(64/36) Elo points.
    assert d == pytest.approx(400 * math.log10(64 / 36), abs=1e-6)
    assert lo < d < hi
    assert result.score == pytest.approx([1000 + d / 2, 1000 - d / 2])


def test_count_pairs_orientation_and_ties() -> None:
    df = pd.DataFrame(
        {"a": ["B", "A", "A", "B"], "b": ["A", "B", "B", "A"], "score_a": [1.0, 0.5, 1.0, 0.0]}
    )
    counts = count_pairs(df, ["A", "B"])
    assert counts.models == ("A", "B")
    assert counts.n.tolist() == [4.0] and counts.s.tolist() == [0.0 + 0.5 + 1.0 + 1.0]
    assert counts.q.tolist() == [0.25 + 1.0 + 1.0]
    w = win_matrix(counts)
    assert w[0, 1] == 2.5 and w[1, 0] == 1.5


def test_merge_pair_rows_sums_repeated_pairs() -> None:
    c = merge_pair_rows(
        np.array([0, 0, 1]),
        np.array([1, 1, 2]),
        np.array([2.0, 3, 1]),
        np.array([1.0, 2, 0]),
        np.array([1.0, 2, 0]),
        ["a", "b", "c"],
    )
    assert c.i.tolist() == [0, 1] and c.n.tolist() == [5.0, 1.0] and c.s.tolist() == [3.0, 0.0]


def test_model_that_won_every_vote_is_finite_and_flagged() -> None:
    data = votes(
        ("A", "B", 6, 0, 0),
        ("A", "C", 5, 0, 0),
        ("B", "C", 7, 5, 2),
        ("C", "D", 6, 4, 0),
        ("B", "D", 5, 6, 1),
    )
    result = fit_bradley_terry(data)
    assert result.prior_applied and all_finite(result)
    a = row(result, "A")
    assert a["estimate_flag"] and a["flag_reason"] == "won all 11 votes"
    assert a["score"] == result.score.max()
    assert not row(result, "B")["estimate_flag"]  # B, C, D form the main group
    assert result.disconnection is None


def test_model_that_lost_every_vote_is_finite_and_flagged() -> None:
    data = votes(
        ("A", "B", 5, 3, 0),
        ("B", "C", 4, 4, 0),
        ("A", "C", 2, 3, 0),
        ("Z", "A", 0, 4, 0),
        ("Z", "C", 0, 3, 0),
    )
    result = fit_bradley_terry(data)
    z = row(result, "Z")
    assert all_finite(result)
    assert z["estimate_flag"] and z["flag_reason"] == "lost all 7 votes"
    assert z["score"] == result.score.min()


def test_single_decisive_vote_two_models() -> None:
    result = fit_bradley_terry(votes(("A", "B", 1, 0, 0)))
    assert all_finite(result) and result.prior_applied
    assert result.estimate_flag.all()
    assert row(result, "A")["score"] > row(result, "B")["score"]
    assert (result.rank == 1).all()  # one vote proves nothing: they share rank 1


def test_zero_votes_one_model_and_no_models() -> None:
    empty = pd.DataFrame({"a": [], "b": [], "score_a": []})
    one = fit_bradley_terry(empty, ["solo"])
    assert one.score.tolist() == [1000.0] and all_finite(one)
    assert one.estimate_flag.tolist() == [True] and one.flag_reason == ("no votes",)
    assert math.isnan(one.rank[0]) and one.votes.tolist() == [0]
    none = fit_bradley_terry(empty)
    assert none.models == () and none.table().empty and none.disconnection is None


def test_unrated_model_next_to_rated_ones() -> None:
    result = fit_bradley_terry(votes(("A", "B", 12, 8, 0)), ["A", "B", "C"])
    assert not result.prior_applied  # C has no votes: it does not force the prior on A and B
    c = row(result, "C")
    assert c["score"] == pytest.approx(1000.0) and c["votes"] == 0 and pd.isna(c["rank"])
    assert c["flag_reason"] == "no votes"
    assert result.score[:2].mean() == pytest.approx(1000.0)
    assert row(result, "A")["rank"] == 1


def test_all_ties_give_equal_scores_and_positive_width() -> None:
    result = fit_bradley_terry(votes(("A", "B", 0, 0, 3), ("B", "C", 0, 0, 2)))
    assert not result.prior_applied  # ties link both ways
    np.testing.assert_allclose(result.score, 1000.0, atol=1e-9)
    assert all_finite(result)
    assert (result.rank == 1).all()


def test_disconnected_groups_are_explained() -> None:
    data = votes(("A", "B", 3, 2, 1), ("C", "D", 2, 2, 0), ("D", "E", 1, 3, 0), ("C", "E", 2, 1, 0))
    result = fit_bradley_terry(data)
    assert all_finite(result) and result.prior_applied
    assert result.groups == (("C", "D", "E"), ("A", "B"))
    assert "2 groups" in result.disconnection
    assert "{C, D, E}" in result.disconnection and "{A, B}" in result.disconnection
    assert row(result, "A")["estimate_flag"] and row(result, "B")["estimate_flag"]
    assert row(result, "A")["flag_reason"] == "in a group never compared with the other groups"
    assert not row(result, "C")["estimate_flag"]


def test_rank_counts_models_whose_lower_bound_is_above() -> None:
    data = votes(
        ("A", "B", 52, 48, 0),
        ("A", "C", 90, 10, 0),
        ("B", "C", 88, 12, 0),
        ("C", "D", 85, 15, 0),
        ("A", "D", 97, 3, 0),
        ("B", "D", 96, 4, 0),
    )
    result = fit_bradley_terry(data)
    ranks = dict(zip(result.models, result.rank, strict=True))
    assert ranks["A"] == ranks["B"] == 1  # statistically tied: shared rank
    assert ranks["C"] == 3 and ranks["D"] == 4
    for k in range(len(result.models)):
        expected = 1 + sum(result.lo[j] > result.hi[k] for j in range(len(result.models)))
        assert result.rank[k] == expected


def test_preliminary_below_vote_threshold() -> None:
    data = votes(("A", "B", 10, 8, 0), ("B", "C", 2, 3, 0), ("A", "C", 1, 1, 0))
    result = fit_bradley_terry(data, min_votes=20)
    assert dict(zip(result.models, result.votes.tolist(), strict=True)) == {
        "A": 20,
        "B": 23,
        "C": 7,
    }
    assert dict(zip(result.models, result.preliminary.tolist(), strict=True)) == {
        "A": False,
        "B": False,
        "C": True,
    }
    assert fit_bradley_terry(data, min_votes=5).preliminary.sum() == 0


def test_ties_narrow_the_sandwich_interval() -> None:
    # Same expected score (0.5) but all ties carry less spread than wins and losses.
    coin = fit_bradley_terry(votes(("A", "B", 50, 50, 0)))
    ties = fit_bradley_terry(votes(("A", "B", 25, 25, 50)))
    width = lambda r: r.hi[0] - r.lo[0]  # noqa: E731
    assert width(ties) < width(coin)
    # 50/50 wins and losses: the observed spread equals p(1-p), so the sandwich equals inverse
    # Fisher, var(diff) = 1 / (n p (1-p)).
    _, lo, hi = coin.diff("A", "B")
    sd = (hi - lo) / 2 / 1.959963984540054 / ELO_PER_LOGIT
    assert sd**2 == pytest.approx(1 / (100 * 0.25), rel=1e-9)


def test_votes_needed_formula_and_edge_cases() -> None:
    close = fit_bradley_terry(
        votes(("A", "B", 33, 27, 0), ("A", "C", 30, 30, 0), ("B", "C", 30, 30, 0))
    )
    need = votes_needed(close, "A", "B")
    assert not need.separated and need.votes > 0 and need.diff > 0
    d = need.diff / ELO_PER_LOGIT
    p = expit(d)
    z = 1.959963984540054 + 0.8416212335729143
    se_after = 1 / math.sqrt((need.se / ELO_PER_LOGIT) ** -2 + need.votes * p * (1 - p))
    assert abs(d) / se_after >= z - 1e-9
    even = fit_bradley_terry(votes(("A", "B", 10, 10, 0)))
    assert votes_needed(even, "A", "B").votes == math.inf
    clear = fit_bradley_terry(votes(("A", "B", 90, 10, 0)))
    assert votes_needed(clear, "A", "B").separated and votes_needed(clear, "A", "B").votes == 0


def test_votes_needed_is_confirmed_by_simulation() -> None:
    data = votes(
        ("A", "B", 22, 18, 0),
        ("A", "C", 25, 15, 0),
        ("B", "C", 23, 17, 0),
        ("C", "D", 21, 19, 0),
        ("A", "D", 27, 13, 0),
        ("B", "D", 26, 14, 0),
    )
    result = fit_bradley_terry(data)
    need = votes_needed(result, "A", "B", power=0.8)
    assert 50 < need.votes < 5000
    power = simulate_votes_needed(result, "A", "B", int(need.votes), n_sims=400, seed=11)
    print(f"votes_needed={need.votes:.0f}, simulated power={power:.3f} (target 0.80)")
    assert 0.7 <= power <= 0.9
    # A quarter of the votes gives clearly less power.
    assert simulate_votes_needed(result, "A", "B", int(need.votes) // 4, n_sims=200) < power - 0.2


def test_never_crashes_on_odd_inputs() -> None:
    odd = pd.DataFrame({"a": ["A", "A", "B"], "b": ["A", "B", "A"], "score_a": [1.0, 1.0, 1.0]})
    result = fit_bradley_terry(odd)  # the self-comparison is ignored
    assert all_finite(result) and result.votes.tolist() == [2, 2]
    many = votes(*[(f"M{k}", f"M{k + 1}", 1, 0, 0) for k in range(30)])  # a chain of wins
    assert all_finite(fit_bradley_terry(many))


def test_independent_judgments_leave_the_intervals_exactly_as_they_were() -> None:
    data = votes(("A", "B", 14, 6, 3), ("B", "C", 9, 8, 2), ("A", "C", 12, 4, 0))
    plain = fit_bradley_terry(data)
    data["judgment"] = -1
    alone = fit_bradley_terry(data, cluster_column="judgment")
    data["judgment"] = np.arange(len(data))  # each outcome its own cluster: the same thing
    own = fit_bradley_terry(data, cluster_column="judgment")
    for fit in (alone, own):
        np.testing.assert_allclose(fit.theta, plain.theta, atol=1e-12)
        np.testing.assert_allclose(fit.cov, plain.cov, atol=1e-12)


def test_a_judgment_copied_inside_its_cluster_adds_no_certainty() -> None:
    once = votes(("A", "B", 30, 20, 0), ("B", "C", 25, 25, 0), ("A", "C", 35, 15, 0))
    once["judgment"] = np.arange(len(once))
    thrice = pd.concat([once] * 3, ignore_index=True)
    one = fit_bradley_terry(once, cluster_column="judgment")
    naive = fit_bradley_terry(thrice)
    robust = fit_bradley_terry(thrice, cluster_column="judgment")
    np.testing.assert_allclose(robust.theta, one.theta, atol=1e-9)
    width = {
        name: fit.hi - fit.lo for name, fit in (("one", one), ("naive", naive), ("robust", robust))
    }
    # Counted as independent, three copies look sqrt(3) times surer; as one judgment, they
    # do not (up to the small-sample guard's pseudo-vote, which weighs less among more rows).
    np.testing.assert_allclose(width["naive"], width["one"] / np.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(width["robust"], width["one"], rtol=0.02)


def test_cluster_column_needs_the_outcome_rows() -> None:
    counts = count_pairs(votes(("A", "B", 3, 2, 0)))
    with pytest.raises(ValueError, match="cluster_column needs the outcomes frame"):
        fit_bradley_terry(counts, cluster_column="judgment")


def test_a_single_vote_is_worded_as_one() -> None:
    result = fit_bradley_terry(votes(("A", "B", 1, 0, 0)))
    assert row(result, "A")["flag_reason"] == "won its only vote"
    assert row(result, "B")["flag_reason"] == "lost its only vote"


def test_cluster_cross_terms_do_not_depend_on_the_chunk_size() -> None:
    """The clusters' score rows are built in chunks to bound memory; the sum is the same."""
    from vibegen.bradley_terry import _cluster_cross_terms

    rng = np.random.default_rng(3)
    n, m = 5_000, 7
    a, b = rng.integers(0, m, n), rng.integers(0, m, n)
    y = rng.choice([0.0, 0.5, 1.0], n)
    cluster = np.where(rng.random(n) < 0.2, -1, rng.integers(0, 900, n))
    theta = rng.normal(0, 0.5, m)
    sub = np.arange(m)
    whole = _cluster_cross_terms((a, b, y, cluster), m, sub, theta, chunk_entries=10**9)
    for chunk in (m, 5 * m, 101 * m):
        parts = _cluster_cross_terms((a, b, y, cluster), m, sub, theta, chunk_entries=chunk)
        assert np.allclose(parts, whole, atol=1e-9)
    assert np.abs(whole).max() > 1.0  # clusters of several outcomes: the terms are not zero
