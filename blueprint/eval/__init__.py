"""Evaluation harness: score images against benchmark specs.

Text is read by real OCR (`ocr.py`: tesseract, RapidOCR) and scored by word
accuracy, NED and per-element exact match (`text.py`); prompt adherence is
measured from pixels, GenEval style (`adherence.py`). `score.py` scores one
image, `harness.py` a benchmark (`evaluate`), `report.py` writes the results,
`benchmark.py` loads benchmark files, the command line is `blueprint.cli.eval`.

    from blueprint.eval import evaluate, load_benchmark
    rows, _ = load_benchmark("benchmarks/heldout.jsonl")
    report = evaluate({"chart-0007": image}, rows, engines="tesseract")
    report.write("reports/run1")
"""

import importlib

# The public names, and the module each lives in. They are imported on first
# use (PEP 562) because `blueprint.cli.eval` is imported by `blueprint --help`,
# which should not pay for numpy, scipy and PIL.
_API = {
    "BenchmarkRow": "blueprint.eval.benchmark",
    "load_benchmark": "blueprint.eval.benchmark",
    "parse_row": "blueprint.eval.benchmark",
    "row_from_spec": "blueprint.eval.benchmark",
    "RenderedImages": "blueprint.eval.harness",
    "evaluate": "blueprint.eval.harness",
    "Report": "blueprint.eval.report",
    "ImageResult": "blueprint.eval.score",
    "score_image": "blueprint.eval.score",
}
__all__ = list(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'blueprint.eval' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
