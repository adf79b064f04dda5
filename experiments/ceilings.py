"""Two ceilings on the held-out benchmark, before any generative model error.

    python experiments/ceilings.py [--per-kind 12] [--sizes 256x256,384x256] [--vae MODEL_DIR]

layout: for each held-out row, the text-presence map the semantic head is
trained to predict (8x8-pixel sub-cells with characters, from the engine's own
character map: a perfect blueprint); the prompt's quoted text laid out and
typeset from it exactly as the pipeline does (blueprint.models.glyph_layer);
the ink, black on white, read by the evaluation harness's OCR. What a decoder
that paints the glyph layer faithfully could reach.

vae (with --vae): the ground-truth render through MODEL_DIR's autoencoder
(encode, decode) and read by the same OCR: what any decoder working in that
latent space could reach.

Prints word accuracy and NED per kind for each.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from blueprint.data.dataset import to_pixels
from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.eval import load_benchmark
from blueprint.eval.score import read_text
from blueprint.models.folder import load_component
from blueprint.models.glyph_layer import layout_ink
from blueprint.models.image_tokenizer import CHAR_SUBGRID, ink_presence
from blueprint.sizes import parse_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="benchmarks/heldout.jsonl")
    parser.add_argument("--per-kind", type=int, default=12)
    parser.add_argument("--sizes", default="256x256,384x256")
    parser.add_argument("--vae", default=None, help="a model folder whose VAE to measure")
    args = parser.parse_args()
    vae = None
    if args.vae:
        try:
            vae = load_component(Path(args.vae), "vae")
        except BlueprintError as e:
            print(f"ceilings: error: {e}", file=sys.stderr)
            return 2
    sizes = {parse_size(s) for s in args.sizes.split(",")}
    rows, _ = load_benchmark(args.benchmark)
    taken, per_kind, per_kind_vae = {}, {}, {}
    cell = 32 // CHAR_SUBGRID
    for row in rows:
        key = (row.kind, (row.width, row.height))
        if key[1] not in sizes or taken.get(key, 0) >= args.per_kind or not row.spec.texts:
            continue
        taken[key] = taken.get(key, 0) + 1
        rendered = render(row.spec, with_maps=True)
        presence = ink_presence(rendered.char_map)
        ink = layout_ink([row.prompt], presence[None], cell, row.width, row.height)[0, 0].numpy()
        image = Image.fromarray((255 - 255 * ink).astype(np.uint8)).convert("RGB")
        scores, _ = read_text(image, row.spec, "tesseract")
        per_kind.setdefault(row.kind, []).append((scores.word_accuracy, scores.ned))
        if vae is not None:
            scores, _ = read_text(through_vae(vae, rendered.image), row.spec, "tesseract")
            per_kind_vae.setdefault(row.kind, []).append((scores.word_accuracy, scores.ned))
    table("layout: typeset from a perfect blueprint", per_kind)
    if vae is not None:
        table(f"vae: ground truth through {args.vae}'s autoencoder", per_kind_vae)
    return 0


def through_vae(vae, image: Image.Image) -> Image.Image:
    with torch.no_grad():
        pixels = to_pixels(image)[None]
        out = vae.decode(vae.encode(pixels).latent_dist.mean).sample
    return Image.fromarray(((out[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())


def table(title: str, per_kind: dict) -> None:
    print(f"\n{title}\n\n| kind | n | word accuracy | NED |\n|---|---|---|---|")
    everything = []
    for kind, values in sorted(per_kind.items()):
        everything += values
        acc, ned = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
        print(f"| {kind} | {len(values)} | {acc:.3f} | {ned:.3f} |")
    print(f"| all | {len(everything)} | {np.mean([v[0] for v in everything]):.3f} | "
          f"{np.mean([v[1] for v in everything]):.3f} |")


if __name__ == "__main__":
    sys.exit(main())
