"""The bundled sample dataset: its sentences and how espeak-ng + sox turn them into clips.

Kept apart from ``utils.voice.data.dataset`` because only ``tasks.make_sample`` needs the external tools;
training and validation never call espeak-ng (piper's wheel bundles its own phonemizer).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Written for this project. Short (about 2 s each) so the whole set stays under 3 MB, and varied
# enough in sounds that a few training steps meet most English phonemes.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back after lunch.",
    "The river runs quietly past the old mill.",
    "She bought three yellow pears at the market.",
    "A cold wind blew across the harbour.",
    "We measured every step of the journey.",
    "His violin sounded warm and bright.",
    "The children laughed at the silly puppet.",
    "Turn left at the church, then go straight on.",
    "Fresh bread smells wonderful in the morning.",
    "The judge asked for a short recess.",
    "Thunder rolled over the distant hills.",
    "My neighbour fixes bicycles on weekends.",
    "Could you pass the salt and pepper?",
    "The train to Leeds leaves at noon.",
    "Zebras graze near the water at dusk.",
    "This pleasure is entirely mine.",
    "Light travels faster than sound.",
    "They shared a thick slice of cheese.",
    "An owl watched from the oak tree.",
    "Keep your voice calm and steady.",
    "The engine hummed through the long night.",
    "Gentle waves washed the pebbles smooth.",
    "Who left these muddy boots by the door?",
    "Four joyful choirs sang in unison.",
    "The garage was full of empty boxes.",
    "Measure twice and cut once.",
    "Yesterday the sky was a vivid blue.",
)
VOICE = "en-us"
SPEED_WPM = "165"
RATE = 22050
PAD_S = "0.15"  # silence kept at each end after trimming; piper's VAD trims further


class SampleToolsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class GeneratedSample:
    clips: int
    total_seconds: float
    total_bytes: int
    tools: str


def _find_tools() -> tuple[str, str]:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    missing = [name for name, found in (("espeak-ng", espeak), ("sox", sox)) if not found]
    if missing:
        raise SampleToolsMissing(
            f"{' and '.join(missing)} not found on PATH. Install them: `sudo apt-get install espeak-ng sox` "
            "(Debian/Ubuntu) or `brew install espeak-ng sox` (macOS). The bundled data/sample is already "
            "in the repository; regenerating it is optional.")
    assert espeak and sox
    return espeak, sox


def _version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip().splitlines()
    if not text:
        return "unknown"
    # "eSpeak NG text-to-speech: 1.51  Data at: /usr/..." and "/usr/bin/sox:   SoX v14.4.2"
    return " ".join(text[0].split("Data at:")[0].split(":")[-2:] if "Data at" in text[0]
                    else text[0].split(":")[-1:]).strip()


def generate_sample(output: Path, progress: bool = False) -> GeneratedSample:
    """Write ``metadata.csv``, ``wavs/`` and ``README.md`` to ``output``, replacing it whole.

    Built in a sibling temporary folder and swapped in at the end, so a failure leaves the old
    sample untouched.
    """
    import soundfile as sf

    espeak, sox = _find_tools()
    tools = f"{_version([espeak, '--version'])}; {_version([sox, '--version'])}"
    output = Path(output).absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    build.chmod(0o777 & ~umask)  # mkdtemp makes it private; the sample is an ordinary folder
    try:
        wavs = build / "wavs"
        wavs.mkdir()
        rows, total_frames = [], 0
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        for index, text in enumerate(SENTENCES, start=1):
            clip_id = f"sample_{index:03d}"
            raw = build / f"{clip_id}.raw.wav"
            subprocess.run([espeak, "-v", VOICE, "-s", SPEED_WPM, "-w", str(raw), text],
                           check=True, capture_output=True, env=env)
            # -R: repeatable; -D: no dither, so the same input always gives the same bytes.
            # silence/reverse/silence trims both ends; pad keeps a natural breath of silence.
            subprocess.run([sox, "-R", "-D", str(raw), "-r", str(RATE), "-c", "1", "-b", "16",
                            str(wavs / f"{clip_id}.wav"),
                            "silence", "1", "0.02", "0.5%", "reverse",
                            "silence", "1", "0.02", "0.5%", "reverse",
                            "pad", PAD_S, PAD_S, "norm", "-1"],
                           check=True, capture_output=True, env=env)
            raw.unlink()
            total_frames += sf.info(str(wavs / f"{clip_id}.wav")).frames
            rows.append(f"{clip_id}|{text}")
            if progress:
                print(f"\r[{index}/{len(SENTENCES)}] {clip_id}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        (build / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (build / "README.md").write_text(
            "# Sample dataset\n\n"
            f"{len(SENTENCES)} English sentences written for coaxial-train, spoken by espeak-ng "
            f"(voice {VOICE}, {SPEED_WPM} wpm), trimmed and normalised with sox to {RATE} Hz mono "
            "16-bit. Piper layout: `metadata.csv` rows `id|text`, audio in `wavs/`.\n\n"
            f"Generated by `pixi run make-sample` with: {tools}.\n", encoding="utf-8")
        total_bytes = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
        old = None
        if output.exists():
            old = output.parent / f".{output.name}.old-{os.getpid()}"
            os.replace(output, old)
        os.replace(build, output)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return GeneratedSample(len(SENTENCES), total_frames / RATE, total_bytes, tools)


def compare_trees(a: Path, b: Path) -> list[str]:
    """Relative paths whose bytes differ between two folders (missing on either side included)."""
    files_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()} if b.is_dir() else set()
    out = []
    for rel in sorted(files_a | files_b):
        if rel not in files_a or rel not in files_b:
            out.append(f"{rel}: only in {'fresh' if rel in files_a else 'existing'} copy")
        elif (a / rel).read_bytes() != (b / rel).read_bytes():
            out.append(f"{rel}: content differs")
    return out
