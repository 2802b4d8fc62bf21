"""A Piper voice's inference graph: writing one from piper's network, and telling which of a graph's
tensors is which parameter of that network.

``write_inference_graph`` is the export every voice of this project ships (``utils.voice.publish.export``
adds the atomic write); it also makes the reference a graph without module paths is read against.
The mapping rules are ``utils.voice.base.onnx_voice``'s (its docstring says which exporters wrote
what); this module only reads the graph: float initializers, who consumes them, in which order.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

OPSET = 15  # piper.train.export_onnx's opset: what piper's runtime is tested with
DUMMY_PHONEMES = 50  # longer than the attention window (4) + 1, so relative-position padding is traced
# Which input of a node holds which parameter of its module.
WEIGHT_SLOTS = {"Conv": {1: "weight", 2: "bias"}, "ConvTranspose": {1: "weight", 2: "bias"},
                "Gather": {0: "weight"}}
FOLDED_EXP = re.compile(r"^/(?P<path>.+)/Exp_output_0$")
# How a placed tensor holds its parameter: as it is, or an ElementwiseAffine ``logs`` folded by the
# exporter into exp(-logs) (torch 2.0) or -logs (torch 2.13).
AS_IS, EXP_OF_MINUS, MINUS = "as is", "exp(-logs)", "-logs"


def write_inference_graph(model, path: Path) -> None:
    """The generator of a piper ``VitsModel`` as piper's inference graph (TorchScript exporter), at ``path``.

    Mutates ``model`` (weight norm is folded into the decoder weights, as piper's exporter
    does): call it once training is over.
    """
    import torch

    from utils.machine import piper_compat

    generator = model.model_g.to("cpu").float().eval()
    with torch.no_grad():
        generator.dec.remove_weight_norm()

    def infer_forward(text, text_lengths, scales, sid=None):
        audio = generator.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                                noise_scale_w=scales[2], sid=sid)[0]
        return audio.unsqueeze(1)

    generator.forward = infer_forward
    torch.manual_seed(1234)
    text = torch.randint(low=0, high=generator.n_vocab, size=(1, DUMMY_PHONEMES), dtype=torch.long)
    lengths = torch.LongTensor([DUMMY_PHONEMES])
    # A short length scale keeps the traced example's audio short: the trace runs the decoder once
    # for real, and an untrained duration predictor can ask for many seconds. Scales are an input,
    # so the exported graph does not keep this value.
    scales = torch.FloatTensor([0.667, 0.1, 0.8])
    sid = torch.LongTensor([0]) if generator.n_speakers > 1 else None

    with torch.no_grad():
        torch.onnx.export(
            model=generator, args=(text, lengths, scales, sid), f=str(path), verbose=False,
            opset_version=OPSET, input_names=["input", "input_lengths", "scales", "sid"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                          "output": {0: "batch_size", 2: "time"}},
            **piper_compat.onnx_export_kwargs(),
        )


class Graph:
    """The parts of an ONNX graph the mapping reads: float initializers and who consumes them."""

    def __init__(self, model):
        import numpy as np
        from onnx import numpy_helper

        self.tensors: dict[str, Any] = {}
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init)
            if np.issubdtype(array.dtype, np.floating):
                self.tensors[init.name] = array
        self.uses: dict[str, list[tuple[str, str, int]]] = {}
        # Float initializers of more than one number in the order nodes first use them (exporters
        # differ in which scalar constants they keep; no weight of the network is a scalar).
        self.order: list[str] = []
        for node in model.graph.node:
            for slot, name in enumerate(node.input):
                if name in self.tensors:
                    if name not in self.uses and self.tensors[name].size > 1:
                        self.order.append(name)
                    self.uses.setdefault(name, []).append((node.name, node.op_type, slot))


def _module_path(node_name: str) -> str | None:
    """``/flow/flows.6/enc/in_layers.0/Conv`` -> ``flow.flows.6.enc.in_layers.0``."""
    if not node_name.startswith("/"):
        return None
    parts = node_name.strip("/").split("/")[:-1]
    return ".".join(parts) if parts else None


def _place(graph: Graph, wanted: dict[str, tuple]) -> dict[str, tuple[str, str]]:
    """Initializer name -> (parameter name, how it holds it) for every tensor the graph's names or
    its nodes' module paths place."""
    placed: dict[str, tuple[str, str]] = {}
    for name in graph.tensors:
        if name in wanted:
            placed[name] = (name, AS_IS)
            continue
        folded = FOLDED_EXP.match(name)
        if folded:
            logs = folded["path"].replace("/", ".") + ".logs"
            if logs in wanted:
                placed[name] = (logs, EXP_OF_MINUS)
            continue
        for node_name, op_type, slot in graph.uses.get(name, []):
            path, attr = _module_path(node_name), WEIGHT_SLOTS.get(op_type, {}).get(slot)
            if path and attr and f"{path}.{attr}" in wanted:
                placed[name] = (f"{path}.{attr}", AS_IS)
                break
            if path and op_type == "Exp" and f"{path}.logs" in wanted:
                placed[name] = (f"{path}.logs", MINUS)
                break
    return placed


def _value(array, held: str):
    """The parameter's value from the tensor that holds it (None: an exp() that is not positive)."""
    import numpy as np

    if held == MINUS:
        return -array
    if held == EXP_OF_MINUS:
        return -np.log(array) if np.all(array > 0) else None
    return array


def _keep_fitting(found: dict[str, Any], wanted: dict[str, tuple]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if v is not None and tuple(v.shape) == wanted[k]}


def map_by_module_paths(graph: Graph, wanted: dict[str, tuple]) -> dict[str, Any]:
    """Parameter name -> array for every tensor placed by its name or its consumer's module path."""
    found = {key: _value(graph.tensors[name], held) for name, (key, held) in _place(graph, wanted).items()}
    return _keep_fitting(found, wanted)


def map_by_order(graph: Graph, reference: Graph, wanted: dict[str, tuple]) -> dict[str, Any] | None:
    """For a graph without module paths: its weights in use order against a reference export's,
    whose names are known. None unless every position agrees in shape."""
    if len(graph.order) != len(reference.order):
        return None
    placed = _place(reference, wanted)
    found: dict[str, Any] = {}
    for mine, theirs in zip(graph.order, reference.order, strict=True):
        if graph.tensors[mine].shape != reference.tensors[theirs].shape:
            return None
        if theirs in placed:
            key, held = placed[theirs]
            found[key] = _value(graph.tensors[mine], held)
    return _keep_fitting(found, wanted)


def reference_graph(model) -> Graph:
    """An export of the same network made here, whose node names carry module paths. Its weights are
    jittered first: a fresh model has many equal tensors (layer norms of ones, zeroed projections),
    and the exporter stores equal tensors once, which a trained voice's graph never does. Mutates
    ``model``: give it a fresh one."""
    import onnx
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.model_g.parameters():
            param.add_(torch.rand(param.shape, generator=generator) * 1e-3 + 1e-4)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "reference.onnx"
        write_inference_graph(model, target)
        return Graph(onnx.load(str(target)))
