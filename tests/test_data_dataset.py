"""Training streams: pure-function samples, worker and rank sharding, collate, user folders."""

import os

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from blueprint.data.dataset import DesignStream, FolderDataset, collate, sample_at
from blueprint.errors import BlueprintError


def test_sample_at_is_pure_and_well_formed():
    a, b = sample_at(7, 128, 256), sample_at(7, 128, 256)
    assert a["spec"] == b["spec"] and torch.equal(a["pixels"], b["pixels"])
    assert a["pixels"].shape == (3, 256, 128) and a["pixels"].dtype == torch.float32
    assert -1.0 <= a["pixels"].min() and a["pixels"].max() <= 1.0
    for key in ("element_map", "char_map"):
        assert a[key].shape == (256, 128) and a[key].dtype == torch.int64
    assert isinstance(a["caption"], str) and isinstance(a["texts"], list)
    assert a["shape_ink"].shape == (256, 128) and a["shape_ink"].dtype == torch.bool
    assert sample_at(8, 128, 256)["spec"] != a["spec"]
    assert sample_at(7, 128, 256, seed=1)["spec"] != a["spec"]


def test_kinds_take_turns():
    kinds = [sample_at(i, 128, 128, kinds=["chart", "scene"], with_maps=False)["spec"] for i in range(4)]
    assert ['"kind":"chart"' in k for k in kinds] == [True, False, True, False]


def test_workers_get_distinct_samples_matching_sample_at():
    stream = DesignStream(128, 128, length=8, with_maps=False)
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=collate)
    specs = [s for batch in loader for s in batch["spec"]]
    assert len(specs) == 8 and len(set(specs)) == 8
    assert sorted(specs) == sorted(sample_at(i, 128, 128, with_maps=False)["spec"] for i in range(8))


def test_ranks_partition_the_indices():
    shards = [list(DesignStream(128, 128, rank=r, world_size=3, length=10).indices(w, 2))
              for r in range(3) for w in range(2)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(10))
    with pytest.raises(BlueprintError):
        DesignStream(128, 128, rank=3, world_size=3)


def test_collate_stacks_tensors_and_keeps_lists():
    batch = collate([sample_at(i, 128, 128) for i in range(3)])
    assert batch["pixels"].shape == (3, 3, 128, 128) and batch["char_map"].shape == (3, 128, 128)
    assert isinstance(batch["caption"], list) and len(batch["texts"]) == 3


def make_folder(tmp_path, names=("a", "b")):
    for i, name in enumerate(names):
        Image.new("RGB", (64 + 32 * i, 48), (i * 100, 50, 50)).save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.txt").write_text(f'A sign that says "HELLO {i}".')
    return tmp_path


def test_folder_dataset_reads_pairs(tmp_path):
    data = FolderDataset(str(make_folder(tmp_path)), width=128, height=128)
    assert len(data) == 2
    item = data[1]
    assert item["pixels"].shape == (3, 128, 128) and item["texts"] == ["HELLO 1"]
    assert collate([data[0], data[1]])["pixels"].shape == (2, 3, 128, 128)


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(BlueprintError, match="no images"):
        FolderDataset(str(tmp_path))
    with pytest.raises(BlueprintError, match="does not exist"):
        FolderDataset(str(tmp_path / "missing"))
    make_folder(tmp_path)
    os.remove(tmp_path / "b.txt")
    with pytest.raises(BlueprintError, match="no caption file.*b.png"):
        FolderDataset(str(tmp_path))
    (tmp_path / "b.txt").write_text("fine")
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    (tmp_path / "c.txt").write_text("broken")
    data = FolderDataset(str(tmp_path))
    with pytest.raises(BlueprintError, match="cannot read image"):
        data[2]
