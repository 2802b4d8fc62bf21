"""The documentation holds together: README.md stays a short front page that links every page of
docs/, every relative link in them leads somewhere, and every `--option` a page puts on a command
line is one the task it is given to takes (`python -m tasks.X --help` lists it).

Only options on a command line are checked: a page's `pixi run train --dataset DIR --resume` or
`python -m tasks.evaluate --voice V.onnx` is attributable to a task, a lone `--resume` in a sentence
is not.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

from conftest import REPO_ROOT
from support.manifest import all_tasks, load_manifest

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
MAX_README_LINES = 150

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...
PYTHON = re.compile(r"(^|/)python(3(\.\d+)?)?(\.exe)?$")
SBATCH = re.compile(r"^tasks/slurm/[\w-]+\.sbatch$")  # the batch scripts hand their arguments to tasks.train
TASK_CMD = re.compile(r"^python -m (tasks\.\w+)\b")
SEPARATORS = re.compile(r"\|\||\||&&|;")
COMMENT = re.compile(r"(^|\s)#.*$")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def shown(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


# -- reading markdown --------------------------------------------------------------------------


def split_code_blocks(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(prose lines, code lines), each as (line number, text). Code is a fenced block's lines, or
    an indented block (4 spaces after a blank line; list continuations are indented too, but
    follow their item without a blank line)."""
    prose, code = [], []
    fenced = False
    previous_blank = True
    indented = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif fenced:
            code.append((number, line))
        elif line.startswith("    ") and (previous_blank or indented):
            indented = True
            code.append((number, line))
        else:
            indented = False
            prose.append((number, line))
        previous_blank = not line.strip()
    return prose, code


def joined_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Shell lines ending in a backslash joined with the next, numbered by their first line."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in lines:
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line.strip()
        if line.rstrip().endswith("\\"):
            pending = (number, line.rstrip()[:-1])
            continue
        pending = None
        out.append((number, line))
    if pending is not None:
        out.append(pending)
    return out


def code_spans(prose: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Inline code spans of the prose, numbered by the line they start on; a span may run over a
    line break inside its paragraph, and a table cell writes `|` as `\\|`."""
    text = "\n".join(line for _, line in prose)
    starts = [number for number, _ in prose]
    offsets, position = [], 0
    for _, line in prose:
        offsets.append(position)
        position += len(line) + 1
    spans = []
    for match in CODE_SPAN.finditer(text):
        index = max(i for i, offset in enumerate(offsets) if offset <= match.start())
        spans.append((starts[index], match.group(2).replace("\n", " ").replace("\\|", "|").strip()))
    return spans


def commands(path: Path) -> list[tuple[int, str]]:
    """Every piece of code on a page that may be a command line: code lines and inline spans."""
    prose, code = split_code_blocks(path.read_text(encoding="utf-8"))
    return joined_continuations(code) + code_spans(prose)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercase, punctuation but `-` and `_` dropped,
    spaces as `-` (a link in a heading counts by its text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    prose, _ = split_code_blocks(path.read_text(encoding="utf-8"))
    for _, line in prose:
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeated headings
    return frozenset(out)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every markdown link outside code."""
    prose, _ = split_code_blocks(path.read_text(encoding="utf-8"))
    found = []
    for number, line in prose:
        without_code = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        found.extend((number, m.group(1)) for m in LINK.finditer(without_code))
    return found


# -- commands and the tasks they run -------------------------------------------------------------


@cache
def pixi_task_modules() -> dict[str, str | None]:
    """pixi task name -> the tasks module its cmd runs (None: pytest, a shell script, a benchmark)."""
    out = {}
    for name, task in all_tasks(load_manifest()).items():
        match = TASK_CMD.match(task.get("cmd", ""))
        out[name] = match.group(1) if match else None
    return out


def tokens_of(segment: str) -> list[str]:
    try:
        return shlex.split(segment)
    except ValueError:  # an apostrophe in an error line quoted on a page
        return segment.split()


def invocation(tokens: list[str]) -> tuple[str, str | None, list[str]] | None:
    """(what the line runs, its tasks module or None, the tokens after it), or None for a line
    that runs nothing of this project."""
    for i, token in enumerate(tokens):
        if token == "pixi" and tokens[i + 1:i + 2] == ["run"]:
            rest = tokens[i + 2:]
            if rest[:1] in (["-e"], ["--environment"]):
                rest = rest[2:]
            if rest and rest[0] != "python":  # `pixi run python -m ...` is read as python below
                return f"pixi run {rest[0]}", pixi_task_modules().get(rest[0]), rest[1:]
        elif PYTHON.search(token) and tokens[i + 1:i + 2] == ["-m"] and len(tokens) > i + 2:
            module = tokens[i + 2]
            if module.startswith("tasks."):
                return f"python -m {module}", module, tokens[i + 3:]
        elif SBATCH.match(token):
            return token, "tasks.train", tokens[i + 1:]
    return None


def flags(tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        token = token.strip("[](),.")
        if token.startswith("--") and len(token) > 2 and token[2] != "-":
            out.append(token.split("=", 1)[0])
    return out


def segments(command: str) -> list[str]:
    """A command line cut at pipes, `&&`, `;` and a shell comment: each piece runs one program."""
    return [piece for piece in SEPARATORS.split(COMMENT.sub("", command)) if piece.strip()]


def task_options(path: Path) -> list[tuple[int, str, str | None, str]]:
    """(line, what runs, tasks module or None, --flag) for every flag given to a task on a page;
    a task with no flags on its line still appears once, with flag ''."""
    found = []
    for number, command in commands(path):
        for segment in segments(command):
            run = invocation(tokens_of(segment))
            if run is None:
                continue
            what, module, rest = run
            found.extend((number, what, module, flag) for flag in flags(rest) or [""])
    return found


@cache
def help_text(module: str) -> str:
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), (
        f"`python -m {module} --help` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout


def takes(module: str, flag: str) -> bool:
    text = help_text(module)
    if "." in flag:  # pass-through options: --trainer.NAME=VALUE and the like, named by their prefix
        return flag.split(".", 1)[0] + "." in text
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


# -- the tests -----------------------------------------------------------------------------------


def test_readme_is_a_short_front_page_that_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES, f"README.md has {len(text.splitlines())} lines"
    linked = {(README.parent / target.split("#", 1)[0]).resolve() for _, target in links(README)}
    docs = sorted(DOCS.glob("*.md"))
    assert docs, "docs/ holds no pages"
    missing = [shown(page) for page in docs if page.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in pages():
        for number, target in links(page):
            if EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            destination = (page.parent / file_part).resolve() if file_part else page
            if not destination.exists():
                broken.append(f"{shown(page)}:{number}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{shown(page)}:{number}: {target} (no heading #{anchor} in {destination.name})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_pixi_run_names_a_task_of_pixi_toml():
    unknown = [f"{shown(page)}:{number}: `{what}`" for page in pages()
               for number, what, _, _ in task_options(page)
               if what.startswith("pixi run ") and what.removeprefix("pixi run ") not in pixi_task_modules()]
    assert not unknown, "no such pixi task:\n" + "\n".join(unknown)


def test_every_option_on_a_command_line_is_one_its_task_takes():
    checked, wrong = 0, []
    for page in pages():
        for number, what, module, flag in task_options(page):
            if module is None or not flag:  # pytest, shell scripts, benchmarks: not our options
                continue
            checked += 1
            if not (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file():
                wrong.append(f"{shown(page)}:{number}: `{what}` runs {module}, which does not exist")
            elif not takes(module, flag):
                wrong.append(f"{shown(page)}:{number}: `{what}` is given {flag}, which "
                             f"`python -m {module} --help` does not list")
    assert not wrong, "options the tasks do not take:\n" + "\n".join(wrong)
    assert checked > 20, f"only {checked} options found on command lines: the parser reads nothing"


def test_the_command_reader_reads_lines_as_pages_write_them(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Run `pixi run -e cuda12 train --dataset DIR --resume` or `python -m tasks.evaluate\n"
        "--voice V.onnx`; a lone `--quiet` is prose.\n\n"
        "```bash\n"
        "docker run --rm image \\\n"
        "  python -m tasks.train --output /o | tee log && pixi run test -m 'not slow'  # --nope\n"
        "```\n\n"
        "    sbatch tasks/slurm/train.sbatch --max-epochs 3\n", encoding="utf-8")
    found = {(what, flag) for _, what, _, flag in task_options(page)}
    assert found == {("pixi run train", "--dataset"), ("pixi run train", "--resume"),
                     ("python -m tasks.evaluate", "--voice"), ("python -m tasks.train", "--output"),
                     ("pixi run test", ""), ("tasks/slurm/train.sbatch", "--max-epochs")}, found
    assert not takes("tasks.train", "--made-up-option") and takes("tasks.train", "--trainer.max_epochs")


def test_slug_follows_github():
    assert slug("How close is the voice to its speaker: `pixi run evaluate`") == (
        "how-close-is-the-voice-to-its-speaker-pixi-run-evaluate")
    assert slug("Watching a run: listen, keep the best, stop in time") == (
        "watching-a-run-listen-keep-the-best-stop-in-time")
