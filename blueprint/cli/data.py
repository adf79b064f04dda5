"""`blueprint data preview | shards | benchmark`: look at designs, write training shards, rebuild benchmarks."""

from __future__ import annotations

import argparse


def add_common(p: argparse.ArgumentParser, size: str) -> None:
    p.add_argument("--size", default=size, help=f"WIDTHxHEIGHT, multiples of 32 in 128..1024 (default {size})")
    p.add_argument("--kinds", nargs="+", default=None,
                   help="design kinds: sign poster label menu chart scene (the default set), the opt-in "
                        "book whiteboard infographic chalkboard wallsign, or all")
    p.add_argument("--seed", type=int, default=0, help="stream seed (default 0)")
    p.add_argument("--split", default="train", help="word split: train or heldout (default train)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="procedural design data: preview grids and training shards")
    sub = parser.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("preview", help="write a grid of samples with their captions")
    p.add_argument("-o", "--output", default="preview.png", help="PNG to write (default preview.png)")
    p.add_argument("--n", type=int, default=12, help="number of samples (default 12)")
    p.add_argument("--captions", default="exact", choices=("exact", "user", "mixed"),
                   help="caption style: exact (default), user (short user-style prompts) or mixed")
    add_common(p, "256x256")
    p.set_defaults(func=run_preview)

    p = sub.add_parser("benchmark", help="rebuild benchmark files (heldout.jsonl, user_prompts.jsonl)")
    p.add_argument("--out-dir", default="benchmarks", help="folder to write into (default benchmarks)")
    p.add_argument("--only", nargs="+", default=None, help="benchmarks to write: heldout user_prompts (default both)")
    p.set_defaults(func=run_benchmark)

    p = sub.add_parser("shards", help="write WebDataset tar shards (png, json spec, txt caption, maps) "
                                   "for `blueprint train STAGE --data OUT_DIR`")
    p.add_argument("out_dir", help="folder to write shard-NNNNNN.tar files into")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--shard-size", type=int, default=500, help="samples per shard (default 500)")
    p.add_argument("--workers", type=int, default=1, help="processes writing shards in parallel (default 1)")
    add_common(p, "256x256")
    p.set_defaults(func=run_shards)


def run_preview(args) -> int:
    import os

    from blueprint.data.preview import preview_grid
    from blueprint.errors import BlueprintError
    from blueprint.sizes import parse_size

    width, height = parse_size(args.size)
    if not args.output.lower().endswith(".png"):
        raise BlueprintError(f"output {args.output} must be a .png file")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise BlueprintError(f"folder {folder} for the output does not exist")
    sheet = preview_grid(args.n, width, height, kinds=args.kinds, seed=args.seed, split=args.split, progress=True,
                         caption_style=args.captions)
    sheet.save(args.output)
    print(f"wrote {args.output} ({args.n} samples, {width}x{height})")
    return 0


def run_shards(args) -> int:
    from blueprint.data.shards import write_shards
    from blueprint.sizes import parse_size

    width, height = parse_size(args.size)
    paths = write_shards(args.out_dir, args.n, args.shard_size, width, height, kinds=args.kinds,
                         split=args.split, seed=args.seed, workers=args.workers, progress=True)
    print(f"wrote {len(paths)} shards ({args.n} samples, {width}x{height}) to {args.out_dir}")
    return 0


def run_benchmark(args) -> int:
    from blueprint.data.benchmark import write_benchmarks

    for path, counts in write_benchmarks(args.out_dir, args.only):
        print(f"wrote {sum(counts.values())} rows to {path}: {dict(counts)}")
    return 0
