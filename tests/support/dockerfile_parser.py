"""A small Dockerfile reader for the container tests: instructions, stages, RUN commands, pixi calls.

Reads a Dockerfile the way Docker does where getting it wrong would hide a fault (continuations,
comment lines inside them, same-line comments that turn an exec form into shell form). No Docker
engine is needed; tests/test_docker.py checks this reader on small texts before trusting it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY ...
    args: str  # everything after the keyword, continuation lines joined
    line: int  # 1-based line where the instruction starts

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form RUN/CMD/ENTRYPOINT, or None for shell form."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise AssertionError(f"Dockerfile has no stage named {name!r}")


def read_instructions(text: str) -> list[Instruction]:
    """Joins backslash continuations and drops comment lines (also inside a continuation, as
    Docker does). A comment after an instruction on the same line is NOT a comment to Docker;
    it stays part of the arguments, which is what makes `ENTRYPOINT [...]  # x` shell form."""
    out: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, args = " ".join(p for p in parts if p).partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    if parts:
        raise AssertionError(f"Dockerfile line {start}: continuation runs past the end of the file")
    return out


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ins in read_instructions(text):
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert ins.keyword == "ARG", f"Dockerfile line {ins.line}: only ARG may precede FROM"
            key, _, default = ins.args.partition("=")
            global_args[key.strip()] = default.strip() or None
        else:
            stages[-1].instructions.append(ins)
    return Dockerfile(global_args, stages)


def run_commands(stage: Stage) -> list[str]:
    """Shell text of each RUN, without BuildKit flags such as --mount."""
    commands = []
    for ins in stage.all("RUN"):
        form = ins.exec_form()
        if form is not None:
            commands.append(shlex.join(form))
        else:
            commands.append(re.sub(r"^(--\S+\s+)+", "", ins.args))
    return commands


def env_values(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for ins in stage.all("ENV"):
        for token in shlex.split(ins.args):
            key, sep, value = token.partition("=")
            if sep:
                values[key] = value
    return values


def pixi_invocations(commands: list[str], subcommand: str) -> list[list[str]]:
    """Every `pixi <subcommand> ...` inside the given shell commands, as argument lists."""
    found = []
    for command in commands:
        for piece in re.split(r"&&|\|\||;|\|", command):
            words = shlex.split(piece.split(">")[0])
            if words[:2] == ["pixi", subcommand]:
                found.append(words[2:])
    return found


def option(args: list[str], long: str, short: str | None = None) -> str | None:
    for i, word in enumerate(args):
        if word in (long, short) and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(long + "="):
            return word.split("=", 1)[1]
    return None
