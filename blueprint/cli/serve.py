"""`blueprint serve`: an OpenAI-compatible image API and a web page, over one model.

    blueprint serve [--model DIR] [--host 127.0.0.1] [--port 8000] [--api-key KEY]
        [--max-queue N] [--max-batch N] [--dit-batch N] [--timeout S] [--max-body BYTES] [--precision auto|fp32|bf16] [--no-compile]

Serves the embedded model unless --model says otherwise, on localhost unless
--host says otherwise. With a key (--api-key or BLUEPRINT_API_KEY) every /v1
route wants `Authorization: Bearer KEY`. docs/serving.md has the API.
"""

from __future__ import annotations

import argparse
import os
import socket

from blueprint.choices import PRECISIONS
from blueprint.errors import BlueprintError


def check_address(host: str, port: int) -> None:
    """The address can be listened on: a clear error now rather than a traceback from the server."""
    if not 0 <= port <= 65535:
        raise BlueprintError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as e:
        raise BlueprintError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def run_serve(args: argparse.Namespace) -> int:
    for name in ("max_queue", "max_batch", "dit_batch", "max_body"):
        if getattr(args, name) < 1:
            raise BlueprintError(f"--{name.replace('_', '-')} must be >= 1")
    if not args.timeout > 0:
        raise BlueprintError("--timeout must be > 0 seconds")
    if args.batch_wait_ms < 0:
        raise BlueprintError("--batch-wait-ms must be >= 0")
    check_address(args.host, args.port)
    import uvicorn

    from blueprint.models.folder import check_model_dir, resolve_model_dir
    from blueprint.serve.app import create_app

    model_dir = check_model_dir(resolve_model_dir(args.model))  # a wrong path fails here, before the server starts
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    app = create_app(
        model_dir=str(model_dir), model_id=args.model_id, api_key=args.api_key or None,
        max_queue=args.max_queue, max_batch=args.max_batch, dit_batch=args.dit_batch, batch_wait=args.batch_wait_ms / 1000,
        timeout=args.timeout, max_body=args.max_body, precision=args.precision, compile=not args.no_compile,
        warmup=not args.no_warmup,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve an OpenAI-compatible image API and a web page",
                              description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder (default: the model shipped with the package)")
    p.add_argument("--model-id", default="blueprint", help="the model's name in the API (default blueprint)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=os.environ.get("BLUEPRINT_API_KEY"),
                   help="require Authorization: Bearer KEY on /v1 routes (default: env BLUEPRINT_API_KEY, else none)")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests admitted at once, waiting or running; more get 429 (default 64)")
    p.add_argument("--max-batch", type=int, default=16, help="images per model batch (default 16)")
    p.add_argument("--dit-batch", type=int, default=4,
                   help="images per denoising batch (default 4: on a CPU the DiT costs the same per image at any "
                   "batch, and a small batch lets new requests' AR run sooner; raise it on a GPU)")
    p.add_argument("--batch-wait-ms", type=float, default=10.0,
                   help="how long a request waits for others to batch with (default 10 ms)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a request may take, queue included "
                   "(default 300); then 504 and its work is dropped")
    p.add_argument("--max-body", type=int, default=64 * 1024, help="largest request body in bytes (default 65536)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="dtype of the denoiser and the VAE: auto (default) = bf16 where the hardware has it")
    p.add_argument("--no-compile", action="store_true",
                   help="run eager: starts in seconds instead of compiling first (slower per image)")
    p.add_argument("--no-warmup", action="store_true", help="ready as soon as loaded; the first request compiles")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run_serve)
