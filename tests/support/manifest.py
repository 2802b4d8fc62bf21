"""Reading pixi.toml in tests the way pixi (and the offline locker) reads it."""

from __future__ import annotations

import tomllib

from conftest import REPO_ROOT


def load_manifest(path=REPO_ROOT / "pixi.toml") -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def environment_features(manifest: dict) -> dict[str, list[str]]:
    envs = {}
    for name, spec in manifest.get("environments", {}).items():
        spec = {"features": spec} if isinstance(spec, list) else spec
        envs[name] = list(spec.get("features", [])) + ([] if spec.get("no-default-feature") else ["default"])
    return envs


def workspace_platforms(manifest: dict) -> dict[str, dict]:
    """Platform name -> {"subdir", "cuda"}: bare subdirs and pixi 0.77's rich entries
    (`{ name = "linux-64-cuda", platform = "linux-64", cuda = "12.8" }`) alike."""
    out = {}
    for entry in manifest["workspace"]["platforms"]:
        if isinstance(entry, str):
            out[entry] = {"subdir": entry, "cuda": None}
        else:
            out[entry["name"]] = {"subdir": entry["platform"], "cuda": entry.get("cuda")}
    return out


def environment_platforms(manifest: dict) -> dict[str, list[str]]:
    """Workspace platform names narrowed by every feature that names its own."""
    features = manifest.get("feature", {})
    out = {}
    for env, feats in environment_features(manifest).items():
        plats = list(workspace_platforms(manifest))
        for f in feats:
            fp = features.get(f, {}).get("platforms")
            if fp is not None:
                plats = [p for p in plats if p in fp]
        out[env] = plats
    return out


def all_tasks(manifest: dict) -> dict[str, dict]:
    tasks = dict(manifest.get("tasks", {}))
    for feature in manifest.get("feature", {}).values():
        tasks.update(feature.get("tasks", {}))
    return tasks
