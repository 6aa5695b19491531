"""int8 emotion models keep their weights in 7 bits, so that CPUs without VNNI (AVX2 only) read them as others do."""
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training pipeline needs PyTorch (training/requirements-training.txt)")
onnx = pytest.importorskip("onnx")

SHIPPED = Path(__file__).resolve().parents[2] / "engagement" / "engines" / "models" / "emotion_fer2013.onnx"


def weight_ranges(path) -> list[int]:
    """The largest |value| of every int8 weight tensor (the initializers that Conv/Gemm layers dequantize)."""
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    return [int(np.abs(inits[n.input[0]].astype(np.int16)).max()) for n in proto.graph.node
            if n.op_type == "DequantizeLinear" and inits.get(n.input[0], np.zeros(0)).dtype == np.int8]


def kernels_run(path, faces, folder) -> set[str]:
    """The ONNX Runtime kernels one run of the file goes through (from its profiler, which writes into `folder`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(folder) / "profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, {session.get_inputs()[0].name: faces})
    events = json.loads(Path(session.end_profiling()).read_text())
    return {e["args"]["op_name"] for e in events if e.get("cat") == "Node" and "op_name" in e.get("args", {})}


def run(path, faces) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: faces})[0]


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    """A small EmotionNet (random weights, fixed seed) as float ONNX, and faces to calibrate and run it on."""
    from PIL import Image
    from skimage import data

    from training.model import EmotionNet
    from training.train import export_onnx

    torch.manual_seed(0)
    model = EmotionNet((8, 16, 16, 16), hidden=16)
    model.eval()
    directory = tmp_path_factory.mktemp("quantize")
    export_onnx(model, directory / "float.onnx")
    faces = (np.asarray(data.lfw_subset()[:60]) * 255).astype(np.uint8)
    faces = np.stack([np.asarray(Image.fromarray(f).resize((48, 48))) for f in faces])
    return directory, faces


def test_quantize_writes_seven_bit_weights_that_run_as_int8_kernels(networks):
    from training.quantize import quantize

    directory, faces = networks
    quantize(directory / "float.onnx", directory / "int8.onnx", faces[:40])
    assert max(weight_ranges(directory / "int8.onnx")) <= 64
    batch = faces[40:].astype(np.float32)[:, None]
    kernels = kernels_run(directory / "int8.onnx", batch, directory)
    assert "QLinearConv" in kernels and "Conv" not in kernels
    np.testing.assert_allclose(run(directory / "int8.onnx", batch), run(directory / "float.onnx", batch), atol=0.15)


def test_an_eight_bit_file_is_requantized_to_seven_bits_and_stays_fused(networks):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from training.quantize import weights_to_seven_bits

    directory, faces = networks

    class Faces(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{"faces": faces[i:i + 1].astype(np.float32)[:, None]} for i in range(40)])

        def get_next(self):
            return next(self._batches, None)

    # The way the shipped file was made before: 8-bit weights.
    quant_pre_process(str(directory / "float.onnx"), str(directory / "prepared.onnx"))
    quantize_static(str(directory / "prepared.onnx"), str(directory / "eight.onnx"), Faces(),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    assert max(weight_ranges(directory / "eight.onnx")) == 127
    changed = weights_to_seven_bits(directory / "eight.onnx", directory / "seven.onnx")
    assert changed == 10  # eight convolutions and two dense layers
    assert max(weight_ranges(directory / "seven.onnx")) <= 64
    batch = faces[40:].astype(np.float32)[:, None]
    # Each layer's bias follows its weights' scale: otherwise ONNX Runtime runs the layer in float (3x slower).
    kernels = kernels_run(directory / "seven.onnx", batch, directory)
    assert "QLinearConv" in kernels and "Conv" not in kernels
    np.testing.assert_allclose(run(directory / "seven.onnx", batch), run(directory / "float.onnx", batch), atol=0.15)
    # A file already in 7 bits is left as it is.
    assert weights_to_seven_bits(directory / "seven.onnx", directory / "again.onnx") == 0


def test_the_shipped_emotion_model_keeps_seven_bit_weights_and_int8_kernels(tmp_path):
    assert max(weight_ranges(SHIPPED)) <= 64
    kernels = kernels_run(SHIPPED, np.full((1, 1, 48, 48), 128, np.float32), tmp_path)
    assert "QLinearConv" in kernels and "Conv" not in kernels


def test_an_initializer_two_dequantizations_read_is_refused_not_half_converted(networks):
    """Halving int8 values that two DequantizeLinear nodes read would leave one with the old scale: refused."""
    from onnx import helper, numpy_helper

    from training.quantize import weights_to_seven_bits

    directory, _ = networks
    weights = numpy_helper.from_array(np.full((2, 2), 100, np.int8), "w")
    scales = [numpy_helper.from_array(np.array(0.01, np.float32), name) for name in ("s1", "s2")]
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["w", "s1"], ["w1"], name="dq1"),
         helper.make_node("DequantizeLinear", ["w", "s2"], ["w2"], name="dq2"),
         helper.make_node("MatMul", ["x", "w1"], ["y1"], name="first"),
         helper.make_node("MatMul", ["y1", "w2"], ["y2"], name="second")],
        "shared", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y2", onnx.TensorProto.FLOAT, [1, 2])], [weights, *scales])
    onnx.save(helper.make_model(graph), str(directory / "shared.onnx"))
    with pytest.raises(SystemExit, match="shared"):
        weights_to_seven_bits(directory / "shared.onnx", directory / "shared7.onnx")
