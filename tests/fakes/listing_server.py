"""A local fake of the routers' listing and price APIs, for discovery tests.

Routes (shapes in vibegen/discovery.py's docstring):
- `GET /fal/v1/models`: list mode pages by `limit` and `cursor` (`has_more`, `next_cursor`),
  filtered by `category` and `status`; find mode with `endpoint_id` (+ `expand=openapi-3.0`).
  No key needed.
- `GET /fal/v1/models/pricing?endpoint_id=...`: needs `Authorization: Key <key>`, else 401.
- `GET /openai/v1/models`: needs `Authorization: Bearer <key>`, else 401.
- `GET /sdapi/v1/sd-models`: the checkpoints.

The listed models, prices and checkpoints are plain attributes a test changes between calls.
Scenarios (one consumed per request; default ok): `401`, `429`, `not_json`, `garbage`
(JSON of the wrong shape), `slow` (answers after `slow_s`), `html_503`, `bad_unit` (prices in
seconds). `cursor_loop = True` makes every fal page point to itself.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.http_fake import HTML_503, FakeServer, Recorded, Reply

KEY = "fal-key-0123456789"
OPENAI_KEY = "sk-test-0123456789"


def fal_entry(
    endpoint: str, name: str, category: str = "text-to-image", status: str = "active"
) -> dict[str, Any]:
    """One model as fal's search lists it."""
    return {
        "endpoint_id": endpoint,
        "metadata": {"display_name": name, "category": category, "status": status},
    }


def openapi_for(
    endpoint: str, properties: dict[str, Any], required: list[str] | None = None
) -> dict[str, Any]:
    """A minimal OpenAPI 3.0 document of the shape fal publishes per endpoint."""
    return {
        "openapi": "3.0.4",
        "paths": {
            f"/{endpoint}": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Input"}}
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": properties,
                    "required": required or ["prompt"],
                }
            }
        },
    }


class ListingFake(FakeServer):
    """fal platform, OpenAI models and SD checkpoints on one 127.0.0.1 port."""

    label = "listing"
    scenarios = ("ok", "401", "429", "not_json", "garbage", "slow", "html_503", "bad_unit")
    default_scenario = "ok"

    def __init__(self, slow_s: float = 2.0) -> None:
        super().__init__()
        self.slow_s = slow_s
        self.cursor_loop = False
        self.fal: list[dict[str, Any]] = [
            fal_entry("fal-ai/flux-2-max", "FLUX.2 [max]"),
            fal_entry("fal-ai/z-image/turbo", "Z-Image Turbo"),
            fal_entry("fal-ai/new-model", "New Model"),
            fal_entry("fal-ai/some-edit", "Some Edit", category="image-to-image"),
            fal_entry("fal-ai/old-model", "Old Model", status="deprecated"),
        ]
        self.openapi: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, tuple[float, str]] = {
            "fal-ai/flux-2-max": (0.07, "megapixels"),
            "fal-ai/new-model": (0.02, "image"),
        }
        self.openai_ids: list[dict[str, Any]] = [
            {"id": "gpt-image-2", "object": "model"},
            {"id": "gpt-image-1.5", "object": "model", "shutdown_date": "2026-12-01"},
            {"id": "gpt-5.6", "object": "model"},
        ]
        self.checkpoints = [
            {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0"}
        ]

    @property
    def fal_url(self) -> str:
        """What VIBEGEN_FAL_PLATFORM_URL would be."""
        return f"{self.root_url}/fal/v1"

    @property
    def openai_url(self) -> str:
        """What OPENAI_BASE_URL would be."""
        return f"{self.root_url}/openai/v1"

    def handle(self, rec: Recorded) -> Reply | None:
        """Answer one listing request."""
        behaviour = self._next_scenario()
        if behaviour == "slow" and self.pause(self.slow_s):
            return None
        if behaviour == "401":
            return Reply(401, {"detail": "Unauthorized"})
        if behaviour == "429":
            return Reply(429, {"detail": "Too many requests"}, {"Retry-After": "30"})
        if behaviour == "not_json":
            return Reply(200, b"<html>hello</html>", content_type="text/html")
        if behaviour == "html_503":
            return HTML_503
        if behaviour == "garbage":
            return Reply(
                200, {"items": "nope"} if rec.path != "/sdapi/v1/sd-models" else {"title": 1}
            )
        if rec.path == "/fal/v1/models":
            return self._fal_models(rec, loop=self.cursor_loop)
        if rec.path == "/fal/v1/models/pricing":
            if rec.headers.get("authorization") != f"Key {KEY}":
                return Reply(401, {"detail": "Authentication required"})
            ids = rec.query.get("endpoint_id", [])
            return Reply(
                200,
                {
                    "prices": [
                        {
                            "endpoint_id": e,
                            "unit_price": self.prices[e][0],
                            "unit": "second" if behaviour == "bad_unit" else self.prices[e][1],
                            "currency": "USD",
                        }
                        for e in ids
                        if e in self.prices
                    ]
                },
            )
        if rec.path == "/openai/v1/models":
            if rec.headers.get("authorization") != f"Bearer {OPENAI_KEY}":
                return Reply(401, {"error": {"message": "Incorrect API key provided"}})
            return Reply(200, {"object": "list", "data": self.openai_ids})
        if rec.path == "/sdapi/v1/sd-models":
            return Reply(200, self.checkpoints)
        return Reply(404, {"detail": "Not Found"})

    def _fal_models(self, rec: Recorded, loop: bool) -> Reply:
        q = rec.query
        if "endpoint_id" in q:
            found = []
            for e in q["endpoint_id"]:
                item = next((m for m in self.fal if m["endpoint_id"] == e), None)
                if item is not None:
                    found.append(
                        {
                            **item,
                            **(
                                {"openapi": self.openapi[e]}
                                if e in self.openapi and "openapi-3.0" in q.get("expand", [])
                                else {}
                            ),
                        }
                    )
            return Reply(200, {"models": found, "has_more": False, "next_cursor": None})
        rows = [
            m
            for m in self.fal
            if m["metadata"]["category"] == q.get("category", [""])[0]
            and m["metadata"]["status"] == q.get("status", ["active"])[0]
        ]
        limit = int(q.get("limit", ["100"])[0])
        start = int(q.get("cursor", ["0"])[0])
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        cursor = str(start) if loop else str(start + limit)
        return Reply(
            200,
            {
                "models": page,
                "has_more": more or loop,
                "next_cursor": cursor if more or loop else None,
            },
        )
