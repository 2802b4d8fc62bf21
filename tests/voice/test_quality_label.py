"""Labels describe the network: a quality read from a network's shape, for every Piper preset."""

from __future__ import annotations

import pytest

from utils.voice.quality_label import quality_of_network
from utils.voice.run_config import QUALITIES


@pytest.mark.parametrize("quality", list(QUALITIES))
def test_each_preset_is_recognised_from_its_own_network(quality):
    model = {**QUALITIES[quality]["model"], "sample_rate": QUALITIES[quality]["sample_rate"]}
    assert quality_of_network(model) == quality


def test_an_x_low_network_is_labelled_x_low_at_any_rate():
    assert quality_of_network({**QUALITIES["x_low"]["model"], "sample_rate": 22050}) == "x_low"


def test_the_standard_network_is_named_by_its_sample_rate():
    assert quality_of_network({"sample_rate": 16000}) == "low"
    assert quality_of_network({"sample_rate": 22050}) == "medium"
