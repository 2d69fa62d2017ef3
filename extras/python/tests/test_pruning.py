"""Structured channel pruning (dmc.prune): shapes, dependency groups and exactness."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import dmc
from conftest import mlp, residual_net, seq_cnn

ODD = st.sampled_from([3, 5, 7, 9])
X = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(7))


def state_copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_state_equal(model, state):
    now = model.state_dict()
    assert now.keys() == state.keys()
    for k in state:
        assert now[k].shape == state[k].shape, k
        assert torch.equal(now[k], state[k]), k


def expected_removed(amount, channels):
    return round(amount * channels) if isinstance(amount, float) else amount


# -- random Sequential CNNs ------------------------------------------------------------------------

@settings(max_examples=20)
@given(c1=ODD, c2=ODD, bn=st.booleans(), metric=st.sampled_from(["l1", "l2"]), data=st.data())
def test_sequential_pruning_invariants(c1, c2, bn, metric, data):
    torch.manual_seed(c1 * 10 + c2)
    model = seq_cnn(c1, c2, n_out=4, bn=bn)
    n1 = data.draw(st.integers(0, c1 - 1), label="n1 (int count)")
    f2 = data.draw(st.sampled_from([0.0, 0.2, 0.3, 0.4, 0.6, 0.7]), label="f2 (fraction)")
    name2 = data.draw(st.sampled_from(["conv2d_1", "3" if bn else "2"]), label="name of 2nd conv")
    before = state_copy(model)
    with torch.no_grad():
        y0 = model(X)
    pruned = dmc.prune(model, {"conv2d_0": n1, name2: f2}, (1, 3, 8, 8), metric=metric)

    assert_state_equal(model, before)                     # the original is untouched
    convs = [m for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    lin = [m for m in pruned.modules() if isinstance(m, nn.Linear)][0]
    k1, k2 = c1 - n1, c2 - expected_removed(f2, c2)
    assert convs[0].out_channels == convs[0].weight.shape[0] == k1
    assert convs[1].in_channels == convs[1].weight.shape[1] == k1
    assert convs[1].out_channels == k2
    assert lin.in_features == lin.weight.shape[1] == k2 * 2 * 2
    assert lin.out_features == 4                          # the output layer keeps its outputs
    if bn:
        bns = [m for m in pruned.modules() if isinstance(m, nn.BatchNorm2d)]
        assert [b.num_features for b in bns] == [k1, k2]
        assert [b.running_mean.numel() for b in bns] == [k1, k2]
    with torch.no_grad():
        y1 = pruned.eval()(X)
    assert y1.shape == y0.shape
    assert torch.isfinite(y1).all()


@pytest.mark.parametrize("amount", [1.0, 1.5, -0.1, -1, 5, 6])
def test_sparsity_out_of_range(amount):
    model = seq_cnn(5, 7)
    with pytest.raises(dmc.ConfigError) as e:
        dmc.prune(model, {"conv2d_0": amount}, (1, 3, 8, 8))
    assert "conv2d_0" in str(e.value)


def test_fraction_that_would_remove_all_channels():
    model = seq_cnn(3, 7)
    with pytest.raises(dmc.ConfigError, match="between 0 and 2"):
        dmc.prune(model, {"conv2d_0": 0.9}, (1, 3, 8, 8))       # round(2.7) = 3 = all channels


@pytest.mark.parametrize("amount", ["half", None, True, [1]])
def test_sparsity_wrong_type(amount):
    with pytest.raises(dmc.ConfigError, match="fraction"):
        dmc.prune(seq_cnn(), {"conv2d_0": amount}, (1, 3, 8, 8))


@pytest.mark.parametrize("name", ["linear_0", "8"])
def test_output_layer_is_never_pruned(name):
    with pytest.raises(dmc.ConfigError, match="model output"):
        dmc.prune(seq_cnn(), {name: 1}, (1, 3, 8, 8))
    # asking for nothing is fine
    pruned = dmc.prune(seq_cnn(), {name: 0, "conv2d_0": 2}, (1, 3, 8, 8))
    assert pruned.get_submodule("8").out_features == 4


def test_fully_convolutional_output_layer_is_fixed():
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.Conv2d(5, 4, 1)).eval()
    with pytest.raises(dmc.ConfigError, match="model output"):
        dmc.prune(model, {"conv2d_1": 1}, (1, 3, 8, 8))


def test_channels_added_to_the_input_are_fixed():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.head = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return self.head(x + self.conv(x))
    with pytest.raises(dmc.ConfigError, match="model input"):
        dmc.prune(Skip().eval(), {"conv": 1}, (1, 3, 8, 8))


def test_unknown_layer_name():
    with pytest.raises(dmc.ConfigError, match="unknown layer 'conv9'"):
        dmc.prune(seq_cnn(), {"conv9": 1}, (1, 3, 8, 8))


# -- residual model: add groups and depthwise passengers ---------------------------------------------

@settings(max_examples=15)
@given(c=ODD, mid=ODD, c3=ODD, data=st.data())
def test_residual_pruning_invariants(c, mid, c3, data):
    torch.manual_seed(c + 10 * mid + 100 * c3)
    model = residual_net(c=c, mid=mid, c3=c3)
    n_stem = data.draw(st.integers(0, c - 1), label="n_stem")
    n_mid = data.draw(st.integers(0, mid - 1), label="n_mid")
    f3 = data.draw(st.sampled_from([0.0, 0.2, 0.4]), label="f3")
    via = data.draw(st.sampled_from(["stem", "conv2d_0", "conv2", "conv2d_2"]), label="group member named")
    before = state_copy(model)
    with torch.no_grad():
        y0 = model(X)
    pruned = dmc.prune(model, {via: n_stem, "conv1": n_mid, "conv2d_4": f3}, (1, 3, 8, 8))
    assert_state_equal(model, before)

    k, km, k3 = c - n_stem, mid - n_mid, c3 - expected_removed(f3, c3)
    # stem and conv2 feed the same add: pruned together, whichever is named
    assert pruned.stem.out_channels == pruned.conv2.out_channels == k
    assert pruned.bn0.num_features == pruned.bn2.num_features == k
    assert pruned.conv1.in_channels == k and pruned.conv1.out_channels == km
    assert pruned.conv2.in_channels == km and pruned.bn1.num_features == km
    # the depthwise conv rides along with the add group
    assert pruned.dw.in_channels == pruned.dw.out_channels == pruned.dw.groups == k
    assert pruned.dw.weight.shape == (k, 1, 3, 3)
    assert pruned.conv3.in_channels == k and pruned.conv3.out_channels == k3
    assert pruned.fc.in_features == k3 and pruned.fc.out_features == 4
    with torch.no_grad():
        y1 = pruned.eval()(X)
    assert y1.shape == y0.shape and torch.isfinite(y1).all()


def test_residual_group_members_keep_the_same_channels():
    """Both producers of the add keep the same channel indices (chosen by their summed importance)."""
    torch.manual_seed(3)
    model = residual_net(c=7)
    pruned = dmc.prune(model, {"stem": 3}, (1, 3, 8, 8))

    def kept(orig, new):
        return [i for i in range(orig.shape[0]) for j in range(new.shape[0]) if torch.equal(orig[i], new[j])]
    ks = kept(model.stem.weight, pruned.stem.weight)
    assert len(ks) == 4
    assert kept(model.conv2.weight, pruned.conv2.weight) == ks
    assert kept(model.dw.weight, pruned.dw.weight) == ks
    assert torch.equal(pruned.bn2.running_mean, model.bn2.running_mean[ks])
    assert torch.equal(pruned.conv3.weight, model.conv3.weight[:, ks])


def test_residual_group_conflicting_amounts():
    with pytest.raises(dmc.ConfigError, match="pruned together"):
        dmc.prune(residual_net(), {"stem": 2, "conv2": 3}, (1, 3, 8, 8))
    pruned = dmc.prune(residual_net(), {"stem": 2, "conv2d_2": 2}, (1, 3, 8, 8))   # consistent: fine
    assert pruned.stem.out_channels == 5


def test_depthwise_conv_cannot_be_pruned_on_its_own():
    """A depthwise conv has no channels of its own: a request to prune it must not be ignored."""
    with pytest.raises(dmc.ConfigError, match="depthwise") as e:
        dmc.prune(residual_net(), {"dw": 2}, (1, 3, 8, 8))
    assert "stem" in str(e.value)
    pruned = dmc.prune(residual_net(), {"conv2d_3": 0}, (1, 3, 8, 8))                 # zero: no-op
    assert pruned.dw.out_channels == 7


# -- exactness: removing channels that are identically zero changes nothing -----------------------

def zero_channel_model(zero0, zero2, seed):
    """conv0 -> ReLU -> conv1 -> ReLU -> MaxPool -> conv2 -> ReLU -> Flatten -> Linear, no BN.
    Output channels ``zero0`` of conv0 and ``zero2`` of conv2 have all-zero weights and bias."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 7, 3, padding=1), nn.ReLU(), nn.Conv2d(7, 5, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(5, 9, 1), nn.ReLU(), nn.Flatten(), nn.Linear(9 * 16, 4)).eval()
    with torch.no_grad():
        for i in zero0:
            model[0].weight[i].zero_()
            model[0].bias[i] = 0.0
        for i in zero2:
            model[5].weight[i].zero_()
            model[5].bias[i] = 0.0
    return model


@settings(max_examples=20)
@given(zero0=st.sets(st.integers(0, 6), min_size=1, max_size=6),
       zero2=st.sets(st.integers(0, 8), min_size=0, max_size=8),
       metric=st.sampled_from(["l1", "l2"]), seed=st.integers(0, 1000))
def test_removing_all_zero_channels_leaves_outputs_unchanged(zero0, zero2, metric, seed):
    model = zero_channel_model(zero0, zero2, seed)
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y0 = model(x)
    pruned = dmc.prune(model, {"conv2d_0": len(zero0), "conv2d_2": len(zero2)}, (1, 3, 8, 8), metric=metric)
    keep0 = [i for i in range(7) if i not in zero0]
    keep2 = [i for i in range(9) if i not in zero2]
    # exactly the zero channels went (they have the lowest importance)
    assert torch.equal(pruned.get_submodule("0").weight, model[0].weight[keep0])
    assert torch.equal(pruned.get_submodule("2").weight, model[2].weight[:, keep0])
    assert torch.equal(pruned.get_submodule("5").weight, model[5].weight[keep2])
    # Flatten -> Linear: each removed channel removes its 4x4 block of input features
    cols = [c * 16 + p for c in keep2 for p in range(16)]
    assert pruned.get_submodule("8").in_features == len(keep2) * 16
    assert torch.equal(pruned.get_submodule("8").weight, model[8].weight[:, cols])
    with torch.no_grad():
        y1 = pruned(x)
    assert torch.allclose(y1, y0, rtol=1e-5, atol=1e-6), (y1 - y0).abs().max()


def test_zero_channels_flatten_linear_only():
    """conv -> ReLU -> flatten -> linear, the linear reading CHW-ordered features."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(2, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6 * 6, 3)).eval()
    with torch.no_grad():
        model[0].weight[[1, 3]] = 0.0
        model[0].bias[[1, 3]] = 0.0
    x = torch.randn(10, 2, 8, 8)
    with torch.no_grad():
        y0 = model(x)
        pruned = dmc.prune(model, {"0": 2}, (1, 2, 8, 8))
        y1 = pruned(x)
    assert pruned.get_submodule("3").in_features == 3 * 36
    assert torch.allclose(y1, y0, rtol=1e-5, atol=1e-6)


def test_zero_channels_in_residual_group_with_depthwise():
    """Zero channels in both producers of an add (no BN), followed by depthwise conv and GAP."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 7, 3, padding=1)
            self.b = nn.Conv2d(7, 7, 3, padding=1)
            self.dw = nn.Conv2d(7, 7, 3, padding=1, groups=7)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(7, 3)

        def forward(self, x):
            x = torch.relu(self.a(x))
            x = torch.relu(x + self.b(x))
            x = torch.relu(self.dw(x))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(11)
    model = Net().eval()
    zero = [0, 4]
    with torch.no_grad():
        for m in (model.a, model.b, model.dw):
            m.weight[zero] = 0.0
            m.bias[zero] = 0.0
        model.b.weight[:, zero] = 0.0      # not needed for exactness, but makes b's channels truly dead
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        y0 = model(x)
    pruned = dmc.prune(model, {"a": 2}, (1, 3, 8, 8))
    with torch.no_grad():
        y1 = pruned(x)
    assert pruned.a.out_channels == pruned.b.out_channels == pruned.dw.groups == 5
    assert torch.allclose(y1, y0, rtol=1e-5, atol=1e-6)


def test_prune_does_not_modify_original_and_returns_runnable_copy():
    model = residual_net()
    before = state_copy(model)
    modules_before = [(n, type(m), tuple(p.shape for p in m.parameters(recurse=False)))
                      for n, m in model.named_modules()]
    pruned = dmc.prune(model, {"stem": 0.3, "conv1": 2, "conv3": 4}, (1, 3, 8, 8))
    assert pruned is not model
    assert_state_equal(model, before)
    assert [(n, type(m), tuple(p.shape for p in m.parameters(recurse=False)))
            for n, m in model.named_modules()] == modules_before
    assert pruned.stem.weight.data_ptr() != model.stem.weight.data_ptr()


def test_linear_only_pruning():
    model = mlp(20, 13, 5)
    x = torch.randn(4, 20)
    pruned = dmc.prune(model, {"linear_0": 0.5, "2": 3}, (1, 20))
    assert pruned.get_submodule("0").out_features == 13 - round(0.5 * 13)
    assert pruned.get_submodule("2").in_features == 13 - round(0.5 * 13)
    assert pruned.get_submodule("2").out_features == 8
    assert pruned.get_submodule("4").in_features == 8
    assert pruned(x).shape == (4, 5)


def test_compress_prunes_as_configured():
    model = seq_cnn(5, 7)
    cfg = {"prune_channel": {"sparsity": {"conv2d_0": 2, "conv2d_1": 0.3}, "metric": "l1"},
           "quantize": {"scheme": "static"}}
    cm = dmc.compress(model, cfg, (1, 3, 8, 8), torch.randn(32, 3, 8, 8))
    report = {r["layer"]: (r["before"], r["after"]) for r in cm.prune_report}
    assert report == {"0": (5, 3), "3": (7, 5)}
    qm = dmc.convert(cm)
    shapes = [op["attrs"]["weight_shape"] for op in qm.ops if op["op"] in ("conv2d", "linear")]
    assert shapes == [[3, 3, 3, 3], [5, 3, 3, 3], [4, 5 * 4]]


def test_pruned_model_can_be_pruned_again_and_compressed():
    model = residual_net()
    once = dmc.prune(model, {"stem": 2, "conv1": 1}, (1, 3, 8, 8))
    twice = dmc.prune(once, {"stem": 1}, (1, 3, 8, 8))
    assert once.stem.out_channels == 5 and twice.stem.out_channels == 4 and twice.dw.groups == 4
    cm = dmc.compress(twice, {"quantize": {"scheme": "static"}}, (1, 3, 8, 8), torch.randn(16, 3, 8, 8))
    qm = dmc.convert(cm)
    assert qm.ops[1]["attrs"]["weight_shape"] == [4, 3, 3, 3]
    assert qm.predict(torch.randn(2, 3, 8, 8).numpy()).shape == (2, 4)


def test_depthwise_conv_on_the_model_input_cannot_be_pruned():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(3, 3, 3, padding=1, groups=3)
            self.conv = nn.Conv2d(3, 4, 1)
            self.fc = nn.Linear(4 * 64, 2)

        def forward(self, x):
            return self.fc(torch.flatten(torch.relu(self.conv(self.dw(x))), 1))
    with pytest.raises(dmc.ConfigError, match="model input"):
        dmc.prune(Net().eval(), {"dw": 1}, (1, 3, 8, 8))
    pruned = dmc.prune(Net().eval(), {"conv": 2}, (1, 3, 8, 8))
    assert pruned.fc.in_features == 2 * 64 and pruned(torch.randn(2, 3, 8, 8)).shape == (2, 2)
