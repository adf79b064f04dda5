"""Server-sent events for `stream: true`, in the order OpenAI's streaming uses:

    event: progress                         {"stage": "prior"|"denoise", "step", "total", "progress"}
    event: image_generation.partial_image   {"b64_json", "partial_image_index"}   (partial_images >= 1)
    event: image_generation.completed       {"b64_json"|"url", "seed", "index", ...}  one per image
    event: done                             the whole response, as the non-streamed call returns it
    data: [DONE]

`progress` runs 0..1 over both stages (the AR stage is counted as the first
half). Partial image 0 is the AR blueprint drawn at the image's size: it
exists as soon as the AR stage is done, well before the pixels. With
partial_images 2 or 3, images 1 and 2 are the DiT's prediction of the finished
image part-way through the denoising. They show the request's first image, as
OpenAI's partial images do. A client that disconnects ends the generator,
whose `finally` cancels the job.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.concurrency import run_in_threadpool

from blueprint.serve.errors import ApiError, job_result
from blueprint.serve.picture import png_b64


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def sse_events(server, body, job, events: asyncio.Queue, finish, started: float):
    last = -1
    deadline = started + server.timeout
    try:
        yield sse("queued", {"type": "queued", "queue_depth": server.engine.depth, "seeds": job.seeds})
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise ApiError(504, f"not done within {server.timeout:g} s", "timeout", code="timeout")
            try:
                event = await asyncio.wait_for(events.get(), min(left, 1.0))
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event["type"] == "progress":
                half = 0.0 if event["stage"] == "prior" else 0.5
                progress = half + 0.5 * event["step"] / event["total"]
                if int(progress * 100) != last:  # at most one event per percent
                    last = int(progress * 100)
                    yield sse("progress", {**event, "progress": round(progress, 3)})
            elif event["type"] == "prior_done":
                if body.partial_images and event["blueprints"]:  # drawn on the model thread
                    picture = event["blueprints"][0]
                    yield sse("image_generation.partial_image", {
                        "type": "image_generation.partial_image", "partial_image_index": 0,
                        "b64_json": await run_in_threadpool(png_b64, picture), "size": f"{job.width}x{job.height}"})
            elif event["type"] == "preview":
                yield sse("image_generation.partial_image", {
                    "type": "image_generation.partial_image", "partial_image_index": event["index"],
                    "b64_json": await run_in_threadpool(png_b64, event["images"][0]),
                    "size": f"{job.width}x{job.height}"})
            elif event["type"] == "done":
                break
        response = await run_in_threadpool(finish, job_result(job))
        for i, item in enumerate(response["data"]):
            yield sse("image_generation.completed", {"type": "image_generation.completed", "index": i,
                                                     "created": response["created"], "size": response["size"],
                                                     **item})
        yield sse("done", response)
        yield "data: [DONE]\n\n"
    except ApiError as e:
        yield sse("error", {"error": {"message": e.message, "type": e.type, "param": e.param, "code": e.code}})
    finally:
        if not job.future.done():
            job.cancelled.set()
