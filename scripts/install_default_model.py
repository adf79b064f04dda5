"""Install a trained model folder as Blueprint's embedded default model.

    python scripts/install_default_model.py RUN_DIR

Loads every component of RUN_DIR, casts it to half precision (the default model
ships as fp16 safetensors to stay small; the pipeline computes in fp32), and
writes it to blueprint/weights/default/, replacing what was there atomically.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import torch

from blueprint.models import load_components, save_components

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "blueprint" / "weights" / "default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()

    components = load_components(args.run_dir, dtype=torch.float16)
    DEFAULT_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default-", dir=DEFAULT_DIR.parent))
    save_components(components, staging)
    if DEFAULT_DIR.exists():
        old = DEFAULT_DIR.with_name(".default-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(DEFAULT_DIR, old)
        shutil.rmtree(old)
    os.replace(staging, DEFAULT_DIR)
    size = sum(f.stat().st_size for f in DEFAULT_DIR.rglob("*") if f.is_file())
    print(f"installed {args.run_dir} as {DEFAULT_DIR} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
