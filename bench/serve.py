"""Throughput and latency of `blueprint serve` at several concurrencies, beside a
sequential loop of BlueprintPipeline calls in one warm process.

    python -m bench.serve                                   # the embedded model, 256x256, 20 steps
    python -m bench.serve --levels 1 4 16 --requests 48 --threads 2 [--compile]   # three rounds of 16 clients
    python -m bench.serve --config tiny --requests 2 --levels 1 2 --steps 2   # a smoke run

The server runs in this process (127.0.0.1, a free port) over the same
pipeline object as the loop, so both use the same weights, threads and
settings; clients are threads sending the OpenAI-shaped request with httpx.
Its model runs on the main thread, where the loop ran, and HTTP on another:
a second thread running torch would be slower for a reason that is not the
server's (see blueprint/serve/engine.py), and `blueprint serve` itself runs
torch on one thread only.
The loop first runs every prompt once, untimed, and each level first sends
one untimed round of `level` requests (at least one per prompt): a compiled
pipeline compiles for new batch shapes and prompt lengths then. Then come
`--requests` timed ones (at least `level`). Every request has its own seed.

Columns: images per minute over the level's wall time, p50 / p95 request
latency (queue included), and the process's peak resident memory during the
level (model included) sampled every 20 ms. Two ratios follow the table: the
server's images/min at the highest level over the loop's, and its peak RSS
there over its peak at the lowest level (issue #20's floors: >= 2 and <= 1.5).
Not a timed test: numbers move with whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from bench import run_main
from blueprint.choices import PRECISIONS
from blueprint.models import build_components
from blueprint.models.folder import resolve_model_dir
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS
from blueprint.sizes import parse_size

PROMPTS = (
    'A red poster that reads "OPEN LATE"',
    "A blue card with a white circle",
    'A green street sign that reads "MAIN ST"',
    "A yellow banner with two black bars",
    'A purple label that reads "SALE 50%"',
    "A gray panel with an orange square",
    'A white menu board that reads "SOUP"',
    "A pink flyer with a brown stripe",
)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Peak resident memory while the `with` block runs (a sampling thread)."""

    def __enter__(self):
        self.peak, self._stop = rss_mib(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def row(name: str, latencies: list[float], wall: float, peak: float) -> dict:
    lat = np.array(latencies)
    return {"name": name, "images": len(lat), "per_min": 60 * len(lat) / wall, "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)), "peak": peak}


def bench_loop(pipe, args, width, height) -> dict:
    call = dict(height=height, width=width, num_inference_steps=args.steps, guidance_scale=args.guidance)
    for i, prompt in enumerate(PROMPTS):  # warm-up: a compiled pipeline compiles for new prompt lengths
        pipe(prompt, seed=10**6 + i, **call)
    latencies = []
    with PeakMemory() as mem:
        start = time.perf_counter()
        for i in range(args.requests):
            t = time.perf_counter()
            pipe(PROMPTS[i % len(PROMPTS)], seed=i, **call)
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
    return row("sequential pipeline loop", latencies, wall, mem.peak)


def bench_server(url: str, level: int, args) -> dict:
    import httpx

    width_height = args.size
    body = {"size": width_height, "num_inference_steps": args.steps, "guidance_scale": args.guidance}
    client = httpx.Client(timeout=3600)

    def one(i: int) -> float:
        t = time.perf_counter()
        r = client.post(url + "/v1/images/generations",
                        json={**body, "prompt": PROMPTS[i % len(PROMPTS)], "seed": i})
        r.raise_for_status()
        return time.perf_counter() - t

    with ThreadPoolExecutor(level) as pool:
        # warm-up round, not timed: every prompt once, and `level` at once (new batch shapes)
        list(pool.map(one, range(10**6, 10**6 + max(level, len(PROMPTS)))))
        n = max(args.requests, level)
        with PeakMemory() as mem:
            start = time.perf_counter()
            latencies = list(pool.map(one, range(n)))
            wall = time.perf_counter() - start
    client.close()
    return row(f"server, concurrency {level}", latencies, wall, mem.peak)


HEADER = (f"| {'':28} | images | images/min | p50 s | p95 s | peak RSS MiB |\n"
          f"|{'-' * 30}|--------|------------|-------|-------|--------------|")


def print_row(r: dict) -> None:
    print(f"| {r['name']:28} | {r['images']:6d} | {r['per_min']:10.1f} | {r['p50']:5.2f} | {r['p95']:5.2f} "
          f"| {r['peak']:12.0f} |", flush=True)


def print_batches(registry) -> None:
    """How the server batched, warm-up included: batches and mean images per batch, per stage."""
    totals = {}
    for metric in registry.collect():
        if metric.name == "blueprint_batch_images":
            for sample in metric.samples:
                if sample.name.endswith(("_count", "_sum")):
                    totals.setdefault(sample.labels["stage"], {})[sample.name.rsplit("_", 1)[1]] = sample.value
    print("batches (warm-up included): " + ", ".join(
        f"{stage} {int(t['count'])} of {t['sum'] / t['count']:.1f} images on average"
        for stage, t in sorted(totals.items()) if t.get("count")))


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder (default: the embedded model)")
    p.add_argument("--config", default=None, help="a random model of this configuration instead (e.g. tiny)")
    p.add_argument("--size", default="256x256")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16], help="client concurrencies")
    p.add_argument("--requests", type=int, default=16, help="timed requests per level (at least the level)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--compile", action="store_true", help="compile the pipeline, as `blueprint serve` does")
    p.add_argument("--max-batch", type=int, default=16, help="images per AR batch (serve's --max-batch)")
    p.add_argument("--dit-batch", type=int, default=4, help="images per DiT and VAE batch")
    p.add_argument("--batch-wait-ms", type=float, default=10.0, help="serve's --batch-wait-ms")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from blueprint.serve.app import create_app
    from blueprint.serve.live import LiveServer

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.config:
        pipe = BlueprintPipeline(build_components(args.config, seed=0))
        model = f"random {args.config}"
    else:
        model_dir = resolve_model_dir(args.model)
        pipe = BlueprintPipeline.from_pretrained(model_dir, precision=args.precision)
        model = str(args.model or "embedded")
    width, height = parse_size(args.size, *pipe.size_range)
    if args.compile:
        pipe.compile()
    print(f"model {model}, {width}x{height}, {args.steps} steps, guidance {args.guidance}, "
          f"{torch.get_num_threads()} torch threads of {os.cpu_count()} cores, compile {args.compile}")
    print(HEADER, flush=True)  # each row as its level ends: a long run shows what it has so far
    loop = bench_loop(pipe, args, width, height)
    print_row(loop)
    # warmup: the server's own start-up warm-up (the pipeline is compiled already, or not at all)
    app = create_app(pipe, compile=False, warmup=True, max_queue=max(64, 2 * max(args.levels)),
                     max_batch=args.max_batch, dit_batch=args.dit_batch, batch_wait=args.batch_wait_ms / 1000,
                     model_thread=False)
    server = app.state.server
    rows, failed = [], []

    def clients() -> None:
        try:
            with LiveServer(app) as live:
                for level in args.levels:
                    rows.append(bench_server(live.url, level, args))
                    print_row(rows[-1])
        except BaseException as e:  # noqa: BLE001 - raised again on the main thread
            failed.append(e)
        finally:
            server.stop()  # ends run_model below

    driver = threading.Thread(target=clients, name="bench-clients")
    driver.start()
    server.run_model()  # the model on the main thread, as in the loop
    driver.join()
    print_batches(server.metrics.registry)
    if failed:
        raise failed[0]
    if rows:
        print(f"\n{rows[-1]['name']}: {rows[-1]['per_min'] / loop['per_min']:.2f}x the loop's images/min, "
              f"{rows[-1]['peak'] / rows[0]['peak']:.2f}x the peak RSS of {rows[0]['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main("python -m bench.serve", main))
