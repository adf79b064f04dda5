"""WebDataset shards: layout, atomic writes, a byte-exact round trip, and training from them."""

import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from blueprint.data import Spec, render
from blueprint.data.shards import write_shards
from blueprint.errors import BlueprintError


def test_shards_round_trip(tmp_path):
    out = str(tmp_path / "shards")
    paths = write_shards(out, n=7, shard_size=3, width=128, height=128, seed=4)
    assert [os.path.basename(p) for p in paths] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    with tarfile.open(paths[0]) as tar:
        names = tar.getnames()
    assert set(names[:5]) == {"000000000.png", "000000000.json", "000000000.txt", "000000000.element.png",
                              "000000000.char.png"}
    assert len(names) == 3 * 5

    import webdataset as wds

    samples = list(wds.WebDataset(paths, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"{i:09d}" for i in range(7)]
    for s in samples[:3]:
        spec = Spec.from_json(s["json"].decode())
        assert s["txt"].decode() == spec.caption
        again = render(spec, with_maps=True)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(s["png"]))), np.asarray(again.image))
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(s["element.png"]))), again.element_map)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(s["char.png"]))), again.char_map)


def test_parallel_shards_equal_serial(tmp_path):
    a = write_shards(str(tmp_path / "a"), n=4, shard_size=2, width=128, height=128, workers=1)
    b = write_shards(str(tmp_path / "b"), n=4, shard_size=2, width=128, height=128, workers=2)
    for x, y in zip(a, b):
        assert open(x, "rb").read() == open(y, "rb").read()


def test_bad_shard_arguments(tmp_path):
    with pytest.raises(BlueprintError, match="n must be"):
        write_shards(str(tmp_path), n=0)
    with pytest.raises(BlueprintError, match="shard size"):
        write_shards(str(tmp_path), n=3, shard_size=-1)
    with pytest.raises(BlueprintError, match="unknown design kind"):
        write_shards(str(tmp_path), n=3, kinds=["nope"])


def test_shard_dataset_reads_back_the_engine_samples(tmp_path):
    import torch

    from blueprint.data.dataset import sample_at
    from blueprint.data.shards import ShardDataset

    write_shards(str(tmp_path), n=5, shard_size=2, width=128, height=128, seed=3)
    (tmp_path / "shard-000009.tar.tmp").write_bytes(b"a shard being written")  # never read
    data = ShardDataset(str(tmp_path), 128, 128)
    assert len(data) == 5
    for i in (0, 3, 4):
        want, got = sample_at(i, 128, 128, seed=3), data[i]
        assert got["caption"] == want["caption"]
        assert torch.equal(got["pixels"], want["pixels"]) and torch.equal(got["char_map"], want["char_map"])
    with pytest.raises(BlueprintError, match="are 128x128; train at --size 128x128"):
        ShardDataset(str(tmp_path), 256, 256)


def test_training_reads_shards(tmp_path, capsys):
    """Two steps of the vae and of the dit (with the shards' character ink as its glyph layer)."""
    import json

    from blueprint.cli import main

    shards, run = tmp_path / "shards", tmp_path / "run"
    assert main(["data", "shards", str(shards), "--n", "4", "--shard-size", "2", "--size", "128x128"]) == 0
    common = ["--config", "tiny", "--model-dir", str(run), "--data", str(shards), "--size", "128x128",
              "--steps", "2", "--batch-size", "2", "--no-progress"]
    assert main(["train", "vae", *common]) == 0
    assert main(["train", "dit", *common]) == 0
    trained = json.loads((run / "trained.json").read_text())
    assert trained["vae"]["steps"] == 2 and trained["dit"]["steps"] == 2
    capsys.readouterr()

    other = tmp_path / "other"
    assert main(["train", "vae", "--config", "tiny", "--model-dir", str(other), "--data", str(shards),
                 "--size", "256x256", "--steps", "2"]) == 2
    assert "shards in" in capsys.readouterr().err and not other.exists()
    assert main(["train", "dit", "--config", "tiny", "--model-dir", str(other), "--data", str(shards),
                 "--size", "128x128,256x256"]) == 2
    assert "several sizes needs --data engine" in capsys.readouterr().err and not other.exists()
