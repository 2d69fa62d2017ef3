"""Unstructured magnitude pruning (config key ``prune_weight``): config errors, exact zeros in the
integer model at every weight bit width and granularity (also with channel pruning), the
polynomial schedule step by step, global ranking, the sensitivity sweep, and a short
compress -> fit -> convert -> save/load smoke run of the pruning path."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

import dmc
from conftest import residual_net, seq_cnn, static_config
from dmc.compression.weight_pruning import polynomial_sparsity

SHAPE = (1, 3, 8, 8)
CAL = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def compress(prune_weight, model=None, quant=None, **extra):
    cfg = {"prune_weight": prune_weight, **(quant or static_config()), **extra}
    return dmc.compress(model if model is not None else seq_cnn(), cfg, SHAPE, CAL)


def int_weights(qm) -> dict:
    """Layer alias -> integer weights as the artifact stores them."""
    return {op["attrs"]["alias"]: qm.weight(op) for op in qm.ops if op["op"] in ("conv2d", "linear")}


def masks(cm) -> dict:
    return {n.attrs["alias"]: cm.layers[n.name].weight_mask.numpy() for n in cm.nodes
            if n.op in ("conv2d", "linear") and hasattr(cm.layers[n.name], "weight_mask")}


def expected_keep(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """Independent top-k: keep the round((1 - s) * n) largest magnitudes, ties to the lower index."""
    flat = np.abs(weights.astype(np.float64)).reshape(-1)
    keep = flat.size - int(math.floor(sparsity * flat.size + 0.5))
    order = np.argsort(-flat, kind="stable")
    out = np.zeros(flat.size, dtype=bool)
    out[order[:keep]] = True
    return out.reshape(weights.shape)


# -- config errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value,why", [(-0.1, r"in \[0, 1\)"), (1.0, r"in \[0, 1\)"), (1.5, r"in \[0, 1\)"),
                                       (float("nan"), r"in \[0, 1\)"), ("0.5", "must be a number"),
                                       (True, "must be a number"), (None, "must be a number")])
def test_bad_sparsity_names_the_layer(value, why):
    with pytest.raises(dmc.ConfigError, match=r"config\['prune_weight'\]\['sparsity'\]\['conv2d_1'\].*" + why):
        compress({"sparsity": {"conv2d_1": value}})


@pytest.mark.parametrize("value", [-0.5, 1.0, float("nan"), "high", [0.5]])
def test_bad_model_sparsity(value):
    with pytest.raises(dmc.ConfigError, match=r"prune_weight"):
        compress({"sparsity": value})
    with pytest.raises(dmc.ConfigError, match=r"prune_weight"):
        compress(value)


def test_unknown_layer_suggests_the_name():
    with pytest.raises(dmc.ConfigError, match=r"unknown layer 'conv2d-1'.*did you mean 'conv2d_1'.*linear_0"):
        compress({"sparsity": {"conv2d-1": 0.5}})


def test_layer_pruned_to_nothing_is_an_error():
    # linear_0 of seq_cnn has 7*2*2*4 = 112 weights: 0.999 would remove all of them
    with pytest.raises(dmc.ConfigError, match=r"\['linear_0'\] = 0.999: removes all 112 weights of layer 'linear_0'"):
        compress({"sparsity": {"linear_0": 0.999}})


@pytest.mark.parametrize("pw,match", [
    ({"sparsity": 0.5, "schedule": "cubic"}, r"\['schedule'\]: 'cubic' is not one of"),
    ({"sparsity": 0.5, "ranking": "model"}, r"\['ranking'\]: 'model' is not one of"),
    ({"sparsity": 0.5, "schedule": "polynomial"}, "needs 'end_step'"),
    ({"sparsity": 0.5, "end_step": 10}, r"\['end_step'\] only apply to schedule 'polynomial'"),
    ({"sparsity": 0.5, "schedule": "polynomial", "end_step": 10, "begin_step": 10}, r"\['end_step'\] must be an int >= 11"),
    ({"sparsity": 0.5, "schedule": "polynomial", "end_step": 10, "frequency": 0}, r"\['frequency'\] must be an int >= 1"),
    ({"sparsity": 0.5, "schedule": "polynomial", "end_step": 10, "power": -1}, r"\['power'\] must be a positive"),
    ({"sparsity": 0.5, "schedule": "polynomial", "end_step": 10, "initial_sparsity": 0.6}, "exceeds a final sparsity"),
    ({"sparsity": {"conv2d_0": 0.5}, "ranking": "global"}, "global ranking takes one float"),
    ({"sparsity": 0.5, "sparsty": 1}, "unknown key 'sparsty'"),
    ({"schedule": "oneshot"}, "'sparsity' is required"),
])
def test_bad_schedule_and_ranking(pw, match):
    with pytest.raises(dmc.ConfigError, match=match):
        compress(pw)


# -- exact zeros in the integer model -----------------------------------------------------------------

@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel"])
@pytest.mark.parametrize("channels", [False, True])
def test_pruned_weights_are_zero_in_the_integer_model(bits, granularity, channels):
    """Per layer: the mask keeps exactly the largest folded magnitudes (an independent top-k on
    the weights compress() folded), and every masked weight is 0 in the converted IntModel."""
    sparsity = {"conv2d_0": 0.5, "conv2d_1": 0.8, "linear_0": 0.9}
    extra = {"prune_channel": {"sparsity": {"conv2d_0": 2, "conv2d_1": 3}}} if channels else {}
    cm = compress({"sparsity": sparsity}, quant=static_config(bits, granularity), **extra)
    got_masks = masks(cm)
    qm = dmc.convert(cm)
    ints = int_weights(qm)
    bad = []
    for n in cm.nodes:
        if n.op not in ("conv2d", "linear"):
            continue
        alias = n.attrs["alias"]
        keep = expected_keep(cm.layers[n.name].weight.detach().numpy(), sparsity[alias])
        if not np.array_equal(got_masks[alias].astype(bool), keep):
            bad.append(f"{alias}: mask differs from the top-{keep.sum()} magnitudes")
        nonzero_pruned = np.argwhere((ints[alias] != 0) & ~keep)
        if len(nonzero_pruned):
            bad.append(f"{alias}: pruned weights not zero at {nonzero_pruned[:5].tolist()}")
        zero_frac = float((ints[alias] == 0).mean())
        if zero_frac < sparsity[alias] - 1.0 / ints[alias].size:
            bad.append(f"{alias}: only {zero_frac:.3f} zeros, target {sparsity[alias]}")
    for line in bad:
        print(line)
    assert not bad
    report = {r["layer"]: r for r in qm.meta["weight_pruning"]}
    assert {k: report[k]["target"] for k in sparsity} == sparsity
    assert all(report[k]["zero"] == float((ints[k] == 0).mean()) for k in sparsity)


def test_zero_row_keeps_a_usable_per_channel_scale():
    """A row pruned away entirely must not get a degenerate scale (its bias would overflow int32)."""
    model = seq_cnn()
    with torch.no_grad():
        model[-1].weight[2] *= 1e-4            # output 2 of the linear: the smallest weights
    cm = compress({"sparsity": {"linear_0": 0.7}}, model=model, quant=static_config(4, "per_channel"))
    qm = dmc.convert(cm)
    w = int_weights(qm)["linear_0"]
    assert np.all(w[2] == 0) and np.count_nonzero(w) > 0
    ref = cm.eval()(CAL).detach().numpy()
    got = qm.predict(CAL.numpy(), dequantize=True)
    assert np.array_equal(got.argmax(1), ref.argmax(1))


def test_depthwise_and_residual_model():
    cm = compress({"sparsity": 0.6}, model=residual_net(), quant=static_config(4, "per_channel"),
                  prune_channel={"sparsity": {"conv1": 1}})
    ints = int_weights(dmc.convert(cm))
    for alias, m in masks(cm).items():
        assert np.all(ints[alias][m == 0] == 0), alias
        assert m.size - m.sum() == math.floor(0.6 * m.size + 0.5), alias


# -- schedules and ranking ---------------------------------------------------------------------------

def test_polynomial_formula_matches_tf_mot():
    # s(t) = s_f + (s_i - s_f) * (1 - (t - b) / (e - b))^3, clipped outside [b, e]
    for t, want in [(0, 0.1), (10, 0.1), (15, 0.9 + (0.1 - 0.9) * 0.5 ** 3), (20, 0.9), (99, 0.9)]:
        assert polynomial_sparsity(t, 0.1, 0.9, 10, 20, 3.0) == pytest.approx(want, abs=1e-12)


def test_polynomial_schedule_step_by_step():
    """Masks change only on due steps (every `frequency` from begin, and at end_step), follow the
    schedule's count, never revive a pruned weight, and reach the target at end_step = 7 even
    though 7 - 2 is not a multiple of the frequency 2."""
    pw = {"sparsity": 0.8, "schedule": "polynomial", "begin_step": 2, "end_step": 7, "frequency": 2}
    cm = compress(pw)
    cm.train()
    opt = torch.optim.SGD(cm.parameters(), lr=0.01)
    numel = {k: m.size for k, m in masks(cm).items()}
    expect_sparsity = 0.0
    prev = masks(cm)
    assert all(m.all() for m in prev.values())         # nothing pruned before begin_step
    for step in range(10):
        if step in (2, 4, 6, 7):
            expect_sparsity = 0.8 + (0.0 - 0.8) * (1 - (step - 2) / 5) ** 3
        opt.zero_grad()
        cm(CAL).sum().backward()
        opt.step()
        now = masks(cm)
        for k, m in now.items():
            zeros = m.size - int(m.sum())
            want = math.floor(expect_sparsity * numel[k] + 0.5)
            assert zeros == want, f"step {step} {k}: {zeros} zeros, schedule says {want}"
            assert not np.any((prev[k] == 0) & (m == 1)), f"step {step} {k}: a pruned weight came back"
        prev = now
    assert int(cm.weight_pruner.step) == 10


def test_global_ranking_keeps_the_largest_weights_of_the_model():
    cm = compress({"sparsity": 0.75, "ranking": "global"})
    layers = [n for n in cm.nodes if n.op in ("conv2d", "linear")]
    flat = np.concatenate([cm.layers[n.name].weight.detach().numpy().reshape(-1) for n in layers])
    keep = expected_keep(flat, 0.75)
    got = np.concatenate([masks(cm)[n.attrs["alias"]].reshape(-1) for n in layers]).astype(bool)
    assert np.array_equal(got, keep)
    assert got.sum() == len(flat) - math.floor(0.75 * len(flat) + 0.5)


def test_global_ranking_leaves_every_layer_a_weight():
    model = seq_cnn()
    with torch.no_grad():
        model[0].weight *= 1e-6                 # conv2d_0 loses the global ranking entirely
    cm = compress({"sparsity": 0.9, "ranking": "global"}, model=model)
    conv0 = next(n.name for n in cm.nodes if n.attrs.get("alias") == "conv2d_0")
    m = masks(cm)["conv2d_0"].reshape(-1)
    assert m.sum() == 1, f"conv2d_0 keeps {m.sum()} weights"
    assert m[np.argmax(np.abs(cm.layers[conv0].weight.detach().numpy().reshape(-1)))] == 1


def test_prune_weights_float_copy_ranks_folded_magnitudes():
    model = seq_cnn()
    pruned = dmc.prune_weights(model, {"conv2d_0": 0.5}, SHAPE)
    bn = model[1]
    folded = model[0].weight.detach() * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()[:, None, None, None]
    keep = expected_keep(folded.numpy(), 0.5)
    w = pruned.get_submodule("0").weight.detach().numpy()
    assert np.array_equal(w != 0, keep)
    assert np.array_equal(w[keep], model[0].weight.detach().numpy()[keep])
    assert np.array_equal(pruned.get_submodule("3").weight.detach().numpy(), model[3].weight.detach().numpy())


def test_sensitivity_sweeps_weight_sparsity():
    """eval_fn counts the zero weights: each cell must be exactly that layer's pruned count."""
    model = seq_cnn()
    sizes = {"conv2d_0": 135, "conv2d_1": 315, "linear_0": 112}

    def zeros(m):
        return sum(int((mod.weight == 0).sum()) for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear)))

    res = dmc.sensitivity(model, zeros, SHAPE, sparsities=(0.25, 0.5, 0.999), kind="weight", progress=False)
    assert res.baseline == 0 and res.channels == sizes
    for layer, row in res.scores.items():
        n = sizes[layer]
        assert row == [math.floor(0.25 * n + 0.5), math.floor(0.5 * n + 0.5), n - 1], layer
    assert "w" in res.table().splitlines()[1]
    with pytest.raises(dmc.ConfigError, match="kind 'bits'"):
        dmc.sensitivity(model, zeros, SHAPE, kind="bits")
    with pytest.raises(dmc.ConfigError, match="cannot analyse"):
        dmc.sensitivity(model, zeros, SHAPE, layers=["conv9"], kind="weight")


# -- smoke run of the pruning path -------------------------------------------------------------------

def test_pruning_path_smoke(tmp_path):
    """compress -> fit (polynomial over 6 steps) -> convert -> save -> load: the target is reached,
    the loaded model predicts what the converted one does, and converting early warns."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 3, 8, 8, generator=g), torch.randint(0, 4, (64,), generator=g)
    loader = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    pw = {"sparsity": 0.9, "schedule": "polynomial", "end_step": 6, "frequency": 2, "ranking": "global"}
    cm = compress(pw, quant=static_config(4, "per_channel"))
    cm.fit(loader, epochs=1, progress=False)
    with pytest.warns(UserWarning, match="schedule ends at step 6 and the model is at step 4"):
        dmc.convert(cm)
    cm.fit(loader, epochs=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qm = dmc.convert(cm)
    ints = int_weights(qm)
    total = sum(w.size for w in ints.values())
    zeros = sum(int((w == 0).sum()) for w in ints.values())
    assert zeros >= math.floor(0.9 * total + 0.5)
    qm.save(tmp_path / "m.dmc")
    again = dmc.load(tmp_path / "m.dmc")
    assert again.meta["weight_pruning"] == qm.meta["weight_pruning"]
    assert np.array_equal(again.predict(x.numpy()), qm.predict(x.numpy()))


def test_staged_schedule_continues_from_the_earlier_masks():
    """set_weight_pruning: a second stage (50% -> 80%) keeps every weight pruned in the first and
    ends at the new target; its step counter starts again at 0."""
    cm = compress({"sparsity": 0.5, "ranking": "global"})
    first = masks(cm)
    cm.set_weight_pruning({"sparsity": 0.8, "ranking": "global", "schedule": "polynomial",
                           "initial_sparsity": 0.5, "end_step": 3, "frequency": 1})
    assert int(cm.weight_pruner.step) == 0
    cm.train()
    for _ in range(4):
        cm(CAL)
    second = masks(cm)
    total = sum(m.size for m in second.values())
    assert sum(int((m == 0).sum()) for m in second.values()) == math.floor(0.8 * total + 0.5)
    for k in first:
        assert not np.any((first[k] == 0) & (second[k] == 1)), f"{k}: a weight pruned in stage 1 came back"
    with pytest.raises(dmc.ConfigError, match=r"\['sparsity'\]\['conv9'\]|unknown layer 'conv9'"):
        cm.set_weight_pruning({"sparsity": {"conv9": 0.5}})
