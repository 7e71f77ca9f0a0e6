"""A local fake of OpenAI's Images API (`POST /v1/images/generations`) for adapter tests.

It speaks the wire protocol of protocols.md §3: Bearer auth, per-family size/quality checks,
base64 PNG output with `usage`, and OpenAI's error bodies. Tests script the next request(s):

    with OpenAIFake() as fake:
        fake.script("429_once")            # the next generation answers 429, then success
        ...
        fake.requests[-1].headers["authorization"]

Scenarios (one queued behaviour is consumed per generation request; default = success):
`401`, `moderation_blocked`, `content_policy_violation`, `429_once` (alias `rate_limit`),
`insufficient_quota`, `404_model`, `400_invalid`, `500`, `malformed_json`, `no_usage`, `slow`,
`html_503` (a proxy's HTML page instead of OpenAI's JSON).

The server, request log and scripting come from `http_fake.FakeServer`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.http_fake import HTML_503, FakeServer, Recorded, Reply, png_bytes

TEST_KEY = "test-openai-key-not-real"

# The families the fake serves (protocols.md §3.2); anything else is "model not found".
FREE_SIZE_MODELS = (
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
)
FIXED_SIZE_MODELS = ("gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest")
FIXED_SIZES = ("1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("low", "medium", "high", "auto")
EXTRA_QUALITIES = ("xhigh", "max")  # the 2.5 / 2.6 families only

SCENARIOS = (
    "ok",
    "401",
    "moderation_blocked",
    "content_policy_violation",
    "429_once",
    "rate_limit",
    "insufficient_quota",
    "404_model",
    "400_invalid",
    "500",
    "malformed_json",
    "no_usage",
    "slow",
    "dropped",
    "html_503",
)

MODERATION_BODY = {
    "error": {
        "message": "Your request was rejected by the safety system. If you believe this is an "
        "error, contact us at help.openai.com and include the request ID req_fake.",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
        "moderation_details": {"moderation_stage": "input", "categories": ["violence"]},
    }
}
POLICY_BODY = {
    "error": {
        "message": "Your request was rejected as a result of our safety system. Your prompt may "
        "contain text that is not allowed by our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }
}


BLUE = (40, 120, 200)  # the colour of the generated images


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def size_error(model: str, size: Any, quality: Any) -> str | None:
    """Why `size`/`quality` are not accepted by `model`'s family (None when they are)."""
    qualities = QUALITIES + (
        EXTRA_QUALITIES if model.startswith(("gpt-image-2.5", "gpt-image-2.6")) else ()
    )
    if quality is not None and quality not in qualities:
        return (
            f"Invalid value: '{quality}'. Supported values are: "
            + ", ".join(f"'{q}'" for q in qualities)
            + "."
        )
    if size is None or size == "auto":
        return None
    if model in FIXED_SIZE_MODELS:
        if size not in FIXED_SIZES:
            return (
                f"Invalid value: '{size}'. Supported values are: 'auto', "
                + ", ".join(f"'{s}'" for s in FIXED_SIZES)
                + "."
            )
        return None
    try:
        w, h = (int(p) for p in str(size).lower().split("x"))
    except ValueError:
        return f"Invalid value: '{size}'. Size must be 'auto' or WIDTHxHEIGHT."
    if w % 16 or h % 16:
        return f"Invalid size '{size}': width and height must be multiples of 16."
    if max(w, h) > 3840:
        return f"Invalid size '{size}': the longest edge must be at most 3840 pixels."
    if max(w, h) > 3 * min(w, h):
        return f"Invalid size '{size}': the aspect ratio must be between 1:3 and 3:1."
    if w * h > 3840 * 2160:  # protocols.md §3.2: at most 3840x2160
        return f"Invalid size '{size}': the total pixel count must be at most 8294400."
    return None


# Scripted answers that do not depend on the request (401, 429 and the rest are built per call).
SCRIPTED: dict[str, Reply] = {
    "moderation_blocked": Reply(400, MODERATION_BODY),
    "content_policy_violation": Reply(400, POLICY_BODY),
    "insufficient_quota": Reply(
        429,
        _error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        {"x-should-retry": "false"},
    ),
    "500": Reply(
        500,
        _error("The server had an error while processing your request.", "server_error", None),
        {"x-should-retry": "false"},
    ),
    "400_invalid": Reply(
        400,
        _error(
            "Invalid value for 'background': transparent is not supported with jpeg.",
            "invalid_request_error",
            "invalid_value",
            "background",
        ),
    ),
    "malformed_json": Reply(200, b'{"created": 1700000000, "data": [{"b64_json": "iVBO'),
    "html_503": HTML_503,
}


class OpenAIFake(FakeServer):
    """A fake OpenAI Images API on 127.0.0.1; `.url` is the SDK base URL (ends in /v1)."""

    label = "OpenAI"
    scenarios = SCENARIOS
    default_scenario = "ok"

    def __init__(
        self,
        key: str = TEST_KEY,
        *,
        slow_s: float = 2.0,
        retry_after: str = "1",
        models: tuple[str, ...] = FREE_SIZE_MODELS + FIXED_SIZE_MODELS,
        image: bytes | None = None,
    ) -> None:
        super().__init__()
        self.key = key
        self.slow_s = slow_s
        self.retry_after = retry_after  # the `retry-after` header sent with a 429
        self.models = models
        # One image answered for every size (a benchmark's realistic picture), base64'd once;
        # None: a solid-colour PNG of the size asked for.
        self._b64 = base64.b64encode(image).decode() if image is not None else None

    @property
    def url(self) -> str:
        """The base URL to give the SDK: http://127.0.0.1:PORT/v1."""
        return self.root_url + "/v1"

    def handle(self, rec: Recorded) -> Reply | None:
        """One route: `POST /v1/images/generations` (it consumes a scenario); else 404."""
        if rec.method != "POST" or rec.path != "/v1/images/generations":
            return Reply(
                404, _error(f"Invalid URL ({rec.method} {rec.path})", "invalid_request_error", None)
            )
        return self._generate(rec, self._next_scenario())

    def _generate(self, rec: Recorded, behaviour: str) -> Reply | None:
        auth = rec.headers.get("authorization", "")
        if behaviour == "401" or auth != f"Bearer {self.key}":
            shown = auth.removeprefix("Bearer ")[:3] + "***"
            return Reply(
                401,
                _error(
                    f"Incorrect API key provided: {shown}. You can find your "
                    "API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
        if behaviour in SCRIPTED:
            return SCRIPTED[behaviour]
        if behaviour in ("429_once", "rate_limit"):
            return Reply(
                429,
                _error(
                    "Rate limit reached for images per minute. Please try again in 1s.",
                    "requests",
                    "rate_limit_exceeded",
                ),
                {"x-should-retry": "false", "retry-after": self.retry_after},
            )
        if behaviour == "dropped":  # the request arrived; the connection breaks unanswered
            return None
        if behaviour == "slow" and self.pause(self.slow_s):
            return None  # shutting down: drop the connection
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model")
        if behaviour == "404_model" or model not in self.models:
            return Reply(
                404,
                _error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        if not body.get("prompt"):
            return Reply(
                400,
                _error(
                    "Missing required parameter: 'prompt'.",
                    "invalid_request_error",
                    "missing_required_parameter",
                    "prompt",
                ),
            )
        problem = size_error(model, body.get("size"), body.get("quality"))
        if problem:
            return Reply(400, _error(problem, "invalid_request_error", "invalid_value", "size"))
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return Reply(
                400,
                _error(
                    f"Invalid value for 'n': {n}.", "invalid_request_error", "invalid_value", "n"
                ),
            )
        return Reply(
            200,
            self._success(model, body, n, with_usage=behaviour != "no_usage"),
            {"x-request-id": f"req_fake_{len(self.requests)}"},
        )

    def _success(self, model: str, body: dict, n: int, *, with_usage: bool) -> dict:
        size = body.get("size") or "auto"
        w, h = (1024, 1024) if size == "auto" else (int(p) for p in size.split("x"))
        b64 = self._b64 or base64.b64encode(png_bytes(w, h, BLUE)).decode()  # solid: small
        quality = body.get("quality") or "auto"
        out_tokens = {"low": 272, "medium": 1056, "high": 4160}.get(quality, 1056)
        text_tokens = max(1, len(body.get("prompt", "")) // 4)
        answer: dict[str, Any] = {
            "created": int(time.time()),
            "data": [{"b64_json": b64} for _ in range(n)],
            "background": "opaque",
            "output_format": "png",
            "quality": quality,
            "size": size,
        }
        if with_usage:
            answer["usage"] = {
                "input_tokens": text_tokens,
                "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
                "output_tokens": out_tokens * n,
                "output_tokens_details": {"image_tokens": out_tokens * n, "text_tokens": 0},
                "total_tokens": text_tokens + out_tokens * n,
            }
        return answer


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    """A running OpenAIFake for one test."""
    with OpenAIFake() as fake:
        yield fake


__all__ = [
    "FIXED_SIZES",
    "OpenAIFake",
    "Recorded",
    "SCENARIOS",
    "TEST_KEY",
    "openai_fake",
    "png_bytes",
    "size_error",
]
