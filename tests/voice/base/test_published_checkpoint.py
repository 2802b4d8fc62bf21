"""Published piper_train checkpoints load through the allowlist and map onto piper.train's VitsModel."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch
from support.checkpoint_builders import (
    TINY,
    old_piper_hparams,
    published_layout,
    save_published,
    write_checkpoint_with_callable,
    write_published_checkpoint,
)

from utils.voice.base.checkpoints import CheckpointError, load_checkpoint_safely, transfer_weights
from utils.voice.base.published_checkpoint import model_kwargs_from_hparams, read_base_checkpoint


@pytest.fixture(scope="module")
def tiny_published(module_tmp_path_factory):
    folder = module_tmp_path_factory.mktemp("ckpt")
    return write_published_checkpoint(folder / "epoch=2164-step=1355540.ckpt", arch=TINY)


def pickled_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))


def test_fixture_has_the_published_layout_and_the_published_refusal(tiny_published):
    data = pickled_bytes(tiny_published)
    assert data[:2] == b"\x80\x02"  # pickle protocol 2, as Lightning 1.7.7 wrote it
    assert b"pathlib\nPosixPath\n" in data  # the class name the published files carry, on any Python
    # Plain torch.load(weights_only=True) refuses it exactly as it refuses the published files.
    with pytest.raises(pickle.UnpicklingError, match="pathlib.PosixPath"):
        torch.load(tiny_published, weights_only=True)


def test_published_checkpoint_loads_without_running_code_and_keeps_all_keys(tiny_published):
    checkpoint = load_checkpoint_safely(tiny_published)
    assert list(checkpoint)[:4] == ["epoch", "global_step", "pytorch-lightning_version", "state_dict"]
    hparams = checkpoint["hyper_parameters"]
    assert len(hparams) == 99
    assert str(hparams["dataset"][0]) == "/home/piper/lessac/dataset.jsonl"
    assert torch.isinf(next(iter(checkpoint["callbacks"].values()))["kth_value"])


def test_pickled_callable_is_refused_and_never_called(tmp_path):
    marker = tmp_path / "code-ran"
    bad = write_checkpoint_with_callable(tmp_path / "bad.ckpt", marker)
    with pytest.raises(CheckpointError, match="refused.*mkdir"):
        read_base_checkpoint(bad)
    assert not marker.exists()
    # The fixture really is dangerous: an unrestricted load runs its code.
    torch.load(bad, weights_only=False)
    assert marker.is_dir()


def test_checkpoint_pickled_on_python_313_loads_too(tmp_path):
    """Python 3.13 spells the class pathlib._local.PosixPath: our own checkpoints made there say so."""
    hparams = old_piper_hparams(arch=TINY)
    path = save_published(published_layout({"model_g.w": torch.zeros(2)}, hparams), tmp_path / "py313.ckpt",
                          python313_names=True)
    assert b"pathlib._local\nPosixPath\n" in pickled_bytes(path)
    assert str(load_checkpoint_safely(path)["hyper_parameters"]["dataset_dir"]) == "/home/piper/lessac"


def test_windows_made_checkpoint_loads_on_any_system(tmp_path):
    path = write_published_checkpoint(tmp_path / "win.ckpt", arch=TINY, windows=True)
    assert b"pathlib\nWindowsPath\n" in pickled_bytes(path)
    base = read_base_checkpoint(path)
    assert "dataset_dir" in base.dropped


def test_mapping_keeps_shape_and_rate_and_drops_training_and_trainer_options(tiny_published):
    base = read_base_checkpoint(tiny_published)
    assert base.sample_rate == 22050 and base.num_speakers == 1
    assert base.epoch == 2164 and base.batches_done == 1355540 // 2
    assert base.model_kwargs["resblock_dilation_sizes"] == [[1, 2], [2, 6], [3, 12]]  # tuples -> lists
    for retired in ("sample_bytes", "channels", "max_phoneme_ids", "devices", "dataset", "learning_rate"):
        assert retired not in base.model_kwargs and retired in base.dropped
    assert "optimizer_states" not in vars(base)


@pytest.mark.parametrize(("quality", "rate", "architecture", "label"), [
    ("x-low", 16000, "x_low", "x_low"),
    ("medium", 16000, "medium", "low"),      # published "low" = medium network at 16 kHz
    ("medium", 22050, "medium", "medium"),
    ("high", 22050, "high", "high"),
])
def test_published_quality_tiers_map_to_the_network_they_are(quality, rate, architecture, label):
    from utils.voice.base.published_checkpoint import architecture_name, quality_label

    kwargs = model_kwargs_from_hparams(old_piper_hparams(quality, rate))
    assert architecture_name(kwargs) == architecture and quality_label(architecture, rate) == label
    assert kwargs["sample_rate"] == rate


@pytest.mark.parametrize("quality", ["x-low", "high"])
def test_every_weight_of_a_full_size_tier_fits_piper_train_vits_model(quality, tmp_path):
    """The mapped arguments build a VitsModel that takes every generator weight, shapes included."""
    from piper.train.vits.lightning import VitsModel

    path = write_published_checkpoint(tmp_path / f"{quality}.ckpt", quality=quality)
    base = read_base_checkpoint(path)
    model = VitsModel(mos_metric="none", **base.model_kwargs)
    copied, skipped = transfer_weights(model, {"state_dict": base.state_dict}, path)
    assert skipped == 0 and copied == len(base.state_dict)
    assert copied == sum(1 for k in model.state_dict() if k.startswith("model_g."))


def test_multi_speaker_base_keeps_its_speakers_and_embedding_width(tmp_path):
    path = write_published_checkpoint(tmp_path / "multi.ckpt", arch=TINY, num_speakers=5)
    base = read_base_checkpoint(path)
    assert base.num_speakers == 5 and base.model_kwargs["gin_channels"] == 512


def test_non_piper_checkpoints_are_refused_with_the_reason(tmp_path):
    hparams = old_piper_hparams(arch=TINY)
    del hparams["sample_rate"]
    save_published(published_layout({"model_g.x": torch.zeros(1)}, hparams), tmp_path / "norate.ckpt")
    with pytest.raises(CheckpointError, match="sample_rate"):
        read_base_checkpoint(tmp_path / "norate.ckpt")
    save_published(published_layout({"encoder.w": torch.zeros(1)}, old_piper_hparams()), tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="model_g"):
        read_base_checkpoint(tmp_path / "other.ckpt")
