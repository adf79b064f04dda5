"""experiments/lines_by_size.py: words read and exact line reads, bucketed by the benchmark's font sizes."""

import json
import subprocess
import sys
from pathlib import Path

from blueprint.eval import load_benchmark

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(REPO / "experiments" / "lines_by_size.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def tables(stdout: str) -> list[list[list[str]]]:
    """The data rows of each printed table, as lists of cells."""
    out = []
    for block in stdout.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| evaluation")]
        if lines:
            out.append([[c.strip() for c in line.split("|")[1:-1]] for line in lines])
    return out


def bucket(size: int) -> int:
    return 0 if size < 16 else 1 if size < 24 else 2 if size < 36 else 3


def test_words_and_lines_land_in_the_bucket_of_their_font_size(tmp_path):
    rows, _ = load_benchmark(REPO / "benchmarks" / "heldout.jsonl")
    # a row with a text of 36 px or more and one of 16-23 px (sizes from the row's spec)
    row = next(r for r in rows if {bucket(e.font_size) for e in r.spec.elements if e.kind == "text"} == {1, 3})
    texts = [e for e in row.spec.elements if e.kind == "text"]
    big = [e for e in texts if bucket(e.font_size) == 3]
    n_small = sum(len(e.text.split()) for e in texts if bucket(e.font_size) == 1)
    # the big lines' words are read from the image but not in their boxes (the image put them
    # elsewhere); the small lines are read in neither
    report = {"images": [{"id": row.id, "text": {"tesseract": {
        "words_read": [e.text for e in big], "lines": [{"element_id": e.id, "match": False} for e in texts]}}}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    words, lines = tables(result.stdout)
    n_big = sum(len(e.text.split()) for e in big)
    assert words[0][1:] == ["-", f"0.00 ({n_small})", "-", f"1.00 ({n_big})"]
    assert lines[0][1:] == ["-", f"0.00 ({len(texts) - len(big)})", "-", f"0.00 ({len(big)})"]


def test_a_word_read_once_counts_for_one_line_only(tmp_path):
    rows, _ = load_benchmark(REPO / "benchmarks" / "heldout.jsonl")
    row = next(r for r in rows if len([e for e in r.spec.elements if e.kind == "text"]) >= 2)
    elements = [e for e in row.spec.elements if e.kind == "text"]
    report = {"images": [{"id": row.id, "text": {"tesseract": {
        "words_read": [elements[0].text.split()[0]], "lines": []}}}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    words = tables(result.stdout)[0][0][1:]
    found = sum(round(float(c.split()[0]) * int(c.split()[1].strip("()"))) for c in words if c != "-")
    assert found == 1


def test_only_images_in_every_report_are_counted(tmp_path):
    rows, _ = load_benchmark(REPO / "benchmarks" / "heldout.jsonl")
    first, second = rows[0], rows[1]

    def image(row):
        return {"id": row.id, "text": {"tesseract": {"words_read": [], "lines": []}}}

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "report.json").write_text(json.dumps({"images": [image(first), image(second)]}))
    (tmp_path / "b" / "report.json").write_text(json.dumps({"images": [image(first)]}))
    result = run(tmp_path / "a", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 images, those in every report")
    n_words = sum(len(e.text.split()) for e in first.spec.elements if e.kind == "text")
    words = tables(result.stdout)[0]
    assert [sum(int(c.split()[1].strip("()")) for c in row[1:] if c != "-") for row in words] == [n_words, n_words]


def test_a_missing_report_is_an_error(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 1 and "no such report" in result.stderr and result.stdout == ""


def test_a_report_of_another_benchmark_is_an_error(tmp_path):
    report = {"images": [{"id": "nowhere-0000", "text": {"tesseract": {"words_read": [], "lines": []}}}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run(tmp_path)
    assert result.returncode != 0 and "not a row of the benchmark" in result.stderr
