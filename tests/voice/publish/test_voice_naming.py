"""Voice names and language blocks as Piper's published voices (and so wyoming-piper) have them."""

from __future__ import annotations

import pytest

from utils.voice.publish.voice_naming import (
    NamingError,
    language_block,
    language_for_espeak,
    parse_published_name,
    published_voice_name,
)


def test_published_names_round_trip():
    name = published_voice_name("de_DE", "thorsten_emotional", "x_low")
    assert name == "de_DE-thorsten_emotional-x_low"
    assert parse_published_name(name) == ("de_DE", "thorsten_emotional", "x_low")
    assert parse_published_name("demo") is None


@pytest.mark.parametrize(("language", "name", "quality", "wrong"), [
    ("en-us", "anna", "medium", "language"),
    ("en_US", "Anna-2", "medium", "voice name"),
    ("en_US", "anna", "ultra", "quality"),
])
def test_names_home_assistant_would_not_list_as_meant_are_refused(language, name, quality, wrong):
    with pytest.raises(NamingError, match=wrong):
        published_voice_name(language, name, quality)


def test_language_block_has_the_published_fields_known_or_not():
    assert language_block("pt_BR") == {"code": "pt_BR", "family": "pt", "region": "BR", "name_native": "Português",
                                       "name_english": "Portuguese", "country_english": "Brazil"}
    unknown = language_block("xx_YY")
    assert (unknown["family"], unknown["region"]) == ("xx", "YY")


def test_espeak_voices_map_to_the_codes_voices_are_published_under():
    assert language_for_espeak("en-us") == "en_US"
    assert language_for_espeak("EN-GB-X-RP") == "en_GB"
    assert language_for_espeak("qya") is None
