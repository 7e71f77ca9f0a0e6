"""The offline sandbox router: deterministic images rendered locally, no key, no network.

Each sandbox model draws in its own style, so models look different; the prompt picks the
palette and the seed the layout, so the same prompt + model + seed gives the same bytes and a
different seed a different image. The prompt's words are set into the picture, placed and
lettered in the model's style, so a first run shows what the flow is for: this prompt, these
models, side by side. Latency and failures are simulated (per the catalog's
`sandbox` block) so slow and failed cells can be seen with no key. The model's name is never
drawn into the image: blind review must not be able to read it off the pixels.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vibegen.catalog import RouterSpec
from vibegen.errors import ContentFilteredError, RateLimitError, ServerError
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.settings import Settings


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def _palette(prompt: str) -> list[tuple[int, int, int]]:
    d = _digest("palette", prompt.strip().lower())
    return [(d[i], d[i + 1], d[i + 2]) for i in range(0, 18, 3)]


def _rng(style: str, prompt: str, seed: int) -> random.Random:
    return random.Random(int.from_bytes(_digest(style, prompt, seed)[:8], "big"))


def shuffled_palette(style: str, prompt: str, seed: int) -> list[tuple[int, int, int]]:
    """The colours `render` draws one image with, in its order (the last one is the panel)."""
    colors = _palette(prompt)
    _rng(style, prompt, seed).shuffle(colors)
    return colors


# What the sandbox is and how to leave it: shown wherever its results appear.
BANNER = (
    "Sandbox: an offline stand-in for real image routers. Its models set your prompt's words "
    "into patterned pictures, with made-up times, failures and prices; nothing is sent "
    "anywhere or billed, and every sandbox result here is marked simulated. To compare real "
    "models, set a router's key ({needs}) in the environment or .streamlit/secrets.toml and "
    "restart VibeGen; its models then appear in the model picker."
)


def banner(
    needs: list[str] | tuple[str, ...] = ("FAL_KEY", "KIE_API_KEY", "OPENAI_API_KEY"),
) -> str:
    """The sandbox banner, naming the settings that enable the real routers."""
    return BANNER.format(needs=", ".join(needs) if needs else "see the Models page")


@dataclass(frozen=True)
class Caption:
    """Where and how a style sets the prompt's words: panel box, ink, lines."""

    box: tuple[int, int, int, int]  # the panel the words sit in (x0, y0, x1, y1)
    panel: tuple[int, int, int] | None  # its fill; None: words straight on the pattern
    ink: tuple[int, int, int]
    lines: tuple[str, ...]
    size: int  # font size in px
    align: str  # "left" or "center"


# Per style: panel position (fractions of the image: x0, y0, x1, y1), alignment, letter case,
# and whether the words sit on a panel (True) or on the pattern with an outline (False).
_CAPTION: dict[str, tuple[tuple[float, float, float, float], str, Callable[[str], str], bool]] = {
    "stripes": ((0.06, 0.36, 0.94, 0.64), "center", str, True),
    "rings": ((0.1, 0.3, 0.9, 0.7), "center", str, False),
    "blocks": ((0.05, 0.05, 0.7, 0.45), "left", str.upper, True),
    "waves": ((0.08, 0.06, 0.92, 0.4), "center", str.lower, False),
    "dots": ((0.05, 0.66, 0.95, 0.95), "center", str, True),
    "grid": ((0.06, 0.06, 0.6, 0.6), "left", str.upper, True),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no font file needed on the machine.
    return ImageFont.load_default(size=size)


def _wrap(
    words: list[str], font: ImageFont.FreeTypeFont | ImageFont.ImageFont, room: float
) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and font.getlength(f"{lines[-1]} {word}") <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def caption(style: str, prompt: str, width: int, height: int, colors: list) -> Caption:
    """How one style sets the prompt's words into a width x height image."""
    frac, align, case, on_panel = _CAPTION.get(style, _CAPTION["grid"])
    x0, y0 = int(frac[0] * width), int(frac[1] * height)
    x1, y1 = int(frac[2] * width), int(frac[3] * height)
    words = case(" ".join(prompt.split())).split()
    size = max(8, min(width, height) // 14)
    pad = max(2, size // 3)
    lines: list[str] = []
    while words:
        font = _font(size)
        lines = _wrap(words, font, x1 - x0 - 2 * pad)
        if len(lines) * size * 1.25 <= y1 - y0 - 2 * pad or size <= 8:
            break
        size -= max(1, size // 8)
    fit = max(1, int((y1 - y0 - 2 * pad) // (size * 1.25)))
    if len(lines) > fit:  # a long prompt: what fits, then an ellipsis
        lines = [*lines[: fit - 1], lines[fit - 1] + " …"]
    panel = colors[-1] if on_panel else None
    back = panel if panel is not None else colors[0]
    light = 0.299 * back[0] + 0.587 * back[1] + 0.114 * back[2] > 140
    ink = (0, 0, 0) if light else (255, 255, 255)
    return Caption((x0, y0, x1, y1), panel, ink, tuple(lines), size, align)


def _set_words(draw: ImageDraw.ImageDraw, cap: Caption) -> None:
    x0, y0, x1, y1 = cap.box
    if not cap.lines:
        return
    if cap.panel is not None:
        draw.rounded_rectangle(cap.box, radius=cap.size // 2, fill=cap.panel)
    font = _font(cap.size)
    pad = max(2, cap.size // 3)
    step = cap.size * 1.25
    top = y0 + (y1 - y0 - step * len(cap.lines)) / 2
    outline = (255, 255, 255) if cap.ink == (0, 0, 0) else (0, 0, 0)
    for i, line in enumerate(cap.lines):
        w = font.getlength(line)
        x = x0 + pad if cap.align == "left" else x0 + (x1 - x0 - w) / 2
        draw.text(
            (x, top + i * step),
            line,
            font=font,
            fill=cap.ink,
            # On the pattern itself an outline keeps the words readable.
            stroke_width=0 if cap.panel is not None else max(1, cap.size // 12),
            stroke_fill=outline,
        )


def render(style: str, prompt: str, seed: int, width: int, height: int) -> bytes:
    """PNG bytes for one sandbox image, the prompt's words set in; pure in its arguments."""
    rng = _rng(style, prompt, seed)
    colors = _palette(prompt)
    rng.shuffle(colors)
    img = Image.new("RGB", (width, height), colors[0])
    draw = ImageDraw.Draw(img)
    n = rng.randint(6, 14)
    if style == "stripes":
        angle = rng.uniform(0, math.pi)
        step = max(width, height) * 2 / n
        for i in range(-n, 2 * n):
            dx, dy = math.cos(angle), math.sin(angle)
            cx, cy = width / 2 + (i - n / 2) * step * dy, height / 2 - (i - n / 2) * step * dx
            far = max(width, height) * 2
            poly = [
                (cx - dx * far, cy - dy * far),
                (cx + dx * far, cy + dy * far),
                (cx + dx * far + dy * step / 2, cy + dy * far - dx * step / 2),
                (cx - dx * far + dy * step / 2, cy - dy * far - dx * step / 2),
            ]
            draw.polygon(poly, fill=colors[i % len(colors)])
    elif style == "rings":
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        rmax = math.hypot(width, height)
        for i in range(n * 2, 0, -1):
            r = rmax * i / (n * 2)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colors[i % len(colors)])
    elif style == "blocks":
        for _ in range(n * 4):
            x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
            w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.05, 0.4) * height
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=rng.choice(colors))
    elif style == "waves":
        amp, freq = rng.uniform(0.03, 0.1) * height, rng.uniform(1, 4) * 2 * math.pi / width
        for i in range(n):
            base = height * (i + 1) / n
            pts = [(x, base + amp * math.sin(freq * x + i)) for x in range(0, width + 8, 8)]
            draw.polygon(pts + [(width, height), (0, height)], fill=colors[i % len(colors)])
    elif style == "dots":
        for _ in range(n * 25):
            x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 0.06 * width)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(colors[1:]))
    else:  # grid
        cells = rng.randint(4, 10)
        cw, ch = width / cells, height / cells
        for i in range(cells):
            for j in range(cells):
                if rng.random() < 0.6:
                    draw.rectangle(
                        (i * cw + 3, j * ch + 3, (i + 1) * cw - 3, (j + 1) * ch - 3),
                        fill=colors[(i * j + i) % len(colors)],
                    )
    _set_words(draw, caption(style, prompt, width, height, colors))
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)  # fast: sandbox bytes are throwaway
    return out.getvalue()


class SandboxRouter(Router):
    """Offline router whose models draw patterns locally with simulated latency and failures."""

    name = "sandbox"

    def __init__(
        self, *, speed: float = 1.0, failures: bool = True, jitter: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.speed, self.failures, self.jitter = speed, failures, jitter
        self._rng = random.Random()

    @classmethod
    def options(cls, spec: RouterSpec, settings: Settings) -> dict[str, Any]:
        """The simulation's speed and switches: tests and benchmarks tune them through the
        environment (VIBEGEN_SANDBOX_SPEED / _FAILURES / _JITTER), never by patching."""
        return {
            "speed": settings.sandbox_speed,
            "failures": settings.sandbox_failures,
            "jitter": settings.sandbox_jitter,
        }

    def latency(self, request: GenerationRequest) -> float:
        """Seconds this call will take: lognormal around the model's median."""
        spec = request.model.sandbox
        if spec is None:
            return 0.0
        factor = math.exp(self._rng.gauss(0, spec.latency_sigma)) if self.jitter else 1.0
        return spec.latency_median_s * factor * self.speed

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Render the image after a simulated delay, or fail as a real router might."""
        spec = request.model.sandbox
        if spec is None:
            raise ServerError(
                "model has no sandbox settings", router=self.name, model=request.model.key
            )
        seed = request.seed if request.seed is not None else 0
        width = int(request.params.get("width", request.width))
        height = int(request.params.get("height", request.height))
        # Wait first, render after: a real router's compute happens elsewhere, so the
        # sandbox should not load this machine's CPU while many calls are starting.
        self.sleep(self.latency(request), request)
        image = render(spec.style, request.prompt, seed, width, height)
        if self.failures and self._rng.random() < spec.failure_rate:
            failure = self._rng.choice(
                [
                    ContentFilteredError("content filtered (simulated)"),
                    ServerError("server error 503 (simulated)", status=503),
                    RateLimitError("rate limited (simulated)", status=429),
                ]
            )
            failure.router, failure.model = self.name, request.model.key
            raise failure
        return GenerationResult(image=image, seed=str(seed), meta={"sandbox": True})
