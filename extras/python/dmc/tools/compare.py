"""``dmc compare``: the benchmark figures and the test top-1 of several checkpoints (and untrained
architectures by name) side by side, as a text table, a markdown table, a CSV file and a plot of
accuracy vs model bytes."""
from __future__ import annotations

import csv
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DMCError
from ..zoo.registry import build
from .benchmark import benchmark_checkpoint, model_figures
from .checkpoints import load_checkpoint
from .evaluate import checkpoint_splits, integer_top1
from .metrics import top1

# (key, header); "bytes" is what the model occupies deployed: the .dmc model bytes of a quantized
# model, float32 weight bytes otherwise
COLUMNS = [("name", "model"), ("arch", "arch"), ("kind", "kind"), ("params", "params"), ("nonzero_params", "nonzero"),
           ("macs", "MACs"), ("latency_ms", "host ms"), ("checkpoint_bytes", "checkpoint B"), ("bytes", "model B"),
           ("arena_bytes", "arena B"), ("cycles", "Uno cycles"), ("m4_instructions", "M4 instructions"),
           ("top1", "top-1"), ("integer_top1", "deployed top-1")]
CSV_NAME, MD_NAME, PLOT_NAME = "compare_models.csv", "compare_models.md", "compare_models.png"


def compare(checkpoints=(), models=(), data_cfg: dict | None = None, runs: int = 50, sim: str | None = None,
            out_dir="outputs/benchmarks", limit: int | None = None, progress: bool = True,
            stream: int = 5) -> list[dict]:
    """Benchmark and test every checkpoint (and build every named architecture untrained, for its
    figures); write the tables and the plot into ``out_dir``; return the rows. ``sim`` measures the
    deployable ones, streaming ``stream`` test images through the simulated board (checked
    bit-exactly against the interpreter)."""
    if not checkpoints and not models:
        raise DMCError("nothing to compare: give --checkpoints and/or --models")
    cks = [load_checkpoint(p) for p in checkpoints]
    splits = None
    if cks or data_cfg:
        splits = checkpoint_splits(cks[0], data_cfg) if cks else _splits(data_cfg)
    rows = []
    for ck in tqdm(cks, desc="checkpoints", disable=not progress, unit="model"):
        checkpoint_splits_match(ck, splits)
        x, y = splits.x_test[:limit], splits.y_test[:limit]
        row = benchmark_checkpoint(ck, runs, sim, x=x, stream=stream, strict=False)
        row["top1"] = top1(ck.model(), x, y)
        qm = row.pop("qm", None)
        if qm is not None:
            row["integer_top1"] = integer_top1(qm, x, y)
        rows.append(row)
    for name in models:
        if splits is None:
            raise DMCError("--models needs a dataset (a dataset config or a checkpoint) for the input shape and "
                           "classes")
        model = build(name, splits.input_shape[0], splits.input_shape[1:], splits.num_classes)
        rows.append({"name": name, "arch": name, "kind": "untrained float32",
                     **model_figures(model, splits.input_shape, runs)})
    for r in rows:
        r["bytes"] = r.get("model_bytes", r["float_bytes"])
        if splits is not None:
            r["dataset"] = splits.name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / CSV_NAME)
    (out / MD_NAME).write_text(table_markdown(rows))
    plot(rows, out / PLOT_NAME, splits.name if splits else "")
    return rows


def _splits(data_cfg):
    from .config import dataset_from_config
    return dataset_from_config(data_cfg)


def checkpoint_splits_match(ck, splits) -> None:
    if splits.input_shape != ck.input_shape or splits.num_classes != ck.data["num_classes"]:
        raise DMCError(f"{ck.path}: takes {ck.input_shape} inputs with {ck.data['num_classes']} classes, but the "
                       f"compared dataset {splits.name} has {splits.input_shape} with {splits.num_classes}")


def _fmt(key, v) -> str:
    if v is None or v == "":
        return "-"
    if key in ("top1", "integer_top1"):
        return f"{v:.2%}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _cells(rows):
    cols = [(k, h) for k, h in COLUMNS if any(r.get(k) is not None for r in rows)]
    return cols, [[_fmt(k, r.get(k)) for k, _ in cols] for r in rows]


def table_text(rows) -> str:
    cols, cells = _cells(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    line = "  ".join(h.ljust(w) for (_, h), w in zip(cols, widths))
    body = ["  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(cell, widths)))
            for cell in cells]
    return "\n".join([line, "-" * len(line)] + body) + "\n"


def table_markdown(rows) -> str:
    cols, cells = _cells(rows)
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(lines) + "\n"


def write_csv(rows, path: Path) -> None:
    keys = [k for k, _ in COLUMNS] + ["model_bytes", "float_bytes", "flash_bytes", "sram_bytes",
                                      "ms", "fits_uno", "target", "dataset"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def plot(rows, path: Path, dataset: str = "") -> Path | None:
    """Top-1 (deployed top-1 where there is one) against model bytes, log scale."""
    points = [(r["bytes"], r.get("integer_top1", r.get("top1")), r["name"]) for r in rows
              if r.get("integer_top1", r.get("top1")) is not None]
    if not points:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for b, acc, name in points:
        ax.scatter(b, acc * 100, s=50, color="tab:blue")
        ax.annotate(name, (b, acc * 100), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.15)
    ax.set_xlabel("model bytes (log scale; .dmc bytes of quantized models, float32 weights otherwise)")
    ax.set_ylabel(f"{dataset} test top-1 (%)".strip())
    ax.set_title("accuracy vs model size")
    ax.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
