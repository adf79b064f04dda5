"""`blueprint export`: a trained run folder as a compact model folder, by default the embedded model.

    blueprint export runs/small                      # installs it as blueprint/weights/default/
    blueprint export runs/small --out models/small   # or into any folder

Every component of RUN_DIR is loaded (with the same checks as sampling), cast
to half precision (fp16 safetensors keep the model small; the pipeline
computes in fp32 or bf16) and written out with what sampling and provenance
need: the semantic head, the layout planner (if any), blueprint.json (settings) and trained.json (each
stage's step count). Checkpoints and logs stay behind. The new folder is
written beside the target and renamed into place, so the target holds the old
model or the new one, never a mix; a target that exists must be a model folder
(or empty), so an export never deletes anything else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from blueprint.errors import BlueprintError


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a trained run as a compact fp16 model folder "
                                             "(by default the embedded model)",
                              description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a model folder `blueprint train` wrote")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write it (default: the embedded model, blueprint/weights/default/)")
    p.set_defaults(func=run)


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_target(run_dir: Path, target: Path) -> None:
    """Refuse a target whose replacement would destroy the run or anything that is not a model."""
    run_dir, target = run_dir.resolve(), target.resolve()
    if inside(target, run_dir) or inside(run_dir, target):
        raise BlueprintError(f"--out {target} and the run folder {run_dir} overlap: export somewhere else")
    if target.exists():
        if not target.is_dir():
            raise BlueprintError(f"--out {target} exists and is not a folder")
        if any(target.iterdir()) and not (target / "model_index.json").is_file():
            raise BlueprintError(f"--out {target} holds files but no model (no model_index.json): "
                                 "refusing to replace it")


def swap_in(staging: Path, target: Path) -> None:
    """Rename the finished folder into place; an old target moves aside first and is deleted after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old)


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def run(args) -> int:
    import torch

    from blueprint.files import fsync_path
    from blueprint.models.folder import DEFAULT_MODEL_DIR, load_components, save_components
    from blueprint.models.image_tokenizer import HEAD_DIR
    from blueprint.models.planner import has_planner, load_planner, save_planner
    from blueprint.models.settings import SETTINGS_FILE
    from blueprint.train.model_dir import TRAINED_FILE

    target = (args.out or DEFAULT_MODEL_DIR).resolve()
    check_target(args.run_dir, target)
    components = load_components(args.run_dir, dtype=torch.float16)  # a BlueprintError names a bad file
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-export-", dir=target.parent))
    try:
        save_components(components, staging)
        for name in (HEAD_DIR, SETTINGS_FILE, TRAINED_FILE):
            source = args.run_dir / name
            if source.is_dir():
                shutil.copytree(source, staging / name)
            elif source.is_file():
                shutil.copy(source, staging / name)
        if has_planner(args.run_dir):  # half precision too; it computes in fp32 (load_planner)
            planner = load_planner(args.run_dir)
            planner.model.half()
            save_planner(planner, staging)
        swap_in(staging, target)
        fsync_path(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"exported {args.run_dir} as {target} (fp16, {folder_megabytes(target):.1f} MB)")
    return 0
