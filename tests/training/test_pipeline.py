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


def test_an_ensemble_mirrors_inside_and_keeps_it_through_int8(data_dir, tmp_path, capsys):
    import onnxruntime as ort
    import torch.nn.functional as F

    from training import ensemble, evaluate, quantize, train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    runs = [tmp_path / "a", tmp_path / "b"]
    for seed, run in enumerate(runs):
        train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(run),
                    "--seed", str(seed)])
    out = tmp_path / "ensemble.onnx"
    ensemble.main(["--runs", *map(str, runs), "--out", str(out), "--data", str(data_dir),
                   "--views", "face", "mirror@1.1", "--cross"])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert evaluate.mirror_inside(session)
    # The graph is the first network on the face and the second on its mirror image magnified 10 % about the
    # centre (here by scipy's linear interpolation, edge pixels repeated), averaged, plus the offsets.
    faces = np.random.default_rng(1).integers(0, 256, (4, 1, 48, 48)).astype(np.float32)
    a, b = (ensemble.load_run(run) for run in runs)
    with torch.no_grad():
        mirror = torch.from_numpy(zoomed(faces, 1.1, True))
        mean = (F.softmax(a(torch.from_numpy(faces)), 1) + F.softmax(b(mirror), 1)) / 2
    offsets = session.run(None, {"faces": faces})[0] - torch.log(mean).numpy()
    assert np.allclose(offsets, offsets[0], atol=1e-3)  # the same offset for every face: only the class's
    quantize.main(["--model", str(out), "--out", str(tmp_path / "int8.onnx"), "--data", str(data_dir),
                   "--faces", "50"])
    assert evaluate.mirror_inside(ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"]))
    capsys.readouterr()
    evaluate.main(["--model", str(tmp_path / "int8.onnx"), "--data", str(data_dir / "val.npz")])
    printed = capsys.readouterr().out
    assert "mirror image inside its graph (views: net1 on face, net2 on mirror@1.1)" in printed
    assert "val.npz with its views (flip averaging inside): accuracy" in printed
    assert "without flip averaging" not in printed


def test_offsets_lift_a_class_under_the_recall_target_and_no_other():
    from training import ensemble

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 100)
    logp = rng.normal(0, 0.3, (700, 7))
    logp[np.arange(700), labels] += 1.0
    logp[labels == 2, 2] -= 1.2  # fear is under-predicted
    logp[labels == 1, 1] -= 3.0  # disgust too, but it has too few faces to be tuned
    before = ensemble.recalls(logp, labels)
    offsets = ensemble.choose_offsets(logp, labels, 0.45)
    after = ensemble.recalls(logp + offsets, labels)
    assert before[2] < 0.45 <= after[2] and offsets[2] > 0
    assert offsets[1] == 0 and np.count_nonzero(offsets) == 1


def zoomed(faces, zoom, mirrored):
    """N x 1 x 48 x 48 faces magnified about the centre by scipy's linear interpolation, edge pixels repeated."""
    from scipy import ndimage

    faces = faces[..., ::-1] if mirrored else faces
    return np.stack([ndimage.affine_transform(f[0], np.eye(2) / zoom, offset=23.5 - 23.5 / zoom, order=1,
                                              mode="nearest")[None] for f in faces]).astype(np.float32)


def test_one_networks_views_run_as_a_batch_and_average_in_order():
    import torch.nn.functional as F

    from training import ensemble
    from training.model import EmotionNet

    torch.manual_seed(0)
    net = EmotionNet().eval()
    with torch.no_grad():
        net.head[-1].weight.mul_(300)  # an untrained network answers nearly the same to any face: not this one
    model = ensemble.Ensemble([net], ["face", "mirror@0.9", "face@1.1"]).eval()
    faces = np.random.default_rng(2).integers(0, 256, (5, 1, 48, 48)).astype(np.float32)
    faces[:, :, :, :24] *= 0.3  # a darker left half, so that the mirror image differs
    views = (faces, zoomed(faces, 0.9, True), zoomed(faces, 1.1, False))
    x = torch.from_numpy(faces)
    with torch.no_grad():
        for j, view in enumerate(views):  # each view is the resampling scipy computes, to a tenth of a grey level
            assert np.abs(model.view(x, j).numpy() - view).max() < 0.1
        expected = sum(F.softmax(net(torch.from_numpy(v)), 1) for v in views) / 3
        got, alone = model(x), net(x).log_softmax(1)
    assert np.allclose(got.numpy(), torch.log(expected).numpy(), atol=1e-3)
    assert not np.allclose(got.numpy(), alone.numpy(), atol=1e-2)  # the views matter to this network


def test_views_every_network_sees_by_default_or_in_turns():
    from training import ensemble
    from training.model import EmotionNet

    nets = [EmotionNet(), EmotionNet()]
    assert ensemble.Ensemble(nets, ["face", "mirror@1.1"]).views == [
        (0, False, 1.0), (0, True, 1.1), (1, False, 1.0), (1, True, 1.1)]
    assert ensemble.Ensemble(nets, ["face", "mirror"], cross=True).views == [(0, False, 1.0), (1, True, 1.0)]
    assert not ensemble.Ensemble(nets[:1], ["face", "face@0.9"]).mirrored  # the engine then mirrors it itself
    for bad in ("side", "mirror@", "mirror@3", "face@x"):
        with pytest.raises(ValueError, match="a view is face or mirror"):
            ensemble.parse_view(bad)
    with pytest.raises(SystemExit):
        ensemble.main(["--runs", "nowhere", "--out", "x.onnx", "--views", "face", "sideways"])
    with pytest.raises(SystemExit):
        ensemble.main(["--runs", "nowhere", "--out", "x.onnx", "--cross"])  # one network cannot take turns


def test_view_sets_are_ranked_by_their_mean_val_accuracy(data_dir, tmp_path, capsys):
    from training import train, views

    labels = np.array([0, 1, 2, 3])
    right, wrong = np.eye(7)[labels], np.eye(7)[(labels + 1) % 7]
    # The face alone is right on half; the mirror adds nothing, the zoomed view tips the other half.
    face = np.where(labels[:, None] < 2, right, 0.4 * wrong)
    run = {"face": face, "mirror": face.copy(), "face@1.1": np.where(labels[:, None] < 2, 0.0, right)}
    rows = views.rank([run, run], labels, max_views=3)
    assert rows[0][2] == ("face", "face@1.1") and rows[0][0] == 1.0 and rows[0][1] == [1.0, 1.0]
    assert [row[2] for row in rows][-1] == ("face", "mirror") and rows[-1][0] == 0.5

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / "r")])
    capsys.readouterr()
    views.main(["--runs", str(tmp_path / "r"), "--data", str(data_dir), "--views", "mirror", "face@1.1",
                "--max-views", "2"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("val accuracy, mean of 1 run(s)") and "face and mirror" in printed[2]
    assert sorted(line.split()[-1] for line in printed[3:]) == ["face@1.1", "mirror"]
    with pytest.raises(SystemExit):
        views.main(["--runs", str(tmp_path / "r"), "--max-views", "1"])
