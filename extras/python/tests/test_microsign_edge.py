"""MicroSign-Edge backbones: shapes, reparameterization (exact to float rounding), SRAM-budget
scaling checked end to end against the Uno budget, pruning of the coupled channels, and the
integer meaning of the block ops (shift, hard-sigmoid / hard-swish, channel multiply)."""
from __future__ import annotations

import numpy as np
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import dmc
from dmc.cli import main as cli_main
from dmc.compression.layers import ChannelShift
from dmc.core.planner import plan
from dmc.errors import ConfigError, UnsupportedModelError
from dmc.zoo import EDGE_DEPLOY, MicroSignEdge, edge_micro, edge_nano, edge_small, reparameterize
from dmc.zoo.budget_scaling import deployed_arena
from dmc.zoo.microsign_edge import RSDBlock, build

BUILDERS = {"edge_nano": edge_nano, "edge_micro": edge_micro, "edge_small": edge_small}


def trained_looking(model: nn.Module, in_shape, seed: int = 0) -> nn.Module:
    """Random BatchNorm affines, then a few train-mode passes so that the running statistics are
    far from their defaults (mean 0, var 1): what a trained model's look like."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.momentum = 0.5
        model.train()
        for _ in range(4):
            model(torch.randn((8,) + tuple(in_shape), generator=g) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("arch", list(BUILDERS))
@pytest.mark.parametrize("in_shape", [(1, 28, 28), (3, 32, 32)])
def test_builders_take_channels_size_and_classes(arch, in_shape):
    model = BUILDERS[arch](in_channels=in_shape[0], input_size=in_shape[1], num_classes=7)
    assert isinstance(model, MicroSignEdge)
    y = model.eval()(torch.zeros((2,) + in_shape))
    assert y.shape == (2, 7)
    again = build(**model.config)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    blocks = [m for m in model.modules() if isinstance(m, RSDBlock)]
    assert blocks and any(b.residual for b in blocks) and any(b.id_bn is not None for b in blocks)


@pytest.mark.parametrize("arch", list(BUILDERS))
@pytest.mark.parametrize("in_shape", [(1, 28, 28), (3, 32, 32)])
def test_reparameterize_equals_training_form(arch, in_shape):
    model = trained_looking(BUILDERS[arch](in_channels=in_shape[0], input_size=in_shape[1]), in_shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deployed = reparameterize(model)
    x = torch.randn((16,) + in_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, got = model(x), deployed(x)
    err = float((ref - got).abs().max())
    print(f"{arch} {in_shape}: max |training - reparameterized| = {err:.3g} (outputs up to "
          f"{float(ref.abs().max()):.3g})")
    assert err <= 1e-5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    for b in (m for m in deployed.modules() if isinstance(m, RSDBlock)):
        assert b.id_bn is None and b.dw.bias is not None and b.dw.groups == b.dw.in_channels
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # original untouched
    # the training form keeps a BN on the identity branch, which only reparameterization removes
    with pytest.raises(UnsupportedModelError, match="BatchNorm"):
        dmc.compress(model, EDGE_DEPLOY, (1,) + in_shape, calibration_data=x)


def test_reparameterize_is_a_real_change_of_the_parameters():
    """The fused depthwise filter holds the identity branch in its centre tap: the check above
    would also pass if the identity branch were simply dropped only when its BN is ~0 (without
    equalization, which rescales the filters further: tested below)."""
    model = trained_looking(edge_nano(in_channels=1, input_size=28), (1, 28, 28))
    deployed = reparameterize(model, equalize=False)
    blk, dep = next((a, b) for a, b in zip(model.modules(), deployed.modules())
                    if isinstance(a, RSDBlock) and a.id_bn is not None)
    bn, ibn = blk.dw_bn, blk.id_bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    iscale = ibn.weight / torch.sqrt(ibn.running_var + ibn.eps)
    expect = blk.dw.weight.detach().clone() * scale.reshape(-1, 1, 1, 1)
    expect[:, 0, 1, 1] += iscale
    assert torch.allclose(dep.dw.weight, expect, atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="unknown architecture"):
        build("edge_huge")
    with pytest.raises(ConfigError, match="in_channels"):
        edge_nano(in_channels=0)
    with pytest.raises(ConfigError, match="input_size"):
        edge_nano(input_size=4)
    with pytest.raises(ConfigError, match="channels must be 5"):
        edge_nano(channels=[8, 8])
    with pytest.raises(ConfigError, match="act"):
        edge_nano(act="gelu")
    with pytest.raises(ConfigError, match="sram_budget=300 B cannot be met"):
        edge_nano(in_channels=1, input_size=28, sram_budget=300)
    with pytest.raises(ConfigError, match="sram_budget must be"):
        edge_nano(sram_budget=-5)


def test_sram_budget_fits_the_uno_end_to_end(tmp_path, capsys):
    """edge_nano scaled to 1500 B: compress + convert the untrained model with a few calibration
    batches, and the planner, the budget report and `dmc inspect --board uno` agree that it fits."""
    shape = (1, 1, 28, 28)
    full = edge_nano(in_channels=1, input_size=28)
    assert deployed_arena(full, shape, EDGE_DEPLOY, reparameterize) > 1500      # the budget binds
    model = edge_nano(in_channels=1, input_size=28, num_classes=10, sram_budget=1500)
    chosen = model.config["channels"]
    assert all(c <= f for c, f in zip(chosen, full.config["channels"])) and chosen != full.config["channels"]
    model = trained_looking(model, shape[1:])
    cal = torch.rand((3, 16) + shape[1:], generator=torch.Generator().manual_seed(2))
    qm = dmc.convert(dmc.compress(reparameterize(model), EDGE_DEPLOY, shape, calibration_data=list(cal)))
    arena = plan(qm).arena_bytes
    assert arena == deployed_arena(model, shape, EDGE_DEPLOY, reparameterize)     # the exact plan
    assert arena <= 1500
    # one stage wider and it no longer fits: the scaling used the budget, not a loose estimate
    wider = [c + max(1, c // 8) for c in chosen]
    assert deployed_arena(build("edge_nano", 1, 28, 10, channels=wider), shape, EDGE_DEPLOY, reparameterize) > 1500
    path = tmp_path / "nano.dmc"
    qm.save(path)
    capsys.readouterr()
    cli_main(["inspect", str(path), "--board", "uno"])
    out = capsys.readouterr().out
    print(out)
    # the SRAM side fits; this untrained 8-bit-weight variant is over the Uno's flash (kernels are
    # priced per instantiation), the study's 4-bit-pointwise edge_nano fits it (tested below)
    sram = re.search(r"SRAM (\d+) of 2048 B", out)
    assert sram and int(sram.group(1)) <= 2048 and "SRAM needs" not in out and f"arena (SRAM): {arena} B" in out
    print(f"edge_nano at 1500 B: channels {chosen}, arena {arena} B, {qm.model_bytes} model bytes, "
          f"{qm.total_macs} MACs")


# -- pruning: channel shift and squeeze-excitation couple channels --------------------------------

class SENet(nn.Module):
    def __init__(self, se_groups=1):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.shift = ChannelShift(8, [1, 2, 1, 1])
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(8, 4, 1, groups=se_groups)
        self.expand = nn.Conv2d(4, 8, 1, groups=se_groups)
        self.b = nn.Conv2d(8, 5, 1)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        y = self.dw(self.shift(torch.relu(self.a(x))))
        y = y * F.hardsigmoid(self.expand(torch.relu(self.reduce(self.pool(y)))))
        return self.head(torch.flatten(self.pool(self.b(y)), 1))


def test_pruning_through_shift_and_squeeze_excitation_is_exact():
    torch.manual_seed(3)
    model = SENet().eval()
    dead = [1, 4, 6]                      # a "left", the "right" and an unshifted channel
    with torch.no_grad():
        for m in (model.a, model.dw, model.expand):
            m.weight[dead] = 0.0
            m.bias[dead] = 0.0
    x = torch.randn(4, 3, 9, 9)
    with torch.no_grad():
        y0 = model(x)
        pruned = dmc.prune(model, {"a": 3}, (1, 3, 9, 9))
        y1 = pruned(x)
    keep = [i for i in range(8) if i not in dead]
    assert pruned.shift.groups == [1, 1, 1, 0] and pruned.shift.channels == 5
    assert torch.equal(pruned.expand.weight, model.expand.weight[keep])         # the gate's channels go too
    assert torch.equal(pruned.reduce.weight, model.reduce.weight[:, keep])
    assert torch.equal(pruned.b.weight, model.b.weight[:, keep])
    assert torch.allclose(y1, y0, rtol=1e-5, atol=1e-6), (y1 - y0).abs().max()


def test_grouped_convs_refuse_pruning_of_their_channels():
    model = SENet(se_groups=2).eval()
    with pytest.raises(ConfigError, match="grouped conv 'reduce'"):
        dmc.prune(model, {"a": 2}, (1, 3, 9, 9))
    with pytest.raises(ConfigError, match="grouped conv 'reduce'"):
        dmc.prune(model, {"reduce": 1}, (1, 3, 9, 9))
    dmc.prune(model, {"b": 2}, (1, 3, 9, 9))            # the rest of the model still prunes


def test_product_must_be_a_per_channel_gate():
    class Bad(nn.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(UnsupportedModelError, match=r"\(C, 1, 1\) per-channel gate"):
        dmc.compress(Bad(), EDGE_DEPLOY, (1, 2, 4, 4), calibration_data=torch.rand(4, 2, 4, 4))


# -- the integer ops against independently computed values ----------------------------------------

def _single_op_model(module, shape, bits=8):
    cfg = {"quantize": {"scheme": "static", "bitwidth": 8, "activation_bitwidth": bits, "input_bitwidth": bits}}
    g = torch.Generator().manual_seed(0)
    cal = torch.randn((64,) + shape, generator=g) * 2.5
    return dmc.convert(dmc.compress(module, cfg, (1,) + shape, calibration_data=cal))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("kind", ["hardsigmoid", "hardswish"])
def test_hard_activations_are_within_one_code_of_the_real_function(kind, bits):
    qm = _single_op_model(nn.Hardsigmoid() if kind == "hardsigmoid" else nn.Hardswish(), (1, 4, 4), bits)
    assert [o["op"] for o in qm.ops] == ["input", kind]
    qmax = (1 << bits) - 1
    codes = np.arange(qmax + 1).reshape(-1, 1, 1, 1).repeat(16, 1).reshape(-1, 1, 4, 4)
    got = qm.predict(codes)[:, 0, 0, 0]
    tin, tout = qm.tensors[qm.input_name], qm.tensors[qm.output]
    x = (np.arange(qmax + 1) - tin["zero_point"]) * tin["scale"]
    ideal = np.clip(x + 3, 0, 6) / 6 * (x if kind == "hardswish" else 1)
    want = np.clip(np.rint(ideal / tout["scale"]) + tout["zero_point"], 0, qmax)
    bad = np.flatnonzero(np.abs(got - want) > 1)
    for i in bad[:10]:
        print(f"code {i} (x={x[i]:.4f}): integer {got[i]}, real function {want[i]}")
    assert len(bad) == 0
    assert (got == want).mean() > 0.8       # mostly exact; off by one only near rounding ties


def test_channel_multiply_is_within_one_code_of_the_real_product():
    class GateModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return x * F.hardsigmoid(self.pool(x))

    qm = _single_op_model(GateModel(), (3, 5, 5))
    assert [o["op"] for o in qm.ops] == ["input", "gap", "hardsigmoid", "mul"]
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(20, 3, 5, 5))
    x = qm.predict(codes)
    # recompute the product from the interpreter's own gate codes, in real numbers
    gate_model = dmc.IntModel(qm.scheme, qm.tensors, qm.ops[:3], qm.arrays, qm.ops[2]["name"])
    gate = gate_model.predict(codes)
    t = {k: qm.tensors[o["name"]] for k, o in (("x", qm.ops[0]), ("g", qm.ops[2]), ("y", qm.ops[3]))}
    real = (codes - t["x"]["zero_point"]) * t["x"]["scale"] * (gate - t["g"]["zero_point"]) * t["g"]["scale"]
    want = np.clip(np.rint(real / t["y"]["scale"]) + t["y"]["zero_point"], 0, 255)
    assert np.abs(x - want).max() <= 1, np.argwhere(np.abs(x - want) > 1)[:10]
    assert (x == want).mean() > 0.95


@pytest.mark.parametrize("bits", [8, 4])
def test_channel_shift_moves_codes_and_fills_the_zero_point(bits):
    qm = _single_op_model(ChannelShift(6, [1, 1, 2, 1]), (6, 4, 5), bits)
    assert [o["op"] for o in qm.ops] == ["input", "shift"]
    z = qm.input_quant["zero_point"]
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 1 << bits, size=(3, 6, 4, 5))
    got = qm.predict(codes)
    want = np.full_like(codes, z)
    want[:, 0, :-1, :] = codes[:, 0, 1:, :]       # up
    want[:, 1, :, :-1] = codes[:, 1, :, 1:]       # left
    want[:, 2:4, 1:, :] = codes[:, 2:4, :-1, :]   # down
    want[:, 4, :, 1:] = codes[:, 4, :, :-1]       # right
    want[:, 5] = codes[:, 5]                      # unshifted
    assert np.array_equal(got, want)


def test_artifact_checks_the_new_ops():
    """A file whose block ops are inconsistent is refused at load, naming the op and the key."""
    from dmc.core import artifact
    from dmc.errors import ArtifactError

    net = nn.Sequential(ChannelShift(4, [1, 1, 1, 1]), nn.Conv2d(4, 4, 1, groups=2), nn.Hardswish())
    qm = _single_op_model(net, (4, 3, 3))
    ops = {o["op"]: o for o in qm.ops}
    assert ops["conv2d"]["attrs"]["groups"] == 2 and {"shift", "hardswish"} <= set(ops)
    artifact.loads(artifact.dumps(qm))                                # the good file loads

    def refused(edit, match):
        before = {k: dict(o["attrs"]) for k, o in ops.items()}
        edit()
        try:
            with pytest.raises(ArtifactError, match=match):
                artifact.loads(artifact.dumps(qm))
        finally:
            for k, o in ops.items():
                o["attrs"] = before[k]

    refused(lambda: ops["shift"]["attrs"].update(counts=[2, 2, 1, 0]), "shift more than the 4 channels")
    refused(lambda: ops["shift"]["attrs"].update(counts=[1, 1]), "'counts' must be 4 integers")
    refused(lambda: ops["conv2d"]["attrs"].update(groups=4), "groups 4")
    refused(lambda: ops["hardswish"]["attrs"].update(offset=0), "'offset' must be an integer")
    refused(lambda: ops["hardswish"]["attrs"].update(frac_bits=17), "'frac_bits' must be an integer")
    refused(lambda: ops["hardswish"]["attrs"].update(offset=1 << 28, frac_bits=16), "beyond int32")


def test_edge_models_bit_exact_on_the_simulated_avr(tmp_path):
    """The block kernels compiled for AVR (ATmega1284P in simavr, the Uno's core with more memory)
    against the interpreter: the Fashion-MNIST edge_nano of the study, random models of every
    block op and the three reparameterized backbones."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from avr_sim import available, run_models
    from model_zoo import random_edge_backbone, random_edge_cnn
    if not available():
        pytest.skip("avr-gcc or simavr missing (run extras/scripts/setup.sh)")
    study = Path(__file__).resolve().parents[2] / "experiments" / "fashion_backbones" / "results" / "edge_nano.dmc"
    groups = [[dmc.load(study)], [], []]
    for seed in range(6):
        model, shape, cfg = random_edge_cnn(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=torch.Generator().manual_seed(seed)) * 1.5
        groups[1].append(dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal)))
    for seed in range(3):
        model, shape, cfg = random_edge_backbone(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=torch.Generator().manual_seed(seed)) * 1.5
        groups[2].append(dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal)))
    rng = np.random.default_rng(4)
    total = 0
    for g, models in enumerate(groups):
        codes = [rng.integers(0, 1 << m.input_quant["bits"], size=(2,) + m.input_shape) for m in models]
        outs, cycles = run_models(models, codes, tmp_path / f"g{g}")
        for i, (m, c, got) in enumerate(zip(models, codes, outs)):
            expected = m.predict(c)
            bad = np.argwhere(expected != got)
            for idx in bad[:20]:
                print(f"group {g} model {i}: mismatch at {tuple(idx)}: interpreter {expected[tuple(idx)]}, "
                      f"AVR {got[tuple(idx)]}")
            assert len(bad) == 0
            total += expected.size
        if g == 0:
            print(f"edge_nano (Fashion-MNIST): {groups[0][0].total_macs} MACs, {cycles[0]} cycles per inference")
    print(f"{sum(map(len, groups))} edge models on the simulated AVR, {total} output values identical")


def test_study_edge_nano_fits_the_uno_flash_and_runs_bit_exact_there(tmp_path):
    """The Fashion-MNIST edge_nano of the study as the serial-runner firmware for the simulated
    Uno (ATmega328P, PlatformIO): it links within the Uno's 32,256 B of flash (one AVR loop per
    kernel signature), `dmc inspect`'s per-instantiation flash estimate is within 5% of the
    linked size, and two images come back bit-exact with the interpreter, stack within 2 KB."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    from dmc.deploy.device import DeviceSession, ProcessTransport
    from dmc.deploy.firmware import build_sim_firmware
    from dmc.deploy.flash import avr_flash_estimate
    from dmc.deploy.verify import verify_device
    if shutil.which("avr-size") is None or shutil.which("simavr") is None or \
            subprocess.run([sys.executable, "-c", "import platformio"], capture_output=True).returncode != 0:
        pytest.skip("avr-gcc, simavr or PlatformIO missing (run extras/scripts/setup.sh)")
    study = Path(__file__).resolve().parents[2] / "experiments" / "fashion_backbones" / "results" / "edge_nano.dmc"
    model = dmc.load(study)
    program = build_sim_firmware(study, "uno", tmp_path / "fw")
    elf = program.parent / "firmware.elf"
    sizes = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in sizes.splitlines()[1].split()[:3])
    flash = text + data
    estimate = avr_flash_estimate(model)["total"]
    print(f"edge_nano on the Uno: {flash} B of flash linked (estimate {estimate} B), {data + bss} B static SRAM")
    assert flash <= 32256
    assert abs(estimate - flash) <= 0.05 * flash, (estimate, flash)
    codes = np.random.default_rng(7).integers(0, 256, size=(2,) + model.input_shape)
    session = DeviceSession(model, ProcessTransport([str(program)]))
    try:
        report = verify_device(model, session, codes, progress=False)
    finally:
        session.close()
    print(report.text())
    assert report.agreement == 1.0 and report.mismatches == []
    if report.stack and report.stack[1]:
        assert report.stack[1] - report.stack[0] <= 2048


def test_one_avr_conv_loop_per_kernel_signature():
    """The generated code compiles each (kernel, bit widths) once: when one layer of a signature
    needs the portable loop (KW 0), every layer of it takes that loop; otherwise each keeps the
    width avr_kernel_width gives it. Checked on the study's edge_nano (whose 7x7 4-bit layers
    need the portable loop) and on the committed LeNet-5 (untouched)."""
    from pathlib import Path
    from dmc.deploy.codegen import avr_kernel_width, avr_kernel_widths, generate
    root = Path(__file__).resolve().parents[3]
    for path in (root / "extras" / "experiments" / "fashion_backbones" / "results" / "edge_nano.dmc",
                 root / "examples" / "MnistLeNet5" / "lenet5_tiny.dmc"):
        m = dmc.load(path)
        p = plan(m)
        chosen = avr_kernel_widths(m, p)
        alone, by_signature = {}, {}
        for i, kw in chosen.items():
            st = p.steps[i]
            a, t = st.op["attrs"], m.tensors[st.inputs[0]]
            alone[i] = avr_kernel_width(a["weight_bits"], t["bits"], a["weight_shape"][2:], a["dilation"][1],
                                        t["shape"][2])
            by_signature.setdefault((st.kernel, a["weight_bits"], t["bits"], m.tensors[st.output]["bits"]), []).append(i)
        for sig, steps in by_signature.items():
            expected = [0] * len(steps) if 0 in [alone[i] for i in steps] else [alone[i] for i in steps]
            assert [chosen[i] for i in steps] == expected, (path.name, sig)
        calls = generate(m, "model")["model.cpp"]
        for i, kw in chosen.items():
            alias = p.steps[i].op["attrs"]["alias"]
            call = next(line for line in calls.splitlines() if f"&a_{alias});" in line)
            assert re.search(rf"<\d+, \d+, \d+, {kw}[,>]", call), (alias, call)   # then PAIRS, LAYOUT
        print(path.name, {s: sorted({chosen[i] for i in st}) for s, st in by_signature.items()})
        if path.name.startswith("edge_nano"):
            assert 0 in chosen.values() and any(chosen.values())   # both kinds of loop occur


def test_equalization_evens_the_channels_entering_depthwise_convs():
    """reparameterize(model, calibration=x) scales each channel entering a depthwise conv to one
    range (its producer's output channel up, the depthwise filter down): the float outputs stay
    those of the training form, the maxima measured on x agree within 25% where
    they spanned 40x, and at 4-bit activations every channel takes 10 or more of the 16 codes where
    the narrow ones took 1-3."""
    from dmc.zoo import deploy_recipe
    shape = (1, 16, 16)
    torch.manual_seed(5)                        # the conv weights: the same whatever ran before
    model = trained_looking(edge_nano(in_channels=1, input_size=16, channels=[8, 8, 8, 8, 8]), shape)
    with torch.no_grad():                       # stem channels of very different ranges
        model.stem_bn.weight.copy_(torch.logspace(-0.8, 0.8, 8))
        model.stem_bn.bias.copy_(torch.logspace(-0.8, 0.8, 8) * 0.5)
    x = torch.rand((64,) + shape, generator=torch.Generator().manual_seed(3))

    def stem_ranges(m):
        with torch.no_grad():
            y = m.blocks[0].shift(m.stem_pool(m.stem_act(m.stem_bn(m.stem(x)))))
        return y.amax((0, 2, 3))
    plain, equal = reparameterize(model, equalize=False), reparameterize(model, calibration=x)
    with torch.no_grad():
        ref = model(x)
        assert float((equal(x) - ref).abs().max()) <= 1e-4 * max(1.0, float(ref.abs().max()))
    before, after = stem_ranges(plain), stem_ranges(equal)
    print(f"stem channel ranges: {before.min():.3g}..{before.max():.3g} -> {after.min():.3g}..{after.max():.3g}")
    assert before.max() / before.min() > 20 and after.max() / after.min() < 1.25     # maxima, equalized at p99.9

    def codes_used(m):
        """Per channel, how many of the 16 codes of a per-tensor 4-bit quantization it takes."""
        with torch.no_grad():
            y = m.blocks[0].shift(m.stem_pool(m.stem_act(m.stem(x))))
        q = torch.round(y / (float(y.max()) / 15))
        return [len(torch.unique(q[:, c])) for c in range(q.shape[1])]
    used_plain, used_equal = codes_used(plain), codes_used(equal)
    print(f"4-bit codes per channel: {used_plain} -> {used_equal}")
    assert min(used_plain) <= 3 and min(used_equal) >= 10
    # without calibration inputs the ranges come from the BatchNorm statistics: closer, not equal
    estimated = stem_ranges(reparameterize(model))
    assert estimated.max() / estimated.min() < before.max() / before.min() / 4
