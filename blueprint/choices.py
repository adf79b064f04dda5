"""The named choices that several layers and the command line share, in one light module.

The command line builds its `--help` from these without importing torch, and
each layer checks values against the same tuple.
"""

# Numeric precision of a forward pass: "auto" is bf16 where the device runs it natively
# (sampling) or on a GPU (training), fp32 elsewhere.
PRECISIONS = ("auto", "fp32", "bf16")

# How a DiT is conditioned (blueprint.models.conditioning): the hybrid design, or the
# baselines it is measured against.
CONDITIONINGS = ("blueprint", "prompt", "noglyph")

# The preview grid the AR stage writes before the full grid (blueprint.models.grid).
PREVIEW_GRIDS = ("official", "half")

# How a multi-process run splits its model (blueprint.train.distributed): each process
# holds all of it (DDP) or a shard of it (FSDP).
PARALLEL = ("ddp", "fsdp")
