"""Records: the run and cell types live apart from the store, status words are one enum, and
a simulated router is a property, not a name test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vibegen import budget
from vibegen.costs import Cost
from vibegen.errors import InputError
from vibegen.records import (
    FAILED,
    FINISHED,
    IN_FLIGHT,
    SIMULATED_ROUTERS,
    CellSpec,
    RunStatus,
    Status,
    simulated_router,
)
from vibegen.routers.sandbox_router import render

ROOT = Path(__file__).resolve().parents[1]

# Files allowed to break a rule, each with its reason (empty: none may).
STILL_IMPORT_RECORDS_FROM_STORE: set[str] = set()
STILL_NAME_THE_SANDBOX: set[str] = set()
STILL_COMPARE_STATUS_WORDS: set[str] = set()
STILL_IMPORT_THE_STORE_FOR_ITS_TYPE: set[str] = set()


def _sources() -> dict[str, ast.Module]:
    files = [
        *sorted((ROOT / "vibegen").rglob("*.py")),
        ROOT / "app.py",
        *sorted((ROOT / "pages").glob("*.py")),
    ]
    return {f.relative_to(ROOT).as_posix(): ast.parse(f.read_text(), str(f)) for f in files}


def _record_names() -> set[str]:
    # Everything vibegen.records defines itself (not what it imports).
    tree = ast.parse((ROOT / "vibegen" / "records.py").read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _store_imports(tree: ast.Module) -> set[str]:
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "vibegen.store"
        for alias in node.names
    }


def test_no_module_imports_a_record_type_from_the_store():
    records = _record_names()
    assert {
        "Cell",
        "CellSpec",
        "RunView",
        "RunSummary",
        "Spend",
        "Status",
        "new_id",
        "now",
        "check_run_id",
    } <= records
    offenders = {
        path: sorted(_store_imports(tree) & records)
        for path, tree in _sources().items()
        if _store_imports(tree) & records and path not in STILL_IMPORT_RECORDS_FROM_STORE
    }
    assert offenders == {}
    # The list of stragglers is kept true: a module that moved leaves it.
    still = {path for path, tree in _sources().items() if _store_imports(tree) & records}
    assert STILL_IMPORT_RECORDS_FROM_STORE <= still


def _runtime_store_imports(tree: ast.Module) -> set[str]:
    # `from vibegen.store import ...` outside an `if TYPE_CHECKING:` block.
    hidden = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "vibegen.store"
        and id(node) not in hidden
        for alias in node.names
    }


def _runtime_names(tree: ast.Module) -> set[str]:
    # Names used anywhere but in annotations (which `from __future__ import annotations`
    # leaves unevaluated).
    annotations: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            found = [a.annotation for a in every if a is not None and a.annotation is not None]
            found += [node.returns] if node.returns else []
        elif isinstance(node, ast.AnnAssign):
            found = [node.annotation]
        else:
            continue
        annotations.update(id(n) for a in found for n in ast.walk(a))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in annotations}


def test_no_module_imports_the_store_only_to_name_its_type():
    # A module handed a store names its type under TYPE_CHECKING: importing it for real is for
    # the modules that open one or call its functions.
    only_types = {
        path
        for path, tree in _sources().items()
        if _runtime_store_imports(tree) and not _runtime_store_imports(tree) & _runtime_names(tree)
    }
    assert only_types - STILL_IMPORT_THE_STORE_FOR_ITS_TYPE == set()
    assert STILL_IMPORT_THE_STORE_FOR_ITS_TYPE <= only_types


def _constants(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for elt in node.elts for v in _constants(elt)]
    return []


def _compared_words(tree: ast.Module, side) -> set[str]:
    """String constants compared (==, !=, in) with an expression `side` accepts."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        if any(side(o) for o in operands):
            found.update(w for o in operands for w in _constants(o))
    return found


def _anything(_node: ast.AST) -> bool:
    return True


def test_no_module_tests_for_the_sandbox_by_name():
    def names_sandbox(tree: ast.Module) -> bool:
        return "sandbox" in _compared_words(tree, _anything)

    sources = _sources()
    offenders = {p for p, tree in sources.items() if names_sandbox(tree)}
    assert offenders - STILL_NAME_THE_SANDBOX == set()
    assert STILL_NAME_THE_SANDBOX <= offenders


def _is_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "status"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "status"
    return False


def test_no_module_compares_a_status_with_a_bare_word():
    words = {s.value for s in Status}
    offenders = {
        p
        for p, tree in _sources().items()
        if p != "vibegen/records.py" and _compared_words(tree, _is_status) & words
    }
    assert offenders - STILL_COMPARE_STATUS_WORDS == set()
    assert STILL_COMPARE_STATUS_WORDS <= offenders


def test_status_words_are_the_stored_ones_and_each_has_one_place():
    assert [s.value for s in Status] == [
        "pending",
        "running",
        "ok",
        "error",
        "timeout",
        "interrupted",
    ]
    assert set(IN_FLIGHT) | set(FINISHED) == set(Status)
    assert not set(IN_FLIGHT) & set(FINISHED)
    assert set(FINISHED) - set(FAILED) == {Status.OK}
    assert Status.OK == "ok" and f"{Status.TIMEOUT}" == "timeout"
    assert [s.value for s in RunStatus] == ["running", "complete", "complete with failures"]


def _spec(router: str, usd: float, kind: str) -> CellSpec:
    return CellSpec(f"{router}:m", router, "M", 0, "p", {}, {}, Cost(usd, kind), 64, 64)


def test_a_stored_cell_reads_back_with_its_status_as_the_enum(any_store):
    run_id = any_store.create_run("p", {}, [_spec("sandbox", 0.01, "simulated")] * 2)
    first, second = any_store.run_view(run_id).cells
    assert first.status is Status.PENDING and first.in_flight and not first.finished
    any_store.save_success(
        first.id, render("dots", "p", 1, 64, 64), cost=Cost(0.01, "simulated"), wall_s=1.0
    )
    any_store.save_failure(second.id, kind="server", message="boom", wall_s=1.0, timeout=True)
    first, second = any_store.run_view(run_id).cells
    assert (first.status, second.status) == (Status.OK, Status.TIMEOUT)
    assert first.ok and second.failed and not second.ok
    (summary,) = any_store.list_runs()
    assert summary.status is RunStatus.COMPLETE_WITH_FAILURES


def test_simulated_is_a_property_of_the_cell_and_its_router(any_store):
    assert SIMULATED_ROUTERS == {"sandbox"}
    assert simulated_router("sandbox") and not simulated_router("fal")
    assert _spec("sandbox", 0.01, "simulated").simulated
    assert not _spec("fal", 0.02, "estimated").simulated
    run_id = any_store.create_run(
        "p", {}, [_spec("sandbox", 0.01, "simulated"), _spec("fal", 0.02, "estimated")]
    )
    cells = any_store.run_view(run_id).cells
    assert [c.simulated for c in cells] == [True, False]
    for cell in cells:
        any_store.save_success(cell.id, render("dots", "p", 1, 64, 64), cost=cell.cost, wall_s=1.0)
    (summary,) = any_store.list_runs()
    assert (summary.cost_usd, summary.simulated_usd) == (pytest.approx(0.02), pytest.approx(0.01))
    frame = any_store.generations_frame()
    assert dict(zip(frame["router"], frame["sandbox"], strict=True)) == {
        "sandbox": True,
        "fal": False,
    }


def test_a_simulated_router_is_never_capped():
    caps = budget.Caps(0.0, {"sandbox": 0.0, "fal": 0.0}, {})
    assert budget.over_cap("sandbox", caps, {}, run_spent=5.0) is None
    assert budget.over_cap("fal", caps, {}, run_spent=5.0) is not None
    # The per-run cap counts real money only: a sandbox-only run passes a $0 cap.
    budget.check_plan({"sandbox": 3.0}, budget.Caps(0.0), {}, {})
    with pytest.raises(InputError, match="per-run cap"):
        budget.check_plan({"sandbox": 3.0, "fal": 0.5}, budget.Caps(0.0), {}, {})
    settings = {budget.setting_key("day", r): "1" for r in ("sandbox", "fal")}
    assert budget.caps_from({}, settings, ["sandbox", "fal"]).daily == {"fal": 1.0}


def test_a_runs_total_reads_to_the_cent_and_its_exact_figure_is_kept(any_store):
    specs = [_spec("fal", 0.0123, "reported"), _spec("fal", 0.0111, "reported")]
    run_id = any_store.create_run("p", {}, [*specs, _spec("sandbox", 0.016, "simulated")])
    for cell in any_store.run_view(run_id).cells:
        any_store.save_success(cell.id, render("dots", "p", 1, 64, 64), cost=cell.cost, wall_s=1.0)
    view = any_store.run_view(run_id)
    assert view.spent_text() == "spent $0.02 for 2 images + $0.02 simulated"
    assert view.spent_text(exact=True) == "spent $0.0234 for 2 images + $0.0160 simulated"
