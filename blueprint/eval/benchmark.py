"""Load and validate a benchmark file (JSON lines, one design per line).

A row looks like
    {"id": "chart-0007", "prompt": "...", "seed": 7, "width": 256, "height": 256,
     "kind": "chart", "n_texts": 3, "spec": {...}}
where `spec` is a `Spec` dict. Every problem is reported as a BlueprintError
naming the file, the line number and what is wrong; with `skip_bad_rows` the
bad rows are left out and returned as `SkippedRow`s instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from blueprint.data.colors import PALETTE
from blueprint.data.spec import ALL_KINDS, Spec
from blueprint.errors import BlueprintError
from blueprint.sizes import check_size

FIELDS = {"id": str, "prompt": str, "seed": int, "width": int, "height": int, "kind": str, "n_texts": int, "spec": dict}


@dataclass
class BenchmarkRow:
    id: str
    prompt: str
    seed: int
    width: int
    height: int
    kind: str
    n_texts: int
    spec: Spec


@dataclass
class SkippedRow:
    line: int
    problem: str


def check_spec_values(spec: Spec) -> None:
    """What scoring relies on beyond the schema: palette colours and integer boxes."""
    if spec.background not in PALETTE:
        raise BlueprintError(f"unknown background colour {spec.background!r}")
    for e in spec.elements:
        if e.color not in PALETTE:
            raise BlueprintError(f"element {e.id}: unknown colour {e.color!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in e.box):
            raise BlueprintError(f"element {e.id}: box {e.box} is not 4 integers")
        if e.kind == "bar" and not isinstance(e.value, (int, float)):
            raise BlueprintError(f"element {e.id}: a bar needs a numeric value")


def parse_row(d) -> BenchmarkRow:
    """One row from its decoded JSON; BlueprintError names the problem (not the place)."""
    if not isinstance(d, dict):
        raise BlueprintError(f"expected a JSON object, got {type(d).__name__}")
    missing = [k for k in FIELDS if k not in d]
    if missing:
        raise BlueprintError(f"missing field(s): {', '.join(missing)}")
    for key, kind in FIELDS.items():
        value = d[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BlueprintError(f"field {key!r} must be {kind.__name__}, got {value!r:.60}")
    if not d["id"] or "/" in d["id"] or d["id"].startswith("."):
        raise BlueprintError(f"id {d['id']!r} cannot name an image file")
    if d["kind"] not in ALL_KINDS:
        raise BlueprintError(f"unknown kind {d['kind']!r}; expected one of {', '.join(ALL_KINDS)}")
    check_size(d["width"], d["height"])
    try:
        spec = Spec.from_dict(d["spec"])
        check_spec_values(spec)
    except (BlueprintError, TypeError, ValueError, AttributeError) as e:
        raise BlueprintError(f"bad spec: {e}") from None
    if (spec.width, spec.height) != (d["width"], d["height"]):
        raise BlueprintError(f"spec size {spec.width}x{spec.height} differs from the row's {d['width']}x{d['height']}")
    if spec.kind != d["kind"]:
        raise BlueprintError(f"spec kind {spec.kind!r} differs from the row's {d['kind']!r}")
    fields = {k: d[k] for k in FIELDS if k != "spec"}
    return BenchmarkRow(**fields, spec=spec)


def row_from_spec(spec: Spec, row_id: str | None = None) -> dict:
    """A benchmark row (as written to the file) for one spec; the id defaults to KIND-SEED."""
    return {
        "id": row_id or f"{spec.kind}-{spec.seed:04d}",
        "prompt": spec.caption, "seed": spec.seed, "width": spec.width, "height": spec.height,
        "kind": spec.kind, "n_texts": len(spec.texts), "spec": spec.to_dict(),
    }


def load_benchmark(path: str | Path, skip_bad_rows: bool = False) -> tuple[list[BenchmarkRow], list[SkippedRow]]:
    """All rows of a benchmark file, and the rows skipped (always empty unless `skip_bad_rows`)."""
    path = Path(path)
    if not path.is_file():
        raise BlueprintError(f"benchmark file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BlueprintError(f"cannot read benchmark file {path}: {e}") from None

    rows, skipped, seen = [], [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise BlueprintError(f"not valid JSON ({e.msg} at column {e.colno})") from None
            row = parse_row(d)
            if row.id in seen:
                raise BlueprintError(f"id {row.id!r} already used on line {seen[row.id]}")
        except BlueprintError as e:
            if not skip_bad_rows:
                raise BlueprintError(f"{path}, line {number}: {e}") from None
            skipped.append(SkippedRow(number, str(e)))
            continue
        seen[row.id] = number
        rows.append(row)
    if not rows:
        raise BlueprintError(f"benchmark file {path} has no usable rows" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return rows, skipped
