"""The emotion model's training pipeline end to end on a tiny data set it writes itself (needs PyTorch)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the training pipeline needs PyTorch (training/requirements-training.txt)")


def write_split(path, faces, labels):
    """An npz in FER2013's layout: JPEG bytes one after another, offsets, labels, names."""
    blobs = []
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
    np.savez(path, jpeg=np.concatenate(blobs), offsets=offsets, labels=labels.astype(np.int8),
             names=np.array([f"face_{i}.jpg" for i in range(len(faces))]))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two hundred 48x48 faces from scikit-image's LFW subset, with labels that follow a mirrored brightness cue."""
    from skimage import data

    faces = (np.asarray(data.lfw_subset()[:200]) * 255).astype(np.uint8)
    faces = np.stack([np.asarray(Image.fromarray(f).resize((48, 48))) for f in faces])
    labels = np.arange(len(faces)) % 7
    directory = tmp_path_factory.mktemp("fer")
    write_split(directory / "train.npz", faces[:160], labels[:160])
    write_split(directory / "val.npz", faces[160:], labels[160:])
    return directory


def test_train_resume_export_quantize_evaluate(data_dir, tmp_path, capsys):
    from training import evaluate, quantize, train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=2, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "run"
    args = ["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(out)]
    train.main([*args, "--stop-after", "1", "--export", str(tmp_path / "float.onnx")])  # an interrupted run
    assert (out / "last.pt").exists() and len((out / "log.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "float.onnx").exists()
    # A second run resumes after epoch 1 instead of starting over.
    train.main([*args, "--export", str(tmp_path / "float.onnx")])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in log] == [1, 2]
    assert "resumed after epoch 1" in capsys.readouterr().out
    # The best epoch so far, exported on its own (a run still going, or stopped early).
    train.main([*args, "--export-now", "--export", str(tmp_path / "now.onnx")])
    assert (tmp_path / "now.onnx").read_bytes() == (tmp_path / "float.onnx").read_bytes()
    quantize.main(["--model", str(tmp_path / "float.onnx"), "--out", str(tmp_path / "int8.onnx"),
                   "--data", str(data_dir), "--faces", "50"])
    evaluate.main(["--model", str(tmp_path / "int8.onnx"), "--data", str(data_dir / "val.npz")])
    printed = capsys.readouterr().out
    assert "val.npz with flip averaging: accuracy" in printed and "confusion" in printed
    assert "ms with flip averaging" in printed


def test_training_is_deterministic(data_dir, tmp_path):
    from training import train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    losses = []
    for run in ("a", "b"):
        train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / run),
                    "--threads", "1"])
        losses.append(json.loads((tmp_path / run / "log.jsonl").read_text())["loss"])
    assert losses[0] == losses[1]
