"""Exports: CSV and JSON of runs, images, ratings and the leaderboard, and a ZIP of a run's images.

Pure functions of the store (or of a computed leaderboard) that return bytes; no Streamlit.

Rules every export follows:
- No API key ever appears. Keys are never stored, but as a second line of defence every string
  written passes through `keys.redact` with the key values its caller passes in (`secrets`,
  which every function here requires: the app's include Streamlit secrets, the command line's
  its environment), and an original image whose bytes contain a key is
  written re-encoded without metadata.
- CSV cells that a spreadsheet would run as a formula (= + - @, tab, CR first) get a leading
  apostrophe: prompts, labels, error messages and rater names are untrusted text.
- CSV is UTF-8 with a byte-order mark (so Excel reads accents and emoji right) and RFC 4180
  line ends; JSON uses ISO 8601 dates and null for missing or non-finite numbers.
- Never image bytes in CSV or JSON; images only in the ZIP.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import random
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from vibegen import images
from vibegen.keys import redact
from vibegen.records import Cell, RunView

if TYPE_CHECKING:  # the leaderboard (and SciPy behind it) loads only where it is built
    from vibegen.leaderboard import Leaderboard
    from vibegen.store import Store

RUN_COLUMNS = [
    "run_id",
    "created_at",
    "prompt",
    "status",
    "models",
    "cells",
    "done",
    "images_ok",
    "failures",
    "cost_usd",
    "unknown_costs",
    "slowest_wall_s",
    "params",
]
IMAGE_COLUMNS = [
    "generation_id",
    "run_id",
    "position",
    "model_key",
    "router",
    "label",
    "image_index",
    "status",
    "error_kind",
    "error_message",
    "seed",
    "wall_s",
    "queue_s",
    "inference_s",
    "cost_usd",
    "cost_kind",
    "cost_basis",
    "cost_source",
    "cost_seen",
    "width",
    "height",
    "attempts",
    "started_at",
    "finished_at",
    "prompt",
    "params",
    "notes",
]
RATING_COLUMNS = [
    "rating_id",
    "run_id",
    "created_at",
    "rater",
    "mode",
    "value",
    "blind",
    "generation_id",
    "model_key",
    "other_generation_id",
    "other_model_key",
]
MANIFEST_COLUMNS = [
    "file",
    "blind_file",
    "generation_id",
    "run_id",
    "position",
    "model_key",
    "router",
    "label",
    "image_index",
    "status",
    "error_kind",
    "error_message",
    "seed",
    "width",
    "height",
    "format",
    "bytes",
    "sha256",
    "wall_s",
    "queue_s",
    "inference_s",
    "cost_usd",
    "cost_kind",
    "cost_basis",
    "cost_source",
    "cost_seen",
    "attempts",
    "finished_at",
    "prompt",
]
# Blind: nothing that names or hints at the model (no model, router, price, time, seed, id).
BLIND_MANIFEST_COLUMNS = ["file", "run_id", "width", "height", "bytes", "sha256", "prompt"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a ZIP entry can carry


# --------------------------------------------------------------------------- secrets
def resolve_secrets(secrets: Iterable[str]) -> list[str]:
    """The key values to redact, as a list (the caller's entry point collected them)."""
    return [s for s in secrets if s]


def clean_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every key value replaced by *** (a no-op when no key is set)."""
    return redact(text, secrets)


# ------------------------------------------------------------------ value conversion
def plain(value: Any, secrets: Sequence[str] = ()) -> Any:
    """`value` as plain JSON data: ISO dates, None for NaN/inf/NaT, keys redacted from text."""
    if value is None:
        return None
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Mapping):
        return {redact(str(k), secrets): plain(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        return [plain(v, secrets) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value), secrets)
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return redact(str(value), secrets)


def csv_safe(text: str) -> str:
    """`text` that a spreadsheet will show rather than evaluate (formula starts get a ')."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _kinds_text(kinds: Mapping[str, Any]) -> str:
    # A cost-kind mix reads well in a spreadsheet cell and still splits on "; " and "=".
    return "; ".join(f"{k}={v}" for k, v in kinds.items())


def _csv_cell(value: Any, column: str) -> str:
    """One CSV cell from a plain value (already redacted)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict) and column == "cost_kinds":
        return csv_safe(_kinds_text(value))
    if isinstance(value, dict | list):
        return csv_safe(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return csv_safe(str(value))


def to_csv(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], secrets: Sequence[str] = ()
) -> bytes:
    """CSV bytes (UTF-8 with BOM) of `rows` with these columns, formula-guarded and redacted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(plain(row.get(c), secrets), c) for c in columns])
    return out.getvalue().encode("utf-8-sig")


def to_json(data: Any, secrets: Sequence[str] = ()) -> bytes:
    """JSON bytes (UTF-8) of `data` made plain: ISO dates, null for NaN, keys redacted."""
    # allow_nan=False: a NaN that slipped through `plain` is a bug, not invalid JSON output.
    return json.dumps(plain(data, secrets), ensure_ascii=False, indent=2, allow_nan=False).encode(
        "utf-8"
    )


# ------------------------------------------------------------------------ rows
def _views(store: Store, run_id: str | None) -> list[RunView]:
    # A constant number of queries however many runs there are (never one per run).
    if run_id is not None:
        return [store.run_view(run_id)]
    return store.runs_bulk()


def run_row(view: RunView) -> dict[str, Any]:
    """One run as an export row (counts, known cost, slowest image, parameters)."""
    ok = [c for c in view.cells if c.ok]
    walls = [c.wall_s for c in ok if c.wall_s is not None]
    status = str(view.status)
    return {
        "run_id": view.id,
        "created_at": view.created_at,
        "prompt": view.prompt,
        "status": status,
        "models": len({c.model_key for c in view.cells}),
        "cells": len(view.cells),
        "done": view.done,
        "images_ok": len(ok),
        "failures": view.failures,
        "cost_usd": view.cost_so_far,
        "unknown_costs": view.unknown_costs,
        "slowest_wall_s": max(walls) if walls else None,
        "params": view.params,
    }


def image_row(cell: Cell) -> dict[str, Any]:
    """One generation as an export row (never its bytes)."""
    # Every other column is a Cell attribute of the same name.
    return {"generation_id": cell.id, **{c: getattr(cell, c) for c in IMAGE_COLUMNS[1:]}}


def runs_rows(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every run (or one), newest first, as export rows."""
    return [run_row(v) for v in _views(store, run_id)]


def images_rows(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every generation (of one run, or of all runs) as export rows, in grid order."""
    return [image_row(c) for v in _views(store, run_id) for c in v.cells]


def ratings_rows(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Current ratings (of one run, or all) with the model each rated image came from."""
    models = {c.id: c.model_key for v in _views(store, run_id) for c in v.cells}
    return [
        {
            "rating_id": r["id"],
            "run_id": r["run_id"],
            "created_at": r["created_at"],
            "rater": r["rater"],
            "mode": r["mode"],
            "value": r["value"],
            "blind": r["blind"],
            "generation_id": r["generation_id"],
            "model_key": models.get(r["generation_id"]),
            "other_generation_id": r["other_generation_id"],
            "other_model_key": models.get(r["other_generation_id"]),
        }
        for r in store.current_ratings(run_id)
    ]


# --------------------------------------------------------------------- CSV / JSON
@dataclass(frozen=True)
class Table:
    """An exportable table of the store: its CSV columns and how its rows are read."""

    columns: Sequence[str]
    rows: Callable[[Store, str | None], list[dict[str, Any]]]


TABLES = {
    "runs": Table(RUN_COLUMNS, runs_rows),
    "images": Table(IMAGE_COLUMNS, images_rows),
    "ratings": Table(RATING_COLUMNS, ratings_rows),
}
FORMATS = ("csv", "json")


def write(
    fmt: str, rows: list[dict[str, Any]], columns: Sequence[str], secrets: Sequence[str]
) -> bytes:
    """Rows in one format: the one CSV writer and the one JSON writer every export uses."""
    if fmt == "csv":
        return to_csv(rows, columns, secrets)
    if fmt == "json":
        return to_json(rows, secrets)
    raise ValueError(f"unknown export format: {fmt} (use one of {', '.join(FORMATS)})")


def export(
    table: str,
    fmt: str,
    store: Store,
    run_id: str | None = None,
    *,
    secrets: Iterable[str],
) -> bytes:
    """One table of the store (runs, images, ratings; of every run or one) as CSV or JSON.

    CSV: one row per item with the table's columns. JSON: a list of objects; never image
    bytes in either. Key values in `secrets` are redacted.
    """
    spec = TABLES[table]
    return write(fmt, spec.rows(store, run_id), spec.columns, resolve_secrets(secrets))


# The tables by name, for callers that want one file (each is `export` with its table).
runs_csv = partial(export, "runs", "csv")
runs_json = partial(export, "runs", "json")
images_csv = partial(export, "images", "csv")
images_json = partial(export, "images", "json")
ratings_csv = partial(export, "ratings", "csv")
ratings_json = partial(export, "ratings", "json")


def leaderboard_rows(lb: Leaderboard) -> list[dict[str, Any]]:
    """The leaderboard table as plain rows (rank as an integer, NaN as None)."""
    rows = []
    for rec in lb.table.to_dict("records"):
        row = {k: plain(v) for k, v in rec.items()}
        if isinstance(row.get("rank"), float) and row["rank"].is_integer():
            row["rank"] = int(row["rank"])
        rows.append(row)
    return rows


def leaderboard_csv(lb: Leaderboard, *, secrets: Iterable[str]) -> bytes:
    """The leaderboard table as CSV (cost_kinds as 'reported=3; estimated=1')."""
    return write("csv", leaderboard_rows(lb), list(lb.table.columns), resolve_secrets(secrets))


def leaderboard_data(lb: Leaderboard) -> dict[str, Any]:
    """The leaderboard as one JSON-ready object: table, callout, Pareto front, notes, filters.

    `columns` names the table's fields as the page and report show them (`board_spec`).
    """
    from vibegen.board_spec import COLUMNS  # with the leaderboard it describes

    return {
        "generated_at": dt.datetime.now(dt.UTC),
        "filters": lb.filters,
        "level": lb.fit.level,
        "min_votes": lb.fit.min_votes,
        "table": leaderboard_rows(lb),
        "callout": lb.callout,
        "pareto": list(lb.pareto),
        "pareto_excluded": list(lb.pareto_excluded),
        "notes": list(lb.notes),
        "disconnection": lb.disconnection,
        "votes_needed": lb.votes_needed,
        "columns": [
            {
                "key": c.key,
                "title": c.heading(lb.fit.level),
                "help": c.help,
                "fields": list(c.fields),
            }
            for c in COLUMNS
        ],
    }


def leaderboard_json(lb: Leaderboard, *, secrets: Iterable[str]) -> bytes:
    """The leaderboard as JSON: table plus callout, Pareto list and notes (NaN as null)."""
    return to_json(leaderboard_data(lb), resolve_secrets(secrets))  # one object, not rows


# ---------------------------------------------------------------------------- ZIP
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_extension(data: bytes) -> str:
    """The file extension for image bytes (png, jpg, webp, gif, …)."""
    for magic, ext in _SIGNATURES:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    try:  # anything else the store accepted decodes with Pillow: ask it
        return images.inspect(data).mime.split("/")[-1].replace("jpeg", "jpg")
    except Exception:  # noqa: BLE001 - an undecodable blob still gets exported, as .bin
        return "bin"


def without_metadata(data: bytes) -> bytes:
    """The image's pixels as a PNG with no text chunks, EXIF or ICC profile."""
    try:
        return images.strip_metadata(data)
    except (OSError, ValueError):
        # Modes PNG cannot hold (CMYK, YCbCr JPEGs): convert, then copy the pixels only.
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            clean = Image.new(rgb.mode, rgb.size)
            clean.paste(rgb)
            out = io.BytesIO()
            clean.save(out, format="PNG")
            return out.getvalue()


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return slug or "image"


def blind_names(run_id: str, cells: Sequence[Cell]) -> dict[str, str]:
    """Neutral file names (image-01.png …) for a run's successful cells, in a shuffled order.

    The shuffle is seeded by the run id, so the named ZIP's manifest can list each image's
    blind name (for matching blind answers back) while the blind order carries no hint of
    the grid order (which follows the order models were picked).
    """
    ok = [c for c in cells if c.ok]
    digest = hashlib.sha256(f"blind-zip\x1f{run_id}".encode()).digest()
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(ok)
    width = max(2, len(str(len(ok))))
    return {c.id: f"image-{i:0{width}d}.png" for i, c in enumerate(ok, start=1)}


def _named_file(cell: Cell, width: int, ext: str, secrets: Sequence[str]) -> str:
    index = f"-{cell.image_index + 1}" if cell.image_index else ""
    return f"{cell.position + 1:0{width}d}-{_slug(redact(cell.label, secrets))}{index}.{ext}"


def _zip_time(view: RunView) -> tuple[int, int, int, int, int, int]:
    # Every entry carries the run's time: per-image times would leak the finishing order
    # (i.e. which model is fast) in a blind ZIP, and a fixed time makes the ZIP reproducible.
    stamp = view.created_at.astimezone(dt.UTC).timetuple()[:6]
    return max(stamp, _ZIP_EPOCH)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, when: tuple, compress: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=when)
    # Images are already compressed: storing them is as small and much faster.
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def run_zip(store: Store, run_id: str, *, blind: bool = False, secrets: Iterable[str]) -> bytes:
    """A ZIP of the run's successful images plus manifest.json and manifest.csv.

    Named mode keeps the original bytes, names files after grid position and model, and the
    manifest lists every cell (failed ones with no file). Blind mode names files image-01.png
    … in a shuffled order, re-encodes them without metadata, and its manifest has no model,
    router, price, time or id columns.
    """
    secrets = resolve_secrets(secrets)
    view = store.run_view(run_id)
    when = _zip_time(view)
    names = blind_names(view.id, view.cells)
    width = max(2, len(str(len(view.cells))))
    rows: list[dict[str, Any]] = []
    buf = io.BytesIO()
    # One query for every image (the ZIP holds them all in memory anyway), not one per image.
    originals = store.images_bulk(c.id for c in view.cells if c.ok)
    with zipfile.ZipFile(buf, "w") as zf:
        cells = (
            sorted((c for c in view.cells if c.id in names), key=lambda c: names[c.id])
            if blind
            else view.cells
        )
        for cell in cells:
            data = originals.get(cell.id) if cell.ok else None
            if blind:
                if data is None:
                    continue
                clean = without_metadata(data)
                _add(zf, names[cell.id], clean, when, compress=False)
                rows.append(
                    {
                        "file": names[cell.id],
                        "run_id": view.id,
                        "width": cell.width,
                        "height": cell.height,
                        "bytes": len(clean),
                        "sha256": hashlib.sha256(clean).hexdigest(),
                        "prompt": cell.prompt,
                    }
                )
                continue
            row = {c: getattr(cell, c, None) for c in MANIFEST_COLUMNS} | {
                "generation_id": cell.id,
                "file": None,
                "blind_file": names.get(cell.id),
            }
            if data is not None:
                if any(s.encode() in data for s in secrets):
                    data = without_metadata(data)  # a key in the metadata never leaves
                ext = image_extension(data)
                file_name = _named_file(cell, width, ext, secrets)
                row |= {
                    "file": file_name,
                    "format": ext,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                _add(zf, file_name, data, when, compress=False)
            rows.append(row)
        columns = BLIND_MANIFEST_COLUMNS if blind else MANIFEST_COLUMNS
        manifest = {
            "run_id": view.id,
            "created_at": view.created_at,
            "prompt": view.prompt,
            "blind": blind,
            "images": rows,
        }
        if not blind:
            manifest["params"] = view.params
        _add(zf, "manifest.json", to_json(manifest, secrets), when, compress=True)
        _add(zf, "manifest.csv", to_csv(rows, columns, secrets), when, compress=True)
    return buf.getvalue()
