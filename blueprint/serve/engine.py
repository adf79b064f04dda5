"""The batching engine: one worker thread runs the model; requests wait in a bounded queue.

Two stages, each batched with what is waiting:

- **AR**: jobs of the same target size and sampling settings decode together
  (the AR stage is per-token overhead on a CPU, so a batch of 4 costs little
  more than 1). A job that finds the worker idle waits at most `batch_wait`
  seconds for company.
- **DiT**: jobs whose tokens are ready and that share size, steps and guidance
  denoise together, straight after their AR batch.

Every image has its own seed (per-row generators in the pipeline), so a seeded
request gives the same image alone or batched. A cancelled job (client gone,
timed out) is dropped before its batch runs; a batch whose jobs are all gone
stops at its next step. The queue is bounded (`QueueFull` -> HTTP 429) and a
batch holds at most `max_batch` images, which bounds memory.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import torch

from blueprint.pipeline.compiled import prior_generate_kwargs
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
    emit: Callable[[dict], None] = lambda event: None  # progress events, called on the worker thread
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)
    prior_ids: torch.Tensor | None = None  # (n, (H/16)*(W/16)) once the AR stage ran

    @property
    def n(self) -> int:
        return len(self.seeds)

    def ar_key(self) -> tuple:
        return (self.width, self.height, self.temperature, self.top_p)

    def dit_key(self) -> tuple:
        return (self.width, self.height, self.steps, self.guidance)


@dataclass
class Result:
    images: list  # PIL images
    prior_ids: torch.Tensor  # (n, (H/16)*(W/16))
    seconds: dict[str, float]


class Engine:
    def __init__(self, pipe, max_queue: int = 64, max_batch: int = 16, batch_wait: float = 0.01,
                 on_batch: Callable[[str, int], None] | None = None):
        self.pipe, self.max_queue, self.max_batch, self.batch_wait = pipe, max_queue, max_batch, batch_wait
        self.on_batch = on_batch or (lambda stage, rows: None)  # metrics hook
        self._ar: list[Job] = []
        self._dit: list[Job] = []
        self._active = 0  # admitted and not finished (waiting or running)
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="blueprint-engine", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._active

    def submit(self, job: Job) -> Future:
        with self._cond:
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
            self._cond.notify()
        self._thread.join(timeout=30)

    # ---- worker -------------------------------------------------------------

    def _take(self, queue: list[Job], key: Callable[[Job], tuple], wait: float) -> list[Job]:
        """The oldest job and those that share its key, up to max_batch images; waits up to
        `wait` seconds for more while the batch has room. Call with the lock held."""
        deadline = time.monotonic() + wait
        while True:
            self._drop_cancelled(queue)
            if not queue:
                return []
            first = key(queue[0])
            batch, rows = [], 0
            for job in queue:
                if key(job) == first and rows + job.n <= self.max_batch or not batch:
                    batch.append(job)
                    rows += job.n
            left = deadline - time.monotonic()
            if rows >= self.max_batch or left <= 0 or self._stopped:
                for job in batch:
                    queue.remove(job)
                return batch
            self._cond.wait(left)

    @staticmethod
    def _drop_cancelled(queue: list[Job]) -> None:
        for job in [j for j in queue if j.cancelled.is_set()]:
            queue.remove(job)
            job.future.set_exception(Cancelled("cancelled before it ran"))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._ar or self._dit or self._stopped):
                    self._cond.wait()
                if self._stopped:
                    return
                if self._dit:  # finish what was started before taking new work
                    batch, stage = self._take(self._dit, Job.dit_key, 0.0), "dit"
                else:
                    batch, stage = self._take(self._ar, Job.ar_key, self.batch_wait), "ar"
            if not batch:
                continue
            try:
                self.on_batch(stage, sum(job.n for job in batch))
                (self._prior if stage == "ar" else self._denoise)(batch)
            except Exception as e:  # noqa: BLE001 - every job of the batch gets the error
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(e)

    def _progress(self, batch: list[Job], stage: str):
        def report(step: int, total: int) -> None:
            live = [job for job in batch if not job.cancelled.is_set()]
            if not live:
                raise Cancelled("every request of the batch is gone")
            for job in live:
                job.emit({"type": "progress", "stage": stage, "step": step, "total": total})
        return report

    def _prior(self, batch: list[Job]) -> None:
        pipe, first = self.pipe, batch[0]
        prompts = [job.prompt for job in batch for _ in job.seeds]
        seeds = [s for job in batch for s in job.seeds]
        if pipe.conditioning == "prompt":  # no AR stage: the pipeline makes its placeholder ids
            ids = None
        else:
            with torch.inference_mode():
                ids = generate_prior_tokens(
                    pipe.vision_language_encoder, pipe.processor, prompts, first.width, first.height, seeds,
                    first.temperature, first.top_p, self._progress(batch, "prior"), pipe.prior_guidance,
                    prior_generate_kwargs() if pipe.compiled_transformer is not None else None,
                )
        row = 0
        for job in batch:
            job.prior_ids = None if ids is None else ids[row: row + job.n].cpu()
            row += job.n
            job.emit({"type": "prior_done", "prior_ids": job.prior_ids})
        with self._cond:
            self._dit.extend(batch)

    def _denoise(self, batch: list[Job]) -> None:
        first = batch[0]
        prompts = [job.prompt for job in batch for _ in job.seeds]
        seeds = [s for job in batch for s in job.seeds]
        ids = None if first.prior_ids is None else torch.cat([job.prior_ids for job in batch])
        denoise = self._progress(batch, "denoise")
        out = self.pipe(
            prompts, height=first.height, width=first.width, seed=seeds, num_inference_steps=first.steps,
            guidance_scale=first.guidance, temperature=first.temperature, top_p=first.top_p,
            callback=lambda stage, step, total: denoise(step, total) if stage == "denoise" else None,
            prior_token_ids=ids,
        )
        row = 0
        for job in batch:
            result = Result(out.images[row: row + job.n], out.prior_token_ids[row: row + job.n], dict(out.timings))
            row += job.n
            if not job.future.done():
                job.future.set_result(result)
