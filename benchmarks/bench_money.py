"""Money under router faults: what the fakes billed vs what VibeGen shows, and jobs per cell.

Runs a matrix of fault scenarios against the local fal and Kie fakes (real HTTP on 127.0.0.1),
through the real runner and store. For each router it prints the total the fake billed (its
own books: fal billable units × the published unit price typed here, Kie credits kept after
refunds × $0.005), the total VibeGen stored as reported, what it stored as "may be billed"
estimates (jobs left running at their deadline), and the jobs the fake received per cell.
Target: billed = shown reported to the cent; 1.00 jobs per cell.
Run: python benchmarks/bench_money.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake  # noqa: E402
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake  # noqa: E402
from vibegen.catalog import default_catalog  # noqa: E402
from vibegen.params import CommonParams  # noqa: E402
from vibegen.runner import Runner  # noqa: E402
from vibegen.store import Store  # noqa: E402

FAL_USD_PER_UNIT = 0.003  # FLUX.1 [schnell] on fal: $0.003 per megapixel (catalog.md §1a)
KIE_USD_PER_CREDIT = 0.005  # catalog.md §2
CELLS = 4  # cells per scenario (the most images per model a run allows)

FAL_SCENARIOS = [
    "success",
    "poll_503_once",
    "429_once",
    "503",
    "nsfw",
    "image_404",
    "not_image",
    "content_policy",
    "flaky_polls",
]
KIE_SCENARIOS = [
    "success",
    "poll_429_once",
    "malformed_json",
    "429_once",
    "500",
    "fail_content",
    "not_image",
    "image_404",
    "poll_limit",
]
# Refused submits: scripted once, so the retried submit is admitted (a burst, not an outage).
ONCE = ("429_once", "503", "500")


def _run(runner: Runner, store: Store, model: str) -> list:
    run_id = runner.start_run("a lighthouse at dusk", [model], CommonParams(images_per_model=CELLS))
    assert runner.wait(run_id, 120), "run did not finish"
    return store.run_view(run_id)


def _shown(view) -> tuple[float, float]:
    reported = sum(s.usd or 0.0 for s in view.spend if s.cost.kind == "reported")
    doubt = sum(s.usd or 0.0 for s in view.spend if s.cost.kind == "estimated")
    return reported, doubt


def fal_row(scenario: str, tmp: str) -> tuple:
    catalog = default_catalog()
    flaky = 8 if scenario == "flaky_polls" else 0
    with FalFake(flaky_polls=flaky) as fake:
        fake.retry_after = "0"
        if scenario != "flaky_polls":
            fake.script(*([scenario] * (1 if scenario in ONCE else CELLS)))
        store = Store.open(f"sqlite:///{tmp}/fal-{scenario}.db")
        runner = Runner(
            store,
            catalog,
            env={
                "FAL_KEY": TEST_FAL_KEY,
                "VIBEGEN_FAL_URL": fake.url,
                "VIBEGEN_FAL_CONCURRENCY": str(CELLS),
            },
            router_options={"fal": {"poll_interval": 0.02}},
            heartbeat=False,
        )
        view = _run(runner, store, "fal:flux-schnell")
        runner.close()
        billed = sum(fake.billed.values()) * FAL_USD_PER_UNIT
        return billed, *_shown(view), len(fake.jobs) / CELLS, view


def kie_row(scenario: str, tmp: str) -> tuple:
    catalog = default_catalog()
    kw = {"poll_limit": 10, "poll_window": 1.0} if scenario == "poll_limit" else {}
    with KieFake(**kw) as fake:
        if scenario != "poll_limit":
            fake.script(*([scenario] * (1 if scenario in ONCE else CELLS)))
        start = fake.balance
        store = Store.open(f"sqlite:///{tmp}/kie-{scenario}.db")
        runner = Runner(
            store,
            catalog,
            env={
                "KIE_API_KEY": TEST_KIE_KEY,
                "VIBEGEN_KIE_URL": fake.url,
                "VIBEGEN_KIE_CONCURRENCY": "24",
            },
            router_options={"kie": {"poll_interval": 0.02}},
            heartbeat=False,
        )
        view = _run(runner, store, "kie:z-image")
        runner.close()
        billed = (start - fake.balance) * KIE_USD_PER_CREDIT
        return billed, *_shown(view), len(fake.tasks) / CELLS, view


def main() -> int:
    """Print one line per (router, scenario) and a verdict per router."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help
    ok = True
    print(f"{CELLS} cells per scenario")
    print(
        "router  scenario          billed_usd  shown_reported  may_be_billed  jobs/cell  cells ok"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for router, scenarios, row in (
            ("fal", FAL_SCENARIOS, fal_row),
            ("kie", KIE_SCENARIOS, kie_row),
        ):
            total_billed = total_shown = 0.0
            worst_jobs = 0.0
            for scenario in scenarios:
                billed, shown, doubt, jobs, view = row(scenario, tmp)
                good = sum(c.status == "ok" for c in view.cells)
                total_billed += billed
                total_shown += shown
                worst_jobs = max(worst_jobs, jobs)
                print(
                    f"{router:6s}  {scenario:16s}  {billed:10.4f}  {shown:14.4f}  "
                    f"{doubt:13.4f}  {jobs:9.2f}  {good}/{len(view.cells)}"
                )
            met = round(total_billed, 2) == round(total_shown, 2) and worst_jobs <= 1.0
            ok &= met
            print(
                f"{router}: billed ${total_billed:.4f}, shown ${total_shown:.4f}, "
                f"max jobs per cell {worst_jobs:.2f}: {'MET' if met else 'NOT MET'}"
            )
    print(f"target billed = shown to the cent and 1.00 jobs per cell: {'MET' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
