"""Labels describe the network: a quality read from a network's shape, for every Piper preset."""

from __future__ import annotations

import pytest

from utils.voice.quality_label import quality_of_network
from utils.voice.training import QUALITIES


@pytest.mark.parametrize("quality", list(QUALITIES))
def test_each_preset_is_recognised_from_its_own_network(quality):
    model = {**QUALITIES[quality]["model"], "sample_rate": QUALITIES[quality]["sample_rate"]}
    assert quality_of_network(model, requested=quality) == quality


@pytest.mark.parametrize("requested", ["low", "medium", "high", None])
def test_an_x_low_network_is_labelled_x_low_whatever_was_asked(requested):
    assert quality_of_network({**QUALITIES["x_low"]["model"], "sample_rate": 22050}, requested) == "x_low"


def test_a_low_or_medium_network_asked_as_something_else_is_named_by_its_sample_rate():
    assert quality_of_network({"sample_rate": 16000}, requested="x_low") == "low"
    assert quality_of_network({"sample_rate": 22050}, requested="high") == "medium"
