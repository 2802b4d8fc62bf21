"""Releases that must never be locked: malicious uploads and versions with known exploits.

The audit's `known-bad` rule fails on any locked package (PyPI record, or the PyPI name a conda
record provides) whose version is listed here. pixi.toml keeps floors above these too, so a re-lock
does not pick them; this table catches a lock that got them anyway (an old lock, a hand edit, a
floor removed). Add a row when an advisory names a package we lock: name, versions, reason, source.
`pixi-policy.toml`'s [bans] repeat these rows for pixi-policy (`pixi run policy`); `utils.lock.policy_file`
compares the two, and the policy task and the tests refuse a policy that disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.lock.lockfile import normalize_name


@dataclass(frozen=True)
class KnownBad:
    name: str  # PyPI name, normalised
    versions: str  # a PEP 440 specifier set ("==2.6.2", "<2.6.6"); one row per advisory and range
    reason: str
    source: str

    def matches(self, name: str, version: str) -> bool:
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version

        if normalize_name(name) != self.name:
            return False
        try:
            return Version(version) in SpecifierSet(self.versions)
        except InvalidVersion:
            return False


KNOWN_BAD: tuple[KnownBad, ...] = (
    KnownBad("lightning", "==2.6.2", "malicious upload that stole credentials", "GHSA-w37p-236h-pfx3"),
    KnownBad("lightning", "==2.6.3", "malicious upload that stole credentials", "GHSA-w37p-236h-pfx3"),
    KnownBad("lightning", "<2.6.6",
             "`load_from_checkpoint` ran code named by a checkpoint's `_instantiator` value, "
             "even with weights_only=True",
             "GHSA-qqmf-gpg7-g8gw (CVE-2026-58659; fixed in 2.6.6 by Lightning PR #21832)"),
)


def known_bad(name: str, version: str, table: tuple[KnownBad, ...] = KNOWN_BAD) -> list[KnownBad]:
    """Every row of `table` that this package version falls under."""
    return [row for row in table if row.matches(name, version)]
