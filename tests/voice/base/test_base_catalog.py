"""data/base_checkpoints.toml: every pinned base is complete and fixed; unpinned ones are refused with a way out."""

from __future__ import annotations

import pytest

from utils.voice.base.base_catalog import CATALOG, CatalogError, find_base, load_catalog


def test_committed_catalog_pins_every_base_to_a_revision_size_and_hash():
    catalog = load_catalog()
    pinned = [entry for entry in catalog.values() if entry.pinned]
    assert pinned, "the catalog should pin at least one base"
    for entry in pinned:
        assert "/resolve/main/" not in entry.url
        assert entry.established.strip()
        assert entry.name.startswith(entry.language + "-") and entry.name.endswith("-" + entry.quality)
    lessac = find_base("en_US-lessac-medium", catalog)
    assert lessac.file_name == "epoch=2164-step=1355540.ckpt"
    assert lessac.sample_rate == 22050 and lessac.speakers == 1


def test_unpinned_and_unknown_bases_are_refused_with_what_to_do():
    with pytest.raises(CatalogError, match="--base-url .* --base-sha256"):
        find_base("en_US-libritts_r-medium")
    with pytest.raises(CatalogError, match="pinned bases: en_US-lessac-medium"):
        find_base("en_US-nobody-medium")


@pytest.mark.parametrize(("edit", "message"), [
    (("/resolve/19ca249c3d7c490dbbefbaf775f74df10681d9a4/", "/resolve/main/"), "fixed revision"),
    (('sha256 = "ab7e', 'sha256 = "zz7e'), "64 lowercase hex"),
    (("size = 845898328", 'size = "big"'), "positive number"),
    (("speakers = 1\nurl", "speakers = 1\nmirror = 'x'\nurl"), "unknown field"),
])
def test_a_broken_catalog_entry_is_named(tmp_path, edit, message):
    text = CATALOG.read_text(encoding="utf-8")
    assert edit[0] in text
    broken = tmp_path / "catalog.toml"
    broken.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as caught:
        load_catalog(broken)
    assert "en_US-lessac-medium" in str(caught.value)
