"""The checkpoint tools: YAML configs, checkpoint files, model figures, and every command
(train, resume, test, prune, quantize, benchmark, compare, export) on a tiny image folder."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from dmc.cli import main
from dmc.core.intmodel import load
from dmc.errors import ConfigError
from dmc.tools.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, teacher_model
from dmc.tools.config import load_configs
from dmc.tools.metrics import count_macs
from dmc.zoo.registry import build

ROOT = Path(__file__).resolve().parents[3]


def make_shapes(root: Path, per_class=(30, 8), size=16, seed=0):
    """Three classes of grey images told apart by where a bright square sits."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), per_class):
        for c in range(3):
            d = root / split / f"c{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                im = rng.integers(0, 60, (size, size)).astype(np.uint8)
                rows, cols = [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(8, 16)), (slice(8, 16), slice(4, 12))][c]
                im[rows, cols] += 150
                Image.fromarray(im).save(d / f"{i}.png")
    return root


DATA_ARGS = ["--dataset", "folder", "--set", "input_size=16", "--set", "val_size=0.2", "--batch-size", "16"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A trained 2-epoch LeNet-5 on the shapes folder (no augmentation, so resuming is exact)."""
    tmp = tmp_path_factory.mktemp("tools")
    data = make_shapes(tmp / "shapes")
    args = ["train", "--arch", "lenet5", "--epochs", "2", "--data-root", str(data), "--set", "augment_shift=0",
            "--output-dir", str(tmp / "out"), "--quiet"] + DATA_ARGS
    assert main(args) == 0
    return {"tmp": tmp, "data": data, "train_args": args, "best": tmp / "out/checkpoints/lenet5_folder_best.pt",
            "last": tmp / "out/checkpoints/lenet5_folder_last.pt"}


def splits_of(work):
    from dmc.data import load_dataset
    return load_dataset("folder", root=work["data"], input_size=16, val_size=0.2)


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


# -- configs ------------------------------------------------------------------------------------------

def test_yaml_configs_with_overrides_in_order(tmp_path):
    (tmp_path / "model.yaml").write_text("arch: resnet8\nepochs: 3\nlr: 0.01\noptions: {width: 8}\n")
    (tmp_path / "data.yaml").write_text("dataset: folder\nroot: /data\nbatch_size: 8\ninput_size: [20, 24]\n")
    model, data = load_configs(tmp_path / "model.yaml", tmp_path / "data.yaml", {"epochs": 5, "lr": None},
                               ["lr=0.5", "batch_size=4"])
    assert (model["arch"], model["epochs"], model["lr"], model["options"]) == ("resnet8", 5, 0.5, {"width": 8})
    assert (data["root"], data["batch_size"], data["input_size"], data["val_size"]) == ("/data", 4, (20, 24), None)
    assert model["seed"] == 25 and data["download"] is True          # defaults


def test_config_errors_name_file_and_key(tmp_path):
    (tmp_path / "m.yaml").write_text("arch: lenet5\nepoch: 3\n")
    with pytest.raises(ConfigError, match=r"m.yaml: unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        load_configs(tmp_path / "m.yaml")
    (tmp_path / "m.yaml").write_text("lr: fast\n")
    with pytest.raises(ConfigError, match="m.yaml: 'lr' must be float or int, got 'fast'"):
        load_configs(tmp_path / "m.yaml")
    (tmp_path / "m.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_configs(tmp_path / "m.yaml")
    (tmp_path / "m.yaml").write_text("arch: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_configs(tmp_path / "m.yaml")
    with pytest.raises(ConfigError, match="unknown setting 'batchsize'.*did you mean 'batch_size'"):
        load_configs(sets=["batchsize=3"])
    with pytest.raises(ConfigError, match="'download' must be bool"):
        load_configs(sets=["download=3"])


def test_shipped_example_configs_parse():
    from dmc.tools.config import read_yaml
    files = sorted((ROOT / "extras" / "configs").glob("*.yaml"))
    models = [p for p in files if "arch" in read_yaml(p)]
    datasets = [p for p in files if "dataset" in read_yaml(p)]
    assert models and datasets
    for m in models:
        cfg, _ = load_configs(m, datasets[0])
        build(cfg["arch"], 1, 28, 10, **cfg["options"])
    for d in datasets:
        load_configs(None, d)


# -- checkpoints and figures -----------------------------------------------------------------------

def test_checkpoint_files_round_trip_and_refuse_foreign_files(tmp_path):
    model = build("ds_cnn", 1, 28, 4, width=8).eval()
    meta = {"arch": "ds_cnn", "options": {"width": 8}, "in_channels": 1, "input_size": [28, 28], "num_classes": 4,
            "classes": list("abcd")}
    path = save_checkpoint(tmp_path / "ds_cnn_x_best.pt", meta, model.state_dict())
    ck = load_checkpoint(path)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(ck.float_model()(x), model(x))
    assert ck.meta()["classes"] == list("abcd") and ck.input_shape == (1, 28, 28)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a dmc checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "dmc-checkpoint", "version": 99, **meta, "state_dict": {}}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(tmp_path / "new.pt")
    torch.save({"format": "dmc-checkpoint", "version": 1, "payload": nn.ReLU()}, tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match="not a readable"):     # weights_only refuses arbitrary objects
        load_checkpoint(tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match="plain types"):
        save_checkpoint(tmp_path / "bad.pt", dict(meta, extra=object()), {})
    wrong = dict(meta, options={"width": 16})
    save_checkpoint(tmp_path / "wrong.pt", wrong, model.state_dict())
    with pytest.raises(CheckpointError, match="do not fit the architecture 'ds_cnn'"):
        load_checkpoint(tmp_path / "wrong.pt").float_model()


def test_macs_by_hand_and_by_the_integer_model():
    # LeNet-5: 28x28x6 outputs x 25, 10x10x16 x 150, 400 x 84, 84 x 10
    assert count_macs(build("lenet5", 1, 28, 10), (1, 28, 28)) == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 84 + 840
    from dmc.compression.compressed_model import compress
    from dmc.compression.conversion import convert
    for name in ("resnet8", "ds_cnn"):
        model = build(name, 1, 28, 10).eval()
        cfg = {"quantize": {"scheme": "dynamic", "bitwidth": 8}}
        qm = convert(compress(model, cfg, (1, 1, 28, 28)))
        weighted = sum(qm.macs(op) for op in qm.ops if op["op"] in ("conv2d", "linear"))
        assert count_macs(model, (1, 28, 28)) == weighted, name


# -- the commands --------------------------------------------------------------------------------------

def test_train_writes_best_and_last_with_metadata(work):
    best, last = load_checkpoint(work["best"]), load_checkpoint(work["last"])
    assert best.arch == "lenet5" and "lenet5" in work["best"].name
    assert best.data["classes"] == ["c0", "c1", "c2"] and best.input_shape == (1, 16, 16)
    assert last.data["epoch"] == 2 and len(last.data["history"]) == 2 and "optimizer" in last.data
    accs = [r["val_accuracy"] for r in last.data["history"]]
    assert best.data["best_val_accuracy"] == max(accs) == best.data["val_accuracy"]
    assert "optimizer" not in best.data


def test_resume_continues_exactly_where_training_stopped(work, tmp_path, monkeypatch):
    """A 3-epoch run, and the same run resumed from its epoch-2 checkpoint, end with equal weights."""
    import shutil

    import dmc.tools.train as train_module
    real_save = train_module.save_checkpoint

    def save_and_keep_epoch_2(path, meta, state, **extra):
        out = real_save(path, meta, state, **extra)
        if meta["epoch"] == 2 and "optimizer" in extra:
            shutil.copy(out, tmp_path / "epoch2.pt")
        return out
    monkeypatch.setattr(train_module, "save_checkpoint", save_and_keep_epoch_2)
    args = list(work["train_args"])
    args[args.index("--epochs") + 1] = "3"
    args[args.index("--output-dir") + 1] = str(tmp_path / "straight")
    assert main(args) == 0
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    assert main(["train", "--resume", str(tmp_path / "epoch2.pt"), "--output-dir", str(tmp_path / "resumed"),
                 "--quiet"]) == 0
    a = load_checkpoint(tmp_path / "straight/checkpoints/lenet5_folder_last.pt").data
    b = load_checkpoint(tmp_path / "resumed/checkpoints/lenet5_folder_last.pt").data
    assert b["epoch"] == 3 and len(b["history"]) == 3 and b["history"][:2] == a["history"][:2]
    diffs = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert not diffs, f"resumed weights differ from an uninterrupted run in {diffs}"
    # --epochs N on resume trains N more; a finished run without it is an error
    assert main(["train", "--resume", str(tmp_path / "resumed/checkpoints/lenet5_folder_last.pt"), "--epochs", "1",
                 "--output-dir", str(tmp_path / "more"), "--quiet"]) == 0
    assert load_checkpoint(tmp_path / "more/checkpoints/lenet5_folder_last.pt").data["epoch"] == 4
    assert main(["train", "--resume", str(tmp_path / "resumed/checkpoints/lenet5_folder_last.pt"), "--quiet"]) == 2
    assert main(["train", "--resume", str(tmp_path / "straight/checkpoints/lenet5_folder_best.pt"), "--quiet"]) == 2


def test_test_reports_top1_of_the_checkpoint(work, capsys):
    s = splits_of(work)
    expected = accuracy(load_checkpoint(work["best"]).float_model(), s.x_test, s.y_test)
    assert main(["test", "--checkpoint", str(work["best"])]) == 0
    assert f"top-1 {expected:.2%} on 24 test images" in capsys.readouterr().out


def test_prune_unstructured_and_structured(work, tmp_path):
    src = load_checkpoint(work["best"]).float_model()
    out = tmp_path / "u.pt"
    assert main(["prune", "--input-model", str(work["best"]), "--output-model", str(out), "--pruning-type",
                 "unstructured", "--pruning-ratio", "0.5", "--quiet"]) == 0
    model = load_checkpoint(out).float_model()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total = sum(w.numel() for w in weights)
    assert sum(int((w == 0).sum()) for w in weights) == round(0.5 * total)
    # the survivors are the largest magnitudes of the source, unchanged
    before = torch.cat([m.weight.flatten() for m in src.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    after = torch.cat([w.flatten() for w in weights])
    kept = after != 0
    assert torch.equal(after[kept], before[kept]) and before[~kept].abs().max() <= before[kept].abs().min()

    out = tmp_path / "s.pt"
    assert main(["prune", "--input-model", str(work["best"]), "--output-model", str(out), "--pruning-type",
                 "structured", "--pruning-ratio", "0.25", "--finetune-epochs", "1", "--quiet"]) == 0
    ck = load_checkpoint(out)
    m = ck.float_model()
    convs = [m[1], m[5]]
    for conv, bn in zip(convs, [m[2], m[6]]):
        zero = (conv.weight.flatten(1) == 0).all(1)
        assert int(zero.sum()) == round(0.25 * conv.out_channels)
        assert (conv.bias[zero] == 0).all() and (bn.weight[zero] == 0).all() and (bn.bias[zero] == 0).all()
    assert int((m[10].weight == 0).all(1).sum()) == round(0.25 * 84)
    assert not (m[12].weight == 0).all(1).any()           # the classifier keeps every class
    assert ck.data["pruning"]["type"] == "structured" and ck.data["pruning"]["finetune_epochs"] == 1


def test_quantize_static_deploys_and_test_reports_the_integer_model(work, tmp_path, capsys):
    q, dmc_path = tmp_path / "q.pt", tmp_path / "q.dmc"
    assert main(["quantize", "--input-model", str(work["best"]), "--output-model", str(q), "--calibration-data",
                 str(work["data"] / "train"), "--dmc", str(dmc_path), "--qat-epochs", "1", "--quiet"]) == 0
    s = splits_of(work)
    qm = load(dmc_path)
    int_acc = float((qm.predict(s.x_test).argmax(1) == s.y_test).mean())
    ck = load_checkpoint(q)
    fq_acc = accuracy(ck.model(), s.x_test, s.y_test)
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(q)]) == 0
    out = capsys.readouterr().out
    assert f"top-1 {fq_acc:.2%}" in out and f"deployed integer model {int_acc:.2%}" in out
    # the checkpoint rebuilds exactly the model that was converted
    assert main(["export", str(q), "--dmc", str(tmp_path / "again.dmc")]) == 0
    assert (tmp_path / "again.dmc").read_bytes() == dmc_path.read_bytes()
    assert main(["quantize", "--input-model", str(q), "--output-model", str(tmp_path / "qq.pt")]) == 2
    assert "is already quantized" in capsys.readouterr().err


def test_quantize_dynamic_and_compare_side_by_side(work, tmp_path, capsys):
    d = tmp_path / "d.pt"
    assert main(["quantize", "--input-model", str(work["best"]), "--output-model", str(d), "--quantization-type",
                 "dynamic", "--bits", "4", "--quiet"]) == 0
    ck = load_checkpoint(d)
    s = splits_of(work)
    dyn_acc = accuracy(ck.model(), s.x_test, s.y_test)
    float_acc = accuracy(load_checkpoint(work["best"]).float_model(), s.x_test, s.y_test)
    out = tmp_path / "bench"
    assert main(["compare", "--checkpoints", str(work["best"]), str(d), "--models", "ds_cnn", "--runs", "3",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| model |" in text and "lenet5_folder_best" in text
    rows = list(csv.DictReader(open(out / "compare_models.csv")))
    assert [r["name"] for r in rows] == ["lenet5_folder_best", "d", "ds_cnn"]
    assert float(rows[0]["top1"]) == float_acc and float(rows[1]["top1"]) == dyn_acc and rows[2]["top1"] == ""
    params = sum(p.numel() for p in load_checkpoint(work["best"]).float_model().parameters())
    assert int(rows[0]["params"]) == params and int(rows[0]["float_bytes"]) == 4 * params
    assert int(rows[0]["checkpoint_bytes"]) == work["best"].stat().st_size
    assert int(rows[2]["macs"]) == count_macs(build("ds_cnn", 1, 16, 3), (1, 16, 16))
    assert (out / "compare_models.md").is_file() and (out / "compare_models.png").stat().st_size > 1000


def test_benchmark_writes_figures_of_a_deployable_checkpoint(work, tmp_path, capsys):
    q = tmp_path / "q.pt"
    assert main(["quantize", "--input-model", str(work["best"]), "--output-model", str(q), "--quiet"]) == 0
    assert main(["benchmark", "--checkpoint", str(q), "--runs", "3", "--dmc", str(tmp_path / "b.dmc"),
                 "--out", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "benchmark_q.json").read_text())
    qm = load(tmp_path / "b.dmc")
    from dmc.deploy.budget import budget
    assert row["model_bytes"] == qm.model_bytes and row["arena_bytes"] == budget(qm)["arena_bytes"]
    assert row["kind"] == "static int8, act 8-bit" and row["latency_ms"] > 0
    assert "arena B" in capsys.readouterr().out
    assert main(["benchmark", "--arch", "resnet8", "--input-shape", "3", "32", "32", "--runs", "2",
                 "--out", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "benchmark_resnet8.json").read_text())
    assert row["params"] == 78_042 and row["macs"] == count_macs(build("resnet8", 3, 32, 10), (3, 32, 32))


def test_export_torchscript_and_onnx_compute_the_float_model(work, tmp_path):
    ts, ox = tmp_path / "m.ts", tmp_path / "m.onnx"
    assert main(["export", str(work["best"]), "--torchscript", str(ts), "--onnx", str(ox)]) == 0
    model = load_checkpoint(work["best"]).float_model()
    x = torch.rand(5, 1, 16, 16)
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)       # TorchScript is deprecated in torch 2.13
        want = model(x)
        assert torch.equal(torch.jit.load(str(ts))(x), want)
    from onnx.reference import ReferenceEvaluator
    got = ReferenceEvaluator(str(ox)).run(None, {"input": x.numpy()})[0]
    err = np.abs(got - want.numpy()).max()
    assert err < 1e-4, f"ONNX differs from torch by {err}"


def test_cli_errors_exit_2_with_a_named_cause(work, tmp_path, capsys):
    cases = [(["test", "--checkpoint", str(tmp_path / "none.pt")], "dmc test: error: .*no such checkpoint"),
             (["train", "--arch", "resnet9", "--dataset", "folder", "--data-root", str(work["data"])],
              "dmc train: error: unknown architecture 'resnet9'"),
             (["export", str(work["best"])], "dmc export: error: choose at least one of"),
             (["export", str(work["best"]), "--dmc", str(tmp_path / "x.dmc")], "needs a statically quantized"),
             (["benchmark", "--checkpoint", str(work["best"]), "--sim", "uno"], "measures deployable models only"),
             (["prune", "--input-model", str(work["best"]), "--output-model", str(tmp_path / "p.pt"),
               "--pruning-ratio", "1.5"], r"pruning ratio must lie in \(0, 1\)"),
             (["compare", "--models", "lenet5"], "needs a dataset")]
    import re
    for args, pattern in cases:
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert re.search(pattern, err), (args, err)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_backbones_study_smoke(tmp_path):
    """The study's driver end to end on a sliver of Fashion-MNIST (LeNet-5 only, no simulator)."""
    from dmc.cli import experiment
    from dmc.data import load_dataset
    rows = experiment("fashion_backbones").run(tmp_path, models=["lenet5"], epochs=1, qat_epochs=1, measure=False,
                                               train_limit=300, test_limit=200, val_size=500, progress=False)
    assert [r["kind"] for r in rows] == ["float32", "static int4, act 8-bit"]
    s = load_dataset("fashion_mnist")
    qm = load(tmp_path / "lenet5.dmc")
    expected = float((qm.predict(s.x_test[:200]).argmax(1) == s.y_test[:200]).mean())
    assert rows[1]["integer_top1"] == expected and rows[1]["model_bytes"] == qm.model_bytes
    for name in ("compare_models.csv", "compare_models.md", "compare_models.png", "fashion_backbones.json"):
        assert (tmp_path / name).is_file(), name


def test_fashion_backbones_precision_variants():
    """The precision study's three edge_nano configs: the study's own, then 8-bit 1x1 weights,
    then 8-bit activations, each differing from the one before only in those widths."""
    from dmc.cli import experiment
    mod = experiment("fashion_backbones", "precision")
    deployed, pw8, a8 = mod.variants().values()
    assert deployed == mod.compression_config(mod.EDGE, "edge_nano")
    one_by_one = [k for k, v in deployed["quantize"]["layers"].items() if v.get("bitwidth") == 4]
    assert one_by_one, "the study's recipe puts the 1x1 convs at 4 bits"
    assert all(pw8["quantize"]["layers"][k]["bitwidth"] == 8 for k in one_by_one)
    assert pw8["quantize"]["activation_bitwidth"] == deployed["quantize"]["activation_bitwidth"] == 4
    assert a8["quantize"]["activation_bitwidth"] == 8 and a8["quantize"]["layers"] == pw8["quantize"]["layers"]


def test_kind_names_every_weight_and_activation_width():
    """A checkpoint's kind lists the default and per-layer widths (edge_nano: 8-bit weights with
    4-bit 1x1 convs, 4-bit activations), widest first."""
    from types import SimpleNamespace
    from dmc.tools.benchmark import _kind
    q = {"scheme": "static", "bitwidth": 8, "activation_bitwidth": 4,
         "layers": {"blocks.0.project": {"bitwidth": 4}, "classifier": {"bitwidth": 2, "activation_bitwidth": 8}}}
    ck = SimpleNamespace(quantized=True, data={"quantization": {"config": {"quantize": q}}})
    assert _kind(ck) == "static int8/4/2, act 8/4-bit"
    ck.data["quantization"]["config"]["quantize"] = {"scheme": "dynamic", "bitwidth": 8}
    assert _kind(ck) == "dynamic int8"
    assert _kind(SimpleNamespace(quantized=False, data={})) == "float32"


def test_recipe_augment_shifts_and_mirrors():
    """augment_flip mirrors about half of a batch left-right (each image either itself or its
    mirror), composed after the shifts; a recipe without either augments nothing."""
    from dmc.compression.training import recipe_augment
    from dmc.tools.config import load_configs
    model_cfg, _ = load_configs(sets=["augment_flip=true", "augment_shift=0"])
    x = torch.rand(400, 1, 6, 6)
    y = recipe_augment(model_cfg, 3)(x)
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 150 < int(mirrored.sum()) < 250
    assert recipe_augment({"augment_shift": 0}, 3) is None
    shifted = recipe_augment({"augment_shift": 2, "augment_flip": True}, 3)(x)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    with pytest.raises(ConfigError, match="'augment_flip' must be bool"):
        load_configs(sets=["augment_flip=3"])


def test_train_distills_from_a_teacher_checkpoint(work, monkeypatch):
    """teacher=CHECKPOINT trains against the teacher's soft targets too: fit receives the
    teacher's float model (its outputs equal the checkpoint's), the recipe records the path; a
    teacher for other inputs or classes is refused naming both."""
    import dmc.tools.train as train_mod
    seen = {}
    real_fit = train_mod.fit

    def spy(*args, **kwargs):
        seen["teacher"] = kwargs.get("teacher")
        return real_fit(*args, **kwargs)
    monkeypatch.setattr(train_mod, "fit", spy)
    out = work["tmp"] / "distilled"
    args = ["train", "--arch", "lenet5", "--epochs", "1", "--data-root", str(work["data"]), "--set", "augment_shift=0",
            "--set", f"teacher={work['best']}", "--output-dir", str(out), "--quiet"] + DATA_ARGS
    assert main(args) == 0
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(seen["teacher"](x), load_checkpoint(work["best"]).float_model()(x))
    assert load_checkpoint(out / "checkpoints/lenet5_folder_best.pt").data["recipe"]["teacher"] == str(work["best"])
    with pytest.raises(CheckpointError, match=r"teacher .*: takes 1x16x16 inputs and predicts 3 classes; this "
                                              r"training needs 1x20x20 and 3"):
        teacher_model(str(work["best"]), (1, 20, 20), 3)


def test_quantize_distills_qat_from_a_teacher_checkpoint(work, tmp_path, capsys):
    """dmc quantize --teacher: QAT against another checkpoint's soft targets; the record names it."""
    q = tmp_path / "q.pt"
    assert main(["quantize", "--input-model", str(work["best"]), "--output-model", str(q), "--qat-epochs", "1",
                 "--teacher", str(work["last"]), "--quiet"]) == 0
    assert load_checkpoint(q).data["quantization"]["teacher"] == str(work["last"])
