"""Training checkpoints: atomic, safetensors only, resumable after `kill -9`.

A checkpoint is a folder `checkpoints/<stage>/step_XXXXXXXX/` holding

    model.safetensors      trainable weights, keys "<module>.<param or buffer>"
    ema.safetensors        EMA weights, keys "<module>.<param>" (only when the stage uses EMA)
    optimizer.safetensors  AdamW state tensors, keys "state.<param index>.<name>"
    rng.safetensors        torch CPU/CUDA, numpy and python RNG states as tensors
    state.json             step, optimizer param_groups, the learning-rate scheduler's and
                           the EMA's state, hyperparameters, RNG scalars

Tensors are always whole: under FSDP every shard is gathered before writing
(`gather_state`, which every rank calls) and each rank cuts its own shard back
out when loading, so a checkpoint is the same whether DDP, FSDP or one process
wrote it, and any of them resumes it.

It is written into `step_XXXXXXXX.tmp-<pid>/`, every file and the folder are
fsynced, then the folder is renamed into place with `os.replace`. A rename is
atomic, so a folder named `step_*` without the `.tmp` suffix is always
complete; a kill mid-write leaves only a `.tmp-*` folder, which is never read
and is swept away by the next run. A resumed run cuts its log back to the
checkpoint's step (`truncate_log`) and must draw the same batches
(`check_same_run`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.distributed.tensor import DTensor, distribute_tensor

from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json, atomic_write_text, fsync_path, temporary_sibling

STEP_DIR = re.compile(r"^step_(\d{8})$")


def checkpoint_dirs(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = STEP_DIR.match(p.name)
        if m and p.is_dir() and (p / "state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def sweep_partial(root: Path) -> None:
    """Remove half-written checkpoint folders left by a killed run."""
    if root.is_dir():
        for p in root.iterdir():
            if ".tmp-" in p.name:
                shutil.rmtree(p, ignore_errors=True)


def prune(root: Path, keep_last: int) -> None:
    """Keep only the newest `keep_last` checkpoints."""
    for _, p in checkpoint_dirs(root)[:-keep_last]:
        shutil.rmtree(p, ignore_errors=True)


# --- whole tensors and FSDP shards -------------------------------------------

def whole(t: torch.Tensor) -> torch.Tensor:
    """`t` on the CPU, whole: an FSDP shard is gathered from every rank (a collective, so
    every rank calls this for the same tensors in the same order)."""
    if isinstance(t, DTensor):
        t = t.full_tensor()
    return t.detach().cpu().clone()


def shaped_like(src: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """`src`, a whole tensor read from a checkpoint, laid out like `live`: this rank's shard
    when `live` is one. Every rank read the same file, so each cuts its own shard alone."""
    if isinstance(live, DTensor) and src.shape == live.shape:
        return distribute_tensor(src.to(live.device), live.device_mesh, live.placements, src_data_rank=None)
    return src


# --- flattening: everything becomes named tensors + JSON scalars -------------

def module_tensors(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Parameters and buffers of named modules, flattened to one dict.

    `named_parameters` skips tied duplicates (e.g. T5's shared embedding), so
    every tensor is stored once; loading copies into the same names.
    """
    out = {}
    for name, module in modules.items():
        for k, v in list(module.named_parameters()) + list(module.named_buffers()):
            out[f"{name}.{k}"] = whole(v)
    return out


def load_module_tensors(modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor]) -> None:
    expected = module_tensors_names(modules)
    missing = expected - tensors.keys()
    extra = tensors.keys() - expected
    if missing or extra:
        raise BlueprintError(
            f"checkpoint does not match the model: missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}"
        )
    with torch.no_grad():
        for name, module in modules.items():
            for k, v in list(module.named_parameters()) + list(module.named_buffers()):
                src = tensors[f"{name}.{k}"]
                if src.shape != v.shape:
                    raise BlueprintError(f"checkpoint tensor {name}.{k} has shape {tuple(src.shape)}, model has {tuple(v.shape)}")
                v.copy_(shaped_like(src, v))


def module_tensors_names(modules: dict[str, torch.nn.Module]) -> set[str]:
    names = set()
    for name, module in modules.items():
        names.update(f"{name}.{k}" for k, _ in module.named_parameters())
        names.update(f"{name}.{k}" for k, _ in module.named_buffers())
    return names


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"state.{idx}.{key}"] = whole(value if torch.is_tensor(value) else torch.tensor(value))
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    params = [p for g in opt.param_groups for p in g["params"]]  # the order of the state's indices
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        if int(idx) >= len(params):
            raise BlueprintError(f"checkpoint optimizer state {key} is for a parameter the model does not have")
        state.setdefault(int(idx), {})[name] = shaped_like(value, params[int(idx)])
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_to_flat() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["python_state"] = torch.tensor(internal, dtype=torch.int64)
    scalars = {"numpy": [kind, int(pos), int(has_gauss), float(cached)],
               "python": [version, gauss_next]}
    return tensors, scalars


def rng_from_flat(tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = scalars["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, gauss_next = scalars["python"]
    random.setstate((version, tuple(int(x) for x in tensors["python_state"].tolist()), gauss_next))


# --- save / load -------------------------------------------------------------

def gather_state(
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ema=None,
    ema_names: list[str] = (),
) -> dict:
    """What a checkpoint holds but the RNG: whole CPU tensors and JSON scalars.

    `ema` is a diffusers `EMAModel` whose shadow weights follow `ema_names`. Under FSDP
    this gathers every shard, so every rank calls it; only rank 0 writes the result.
    """
    opt_tensors, groups = optimizer_to_flat(optimizer)
    out = {"model": module_tensors(modules), "optimizer": opt_tensors,
           "state": {"param_groups": groups, "lr_scheduler": scheduler.state_dict()}}
    if ema is not None:
        out["ema"] = {name: whole(s) for name, s in zip(ema_names, ema.shadow_params)}
        out["state"]["ema"] = {"optimization_step": ema.optimization_step, "decay": ema.decay}
    return out


def save_checkpoint(root: Path, step: int, gathered: dict, meta: dict) -> Path:
    """Write checkpoint `step` (`gather_state`'s tensors, the RNG, `meta`) atomically under
    `root`; return its folder."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    if final.exists():  # same step written before a kill: its content is identical
        return final
    tmp = temporary_sibling(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()

    save_file(gathered["model"], tmp / "model.safetensors")
    if "ema" in gathered:
        save_file(gathered["ema"], tmp / "ema.safetensors")
    save_file(gathered["optimizer"], tmp / "optimizer.safetensors")
    rng_tensors, rng_scalars = rng_to_flat()
    save_file(rng_tensors, tmp / "rng.safetensors")
    for f in tmp.iterdir():
        fsync_path(f)
    # state.json last: its presence marks a complete folder even before the rename.
    atomic_write_json(tmp / "state.json", {"step": step, **gathered["state"], "rng": rng_scalars, **meta})
    fsync_path(tmp)
    os.replace(tmp, final)
    fsync_path(root)
    return final


def load_ema(ema, ema_names: list[str], tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Restore a diffusers `EMAModel`: its shadow weights, and how many updates it has made
    (checkpoints from before the EMA was diffusers' say nothing: one update per step)."""
    if set(tensors) != set(ema_names):
        raise BlueprintError(f"checkpoint EMA weights do not match the model: "
                             f"{sorted(set(tensors) ^ set(ema_names))[:5]}")
    with torch.no_grad():
        for name, s in zip(ema_names, ema.shadow_params):
            s.copy_(shaped_like(tensors[name], s))
    # only the count: the decay is this run's (--ema-decay may change on resume)
    ema.load_state_dict({"optimization_step": state.get("ema", {}).get("optimization_step", state["step"])})


def load_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    ema=None,
    ema_names: list[str] = (),
) -> dict:
    """Restore weights, optimizer, EMA (a diffusers `EMAModel` over `ema_names`) and RNG from
    `path`, into shards where the live tensors are FSDP shards; return state.json."""
    try:
        state = json.loads((path / "state.json").read_text())
        load_module_tensors(modules, load_file(path / "model.safetensors"))
        if ema is not None:
            ema_file = path / "ema.safetensors"
            if not ema_file.is_file():
                raise BlueprintError(f"checkpoint {path} has no EMA weights but this run uses EMA")
            load_ema(ema, ema_names, load_file(ema_file), state)
        optimizer_from_flat(optimizer, load_file(path / "optimizer.safetensors"), state["param_groups"])
        rng_from_flat(load_file(path / "rng.safetensors"), state["rng"])
    except (OSError, KeyError, ValueError, SafetensorError) as e:
        if isinstance(e, BlueprintError):
            raise
        raise BlueprintError(
            f"cannot resume from checkpoint {path}: {e}; delete that folder to resume from an older one, "
            "or pass --no-resume to start over"
        ) from None
    return state


def truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines past the resumed step (written after the last checkpoint), and torn lines."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill mid-write
            continue
        if record["step"] <= last_step:
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def check_same_run(state: dict, now: dict) -> None:
    """Refuse to resume from checkpoint `state` if any of `now` (what decides the batches
    drawn: configuration, seed, sizes, data, world size...) differs from what it recorded."""
    # checkpoints from before several sizes, the preview grid choice and the engine's
    # kinds and caption styles existed
    recorded = {"extra_sizes": [], "preview_grid": now.get("preview_grid"), "kinds": None, "caption_style": "exact",
                **state}
    changed = [f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in now.items() if recorded.get(k) != v]
    if changed:
        raise BlueprintError(
            f"cannot resume stage {state.get('stage')!r}: {'; '.join(changed)} differ from its checkpoint; "
            "pass --no-resume to start over"
        )
