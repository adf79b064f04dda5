"""Images kept for `response_format: url`, served by GET /v1/images/{id}.

Bounded by count (the oldest go first) and by age, so memory stays bounded
however many url requests arrive. In memory only: a replica serves the URLs
it minted (docs/serving.md says what that means behind a load balancer).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict


class ImageStore:
    def __init__(self, max_items: int = 256, max_age: float = 3600.0):
        self.max_items, self.max_age = max_items, max_age
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, png: bytes) -> str:
        key = secrets.token_urlsafe(18)  # unguessable: the URL is the only credential
        with self._lock:
            self._items[key] = (time.monotonic(), png)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if time.monotonic() - item[0] > self.max_age:
                del self._items[key]
                return None
            return item[1]
