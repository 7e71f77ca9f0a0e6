"""The offline sandbox router: deterministic images rendered locally, no key, no network.

Each sandbox model draws in its own style, so models look different; the prompt picks the
palette and the seed the layout, so the same prompt + model + seed gives the same bytes and a
different seed a different image. Latency and failures are simulated (per the catalog's
`sandbox` block) so slow and failed cells can be seen with no key. The model's name is never
drawn into the image: blind review must not be able to read it off the pixels.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from typing import Any

from PIL import Image, ImageDraw

from vibegen.catalog import RouterSpec
from vibegen.errors import ContentFilteredError, RateLimitError, ServerError
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.settings import Settings


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def _palette(prompt: str) -> list[tuple[int, int, int]]:
    d = _digest("palette", prompt.strip().lower())
    return [(d[i], d[i + 1], d[i + 2]) for i in range(0, 18, 3)]


def render(style: str, prompt: str, seed: int, width: int, height: int) -> bytes:
    """PNG bytes for one sandbox image; a pure function of its arguments."""
    rng = random.Random(int.from_bytes(_digest(style, prompt, seed)[:8], "big"))
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
