"""scripts/lines_by_size.py: exact line reads bucketed by the benchmark's font sizes."""

import json
import subprocess
import sys
from pathlib import Path

from blueprint.eval import load_benchmark

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "lines_by_size.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_lines_land_in_the_bucket_of_their_font_size(tmp_path):
    rows, _ = load_benchmark(REPO / "benchmarks" / "heldout.jsonl")
    # one row with a large text element and one with a small one (sizes from the rows' specs)
    texts = [(row, e) for row in rows for e in row.spec.elements if e.kind == "text"]
    big = next((r, e) for r, e in texts if e.font_size >= 36)
    small = next((r, e) for r, e in texts if 16 <= e.font_size < 24 and r.id != big[0].id)
    report = {"images": [
        {"id": row.id, "text": {"tesseract": {"lines": [{"element_id": el.id, "match": hit}]}}}
        for (row, el), hit in ((big, True), (small, False))
    ]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[2].split("|")
    assert [c.strip() for c in row[2:6]] == ["-", "0.00 (1)", "-", "1.00 (1)"]


def test_a_missing_report_is_an_error(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 1 and "no such report" in result.stderr and result.stdout == ""


def test_a_report_of_another_benchmark_is_an_error(tmp_path):
    report = {"images": [{"id": "nowhere-0000", "text": {"tesseract": {"lines": []}}}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run(tmp_path)
    assert result.returncode != 0 and "not a row of the benchmark" in result.stderr
