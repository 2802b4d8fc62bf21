"""pixi-policy, a checker we did not write, passes our lock, fails a lock with a known-bad release,
and reads the same banned releases as our own audit; pixi-sbom writes one SBOM per environment x
platform. The two programs come from their wheels in the locked environment (pixi.toml's dev feature)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import REPO_ROOT

from tasks import policy, sbom
from utils.lock.known_bad import KNOWN_BAD, KnownBad
from utils.lock.lockfile import DEFAULT_LOCK, load_lock
from utils.lock.policy_file import POLICY_FILE, disagreements, known_bad_bans, policy_bans
from utils.programs import installed_program


def _needs(program: str) -> None:
    if installed_program(program) is None:
        pytest.fail(f"{program} is not installed beside {program!r}'s interpreter: it is locked in the dev "
                    "feature, so the test environment must carry it (rebuild with python3 -m tasks.venv)")


def test_the_policy_bans_exactly_the_known_bad_table():
    assert policy_bans() == known_bad_bans() and len(policy_bans()) == len(KNOWN_BAD) >= 3
    assert disagreements() == []


def test_the_load_from_checkpoint_row_names_its_advisory():
    (row,) = [row for row in KNOWN_BAD if row.versions == "<2.6.6"]
    assert "GHSA-qqmf-gpg7-g8gw" in row.source and "CVE-2026-58659" in row.source
    assert "GHSA-qqmf-gpg7-g8gw" in POLICY_FILE.read_text(encoding="utf-8")


def test_a_policy_missing_a_ban_or_banning_more_is_refused(tmp_path, capsys):
    text = POLICY_FILE.read_text(encoding="utf-8")
    dropped = tmp_path / "pixi-policy.toml"
    dropped.write_text(re.sub(r'^  \{ name = "lightning", version = "==2\.6\.3".*\n', "", text, flags=re.M))
    (line,) = disagreements(dropped)
    assert "lightning ==2.6.3" in line and "does not ban" in line
    assert policy.main(["--policy", str(dropped)]) == 2
    assert "disagree" in capsys.readouterr().err

    extra = (*KNOWN_BAD, KnownBad("torch", "<2.6", "loads pickles", "CVE-2025-32434"))
    (line,) = disagreements(POLICY_FILE, extra)
    assert "torch <2.6" in line and "does not ban" in line


def test_pixi_policy_passes_the_lock(capfd):
    _needs("pixi-policy")
    assert policy.main([]) == 0
    summary = capfd.readouterr().out.strip().splitlines()[-1]
    found = re.fullmatch(r"0 errors, (\d+) warnings, 0 waived in (\d+) packages across (\d+) environment-platform "
                         r"pairs", summary)
    assert found, summary
    lock = load_lock(DEFAULT_LOCK)
    pairs = sum(len(lock.platforms(env)) for env in lock.environment_names())
    assert int(found.group(3)) == pairs == 10


@pytest.mark.parametrize("version, advisory", [("2.6.3", "GHSA-w37p-236h-pfx3"), ("2.6.5", "GHSA-qqmf-gpg7-g8gw")])
def test_a_planted_known_bad_lightning_fails_pixi_policy(tmp_path, version, advisory):
    # As the audit's test plants it: a known-bad lightning in place of the locked 2.6.6 (2.6.3 a
    # malicious upload; 2.6.5 before the load_from_checkpoint fix).
    _needs("pixi-policy")
    text = DEFAULT_LOCK.read_text(encoding="utf-8")
    record = re.search(r"^- pypi: (\S+/lightning-2\.6\.6-py3-none-any\.whl)\n  name: lightning\n  version: 2\.6\.6\n",
                       text, re.M)
    planted = record.group(0).replace("2.6.6", version)
    bad_lock = tmp_path / "pixi.lock"
    bad_lock.write_text(text.replace(record.group(0), planted).replace(
        record.group(1), record.group(1).replace("2.6.6", version)), encoding="utf-8")
    report = tmp_path / "report.json"
    assert policy.main(["--lock", str(bad_lock), "--format", "json", "--output", str(report)]) == 1
    findings = [f for f in json.loads(report.read_text())["findings"] if f.get("severity") == "error"]
    lock = load_lock(DEFAULT_LOCK)
    with_lightning = {(env, platform) for env in lock.environment_names() for platform in lock.platforms(env)
                      if any(p.name == "lightning" for p in lock.packages(env, platform))}
    # one finding in every environment x platform that locks lightning, naming the advisory
    assert {(f["environment"], f["platform"]) for f in findings} == with_lightning and len(with_lightning) >= 2
    assert all(f["rule"] == "bans.deny" and f["version"] == version and advisory in f["message"] for f in findings)


def test_sbom_writes_one_cyclonedx_document_per_environment_and_platform(tmp_path):
    _needs("pixi-sbom")
    output = tmp_path / "sbom"
    (output / "stale.cdx.json").parent.mkdir()
    (output / "stale.cdx.json").write_text("{}")
    assert sbom.main(["--output", str(output)]) == 0
    lock = load_lock(DEFAULT_LOCK)
    expected = {f"sbom-{env}-{platform}.cdx.json": len(lock.packages(env, platform))
                for env in lock.environment_names() for platform in lock.platforms(env)}
    assert sorted(p.name for p in output.iterdir()) == sorted(expected)  # the stale file went with the old folder
    for name, count in expected.items():
        document = json.loads((output / name).read_text())
        assert document["bomFormat"] == "CycloneDX"
        assert len(document["components"]) == count, name
        assert all(any(h["alg"] == "SHA-256" for h in c.get("hashes", [])) for c in document["components"]), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sbom")]  # no staging folder left behind


def test_sbom_without_its_lock_fails_and_keeps_the_old_folder(tmp_path, capsys):
    _needs("pixi-sbom")
    output = tmp_path / "sbom"
    output.mkdir()
    (output / "kept.cdx.json").write_text("{}")
    assert sbom.main(["--output", str(output), "--lock", str(tmp_path / "missing.lock")]) == 2
    assert "missing.lock" in capsys.readouterr().err and (output / "kept.cdx.json").exists()


def test_sbom_folder_is_ignored_by_git():
    assert shutil.which("git")
    import subprocess

    ignored = subprocess.run(["git", "check-ignore", "-q", "sbom/x.cdx.json"], cwd=REPO_ROOT)
    assert ignored.returncode == 0
