"""The batching engine: one thread runs all model work; requests wait in a bounded queue.

Two stages, each batched with what is waiting:

- **AR**: jobs of the same target size and sampling settings decode together,
  up to `max_batch` images (the AR stage is per-token overhead on a CPU, so a
  batch of 16 costs a few times what 1 does). A job that finds the worker
  idle waits at most `batch_wait` seconds for company.
- **DiT**: jobs whose tokens are ready and that share size, steps and guidance
  denoise and decode together, `dit_batch` images per pipeline call. The DiT
  and the VAE cost about the same per image at any batch on a CPU, while their
  activations grow with it (16 images at 256x256 took ~500 MiB more than one,
  the VAE decode most), so small DiT batches bound memory at little cost.

Order: a DiT batch runs first when tokens are ready (those requests are
closest to done), except that a full AR batch waiting (`max_batch` images)
is decoded in between, even between two DiT steps of the batch in flight: a
new request then gets its blueprint without waiting for whole images, and the
AR stage still runs at its cheapest per image.

Why one thread, and why a host may lend its own (`thread=False`, then `run()`):
torch's CPU ops run on an OpenMP (libgomp) team per calling thread, and
libgomp counts the threads of every team plus the process's first thread.
When that count exceeds the CPUs, idle team threads sleep after ~100 spins,
so each of the thousands of small parallel ops per image wakes them with a
futex: on 2 cores with 2 torch threads, a pipeline call on a second thread of
a process whose main thread had run torch made ~18,000 context switches per
image and took 1.2-1.7x as long (nearly all of it in the DiT's elementwise
ops); on the main thread, or on the only thread that runs torch, it made ~0.
So the model loads, warms up and runs on one thread, and a host that already
ran the model on its main thread (bench/serve.py) runs the engine there.

Every image has its own seed (per-row generators in the pipeline), so a seeded
request gives the same image alone or batched. A cancelled job (client gone,
timed out) is dropped before its batch runs; a batch whose jobs are all gone
stops at its next step. The queue is bounded (`QueueFull` -> HTTP 429).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import torch

from blueprint.pipeline.compiled import prior_generate_kwargs
from blueprint.pipeline.layout_plan import plan_strength
from blueprint.pipeline.prior import generate_prior_tokens


class QueueFull(Exception):
    pass


class Cancelled(Exception):
    """A job (or a whole batch) whose clients are gone."""


@dataclass(eq=False)
class Job:
    prompt: str
    seeds: list[int]  # one per image
    width: int
    height: int
    steps: int
    guidance: float
    temperature: float | None
    top_p: float | None
    emit: Callable[[dict], None] = lambda event: None  # progress events, called on the model thread
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)
    prior_ids: torch.Tensor | None = None  # (n, (H/16)*(W/16)) once the AR stage ran
    pictures: bool = False  # draw the AR blueprints (on the model thread: it runs torch)
    blueprints: list | None = None  # PIL images of the blueprints, when `pictures`
    plan: str | None = None  # the layout plan the AR stage followed (given or the planner's), if any
    plan_ink: list | None = None  # n (2, H, W): the plan's letters and shapes, for the glyph layer
    layout_plan: float | None = None  # the request's layout-plan strength; None: the model's
    given_plan: str | None = None  # a layout plan the request brought (checked by the app)
    previews: int = 0  # part-way images of the denoising to send (each costs a VAE decode)

    @property
    def n(self) -> int:
        return len(self.seeds)

    def preview_steps(self) -> dict[int, int]:
        """{denoising step: preview index 1..previews}, evenly spaced, the last step excluded
        (the finished image follows it)."""
        steps = {round(self.steps * i / (self.previews + 1)): i for i in range(self.previews, 0, -1)}
        return {step: i for step, i in steps.items() if 0 < step < self.steps}

    def ar_key(self) -> tuple:
        return (self.width, self.height, self.temperature, self.top_p)

    def dit_key(self) -> tuple:
        return (self.width, self.height, self.steps, self.guidance)


@dataclass
class Result:
    images: list  # PIL images
    prior_ids: torch.Tensor  # (n, (H/16)*(W/16))
    seconds: dict[str, float]
    blueprints: list | None = None  # PIL images of the AR blueprints, when the job asked


class Engine:
    def __init__(self, pipe, max_queue: int = 64, max_batch: int = 16, batch_wait: float = 0.01,
                 on_batch: Callable[[str, int], None] | None = None, dit_batch: int = 4,
                 draw: Callable | None = None, thread: bool = True):
        """`draw(pipe, prior_ids_row, width, height)` makes a blueprint picture (serve.picture).
        `thread=False`: no thread of its own; the host calls `run()` on the thread it lends."""
        if min(max_queue, max_batch, dit_batch) < 1 or batch_wait < 0:
            raise ValueError("max_queue, max_batch and dit_batch must be >= 1 and batch_wait >= 0")
        self.pipe, self.max_queue, self.max_batch, self.batch_wait = pipe, max_queue, max_batch, batch_wait
        self.dit_batch = dit_batch
        self.on_batch = on_batch or (lambda stage, rows: None)  # metrics hook
        self.draw = draw
        self._ar: list[Job] = []
        self._dit: list[Job] = []
        self._active = 0  # admitted and not finished (waiting or running)
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = None
        if thread:
            self._thread = threading.Thread(target=self.run, name="blueprint-engine", daemon=True)
            self._thread.start()

    @property
    def depth(self) -> int:
        return self._active

    def submit(self, job: Job) -> Future:
        with self._cond:
            if self._stopped:
                raise Cancelled("the server is stopping")
            if self._active >= self.max_queue:
                raise QueueFull(f"{self._active} requests in the queue (limit {self.max_queue})")
            self._active += 1
            self._ar.append(job)
            self._cond.notify()
        job.future.add_done_callback(self._finished)
        return job.future

    def _finished(self, _future) -> None:
        with self._cond:
            self._active -= 1

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            for job in self._ar + self._dit:  # answered now rather than left waiting
                job.cancelled.set()
                job.future.set_exception(Cancelled("the server is stopping"))
            self._ar.clear()
            self._dit.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    # ---- the model thread -----------------------------------------------------

    def run(self, until: Future | None = None) -> None:
        """Run batches until `stop()` (or until `until` is done: the warm-up)."""
        while until is None or not until.done():
            with self._cond:
                while not (self._ar or self._dit or self._stopped):
                    self._cond.wait()
                if self._stopped:
                    return
                if self._dit and not self._full_ar_batch():
                    batch, stage = self._take(self._dit, Job.dit_key, self.dit_batch, 0.0), "dit"
                else:
                    batch, stage = self._take(self._ar, Job.ar_key, self.max_batch, self.batch_wait), "ar"
            self._run_batch(stage, batch)

    def _run_batch(self, stage: str, batch: list[Job]) -> None:
        if not batch:
            return
        try:
            self.on_batch(stage, sum(job.n for job in batch))
            (self._prior if stage == "ar" else self._denoise)(batch)
        except Exception as e:  # noqa: BLE001 - every job of the batch gets the error
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(e)

    def _full_ar_batch(self) -> bool:
        """A whole AR batch is waiting (lock held): worth running before more DiT work."""
        if not self._ar:
            return False
        first = self._ar[0].ar_key()
        return sum(job.n for job in self._ar if job.ar_key() == first) >= self.max_batch

    def _take(self, queue: list[Job], key: Callable[[Job], tuple], limit: int, wait: float) -> list[Job]:
        """The oldest job and those that share its key, up to `limit` images; waits up to
        `wait` seconds for more while the batch has room. Call with the lock held."""
        deadline = time.monotonic() + wait
        while True:
            self._drop_cancelled(queue)
            if not queue:
                return []
            first = key(queue[0])
            batch, rows = [], 0
            for job in queue:
                if key(job) == first and rows + job.n <= limit or not batch:
                    batch.append(job)
                    rows += job.n
            left = deadline - time.monotonic()
            if rows >= limit or left <= 0 or self._stopped:
                for job in batch:
                    queue.remove(job)
                return batch
            self._cond.wait(left)

    @staticmethod
    def _drop_cancelled(queue: list[Job]) -> None:
        for job in [j for j in queue if j.cancelled.is_set()]:
            queue.remove(job)
            job.future.set_exception(Cancelled("cancelled before it ran"))

    def _progress(self, batch: list[Job], stage: str):
        def report(step: int, total: int) -> None:
            live = [job for job in batch if not job.cancelled.is_set()]
            if not live:
                raise Cancelled("every request of the batch is gone")
            for job in live:
                job.emit({"type": "progress", "stage": stage, "step": step, "total": total})
        return report

    def _between_steps(self) -> None:
        """Called between two DiT steps: decode a full AR batch now if one is waiting."""
        with self._cond:
            batch = self._take(self._ar, Job.ar_key, self.max_batch, 0.0) if self._full_ar_batch() else []
        self._run_batch("ar", batch)

    def _previews(self, batch: list[Job]):
        """on_latents for a DiT batch: decode the rows of the jobs that asked for a preview at this step."""
        rows, row = [], 0
        for job in batch:
            rows.append((job, row, job.preview_steps()))
            row += job.n

        def on_latents(step: int, x0: torch.Tensor) -> None:
            for job, first, steps in rows:
                if step in steps and not job.cancelled.is_set():
                    images = self.pipe.decode_latents(x0[first: first + job.n])
                    job.emit({"type": "preview", "index": steps[step], "images": images})
        return on_latents

    def _prior(self, batch: list[Job]) -> None:
        pipe, first = self.pipe, batch[0]
        prompts = [job.prompt for job in batch for _ in job.seeds]
        seeds = [s for job in batch for s in job.seeds]
        plans = drawn = None
        if pipe.conditioning == "prompt":  # no AR stage: the pipeline makes its placeholder ids
            ids = None
        else:
            with torch.inference_mode():
                strengths = [plan_strength(job.layout_plan, pipe.layout_plan, job.given_plan)
                             for job in batch for _ in job.seeds]
                given = [job.given_plan for job in batch for _ in job.seeds]
                plans, planned, drawn = pipe.plan_layout(prompts, first.width, first.height, strengths, given)
                ids = generate_prior_tokens(
                    pipe.vision_language_encoder, pipe.processor, prompts, first.width, first.height, seeds,
                    first.temperature, first.top_p, self._progress(batch, "prior"), pipe.prior_guidance,
                    prior_generate_kwargs() if pipe.compiled_transformer is not None else None,
                    pipe.plan_bias(prompts, pipe.color_plan), planned,
                )
        row = 0
        for job in batch:
            job.plan = plans[row] if plans else None  # one prompt per job: its rows share the plan
            job.prior_ids = None if ids is None else ids[row: row + job.n].cpu()
            job.plan_ink = None if drawn is None else drawn[row: row + job.n]
            row += job.n
            if job.pictures and job.prior_ids is not None and self.draw is not None:
                job.blueprints = [self.draw(pipe, ids_row, job.width, job.height) for ids_row in job.prior_ids]
            job.emit({"type": "prior_done", "prior_ids": job.prior_ids, "blueprints": job.blueprints})
        with self._cond:
            self._dit.extend(batch)

    def _denoise(self, batch: list[Job]) -> None:
        first = batch[0]
        prompts = [job.prompt for job in batch for _ in job.seeds]
        seeds = [s for job in batch for s in job.seeds]
        ids = None if first.prior_ids is None else torch.cat([job.prior_ids for job in batch])
        plan_ink = None
        if any(job.plan_ink is not None for job in batch):  # a job without a plan has none
            plan_ink = [ink for job in batch for ink in (job.plan_ink or [None] * job.n)]
        denoise = self._progress(batch, "denoise")

        def callback(stage: str, step: int, total: int) -> None:
            if stage == "denoise":
                denoise(step, total)
                if step < total:
                    self._between_steps()

        out = self.pipe(
            prompts, height=first.height, width=first.width, seed=seeds, num_inference_steps=first.steps,
            guidance_scale=first.guidance, temperature=first.temperature, top_p=first.top_p,
            callback=callback, prior_token_ids=ids, plan_ink=plan_ink,
            on_latents=self._previews(batch) if any(job.previews for job in batch) else None,
        )
        row = 0
        for job in batch:
            result = Result(out.images[row: row + job.n], out.prior_token_ids[row: row + job.n], dict(out.timings),
                            job.blueprints)
            row += job.n
            if not job.future.done():
                job.future.set_result(result)
