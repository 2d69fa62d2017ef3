"""The sparse LeNet-5 study: unstructured magnitude pruning at 50-95% sparsity, alone and with
channel pruning and 4-bit weights, measured on the integer models and their sparse storage.

Every variant starts from the LeNet-5 baseline weights of the dense study
(``extras/experiments/lenet5/results/lenet5_baseline.pt``) and prunes in stages, 50% -> 70% ->
80% -> 90% -> 95%, each stage continuing from the masks and weights of the one before with a
``prune_weight`` config (global magnitude ranking, TF-MOT's polynomial schedule), distilled
from the baseline as the dense study does. Every choice is made on the validation split carved
from the training set; the test set is used once per stage, on the integer model the device runs.

Bytes: "artifact" bytes are the .dmc model bytes with ``"storage": "auto"`` (per layer the
smaller of dense and the artifact's sparse stream). The paper's formats (dCSR, RLE, CSR) are
counted by :func:`dmc.sparse.metrics` on the same integer weight matrices (rows = output
channels, columns = flattened inputs), with the biases and requantization constants added as
the artifact counts them. Cycles: one inference on the simulated Uno (exact simavr counts) with
dense and with sparse storage, checked bit-exact against the interpreter.

``train`` writes results/artifacts/<run>.dmc and results/runs.json; ``report`` (no training)
writes results/artifacts/<run>_auto.dmc, results/sparse_lenet5_table.{md,csv},
results/sparse_lenet5_results.json and the plot results/accuracy_vs_bytes.png.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASELINE = HERE.parent / "lenet5" / "results" / "lenet5_baseline.pt"
DENSE_RESULTS = HERE.parent / "lenet5" / "results" / "lenet5_results.json"
BUDGET_BYTES = 2662               # the Ultra budget of the seed's Table 1 (2.60 KB)
TARGET_ACCURACY = 0.99
SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)

# Activations: 8 bits; the input image at 4 bits as in Ultra (with 8-bit pixels the input and the
# first conv's output do not fit an Uno's arena next to the runner).
_Q8 = {"scheme": "static", "bitwidth": 8, "granularity": "per_channel", "activation_bitwidth": 8,
       "input_bitwidth": 4}
_Q4 = {"scheme": "static", "bitwidth": 4, "granularity": "per_tensor", "activation_bitwidth": 8,
       "input_bitwidth": 4, "layers": {"conv2d_0": {"granularity": "per_channel"}}}
_ULTRA_CHANNELS = {"sparsity": {"conv2d_1": 9, "linear_0": 64}, "metric": "l2"}
_MID_CHANNELS = {"sparsity": {"conv2d_1": 4, "linear_0": 52}, "metric": "l2"}
VARIANTS = {
    "w8": ("sparse, 8-bit weights", None, _Q8),
    "w4": ("sparse, 4-bit weights", None, _Q4),
    "w4ch": ("sparse + channel pruning (Ultra's: 6-7-20-10), 4-bit weights", _ULTRA_CHANNELS, _Q4),
    "w4mid": ("sparse + lighter channel pruning (6-12-32-10), 4-bit weights", _MID_CHANNELS, _Q4),
}
# (variant, sparsities, training batches per stage: None = one epoch) in the order they are
# trained. The machine is shared (2 cores for 8 users, ~1 s per QAT batch under load): the 4-bit
# sweep gets a full epoch per stage, the two others 100 batches per stage.
PLAN = (("w4", SPARSITIES, None), ("w4mid", SPARSITIES, 100), ("w8", SPARSITIES, 100))


def config(variant: str, prune_weight: dict) -> dict:
    _, channels, quant = VARIANTS[variant]
    cfg = {"prune_weight": dict(prune_weight), "quantize": copy.deepcopy(quant), "storage": "auto"}
    if channels:
        cfg["prune_channel"] = copy.deepcopy(channels)
    return cfg


def run_name(variant: str, sparsity: float) -> str:
    return f"{variant}_s{round(sparsity * 100):02d}"


# -- training -------------------------------------------------------------------------------------

def train(out_dir=HERE / "results", epochs: int = 1, plan=PLAN, seed: int = 25, max_steps: int | None = None,
          progress: bool = True, smoke: bool = False) -> list[dict]:
    """Train the stages of every variant of ``plan``: gradual pruning, each stage starting from
    the masks and weights of the one before (50% -> 70% -> ... -> 95%). A stage of ``epochs`` = 1
    raises the sparsity over the first half of its epoch and fine-tunes at the stage's sparsity in
    the second half; with more, the first half of the epochs prunes (final at 3/4 of them) and the
    rest fine-tunes, keeping the epoch of best validation accuracy. Every stage is converted,
    saved and tested on its integer model. ``max_steps`` cuts every epoch short; ``smoke`` runs
    two stages per variant, 5 batches each, validated and tested on 500 images (a check that the
    study runs, in a few minutes; its figures mean nothing).
    A variant whose stages all have artifacts is kept (delete one to retrain the variant)."""
    import torch

    from dmc.compression.compressed_model import compress
    from dmc.compression.conversion import convert
    from dmc.compression.training import random_shift
    from dmc.data import mnist_loaders
    from dmc.zoo.lenet import lenet5

    out = Path(out_dir)
    (out / "artifacts").mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.json"
    runs = {r["name"]: r for r in json.loads(runs_path.read_text())} if runs_path.exists() else {}
    torch.use_deterministic_algorithms(True)
    full_train, val_dl, test_dl = mnist_loaders(seed=seed)
    x_test, y_test = test_dl.dataset.tensors[0], test_dl.dataset.tensors[1].numpy()
    if smoke:
        plan = tuple((variant, sparsities[:2], 5) for variant, sparsities, _ in plan)
        val_dl = list(itertools.islice(val_dl, 4))
        x_test, y_test = x_test[:500], y_test[:500]
    baseline = lenet5()
    baseline.load_state_dict(torch.load(BASELINE, weights_only=True))
    baseline.eval()
    prune_epochs = max(1, math.ceil(epochs / 2))
    tune_epochs = epochs - prune_epochs
    for variant, sparsities, stage_steps in plan:
        limit = min(x for x in (max_steps, stage_steps, len(full_train)) if x)
        # each stage sees the next `limit` batches of the shuffled training set
        batches = itertools.cycle(iter(full_train)) if limit < len(full_train) else None
        steps = limit
        end_step = max(1, (3 * prune_epochs * steps) // 4 if tune_epochs else steps // 2)
        names = [run_name(variant, s) for s in sparsities]
        if all(n in runs and (out / runs[n]["file"]).exists() for n in names):
            print(f"== {variant}: kept (all stages have artifacts)")
            continue
        torch.manual_seed(seed)
        cm, previous = None, 0.0
        for sparsity, name in zip(sparsities, names):
            t0 = time.time()
            pw = {"sparsity": sparsity, "ranking": "global", "schedule": "polynomial", "initial_sparsity": previous,
                  "end_step": end_step, "frequency": max(1, steps // 20)}
            print(f"== {name}: {VARIANTS[variant][0]}, {previous:.0%} -> {sparsity:.0%}: " + (
                f"{prune_epochs} pruning + {tune_epochs} fine-tuning epochs" if tune_epochs else
                "one epoch (pruning over its first half)") + " of QAT, distilled from the baseline")
            if cm is None:
                cfg = config(variant, pw)
                cm = compress(baseline, cfg, input_shape=(1, 1, 28, 28), calibration_data=full_train,
                              calibration_batches=16)
            else:
                cm.set_weight_pruning(pw)
            kw = dict(val_loader=val_dl, schedule="cosine", augment=random_shift(1, seed),
                      teacher=copy.deepcopy(baseline), monitor="accuracy", progress=progress)
            train_dl = full_train if batches is None else [next(batches) for _ in range(steps)]
            hist = cm.fit(train_dl, epochs=prune_epochs, lr=1e-3, restore_best=False, **kw)
            if tune_epochs:
                hist += cm.fit(train_dl, epochs=tune_epochs, lr=5e-4, restore_best=True, **kw)
            qm = convert(cm)
            path = out / "artifacts" / f"{name}.dmc"
            qm.save(path)
            deployed = qm.predict(x_test.numpy())
            with torch.no_grad():
                fake = cm.eval()(x_test).numpy()
            runs[name] = {
                "name": name, "variant": variant, "what": VARIANTS[variant][0], "sparsity": sparsity,
                "config": config(variant, pw), "stage_from": previous, "epochs": epochs, "batches_per_epoch": steps,
                "file": f"artifacts/{name}.dmc", "val_accuracy": hist[-1]["val_accuracy"] if not tune_epochs else
                max(h["val_accuracy"] for h in hist[prune_epochs:]),    # the kept (restored) epoch
                "test_accuracy": float((deployed.argmax(1) == y_test).mean()),
                "test_agreement_int_vs_fake_quant": float((deployed.argmax(1) == fake.argmax(1)).mean()),
                "model_bytes": qm.model_bytes, "weight_pruning": qm.meta["weight_pruning"],
                "history": hist, "seconds": round(time.time() - t0, 1)}
            print(f"   val {runs[name]['val_accuracy']:.4f}  test {runs[name]['test_accuracy']:.4f}  "
                  f"{qm.model_bytes} model bytes  ({runs[name]['seconds']} s)")
            runs_path.write_text(json.dumps(list(runs.values()), indent=1) + "\n")
            previous = sparsity
    return list(runs.values())


# -- bytes and report -----------------------------------------------------------------------------

def with_storage(qm, storage: str = "auto"):
    """The same integer model with every layer's weights stored as ``storage`` ("auto": per layer
    the smaller of dense and the artifact's sparse stream), through dmc.core.weights."""
    from dmc.core.intmodel import IntModel
    from dmc.core.weights import conv_tap_offsets, store_weight
    arrays, ops = dict(qm.arrays), copy.deepcopy(qm.ops)
    for op in ops:
        if op["op"] in ("conv2d", "linear"):
            w = qm.weight(op)
            for suffix in (".weight", ".weight_stream", ".weight_taps", ".weight_rows"):
                arrays.pop(op["name"] + suffix, None)
            op["attrs"].pop("storage", None)
            a = op["attrs"]
            taps = (conv_tap_offsets(a["weight_shape"], a["dilation"], qm.tensors[op["inputs"][0]]["shape"])
                    if op["op"] == "conv2d" else None)
            if store_weight(arrays, op["name"], w, a["weight_bits"], storage, taps) == "dcsr":
                op["attrs"]["storage"] = "dcsr"
    return IntModel(qm.scheme, qm.tensors, ops, arrays, qm.output, qm.meta)


def weight_matrices(qm) -> list[tuple[str, int, np.ndarray]]:
    """(layer alias, weight bits, integer weight matrix with rows = output channels) per layer."""
    out = []
    for op in qm.ops:
        if op["op"] in ("conv2d", "linear"):
            w = qm.weight(op)
            out.append((op["attrs"]["alias"], op["attrs"]["weight_bits"], w.reshape(w.shape[0], -1)))
    return out


FORMATS = ("dense", "dcsr", "rle", "csr", "mcsr")


def byte_figures(qm) -> dict:
    """Model bytes with the weights of every layer in each format of :func:`dmc.sparse.metrics`
    (the paper's dCSR, RLE, CSR and the artifact's nibble-step CSR "mcsr"), biases and
    requantization constants added as the artifact counts them; bits per nonzero of the weights."""
    from dmc.sparse import metrics
    weights = {f: 0 for f in FORMATS}
    nnz = total = 0
    layers = []
    for alias, bits, w in weight_matrices(qm):
        m = metrics(w, value_bits=bits)
        for f in FORMATS:
            weights[f] += m[f]
        nnz += m["nnz"]
        total += w.size
        layers.append({"layer": alias, "shape": list(w.shape), "bits": bits, "nnz": m["nnz"],
                       **{f: m[f] for f in FORMATS}})
    dense_model = with_storage(qm, "dense").model_bytes
    other = dense_model - weights["dense"]          # biases + requantization constants
    out = {f"{f}_bytes": weights[f] + other for f in FORMATS}
    out.update({f"{f}_bits_per_nnz": round(8 * weights[f] / max(nnz, 1), 2) for f in FORMATS})
    out.update(nnz=nnz, weights=total, other_bytes=other, layers=layers)
    return out


def uno_cycles(qm, codes, workdir) -> int | None:
    """Exact simavr cycles of one inference on the Uno (bare-target runner), checked bit-exact
    against the interpreter; None when the model does not link for an Uno."""
    from dmc.deploy.sparse_harness import run_model
    from dmc.errors import DMCError
    try:
        got, cycles = run_model(qm, codes, "uno", workdir)
    except DMCError as e:
        print(f"   (not measured on the Uno: {str(e).splitlines()[0][:120]})")
        return None
    want = qm.predict(codes)
    if not np.array_equal(got, want):
        raise DMCError("the simulated Uno's outputs differ from the interpreter")
    return int(np.median(cycles))


def report(out_dir=HERE / "results", cycles: bool = False) -> list[dict]:
    """Tables, plot and results JSON from the saved runs; the sparse artifacts (storage "auto")
    are written beside the dense ones. ``cycles``: also measure every model on the simulated Uno
    with dense and with sparse storage."""
    import tempfile

    from dmc.core.intmodel import load
    from dmc.data import mnist_arrays
    out = Path(out_dir)
    runs = json.loads((out / "runs.json").read_text())
    earlier = out / "sparse_lenet5_results.json"
    measured = {r["name"]: r for r in json.loads(earlier.read_text())["runs"]} if earlier.exists() else {}
    codes = image = None
    rows = []
    for r in runs:
        qm = load(out / r["file"])
        sparse = with_storage(qm, "auto")
        sparse_path = out / "artifacts" / f"{r['name']}_auto.dmc"
        sparse.save(sparse_path)
        sparse = load(sparse_path)               # what the loader validates is what is measured
        row = {k: r[k] for k in ("name", "variant", "what", "sparsity", "val_accuracy", "test_accuracy")}
        row.update(byte_figures(qm))
        row.update(artifact_bytes=sparse.model_bytes, file=f"artifacts/{r['name']}_auto.dmc",
                   sparse_layers=[op["attrs"]["alias"] for op in sparse.ops if op["attrs"].get("storage") == "dcsr"],
                   weight_sparsity=round(1 - row["nnz"] / row["weights"], 4), macs=qm.total_macs)
        if cycles:
            if codes is None:
                image = mnist_arrays()[4][:1]        # the first test image
            codes = qm.quantize_input(image)
            with tempfile.TemporaryDirectory(prefix="dmc-sparse-uno-") as tmp:
                print(f"== {r['name']}: simulated Uno, dense and sparse storage")
                row["cycles_dense"] = uno_cycles(with_storage(qm, "dense"), codes, Path(tmp) / "dense")
                row["cycles_sparse"] = uno_cycles(sparse, codes, Path(tmp) / "sparse")
        elif r["name"] in measured:              # keep the cycles of an earlier --cycles report
            row.update({k: measured[r["name"]].get(k) for k in ("cycles_dense", "cycles_sparse")})
        rows.append(row)
    fits = [r for r in rows if r["artifact_bytes"] <= BUDGET_BYTES]
    best = max(fits, key=lambda r: (r["val_accuracy"], -r["artifact_bytes"])) if fits else None
    # the artifact published to the example: the smallest that reaches 99.0% on validation
    good = [r for r in rows if r["val_accuracy"] >= TARGET_ACCURACY]
    published = min(good, key=lambda r: r["artifact_bytes"]) if good else best
    for r in rows:
        r["best_under_budget"] = best is not None and r["name"] == best["name"]
    dense = json.loads(DENSE_RESULTS.read_text()) if DENSE_RESULTS.exists() else []
    (out / "sparse_lenet5_results.json").write_text(json.dumps(
        {"budget_bytes": BUDGET_BYTES, "target_accuracy": TARGET_ACCURACY, "best": best and best["name"],
         "published": published and published["name"], "runs": rows}, indent=1) + "\n")
    write_tables(rows, dense, out)
    plot(rows, dense, out / "accuracy_vs_bytes.png")
    print((out / "sparse_lenet5_table.md").read_text())
    return rows


COLUMNS = [("name", "run"), ("sparsity", "target sparsity"), ("weight_sparsity", "zero weights"),
           ("val_accuracy", "val acc"), ("test_accuracy", "test acc"), ("dense_bytes", "dense B"),
           ("artifact_bytes", "artifact B (auto)"), ("dcsr_bytes", "dCSR B"), ("rle_bytes", "RLE B"),
           ("csr_bytes", "CSR B"), ("dcsr_bits_per_nnz", "dCSR bits/nz"), ("rle_bits_per_nnz", "RLE bits/nz"),
           ("mcsr_bits_per_nnz", "artifact stream bits/nz"), ("cycles_dense", "Uno cycles dense"),
           ("cycles_sparse", "Uno cycles sparse")]


def _fmt(key, v):
    if v is None:
        return "-"
    if key in ("val_accuracy", "test_accuracy"):
        return f"{v:.2%}"
    if key in ("sparsity", "weight_sparsity"):
        return f"{v:.1%}"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def write_tables(rows, dense, out: Path) -> None:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(("**" if r["best_under_budget"] and k == "name" else "") + _fmt(k, r.get(k))
                                         + ("**" if r["best_under_budget"] and k == "name" else "")
                                         for k, _ in COLUMNS) + " |")
    notes = ["", "Runs: " + "; ".join(f"{k} = {v[0]}" for k, v in VARIANTS.items() if any(r['variant'] == k for r in rows)),
             "", "Bytes: the weights of every layer in that format + int32 biases + requantization constants. "
             "artifact B (auto) = the .dmc model bytes with storage \"auto\" (per layer the smaller of dense and "
             "the artifact's sparse stream: nibble-step CSR rows for linear, offset CSR filters for conv2d); "
             "dCSR, RLE and CSR are dmc.sparse.metrics' byte counts of the "
             "paper's formats on the same integer weights. bits/nz: weight bytes * 8 / nonzero weights. "
             f"Bold: the most accurate on validation within {BUDGET_BYTES} artifact bytes. Uno cycles: one "
             "inference, simavr's exact count; '-' where the model does not link for an Uno (32 KB flash).", ""]
    notes += [f"Dense reference: {d['model']} {d['accuracy']:.2%} at {d['model_bytes']} B" for d in dense]
    (out / "sparse_lenet5_table.md").write_text("\n".join(lines + notes) + "\n")
    with open(out / "sparse_lenet5_table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k, _ in COLUMNS] + ["nnz", "weights"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def plot(rows, dense, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(8.5, 5))
    colors = {"w8": "tab:blue", "w4": "tab:orange", "w4mid": "tab:green", "w4ch": "tab:red"}
    floor = 96.0                 # points below it are drawn on the bottom edge with their value
    for variant, (title, _, _) in VARIANTS.items():
        pts = sorted((r["artifact_bytes"], r["test_accuracy"] * 100, r["sparsity"]) for r in rows
                     if r["variant"] == variant)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [max(p[1], floor) for p in pts], marker="o", color=colors[variant], label=title)
        for x, y, s in pts:
            if y < floor:
                ax.scatter(x, floor, marker="v", color=colors[variant], s=60, zorder=3)
            ax.annotate(f"{s:.0%}" + (f" ({y:.1f}%)" if y < floor else ""), (x, max(y, floor)),
                        textcoords="offset points", xytext=(3, 5), fontsize=7, color=colors[variant])
    for d in dense:
        if d["model"].startswith("DMC"):
            ax.scatter(d["model_bytes"], d["accuracy"] * 100, marker="s", color="black", s=40)
            ax.annotate(f"dense {d['model']}", (d["model_bytes"], d["accuracy"] * 100), textcoords="offset points",
                        xytext=(-20, -14), fontsize=8)
    ax.axvline(BUDGET_BYTES, color="grey", linestyle=":", linewidth=1)
    ax.axhline(99.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_ylim(floor - 0.3, 99.8)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("model bytes of the .dmc with storage \"auto\" (log scale)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Sparse LeNet-5: accuracy vs model bytes (integer models)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
