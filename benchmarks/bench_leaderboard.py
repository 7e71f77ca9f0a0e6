"""Benchmark: the whole build_leaderboard on 50 competitors and 100,000 rating rows.

Run: python3 benchmarks/bench_leaderboard.py [--repeats 7]. Target: median <= 0.2 s on a
2-core machine. Times everything the page pays for: filtering, deriving pairwise outcomes from
rating rows (pair votes, stars, best picks, rejects), per-competitor cost/speed/reliability
stats, aggregation, the Bradley–Terry fit, sandwich intervals, ranks, Pareto front, callout and
votes-needed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vibegen.bradley_terry import fit_bradley_terry  # noqa: E402
from vibegen.leaderboard import build_leaderboard, competitor_stats, filter_rows  # noqa: E402
from vibegen.outcomes import pairwise_outcomes  # noqa: E402

ROUTERS = ("fal", "kie", "openai", "sd", "sandbox")
N_COMPETITORS = 50
IMAGES_PER_RUN = 8
N_RATERS = 12
TARGET_S = 0.2


def make_rows(n_ratings: int = 100_000, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic generations and exactly `n_ratings` rating rows (pair/stars/best/reject)."""
    rng = np.random.default_rng(seed)
    keys = np.array([f"{ROUTERS[k % 5]}:model-{k:02d}" for k in range(N_COMPETITORS)])
    strength = rng.normal(0.0, 1.0, N_COMPETITORS)
    n_runs = 6_000
    start = pd.Timestamp("2026-01-01", tz="UTC")

    comp = np.argsort(rng.random((n_runs, N_COMPETITORS)), axis=1)[:, :IMAGES_PER_RUN].ravel()
    run_idx = np.repeat(np.arange(n_runs), IMAGES_PER_RUN)
    n_gen = len(comp)
    status = rng.choice(
        ["ok", "error", "timeout", "pending"], size=n_gen, p=[0.9, 0.06, 0.03, 0.01]
    )
    generations = pd.DataFrame(
        {
            "generation_id": [f"g{k}" for k in range(n_gen)],
            "run_id": [f"r{k}" for k in run_idx],
            "model_key": keys[comp],
            "router": [k.split(":")[0] for k in keys[comp]],
            "label": keys[comp],
            "status": status,
            "error_kind": np.where(
                status == "error",
                rng.choice(["content_filter", "router_error", "rate_limit", "bad_image"], n_gen),
                np.where(status == "timeout", "timeout", None),
            ),
            "cost_usd": np.where(rng.random(n_gen) < 0.05, np.nan, 0.01 + 0.002 * comp),
            "cost_kind": rng.choice(["reported", "estimated", "computed"], n_gen),
            "wall_s": rng.gamma(4.0, 2.0, n_gen),
            "created_at": start + pd.to_timedelta(run_idx * 60, unit="s"),
            "prompt_set_id": None,
            "sandbox": False,
        }
    )
    gid = generations["generation_id"].to_numpy()

    # Mixed modes: 40% pair votes, 30% stars, 20% best picks, 10% rejects. Draw ~15% extra,
    # let the store's de-duplication rule apply, then keep exactly the wanted count per mode.
    want = {"pair": 0.4, "stars": 0.3, "best": 0.2, "reject": 0.1}
    want = {k: int(v * n_ratings) for k, v in want.items()}
    want["reject"] = n_ratings - want["pair"] - want["stars"] - want["best"]
    raters = np.array([f"rater{k}" for k in range(N_RATERS)])
    is_ok = status == "ok"
    frames = []

    def rows(
        mode: str, gen: np.ndarray, other: np.ndarray | None, value: np.ndarray, rater: np.ndarray
    ) -> pd.DataFrame:
        n = len(gen)
        return pd.DataFrame(
            {
                "run_id": generations["run_id"].to_numpy()[gen],
                "rater": rater,
                "mode": mode,
                "generation_id": gid[gen],
                "other_generation_id": gid[other] if other is not None else None,
                "value": value,
                "blind": rng.random(n) < 0.8,
                "created_at": start + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
            }
        )

    # Pair votes between two successful images of one run, outcome drawn from the strengths.
    n = int(want["pair"] * 1.3)
    pr = rng.integers(0, n_runs, n)
    slot = np.argsort(rng.random((n, IMAGES_PER_RUN)), axis=1)[:, :2]
    ga, gb = pr * IMAGES_PER_RUN + slot[:, 0], pr * IMAGES_PER_RUN + slot[:, 1]
    sel = is_ok[ga] & is_ok[gb]
    ga, gb = ga[sel], gb[sel]
    p_a = 1.0 / (1.0 + np.exp(-(strength[comp[ga]] - strength[comp[gb]])))
    u = rng.random(len(ga))
    value = np.where(rng.random(len(ga)) < p_a, "a", "b")
    value = np.where(u < 0.15, "both_bad", np.where(u < 0.10, "tie", value))
    frames.append(rows("pair", ga, gb, value, rng.choice(raters, len(ga))))
    # Stars: a rater stars the whole grid of a run.
    n_groups = int(want["stars"] * 1.3 / IMAGES_PER_RUN) + 1
    sr, srater = rng.integers(0, n_runs, n_groups), rng.choice(raters, n_groups)
    sg = (sr[:, None] * IMAGES_PER_RUN + np.arange(IMAGES_PER_RUN)).ravel()
    srater = np.repeat(srater, IMAGES_PER_RUN)
    sel = is_ok[sg]
    sg, srater = sg[sel], srater[sel]
    stars = np.clip(np.rint(3 + strength[comp[sg]] + rng.normal(0, 1, len(sg))), 1, 5)
    frames.append(rows("stars", sg, None, stars.astype(int).astype(str), srater))
    # Best picks and rejects on successful images.
    ok_pos = np.flatnonzero(is_ok)
    for mode in ("best", "reject"):
        g = rng.choice(ok_pos, int(want[mode] * 1.3))
        frames.append(rows(mode, g, None, np.full(len(g), "1"), rng.choice(raters, len(g))))
    ratings = pd.concat(frames, ignore_index=True)
    # The store de-duplicates current ratings: one per (rater, mode, image[, other image]).
    ratings = ratings.drop_duplicates(["rater", "mode", "generation_id", "other_generation_id"])
    ratings = pd.concat([ratings[ratings["mode"] == m].head(k) for m, k in want.items()])
    assert len(ratings) == n_ratings, len(ratings)
    return generations, ratings.reset_index(drop=True)


def main() -> None:
    """Time build_leaderboard several times and print the median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ratings", type=int, default=100_000)
    args = parser.parse_args()
    generations, ratings = make_rows(args.ratings)
    board = build_leaderboard(generations, ratings)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        board = build_leaderboard(generations, ratings)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    stages = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        g, r = filter_rows(generations, ratings)
        t1 = time.perf_counter()
        out = pairwise_outcomes(r, g)
        t2 = time.perf_counter()
        stats = competitor_stats(g)
        t3 = time.perf_counter()
        fit_bradley_terry(out, list(stats.index))
        t4 = time.perf_counter()
        for name, dt in (
            ("filter", t1 - t0),
            ("outcomes", t2 - t1),
            ("stats", t3 - t2),
            ("aggregate+fit+intervals", t4 - t3),
        ):
            stages.setdefault(name, []).append(dt)
    print(
        f"competitors={board.table.shape[0]} generations={len(generations)} "
        f"rating_rows={len(ratings)} outcomes={len(board.outcomes)}"
    )
    print(f"modes: {ratings['mode'].value_counts().to_dict()}")
    print(
        "stages (median ms): "
        + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in stages.items())
    )
    print(
        f"build_leaderboard: median {med:.3f} s over {args.repeats} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}); target <= {TARGET_S} s: "
        f"{'MET' if med <= TARGET_S else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
