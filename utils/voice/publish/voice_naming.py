"""Names Home Assistant and wyoming-piper expect: ``<lang>_<REGION>-<name>-<quality>`` and a ``language`` block.

wyoming-piper lists every ``*.onnx`` in its data folders under the file's stem, reads the voice's
language from ``language.code`` in ``<stem>.onnx.json`` (then ``espeak.voice``, then the stem's
prefix) and shows ``dataset (audio.quality)`` as its description. Published voices fill
``language`` with code, family, region and three names; the table below holds those names for
every language Piper publishes voices in, as the published voices spell them.
"""

from __future__ import annotations

import re

QUALITIES = ("x_low", "low", "medium", "high")
LANGUAGE_CODE = re.compile(r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})$")
# The middle part of a published name: lowercase letters, digits and "_" (e.g. hfc_female).
SPEAKER_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
PUBLISHED_NAME = re.compile(r"^(?P<code>[a-z]{2,3}_[A-Z]{2})-(?P<name>[a-z0-9][a-z0-9_]*)"
                            r"-(?P<quality>x_low|low|medium|high)$")

# code: (name_native, name_english, country_english)
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "ar_JO": ('العربية', 'Arabic', 'Jordan'),
    "bg_BG": ('български', 'Bulgarian', 'Bulgaria'),
    "bn_BD": ('বাংলা', 'Bengali', 'Bangladesh'),
    "ca_ES": ('Català', 'Catalan', 'Spain'),
    "cs_CZ": ('Čeština', 'Czech', 'Czech Republic'),
    "cy_GB": ('Cymraeg', 'Welsh', 'Great Britain'),
    "da_DK": ('Dansk', 'Danish', 'Denmark'),
    "de_DE": ('Deutsch', 'German', 'Germany'),
    "el_GR": ('Ελληνικά', 'Greek', 'Greece'),
    "en_GB": ('English', 'English', 'Great Britain'),
    "en_US": ('English', 'English', 'United States'),
    "es_AR": ('Español', 'Spanish', 'Argentina'),
    "es_ES": ('Español', 'Spanish', 'Spain'),
    "es_MX": ('Español', 'Spanish', 'Mexico'),
    "et_EE": ('eesti', 'Estonian', 'Estonia'),
    "eu_ES": ('Euskara', 'Basque', 'Spain'),
    "fa_IR": ('فارسی', 'Farsi', 'Iran'),
    "fi_FI": ('Suomi', 'Finnish', 'Finland'),
    "fr_FR": ('Français', 'French', 'France'),
    "he_IL": ('עִבְרִית\u200e', 'Hebrew', 'Israel'),
    "hi_IN": ('हिन्दी', 'Hindi', 'India'),
    "hu_HU": ('Magyar', 'Hungarian', 'Hungary'),
    "hy_AM": ('հայերեն', 'Armenian', 'Armenia'),
    "id_ID": ('Bahasa Indonesia', 'Indonesian', 'Indonesia'),
    "is_IS": ('íslenska', 'Icelandic', 'Iceland'),
    "it_IT": ('Italiano', 'Italian', 'Italy'),
    "ja_JA": ('日本語', 'Japanese', 'Japan'),
    "ka_GE": ('ქართული ენა', 'Georgian', 'Georgia'),
    "kk_KZ": ('қазақша', 'Kazakh', 'Kazakhstan'),
    "ko_KR": ('한국어', 'Korean', 'South Korea'),
    "ku_TR": ('Kurmancî', 'Kurmanji Kurdish', 'Turkey'),
    "lb_LU": ('Lëtzebuergesch', 'Luxembourgish', 'Luxembourg'),
    "lv_LV": ('Latviešu', 'Latvian', 'Latvia'),
    "ml_IN": ('മലയാളം', 'Malayalam', 'India'),
    "mr_IN": ('मराठी, 𑘦𑘨𑘰𑘙𑘲', 'Marathi', 'India'),
    "ne_NP": ('नेपाली', 'Nepali', 'Nepal'),
    "nl_BE": ('Nederlands', 'Dutch', 'Belgium'),
    "nl_NL": ('Nederlands', 'Dutch', 'Netherlands'),
    "no_NO": ('Norsk', 'Norwegian', 'Norway'),
    "pl_PL": ('Polski', 'Polish', 'Poland'),
    "pt_BR": ('Português', 'Portuguese', 'Brazil'),
    "pt_PT": ('Português', 'Portuguese', 'Portugal'),
    "ro_RO": ('Română', 'Romanian', 'Romania'),
    "ru_RU": ('Русский', 'Russian', 'Russia'),
    "sk_SK": ('Slovenčina', 'Slovak', 'Slovakia'),
    "sl_SI": ('Slovenščina', 'Slovenian', 'Slovenia'),
    "sq_AL": ('shqip', 'Albanian', 'Albania'),
    "sr_RS": ('srpski', 'Serbian', 'Serbia'),
    "sv_SE": ('Svenska', 'Swedish', 'Sweden'),
    "sw_CD": ('Kiswahili', 'Swahili', 'Democratic Republic of the Congo'),
    "te_IN": ('తెలుగు', 'Telugu', 'India'),
    "th_TH": ('ไทย', 'Thai', 'Thailand'),
    "tr_TR": ('Türkçe', 'Turkish', 'Turkey'),
    "uk_UA": ('украї́нська мо́ва', 'Ukrainian', 'Ukraine'),
    "ur_PK": ('اردو', 'Urdu', 'Pakistan'),
    "vi_VN": ('Tiếng Việt', 'Vietnamese', 'Vietnam'),
    "zh_CN": ('简体中文', 'Chinese', 'China'),
}

# espeak-ng voice -> the language code a voice trained with it is published under.
ESPEAK_LANGUAGE = {
    "en-us": "en_US", "en": "en_GB", "en-gb": "en_GB", "en-gb-x-rp": "en_GB", "de": "de_DE",
    "fr": "fr_FR", "fr-fr": "fr_FR", "es": "es_ES", "es-419": "es_MX", "it": "it_IT", "nl": "nl_NL",
    "pt-br": "pt_BR", "pt": "pt_PT", "pl": "pl_PL", "ru": "ru_RU", "uk": "uk_UA", "sv": "sv_SE",
    "da": "da_DK", "fi": "fi_FI", "nb": "no_NO", "cs": "cs_CZ", "sk": "sk_SK", "hu": "hu_HU",
    "el": "el_GR", "tr": "tr_TR", "ca": "ca_ES", "ro": "ro_RO", "vi": "vi_VN", "cmn": "zh_CN",
    "ka": "ka_GE", "kk": "kk_KZ", "is": "is_IS", "lb": "lb_LU", "cy": "cy_GB", "lv": "lv_LV",
    "sl": "sl_SI", "sr": "sr_RS", "sw": "sw_CD", "fa": "fa_IR", "ar": "ar_JO", "ne": "ne_NP",
}


class NamingError(ValueError):
    """A voice name or language that Home Assistant would not list as intended (bad input)."""


def language_for_espeak(espeak_voice: str) -> str | None:
    """The published language code for an espeak-ng voice, or None when it is not unambiguous."""
    return ESPEAK_LANGUAGE.get((espeak_voice or "").strip().lower())


def language_block(code: str) -> dict[str, str]:
    """``language`` as published voices write it, e.g. en_US -> family en, region US, names."""
    match = LANGUAGE_CODE.match(code or "")
    if match is None:
        raise NamingError(f"language {code!r}: use a code like en_US (language_REGION), as published voices do")
    native, english, country = LANGUAGES.get(code, (match["family"], match["family"], match["region"]))
    return {"code": code, "family": match["family"], "region": match["region"], "name_native": native,
            "name_english": english, "country_english": country}


def published_voice_name(language: str, name: str, quality: str) -> str:
    """``<lang>_<REGION>-<name>-<quality>``, e.g. ("en_US", "anna", "medium") -> en_US-anna-medium."""
    language_block(language)
    if not SPEAKER_NAME.match(name or ""):
        raise NamingError(f"voice name {name!r}: use lowercase letters, digits and '_' (it becomes the middle "
                          "of <lang>_<REGION>-<name>-<quality>, e.g. en_US-anna-medium)")
    if quality not in QUALITIES:
        raise NamingError(f"quality {quality!r}: use one of {', '.join(QUALITIES)}")
    return f"{language}-{name}-{quality}"


def parse_published_name(stem: str) -> tuple[str, str, str] | None:
    """(language, name, quality) of a published-style stem, None for any other name."""
    match = PUBLISHED_NAME.match(stem)
    return (match["code"], match["name"], match["quality"]) if match else None


def resolve_language(language: str | None, espeak_voice: str, voice_name: str) -> str | None:
    """The voice's language code: --language, else a published-style name's prefix, else the espeak
    voice's code; None when none of them says (the voice then keeps its plain file name)."""
    published = parse_published_name(voice_name)
    if language is not None:
        language_block(language)  # NamingError for a malformed code
        if published and published[0] != language:
            raise NamingError(f"--voice-name {voice_name} says {published[0]} but --language is {language}")
        return language
    return published[0] if published else language_for_espeak(espeak_voice)


def voice_file_stem(voice_name: str, quality: str, language: str | None, demo: bool = False) -> str:
    """The exported files' stem: ``<lang>_<REGION>-<name>-<quality>`` for a plain lowercase name (what
    Home Assistant lists like a published voice), a published-style name as given, anything else
    (the demo, names with capitals or '-', unknown language) unchanged."""
    published = parse_published_name(voice_name)
    if published:
        if published[2] != quality:
            raise NamingError(f"--voice-name {voice_name} says {published[2]} but the network trained is "
                              f"{quality}; name it {published[0]}-{published[1]}-{quality}")
        return voice_name
    if demo or language is None or not SPEAKER_NAME.match(voice_name):
        return voice_name
    return published_voice_name(language, voice_name, quality)
