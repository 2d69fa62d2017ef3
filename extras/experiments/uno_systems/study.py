"""The three systems of the project side by side on the simulated Uno, from committed artifacts.

``dmc demo`` trains and measures the LeNet-5 recipes (the seed's Table 1); this study adds the
two systems whose training takes longer than a demo may: the sparse LeNet-5 (nibble-step CSR
weights, examples/MnistLeNet5/lenet5_sparse.dmc, from the sparse_lenet5 study) and the
MicroSign-Edge edge_nano scaled to the Uno (extras/experiments/fashion_backbones). Each artifact is built
into the serial-runner sketch for the simulated Uno, test images stream through it and every
output is compared bit-exactly with the interpreter; the table gives flash, SRAM with the stack
peak, exact cycles and the accuracy on the streamed images (device = interpreter, checked) and
on the full 10k test set (interpreter, the same integers).

    .venv/bin/python extras/experiments/uno_systems/study.py [--stream 50]
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
SYSTEMS = [  # (name, artifact, data set, full-test-set accuracy from its study's results)
    ("sparse LeNet-5 (dCSR, 4-bit, 80% zero)", ROOT / "examples" / "MnistLeNet5" / "lenet5_sparse.dmc", "mnist",
     (ROOT / "extras" / "experiments" / "sparse_lenet5" / "results" / "sparse_lenet5_results.json", "w4_s80")),
    ("edge_nano (MicroSign-Edge, Uno-scaled)", ROOT / "extras" / "experiments" / "fashion_backbones" / "results" /
     "edge_nano.dmc", "fashion_mnist",
     (ROOT / "extras" / "experiments" / "fashion_backbones" / "results" / "fashion_backbones.json",
      "edge_nano_fashion_mnist_int")),
]
COLUMNS = [("system", "system"), ("data", "data"), ("test_accuracy", "test acc (10k)"),
           ("stream_accuracy", "acc on streamed"), ("streamed", "streamed, bit-exact"),
           ("model_bytes", "model B"), ("arena_bytes", "arena B"), ("flash_bytes", "sketch flash B"),
           ("sram_bytes", "sketch SRAM B (incl. stack)"), ("fits_uno", "fits Uno"), ("cycles", "cycles / inference"),
           ("ms", "ms @ 16 MHz")]


def _test_images(name: str):
    if name == "mnist":
        from dmc.data.mnist import load_mnist
        d = load_mnist()
    else:
        from dmc.data.fashion_mnist import load_fashion_mnist
        d = load_fashion_mnist()
    return d["test_images"].astype(np.float32)[:, None] / 255.0, d["test_labels"].astype(np.int64)


def _study_accuracy(results: Path, key):
    """The full-test-set accuracy its study recorded for the artifact (None when not found)."""
    if not results.is_file():
        return None
    data = json.loads(results.read_text())
    if key is None:
        return data.get("integer_test")
    rows = data if isinstance(data, list) else data.get("runs", data.get("rows", []))
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, dict) and (r.get("run") == key or r.get("name") == key):
            return r.get("test_acc", r.get("test_accuracy", r.get("integer_top1")))
    return None


def _fmt(key, v):
    if v is None or v == "":
        return "-"
    if key in ("test_accuracy", "stream_accuracy"):
        return f"{v:.2%}"
    if key == "fits_uno":
        return "yes" if v else "no"
    return str(v)


def table_markdown(rows) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(k, r.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def run(out_dir="out", stream: int = 50, lenet_rows=(), progress: bool = True) -> list[dict]:
    """Measure the committed systems on the simulated Uno; ``lenet_rows`` (the LeNet-5 study's
    measured rows) head the table. Writes uno_systems.md / .json into ``out_dir``."""
    import dmc
    from dmc.deploy.measure import measure_uno
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [dict(r, system=f"LeNet-5 {r['model']}", data="mnist", test_accuracy=r.get("accuracy"),
                 streamed=r.get("streamed")) for r in lenet_rows if "cycles" in r]
    for name, path, data, (results, key) in SYSTEMS:
        model = dmc.load(path)
        x, y = _test_images(data)
        codes = model.quantize_input(x[:stream])
        print(f"== {name}: building the serial-runner sketch for the simulated Uno and streaming {stream} "
              f"{data} test images", flush=True)
        row = {"system": name, "data": data, "test_accuracy": _study_accuracy(results, key), "streamed": stream}
        row.update(measure_uno(path, codes))     # raises unless every output equals the interpreter's
        row["stream_accuracy"] = float((model.predict(codes).reshape(len(codes), -1).argmax(1) == y[:stream]).mean())
        rows.append(row)
    (out / "uno_systems.md").write_text(table_markdown(rows))
    (out / "uno_systems.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    print(table_markdown(rows))
    print(f"three systems on the simulated Uno in {out} ({time.time() - t0:.0f} s)")
    return rows


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--stream", type=int, default=50, help="test images streamed per system (default 50)")
    a = p.parse_args()
    run(a.out, a.stream)
