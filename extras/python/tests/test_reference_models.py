"""The architecture registry and the reference architectures (LeNet-5, ResNet-8, DS-CNN,
MobileNetV2): shapes, parameter counts computed by hand or published, and that they deploy
through compress -> convert."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from dmc.compression.compressed_model import compress
from dmc.compression.conversion import convert
from dmc.errors import ConfigError
from dmc.zoo.registry import available, build, register


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def conv(cin, cout, k, bn=True, bias=False):
    """Parameters of a conv (k x k or (kh, kw)) with its BatchNorm (gamma, beta)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    return cin * cout * kh * kw + (cout if bias else 0) + (2 * cout if bn else 0)


def test_registry_lists_and_builds_every_reference_architecture():
    assert {"lenet5", "resnet8", "ds_cnn", "mobilenet_v2"} <= set(available())
    for name in ("lenet5", "resnet8", "ds_cnn", "mobilenet_v2"):
        for c, s in ((1, 28), (3, 32)):
            m = build(name, c, s, 7).eval()
            assert m(torch.rand(2, c, s, s)).shape == (2, 7), (name, c, s)


def test_registry_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown architecture 'resnet9'.*did you mean 'resnet8'"):
        build("resnet9", 1, 28, 10)
    with pytest.raises(ConfigError, match="unknown option.*'depth'.*width"):
        build("resnet8", 1, 28, 10, depth=3)
    with pytest.raises(ConfigError, match="lacks the parameters"):
        register("bad", lambda channels: None)
    with pytest.raises(ConfigError, match="width_mult"):
        build("mobilenet_v2", 3, 32, 10, width_mult=0)


def test_register_plugs_a_builder_in_by_name():
    def tiny(in_channels, input_size, num_classes, hidden=4):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, num_classes))
    register("tiny_test_arch", tiny)
    assert build("tiny_test_arch", 1, 4, 3)(torch.zeros(1, 1, 4, 4)).shape == (1, 3)


def test_lenet5_defaults_are_the_seed_model_and_sizes_follow_the_input():
    # 37,106 weights and biases + 44 BatchNorm parameters (the seed's LeNet-5)
    assert n_params(build("lenet5", 1, 28, 10)) == 37_106 + 44
    # 3x32x32: the first conv has 3 input channels, the flatten is 16 * 6 * 6
    expected = (3 * 6 * 25 + 6) + (6 * 16 * 25 + 16) + 44 + (576 * 84 + 84) + (84 * 10 + 10)
    assert n_params(build("lenet5", 3, 32, 10)) == expected


def test_resnet8_parameter_count_by_hand():
    stem = conv(3, 16, 3)
    stack1 = 2 * conv(16, 16, 3)
    stack2 = conv(16, 32, 3) + conv(32, 32, 3) + conv(16, 32, 1)
    stack3 = conv(32, 64, 3) + conv(64, 64, 3) + conv(32, 64, 1)
    head = 64 * 10 + 10
    assert n_params(build("resnet8", 3, 32, 10)) == stem + stack1 + stack2 + stack3 + head == 78_042


def test_ds_cnn_parameter_count_by_hand_on_mfcc_and_on_images():
    blocks = 4 * ((64 * 9 + 2 * 64) + conv(64, 64, 1))
    head = 64 * 12 + 12
    assert n_params(build("ds_cnn", 1, (49, 10), 12)) == conv(1, 64, (10, 4)) + blocks + head
    m = build("ds_cnn", 1, 28, 10)
    assert n_params(m) == conv(1, 64, 3) + blocks + 64 * 10 + 10
    assert m[0].stride == (2, 2) and m[0].kernel_size == (3, 3)


@pytest.mark.parametrize("width, expected", [(1.0, 3_504_872), (0.5, 1_968_680)])
def test_mobilenet_v2_matches_the_published_parameter_counts(width, expected):
    # ImageNet MobileNetV2 (1000 classes): 3.50 M parameters at width 1.0, 1.97 M at 0.5
    assert n_params(build("mobilenet_v2", 3, 224, 1000, width_mult=width)) == expected


def test_mobilenet_v2_keeps_small_inputs_at_full_resolution():
    m = build("mobilenet_v2", 1, 28, 10, width_mult=0.35)
    assert m.features[0].stride == (1, 1)
    assert build("mobilenet_v2", 3, 96, 10, width_mult=0.35).features[0].stride == (2, 2)


@pytest.mark.parametrize("name, shape", [("resnet8", (1, 28, 28)), ("ds_cnn", (1, 28, 28)),
                                         ("mobilenet_v2", (3, 32, 32))])
def test_reference_models_deploy_through_compress_and_convert(name, shape):
    """The integer interpreter computes what the fake-quantized model does (the same contract as
    test_interpreter): both on the same output grid and within 2 LSB (fixed-point vs float
    requantization in each of the layers before; MobileNetV2 has 50 of them)."""
    torch.manual_seed(0)
    opts = {"width_mult": 0.35, "last_channels": 64} if name == "mobilenet_v2" else {}
    model = build(name, shape[0], shape[1:], 10, **opts).eval()
    with torch.no_grad():     # eval-mode BatchNorm with spread statistics, so activations are not degenerate
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_var.uniform_(0.5, 2.0)
                mod.bias.uniform_(0.0, 0.5)
    x = torch.rand((16,) + shape)
    cm = compress(model, {"quantize": {"scheme": "static", "bitwidth": 8, "granularity": "per_channel"}},
                  (1,) + shape, calibration_data=x).eval()
    qm = convert(cm)
    got = qm.predict(x.numpy(), dequantize=True)
    with torch.no_grad():
        want = cm(x).numpy()
    lsb = np.abs(got - want) / float(qm.output_quant["scale"])
    for i in np.argwhere(lsb > 0.5)[:10]:
        print(f"sample {i[0]} class {i[1]}: interpreter {got[tuple(i)]:.5f} vs fake-quant {want[tuple(i)]:.5f}")
    assert np.allclose(lsb, np.round(lsb), atol=1e-2)
    assert (lsb <= 2.01).mean() >= 0.98, f"only {(lsb <= 2.01).mean():.3f} within 2 LSB, max {lsb.max()}"


def test_registered_deployment_form_and_open_keyword_builders():
    from dmc.zoo.registry import builder_options, deployment_form

    def open_builder(in_channels, input_size, num_classes, **kwargs):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, num_classes,
                                                     bias=kwargs.get("bias", True)))
    register("open_test_arch", open_builder, deployment_form=lambda m: m[1:])
    assert builder_options("open_test_arch") is None           # **kwargs: the builder checks its options
    m = build("open_test_arch", 1, 3, 2, bias=False)
    assert m[1].bias is None
    assert isinstance(deployment_form("open_test_arch", m)[0], nn.Linear)
    plain = build("resnet8", 1, 28, 10)
    assert deployment_form("resnet8", plain) is plain
