"""The emotion model's training pipeline end to end on a tiny data set it writes itself (needs PyTorch)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the training pipeline needs PyTorch (training/requirements-training.txt)")


def write_split(path, faces, labels, **extra):
    """An npz in FER2013's layout: JPEG bytes one after another, offsets, labels, names (and `extra` arrays)."""
    blobs = []
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
    np.savez(path, jpeg=np.concatenate(blobs), offsets=offsets, labels=labels.astype(np.int8),
             names=np.array([f"face_{i}.jpg" for i in range(len(faces))]), **extra)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two hundred 48x48 faces from scikit-image's LFW subset, labelled in turn; val flags its first 5 as copies."""
    from skimage import data

    faces = (np.asarray(data.lfw_subset()[:200]) * 255).astype(np.uint8)
    faces = np.stack([np.asarray(Image.fromarray(f).resize((48, 48))) for f in faces])
    labels = np.arange(len(faces)) % 7
    directory = tmp_path_factory.mktemp("fer")
    write_split(directory / "train.npz", faces[:160], labels[:160])
    write_split(directory / "val.npz", faces[160:], labels[160:], near_duplicate_of_train=np.arange(40) < 5)
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
    evaluate.main(["--model", str(tmp_path / "int8.onnx"), "--fer", str(data_dir), "--also", str(data_dir / "val.npz")])
    printed = capsys.readouterr().out
    # 35 val faces without the 5 copies, plus 2 of the train split's 23 disgust faces held out as training held them.
    assert "val.npz without its 5 near-copies of Training: 35; plus 2 disgust faces held out" in printed
    assert "unseen faces without flip averaging: accuracy" in printed and "secondary: val.npz: 40 faces" in printed
    assert printed.count("confusion") == 2 and "95 % interval (Wilson)" in printed
    assert "ms wall clock" in printed and "face and mirror image in one batch" in printed
    assert "NOT on unseen faces" not in printed  # this run held the disgust faces out, and its file says so


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
                   "--views", "face", "mirror@1.1", "--cross", "--min-faces", "1"])
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
    evaluate.main(["--model", str(tmp_path / "int8.onnx"), "--fer", str(data_dir), "--also"])
    printed = capsys.readouterr().out
    assert "mirror image inside its graph (views: net1 on face, net2 on mirror@1.1)" in printed
    assert "unseen faces (val.npz without its" in printed and "views inside the model" in printed
    assert "without flip averaging" not in printed and "NOT on unseen faces" not in printed


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


def test_view_sets_are_ranked_by_their_mean_balanced_accuracy(data_dir, tmp_path, capsys):
    from training import rank_views as views, train

    # Eight happy faces and two fear faces; each view adds its vote to the face's, which is always happy. With the
    # mirror image every happy face and no fear face are right (80 % accuracy, 50 % balanced); with the zoomed
    # view both fear faces and five happy ones (70 % accuracy, but 81.25 % balanced): the zoom ranks first.
    labels = np.array([3] * 8 + [2] * 2)
    happy, fear = np.eye(7)[3], np.eye(7)[2]
    face = np.tile(happy, (10, 1))
    run = {"face": face, "mirror": face.copy(), "face@1.1": np.array([happy] * 5 + [2 * fear] * 5)}
    rows = views.rank([run, run], labels, max_views=2)
    assert [row[2] for row in rows] == [("face", "face@1.1"), ("face", "mirror")]
    assert rows[0][0] == 0.8125 and rows[0][1] == [0.8125, 0.8125] and rows[1][0] == 0.5
    # With fear left out (too few faces to choose on), the mirror's eight happy faces beat the zoom's five.
    assert views.rank([run], labels, max_views=2, skip=(2,))[0][2] == ("face", "mirror")

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / "r")])
    capsys.readouterr()
    views.main(["--runs", str(tmp_path / "r"), "--data", str(data_dir), "--views", "mirror", "face@1.1",
                "--max-views", "2", "--min-faces", "1"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "choices on 37 unseen faces (2 of them the disgust hold-out)"
    assert printed[1].endswith("(unseen faces)") and ", balanced " in printed[1]
    assert printed[2].startswith("balanced accuracy on unseen faces, mean of 1 run(s)") and "face and mirror" in printed[3]
    assert sorted(line.split()[-1] for line in printed[4:]) == ["face@1.1", "mirror"]
    with pytest.raises(SystemExit):
        views.main(["--runs", str(tmp_path / "r"), "--max-views", "1"])


def test_report_gives_balanced_accuracy_and_wilson_intervals(capsys):
    from training import evaluate

    # 10 angry faces (9 right), 2 disgust (1 right), 8 happy (4 right).
    labels = np.array([0] * 10 + [1] * 2 + [3] * 8)
    predicted = np.array([0] * 9 + [3] + [1, 0] + [3] * 4 + [6] * 4)
    scores = evaluate.report("toy", labels, predicted)
    assert scores["accuracy"] == 14 / 20 and np.isclose(scores["balanced"], (0.9 + 0.5 + 0.5) / 3)
    assert np.isclose(evaluate.balanced_accuracy(predicted, labels, skip=(1,)), 0.7)
    z = 1.959964  # Wilson's interval, written out: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    centre, half = (0.9 + z * z / 20) / (1 + z * z / 10), z * np.sqrt(0.09 / 10 + z * z / 400) / (1 + z * z / 10)
    assert np.allclose(evaluate.wilson(9, 10), (centre - half, centre + half), atol=1e-5)
    printed = capsys.readouterr().out
    low, high = evaluate.wilson(9, 10)
    assert f"angry         10      9    90.0%   {low:.1%} - {high:.1%}" in printed
    assert "surprise       0      -        -" in printed and "accuracy 70.0%, balanced accuracy 63.3%" in printed


def test_unseen_faces_are_the_ones_training_held_out(data_dir, tmp_path, capsys):
    from training import data, train

    faces, labels, held = data.unseen_set(data_dir)
    val_x, val_y = data.load_npz(data_dir / "val.npz")
    train_x, train_y = data.load_npz(data_dir / "train.npz")
    _, indices = data.holdout_split(train_x, train_y, 1)
    assert held == 2 and np.array_equal(faces, np.concatenate([val_x[5:], train_x[indices]]))
    assert np.array_equal(labels, np.concatenate([val_y[5:], train_y[indices]])) and (labels[-2:] == 1).all()
    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / "r")])
    assert f"val {len(labels)} unseen faces ({held} held-out disgust)" in capsys.readouterr().out
    assert len(data.unseen_set(data_dir, holdout=False)[1]) == 35


def test_a_model_that_saw_the_holdout_is_told_apart(data_dir, tmp_path, capsys):
    import onnxruntime as ort

    from training import ensemble, evaluate, train

    # A run from before the hold-out: its best.pt has no balanced accuracy, like the runs the shipped model came from.
    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = tmp_path / "old"
    train.main(["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(run)])
    state = torch.load(run / "best.pt", weights_only=False)
    assert ensemble.held_out_disgust(run)
    del state["best"]["val_balanced"]
    torch.save(state, run / "best.pt")
    assert not ensemble.held_out_disgust(run)
    capsys.readouterr()
    ensemble.main(["--runs", str(run), "--out", str(tmp_path / "old.onnx"), "--data", str(data_dir),
                   "--min-faces", "1"])
    printed = capsys.readouterr().out
    assert "choices on 35 unseen faces (0 of them the disgust hold-out: not used, a run learnt from it)" in printed
    meta = ort.InferenceSession(str(tmp_path / "old.onnx")).get_modelmeta().custom_metadata_map
    assert evaluate.HOLDOUT_KEY not in meta and meta[evaluate.MIRROR_KEY] == "1"
    evaluate.main(["--model", str(tmp_path / "old.onnx"), "--fer", str(data_dir), "--also"])
    printed = capsys.readouterr().out
    assert "its disgust figure above is NOT on unseen faces. De-duplicated val alone: accuracy" in printed


def test_offsets_raise_balanced_accuracy_and_leave_a_thin_class_alone():
    from training import ensemble, evaluate

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 100)
    logp = rng.normal(0, 0.3, (700, 7))
    logp[np.arange(700), labels] += 1.0
    logp[:, 2] -= 0.9  # fear's prior is too low: its logit is 0.9 under on every face
    logp[:, 1] -= 3.0  # disgust's too, but say it had too few faces to be tuned
    offsets = ensemble.balanced_offsets(logp, labels, skip=(1,))
    before = evaluate.balanced_accuracy(logp.argmax(1), labels, skip=(1,))
    after = evaluate.balanced_accuracy((logp + offsets).argmax(1), labels, skip=(1,))
    assert after > before + 0.05 and offsets[1] == 0 and offsets[2] == offsets.max() > 0.5
    assert np.allclose(offsets / ensemble.STEP, np.round(offsets / ensemble.STEP)) and abs(offsets).max() <= 1


def test_a_run_resumes_only_with_the_config_it_was_started_with(data_dir, tmp_path, capsys):
    from training import train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = ["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / "r")]
    train.main(args)
    (tmp_path / "config.json").write_text(json.dumps({**config, "label_smoothing": 0.2}))
    with pytest.raises(SystemExit, match="label_smoothing: 0.1 then, 0.2 now"):
        train.main(args)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="seed: 1234 then, 7 now"):
        train.main([*args, "--seed", "7"])
    capsys.readouterr()
    train.main([*args, "--export", str(tmp_path / "again.onnx")])  # the same config: a finished run exports again
    assert "resumed after epoch 1" in capsys.readouterr().out and (tmp_path / "again.onnx").exists()


def test_mixup_cutmix_and_balanced_sampling_are_off_unless_asked():
    from training import train

    x = torch.arange(4 * 48 * 48, dtype=torch.float32).reshape(4, 1, 48, 48)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    same, partner, lam = train.mix(x, {"mixup_alpha": 0, "cutmix_alpha": 0}, gen)
    assert same is x and lam == 1.0 and partner.tolist() == [0, 1, 2, 3]
    labels = torch.tensor([0] * 900 + [1] * 100)
    order = train.epoch_order(labels, {}, gen)
    assert sorted(order.tolist()) == list(range(1000))  # off: a permutation, drawn as before these options
    gen2 = torch.Generator().manual_seed(0)
    assert torch.equal(order, torch.randperm(1000, generator=gen2)) and torch.equal(gen.get_state(), gen2.get_state())
    assert not torch.equal(state, gen.get_state())

    mixed, partner, lam = train.mix(x, {"mixup_alpha": 0.4}, gen)
    assert 0 < lam < 1 and torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    cut, partner, lam = train.mix(x, {"cutmix_alpha": 1.0}, gen)
    own = (cut == x).float().mean(dim=(1, 2, 3))
    moved = partner != torch.arange(4)
    assert 0 < lam < 1 and torch.allclose(own[moved], torch.full((int(moved.sum()),), lam))
    # Class-balanced sampling at power 1 draws the class of 100 faces about as often as the class of 900.
    drawn = labels[train.epoch_order(labels, {"balanced_sampling_power": 1.0}, gen)]
    assert 400 < int((drawn == 1).sum()) < 600


def test_a_run_with_mixup_cutmix_and_balanced_sampling_trains(data_dir, tmp_path):
    from training import train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    losses = []
    for name, extra in (("plain", {}), ("mixed", {"mixup_alpha": 0.4, "cutmix_alpha": 1.0,
                                                  "balanced_sampling_power": 0.5})):
        (tmp_path / f"{name}.json").write_text(json.dumps({**config, **extra}))
        train.main(["--config", str(tmp_path / f"{name}.json"), "--data", str(data_dir), "--out", str(tmp_path / name),
                    "--threads", "1"])
        losses.append(json.loads((tmp_path / name / "log.jsonl").read_text())["loss"])
    assert np.isfinite(losses).all() and losses[0] != losses[1]


def test_offsets_are_kept_only_when_they_hold_up_on_the_other_half():
    from training import ensemble

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 100)
    kept = []
    for bias in (0.9, 0.0):  # fear's prior too low by 0.9 on every face, or no bias: only noise to fit
        logp = rng.normal(0, 0.3, (700, 7))
        logp[np.arange(700), labels] += 1.0
        logp[:, 2] -= bias
        offsets, gains = ensemble.checked_offsets(logp, labels, skip=(1,))
        kept.append(offsets)
        assert len(gains) == 2
    assert kept[0][2] > 0.5 and kept[0][1] == 0
    assert not kept[1].any()  # offsets fitted to one half's noise do not help the other half: none kept


def test_a_fine_tuning_run_starts_from_another_runs_network(data_dir, tmp_path, capsys):
    from training import train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=1, batch_size=32)
    (tmp_path / "base.json").write_text(json.dumps(config))
    train.main(["--config", str(tmp_path / "base.json"), "--data", str(data_dir), "--out", str(tmp_path / "base"),
                "--threads", "1"])
    base = torch.load(tmp_path / "base" / "last.pt", weights_only=False)["model"]
    # lr 0: the fine-tuning run's network stays the one it started from, so its weights show where it began.
    tuned = {**config, "init": str(tmp_path / "base" / "last.pt"), "lr": 0.0, "balanced_sampling_power": 0.5}
    (tmp_path / "tuned.json").write_text(json.dumps(tuned))
    args = ["--config", str(tmp_path / "tuned.json"), "--data", str(data_dir), "--out", str(tmp_path / "tuned"),
            "--threads", "1"]
    train.main(args)
    assert f"started from the network of {tmp_path / 'base' / 'last.pt'}" in capsys.readouterr().out
    after = torch.load(tmp_path / "tuned" / "last.pt", weights_only=False)["model"]
    weights = [k for k in base if k.endswith("weight")]
    assert weights and all(torch.equal(base[k], after[k]) for k in weights)
    # Without `init` the same recipe starts from fresh weights, which differ.
    (tmp_path / "fresh.json").write_text(json.dumps({**tuned, "init": None}))
    train.main(["--config", str(tmp_path / "fresh.json"), "--data", str(data_dir), "--out", str(tmp_path / "fresh"),
                "--threads", "1"])
    fresh = torch.load(tmp_path / "fresh" / "last.pt", weights_only=False)["model"]
    assert not all(torch.equal(base[k], fresh[k]) for k in weights)
    # A run started from one network resumes only with the same `init`.
    (tmp_path / "tuned.json").write_text(json.dumps({**tuned, "init": str(tmp_path / "fresh" / "last.pt")}))
    with pytest.raises(SystemExit, match="init:"):
        train.main(args)
    # `init_epoch` pins the network: a checkpoint of another epoch (a run still going) is refused.
    (tmp_path / "pinned.json").write_text(json.dumps({**tuned, "init_epoch": 2}))
    with pytest.raises(SystemExit, match="after epoch 1, not 2"):
        train.main(["--config", str(tmp_path / "pinned.json"), "--data", str(data_dir), "--out",
                    str(tmp_path / "pinned"), "--threads", "1"])


def test_a_run_stopped_before_its_first_scored_epoch_resumes_only_with_its_config(data_dir, tmp_path):
    from training import train

    config = json.loads((train.HERE / "config.json").read_text())
    config.update(epochs=4, batch_size=32)  # first scored after epoch 3 (the last 30 %)
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = ["--config", str(tmp_path / "config.json"), "--data", str(data_dir), "--out", str(tmp_path / "r"),
            "--threads", "1"]
    train.main([*args, "--stop-after", "1"])
    assert not (tmp_path / "r" / "best.pt").exists()
    with pytest.raises(SystemExit, match="seed: 1234 then, 7 now"):
        train.main([*args, "--seed", "7", "--stop-after", "1"])
