"""Self-hosted Stable Diffusion: AUTOMATIC1111 / Forge `POST /sdapi/v1/txt2img` over httpx.

The server is the user's own (started with `--api`, optionally `--api-auth user:pass`), so
there is no key and no price: cost is labelled self-hosted, never $0. The answer's `info` is a
JSON *string* from which the seed actually used is read. A missing `info` is tolerated (seed
stays the requested one, or None); an `info` that is present but not JSON is a ProtocolError.

A generation still running at its deadline is stopped with `POST /sdapi/v1/interrupt` (the
web UI's Interrupt button): A1111 runs one generation at a time, so an abandoned one would
hold up every generation queued behind it. The interrupt stops whatever the server is running;
VibeGen sends SD one request at a time, so that is ours unless someone else shares the server.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import httpx

from vibegen.catalog import RouterSpec
from vibegen.costs import Cost
from vibegen.errors import (
    AuthError,
    MissingKeyError,
    ProtocolError,
    RouterError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.routers.failures import ErrorContext, status_error
from vibegen.routers.transfer import error_text
from vibegen.settings import Settings

TXT2IMG = "/sdapi/v1/txt2img"
INTERRUPT = "/sdapi/v1/interrupt"
_CONNECT_TIMEOUT_S = 10.0
_INTERRUPT_TIMEOUT_S = 3.0


class SDRouter(Router):
    """A local AUTOMATIC1111 / Forge server, reached at the URL its declaration names."""

    name = "sd"

    def __init__(self, *, auth: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The catalog gives `sd` no key_env but an auth_env: the registry passes that login as
        # `auth=` (see `options`); a caller may also pass it as `key=`.
        login = auth or self.key or None
        self._auth = _basic_auth(login) if login else None
        # For messages: a URL may carry user:pass@, which must never reach a grid cell.
        self._shown_url = re.sub(r"://[^/@]*@", "://", self.base_url)

    @classmethod
    def options(cls, spec: RouterSpec, settings: Settings) -> dict[str, Any]:
        """The server's optional login, from the declared `auth_env`."""
        login = spec.auth(settings.environ)
        return {"auth": login} if login else {}

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run one txt2img and return the first image with the seed the server used."""
        model = request.model
        if not self.base_url:
            raise MissingKeyError(self.info.url_message(), router=self.name, model=model.key)
        left = request.check_deadline(self.name)
        path = model.endpoint if model.endpoint.startswith("/") else TXT2IMG
        url = self.base_url + path
        body = self._body(request)
        try:
            response = self.http.post(
                url,
                json=body,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.Timeout(left, connect=min(_CONNECT_TIMEOUT_S, left)),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if request.remaining() <= 0:
                raise RouterTimeout("timed out", router=self.name, model=model.key) from exc
            # Not retryable: a server that is down will not be up a second later.
            raise RouterError(
                f"cannot reach the Stable Diffusion server at {self._shown_url}",
                router=self.name,
                model=model.key,
            ) from exc
        except httpx.TimeoutException as exc:
            self._interrupt()
            raise RouterTimeout("timed out", router=self.name, model=model.key) from exc
        except httpx.TransportError as exc:
            raise ServerError(
                f"connection to the Stable Diffusion server at {self._shown_url} "
                f"failed ({type(exc).__name__})",
                router=self.name,
                model=model.key,
            ) from exc
        if not response.is_success:
            raise self._status_error(response, model.key, self._shown_url + path)
        return self._result(response, request, body["seed"])

    # --- helpers --------------------------------------------------------------------------
    def _interrupt(self) -> None:
        """Ask the server to stop the generation we gave up on; best effort, never raises."""
        try:
            self.http.post(
                self.base_url + INTERRUPT,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=_INTERRUPT_TIMEOUT_S,
            )
        except httpx.HTTPError:
            pass  # the timeout is what the cell reports; a failed interrupt changes nothing

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        """The txt2img payload: mapped params plus what every VibeGen call needs."""
        params = dict(request.params)
        seed_param = request.model.seed_param
        seed = params.pop(seed_param, None)
        if seed is None:
            seed = request.seed if request.seed is not None else -1  # -1: server picks
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "width": request.width,
            "height": request.height,
            "batch_size": 1,
            "n_iter": 1,
        }
        body.update(params)
        body.update({"seed": seed, "send_images": True, "save_images": False})
        return body

    def _result(
        self, response: httpx.Response, request: GenerationRequest, sent_seed: Any
    ) -> GenerationResult:
        """Decode `images[0]` and read the seed from the `info` JSON string."""
        key = request.model.key
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProtocolError(
                "answered with malformed JSON", router=self.name, model=key
            ) from exc
        images = answer.get("images") if isinstance(answer, dict) else None
        if not images or not isinstance(images[0], str):
            raise ProtocolError("answered without an image", router=self.name, model=key)
        b64 = images[0]
        if b64.startswith("data:"):  # some forks add a data: prefix
            b64 = b64.partition(",")[2]
        try:
            image = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "answered with invalid base64 image data", router=self.name, model=key
            ) from exc
        info = self._info(answer.get("info"), key)
        seed = info.get("seed")
        if seed is None and sent_seed != -1:
            seed = sent_seed  # no info: the seed we asked for is the best we know
        price = request.model.price
        return GenerationResult(
            image=image,
            seed=None if seed is None else str(seed),
            cost=Cost(
                None,
                "self_hosted",
                "self-hosted: no per-image price",
                source=price.source,
                seen=price.seen.isoformat(),
            ),
            meta={
                k: info[k]
                for k in ("sd_model_name", "sampler_name", "steps", "cfg_scale", "width", "height")
                if info.get(k) is not None
            },
        )

    def _info(self, raw: Any, model_key: str) -> dict[str, Any]:
        """`info` parsed: {} when absent, ProtocolError when present but not a JSON object."""
        if raw is None or raw == "":
            return {}
        if isinstance(raw, dict):  # tolerate forks that send an object
            return raw
        try:
            info = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise ProtocolError(
                "answered with an unreadable info field", router=self.name, model=model_key
            )
        return info

    def _status_error(self, response: httpx.Response, model_key: str, url: str) -> RouterError:
        """Map a non-200 answer onto the error tree."""
        status = response.status_code
        ctx: ErrorContext = {"router": self.name, "model": model_key, "status": status}
        detail = _detail(response)
        if status == 401:
            login_env = self.info.auth_env
            msg = (
                f"login refused (check {login_env})"
                if self._auth
                else f"server requires a login: set {login_env}=user:pass"
            )
            return AuthError(msg, **ctx)
        if status == 422:  # FastAPI names the field: say it after what was refused
            return RouterValidationError(
                f"rejected the parameters: {detail}" if detail else "rejected the parameters", **ctx
            )
        if status == 404:
            return ProtocolError(f"no txt2img API at {url} (start the server with --api)", **ctx)
        return status_error(
            status,
            detail,
            detail=detail,
            not_found="not found",
            other="unexpected HTTP",
            router=self.name,
            model=model_key,
        )


def _basic_auth(login: str) -> httpx.BasicAuth:
    """`user:pass` (as for `--api-auth`) as HTTP basic auth."""
    user, _, password = login.partition(":")
    return httpx.BasicAuth(user, password)


def _detail(response: httpx.Response) -> str:
    """A short readable reason from a FastAPI / A1111 error body."""
    try:
        body = response.json()
    except ValueError:  # a proxy's HTML page becomes its title, the login redacted
        return error_text(response, 200)
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, list):  # FastAPI validation: [{"loc": [...], "msg": ...}, ...]
        parts = []
        for item in detail[:3]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg")))
        return "; ".join(parts)
    # A1111's exception handler: {"error": type, "detail": "", "body": "", "errors": str}
    text = body.get("errors") or detail or body.get("error") or ""
    return str(text)[:200]
