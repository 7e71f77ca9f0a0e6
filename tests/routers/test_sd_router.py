"""The self-hosted Stable Diffusion adapter against a local fake AUTOMATIC1111 API."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.fakes.sd_server import CHECKPOINT, SDFake
from tests.routers.runs import finish_run, with_deadline
from vibegen.catalog import default_catalog
from vibegen.errors import (
    AuthError,
    MissingKeyError,
    ProtocolError,
    RouterError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router
from vibegen.routers.base import GenerationRequest
from vibegen.routers.sd_router import SDRouter
from vibegen.settings import load_settings

CATALOG = default_catalog()
PROMPT = "a lighthouse at dusk, oil painting"
LOGIN = "artist:not-a-real-password"


@pytest.fixture
def fake() -> Iterator[SDFake]:
    with SDFake(slow_s=3.0) as f:
        yield f


@pytest.fixture
def auth_fake() -> Iterator[SDFake]:
    with SDFake(auth=LOGIN) as f:
        yield f


@pytest.fixture(autouse=True)
def _no_ambient_login(monkeypatch):
    # The adapter falls back to VIBEGEN_SD_AUTH: keep the developer's own out of the tests.
    monkeypatch.delenv("VIBEGEN_SD_AUTH", raising=False)


def sd(url: str | None, **kwargs: object) -> SDRouter:
    return SDRouter(catalog=CATALOG, base_url=url, **kwargs)


def make_request(
    common: CommonParams | None = None, deadline_s: float = 10.0, **extra: object
) -> GenerationRequest:
    model = CATALOG.model("sd:local")
    common = common or CommonParams()
    mapped = map_params(model, common)
    return GenerationRequest(
        model=model,
        prompt=PROMPT,
        params={**mapped.params, **extra},
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + deadline_s,
        seed=common.seed,
    )


def basic(login: str) -> str:
    return "Basic " + base64.b64encode(login.encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- success
def test_success_without_seed_reads_the_seed_from_info(fake):
    result = sd(fake.url).generate(make_request(CommonParams(aspect="4:3")))

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/sdapi/v1/txt2img")
    assert "authorization" not in req.headers
    assert req.body == {
        "prompt": PROMPT,
        "width": 1152,
        "height": 896,
        "batch_size": 1,
        "n_iter": 1,
        "seed": -1,
        "send_images": True,
        "save_images": False,
    }
    img = Image.open(io.BytesIO(result.image))
    assert (img.format, img.size) == ("PNG", (1152, 896))
    assert result.seed is not None and result.seed.isdigit()  # the server's pick, as text
    assert result.cost is not None
    assert (result.cost.usd, result.cost.kind, result.cost.label()) == (
        None,
        "self_hosted",
        "self-hosted",
    )
    assert result.meta["sd_model_name"] == "sd_xl_base_1.0"
    assert result.meta["steps"] == 20
    assert (result.queue_s, result.inference_s) == (None, None)


def test_seed_and_native_params_are_sent(fake):
    result = sd(fake.url).generate(
        make_request(
            CommonParams(seed=42),
            steps=8,
            cfg_scale=4.5,
            sampler_name="DPM++ 2M",
            negative_prompt="blurry",
        )
    )
    body = fake.last.body
    assert body["seed"] == 42 and body["steps"] == 8 and body["cfg_scale"] == 4.5
    assert body["sampler_name"] == "DPM++ 2M" and body["negative_prompt"] == "blurry"
    assert result.seed == "42"
    assert result.meta["sampler_name"] == "DPM++ 2M"


# ---------------------------------------------------------------------- configuration
def test_no_url_is_a_missing_key_error():
    with pytest.raises(MissingKeyError) as info:
        sd(None).generate(make_request())
    assert info.value.kind == "config"
    assert str(info.value) == "sd: set VIBEGEN_SD_URL to enable"


def test_registry_builds_it_from_the_env(fake):
    r = build_router("sd", CATALOG, {"VIBEGEN_SD_URL": fake.url + "/"})
    assert r.generate(make_request()).image
    assert fake.last.path == "/sdapi/v1/txt2img"


@pytest.mark.parametrize("how", ["auth", "key", "env"])
def test_basic_auth_from_kwarg_key_or_env(auth_fake, monkeypatch, how):
    kwargs: dict[str, object] = {}
    if how == "env":
        monkeypatch.setenv("VIBEGEN_SD_AUTH", LOGIN)
        # The environment is read where a process starts (the settings), then passed in.
        kwargs.update(SDRouter.options(CATALOG.routers["sd"], load_settings()))
    else:
        kwargs[how] = LOGIN
    result = sd(auth_fake.url, **kwargs).generate(make_request())
    assert result.image
    assert auth_fake.last.headers["authorization"] == basic(LOGIN)


def test_wrong_login_is_an_auth_error_without_the_password(auth_fake):
    with pytest.raises(AuthError) as info:
        sd(auth_fake.url, auth="artist:wrong-password").generate(make_request())
    err = info.value
    assert (err.kind, err.status, str(err)) == (
        "auth",
        401,
        "sd: login refused (check VIBEGEN_SD_AUTH)",
    )
    assert "wrong-password" not in str(err) + err.detail
    assert auth_fake.last.headers["authorization"] == basic("artist:wrong-password")


def test_missing_login_says_how_to_set_it(auth_fake):
    with pytest.raises(AuthError, match="server requires a login: set VIBEGEN_SD_AUTH"):
        sd(auth_fake.url).generate(make_request())
    assert "authorization" not in auth_fake.last.headers


def test_scripted_401(fake):
    fake.script("401")
    with pytest.raises(AuthError) as info:
        sd(fake.url, auth=LOGIN).generate(make_request())
    assert info.value.status == 401
    assert fake.last.headers["authorization"] == basic(LOGIN)


# --------------------------------------------------------------------------- errors
def test_422_names_the_field(fake):
    fake.script("422")
    with pytest.raises(RouterValidationError) as info:
        sd(fake.url).generate(make_request())
    err = info.value
    assert (err.kind, err.status) == ("validation", 422)
    assert err.message == "rejected the parameters: width: value is not a valid integer"


def test_bad_param_type_is_rejected_by_the_fake(fake):
    with pytest.raises(RouterValidationError, match="steps: value is not a valid integer"):
        sd(fake.url).generate(make_request(steps="twenty"))
    assert fake.last.body["steps"] == "twenty"


def test_500_is_a_retryable_server_error_with_the_reason(fake):
    fake.script("500")
    with pytest.raises(ServerError) as info:
        sd(fake.url).generate(make_request())
    err = info.value
    assert (err.kind, err.status, err.retryable) == ("router_error", 500, True)
    assert err.message == ("server error 500: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("malformed_json", "answered with malformed JSON"),
        ("bad_info", "answered with an unreadable info field"),
        ("no_images", "answered without an image"),
        ("bad_base64", "answered with invalid base64 image data"),
    ],
)
def test_unreadable_answers_are_protocol_errors(fake, scenario, message):
    fake.script(scenario)
    with pytest.raises(ProtocolError) as info:
        sd(fake.url).generate(make_request())
    assert (info.value.kind, info.value.message) == ("protocol", message)
    assert fake.last.body["send_images"] is True


@pytest.mark.parametrize(("seed", "expected"), [(None, None), (7, "7")])
def test_missing_info_is_tolerated(fake, seed, expected):
    fake.script("no_info")
    result = sd(fake.url).generate(make_request(CommonParams(seed=seed)))
    assert Image.open(io.BytesIO(result.image)).format == "PNG"
    assert result.seed == expected  # the requested seed, or None when the server picked
    assert result.meta == {}


def test_wrong_path_says_start_with_api(fake):
    with pytest.raises(ProtocolError) as info:
        sd(fake.url + "/webui").generate(make_request())
    assert info.value.status == 404
    assert info.value.message == (
        f"no txt2img API at {fake.url}/webui/sdapi/v1/txt2img (start the server with --api)"
    )


def test_slow_generation_hits_the_deadline_and_is_interrupted(fake):
    fake.script("slow")
    start = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        sd(fake.url).generate(make_request(deadline_s=0.4))
    assert str(info.value) == "sd: timed out"
    assert 0.3 < time.monotonic() - start < 1.5
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/sdapi/v1/txt2img"),
        ("POST", "/sdapi/v1/interrupt"),
    ]
    assert fake.interrupts == 1


def test_interrupt_frees_the_server_for_the_next_generation(fake):
    # A1111 runs one generation at a time: without the interrupt, the next request would wait
    # for the abandoned 3 s generation to finish.
    fake.script("slow")
    router = sd(fake.url)
    with pytest.raises(RouterTimeout):
        router.generate(make_request(deadline_s=0.3))
    start = time.monotonic()
    result = router.generate(make_request(deadline_s=5))
    assert result.image.startswith(b"\x89PNG")
    assert time.monotonic() - start < 1.5


def test_interrupt_carries_the_login(auth_fake):
    auth_fake.script("slow")
    with pytest.raises(RouterTimeout):
        sd(auth_fake.url, auth=LOGIN).generate(make_request(deadline_s=0.3))
    interrupt = auth_fake.requests[-1]
    assert interrupt.path == "/sdapi/v1/interrupt"
    assert interrupt.headers["authorization"].startswith("Basic ")
    assert auth_fake.interrupts == 1


def test_a_server_without_interrupt_still_reports_the_timeout():
    with SDFake(slow_s=3.0, interrupt=False) as old_fork:
        old_fork.script("slow")
        with pytest.raises(RouterTimeout) as info:
            sd(old_fork.url).generate(make_request(deadline_s=0.3))
        assert str(info.value) == "sd: timed out"
        assert old_fork.requests[-1].path == "/sdapi/v1/interrupt"  # answered 404
        assert old_fork.interrupts == 0


def test_deadline_already_passed_sends_nothing(fake):
    with pytest.raises(RouterTimeout):
        sd(fake.url).generate(make_request(deadline_s=-1))
    assert fake.requests == []


def test_connection_refused_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RouterError) as info:
        sd(url).generate(make_request())
    err = info.value
    assert str(err) == f"sd: cannot reach the Stable Diffusion server at {url}"
    assert (err.kind, err.retryable) == ("router_error", False)


# ----------------------------------------------------------------------- fake fidelity
def test_fake_serialises_generations_like_a1111():
    with SDFake(work_s=0.15) as fake:
        router = sd(fake.url)
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(router.generate(make_request())))
            for _ in range(3)
        ]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
    assert len(results) == 3
    assert fake.max_concurrent == 1
    assert elapsed >= 0.45  # three 0.15 s generations, one after another


def test_fake_lists_models_behind_the_same_auth(auth_fake):
    assert httpx.get(auth_fake.url + "/sdapi/v1/sd-models").status_code == 401
    answer = httpx.get(auth_fake.url + "/sdapi/v1/sd-models", auth=tuple(LOGIN.split(":")))
    assert answer.status_code == 200 and answer.json()[0]["title"] == CHECKPOINT


# ------------------------------------------------------------------ through the runner
@pytest.mark.parametrize(
    ("scenarios", "status", "kind", "message", "attempts"),
    [
        ((), "ok", None, None, 1),
        (("500",), "ok", None, None, 2),
        (("401",), "error", "auth", "sd: login refused (check VIBEGEN_SD_AUTH)", 1),
        (
            ("422",),
            "error",
            "validation",
            "sd: rejected the parameters: width: value is not a valid integer",
            1,
        ),
        (("bad_info",), "error", "protocol", "sd: answered with an unreadable info field", 1),
        (("slow",), "timeout", "timeout", "sd: timed out", 1),
    ],
    ids=["ok", "500_once", "401", "422", "bad_info", "slow"],
)
def test_runner_cells(store, scenarios, status, kind, message, attempts):
    from vibegen.runner import Runner

    catalog = with_deadline(CATALOG, "sd:local", 0.5) if "slow" in scenarios else CATALOG
    with SDFake(auth=LOGIN) as fake:
        fake.script(*scenarios)
        # build_router passes only key/base_url: the login travels as a router option.
        runner = Runner(
            store,
            catalog,
            env={"VIBEGEN_SD_URL": fake.url, "VIBEGEN_SD_AUTH": LOGIN},
            router_options={"sd": {"auth": LOGIN}},
            heartbeat=False,
        )
        run_id = finish_run(runner, PROMPT, ["sd:local"], CommonParams(seed=1234))
        requests = [r for r in fake.requests if r.path == "/sdapi/v1/txt2img"]
        interrupts = fake.interrupts
    [cell] = store.run_view(run_id).cells
    assert interrupts == (1 if status == "timeout" else 0)
    assert (cell.status, cell.error_kind, cell.error_message) == (status, kind, message)
    assert cell.attempts == attempts and len(requests) == attempts
    assert all(r.headers["authorization"] == basic(LOGIN) for r in requests)
    assert requests[-1].body["seed"] == 1234 and requests[-1].body["save_images"] is False
    if status == "ok":
        assert (cell.cost_kind, cell.cost_usd, cell.seed) == ("self_hosted", None, "1234")
        assert (cell.width, cell.height) == (1024, 1024)
        assert cell.wall_s is not None and cell.wall_s > 0
    assert "not-a-real-password" not in (cell.error_message or "")


def test_runner_refuses_sd_without_a_url(store):
    from vibegen.errors import InputError
    from vibegen.runner import Runner

    runner = Runner(store, CATALOG, env={}, heartbeat=False)
    try:
        with pytest.raises(InputError, match="set VIBEGEN_SD_URL to enable"):
            runner.start_run(PROMPT, ["sd:local"], CommonParams())
    finally:
        runner.close()


def test_login_in_the_url_is_used_but_never_shown(auth_fake):
    user, password = LOGIN.split(":")
    url = auth_fake.url.replace("://", f"://{user}:{password}@")
    assert sd(url).generate(make_request()).image
    assert auth_fake.last.headers["authorization"] == basic(LOGIN)
    refused = f"http://{user}:{password}@127.0.0.1:{free_port()}"
    with pytest.raises(RouterError) as info:
        sd(refused).generate(make_request())
    assert password not in str(info.value)
    assert "cannot reach the Stable Diffusion server at http://127.0.0.1:" in str(info.value)
