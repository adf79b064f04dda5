"""Image sizes: the one place that says which sizes Blueprint accepts.

Height and width must be multiples of PX_PER_TOKEN because the autoregressive
token grid is H/PX_PER_TOKEN x W/PX_PER_TOKEN and the DiT's patch grid (VAE /8,
patch 2) is that grid upsampled 2x (PX_PER_DIT_TOKEN).
"""

from blueprint.errors import BlueprintError

PX_PER_TOKEN = 32                    # one AR token covers 32x32 px (the processor halves, patch 16)
PX_PER_DIT_TOKEN = PX_PER_TOKEN // 2  # one DiT token (and prior id on the DiT grid) covers 16x16 px
MIN_SIDE = 128
MAX_SIDE = 1024
MAX_ASPECT = 2.0  # longer side / shorter side


def check_size(
    width: int, height: int, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE
) -> tuple[int, int]:
    """Return (width, height) or raise BlueprintError naming what is wrong.

    The data engine and the embedded model use the default range; a pipeline
    over the official checkpoint passes its own (it was trained at 512-2048).
    """
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise BlueprintError(f"{name} must be an integer, got {v!r}")
        if v % PX_PER_TOKEN:
            raise BlueprintError(f"{name} {v} is not a multiple of {PX_PER_TOKEN}")
        if not min_side <= v <= max_side:
            raise BlueprintError(f"{name} {v} is out of range [{min_side}, {max_side}]")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise BlueprintError(
            f"aspect ratio {width}x{height} is outside 1:2 .. 2:1"
        )
    return width, height


def parse_size(text: str, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """Parse 'WxH' (or a single 'N' for a square) and check it."""
    parts = text.lower().split("x")
    try:
        if len(parts) == 1:
            width = height = int(parts[0])
        elif len(parts) == 2:
            width, height = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise BlueprintError(f"size {text!r} is not of the form WIDTHxHEIGHT, e.g. 256x256") from None
    return check_size(width, height, min_side, max_side)
