"""Model folders: round trip, compatibility with diffusers both ways, and clear
errors for missing or mismatched files."""

import json
import shutil

import pytest
import torch
from diffusers import GlmImagePipeline
from transformers import T5EncoderModel

from blueprint.errors import BlueprintError
from blueprint.models import MODULE_NAMES, build_components, get_config, load_components, save_components
from blueprint.models.build import t5_config


@pytest.fixture(scope="module")
def tiny():
    return build_components("tiny", seed=0)


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    return save_components(tiny, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def copy(saved, tmp_path):
    """A scratch copy of the saved folder that a test may damage."""
    return shutil.copytree(saved, tmp_path / "model")


def assert_same_weights(a: dict, b: dict):
    for name in MODULE_NAMES:
        sa, sb = a[name].state_dict(), b[name].state_dict()
        assert sa.keys() == sb.keys(), name
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k}"


def test_folder_layout(saved):
    index = json.loads((saved / "model_index.json").read_text())
    assert index["_class_name"] == "GlmImagePipeline"
    assert (saved / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    assert (saved / "vision_language_encoder" / "model.safetensors").is_file()
    assert not list(saved.rglob("*.bin")) and not list(saved.rglob("*.pt"))  # safetensors only


def test_round_trip(tiny, saved):
    loaded = load_components(saved)
    assert_same_weights(tiny, loaded)
    for name in MODULE_NAMES:
        assert not loaded[name].training
    assert loaded["processor"].tokenizer.padding_side == "left"
    assert loaded["vision_language_encoder"].generation_config.eos_token_id is None
    assert loaded["scheduler"].config.use_dynamic_shifting


def test_diffusers_loads_our_folder(tiny, saved):
    pipe = GlmImagePipeline.from_pretrained(saved, local_files_only=True)
    assert_same_weights(tiny, pipe.components)


def test_we_load_a_folder_saved_by_diffusers(tiny, tmp_path):
    GlmImagePipeline(**tiny).save_pretrained(tmp_path / "official")
    assert_same_weights(tiny, load_components(tmp_path / "official"))


def test_not_a_model_folder(tmp_path):
    with pytest.raises(BlueprintError, match="does not exist"):
        load_components(tmp_path / "nope")
    with pytest.raises(BlueprintError, match="model_index.json is missing"):
        load_components(tmp_path)


@pytest.mark.parametrize("relpath", [
    "vae/diffusion_pytorch_model.safetensors",
    "transformer/config.json",
    "vision_language_encoder/model.safetensors",
    "scheduler/scheduler_config.json",
    "processor/tokenizer_config.json",
])
def test_missing_file_is_named(copy, relpath):
    (copy / relpath).unlink()
    with pytest.raises(BlueprintError, match=relpath.split("/")[-1].replace(".", r"\.")):
        load_components(copy)


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_config_with_more_layers_than_weights(copy):
    _edit_json(copy / "transformer" / "config.json", lambda d: d.update(num_layers=3))
    with pytest.raises(BlueprintError, match=r"transformer/config\.json does not match the weights: missing keys"):
        load_components(copy)


def test_config_with_fewer_layers_than_weights(copy):
    _edit_json(copy / "vision_language_encoder" / "config.json",
               lambda d: d["text_config"].update(num_hidden_layers=1))
    with pytest.raises(BlueprintError, match="vision_language_encoder/config.json does not match the weights"):
        load_components(copy)


def test_config_with_other_shapes(copy):
    _edit_json(copy / "text_encoder" / "config.json", lambda d: d.update(d_ff=128))
    with pytest.raises(BlueprintError, match="text_encoder/config.json does not match the weights"):
        load_components(copy)


def test_components_that_do_not_fit_together(copy):
    T5EncoderModel(t5_config(get_config("small"))).save_pretrained(copy / "text_encoder")
    with pytest.raises(BlueprintError, match="text_embed_dim 32 != text_encoder d_model 192"):
        load_components(copy)


def test_corrupt_model_index(copy):
    (copy / "model_index.json").write_text("{not json")
    with pytest.raises(BlueprintError, match="not valid JSON"):
        load_components(copy)


def test_save_needs_every_component(tiny, tmp_path):
    partial = {k: v for k, v in tiny.items() if k != "vae"}
    with pytest.raises(BlueprintError, match="vae"):
        save_components(partial, tmp_path / "x")


def test_config_reset_to_defaults_is_refused_before_allocating(copy):
    # An empty config means the class defaults: the 10B official AR model. It must
    # be refused from the weight files' headers, not discovered by running out of memory.
    (copy / "vision_language_encoder" / "config.json").write_text("{}")
    with pytest.raises(BlueprintError, match=r"describes 10\d\d\d\.\dM parameters but the weight files hold 0\.1M"):
        load_components(copy)


def test_corrupt_weights(copy):
    (copy / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BlueprintError, match="not a readable safetensors file"):
        load_components(copy)


def test_half_precision_folder_loads_back_in_float32(tiny, saved, tmp_path):
    # How a model is shipped small: load at fp16, save, and run it again at fp32.
    half = save_components(load_components(saved, dtype=torch.float16), tmp_path / "half")
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*.safetensors"))  # noqa: E731
    assert size(half) < 0.6 * size(saved)
    loaded = load_components(half)
    for name in MODULE_NAMES:
        for k, v in loaded[name].state_dict().items():
            assert v.dtype == torch.float32, f"{name}.{k}"
            # fp16 rounding (T5 keeps its `wo` layers in fp32, so those are exact)
            torch.testing.assert_close(v, tiny[name].state_dict()[k], rtol=1e-3, atol=1e-6)
