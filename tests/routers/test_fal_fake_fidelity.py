"""The official `fal-client` talks to our fake fal queue: proof the fake speaks fal's protocol.

fal-client builds `https://` URLs from a module constant read at call time; the only way to
point it at 127.0.0.1 is to set `fal_client.client.QUEUE_URL_FORMAT` (the SDK's constant, not
our code; monkeypatch restores it). Everything after submit follows the URLs the fake returns.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import fal_client
import fal_client.client
import httpx
import pytest
from PIL import Image

from tests.fakes.fal_server import TEST_FAL_KEY, UINT64_SEED, FalFake

ENDPOINT = "fal-ai/flux/schnell"
ARGS = {"prompt": "a red fox", "image_size": "square_hd"}


@pytest.fixture
def fake(monkeypatch) -> Iterator[FalFake]:
    with FalFake() as f:
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f.url + "/")
        yield f


def close_sdk(client: object) -> None:
    """Close the httpx clients the SDK cached on `client` (fal-client has no close of its own,
    so its pooled sockets would be left to the collector)."""
    for value in vars(client).values():
        if isinstance(value, httpx.Client):
            value.close()


@pytest.fixture
def client() -> Iterator[fal_client.SyncClient]:
    sdk = fal_client.SyncClient(key=TEST_FAL_KEY)
    yield sdk
    close_sdk(sdk)


def test_subscribe_completes_with_queue_updates_and_logs(fake, client):
    updates: list[fal_client.Status] = []
    result = client.subscribe(
        ENDPOINT, ARGS, with_logs=True, interval=0.01, on_queue_update=updates.append
    )

    assert [type(u).__name__ for u in updates] == ["Queued", "Queued", "InProgress", "Completed"]
    assert [u.position for u in updates[:2]] == [1, 0]
    assert updates[2].logs and updates[2].logs[0]["message"] == "step 1/4"
    assert updates[3].metrics == {"inference_time": 0.42}
    assert result["seed"] == UINT64_SEED and result["has_nsfw_concepts"] == [False]

    submit = fake.received("POST")[0]
    assert submit.path == f"/{ENDPOINT}" and submit.body == ARGS
    assert submit.headers["authorization"] == f"Key {TEST_FAL_KEY}"
    flags = [r.query["logs"][0] for r in fake.received("GET") if r.path.endswith("/status")]
    assert flags == ["true"] * 4 + ["false"]  # the Python SDK sends true/false; get() re-checks
    image = httpx.get(result["images"][0]["url"])
    assert Image.open(io.BytesIO(image.content)).size == (64, 48)


def test_submit_status_get_and_cancel(fake, client):
    handle = client.submit(ENDPOINT, ARGS)
    assert isinstance(client.status(ENDPOINT, handle.request_id), fal_client.Queued)
    assert handle.get(interval=0.01)["images"]
    assert isinstance(handle.status(with_logs=True), fal_client.Completed)

    fake.script("never_completes")
    stuck = client.submit(ENDPOINT, ARGS)
    assert isinstance(stuck.status(), fal_client.Queued)
    assert isinstance(stuck.status(), fal_client.Queued)
    assert isinstance(stuck.status(), fal_client.InProgress)
    stuck.cancel()  # 202 CANCELLATION_REQUESTED
    assert fake.cancels == [stuck.request_id]
    assert fake.received("PUT")[0].path == f"/fal-ai/flux/requests/{stuck.request_id}/cancel"


def test_js_style_log_flags_are_accepted(fake, client):
    handle = client.submit(ENDPOINT, ARGS)
    headers = {"Authorization": f"Key {TEST_FAL_KEY}"}
    queued = httpx.get(handle.status_url, params={"logs": "1"}, headers=headers)
    assert queued.status_code == 202 and queued.json()["queue_position"] == 1
    httpx.get(handle.status_url, params={"logs": "0"}, headers=headers)
    running = httpx.get(handle.status_url, params={"logs": "1"}, headers=headers)
    assert running.status_code == 202 and running.json()["logs"]
    done = httpx.get(handle.status_url, params={"logs": "0"}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    assert done.json()["logs"] is None


@pytest.mark.parametrize(
    "scenario, status, error_type, text",
    [
        ("content_policy", 422, None, "content_policy_violation"),
        ("422_list", 422, None, "less_than_equal"),
        ("422_string", 422, None, "Unsupported image_size: square_xl"),
        ("403_locked", 403, None, "User is locked"),
        ("401", 401, None, "No user found"),
        ("completed_error", 504, "request_timeout", "Request timed out"),
        ("503", 503, "runner_scheduling_failure", "Runner scheduling failure"),
    ],
)
def test_fake_errors_surface_as_fal_client_http_errors(
    fake, client, scenario, status, error_type, text
):
    fake.script(scenario)
    with pytest.raises(fal_client.FalClientHTTPError) as info:
        client.subscribe(ENDPOINT, ARGS, interval=0.01)
    err = info.value
    assert err.status_code == status and err.error_type == error_type
    assert text in str(err.message)


def test_wrong_key_is_a_401_for_the_sdk(fake):
    wrong = fal_client.SyncClient(key="wrong-id:wrong-secret")
    with pytest.raises(fal_client.FalClientHTTPError) as info:
        wrong.subscribe(ENDPOINT, ARGS, interval=0.01)
    close_sdk(wrong)
    assert info.value.status_code == 401


def test_async_client_subscribe(fake):
    async def run() -> dict:
        client = fal_client.AsyncClient(key=TEST_FAL_KEY)
        try:
            return await client.subscribe(ENDPOINT, ARGS, interval=0.01)
        finally:
            for value in list(vars(client).values()):  # the SDK's cached clients, as above
                if isinstance(value, httpx.AsyncClient):
                    await value.aclose()

    # In a thread of its own: another test's sync Playwright may own this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, run()).result(timeout=10)
    assert result["images"][0]["content_type"] == "image/jpeg"
    assert fake.received("POST")[0].headers["authorization"] == f"Key {TEST_FAL_KEY}"
