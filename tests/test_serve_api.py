"""`blueprint serve` through FastAPI's TestClient (httpx over ASGI, lifespan run):
the OpenAI-shaped API, its errors, auth, limits, metrics and streaming, on the tiny model."""

import base64
import io
import json
import threading
import time

import numpy as np
import PIL.Image
import pytest
from fastapi.testclient import TestClient

from blueprint.models import build_components
from blueprint.pipeline import BlueprintPipeline
from blueprint.serve.app import create_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = {"size": "128x128", "num_inference_steps": 2}


@pytest.fixture(scope="module")
def pipe():
    return BlueprintPipeline(build_components("tiny", seed=0))


def wait_ready(client):
    for _ in range(300):
        if client.get("/health").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError(client.get("/health").json())


@pytest.fixture(scope="module")
def client(pipe):
    with TestClient(create_app(pipe, compile=False, warmup=False, api_key="sekret", max_body=4096)) as c:
        c.headers["Authorization"] = "Bearer sekret"
        wait_ready(c)
        yield c


def decode(b64: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(b64))), dtype=np.int16)


def test_generation_returns_png_seed_and_blueprint(client):
    r = client.post("/v1/images/generations", json={"prompt": 'a sign that reads "HI"', "n": 2, "seed": 5,
                                                     "return_blueprint": True, **FAST})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seed"] == 5 and [d["seed"] for d in body["data"]] == [5, 6]
    assert body["size"] == "128x128" and body["model"] == "blueprint" and body["created"] > 0
    for item in body["data"]:
        assert decode(item["b64_json"]).shape == (128, 128, 3)
        assert item["revised_prompt"] == 'a sign that reads "HI"'
        bp = item["blueprint"]
        assert (bp["grid_height"], bp["grid_width"]) == (4, 4) and len(bp["grid"]) == 4
        assert decode(bp["b64_png"]).shape == (128, 128, 3)
        assert bp["plan"] is None  # no planner in this model


def test_same_seed_same_image_and_random_seed_is_reported(client):
    a = client.post("/v1/images/generations", json={"prompt": "a red card", "seed": 9, **FAST}).json()
    b = client.post("/v1/images/generations", json={"prompt": "a red card", "seed": 9, **FAST}).json()
    assert np.array_equal(decode(a["data"][0]["b64_json"]), decode(b["data"][0]["b64_json"]))
    c = client.post("/v1/images/generations", json={"prompt": "a red card", **FAST}).json()
    assert isinstance(c["seed"], int) and c["data"][0]["seed"] == c["seed"]


def test_url_format_serves_the_image_from_this_server(client):
    r = client.post("/v1/images/generations", json={"prompt": "a blue card", "response_format": "url", **FAST})
    url = r.json()["data"][0]["url"]
    assert r.json()["data"][0]["b64_json"] is None and "/v1/images/" in url
    image = client.get(url.replace("http://testserver", ""))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    missing = client.get("/v1/images/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "image_not_found"


@pytest.mark.parametrize("body, param", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"size": "100x100"}, "size"),
    ({"size": "2048x2048"}, "size"),
    ({"size": "512x128"}, "size"),
    ({"size": "big"}, "size"),
    ({"n": 0}, "n"),
    ({"n": 11}, "n"),
    ({"model": "dall-e-3"}, "model"),
    ({"response_format": "png"}, "response_format"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"guidance_scale": 0.5}, "guidance_scale"),
    ({"top_p": 0}, "top_p"),
    ({"temperature": 3e-98}, "temperature"),  # rounds to 0 in float32: found by the schema fuzz
    ({"seed": -1}, "seed"),
    ({"prompt": "x" * 600}, "prompt"),  # over the tokenizer's 512-token limit
])
def test_bad_fields_are_400_in_openai_shape(client, body, param):
    r = client.post("/v1/images/generations", json={"prompt": "ok", **body})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


def test_malformed_json_and_wrong_types_are_400(client):
    r = client.post("/v1/images/generations", content=b"{bad", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert client.post("/v1/images/generations", json=["a list"]).status_code == 400
    assert client.post("/v1/images/generations", json={"prompt": 5}).status_code == 400


def test_auth_body_cap_edits_and_models(client):
    no_key = client.post("/v1/images/generations", json={"prompt": "x"}, headers={"Authorization": ""})
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "authentication_error"
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    big = client.post("/v1/images/generations", json={"prompt": "x" * 5000})
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b"x" * 1000
    assert client.post("/v1/images/generations", content=chunks()).status_code == 413
    edits = client.post("/v1/images/edits")
    assert edits.status_code == 501 and "not supported" in edits.json()["error"]["message"]
    models = client.get("/v1/models").json()
    assert models["data"][0]["id"] == "blueprint"
    assert client.get("/health").json()["status"] == "ready"  # no key needed: load balancers probe it
    assert "Blueprint" in client.get("/").text


def test_metrics_count_requests_images_and_latency(client):
    client.post("/v1/images/generations", json={"prompt": "a green card", **FAST})
    text = client.get("/metrics").text
    for name in ("blueprint_queue_depth", "blueprint_images_generated_total", "blueprint_generation_seconds_bucket",
                 'blueprint_http_requests_total{route="/v1/images/generations",status="200"}',
                 'status="400"'):
        assert name in text, name


def test_stream_sends_progress_partial_and_final_image(client):
    with client.stream("POST", "/v1/images/generations",
                       json={"prompt": "a red card", "stream": True, "partial_images": 1, "seed": 9, **FAST}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "queued" and events[-1] == "done"
    stages = {line for line in text.splitlines() if '"stage": "prior"' in line or '"stage": "denoise"' in line}
    assert any('"prior"' in s for s in stages) and any('"denoise"' in s for s in stages)
    assert events.index("image_generation.partial_image") < events.index("image_generation.completed")
    assert text.rstrip().endswith("data: [DONE]")


def test_stream_sends_the_blueprint_then_part_way_images(client):
    with client.stream("POST", "/v1/images/generations",
                       json={"prompt": "a red card", "stream": True, "partial_images": 3, "seed": 9,
                             "size": "128x128", "num_inference_steps": 4}) as r:
        text = "".join(r.iter_text())
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    partial = [json.loads(line[6:]) for line in text.splitlines()
               if line.startswith("data: ") and '"image_generation.partial_image"' in line]
    assert [p["partial_image_index"] for p in partial] == [0, 1, 2]
    for p in partial:
        assert PIL.Image.open(io.BytesIO(base64.b64decode(p["b64_json"]))).size == (128, 128)
    last_partial = max(i for i, e in enumerate(events) if e == "image_generation.partial_image")
    assert last_partial < events.index("image_generation.completed")


def test_503_while_warming(pipe):
    gate = threading.Event()

    class Gated(BlueprintPipeline):
        def compile(self):  # stands in for a slow load + compile
            gate.wait(30)
            return self

    gated = Gated.__new__(Gated)
    gated.__dict__.update(pipe.__dict__)
    with TestClient(create_app(gated, compile=True, warmup=False)) as c:
        assert c.get("/health").json()["status"] == "warming"
        r = c.post("/v1/images/generations", json={"prompt": "x"})
        assert r.status_code == 503 and r.headers["Retry-After"] and r.json()["error"]["code"] == "warming"
        gate.set()
        wait_ready(c)
        assert c.get("/health").json()["status"] == "ready"


def test_the_prompt_check_does_not_share_the_engines_tokenizer(client, pipe):
    """A fast tokenizer keeps its padding setting between calls: the request's prompt check on
    the event loop, racing the engine's padded batch, left that batch unpadded (a 500 for each
    of its requests). The server checks prompts with a tokenizer of its own."""
    import sys

    from blueprint.models.processor import prompt_inputs

    checker = client.app.state.server.prompt_tokenizer
    assert checker is not pipe.processor.tokenizer
    stop, errors = threading.Event(), []

    def check():
        while not stop.is_set():
            checker('a red poster that reads "OPEN LATE"')

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the shared tokenizer failed ~1 call in 10
    thread = threading.Thread(target=check)
    thread.start()
    try:
        for _ in range(500):
            try:
                prompt_inputs(pipe.processor, ["short", 'a much longer prompt that reads "SOMETHING ELSE"'], 128, 128)
            except ValueError as e:
                errors.append(e)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert not errors
