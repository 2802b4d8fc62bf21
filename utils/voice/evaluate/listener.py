"""What a listener would say, predicted offline: DNSMOS's overall score (1 bad .. 5 excellent).

No recording is needed: the score rates speech on its own, so it says how a voice sounds even
where nothing of its speaker is at hand, and the same score on the recordings is the ceiling a
voice trained on them can hope for (a voice rarely sounds better than what it learned from).

The model is Microsoft's DNSMOS (P.835 head: signal, background, overall; and a P.808 head),
ONNX files inside the ``speechmos`` wheel (MIT), run with onnxruntime, which piper needs anyway.
Nothing is downloaded. It was chosen by measurement on our data
(``benchmarks/bench_listener_score.py``, results in ``benchmarks/results/issue-31-listener-score.md``):
its overall score rates every recording above the same recording with noise at 10 dB SNR, and
the published joe voice above the 10-batch demo voice; distillmos, the other offline candidate,
rated the noisy copies higher.

DNSMOS rates 9.01 s windows of 16 kHz audio. speechmos doubles a shorter clip until it is at least
that long and averages the windows one second apart, which for a 3 s clip means three windows of
the same repeated speech; here a shorter clip is repeated to exactly one window, so it runs once.

piper's own trainer logs ``val_mos`` with UTMOS, fetched through torch.hub at run time: without a
network it silently logs nothing. ``piper_mos_metric`` turns it on only when that model is
already on this machine, so nothing is downloaded during training.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

LISTENER_RATE = 16000            # the rate DNSMOS was trained on
WINDOW_SECONDS = 9.01            # DNSMOS's input length
LISTENER_MODEL = "DNSMOS overall (speechmos 0.0.1.1, offline)"
LOWEST = 1.0                     # the scale's floor: what a voice that says nothing gets

# piper.train's MOS model (piper/train/vits/mos.py): torch.hub repo and weights file it loads.
PIPER_MOS_REPO_DIR = "tarepan_SpeechMOS_v1.2.0"
PIPER_MOS_WEIGHTS = "utmos22_strong_step7459_v1.pt"


class ListenerScore:
    """DNSMOS loaded once (two ONNX sessions, about a second); ``score`` per clip."""

    def __init__(self):
        from speechmos import dnsmos

        models = Path(dnsmos.__file__).parent
        self._dnsmos = dnsmos.DNSMOS(str(models / "dnsmos_models" / "sig_bak_ovr.onnx"),
                                     str(models / "dnsmos_models" / "model_v8.onnx"))

    def scores(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        """DNSMOS's heads for one clip (mono float, -1..1): ``ovrl_mos``, ``sig_mos``, ``bak_mos``, ``p808_mos``."""
        audio = np.asarray(audio, dtype=np.float64).reshape(-1)
        if sample_rate != LISTENER_RATE:
            import soxr

            audio = soxr.resample(audio, sample_rate, LISTENER_RATE)
        if audio.size == 0 or not np.any(audio):
            return {"ovrl_mos": LOWEST, "sig_mos": LOWEST, "bak_mos": LOWEST, "p808_mos": LOWEST}
        window = int(WINDOW_SECONDS * LISTENER_RATE)
        if audio.size < window:
            audio = np.resize(audio, window)  # repeated, as DNSMOS repeats short clips, to one window
        found = self._dnsmos(np.clip(audio, -1.0, 1.0).astype(np.float32), LISTENER_RATE, False)
        return {key: float(found[key]) for key in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}

    def score(self, audio: np.ndarray, sample_rate: int) -> float:
        """The predicted overall listener score of one clip, 1 (bad) to 5 (excellent)."""
        return self.scores(audio, sample_rate)["ovrl_mos"]


def listener_missing() -> str | None:
    """Why the listener score cannot run here (the ``speechmos`` wheel is missing), or None."""
    if importlib.util.find_spec("speechmos") is None:
        return "the listener score needs the speechmos wheel (locked in pixi.toml): reinstall the environment"
    return None


def torch_hub_dir() -> Path:
    """torch.hub's folder as torch.hub.get_dir() works it out, without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "torch" / "hub"


def piper_mos_metric(hub_dir: Path | None = None) -> str:
    """"utmos" when piper's MOS model (repo, weights and torchaudio, which its hubconf asks for) is
    already on this machine, so torch.hub loads it from its cache; else "none": nothing downloads."""
    hub = hub_dir or torch_hub_dir()
    repo, weights = hub / PIPER_MOS_REPO_DIR / "hubconf.py", hub / "checkpoints" / PIPER_MOS_WEIGHTS
    present = repo.is_file() and weights.is_file()
    return "utmos" if present and importlib.util.find_spec("torchaudio") is not None else "none"
