"""Install a trained model folder as Blueprint's embedded default model.

    python scripts/install_default_model.py RUN_DIR [--to DIR]

Loads every component of RUN_DIR, casts it to half precision (the default model
ships as fp16 safetensors to stay small; the pipeline computes in fp32), and
writes it to blueprint/weights/default/ (or DIR), replacing what was there
atomically. The semantic head (which the glyph layer reads text lines with)
the conditioning record and trained.json (each stage's step count: the
model's provenance) travel along; checkpoints and logs do not.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import torch

from blueprint.models import load_components, save_components
from blueprint.models.settings import SETTINGS_FILE
from blueprint.models.image_tokenizer import HEAD_DIR

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "blueprint" / "weights" / "default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--to", type=Path, default=DEFAULT_DIR, help="where to install (default: the embedded model)")
    args = parser.parse_args()

    components = load_components(args.run_dir, dtype=torch.float16)
    target = args.to.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default-", dir=target.parent))
    save_components(components, staging)
    if (args.run_dir / HEAD_DIR).is_dir():
        shutil.copytree(args.run_dir / HEAD_DIR, staging / HEAD_DIR)
    for name in (SETTINGS_FILE, "trained.json"):
        if (args.run_dir / name).is_file():
            shutil.copy(args.run_dir / name, staging / name)
    if target.exists():
        old = target.with_name(f".{target.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        shutil.rmtree(old)
    os.replace(staging, target)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"installed {args.run_dir} as {target} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
