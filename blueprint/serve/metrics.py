"""Prometheus metrics, one registry per app (tests build several apps in one process)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 300, float("inf"))


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queue_depth: Callable[[], int]):
        self.registry = CollectorRegistry()
        self.queue = Gauge("blueprint_queue_depth", "Generation requests admitted and not finished",
                           registry=self.registry)
        self.queue.set_function(queue_depth)
        self.requests = Counter("blueprint_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("blueprint_generation_seconds", "Image request latency, queue included",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.images = Counter("blueprint_images_generated", "Images returned", registry=self.registry)
        self.batch_rows = Histogram("blueprint_batch_images", "Images per model batch", ["stage"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountRequests:
    """ASGI middleware: counts every HTTP response by its route template and status."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500  # what an exception that escapes everything ends as

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self.metrics.requests.labels(getattr(route, "path", "other"), str(status)).inc()
