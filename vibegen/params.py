"""One common choice of parameters, mapped onto each model's own request parameters.

The UI offers aspect ratio, resolution tier, quality, seed and images per model once; each
model speaks its own dialect (fal `image_size` presets, `aspect_ratio` enums, OpenAI size
strings, width/height). A choice a model cannot honour is reported in `notes` ("seed: n/a"),
never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vibegen.catalog import Model, SizeSpec
from vibegen.errors import InputError

ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16")
RESOLUTIONS = ("1K", "2K", "4K")
QUALITIES = ("low", "medium", "high")
MAX_IMAGES_PER_MODEL = 4

# fal's named sizes (catalog.md §3): the preset is sent when it is the exact 1K request.
FAL_PRESETS = {
    "1:1": ("square_hd", 1024, 1024),
    "4:3": ("landscape_4_3", 1024, 768),
    "3:4": ("portrait_4_3", 768, 1024),
    "16:9": ("landscape_16_9", 1024, 576),
    "9:16": ("portrait_16_9", 576, 1024),
}


def parse_seed(text: str | None) -> int | None:
    """A seed typed by a person: None when empty; InputError in words when not 0…2³¹−1."""
    raw = (text or "").strip()
    if not raw:
        return None
    # ASCII digits only: "²".isdigit() is True, yet int("²") fails.
    if not (raw.isascii() and raw.isdigit()):
        raise InputError(
            "the seed must be a whole number from 0 to 2147483647, or empty for a random one"
        )
    value = int(raw) if len(raw) <= 10 else 2**31  # int() refuses over 4,300 digits
    if value >= 2**31:
        raise InputError(
            f"the seed {raw[:20]}{'…' if len(raw) > 20 else ''} is too large: "
            "use a whole number from 0 to 2147483647"
        )
    return value


@dataclass(frozen=True)
class CommonParams:
    """The parameters a designer chooses once for every model in a run."""

    aspect: str = "1:1"
    resolution: str = "1K"
    quality: str = "medium"
    seed: int | None = None
    images_per_model: int = 1

    def __post_init__(self) -> None:
        if self.aspect not in ASPECTS:
            raise InputError(f"aspect ratio {self.aspect!r} is not one of {', '.join(ASPECTS)}")
        if self.resolution not in RESOLUTIONS:
            raise InputError(f"resolution {self.resolution!r} is not one of 1K, 2K, 4K")
        if self.quality not in QUALITIES:
            raise InputError(f"quality {self.quality!r} is not one of low, medium, high")
        if not 1 <= self.images_per_model <= MAX_IMAGES_PER_MODEL:
            raise InputError(f"images per model must be 1 to {MAX_IMAGES_PER_MODEL}")
        if self.seed is not None and not 0 <= self.seed < 2**31:
            raise InputError("seed must be a whole number from 0 to 2147483647")


@dataclass
class MappedParams:
    """A model's native parameters for one image, its expected size, and what it cannot do."""

    params: dict[str, Any]
    width: int
    height: int
    notes: dict[str, str] = field(default_factory=dict)


def _ratio(aspect: str) -> float:
    w, h = aspect.split(":")
    return float(w) / float(h)


NOMINAL_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}


def target_size(aspect: str, resolution: str, max_edge: int = 4096, multiple: int = 16) -> tuple:
    """Width and height for an aspect ratio at a tier (1K ≈ 1 MP, 2K ≈ 4 MP, 4K ≈ 16 MP)."""
    side = NOMINAL_SIDE[resolution]
    r = _ratio(aspect)
    w = side * math.sqrt(r)
    h = side / math.sqrt(r)
    scale = min(1.0, max_edge / max(w, h))
    w, h = w * scale, h * scale
    return (
        max(multiple, int(round(w / multiple)) * multiple),
        max(multiple, int(round(h / multiple)) * multiple),
    )


def fit_size(aspect: str, resolution: str, spec: SizeSpec) -> tuple[int, int]:
    """The valid width × height for `spec` nearest the tier's nominal size at this aspect.

    Nominal = the tier's area (1K = 1024², ...) at the aspect ratio; then the area is brought
    inside the spec's pixel budget and edge limit, and the size is rounded to the spec's
    multiple in whichever direction stays inside every constraint.
    """
    side = NOMINAL_SIDE[resolution]
    r = _ratio(aspect)
    if spec.max_ratio is not None:  # an aspect beyond the model's ratio limit: the limit
        r = min(max(r, 1 / spec.max_ratio), spec.max_ratio)
    area = float(side * side)
    if spec.max_pixels is not None:
        area = min(area, spec.max_pixels)
    w, h = math.sqrt(area * r), math.sqrt(area / r)
    scale = min(1.0, spec.max_edge / max(w, h))
    w, h = w * scale, h * scale
    if spec.min_pixels is not None and w * h < spec.min_pixels:
        grow = math.sqrt(spec.min_pixels / (w * h))
        w, h = w * grow, h * grow
    m = spec.multiple_of
    best: tuple[float, int, int] | None = None
    for cw in {math.floor(w / m) * m + k * m for k in range(-2, 4)}:
        for ch in {math.floor(h / m) * m + k * m for k in range(-2, 4)}:
            if cw < m or ch < m or spec.violations(cw, ch):
                continue
            # aspect first (the composition), then closeness to the intended area
            score = 4 * abs(math.log(cw / ch / r)) + abs(math.log(cw * ch / (w * h)))
            if best is None or score < best[0]:
                best = (score, cw, ch)
    if best is None:  # nothing valid near the target: say so rather than send a bad size
        raise InputError(f"no {aspect} size at {resolution} fits this model's size limits")
    return best[1], best[2]


def _nearest_aspect(aspect: str, choices: list[str]) -> str:
    ratios = [c for c in choices if ":" in c]
    if not ratios:
        return choices[0]
    return min(ratios, key=lambda c: abs(math.log(_ratio(c) / _ratio(aspect))))


def _parse_wh(value: str) -> tuple[int, int]:
    w, h = value.lower().split("x")
    return int(w), int(h)


def requested_size(model: Model, params: dict[str, Any]) -> tuple[int, int] | None:
    """The width × height a request asks for, when its parameters name one (else None)."""
    value = params.get(model.size.param)
    if model.size.kind == "wh":
        w, h = params.get("width"), params.get("height")
        return (w, h) if isinstance(w, int) and isinstance(h, int) else None
    if isinstance(value, dict):
        w, h = value.get("width"), value.get("height")
        return (w, h) if isinstance(w, int) and isinstance(h, int) else None
    if isinstance(value, str):
        for name, pw, ph in FAL_PRESETS.values():
            if value == name:
                return pw, ph
        if model.size.kind == "openai_size" and "x" in value:
            try:
                return _parse_wh(value)
            except ValueError:
                return None
    return None


def _size_note(common: CommonParams, w: int, h: int, notes: dict[str, str]) -> None:
    """Say so when the size sent is far from the tier's nominal area (a model limit)."""
    nominal = NOMINAL_SIDE[common.resolution] ** 2
    if not 0.85 <= w * h / nominal <= 1.15:
        notes.setdefault("resolution", f"{common.resolution} → {w}×{h} (this model's size limit)")


def _preset_choice(common: CommonParams, spec: SizeSpec, notes: dict[str, str]) -> tuple:
    """An enum-only `image_size` (Kie's fal-style presets): the preset nearest the aspect."""
    sizes = {name: (pw, ph) for name, pw, ph in FAL_PRESETS.values() if name in spec.values}
    if not sizes:
        return {spec.param: spec.values[0]}, *target_size(common.aspect, "1K", spec.max_edge)
    r = _ratio(common.aspect)
    name = min(sizes, key=lambda n: abs(math.log(sizes[n][0] / sizes[n][1] / r)))
    w, h = sizes[name]
    if abs(math.log(w / h / r)) > 0.01:
        notes["aspect"] = f"{common.aspect} → {name}"
    if common.resolution != "1K":
        notes["resolution"] = f"{common.resolution} → {name} (presets only)"
    return {spec.param: name}, w, h


def _map_size(model: Model, common: CommonParams, notes: dict[str, str]) -> tuple:
    spec = model.size
    if spec.kind == "wh":  # sandbox / A1111: no limits beyond the edge and the multiple
        w, h = target_size(common.aspect, common.resolution, spec.max_edge, spec.multiple_of)
        _size_note(common, w, h, notes)
        return {"width": w, "height": h}, w, h
    if spec.kind == "fal_image_size":
        if spec.values:  # the router takes only these preset names, never {width, height}
            return _preset_choice(common, spec, notes)
        preset = FAL_PRESETS.get(common.aspect)
        # fal's named 1K size, unless it breaks the model's limits (Seedream: ≥ 921,600 px)
        if common.resolution == "1K" and preset and not spec.violations(preset[1], preset[2]):
            return {spec.param: preset[0]}, preset[1], preset[2]
        w, h = fit_size(common.aspect, common.resolution, spec)
        _size_note(common, w, h, notes)
        return {spec.param: {"width": w, "height": h}}, w, h
    if spec.kind == "openai_size":
        if not spec.values:  # free WxH inside the model's documented limits
            w, h = fit_size(common.aspect, common.resolution, spec)
            _size_note(common, w, h, notes)
            return {spec.param: f"{w}x{h}"}, w, h
        sized = [v for v in spec.values if "x" in v]
        best = min(
            sized,
            key=lambda v: abs(
                math.log((_parse_wh(v)[0] / _parse_wh(v)[1]) / _ratio(common.aspect))
            ),
        )
        w, h = _parse_wh(best)
        if abs(w / h - _ratio(common.aspect)) > 0.01:
            notes["aspect"] = f"{common.aspect} → {best}"
        if common.resolution != "1K":
            notes["resolution"] = f"{common.resolution} → {best}"
        return {spec.param: best}, w, h
    # aspect_ratio / size_enum: a ratio string from the model's list
    choice = (
        common.aspect
        if common.aspect in spec.values
        else _nearest_aspect(common.aspect, spec.values)
    )
    if choice != common.aspect:
        notes["aspect"] = f"{common.aspect} → {choice}"
    w, h = target_size(choice if ":" in choice else common.aspect, common.resolution, spec.max_edge)
    return {spec.param: choice}, w, h


def _excluded(model: Model, params: dict[str, Any]) -> bool:
    return any(
        all(str(params.get(k)) == v for k, v in combo.items()) for combo in model.size.excluded
    )


def map_params(model: Model, common: CommonParams, image_index: int = 0) -> MappedParams:
    """Map the common choice onto `model`'s own parameters for image number `image_index`."""
    notes: dict[str, str] = {}
    params: dict[str, Any] = dict(model.fixed_params)
    size_params, w, h = _map_size(model, common, notes)
    params.update(size_params)

    if "resolution" in model.params:
        options = model.params["resolution"]
        res = common.resolution if common.resolution in options else options[-1]
        if res != common.resolution:
            notes["resolution"] = f"{common.resolution} → {res}"
        params["resolution"] = res
        # a combination the model rejects (Kie gpt-image-2: no 1:1 at 4K): keep the aspect
        # (the composition) and step the resolution down to the nearest accepted one
        lower = options[: options.index(res)]
        while _excluded(model, params) and lower:
            params["resolution"] = lower.pop()
        if params["resolution"] != res:
            notes["resolution"] = (
                f"{common.resolution} → {params['resolution']} "
                f"({model.size.param} {params[model.size.param]} "
                f"not offered at {res})"
            )
        if model.size.kind in ("aspect_ratio", "size_enum"):  # expected size at the tier sent
            ratio = params[model.size.param]
            w, h = target_size(
                ratio if ":" in ratio else common.aspect, params["resolution"], model.size.max_edge
            )
    elif common.resolution != "1K" and model.size.kind in ("aspect_ratio", "size_enum"):
        notes.setdefault("resolution", "n/a")

    if "quality" in model.params:
        options = model.params["quality"]
        q = common.quality if common.quality in options else options[len(options) // 2]
        if q != common.quality:
            notes["quality"] = f"{common.quality} → {q}"
        params["quality"] = q
    elif common.quality != "medium":
        notes["quality"] = "n/a"

    for name, options in model.params.items():  # other enums: the catalog's first value
        if name not in ("quality", "resolution") and name not in params:
            params[name] = options[0]

    if model.seed_supported:
        if common.seed is not None:
            params[model.seed_param] = common.seed + image_index
    elif common.seed is not None:
        notes["seed"] = "n/a"
    return MappedParams(params=params, width=w, height=h, notes=notes)
