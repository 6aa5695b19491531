"""Quantizes the exported float model to int8 (ONNX Runtime static QDQ, per-channel), calibrated on Training faces.

int8 runs about 3x faster on a CPU core; `training.evaluate` on both files shows whether accuracy holds.
Weights take 7 bits (-64..64): on x86 CPUs without VNNI (AVX2 only), ONNX Runtime multiplies uint8 activations by
int8 weights with an instruction that saturates pairs of products at 16 bits, and 8-bit weights overflow it (the
model then reads about 2 points lower on those CPUs than on others).
Usage: python -m training.quantize --model FLOAT.onnx --out INT8.onnx [--data DIR] [--faces N]
       python -m training.quantize --seven-bit INT8.onnx --out INT8_7BIT.onnx  (an int8 file made with 8-bit weights)
"""
import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from .data import DEFAULT_DIR, load_npz


def quantize(model: Path, out: Path, faces: np.ndarray) -> None:
    """Write an int8 copy of `model`, with activation ranges calibrated on `faces` (uint8, N x 48 x 48)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Faces(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{"faces": faces[i:i + 1].astype(np.float32)[:, None]} for i in range(len(faces))])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared))  # folds batch norms, infers shapes
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(prepared), str(out), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
                        # The heavy layers only: an ensemble's softmax, mean and log stay float, so its output
                        # keeps fine probabilities instead of steps of one uint8 level.
                        op_types_to_quantize=["Conv", "Gemm", "MatMul", "MaxPool", "Relu", "Flatten", "Slice"])
    copy_metadata(model, out)


SEVEN_BITS = 64  # reduce_range's weight range, -64..64: two products of a uint8 and such a weight fit in int16


def weights_to_seven_bits(source: Path, out: Path) -> int:
    """Copy a QDQ int8 file with its 8-bit weights requantized to 7 bits (values halved, scales doubled).

    A layer's int32 bias is kept at the scale of input times weight, as ONNX Runtime requires to fuse the layer
    into one int8 kernel. Activations' ranges, the graph and its metadata stay as they are. Returns how many layers
    changed.
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(source))
    inits = {i.name: i for i in proto.graph.initializer}
    dequantized = {n.output[0]: n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}

    def array(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    # Decide on the file as it is, before anything changes: the layers whose int8 weights need more than 7 bits.
    layers = [layer for layer in proto.graph.node if layer.op_type in ("Conv", "Gemm", "MatMul")
              and layer.input[1] in dequantized and array(dequantized[layer.input[1]].input[0]).dtype == np.int8
              and np.abs(array(dequantized[layer.input[1]].input[0]).astype(np.int16)).max() > SEVEN_BITS]
    nodes = {}  # the DequantizeLinear nodes to halve (weights, and the int32 biases whose scale follows them)
    for layer in layers:
        nodes[dequantized[layer.input[1]].name] = dequantized[layer.input[1]]
        if len(layer.input) > 2 and layer.input[2] in dequantized:
            nodes[dequantized[layer.input[2]].name] = dequantized[layer.input[2]]
    # A value or scale that another node reads too would change under it: refuse rather than guess.
    halved = [name for node in nodes.values() for name in node.input[:2]]
    readers = Counter(name for node in proto.graph.node for name in node.input if name in set(halved))
    if len(set(halved)) != len(halved) or any(readers[name] > 1 for name in halved):
        raise SystemExit("weights, biases or scales shared between layers: quantize the float file again instead")
    for node in nodes.values():
        values, scale = array(node.input[0]), array(node.input[1])
        if len(node.input) > 2 and node.input[2] and np.any(array(node.input[2]) != 0):
            raise SystemExit(f"{node.input[0]} has a zero point (not symmetric): quantize the float file again")
        limit = SEVEN_BITS if values.dtype == np.int8 else np.iinfo(values.dtype).max
        rounded = np.clip(np.round(values.astype(np.float64) / 2), -limit, limit).astype(values.dtype)
        inits[node.input[0]].CopyFrom(numpy_helper.from_array(rounded, node.input[0]))
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((scale * 2).astype(scale.dtype), node.input[1]))
    # What ONNX Runtime needs to fuse each layer into one int8 kernel: bias scale = input scale x weight scale.
    for layer in layers:
        weights = dequantized[layer.input[1]]
        assert np.abs(array(weights.input[0]).astype(np.int16)).max() <= SEVEN_BITS
        if len(layer.input) > 2 and layer.input[2] in dequantized and layer.input[0] in dequantized:
            expected = array(dequantized[layer.input[0]].input[1]) * array(weights.input[1])
            assert np.allclose(array(dequantized[layer.input[2]].input[1]), expected, rtol=1e-5), layer.name
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return len(layers)


def copy_metadata(source: Path, target: Path) -> None:
    """Carry the float model's metadata (such as mirror_averaged) over to its int8 copy."""
    import onnx

    add_metadata(target, {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props})


def add_metadata(path: Path, items: dict) -> None:
    """Add key/value pairs to an ONNX file's metadata (a key it already has keeps its value)."""
    import onnx

    proto = onnx.load(str(path))
    have = {p.key for p in proto.metadata_props}
    for key, value in items.items():
        if key not in have:
            proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def main(argv=None) -> None:
    """Calibrate on a fixed sample of the Training split (never validation data) and quantize."""
    ap = argparse.ArgumentParser(description=__doc__)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="float ONNX file to quantize")
    source.add_argument("--seven-bit", type=Path, help="int8 QDQ file whose 8-bit weights are requantized to 7 bits")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR, help="folder with train.npz")
    ap.add_argument("--faces", type=int, default=1000, help="Training faces used for calibration (default 1000)")
    args = ap.parse_args(argv)
    if args.seven_bit:
        changed = weights_to_seven_bits(args.seven_bit, args.out)
        print(f"wrote {args.out}: the weights of {changed} layers requantized to 7 bits")
        return
    faces, _ = load_npz(args.data / "train.npz", args.faces)
    quantize(args.model, args.out, faces)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), calibrated on {len(faces)} Training faces")


if __name__ == "__main__":
    main()
