"""--base-speaker N: one speaker of a multi-speaker base becomes a single-speaker network, exactly."""

from __future__ import annotations

import pytest
import torch
from support.checkpoint_builders import TINY

from utils.voice.base.base_speaker import single_speaker_kwargs, single_speaker_state_dict
from utils.voice.base.checkpoints import CheckpointError


@pytest.fixture(scope="module")
def multi_speaker_model():
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(0)
    model = VitsModel(num_speakers=4, mos_metric="none", **TINY)
    return model.eval()


def speak(model, sid=None, seed=7):
    text = torch.randint(1, 100, (1, 24), generator=torch.Generator().manual_seed(3))
    torch.manual_seed(seed)  # infer draws noise: same seed, same draws
    with torch.no_grad():
        return model.model_g.infer(text, torch.LongTensor([24]), sid=sid)[0]


def test_folded_single_speaker_network_speaks_exactly_as_the_chosen_speaker(multi_speaker_model):
    from piper.train.vits.lightning import VitsModel

    kwargs = single_speaker_kwargs({"num_speakers": 4, "gin_channels": 512, **TINY})
    single = VitsModel(mos_metric="none", **kwargs).eval()
    state = single_speaker_state_dict(multi_speaker_model.state_dict(), speaker=2)
    single.load_state_dict(state)  # strict: same keys and shapes, nothing missing or left over
    chosen = speak(multi_speaker_model, torch.LongTensor([2]))
    other = speak(multi_speaker_model, torch.LongTensor([0]))
    folded = speak(single)
    assert folded.shape == chosen.shape
    assert torch.allclose(folded, chosen, atol=1e-5)
    # and the test can tell speakers apart: another speaker sounds different
    assert other.shape != chosen.shape or not torch.allclose(other, chosen, atol=1e-3)


def test_speaker_out_of_range_or_single_speaker_base_is_refused(multi_speaker_model):
    state = multi_speaker_model.state_dict()
    with pytest.raises(CheckpointError, match="speakers 0 to 3"):
        single_speaker_state_dict(state, speaker=4)
    without_table = {k: v for k, v in state.items() if "emb_g" not in k}
    with pytest.raises(CheckpointError, match="one speaker"):
        single_speaker_state_dict(without_table, speaker=0)
