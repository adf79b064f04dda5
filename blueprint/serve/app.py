"""The FastAPI app: OpenAI-compatible image generation over one BlueprintPipeline.

    app = create_app(model_dir=None)          # the embedded model, loaded in the background
    app = create_app(pipe, warmup=False)      # a pipeline already built (tests)

The model loads, compiles, warms up and then runs batches on one thread (all
torch work stays on it: `blueprint.serve.engine` says why), so the server
answers at once: /health says "warming" and generation answers 503 until it
is ready. That thread is the app's own, or, with `model_thread=False`, one the
host lends by calling `app.state.server.run_model()` (bench/serve.py lends its
main thread). The event loop only validates, queues, streams and encodes PNGs.
No state outside the process: see docs/serving.md on replicas.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
import threading
import time
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from blueprint.errors import BlueprintError
from blueprint.pipeline.checks import check_prompts
from blueprint.pipeline.layout_plan import LAYOUT_NEEDS_PLANNER, check_given_plan, plan_strength
from blueprint.serve.engine import Cancelled, Engine, Job, QueueFull
from blueprint.serve.errors import ApiError, BodyLimit, error_json, install_error_handlers, job_result
from blueprint.serve.metrics import CountRequests, Metrics
from blueprint.serve.picture import blueprint_payload, draw_blueprint, png_b64, png_bytes
from blueprint.serve.schemas import ErrorResponse, Health, ImageRequest, ImageResponse, ModelCard, ModelList
from blueprint.serve.store import ImageStore
from blueprint.serve.stream import sse_events

log = logging.getLogger("blueprint.serve")
STATIC = Path(__file__).parent / "static"
WARMUP_SIDE = 256  # the page's default size; a model whose range starts higher warms at its least
ERRORS = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (400, "invalid request"), (401, "missing or wrong API key"), (413, "request body too large"),
    (429, "queue full; see Retry-After"), (503, "model still warming"), (504, "timed out"))}


class Server:
    """What the routes share: the pipeline, its engine, the image store, the metrics, the state."""

    def __init__(self, pipe, model_dir, model_id, precision, compile, warmup, max_queue, max_batch, dit_batch,
                 batch_wait, timeout, store_size, model_thread):
        self.pipe, self.model_dir, self.model_id, self.precision = pipe, model_dir, model_id, precision
        self.compile, self.warmup, self.timeout = compile, warmup, timeout
        self.engine_args = dict(max_queue=max_queue, max_batch=max_batch, dit_batch=dit_batch, batch_wait=batch_wait)
        self.engine: Engine | None = None
        self.prompt_tokenizer = None  # set with the model (`_load`)
        self.model_thread = model_thread
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.status, self.detail = "warming", None
        self.created = int(time.time())
        self.store = ImageStore(store_size)
        self.metrics = Metrics(lambda: self.engine.depth if self.engine else 0)

    def start(self) -> None:
        if self.model_thread:
            self._thread = threading.Thread(target=self.run_model, name="blueprint-model", daemon=True)
            self._thread.start()

    def run_model(self) -> None:
        """Load, compile, warm up, then run batches until `stop()`: every model call on the calling thread."""
        if self._load():
            self.engine.run()

    def _warm_up(self, engine: Engine) -> None:
        """Run the shapes a compiled pipeline compiles for at the page's default size, so that
        no client waits tens of seconds for a compile: two prompt lengths (the AR decode step
        compiles once more for a new one) and every DiT batch size up to `dit_batch` (the
        DiT's graphs have fixed shapes: a batch of 3 is a graph of its own). Other sizes
        compile on their first request."""
        w = h = max(WARMUP_SIDE, self.pipe.size_range[0])
        jobs = [("warm-up", 1), ('a longer warm-up prompt that reads "WARM"', 1)]
        if self.pipe.compiled_transformer is not None:
            jobs += [("warm-up", n) for n in range(2, self.engine_args["dit_batch"] + 1)]
        for prompt, n in jobs:
            warm = engine.submit(Job(prompt, list(range(n)), w, h, 2, 3.0, None, None))
            engine.run(until=warm)
            warm.result()

    def _load(self) -> bool:
        try:
            if self.pipe is None:
                from blueprint.models.folder import resolve_model_dir
                from blueprint.pipeline import BlueprintPipeline
                self.pipe = BlueprintPipeline.from_pretrained(resolve_model_dir(self.model_dir),
                                                              precision=self.precision)
            # The prompt check's own tokenizer: a fast tokenizer keeps its padding setting between
            # calls, so a check on the event loop between the engine's setting of padding and its
            # batched call left that batch unpadded (a 500 for every request in it).
            self.prompt_tokenizer = copy.deepcopy(self.pipe.processor.tokenizer)
            if self.compile:
                self.pipe.compile()
            engine = Engine(self.pipe, on_batch=lambda stage, rows: self.metrics.batch_rows.labels(stage)
                            .observe(rows), draw=draw_blueprint, thread=False, **self.engine_args)
            if self.warmup:
                self._warm_up(engine)
            self.engine = engine
            if self._stopping.is_set():  # stopped while loading: nothing will run the engine
                return False
            self.status = "ready"
            log.info("ready: model %s", self.model_id)
            return True
        except Exception as e:  # noqa: BLE001 - reported by /health, the process stays up to say so
            log.exception("loading the model failed")
            self.status, self.detail = "failed", f"{type(e).__name__}: {e}"
            return False

    def stop(self) -> None:
        self._stopping.set()
        if self.engine is not None:
            self.engine.stop()  # ends `run_model` on whichever thread runs it
        if self._thread is not None:
            self._thread.join(timeout=30)

    def ready(self) -> None:
        if self.status != "ready":
            raise ApiError(503, f"the model is {self.status}; try again shortly", "service_unavailable",
                           code=self.status, headers={"Retry-After": "5"})


def create_app(pipe=None, model_dir: str | None = None, *, model_id: str = "blueprint", api_key: str | None = None,
               max_queue: int = 64, max_batch: int = 16, dit_batch: int = 4, batch_wait: float = 0.01,
               timeout: float = 300.0, max_body: int = 64 * 1024, precision: str = "fp32", compile: bool = True,
               warmup: bool = True, store_size: int = 256, model_thread: bool = True) -> FastAPI:
    server = Server(pipe, model_dir, model_id, precision, compile, warmup, max_queue, max_batch, dit_batch,
                    batch_wait, timeout, store_size, model_thread)

    async def lifespan(app):
        server.start()
        yield
        await run_in_threadpool(server.stop)

    app = FastAPI(title="Blueprint", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible image generation with Blueprint (AR blueprint + DiT).")
    app.state.server = server
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(CountRequests, metrics=server.metrics)
    bearer = HTTPBearer(auto_error=False)

    def auth(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if api_key is None:
            return
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise ApiError(401, "missing or wrong API key: send Authorization: Bearer KEY", "authentication_error",
                           code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health():
        body = Health(status=server.status, model=server.model_id,
                      queue_depth=server.engine.depth if server.engine else 0, detail=server.detail)
        return JSONResponse(body.model_dump(), status_code=200 if server.status == "ready" else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        return Response(server.metrics.render(), media_type=server.metrics.content_type)

    @app.get("/v1/models", response_model=ModelList, dependencies=[Depends(auth)], responses=ERRORS)
    async def models():
        return ModelList(data=[ModelCard(id=server.model_id, created=server.created)])

    @app.get("/v1/images/{image_id}",
             responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorResponse}})
    async def image(image_id: str):
        # No key needed: ids are unguessable and an <img src> cannot send a header.
        data = server.store.get(image_id)
        if data is None:
            raise ApiError(404, f"no image {image_id!r} (images are kept for a while, then dropped)",
                           "not_found_error", param="image_id", code="image_not_found")
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/v1/images/edits", dependencies=[Depends(auth)], status_code=501,
              responses={501: {"model": ErrorResponse}})
    async def edits():
        return error_json(501, "image editing is not supported yet: only /v1/images/generations",
                          "not_implemented", code="not_implemented")

    @app.post("/v1/images/generations", response_model=ImageResponse, dependencies=[Depends(auth)],
              responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}})
    async def generations(body: ImageRequest, request: Request):
        server.ready()
        job = _job(server, body)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        if body.stream:
            job.emit = lambda event: loop.call_soon_threadsafe(events.put_nowait, event)
        try:
            future = server.engine.submit(job)
        except QueueFull as e:
            raise ApiError(429, f"server busy: {e}; retry later", "rate_limit_error", code="queue_full",
                           headers={"Retry-After": "2"}) from None
        except Cancelled as e:  # the server is shutting down
            raise ApiError(503, str(e), "service_unavailable", code="stopping") from None
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(events.put_nowait, {"type": "done"}))
        if body.stream:
            finish = lambda result: _respond(server, body, job, result, started, str(request.base_url))  # noqa: E731
            return StreamingResponse(sse_events(server, body, job, events, finish, started),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        result = await _wait(server, job, request, events, started)
        return await run_in_threadpool(_respond, server, body, job, result, started, str(request.base_url))

    return app


def _job(server: Server, body: ImageRequest) -> Job:
    """The engine job for a valid request; ApiError 400 for what only the model can check."""
    pipe = server.pipe
    if body.model not in (None, "", server.model_id):
        raise ApiError(400, f"unknown model {body.model!r}; this server runs {server.model_id!r}",
                       param="model", code="model_not_found")
    try:
        from blueprint.sizes import parse_size
        width, height = parse_size(body.size, *pipe.size_range)
    except BlueprintError as e:
        raise ApiError(400, str(e), param="size", code="invalid_size") from None
    try:
        check_prompts([body.prompt], server.prompt_tokenizer)  # the token limit needs the model's tokenizer
    except BlueprintError as e:
        raise ApiError(400, str(e), param="prompt", code="invalid_prompt") from None
    _check_layout_plan(pipe, body, width, height)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    return Job(body.prompt, [seed + i for i in range(body.n)], width, height, body.num_inference_steps,
               body.guidance_scale, body.temperature, body.top_p,
               pictures=body.return_blueprint or bool(body.stream and body.partial_images),
               previews=max(0, body.partial_images - 1) if body.stream else 0,
               layout_plan=body.layout_plan, given_plan=body.plan)


def _check_layout_plan(pipe, body: ImageRequest, width: int, height: int) -> None:
    """ApiError 400 for a plan that does not parse, or planning the model cannot do: found here,
    not in the batch, where it would fail the other requests batched with this one. A given plan
    is put in the planner's form, which the response returns."""
    try:
        if body.plan is not None:
            body.plan = check_given_plan(body.plan, body.prompt, width, height)
        strength = plan_strength(body.layout_plan, pipe.layout_plan, body.plan)
    except BlueprintError as e:
        raise ApiError(400, str(e), param="plan", code="invalid_plan") from None
    if strength and body.plan is None and pipe.planner is None:
        raise ApiError(400, LAYOUT_NEEDS_PLANNER, param="layout_plan", code="no_planner")
    if strength and pipe.conditioning == "prompt":
        raise ApiError(400, "this model has no AR stage to follow a layout plan", param="layout_plan",
                       code="no_ar_stage")


async def _wait(server: Server, job: Job, request: Request, events: asyncio.Queue, started: float):
    """The job's result; cancels it if the client goes away or the time runs out."""
    deadline = started + server.timeout
    try:
        while not job.future.done():
            left = deadline - time.perf_counter()
            if left <= 0:
                raise ApiError(504, f"not done within {server.timeout:g} s", "timeout", code="timeout")
            try:
                await asyncio.wait_for(events.get(), min(left, 0.5))
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    raise Cancelled("client disconnected") from None
        return job_result(job)
    finally:
        if not job.future.done():
            job.cancelled.set()


def _respond(server: Server, body: ImageRequest, job: Job, result, started: float, base_url: str) -> dict:
    """The response body (PNG encoding is CPU work: the caller runs this off the event loop)."""
    data = []
    for i, (image, seed) in enumerate(zip(result.images, job.seeds)):
        item = {"revised_prompt": body.prompt, "seed": seed}
        if body.response_format == "url":
            item["url"] = f"{base_url}v1/images/{server.store.put(png_bytes(image))}"
        else:
            item["b64_json"] = png_b64(image)
        if body.return_blueprint and result.prior_ids is not None and result.blueprints:
            item["blueprint"] = blueprint_payload(result.prior_ids[i], job.width, job.height, result.blueprints[i],
                                                  job.plan)
        data.append(item)
    total = time.perf_counter() - started
    server.metrics.latency.observe(total)
    server.metrics.images.inc(len(data))
    timings = {k: round(v, 4) for k, v in result.seconds.items() if k in ("glyph_encoder", "denoise", "decode")}
    return {"created": int(time.time()), "data": data, "model": server.model_id, "size": f"{job.width}x{job.height}",
            "seed": job.seeds[0], "timings": {**timings, "total": round(total, 4)}}
