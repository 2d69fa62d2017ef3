"""The Fashion-MNIST backbone study: LeNet-5, MLPerf Tiny's ResNet-8 and the MicroSign-Edge
backbones (edge_nano scaled to the Uno's SRAM, edge_small for the Cortex-M4), trained with one
recipe, compressed with quantization-aware training, deployed as integer models, and compared in
one ``dmc compare`` table (params, MACs, bytes, cycles, accuracy) with a plot of accuracy vs
model bytes.

Everything goes through the command-line tools' functions (``dmc train``, ``dmc quantize``,
``dmc compare``), so the study is what a user gets by typing them. The recipe, the same for
every model: Adam at 2e-3 with cosine decay and random shifts of up to 2 pixels, the best epoch
on a 5,000-image validation split kept; then the model's compression config, calibration on 512
training images and quantization-aware training distilled from the float model, best epoch on
validation. The test set (all 10,000 images) is used once, at the end, on the integer models the
devices run; the models that fit an Uno are measured on the simulated Uno (exact cycles, the
streamed outputs checked bit-exactly against the interpreter), the rest on the QEMU Cortex-M4.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from dmc.tools.compare import compare, table_markdown, table_text
from dmc.tools.config import load_configs
from dmc.tools.quantize import quantize_checkpoint
from dmc.tools.train import train
from dmc.zoo.lenet import LENET5_ULTRA
from dmc.zoo.registry import available

INT8 = {"quantize": {"scheme": "static", "bitwidth": 8, "granularity": "per_channel", "activation_bitwidth": 8}}
# the Cortex-M4 has SRAM to spare: edge_small keeps 8-bit activations (ranges calibrated to the
# least squared error, then learned in QAT, as the Uno-scaled edge_nano's 4-bit ones)
INT8_LEARNED = {"quantize": dict(INT8["quantize"], activation_range="learned", calibration="mse")}
# the backbones' own deployment config (the one their SRAM-budget scaling plans the arena with),
# with ranges calibrated to the least squared error and learned in QAT (4-bit activations)
EDGE = "the backbones' EDGE_DEPLOY"
# name -> (architecture, builder options, compression config, where it is meant to run)
MODELS = {
    "lenet5": ("lenet5", {}, LENET5_ULTRA, "uno"),          # the seed's Ultra recipe: fits an Uno
    "resnet8": ("resnet8", {}, INT8, "m4"),
    "edge_nano": ("edge_nano", {"sram_budget": 1500}, EDGE, "uno"),
    "edge_small": ("edge_small", {}, INT8_LEARNED, "m4"),
}
# The recipe every model trains with beside the defaults of model.yaml (Fashion-MNIST's clothes
# look the same mirrored), and the models whose quantization-aware training distills from another
# model of the study, trained before them: edge_nano, whose 4-bit activations cost it the most,
# learns from ResNet-8's soft targets (in float training the teacher made no difference: 89.6%
# validation accuracy after 22 epochs with and without it).
RECIPE = {"augment_flip": True}
TEACHERS = {"edge_nano": "resnet8"}
# The default schedule of each model: (float epochs, QAT epochs, training images or None for
# all 55,000), chosen so that the whole study takes under an hour on 2 cores. An epoch on 2
# cores takes about 5 s for LeNet-5 (0.4 M MACs per image), 20 s for edge_nano (0.3 M, many
# small ops), 45 s for ResNet-8 (9.3 M) and 105 s for edge_small (5.7 M, depthwise and SE); QAT
# about 1.4x as much. With 12 + 2 ResNet-8 epochs and 14 + 2 edge_small ones the study took
# 3,796 s: ResNet-8 and edge_small now take one QAT epoch (their best of two was the first
# or within 0.02 points of it), ResNet-8 nine float epochs. edge_nano's 4-bit activations get
# the longest QAT; --epochs / --qat-epochs / --train-limit set one schedule for all.
HOUR = {
    "lenet5": (15, 3, None),
    "edge_nano": (30, 8, None),
    "resnet8": (9, 1, None),
    "edge_small": (14, 1, None),
}


def compression_config(cfg, name: str | None = None, pointwise_bits: int = 4):
    """The compression config of a study model: edge models get EDGE_DEPLOY with MSE-calibrated,
    learned activation ranges, and edge_nano its 1x1 convs at ``pointwise_bits``-bit weights (4
    is what lets it link within the Uno's flash; precision.py measures 8)."""
    if cfg is EDGE:
        from dmc.zoo.microsign_edge import EDGE_DEPLOY, build, deploy_recipe, reparameterize
        base = dict(EDGE_DEPLOY, quantize=dict(EDGE_DEPLOY["quantize"], activation_range="learned", calibration="mse"))
        if name == "edge_nano":     # layer names do not depend on the channels
            return deploy_recipe(reparameterize(build("edge_nano", 1, 28, 10, channels=[8] * 5)), pointwise_bits, base)
        return base
    return cfg


def run(out_dir, models=None, epochs: int | None = None, qat_epochs: int | None = None, qat_lr: float = 5e-4,
        measure: bool = True, stream: int = 100, train_limit: int | None = None, test_limit: int | None = None,
        reuse: bool = False, val_size: int = 5000, progress: bool = True) -> list[dict]:
    """Train, compress and compare ``models`` (default: every one whose architecture is registered).
    ``epochs``, ``qat_epochs``, ``train_limit``: None takes each model's :data:`HOUR` schedule."""
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    known = available()
    names = list(models or [m for m in MODELS if MODELS[m][0] in known])
    skipped = [m for m in MODELS if m not in names]
    for m in names:
        if m not in MODELS:
            raise SystemExit(f"unknown study model '{m}'; choose from {list(MODELS)}")
        if MODELS[m][0] not in known:
            raise SystemExit(f"the architecture '{MODELS[m][0]}' is not registered in dmc.zoo (yet)")
    if skipped and progress:
        print(f"not in this run: {', '.join(skipped)} (architecture not registered or not asked for)")
    checkpoints, timings, schedules = [], {}, {}
    for name in names:
        arch, options, compression, _ = MODELS[name]
        compression = compression_config(compression, name)
        h_epochs, h_qat, h_limit = HOUR[name]
        m_epochs = h_epochs if epochs is None else epochs
        m_qat = h_qat if qat_epochs is None else qat_epochs
        m_limit = h_limit if train_limit is None else train_limit
        schedules[name] = {"epochs": m_epochs, "qat_epochs": m_qat, "train_limit": m_limit}
        model_cfg, data_cfg = load_configs(overrides=dict(RECIPE, arch=arch, epochs=m_epochs, dataset="fashion_mnist",
                                                          val_size=val_size, train_limit=m_limit))
        model_cfg["options"] = dict(options)
        teacher = _teacher(out, name)
        schedules[name].update(RECIPE, teacher=TEACHERS.get(name) if teacher else None)
        t = time.time()
        best = out / "checkpoints" / f"{arch}_fashion_mnist_best.pt"
        if not (reuse and best.exists()):
            print(f"== {name}: training {m_epochs} epochs on {m_limit or 'all'} training images")
            best = train(model_cfg, data_cfg, out, progress=progress)["best"]
        quantized = out / "checkpoints" / f"{arch}_fashion_mnist_int.pt"
        print(f"== {name}: compressing ({_describe(compression)}), {m_qat} epochs of quantization-aware training")
        quantize_checkpoint(best, quantized, config=compression, qat_epochs=m_qat, lr=qat_lr,
                            dmc_out=out / f"{name}.dmc", progress=progress, teacher=teacher)
        timings[name] = round(time.time() - t)
        checkpoints += [best, quantized]
    print(f"== comparing {len(checkpoints)} checkpoints on the Fashion-MNIST test set"
          + (f" and measuring the deployed models ({stream} images streamed through each simulator)"
             if measure else ""))
    data_cfg = load_configs(overrides={"dataset": "fashion_mnist", "val_size": val_size})[1]
    rows = compare(checkpoints, (), data_cfg, runs=20, sim="auto" if measure else None, out_dir=out, limit=test_limit,
                   progress=progress, stream=stream)
    for r in rows:
        r["study_model"] = next((m for m in names if r["arch"] == MODELS[m][0]), r["arch"])
    summary = {"rows": rows, "schedules": schedules,
               "test_images": test_limit or 10000, "seconds_per_model": timings, "seconds": round(time.time() - t0)}
    (out / "fashion_backbones.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "fashion_backbones.md").write_text(table_markdown(rows))
    print(table_text(rows))
    print(f"results in {out} ({time.time() - t0:.0f} s): compare_models.csv / .md / .png, fashion_backbones.json")
    return rows


def _teacher(out: Path, name: str):
    """The trained float checkpoint whose soft targets ``name``'s quantization-aware training
    distills from (None when it has none, or when its teacher has not been trained into ``out``:
    then it distills from its own float weights)."""
    if name not in TEACHERS:
        return None
    path = out / "checkpoints" / f"{MODELS[TEACHERS[name]][0]}_fashion_mnist_best.pt"
    if not path.exists():
        print(f"note: {name} distills from itself, its teacher {TEACHERS[name]} is not trained in {out}")
        return None
    print(f"== {name}: quantization-aware training will distill from {path.name}")
    return path


def _describe(cfg: dict) -> str:
    q = cfg["quantize"]
    pruned = cfg.get("prune_channel", {}).get("sparsity")
    return (f"{q.get('bitwidth', 8)}-bit weights, {q.get('activation_bitwidth', 8)}-bit activations"
            + (f", channels pruned {pruned}" if pruned else ""))
