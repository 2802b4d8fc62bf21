"""A published Piper voice (``<voice>.onnx`` + ``.onnx.json``) read back into piper's network.

Most Piper voices were published as ONNX only. The inference graph still holds every weight that
speaks: the text encoder (``enc_p``), the inference part of the stochastic duration predictor
(``dp``), the flow and the decoder (``dec``), plus ``emb_g`` for several speakers. What it lacks is
what only training uses: the posterior encoder ``enc_q``, the duration predictor's posterior flows
(``dp.post_*``) and its second flow (``dp.flows.1``, which VITS's inference skips as "useless
vflow"), and both discriminators. Those start fresh.

How a graph's tensors find their parameters, in this order (seen in joe's graph, piper's exporter
on torch 2.0, and in this project's exports on torch 2.13):

- an initializer named like the parameter (``enc_p.encoder.attn_layers.0.conv_q.weight``);
- an initializer consumed by a node whose name is the module's path (``/flow/flows.6/enc/
  in_layers.0/Conv`` -> ``flow.flows.6.enc.in_layers.0``; input 1 of a Conv is its ``weight``,
  input 2 its ``bias``; input 0 of a Gather is an embedding's ``weight``). Weight-normed layers were
  folded at export: the plain weight goes back as direction ``weight_v`` = W and magnitude
  ``weight_g`` = its norm over every dim but the first;
- the one folded constant: an ElementwiseAffine flow keeps ``logs`` only as
  ``/<path>/Exp_output_0`` = exp(-logs) (torch 2.0), or as ``-logs`` fed to ``/<path>/Exp`` (2.13);
- a graph with no module paths (older exporters): by order, against an export of the same network
  made here. The graph's weights, in the order its nodes first use them, must match the reference
  export's one for one in shape.

Anything the inference needs that stays unmapped is refused (``OnnxVoiceError``, exit 2); never a
silent partial load. And a complete mapping is proven before it is used: the restored network and
the graph itself (onnxruntime) speak one phoneme sequence at noise scales 0 and must agree
(``check_restore``), so a weight placed by shape in the wrong slot is refused too.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import BadInput
from utils.voice.base.inference_graph import Graph, map_by_module_paths, map_by_order, reference_graph

# Generator parameters that the inference graph cannot hold (training only), by name prefix.
TRAINING_ONLY = ("enc_q.", "dp.post_", "dp.flows.1.")
FRESH_PARTS = {
    "enc_q.": "posterior encoder (enc_q)",
    "dp.post_": "duration predictor's posterior flows (dp.post_*)",
    "dp.flows.1.": "duration predictor's second flow (dp.flows.1, unused at inference)",
}
# Rates piper trains at; 44.1 kHz training fails upstream.
SAMPLE_RATES = (16000, 22050)
ONNX_MAGIC_HINT = "an ONNX model (.onnx) of a Piper voice"


# Batches a fine-tune from a voice trains its fresh parts alone, the restored ones held still
# (--warmup-batches overrides), and the fraction of piper's generator learning rate after them
# (--finetune-lr-scale). Measured (benchmarks/bench_onnx_base.py, results in
# benchmarks/results/issue-33-onnx-base.md; 58 clips, batch 4): 25 batches after the warm-up the
# duration error was 0.26 without one, 0.21 after 45 and 0.13 after 90 (joe's own: 0.01-0.03) at
# the same distance to the speaker (MCD 10.9-11.0 dB); piper's full rate wrecked the voice (WER 1.0).
DEFAULT_WARMUP_BATCHES = 90
DEFAULT_FINETUNE_LR_SCALE = 0.1


class OnnxVoiceError(BadInput):
    """The voice cannot become a checkpoint; the message names the file and the fix (exit 2)."""


@dataclass
class OnnxVoice:
    """A voice read back: the network to build and the generator weights the graph gave."""

    path: Path
    config_path: Path
    sha256: str
    config: dict
    model_kwargs: dict[str, Any]        # VitsModel arguments that rebuild the network
    architecture: str                   # x_low, medium or high
    quality: str                        # published label (low = medium network at 16 kHz)
    sample_rate: int
    num_speakers: int
    restored: list[str] = field(default_factory=list)   # parameter names restored from the graph
    fresh: dict[str, int] = field(default_factory=dict)  # fresh part -> parameter count
    mapped_by: str = "module paths"     # or "graph order"
    restored_numbers: int = 0
    check_snr_db: float = 0.0           # the restored network against the graph (check_restore)

    def provenance(self) -> dict:
        """What a checkpoint records about where its weights came from."""
        return {"file": self.path.name, "sha256": self.sha256, "config": self.config_path.name,
                "architecture": self.architecture, "quality": self.quality, "sample_rate": self.sample_rate,
                "num_speakers": self.num_speakers, "mapped_by": self.mapped_by,
                "restored": len(self.restored), "restored_numbers": self.restored_numbers,
                "check_snr_db": round(self.check_snr_db, 1) if math.isfinite(self.check_snr_db) else None,
                "fresh": dict(self.fresh)}

    def describe(self) -> str:
        speakers = f", {self.num_speakers} speakers" if self.num_speakers > 1 else ""
        return (f"{self.path.name}: {self.quality} voice ({self.architecture} network, {self.sample_rate} Hz"
                f"{speakers}), {len(self.restored)} tensors restored by {self.mapped_by}")


def is_onnx_voice(path: str | os.PathLike) -> bool:
    """A base named by an .onnx file is a voice, not a checkpoint."""
    return str(path).lower().endswith(".onnx")


def read_config(path: Path) -> tuple[Path, dict]:
    """The voice's ``.onnx.json`` beside it, parsed; refused with the fix when missing or broken."""
    config_path = path.with_name(path.name + ".json")
    if not config_path.is_file():
        raise OnnxVoiceError(f"{path}: no {config_path.name} beside it — a Piper voice is the .onnx and its "
                             ".onnx.json; download both and keep them in one folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxVoiceError(f"{config_path}: not readable JSON ({exc}) — download the voice's .onnx.json "
                             "again") from exc
    if not isinstance(config, dict) or not isinstance(config.get("phoneme_id_map"), dict):
        raise OnnxVoiceError(f"{config_path}: no phoneme_id_map — not a Piper voice config; use the .onnx.json "
                             "published with the voice")
    return config_path, config


def _load_graph(path: Path):
    import onnx
    from google.protobuf.message import DecodeError

    if not path.is_file():
        raise OnnxVoiceError(f"{path}: no such file — check the path")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise OnnxVoiceError(f"{path}: not a readable ONNX model ({type(exc).__name__}) — the file is damaged "
                             "or truncated; download the voice again") from exc
    inputs = {i.name for i in model.graph.input}
    if model.graph.node and not {"input", "input_lengths", "scales"} <= inputs:
        raise OnnxVoiceError(f"{path}: an ONNX model but not a Piper voice (its inputs are "
                             f"{', '.join(sorted(inputs)) or 'none'}; a Piper voice takes input, input_lengths, "
                             "scales) — give " + ONNX_MAGIC_HINT)
    if not model.graph.node or not model.graph.initializer:
        raise OnnxVoiceError(f"{path}: an empty ONNX graph — the file is damaged or truncated; download the "
                             "voice again")
    return model


def _tensor(graph: Graph, parameter: str, node: str, slot: int) -> Any:
    """The tensor named ``parameter``, or fed to input ``slot`` of the node named ``node``; None if neither."""
    return next((array for name, array in graph.tensors.items() if name == parameter
                 or (node, slot) in {(user, at) for user, _, at in graph.uses.get(name, [])}), None)


def _embedding(graph: Graph, path: Path) -> Any:
    """The phoneme embedding (n_symbols x hidden): fixes the vocabulary and the network's width."""
    emb = _tensor(graph, "enc_p.emb.weight", "/enc_p/emb/Gather", 0)
    if emb is not None:
        return emb
    gathers = [graph.tensors[n] for n in graph.order
               if any(op == "Gather" and slot == 0 for _, op, slot in graph.uses[n]) and graph.tensors[n].ndim == 2]
    if gathers:
        return gathers[0]
    raise OnnxVoiceError(f"{path}: no phoneme embedding in the graph — not a Piper (VITS) voice; give "
                         + ONNX_MAGIC_HINT)


def infer_network(graph: Graph, config: dict, path: Path, config_path: Path) -> tuple[str, dict]:
    """(architecture, VitsModel kwargs) from the graph's shapes, checked against the config."""
    from utils.voice.run_config import QUALITIES

    emb = _embedding(graph, path)
    symbols, hidden = int(emb.shape[0]), int(emb.shape[1])
    conv_pre = _tensor(graph, "dec.conv_pre.weight", "/dec/conv_pre/Conv", 1)
    if hidden == 96:
        architecture = "x_low"
    elif conv_pre is not None and int(conv_pre.shape[0]) == 512:
        architecture = "high"
    elif hidden == 192:
        architecture = "medium"
    else:
        raise OnnxVoiceError(f"{path}: a phoneme embedding {hidden} wide fits none of Piper's networks "
                             "(x_low 96, medium/high 192) — not a Piper voice this tool can rebuild")
    sample_rate = int((config.get("audio") or {}).get("sample_rate") or 0)
    if sample_rate not in SAMPLE_RATES:
        raise OnnxVoiceError(f"{config_path}: audio.sample_rate {sample_rate or 'missing'} — piper trains at "
                             f"{' or '.join(map(str, SAMPLE_RATES))} Hz; use the .onnx.json published with the voice")
    if architecture == "x_low" and sample_rate != 16000 or architecture == "high" and sample_rate != 22050:
        raise OnnxVoiceError(f"{config_path}: audio.sample_rate {sample_rate} does not match the graph "
                             f"({architecture} network, published at {16000 if architecture == 'x_low' else 22050} "
                             "Hz) — this config belongs to another voice; use the voice's own .onnx.json")
    if int(config.get("num_symbols", symbols)) != symbols:
        raise OnnxVoiceError(f"{config_path}: num_symbols {config['num_symbols']} but the graph's phoneme "
                             f"embedding has {symbols} rows — this config belongs to another voice; use the "
                             "voice's own .onnx.json")
    largest = max((max(ids) for ids in config["phoneme_id_map"].values() if ids), default=0)
    if largest >= symbols:
        raise OnnxVoiceError(f"{config_path}: phoneme_id_map uses id {largest}, the graph knows {symbols} "
                             "symbols — this config belongs to another voice; use the voice's own .onnx.json")
    speakers = int(config.get("num_speakers") or 1)
    emb_g = _tensor(graph, "emb_g.weight", "/emb_g/Gather", 0)
    graph_speakers = int(emb_g.shape[0]) if emb_g is not None else 1
    if speakers != graph_speakers:
        raise OnnxVoiceError(f"{config_path}: num_speakers {speakers} but the graph has {graph_speakers} — this "
                             "config belongs to another voice; use the voice's own .onnx.json")
    kwargs = {"num_symbols": symbols, "sample_rate": sample_rate, "num_speakers": speakers,
              **QUALITIES[architecture]["model"]}
    if emb_g is not None:
        kwargs["gin_channels"] = int(emb_g.shape[1])
    return architecture, kwargs


def build_generator_model(model_kwargs: dict, seed: int = 1234):
    """A VitsModel of the voice's network, freshly initialised (seeded: the fresh parts repeat)."""
    import torch

    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(seed)
    return VitsModel(mos_metric="none", **model_kwargs)


def inference_shapes(generator) -> dict[str, tuple]:
    """What the inference graph must give: every generator parameter but the training-only ones,
    with weight-normed layers as their folded ``weight``."""
    shapes: dict[str, tuple] = {}
    for name, tensor in generator.state_dict().items():
        if name.startswith(TRAINING_ONLY):
            continue
        if name.endswith(".weight_g"):
            continue
        if name.endswith(".weight_v"):
            name = name[: -len("_v")]
        shapes[name] = tuple(tensor.shape)
    return shapes


def restore_into(generator, found: dict[str, Any]) -> list[str]:
    """Copy the mapped arrays into the generator; weight norm split back into magnitude and direction."""
    import torch

    own = generator.state_dict()
    restored = []
    with torch.no_grad():
        for name, array in sorted(found.items()):
            value = torch.from_numpy(array.copy()).to(torch.float32)
            if name in own:
                own[name].copy_(value)
            else:  # a weight-normed layer: weight = g * v / |v|, norm over every dim but the first
                own[name + "_v"].copy_(value)
                dims = tuple(range(1, value.dim()))
                own[name + "_g"].copy_(value.norm(dim=dims, keepdim=True))
            restored.append(name)
    generator.load_state_dict(own)
    return restored


CHECK_MIN_SNR_DB = 40.0  # the restored network against the graph, same input, noise scales 0


def check_restore(path: Path, model, num_speakers: int, num_symbols: int) -> float:
    """Speak one fixed phoneme sequence with the graph (onnxruntime) and with the restored network, all
    noise scales 0, and return the SNR of the network's samples against the graph's (dB). Proves the
    mapping: a weight in the wrong place changes the audio, a complete restore reproduces it."""
    import numpy as np
    import onnxruntime
    import torch

    ids = [1] + [i for k in range(48) for i in (0, 14 + (7 * k) % min(num_symbols - 14, 120))] + [0, 2]
    text = np.array([ids], dtype=np.int64)
    feeds = {"input": text, "input_lengths": np.array([len(ids)], dtype=np.int64),
             "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
    sid = torch.LongTensor([0]) if num_speakers > 1 else None
    if sid is not None:
        feeds["sid"] = np.array([0], dtype=np.int64)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        expected = session.run(None, feeds)[0].reshape(-1).astype(np.float64)
    except Exception as exc:  # onnxruntime raises its own classes
        raise OnnxVoiceError(f"{path}: onnxruntime cannot run it ({type(exc).__name__}: {str(exc)[:200]}) — not a "
                             "working Piper voice; download the voice again") from exc
    generator = model.model_g
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        audio = generator.infer(torch.from_numpy(text), torch.LongTensor([len(ids)]), sid=sid, noise_scale=0.0,
                                length_scale=1.0, noise_scale_w=0.0)[0]
    generator.train(was_training)
    got = audio.reshape(-1).double().numpy()
    if got.size != expected.size or not expected.size:
        return float("-inf")
    noise = float(np.sum((expected - got) ** 2))
    return float("inf") if noise == 0 else float(10 * np.log10(float(np.sum(expected**2)) / noise))


def fresh_parts(generator_state: dict) -> dict[str, int]:
    parts = {label: sum(t.numel() for k, t in generator_state.items() if k.startswith(prefix))
             for prefix, label in FRESH_PARTS.items()}
    return {label: count for label, count in parts.items() if count}


def read_voice(path: str | os.PathLike, progress=None, seed: int = 1234) -> tuple[OnnxVoice, Any]:
    """Read a Piper voice into ``(OnnxVoice, VitsModel)``: the model has every inference weight restored
    and fresh training-only parts and discriminators. Refuses (OnnxVoiceError) any gap."""
    from utils.voice.base.published_checkpoint import quality_label

    say = progress or (lambda message: None)
    path = Path(path)
    config_path, config = read_config(path)
    model_proto = _load_graph(path)
    graph = Graph(model_proto)
    del model_proto
    architecture, kwargs = infer_network(graph, config, path, config_path)
    say(f"{path.name}: {architecture} network, {kwargs['sample_rate']} Hz, {kwargs['num_symbols']} symbols, "
        f"{kwargs['num_speakers']} speaker(s); mapping {len(graph.tensors)} graph tensors")
    model = build_generator_model(kwargs, seed)
    wanted = inference_shapes(model.model_g)
    found = map_by_module_paths(graph, wanted)
    mapped_by = "module paths"
    if len(found) < len(wanted):
        say(f"{len(wanted) - len(found)} weights not placed by name: matching the graph's order against a "
            "reference export of the same network")
        by_order = map_by_order(graph, reference_graph(build_generator_model(kwargs, seed=0)), wanted)
        if by_order is not None and len(by_order) > len(found):
            found, mapped_by = by_order, "graph order"
    missing = sorted(set(wanted) - set(found))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise OnnxVoiceError(f"{path}: {len(missing)} of {len(wanted)} inference weights not found in the graph "
                             f"({shown}) — not a Piper voice this tool can restore exactly; nothing was written")
    restored = restore_into(model.model_g, found)
    snr = check_restore(path, model, kwargs["num_speakers"], kwargs["num_symbols"])
    if not snr >= CHECK_MIN_SNR_DB:  # NaN too: weights holding NaN or infinity speak NaN
        raise OnnxVoiceError(f"{path}: every weight found a place by {mapped_by}, but the restored network does not "
                             f"speak as the graph does (SNR {snr:.1f} dB, needs {CHECK_MIN_SNR_DB:.0f}) — the graph's "
                             "layout is not one this tool can map; nothing was written")
    say(f"restored network checked against the graph: same samples at noise 0, SNR {snr:.1f} dB")
    with open(path, "rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    return OnnxVoice(path=path, config_path=config_path, sha256=sha256, config=config, model_kwargs=kwargs,
                     architecture=architecture, quality=quality_label(architecture, kwargs["sample_rate"]),
                     sample_rate=kwargs["sample_rate"], num_speakers=kwargs["num_speakers"], restored=restored,
                     fresh=fresh_parts(model.model_g.state_dict()), mapped_by=mapped_by,
                     restored_numbers=int(sum(array.size for array in found.values())), check_snr_db=snr), model


def voice_checkpoint(voice: OnnxVoice, model) -> dict:
    """A checkpoint in piper.train's shape (epoch 0, no optimizer state) that ``--finetune``,
    ``tasks.export`` and the safe loader read: plain tensors and containers only."""
    import lightning

    return {
        "epoch": 0, "global_step": 0, "pytorch-lightning_version": lightning.__version__,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "hyper_parameters": dict(voice.model_kwargs),
        "coaxial_onnx_voice": voice.provenance() | {"restored_names": list(voice.restored)},
        "coaxial_voice_config": json.dumps(voice.config),
    }


def as_base_checkpoint(voice: OnnxVoice, model):
    """The voice as a ``BaseCheckpoint``, as if read from the checkpoint tasks.voice_to_checkpoint writes."""
    from utils.voice.base.published_checkpoint import BaseCheckpoint

    return BaseCheckpoint(path=voice.path, architecture=voice.architecture, quality=voice.quality,
                          sample_rate=voice.sample_rate, num_speakers=voice.num_speakers,
                          model_kwargs=dict(voice.model_kwargs), state_dict=model.state_dict(),
                          voice_config=voice.config, onnx_source=voice.provenance())


def convert_voice(path: Path, output: Path, seed: int = 1234, progress=None) -> OnnxVoice:
    """Read the voice and write its checkpoint atomically (a crash leaves no partial file)."""
    import torch

    from utils.files import atomic_path

    voice, model = read_voice(path, progress=progress, seed=seed)
    checkpoint = voice_checkpoint(voice, model)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output, keep_name=True) as tmp:  # torch.save names its archive after the file
        torch.save(checkpoint, tmp)
    return voice
