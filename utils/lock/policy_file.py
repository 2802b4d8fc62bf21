"""pixi-policy.toml, the policy pixi-policy checks pixi.lock against, and its agreement with known_bad.

The banned releases live in one table, ``utils.lock.known_bad.KNOWN_BAD``; the policy file repeats
them because pixi-policy reads only its own file. ``disagreements`` says where the two differ, so
the policy task and the tests can refuse a policy that bans more, less or other versions.

API: POLICY_FILE; policy_bans(path) -> set of (name, versions); disagreements(path) -> list[str].
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from utils.lock.known_bad import KNOWN_BAD, KnownBad
from utils.lock.lockfile import normalize_name

POLICY_FILE = Path(__file__).resolve().parents[2] / "pixi-policy.toml"


class PolicyFileError(ValueError):
    """The policy file is missing or cannot be read as a policy."""


def _specifier(versions: str) -> str:
    """A version range in one spelling ("<2.6.6, >=2" and ">=2,<2.6.6" compare equal)."""
    from packaging.specifiers import SpecifierSet

    return str(SpecifierSet(versions))


def policy_bans(path: Path = POLICY_FILE) -> set[tuple[str, str]]:
    """(normalised name, version range) of every [bans] deny entry; "" for a ban on every version."""
    try:
        policy = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyFileError(f"{path}: missing; it sits beside pixi.toml (git checkout pixi-policy.toml)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: not valid TOML ({exc}); fix that line") from exc
    bans = set()
    for number, ban in enumerate(policy.get("bans", {}).get("deny", []), start=1):
        if not isinstance(ban, dict) or "name" not in ban:
            raise PolicyFileError(f"{path}: [bans] deny entry {number} has no name; give each ban a name")
        bans.add((normalize_name(ban["name"]), _specifier(ban.get("version", ""))))
    return bans


def known_bad_bans(table: tuple[KnownBad, ...] = KNOWN_BAD) -> set[tuple[str, str]]:
    return {(row.name, _specifier(row.versions)) for row in table}


def disagreements(path: Path = POLICY_FILE, table: tuple[KnownBad, ...] = KNOWN_BAD) -> list[str]:
    """One line per ban that only one of pixi-policy.toml and utils/lock/known_bad.py has."""
    in_policy, in_table = policy_bans(path), known_bad_bans(table)
    lines = [f"{path.name} bans {name} {versions or '(every version)'}, which utils/lock/known_bad.py does not "
             f"list: add a KnownBad row for it, or take the ban out of {path.name}"
             for name, versions in sorted(in_policy - in_table)]
    lines += [f"utils/lock/known_bad.py lists {name} {versions}, which {path.name} does not ban: add "
              f'{{ name = "{name}", version = "{versions}", reason = "..." }} to its [bans] deny'
              for name, versions in sorted(in_table - in_policy)]
    return lines
