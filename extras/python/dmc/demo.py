"""The main job until the board issues land: LeNet-5 on MNIST through the whole Python
pipeline (train, prune + quantize with the seed's Ultra recipe, QAT, convert, save), with the
integer model's summary, its agreement with the fake-quant torch model and its test accuracy."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .compression import compress
from .conversion import convert
from .datasets import mnist_loaders
from .models import LENET5_TINY, LENET5_ULTRA, lenet5

RECIPES = {"ultra": LENET5_ULTRA, "tiny": LENET5_TINY}


def run(out_dir="out", epochs: int = 3, qat_epochs: int = 2, recipes=("ultra",), seed: int = 25,
        progress: bool = True) -> dict:
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train, val, test = mnist_loaders(seed=seed)
    x_test = test.dataset.tensors[0]
    y_test = test.dataset.tensors[1].numpy()
    model = lenet5()
    print(f"== baseline LeNet-5: {sum(p.numel() for p in model.parameters())} parameters, "
          f"training {epochs} epochs (validation split of {len(val.dataset)} from the training set)")
    model.fit(train, epochs=epochs, val_loader=val, progress=progress)
    results = {"baseline_val_accuracy": model.evaluate(val)["accuracy"]}
    for name in recipes:
        print(f"== {name}: compress, calibrate, {qat_epochs} epochs of quantization-aware training")
        cm = compress(model, RECIPES[name], input_shape=(1, 1, 28, 28), calibration_data=train)
        cm.fit(train, epochs=qat_epochs, val_loader=val, lr=5e-4, progress=progress)
        qm = convert(cm)
        path = out / f"lenet5_{name}.dmc"
        qm.save(path)
        qm.summary()
        with torch.no_grad():
            fq = cm.eval()(x_test).numpy().argmax(1)
        deployed = qm.predict(x_test.numpy()).argmax(1)
        r = {"model_bytes": qm.model_bytes, "agreement": float((fq == deployed).mean()),
             "test_accuracy": float((deployed == y_test).mean()), "file": str(path)}
        results[name] = r
        print(f"{name}: integer model vs fake-quant torch model: {r['agreement']:.2%} of test argmaxes agree; "
              f"test accuracy of the deployed integer model {r['test_accuracy']:.2%}; "
              f"{r['model_bytes']} model bytes; saved {path}")
    print(f"done in {time.time() - t0:.0f} s")
    return results
