"""Benchmark: the whole leaderboard at two sizes, and the Leaderboard page at 10,000 runs.

Run: python3 benchmarks/bench_leaderboard.py [--repeats 7] [--only small|large|page]. Targets
(2-core machine), each printed with MET / NOT MET:

* 50 competitors x 100,000 rating rows (pair votes, stars, best picks, rejects): whole board
  <= 0.1 s;
* 200 competitors x 1,000,000 pair votes: whole board <= 0.5 s, with memory reported;
* the Leaderboard page on a SQLite store of 10,000 runs: <= 300 ms per interaction.

"Whole board" is everything build_leaderboard does: filtering, deriving pairwise outcomes,
per-competitor cost/speed/reliability stats, aggregation, the Bradley–Terry fit, sandwich
intervals, ranks, Pareto front, callout and votes-needed. It is timed twice: from coded rows
(`board_rows`, ids matched once: what every filter change pays) and from the two frames
(matching the ids included: what the first build after new data pays). The page is timed with
Streamlit's AppTest: the server-side script run per interaction, not the browser's drawing.
Memory: the peak of Python-visible allocations (tracemalloc, which sees numpy's buffers) during
one build, the arrays the coded rows add, and the process's max RSS.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vibegen.allocator import keep_freed_memory  # noqa: E402
from vibegen.board_rows import BoardRows  # noqa: E402
from vibegen.bradley_terry import fit_bradley_terry  # noqa: E402
from vibegen.leaderboard import board_rows, build_leaderboard, coded_stats  # noqa: E402
from vibegen.outcomes import coded_outcomes  # noqa: E402
from vibegen.ratings import make_rating  # noqa: E402
from vibegen.settings import load_settings
from vibegen.store import Store  # noqa: E402

ROUTERS = ("fal", "kie", "openai", "sd", "sandbox")
N_COMPETITORS = 50
IMAGES_PER_RUN = 8
N_RATERS = 12
SMALL_TARGET_S = 0.1  # 50 competitors x 100k rating rows
LARGE_TARGET_S = 0.5  # 200 competitors x 1M pair votes
PAGE_TARGET_S = 0.3  # Leaderboard page at 10,000 runs, per interaction


def make_rows(
    n_ratings: int = 100_000, seed: int = 7, n_runs: int = 6_000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic generations and exactly `n_ratings` rating rows (pair/stars/best/reject)."""
    rng = np.random.default_rng(seed)
    keys = np.array([f"{ROUTERS[k % 5]}:model-{k:02d}" for k in range(N_COMPETITORS)])
    strength = rng.normal(0.0, 1.0, N_COMPETITORS)
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


def make_pair_votes(
    n_votes: int = 1_000_000, n_competitors: int = 200, n_runs: int = 25_000, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic generations and exactly `n_votes` pair votes (the arena's kind of vote)."""
    rng = np.random.default_rng(seed)
    keys = np.array([f"{ROUTERS[k % 5]}:model-{k:03d}" for k in range(n_competitors)])
    strength = rng.normal(0.0, 1.0, n_competitors)
    comp = np.argsort(rng.random((n_runs, n_competitors)), axis=1)[:, :IMAGES_PER_RUN].ravel()
    run_idx = np.repeat(np.arange(n_runs), IMAGES_PER_RUN)
    n_gen = len(comp)
    status = np.where(rng.random(n_gen) < 0.97, "ok", "error")
    start = pd.Timestamp("2026-01-01", tz="UTC")
    gid = np.array([f"g{k}" for k in range(n_gen)], dtype=object)
    generations = pd.DataFrame(
        {
            "generation_id": gid,
            "run_id": [f"r{k}" for k in run_idx],
            "model_key": keys[comp],
            "router": [k.split(":")[0] for k in keys[comp]],
            "label": keys[comp],
            "status": status,
            "error_kind": np.where(status == "error", "router_error", None),
            "cost_usd": 0.01 + 0.0005 * comp,
            "cost_kind": "reported",
            "wall_s": rng.gamma(4.0, 2.0, n_gen),
            "created_at": start + pd.to_timedelta(run_idx * 60, unit="s"),
            "prompt_set_id": None,
            "sandbox": False,
        }
    )
    n = int(n_votes * 1.2)
    pr = rng.integers(0, n_runs, n)
    slot = np.argsort(rng.random((n, IMAGES_PER_RUN)), axis=1)[:, :2]
    ga, gb = pr * IMAGES_PER_RUN + slot[:, 0], pr * IMAGES_PER_RUN + slot[:, 1]
    rater = rng.integers(0, 50, n)
    ok = status == "ok"
    sel = ok[ga] & ok[gb]
    ga, gb, rater = ga[sel], gb[sel], rater[sel]
    # One current vote per (rater, pair), as the store keeps them.
    key = (np.minimum(ga, gb).astype(np.int64) * n_gen + np.maximum(ga, gb)) * 50 + rater
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)[:n_votes]
    ga, gb, rater = ga[first], gb[first], rater[first]
    assert len(ga) == n_votes, len(ga)
    p_a = 1.0 / (1.0 + np.exp(-(strength[comp[ga]] - strength[comp[gb]])))
    value = np.where(rng.random(n_votes) < p_a, "a", "b")
    value = np.where(rng.random(n_votes) < 0.1, "tie", value)
    ratings = pd.DataFrame(
        {
            "run_id": generations["run_id"].to_numpy()[ga],
            "rater": np.array([f"rater{k}" for k in range(50)])[rater],
            "mode": "pair",
            "generation_id": gid[ga],
            "other_generation_id": gid[gb],
            "value": value,
            "blind": rng.random(n_votes) < 0.8,
            "created_at": start + pd.to_timedelta(rng.integers(0, 10**7, n_votes), unit="s"),
        }
    )
    return generations, ratings


def _median_s(fn, repeats: int) -> tuple[float, float, float, float]:
    """Median, min and max wall time of `fn`, and its median CPU time (all threads)."""
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), min(times), max(times), statistics.median(cpu)


def _peak_mb(fn) -> float:
    """Peak memory allocated while `fn` runs (tracemalloc sees numpy's and pandas' buffers)."""
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _verdict(value: float, target: float) -> str:
    return "MET" if value <= target else "NOT MET"


def bench_board(
    name: str, generations: pd.DataFrame, ratings: pd.DataFrame, target_s: float, repeats: int
) -> None:
    """The whole board from coded rows (each filter change) and from frames (each data change)."""
    rows = board_rows(generations, ratings)
    board = build_leaderboard(rows)  # warm-up (imports, caches)
    warm = _median_s(lambda: build_leaderboard(rows), repeats)
    prepare = _median_s(lambda: board_rows(generations, ratings), max(3, repeats // 2))
    cold = _median_s(lambda: build_leaderboard(generations, ratings), max(3, repeats // 2))
    mem_warm = _peak_mb(lambda: build_leaderboard(rows))
    mem_rows = _peak_mb(lambda: board_rows(generations, ratings))
    print(
        f"[{name}] competitors={board.table.shape[0]} generations={len(generations)} "
        f"rating_rows={len(ratings)} outcomes={len(board.outcomes)}"
    )
    print(
        f"[{name}] whole board from coded rows (every filter change): median {warm[0]:.3f} s "
        f"over {repeats} (min {warm[1]:.3f}, max {warm[2]:.3f}; CPU {warm[3]:.3f}); peak memory "
        f"{mem_warm:.0f} MB; target <= {target_s} s: {_verdict(warm[0], target_s)}"
    )
    print(
        f"[{name}] matching ids once (board_rows, once per data change): median "
        f"{prepare[0]:.3f} s (CPU {prepare[3]:.3f}); peak memory {mem_rows:.0f} MB; "
        f"coded rows held: {_held_mb(rows):.0f} MB"
    )
    print(
        f"[{name}] whole board from frames, ids matched included: median {cold[0]:.3f} s "
        f"(CPU {cold[3]:.3f}); "
        f"target <= {target_s} s: {_verdict(cold[0], target_s)}"
    )


def _held_mb(rows: BoardRows) -> float:
    """Memory the coded arrays add to the frames they were built from."""
    return sum(v.nbytes for v in vars(rows).values() if isinstance(v, np.ndarray)) / 2**20


def _fill_store(store: Store, generations: pd.DataFrame, ratings: pd.DataFrame) -> None:
    """Write synthetic rows straight into the store's tables (as many runs would have)."""
    runs = generations.drop_duplicates("run_id")
    t_runs, t_gens, t_rates = store.t["runs"], store.t["generations"], store.t["ratings"]
    done = generations["status"].isin(["ok", "error", "timeout"])
    with store.engine.begin() as conn:
        conn.execute(
            t_runs.insert(),
            [
                {
                    "id": r,
                    "created_at": t.to_pydatetime(),
                    "prompt": f"prompt {r}",
                    "params_json": "{}",
                    "n_cells": IMAGES_PER_RUN,
                }
                for r, t in zip(runs["run_id"], runs["created_at"], strict=True)
            ],
        )
        conn.execute(
            t_gens.insert(),
            [
                {
                    "id": g.generation_id,
                    "run_id": g.run_id,
                    "position": k % IMAGES_PER_RUN,
                    "model_key": g.model_key,
                    "router": g.router,
                    "label": g.label,
                    "image_index": 0,
                    "prompt": "p",
                    "params_json": "{}",
                    "notes_json": "{}",
                    "status": g.status,
                    "error_kind": g.error_kind,
                    "wall_s": None if np.isnan(g.wall_s) else float(g.wall_s),
                    "cost_usd": None if np.isnan(g.cost_usd) else float(g.cost_usd),
                    "cost_kind": g.cost_kind,
                    "attempts": 1,
                    "finished_at": g.created_at.to_pydatetime() if d else None,
                }
                for k, (g, d) in enumerate(
                    zip(generations.itertuples(index=False), done, strict=True)
                )
            ],
        )
        slots = np.where(
            ratings["mode"] == "pair",
            "pair:" + ratings["generation_id"] + ":" + ratings["other_generation_id"].fillna(""),
            np.where(
                ratings["mode"] == "best", "best", ratings["mode"] + ":" + ratings["generation_id"]
            ),
        )
        conn.execute(
            t_rates.insert(),
            [
                {
                    "run_id": r.run_id,
                    "rater": r.rater,
                    "slot": slot,
                    "mode": r.mode,
                    "generation_id": r.generation_id,
                    "other_generation_id": r.other_generation_id
                    if isinstance(r.other_generation_id, str)
                    else None,
                    "value": r.value,
                    "blind": bool(r.blind),
                    "created_at": r.created_at.to_pydatetime(),
                }
                for r, slot in zip(ratings.itertuples(index=False), slots, strict=True)
            ],
        )


def bench_page(n_runs: int, n_ratings: int, repeats: int) -> None:
    """Leaderboard page (AppTest, server side) on a SQLite store holding `n_runs` runs."""
    from streamlit.testing.v1 import AppTest

    home = Path(tempfile.mkdtemp(prefix="vibegen-bench-"))
    os.environ["VIBEGEN_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    store = Store.open(load_settings().store_url)
    generations, ratings = make_rows(n_ratings, n_runs=n_runs)
    # The store's run ids are 32 hexadecimal characters.
    for frame in (generations, ratings):
        frame["run_id"] = [f"{int(r[1:]):032x}" for r in frame["run_id"]]
    _fill_store(store, generations, ratings)
    print(
        f"[page] store: {n_runs} runs, {len(generations)} generations, "
        f"{len(store.ratings_frame())} current ratings (SQLite, {home})"
    )
    page = str(Path(__file__).resolve().parents[1] / "pages" / "4_Leaderboard.py")
    at = AppTest.from_file(page, default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, at.exception
    raters = sorted(store.ratings_frame()["rater"].unique())

    steps = []
    for k in range(repeats):
        steps += [
            ("images per competitor", lambda k=k: at.number_input(key="lb_n").set_value(200 + k)),
            ("blind ratings only on", lambda: at.toggle(key="lb_blind").set_value(True)),
            # A new rater each time: a board not built yet.
            ("one rater", lambda k=k: at.selectbox(key="lb_rater").set_value(raters[k % 3])),
            ("everyone again", lambda: at.selectbox(key="lb_rater").set_value(None)),
            ("blind ratings only off", lambda: at.toggle(key="lb_blind").set_value(False)),
        ]
    times: dict[str, list[float]] = {}
    for name, act in steps:
        act()
        t0 = time.perf_counter()
        at.run()
        times.setdefault(name, []).append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    # A new rating arrives: the next interaction reads, matches and fits again.
    run_id, gen = ratings["run_id"].iloc[0], ratings["generation_id"].iloc[0]
    store.rate(run_id, "newcomer", make_rating("stars", gen, 5), blind=True)
    at.number_input(key="lb_n").set_value(999)
    t0 = time.perf_counter()
    at.run()
    after_new = time.perf_counter() - t0
    every = [t for v in times.values() for t in v]
    worst = max(statistics.median(v) for v in times.values())
    print(f"[page] first load (reads the store, matches ids, fits): {first:.3f} s")
    for name, v in times.items():
        print(f"[page] {name}: median {1000 * statistics.median(v):.0f} ms over {len(v)}")
    # Judged on the slowest single interaction: a filter's first use builds its board.
    print(
        f"[page] per interaction: median {1000 * statistics.median(every):.0f} ms, slowest "
        f"kind's median {1000 * worst:.0f} ms, slowest single {1000 * max(every):.0f} ms; "
        f"target <= {1000 * PAGE_TARGET_S:.0f} ms (slowest single): "
        f"{_verdict(max(every), PAGE_TARGET_S)}"
    )
    print(
        f"[page] first interaction after a new rating (reads and matches again): "
        f"{1000 * after_new:.0f} ms; target <= {1000 * PAGE_TARGET_S:.0f} ms: "
        f"{_verdict(after_new, PAGE_TARGET_S)}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"[page] benchmark process max RSS so far {rss:.0f} MB (includes every benchmark "
        "run before it in this process)"
    )
    store.close()
    shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    """Run the stage timings, the two board sizes and the page benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the page's store")
    parser.add_argument("--only", choices=["small", "large", "page"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["small", "large", "page"])
    # As the app's process does when it opens its store (vibegen/process.py): glibc keeps
    # freed arrays for reuse instead of mapping fresh pages for each one.
    allocator = "heap reuse set" if keep_freed_memory() else "the C library's defaults"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}; "
        f"{time.strftime('%Y-%m-%d')}; load average {os.getloadavg()[0]:.1f} at the start "
        "(other work on the machine stretches wall times; CPU times are this process's own); "
        f"allocator: {allocator} (vibegen/allocator.py)"
    )
    if "small" in only:
        generations, ratings = make_rows(args.ratings)
        rows = board_rows(generations, ratings)
        stages: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            keep, rkeep = rows.keep()
            t1 = time.perf_counter()
            out = coded_outcomes(rows, keep, rkeep)
            t2 = time.perf_counter()
            stats = coded_stats(rows, keep)
            t3 = time.perf_counter()
            fit_bradley_terry(out, list(stats.index), cluster_column="judgment")
            t4 = time.perf_counter()
            for name, dt in (
                ("filter", t1 - t0),
                ("outcomes", t2 - t1),
                ("stats", t3 - t2),
                ("aggregate+fit+intervals", t4 - t3),
            ):
                stages.setdefault(name, []).append(dt)
        print(f"modes: {ratings['mode'].value_counts().to_dict()}")
        print(
            "stages from coded rows (median ms): "
            + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in stages.items())
        )
        bench_board("50 x 100k", generations, ratings, SMALL_TARGET_S, args.repeats)
    if "large" in only:
        generations, ratings = make_pair_votes(args.votes)
        bench_board("200 x 1M", generations, ratings, LARGE_TARGET_S, max(3, args.repeats // 2))
    if "page" in only:
        bench_page(args.runs, args.ratings, max(3, args.repeats // 2))


if __name__ == "__main__":
    main()
