"""A server on a thread of this process, on 127.0.0.1 and a free port: for tests
and the benchmark, which talk to it over real HTTP like any client.

    with LiveServer(create_app(pipe, compile=False, warmup=False)) as server:
        httpx.get(server.url + "/health")
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app, port: int | None = None, ready_timeout: float = 600.0):
        self.app, self.port, self.ready_timeout = app, port or free_port(), ready_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="blueprint-live-server", daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until /health says ready (the model loaded, compiled and warmed)."""
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            try:
                status = httpx.get(self.url + "/health", timeout=5).json().get("status")
                if status == "ready":
                    return
                if status == "failed":
                    raise RuntimeError("the server failed to load its model (see /health)")
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready within {self.ready_timeout:g} s")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
