"""benchmarks/user_prompts.jsonl and `blueprint data benchmark`: rebuilt byte for byte, bad input refused."""

import collections
import filecmp
from pathlib import Path

import pytest

from blueprint.cli import main as cli_main
from blueprint.data.benchmark import user_row, write_benchmarks
from blueprint.data.spec import ALL_KINDS
from blueprint.errors import BlueprintError
from blueprint.eval.benchmark import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_user_benchmark_covers_every_kind_and_shape():
    rows, skipped = load_benchmark(ROOT / "benchmarks" / "user_prompts.jsonl")
    assert len(rows) >= 200 and not skipped
    assert set(collections.Counter(r.kind for r in rows)) == set(ALL_KINDS)
    sizes = {(r.width, r.height) for r in rows}
    assert (512, 512) in sizes and any(w != h for w, h in sizes)
    assert all(r.spec.stated is not None and r.spec.split == "heldout" for r in rows)
    assert all(r.width < r.height for r in rows if r.kind == "book" and r.width != r.height)


def test_file_rows_match_the_engine():
    lines = (ROOT / "benchmarks" / "user_prompts.jsonl").read_text().splitlines()
    from blueprint.data.benchmark import row_line
    for kind_index, i in ((0, 3), (6, 7), (10, 19)):
        kind = ALL_KINDS[kind_index]
        assert row_line(user_row(kind, i)) == lines[kind_index * 20 + i]


def test_rebuild_is_byte_identical(tmp_path):
    written = write_benchmarks(str(tmp_path))
    assert [Path(p).name for p, _ in written] == ["heldout.jsonl", "user_prompts.jsonl"]
    for name in ("heldout.jsonl", "user_prompts.jsonl"):
        assert filecmp.cmp(tmp_path / name, ROOT / "benchmarks" / name, shallow=False), name


def test_bad_input_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(BlueprintError, match="unknown benchmark"):
        write_benchmarks(str(tmp_path), ["heldout", "nonsense"])
    assert not list(tmp_path.iterdir())
    with pytest.raises(BlueprintError, match="does not exist"):
        write_benchmarks(str(tmp_path / "missing"))


def test_cli_benchmark_subcommand(tmp_path, capsys):
    assert cli_main(["data", "benchmark", "--out-dir", str(tmp_path), "--only", "user_prompts"]) == 0
    assert (tmp_path / "user_prompts.jsonl").is_file() and "wrote 220 rows" in capsys.readouterr().out
    assert cli_main(["data", "benchmark", "--out-dir", str(tmp_path), "--only", "bogus"]) != 0
