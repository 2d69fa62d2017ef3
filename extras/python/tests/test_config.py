"""Config validation and unsupported models: every user mistake is a dmc error with a useful message."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import dmc
from conftest import residual_net, seq_cnn, static_config
from dmc.compression.config import Granularity, QuantizationScheme, parse_config

SHAPE = (1, 3, 8, 8)
CAL = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def compress(cfg, model=None, cal=CAL):
    return dmc.compress(model if model is not None else seq_cnn(), cfg, SHAPE, cal)


def weight_bits(cm):
    return {n.attrs["alias"]: (n.attrs["weight_bits"], n.attrs["granularity"])
            for n in cm.nodes if n.op in ("conv2d", "linear")}


# -- unknown keys ----------------------------------------------------------------------------------

def test_unknown_top_key():
    with pytest.raises(dmc.ConfigError) as e:
        compress({"quantise": {"scheme": "static"}})
    msg = str(e.value)
    assert "unknown key 'quantise'" in msg and "did you mean 'quantize'" in msg
    assert "prune_channel" in msg


def test_unknown_quantize_key():
    with pytest.raises(dmc.ConfigError) as e:
        compress({"quantize": {"scheme": "static", "bitwidths": 4}})
    msg = str(e.value)
    assert "unknown key 'bitwidths'" in msg and "did you mean 'bitwidth'" in msg
    assert "granularity" in msg and "activation_bitwidth" in msg


def test_unknown_layer_setting_key():
    with pytest.raises(dmc.ConfigError, match=r"unknown key 'bits'.*valid keys"):
        compress(static_config(layers={"conv2d_0": {"bits": 4}}))


def test_unknown_prune_key():
    with pytest.raises(dmc.ConfigError, match="did you mean 'sparsity'"):
        compress({"prune_channel": {"sparsty": {"conv2d_0": 1}}, "quantize": {"scheme": "static"}})


@pytest.mark.parametrize("cfg", [[("quantize", {})], "static", 3])
def test_config_must_be_a_dict(cfg):
    with pytest.raises(dmc.ConfigError, match="must be a dict"):
        compress(cfg)


# -- layer names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["layers", "sparsity"])
def test_typo_in_layer_name_lists_valid_names_and_suggests(where):
    cfg = static_config(layers={"conv2d-0": {"bitwidth": 4}}) if where == "layers" else \
        {"prune_channel": {"sparsity": {"conv2d-0": 1}}, "quantize": {"scheme": "static"}}
    with pytest.raises(dmc.ConfigError) as e:
        compress(cfg)
    msg = str(e.value)
    assert "unknown layer 'conv2d-0'" in msg
    assert "did you mean 'conv2d_0'" in msg
    for valid in ("conv2d_0", "conv2d_1", "linear_0", "'0'", "'3'", "'8'"):   # aliases and module paths
        assert valid in msg, valid


def test_typo_in_module_path_suggests_path():
    with pytest.raises(dmc.ConfigError, match="did you mean 'conv1'"):
        compress(static_config(layers={"conv_1": {"bitwidth": 4}}), model=residual_net())


def test_seed_aliases_and_module_paths_both_accepted():
    cfg = static_config(layers={"conv2d_0": {"bitwidth": 4}, "3": {"bitwidth": 2, "granularity": "per_channel"},
                                "linear_0": {"activation_bitwidth": 4}})
    cm = compress(cfg)
    assert weight_bits(cm) == {"conv2d_0": (4, "per_tensor"), "conv2d_1": (2, "per_channel"),
                               "linear_0": (8, "per_tensor")}
    qm = dmc.convert(cm)
    assert qm.output_quant["bits"] == 4
    assert [op["attrs"]["weight_bits"] for op in qm.ops if "weight_bits" in op["attrs"]] == [4, 2, 8]


def test_names_in_residual_model():
    cfg = {"prune_channel": {"sparsity": {"conv2d_0": 2, "conv1": 0.4}},
           "quantize": {"scheme": "static", "layers": {"fc": {"bitwidth": 4}, "conv2d_3": {"bitwidth": 2}}}}
    cm = compress(cfg, model=residual_net())
    assert weight_bits(cm)["linear_0"] == (4, "per_tensor")
    assert weight_bits(cm)["conv2d_3"] == (2, "per_tensor")
    assert {r["layer"]: r["after"] for r in cm.prune_report} == {"stem": 5, "conv1": 3}


# -- values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value", [("bitwidth", 3), ("bitwidth", 16), ("bitwidth", True), ("bitwidth", "8"),
                                       ("activation_bitwidth", 2), ("activation_bitwidth", 16),
                                       ("input_bitwidth", 2)])
def test_bad_bit_width(key, value):
    with pytest.raises(dmc.ConfigError) as e:
        compress({"quantize": {"scheme": "static", key: value}})
    assert key in str(e.value) and "bits is not supported" in str(e.value)


def test_bad_layer_bit_width_names_the_layer():
    with pytest.raises(dmc.ConfigError, match=r"\['layers'\]\['conv2d_1'\]\['bitwidth'\]: 1 bits"):
        compress(static_config(layers={"conv2d_1": {"bitwidth": 1}}))


@pytest.mark.parametrize("value", ["per_row", "channel", 1, None])
def test_bad_granularity(value):
    with pytest.raises(dmc.ConfigError, match=r"granularity.*not one of \['per_tensor', 'per_channel'\]"):
        compress({"quantize": {"scheme": "static", "granularity": value}})


@pytest.mark.parametrize("value", ["float", "int8", "", 0])
def test_bad_scheme(value):
    with pytest.raises(dmc.ConfigError, match=r"scheme.*not one of \['static', 'dynamic'\]"):
        compress({"quantize": {"scheme": value}})


def test_bad_metric():
    with pytest.raises(dmc.ConfigError, match="metric"):
        compress({"prune_channel": {"sparsity": {}, "metric": "l3"}, "quantize": {"scheme": "static"}})


def test_enum_values_and_case_insensitive_strings_accepted():
    cfg = {"quantize": {"scheme": dmc.QuantizationScheme.STATIC, "granularity": "PER_TENSOR",
                        "layers": {"conv2d_0": {"granularity": "Per-Channel"},
                                   "conv2d_1": {"granularity": dmc.Granularity.PER_CHANNEL}}}}
    cm = compress(cfg)
    assert cm.static
    assert weight_bits(cm) == {"conv2d_0": (8, "per_channel"), "conv2d_1": (8, "per_channel"),
                               "linear_0": (8, "per_tensor")}
    cm = compress({"quantize": {"scheme": "DYNAMIC"}})
    assert not cm.static


def test_parse_config_defaults():
    cfg = parse_config({"quantize": {}}, ["a"])
    assert cfg.scheme is QuantizationScheme.STATIC
    assert cfg.default.granularity is Granularity.PER_TENSOR
    assert (cfg.default.weight_bits, cfg.default.activation_bits, cfg.input_bits) == (8, 8, 8)
    cfg = parse_config({"quantize": {"activation_bitwidth": 4}}, ["a"])
    assert cfg.input_bits == 4                       # input bits default to the activation bits


# -- sparsity ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount,match", [(1.0, r"\[0, 1\)"), (-0.25, r"\[0, 1\)"), (5, "between 0 and 4"),
                                          (-1, "between 0 and 4"), (0.95, "between 0 and 4")])
def test_sparsity_out_of_range_or_removing_all_channels(amount, match):
    with pytest.raises(dmc.ConfigError, match=match):
        compress({"prune_channel": {"sparsity": {"conv2d_0": amount}}, "quantize": {"scheme": "static"}})


@pytest.mark.parametrize("name", ["linear_0", "8"])
def test_pruning_the_output_layer(name):
    with pytest.raises(dmc.ConfigError, match=r"cannot be pruned because it feeds the model output"):
        compress({"prune_channel": {"sparsity": {name: 1}}, "quantize": {"scheme": "static"}})


def test_sparsity_must_be_a_dict():
    with pytest.raises(dmc.ConfigError, match="must be a dict"):
        compress({"prune_channel": {"sparsity": 0.5}, "quantize": {"scheme": "static"}})


# -- missing pieces ----------------------------------------------------------------------------------

def test_missing_calibration_data_for_static():
    with pytest.raises(dmc.ConfigError, match="calibration_data is required"):
        compress({"quantize": {"scheme": "static"}}, cal=None)
    # dynamic needs none
    assert not compress({"quantize": {"scheme": "dynamic"}}, cal=None).static


def test_empty_calibration_data():
    with pytest.raises(dmc.DataError, match="no batches"):
        compress({"quantize": {"scheme": "static"}}, cal=[])


def test_missing_quantize_section():
    with pytest.raises(dmc.ConfigError, match="quantize"):
        compress({"prune_channel": {"sparsity": {"conv2d_0": 1}}})
    with pytest.raises(dmc.ConfigError, match="quantize"):
        compress(None)


# -- unsupported models ------------------------------------------------------------------------------

class WithGELU(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU())
        self.fc = nn.Linear(4 * 36, 2)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(8, 8)
        self.rnn = nn.LSTM(8, 6)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        out, _ = self.rnn(self.enc(x))
        return self.fc(out)


class WithSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


@pytest.mark.parametrize("model,shape,path,kind", [
    (WithGELU(), SHAPE, "features.1", "GELU"),
    (WithLSTM(), (4, 8), "rnn", "LSTM"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh()), SHAPE, "1", "Tanh"),
    (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), SHAPE, "0", "Conv2d"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2)), SHAPE, "1", "AdaptiveAvgPool2d"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, ceil_mode=True)), SHAPE, "1", "MaxPool2d"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)), SHAPE, "1", "BatchNorm2d"),
])
@pytest.mark.parametrize("entry", ["compress", "prune"])
def test_unsupported_module_names_path_and_type(model, shape, path, kind, entry):
    with pytest.raises(dmc.UnsupportedModelError) as e:
        if entry == "compress":
            dmc.compress(model.eval(), {"quantize": {"scheme": "dynamic"}}, shape)
        else:
            dmc.prune(model.eval(), {}, shape)
    msg = str(e.value)
    assert f"'{path}'" in msg and kind in msg


def test_unsupported_function_is_named():
    with pytest.raises(dmc.UnsupportedModelError, match=r"function 'sigmoid'.*Supported functions"):
        dmc.compress(WithSigmoid(), {"quantize": {"scheme": "dynamic"}}, SHAPE)


@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 3, 8), (0, 3, 8, 8)])
def test_bad_input_shape(shape):
    with pytest.raises(dmc.UnsupportedModelError, match="input_shape"):
        dmc.compress(seq_cnn(), {"quantize": {"scheme": "dynamic"}}, shape)


def test_input_shape_that_does_not_fit_the_model():
    with pytest.raises(dmc.UnsupportedModelError, match="failed"):
        dmc.compress(seq_cnn(), {"quantize": {"scheme": "dynamic"}}, (1, 3, 16, 16))


def test_not_a_module():
    with pytest.raises(dmc.UnsupportedModelError, match="torch.nn.Module"):
        dmc.compress(lambda x: x, {"quantize": {"scheme": "dynamic"}}, SHAPE)


def test_user_model_is_not_modified_by_compress():
    model = seq_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    compress({"prune_channel": {"sparsity": {"conv2d_0": 2}}, "quantize": {"scheme": "static", "bitwidth": 4}})
    dmc.compress(model, {"prune_channel": {"sparsity": {"conv2d_0": 2}}, "quantize": {"scheme": "static"}},
                 SHAPE, CAL)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(model[1], nn.BatchNorm2d) and model[0].out_channels == 5


# -- calibration ----------------------------------------------------------------------------------

def test_bad_calibration_method_is_named():
    with pytest.raises(dmc.ConfigError, match=r"\['calibration'\]: 'percentile' is not one of \['minmax', 'mse'\]"):
        compress({"quantize": {"scheme": "static", "calibration": "percentile"}})


def test_mse_calibration_picks_the_least_squared_error_range():
    """A 4-bit ReLU output with a few outliers: min/max spends the codes on them; "mse" must
    choose, among the ranges hi * k / 40, exactly the one a brute-force numpy search prefers."""
    import numpy as np
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
    cal = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    cal[0, :, 0, 0] = 40.0                                       # outliers
    ranges = {}
    for method in ("minmax", "mse"):
        cm = dmc.compress(model, {"quantize": {"scheme": "static", "activation_bitwidth": 4,
                                               "calibration": method}}, SHAPE, [cal])
        ranges[method] = [float(v) for v in cm.quantizers["_0"].range.detach()]
    lo, hi = ranges["minmax"]
    assert lo == 0.0 and hi > 0
    with torch.no_grad():   # what the calibrator saw: the conv with its 8-bit weights, then ReLU
        x = torch.relu(cm.layers["_0"](cal, cm._scale("input_1"))).numpy().ravel().astype(np.float64)
    # 4096 values: the calibrator keeps them all (a random sample of larger batches)
    assert x.size == 4096
    errs = []
    for k in range(1, 41):
        s = hi * k / 40 / 15
        q = np.clip(np.rint(x / s), 0, 15) * s
        errs.append(((q - x) ** 2).sum())
    best = hi * (int(np.argmin(errs)) + 1) / 40
    got = ranges["mse"][1]
    print(f"min/max range {hi:.4f}, mse range {got:.4f}, brute force {best:.4f}")
    assert ranges["mse"][0] == 0.0 and got == pytest.approx(best, rel=1e-5)
    assert min(errs) < errs[-1]                     # and it beats min/max


def test_overlap_is_checked_and_travels_with_the_converted_model(tmp_path):
    """config['overlap'] must be a planner mode; the converted model carries it (also through a
    .dmc file), and the planner's default then plans in that mode."""
    from dmc.core.planner import plan
    with pytest.raises(dmc.ConfigError, match=r"config\['overlap'\]: 'sometimes' is not one of"):
        compress({"quantize": {"scheme": "static"}, "overlap": "sometimes"})
    qm = dmc.convert(compress({"quantize": {"scheme": "static"}, "overlap": "never"}))
    assert qm.meta["overlap"] == "never"
    qm.save(tmp_path / "m.dmc")
    back = dmc.load(tmp_path / "m.dmc")
    assert back.meta["overlap"] == "never" and plan(back).offsets == plan(back, "never").offsets
    assert "overlap" not in dmc.convert(compress({"quantize": {"scheme": "static"}})).meta
