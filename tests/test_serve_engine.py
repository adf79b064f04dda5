"""The serve engine's scheduling on the tiny model: all torch work on one thread (the one a
host lends), DiT batches capped at `dit_batch`, and a full AR batch run between two DiT
steps of the batch in flight."""

import threading

import pytest

import blueprint.serve.engine as engine_module
from blueprint.models import build_components
from blueprint.pipeline import BlueprintPipeline
from blueprint.serve.app import create_app
from blueprint.serve.engine import Engine, Job
from blueprint.serve.live import LiveServer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe():
    return BlueprintPipeline(build_components("tiny", seed=0))


def job(prompt="a red card", n=1, steps=2, **kw):
    return Job(prompt, list(range(n)), 128, 128, steps, 3.0, None, None, **kw)


class Recording:
    """The pipeline, with the thread of every call to it recorded."""

    def __init__(self, pipe, threads):
        self._pipe, self._threads = pipe, threads

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, *args, **kwargs):
        self._threads.append(threading.current_thread())
        return self._pipe(*args, **kwargs)


def test_every_model_call_runs_on_the_thread_the_host_lends(pipe, monkeypatch):
    import httpx

    threads = []
    prior = engine_module.generate_prior_tokens
    monkeypatch.setattr(engine_module, "generate_prior_tokens",
                        lambda *a, **k: threads.append(threading.current_thread()) or prior(*a, **k))
    app = create_app(Recording(pipe, threads), compile=False, warmup=False, model_thread=False)
    server, codes = app.state.server, []

    def clients():
        try:
            with LiveServer(app) as live:
                body = {"prompt": "a card", "size": "128x128", "num_inference_steps": 2, "stream": True,
                        "partial_images": 1}
                codes.append(httpx.post(live.url + "/v1/images/generations", json=body, timeout=120).status_code)
        finally:
            server.stop()

    driver = threading.Thread(target=clients)
    driver.start()
    server.run_model()  # returns once the clients' thread stops the server
    driver.join()
    assert codes == [200]
    assert len(threads) == 2 and set(threads) == {threading.current_thread()}  # the AR stage, then the DiT


def test_dit_batches_hold_at_most_dit_batch_images(pipe):
    batches = []
    engine = Engine(pipe, max_batch=16, dit_batch=2, batch_wait=0, thread=False,
                    on_batch=lambda stage, rows: batches.append((stage, rows)))
    futures = [engine.submit(job(f"card {i}", n=2)) for i in range(3)]
    engine.run(until=futures[-1])
    assert all(f.done() and len(f.result().images) == 2 for f in futures)
    assert batches == [("ar", 6), ("dit", 2), ("dit", 2), ("dit", 2)]


def test_a_full_ar_batch_runs_between_the_steps_of_the_dit_batch_in_flight(pipe):
    log = []
    engine = Engine(pipe, max_batch=2, dit_batch=4, batch_wait=0, thread=False,
                    on_batch=lambda stage, rows: log.append(("batch", stage, rows)))
    late = []

    def emit(event):
        if event["type"] == "progress" and event["stage"] == "denoise":
            log.append(("step", event["step"]))
            if event["step"] == 1 and not late:  # arrives while the first job is denoising
                late.append(engine.submit(job("a late card", n=2, steps=2)))

    first = engine.submit(job(steps=4, emit=emit))
    engine.run(until=first)
    assert first.result().images and late
    assert log.index(("batch", "ar", 2)) < log.index(("step", 4))  # the late AR ran before the last step
    engine.run(until=late[0])
    assert len(late[0].result().images) == 2


def test_a_partial_ar_batch_waits_for_the_dit_batch_in_flight(pipe):
    log = []
    engine = Engine(pipe, max_batch=4, dit_batch=4, batch_wait=0, thread=False,
                    on_batch=lambda stage, rows: log.append((stage, rows)))
    late = []

    def emit(event):
        if event["type"] == "progress" and event["stage"] == "denoise" and not late:
            late.append(engine.submit(job("a late card")))

    first = engine.submit(job(steps=3, emit=emit))
    engine.run(until=first)
    engine.run(until=late[0])
    assert log == [("ar", 1), ("dit", 1), ("ar", 1), ("dit", 1)]  # one image: not worth interrupting


def test_bad_engine_settings_are_refused(pipe):
    with pytest.raises(ValueError, match="dit_batch must be >= 1"):
        Engine(pipe, dit_batch=0, thread=False)


def test_a_compiled_pipeline_warms_up_every_dit_batch_size(pipe, monkeypatch):
    """The DiT compiles one graph per batch size: the warm-up runs each up to dit_batch, so no
    client waits for a compile at the default size."""
    import time

    from fastapi.testclient import TestClient

    sizes = []

    class Compiled(Recording):
        compiled_transformer = object()  # what the warm-up asks; the pipeline itself stays eager

        def __call__(self, prompts, *args, **kwargs):
            sizes.append(len(prompts))
            return self._pipe(prompts, *args, **kwargs)

    monkeypatch.setattr(engine_module, "prior_generate_kwargs", lambda: {})  # eager AR too
    with TestClient(create_app(Compiled(pipe, []), compile=False, warmup=True, dit_batch=3)) as client:
        deadline = time.monotonic() + 120
        while client.get("/health").json()["status"] == "warming" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/health").json()["status"] == "ready"
    assert sizes == [1, 1, 2, 3]  # two prompt lengths at batch 1, then batches of 2 and 3
