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
from dmc.deploy.codegen import CodegenError, generate
from dmc.core.packing import pack
from dmc.core.planner import PlanError, plan
from dmc.deploy.host_build import HostBuild, cross_build, runtime_dir, soft_float_symbols
from dmc.deploy.qemu_build import TARGETS as QEMU_TARGETS, QemuBuild
from model_zoo import random_cnn, random_mlp

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "examples" / "MnistLeNet5"


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


@pytest.mark.parametrize("recipe", ["ultra", "tiny"])
def test_lenet5_full_mnist_bit_exact(recipe, mnist_test, tmp_path):
    model = dmc.load(MODELS / f"lenet5_{recipe}.dmc")
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


def test_random_models_bit_exact(random_models, tmp_path):
    models, coverage = random_models
    need = {"conv2d", "conv2d_dw", "linear", "maxpool2d", "avgpool2d", "gap", "add", "clamp", "pad", "flatten",
            "a8", "a4", "fused", "inplace_add", "inplace_clamp"} | {
        f"w{b}_{g}" for b in (8, 4, 2) for g in ("per_tensor", "per_channel")}
    assert need <= coverage, f"random models miss {sorted(need - coverage)}"
    build = HostBuild(models, [f"m{i}" for i in range(len(models))], tmp_path, extra_flags=["-O1"])
    rng = np.random.default_rng(1)
    total = 0
    for i, qm in enumerate(models):
        codes = _random_inputs(qm, rng, 64)
        expected = qm.predict(codes)
        assert_same(f"m{i} ({' '.join(o['op'] for o in qm.ops[1:])})", expected, build.run(i, codes))
        total += expected.size
    print(f"{len(models)} random models, {total} output values identical")


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
            if o["op"] == "conv2d" and row > 256:
                continue              # left to the portable kernel (kMaxColumn, arm/conv2d_dsp.h)
            seen.add(f"{o['op']}_w{a['weight_bits']}_a{ib}")
            if a["weight_bits"] == 4 and row % 2 and shape[0] > 1:
                seen.add(f"{o['op']}_w4_odd_rows")
            if row % 8:
                seen.add(f"{o['op']}_tail")
        for st in plan(qm).steps:          # conv2d with its 2x2 pool (4 windows at once) and without
            if st.kernel == "conv2d" and int(np.prod(st.op["attrs"]["weight_shape"][1:])) <= 256:
                k = (st.fused or {}).get("attrs", {}).get("kernel", [1])[0]
                seen.add(f"conv2d_pool{k}")
    return seen


@pytest.mark.parametrize("target", sorted(QEMU_TARGETS))
def test_random_models_bit_exact_on_qemu(target, random_models, tmp_path):
    """The target's own build of the kernels (on the M4 the DSP-extension kernels) against the
    interpreter on every random model."""
    t = QEMU_TARGETS[target]
    if not (shutil.which(t.cxx) and shutil.which(t.qemu[0])):
        pytest.skip(f"{t.cxx} or {t.qemu[0]} not installed (run extras/scripts/setup.sh)")
    models, _ = random_models
    if target == "m4":
        seen = _dsp_coverage(models)
        need = {f"{op}_w{w}_a{a}" for op in ("conv2d", "linear") for w in (8, 4) for a in (8, 4)}
        need |= {"conv2d_w4_odd_rows", "linear_w4_odd_rows", "conv2d_tail", "linear_tail", "conv2d_pool1",
                 "conv2d_pool2"}
        assert need <= seen, f"the DSP kernels miss {sorted(need - seen)} in the random models"
    build = QemuBuild(models, [f"m{i}" for i in range(len(models))], tmp_path, target)
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
