"""LoRA adapters on the AR prior for RL, through PEFT, exported merged.

`blueprint rl --lora-rank R` trains low-rank adapters on every linear layer
of the prior's language model (attention and MLP) instead of all its weights:
R * (in + out) parameters a layer, the base weights frozen. The adapters are
injected in place (`peft.inject_adapter_in_model`), so the module tree the
pipeline and the training code address stays the same apart from the LoRA
layers' own names, and checkpoints hold them as any other tensors.

The export merges each adapter into its base weight and writes plain
weights: the model folder stays one that every loader and the pipeline read
without PEFT. Alpha equals the rank (scale 1), so the learning rate means the
same thing at every rank.
"""

from __future__ import annotations

import copy

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from blueprint.errors import BlueprintError

# Every linear layer of a GLM text decoder layer.
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj")


def add_lora(module: nn.Module, rank: int) -> nn.Module:
    """Inject rank-`rank` adapters into `module`'s linear layers in place; only they train."""
    if not isinstance(rank, int) or rank < 1:
        raise BlueprintError(f"LoRA rank must be a positive integer, got {rank!r}")
    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=list(TARGETS))
    inject_adapter_in_model(config, module)
    for name, p in module.named_parameters():
        p.requires_grad_("lora_" in name)
    if not any(isinstance(m, LoraLayer) for m in module.modules()):
        raise BlueprintError(f"no layer named one of {', '.join(TARGETS)} to adapt")
    return module


def merged(module: nn.Module) -> nn.Module:
    """A copy of `module` with every adapter merged into its base layer and the LoRA layers gone."""
    out = copy.deepcopy(module)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                child.merge()
                setattr(parent, name, child.get_base_layer())
    return out
