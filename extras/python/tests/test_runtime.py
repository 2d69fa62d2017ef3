"""The C++ runtime against the numpy interpreter, bit for bit: generated code compiled with the
host compiler (warnings as errors), on full MNIST and on randomized models, and the same random
models on the QEMU Cortex-M4 (its DSP-extension kernels) and RISC-V RV32; cross builds for AVR,
Cortex-M4 and RV32; determinism of the generated code."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import dmc
from dmc.deploy.codegen import CodegenError, avr_kernel_width, generate
from dmc.core.artifact import loads as artifact_loads
from dmc.core.packing import pack
from dmc.core.planner import PlanError, plan
from dmc.deploy.host_build import SANITIZE_FLAGS, HostBuild, cross_build, runtime_dir, soft_float_symbols
from dmc.deploy.qemu_build import TARGETS as QEMU_TARGETS, QemuBuild
from conftest import residual_net, static_config
from model_zoo import (pointwise_models, random_cnn, random_conv_pool, random_edge_backbone,
                       random_edge_cnn, random_mlp)

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "examples" / "MnistLeNet5"
LENET5 = {"ultra": MODELS / "lenet5_ultra.dmc", "tiny": MODELS / "lenet5_tiny.dmc",
          "ultra8": REPO / "extras" / "experiments" / "lenet5" / "results" / "lenet5_ultra8.dmc"}


def assert_same(name, expected, got, limit=20):
    """Compare every value; print each mismatch (up to ``limit``) before failing."""
    assert expected.shape == got.shape, f"{name}: shape {got.shape} != {expected.shape}"
    bad = np.argwhere(expected != got)
    for idx in bad[:limit]:
        print(f"{name}: mismatch at {tuple(int(i) for i in idx)}: interpreter {expected[tuple(idx)]}, "
              f"C++ {got[tuple(idx)]}")
    assert len(bad) == 0, f"{name}: {len(bad)} of {expected.size} output values differ"


@pytest.fixture(scope="module")
def mnist_test():
    from dmc.data import mnist_arrays
    *_, x, y = mnist_arrays()
    return x, y


@pytest.mark.parametrize("recipe", ["ultra", "tiny", "ultra8"])
def test_lenet5_full_mnist_bit_exact(recipe, mnist_test, tmp_path):
    model = dmc.load(LENET5[recipe])
    x, y = mnist_test
    codes = model.quantize_input(x)
    build = HostBuild([model], ["lenet"], tmp_path)
    got = build.run(0, codes)
    expected = model.predict(codes)
    assert len(codes) == 10000
    assert_same(f"lenet5_{recipe}", expected, got)
    acc = float((got.argmax(1) == y).mean())
    print(f"lenet5_{recipe}: 10000 images, {expected.size} outputs identical, accuracy {acc:.4f}")
    assert acc > 0.9          # a trained model, not noise


def _random_models(count):
    models, coverage = [], set()
    for seed in range(count):
        model, shape, cfg = (random_mlp if seed % 6 == 0 else random_cnn)(seed)
        g = torch.Generator().manual_seed(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=g) * 1.5
        qm = dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal))
        models.append(qm)
        for o in qm.ops:
            a = o["attrs"]
            coverage.add(o["op"] + ("_dw" if a.get("depthwise") else ""))
            if "weight_bits" in a:
                coverage.add(f"w{a['weight_bits']}_{a['granularity']}")
        coverage.update(f"a{t['bits']}" for t in qm.tensors.values())
        for st in plan(qm).steps:
            coverage.update(["fused"] if st.fused else [])
            coverage.update([f"inplace_{st.kernel}"] if st.inplace else [])
        p = plan(qm, "always")      # the plan the parity test builds: convs over their inputs, HCW
        for st in p.steps:
            if p.overlapping(st):
                coverage.update([f"overlapping_{st.kernel}"] + (["overlapping_fused"] if st.fused else []))
            for t in (st.inputs[0], st.output):
                if p.layout(t) == "HCW":
                    coverage.add(f"hcw_a{qm.tensors[t]['bits']}")
    return models, coverage


@pytest.fixture(scope="module")
def random_models():
    return _random_models(36)


def _random_inputs(qm, rng, count):
    qmax = (1 << qm.input_quant["bits"]) - 1
    codes = rng.integers(0, qmax + 1, size=(count,) + qm.input_shape)
    codes[0] = 0
    codes[1] = qmax
    return codes


def _check_random(models, build, first_index=0):
    """Random input codes (and both extremes) through every model: C++ against the interpreter."""
    rng = np.random.default_rng(1)
    total = 0
    for i, qm in enumerate(models):
        codes = _random_inputs(qm, rng, 64)
        expected = qm.predict(codes)
        assert_same(f"m{i} ({' '.join(o['op'] for o in qm.ops[1:])})", expected, build.run(first_index + i, codes))
        total += expected.size
    return total


def test_random_models_bit_exact(random_models, tmp_path):
    """Built with every conv that can be written over its input and every conv-to-conv tensor in
    interleaved rows (overlap="always"; the LeNet-5 tests cover the default plans)."""
    models, coverage = random_models
    need = {"conv2d", "conv2d_dw", "linear", "maxpool2d", "avgpool2d", "gap", "add", "clamp", "pad", "flatten",
            "a8", "a4", "fused", "inplace_add", "inplace_clamp", "overlapping_conv2d", "overlapping_fused",
            "overlapping_depthwise_conv2d", "hcw_a8", "hcw_a4"} | {
        f"w{b}_{g}" for b in (8, 4, 2) for g in ("per_tensor", "per_channel")}
    assert need <= coverage, f"random models miss {sorted(need - coverage)}"
    build = HostBuild(models, [f"m{i}" for i in range(len(models))], tmp_path, extra_flags=["-O1"], overlap="always")
    total = _check_random(models, build)
    print(f"{len(models)} random models, {total} output values identical")


def test_pointwise_convs_bit_exact(tmp_path):
    """The pointwise loop of 1x1 convs (kernels/conv2d.h pointwise_outputs): every weight x input
    width, odd planes, chunk boundaries, one pixel; C++ against the interpreter."""
    models = pointwise_models()
    build = HostBuild(models, [f"p{i}" for i in range(len(models))], tmp_path, overlap="never")
    total = _check_random(models, build)
    print(f"{len(models)} 1x1-conv models, {total} output values identical")


def test_sanitized_runtime_on_parity_inputs(random_models, mnist_test, tmp_path):
    """The runtime and the generated code built with ASan + UBSan on the host parity inputs (both
    LeNet-5 models on 1000 MNIST images, the random models): no memory error, no undefined
    behaviour, and still bit-exact."""
    lenets = [dmc.load(MODELS / f"lenet5_{recipe}.dmc") for recipe in ("ultra", "tiny")]
    models, _ = random_models
    build = HostBuild(lenets + models, ["lenet_ultra", "lenet_tiny"] + [f"m{i}" for i in range(len(models))],
                      tmp_path / "asan", extra_flags=["-O1"], sanitize=True)
    x = mnist_test[0][:1000]            # the full set runs unsanitized above; the code paths are the same
    for i, model in enumerate(lenets):
        codes = model.quantize_input(x)
        assert_same(build.names[i], model.predict(codes), build.run(i, codes))
    total = _check_random(models, build, first_index=2)
    print(f"sanitized build: 2 x {len(x)} MNIST images and {total} random-model outputs identical")
    # the sanitizers are really on: a heap overflow (ASan) and a signed overflow (UBSan) in a
    # program built with the same flags stop it
    (tmp_path / "bad.cpp").write_text("#include <limits.h>\n#include <stdio.h>\nint main(int argc, char **) {\n"
                                      "  if (argc == 1) { int *a = new int[4]; printf(\"%d\\n\", a[argc + 3]); }\n"
                                      "  int x = INT_MAX - 1; x += argc; printf(\"%d\\n\", x);\n}\n")
    subprocess.run(["g++", *SANITIZE_FLAGS, str(tmp_path / "bad.cpp"), "-o", str(tmp_path / "bad")], check=True)
    for args, report in (([], "AddressSanitizer: heap-buffer-overflow"), (["x"], "signed integer overflow")):
        proc = subprocess.run([str(tmp_path / "bad"), *args], capture_output=True, text=True)
        assert proc.returncode != 0 and report in proc.stderr, proc.stderr[-2000:]


def test_every_runtime_header_compiles_on_its_own(tmp_path):
    """A sketch or a harness may include any runtime header first (serial_runner.h did not
    compile alone: platform.h used config.h's index type without including it)."""
    src = runtime_dir()
    headers = sorted(p.relative_to(src) for p in src.rglob("*.h")
                     if p.name != "DMCSerialRunner.h" and not {"avr", "arm"} & set(p.parts))
    failed = []
    for h in headers:
        tu = tmp_path / "tu.cpp"
        tu.write_text(f'#include "{h}"\n')
        proc = subprocess.run(["g++", "-std=c++11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{src}",
                               str(tu)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{h}:\n{proc.stderr[-1500:]}")
            failed.append(str(h))
    assert len(headers) >= 10 and not failed, f"headers that do not compile alone: {failed}"


def _edge_models():
    """Random models of the MicroSign-Edge ops (seeds 0-5) and one of each backbone (seeds 0-2)."""
    models, coverage = [], set()
    for seed, make in [(s, random_edge_cnn) for s in range(6)] + [(s, random_edge_backbone) for s in range(3)]:
        model, shape, cfg = make(seed)
        g = torch.Generator().manual_seed(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=g) * 1.5
        qm = dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal))
        models.append(qm)
        for st in plan(qm).steps:
            coverage.add(st.kernel + (f"_a{qm.tensors[st.output]['bits']}" if st.kernel != "grouped_conv2d" else ""))
            coverage.update([f"inplace_{st.kernel}"] if st.inplace else [])
    return models, coverage


def test_edge_ops_bit_exact(tmp_path):
    """Channel shift, grouped conv, hard-sigmoid / hard-swish and the squeeze-excitation multiply,
    in random models and in the reparameterized backbones, C++ against the interpreter."""
    models, coverage = _edge_models()
    need = {"grouped_conv2d", "inplace_channel_shift", "inplace_hard_sigmoid", "inplace_hard_swish",
            "inplace_channel_mul"} | {f"{k}_a{b}" for k in ("channel_shift", "hard_sigmoid", "hard_swish",
                                                             "channel_mul") for b in (8, 4)}
    assert need <= coverage, f"edge models miss {sorted(need - coverage)}"
    build = HostBuild(models, [f"e{i}" for i in range(len(models))], tmp_path, extra_flags=["-O0"])
    rng = np.random.default_rng(2)
    total = 0
    for i, qm in enumerate(models):
        qmax = (1 << qm.input_quant["bits"]) - 1
        codes = rng.integers(0, qmax + 1, size=(48,) + qm.input_shape)
        codes[0] = 0
        codes[1] = qmax
        expected = qm.predict(codes)
        assert_same(f"e{i} ({' '.join(o['op'] for o in qm.ops[1:])})", expected, build.run(i, codes))
        total += expected.size
    print(f"{len(models)} edge models, {total} output values identical")
def _dsp_coverage(models):
    """What the Cortex-M4 DSP kernels (src/dmc/kernels/arm/) take of the random models: layers by
    (op, weight bits, input bits), and whether 4-bit weight rows start mid-byte."""
    seen = set()
    for qm in models:
        for o in qm.ops:
            a = o["attrs"]
            if o["op"] not in ("conv2d", "linear") or a.get("depthwise") or a["weight_bits"] == 2:
                continue
            ib = qm.tensors[o["inputs"][0]]["bits"]
            shape = a["weight_shape"]
            row = int(np.prod(shape[1:]))
            if o["op"] == "conv2d" and row > 168:
                continue              # left to the portable kernel (column_stride, arm/scratch.h)
            seen.add(f"{o['op']}_w{a['weight_bits']}_a{ib}")
            if a["weight_bits"] == 4 and row % 2 and shape[0] > 1:
                seen.add(f"{o['op']}_w4_odd_rows")
            if row % 8:
                seen.add(f"{o['op']}_tail")
        for st in plan(qm).steps:          # conv2d with its 2x2 pool (4 windows at once) and without
            a = st.op["attrs"]
            k = (st.fused or {}).get("attrs", {}).get("kernel", [1])[0]
            if st.kernel == "conv2d" and int(np.prod(a["weight_shape"][1:])) <= 168:
                seen.add(f"conv2d_pool{k}")
            ib = qm.tensors[st.inputs[0]]["bits"]
            if (st.kernel == "conv2d" and k == 2 and list(a["stride"]) == [1, 1] and list(a["dilation"]) == [1, 1]
                    and avr_kernel_width(a["weight_bits"], ib, a["weight_shape"][2:], 1,
                                         qm.tensors[st.inputs[0]]["shape"][2])):
                # the plane kernel (arm/conv2d_dsp.h conv2d_pool2), with its output and kernel widths
                seen.add(f"conv2d_plane_o{qm.tensors[st.output]['bits']}_k{a['weight_shape'][3]}")
    return seen


def _conv_pool_models(count=8):
    """LeNet-like random models (stride-1 convs with a 2x2 max pool), for the M4's plane kernel."""
    models = []
    for seed in range(count):
        model, shape, cfg = random_conv_pool(seed)
        cal = torch.randn((64,) + tuple(shape[1:]), generator=torch.Generator().manual_seed(seed)) * 1.5
        models.append(dmc.convert(dmc.compress(model, cfg, shape, calibration_data=cal)))
    return models


@pytest.mark.parametrize("target", sorted(QEMU_TARGETS))
def test_random_models_bit_exact_on_qemu(target, random_models, tmp_path):
    """The target's own build of the kernels (on the M4 the DSP-extension kernels) against the
    interpreter on every random model, built with convs over their inputs and interleaved rows
    wherever legal (overlap="always")."""
    t = QEMU_TARGETS[target]
    if not (shutil.which(t.cxx) and shutil.which(t.qemu[0])):
        pytest.skip(f"{t.cxx} or {t.qemu[0]} not installed (run extras/scripts/setup.sh)")
    models = random_models[0] + _conv_pool_models()
    if target == "m4":
        seen = _dsp_coverage(models)
        need = {f"{op}_w{w}_a{a}" for op in ("conv2d", "linear") for w in (8, 4) for a in (8, 4)}
        need |= {"conv2d_w4_odd_rows", "linear_w4_odd_rows", "conv2d_tail", "linear_tail", "conv2d_pool1",
                 "conv2d_pool2"} | {f"conv2d_plane_o{o}_k{k}" for o in (8, 4) for k in (3, 5)}
        assert need <= seen, f"the DSP kernels miss {sorted(need - seen)} in the random models"
    build = QemuBuild(models, [f"m{i}" for i in range(len(models))], tmp_path, target, overlap="always")
    rng = np.random.default_rng(2)
    total = 0
    for i, qm in enumerate(models):
        codes = _random_inputs(qm, rng, 12)
        expected = qm.predict(codes)
        assert_same(f"{target} m{i} ({' '.join(o['op'] for o in qm.ops[1:])})", expected, build.run(i, codes))
        total += expected.size
    print(f"{target}: {len(models)} random models, {total} output values identical")


def test_packing_contract_in_cpp(tmp_path):
    """Packed<B>::get and WeightStream<B> (with seeks to odd offsets) decode what pack() wrote."""
    rng = np.random.default_rng(3)
    cases = []
    for bits in (8, 4, 2):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        signed = rng.integers(lo, hi + 1, size=37)
        unsigned = rng.integers(0, (1 << bits), size=37)
        cases.append((bits, signed, unsigned))
    src = ["#include <stdio.h>", "#include <DeepMicroCompression.h>", "int main() {"]
    for bits, s, u in cases:
        sb, ub = pack(s, bits, signed=True), pack(u, bits)
        src.append(f"  {{ static const uint8_t w[] = {{{', '.join(map(str, sb))}}};")
        src.append(f"    static uint8_t a[] = {{{', '.join(map(str, ub))}}};")
        src.append(f"    for (int start = 0; start < 37; start += 5) {{ dmc::WeightStream<{bits}> ws; "
                   f"ws.seek(w, start); for (int i = start; i < 37; ++i) printf(\"%d \", ws.next()); }}")
        src.append(f"    for (int i = 0; i < 37; ++i) printf(\"%d \", dmc::Packed<{bits}>::get(a, i));")
        src.append(f"    for (int i = 0; i < 37; ++i) dmc::Packed<{bits}>::set(a, i, (uint8_t)((i * 7) & {(1 << bits) - 1}));")
        src.append(f"    for (int i = 0; i < 37; ++i) printf(\"%d \", dmc::get_packed_value(a, i, {bits})); }}")
    src += ['  printf("\\n");', "  return 0;", "}"]
    (tmp_path / "p.cpp").write_text("\n".join(src))
    exe = tmp_path / "p"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{runtime_dir()}",
                    str(tmp_path / "p.cpp"), "-o", str(exe)], check=True)
    got = list(map(int, subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()))
    expected = []
    for bits, s, u in cases:
        for start in range(0, 37, 5):
            expected += s[start:].tolist()
        expected += u.tolist()
        expected += [(i * 7) & ((1 << bits) - 1) for i in range(37)]
    assert got == expected


@pytest.mark.skipif(not shutil.which("avr-g++"), reason="avr-gcc not installed (run extras/scripts/setup.sh)")
def test_avr_build_has_no_soft_float(tmp_path):
    model = dmc.load(MODELS / "lenet5_ultra.dmc")
    elf = cross_build(model, "lenet", "avr", tmp_path / "avr")
    assert soft_float_symbols(elf, "avr") == []
    # the check can fail: the float input helper does link soft-float routines
    gen = tmp_path / "avr_float"
    elf_f = cross_build(model, "lenet", "avr", gen)
    (gen / "main.cpp").write_text('#include "lenet.h"\nvolatile float v = 0.25f;\n'
                                  "int main() { lenet.set_input(0, 0); lenet.set_input_float(1, v); "
                                  "lenet.predict(); return (int)lenet.argmax(); }\n")
    subprocess.run(["avr-g++", "-mmcu=atmega328p", "-std=gnu++11", "-Os", f"-I{runtime_dir()}", f"-I{gen}",
                    str(gen / "lenet.cpp"), str(gen / "main.cpp"), "-o", str(elf_f)], check=True)
    assert soft_float_symbols(elf_f, "avr"), "the soft-float detector found nothing in a float build"


@pytest.mark.parametrize("target, compiler", [("cortex-m4", "arm-none-eabi-g++"),
                                              ("rv32", "riscv64-unknown-elf-gcc")])
def test_cross_build(target, compiler, tmp_path):
    """-Wall -Wextra -Werror builds that link, and link no soft-float routine."""
    if not shutil.which(compiler):
        pytest.skip(f"{compiler} not installed (run extras/scripts/setup.sh)")
    for recipe in ("ultra", "tiny"):
        elf = cross_build(dmc.load(MODELS / f"lenet5_{recipe}.dmc"), "lenet", target, tmp_path / recipe)
        assert elf.stat().st_size > 0
        assert soft_float_symbols(elf, target) == []


def _edge_nano(channels):
    from dmc.zoo import deploy_recipe, edge_nano, reparameterize
    model = reparameterize(edge_nano(in_channels=1, input_size=28, channels=channels))
    cal = torch.rand((16, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    return dmc.convert(dmc.compress(model, deploy_recipe(model), (1, 1, 28, 28), calibration_data=cal))


@pytest.mark.skipif(not shutil.which("avr-g++") or not shutil.which("arm-none-eabi-g++"),
                    reason="cross compilers not installed (run extras/scripts/setup.sh)")
def test_edge_nano_cross_builds(tmp_path):
    """edge_nano (every block kernel) builds warning-free for the Uno with no soft-float routine
    (a narrow one: the 1500 B-scaled one's 12 KB of constants plus the kernels exceed the Uno's
    32 KB of flash) and, at its Uno-scaled widths, for the Cortex-M4."""
    narrow = _edge_nano([4, 4, 4, 8, 8])
    kernels = {st.kernel for st in plan(narrow).steps}
    assert {"channel_shift", "grouped_conv2d", "hard_sigmoid", "channel_mul", "global_avg_pool"} <= kernels
    elf = cross_build(narrow, "nano", "avr", tmp_path / "avr")
    assert soft_float_symbols(elf, "avr") == []
    assert cross_build(_edge_nano([7, 15, 20, 38, 40]), "nano", "cortex-m4", tmp_path / "m4").stat().st_size > 0


def test_generated_code_is_deterministic(tmp_path):
    model = dmc.load(MODELS / "lenet5_ultra.dmc")
    first = generate(model, "lenet")
    model.save(tmp_path / "copy.dmc")
    second = generate(dmc.load(tmp_path / "copy.dmc"), "lenet")
    assert first == second
    assert "#define LENET_ARENA_BYTES" in first["lenet.h"]


def test_codegen_rejects_bad_names_and_dynamic_models():
    model = dmc.load(MODELS / "lenet5_ultra.dmc")
    for bad in ("class", "9lives", "my-model", "dmc_model", ""):
        with pytest.raises(CodegenError, match="model name"):
            generate(model, bad)
    mlp, shape, _ = random_mlp(1)
    dyn = dmc.convert(dmc.compress(mlp, {"quantize": {"scheme": "dynamic", "bitwidth": 8}}, shape))
    with pytest.raises(PlanError, match="dynamic"):
        generate(dyn, "mlp")


def test_op_names_cannot_break_the_generated_code(tmp_path):
    """Op names come from the model file and appear in the generated comments: a newline or a
    trailing backslash there once ended a comment early or swallowed the next kernel call
    (found by fuzzing, extras/fuzz)."""
    cal = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    model = dmc.convert(dmc.compress(residual_net(), static_config(4, "per_channel", 8), (1, 3, 8, 8), cal))
    assert {"add", "gap"} <= {op["op"] for op in model.ops}      # steps whose comments show op names
    renamed = {}
    for i, op in enumerate(model.ops):
        if op["op"] not in ("conv2d", "linear"):      # their comments show the alias instead
            renamed[op["name"]] = f"evil{i}();\\" if i % 2 else f"x\n  evil{i}();\n//"
    for op in model.ops:
        op["name"] = renamed.get(op["name"], op["name"])
        op["inputs"] = [renamed.get(t, t) for t in op["inputs"]]
    model.tensors = {renamed.get(k, k): v for k, v in model.tensors.items()}
    model.output = renamed.get(model.output, model.output)
    model = dmc.IntModel(**artifact_loads(model.to_bytes()))     # the file is valid
    files = generate(model, "lenet")
    for fname, text in files.items():
        for line in text.split("\n"):
            assert line.isascii() and line.isprintable() and not line.endswith("\\"), f"{fname}: {line!r}"
    body = files["lenet.cpp"][files["lenet.cpp"].index("void lenet_predict() {"):]
    calls = [ln for ln in body.split("\n")                        # kernel calls (not the DSP scratch hand-over)
             if ln.startswith("  dmc::") and not ln.startswith("  dmc::arm::set_scratch")]
    assert len(calls) == len(plan(model).steps) and "evil" not in "".join(c.split("//")[0] for c in calls)
    for fname, text in files.items():
        (tmp_path / fname).write_text(text)
    subprocess.run(["g++", "-std=c++11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{runtime_dir()}",
                    str(tmp_path / "lenet.cpp")], check=True)


def test_arm_dsp_scratch_joins_the_arena_of_dsp_builds_only():
    """The DSP kernels' scratch (kernels/arm/scratch.h) is planned after the arena in DSP builds
    and handed to the kernels by predict(); other builds keep the plain arena. LeNet-5 Tiny's
    largest need is conv2d_0's plane: 1 channel of (2 * 14 + 5 - 1) rows of (2 * 13 + 2 * 3)
    16-bit lanes, plus one filter of 5 rows of 3 weight pairs and 3 shifted pairs (32-bit each),
    plus 3 bytes to align it; the sine model's only DSP layer is its 16-input linear."""
    from dmc.core.planner import arm_dsp_scratch_bytes
    tiny = dmc.load(MODELS / "lenet5_tiny.dmc")
    expected = 2 * 32 * 32 + 4 * 5 * 6 + 3
    assert arm_dsp_scratch_bytes(tiny, plan(tiny)) == expected
    h, cpp = (generate(tiny, "lenet")[f] for f in ("lenet.h", "lenet.cpp"))
    arena = plan(tiny).arena_bytes
    assert (f"#if DMC_ARM_DSP  // + {expected} B of scratch for the Cortex-M DSP kernels\n"
            f"#define LENET_ARENA_BYTES {arena + expected}u\n#else\n#define LENET_ARENA_BYTES {arena}u\n#endif") in h
    assert f"dmc::arm::set_scratch(lenet_arena + {arena}, {expected}u);" in cpp
    sine = dmc.load(REPO / "examples" / "SineRegressor" / "sine.dmc")
    assert arm_dsp_scratch_bytes(sine, plan(sine)) == 2 * 16 + 3
