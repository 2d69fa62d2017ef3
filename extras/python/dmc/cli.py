"""The ``dmc`` command line: summary, inspect, sparse, export, verify, profile, ports, demo, search, and
the checkpoint tools (train, test, benchmark, compare, prune, quantize; their logic lives in ``dmc.tools``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DMCError


def _summary(args):
    from .core.intmodel import load
    load(args.model).summary()
    return 0


def _inspect(args):
    from .core.intmodel import load
    from .deploy.boards import get_board
    from .core.planner import ArenaTooLargeError
    from .deploy.budget import budget_text, check_fits
    model = load(args.model)
    board = get_board(args.board) if args.board else None
    text, fits = budget_text(model, board)
    print(text, end="")
    if not fits:
        try:
            check_fits(model, board)
            detail = ""
        except ArenaTooLargeError as e:             # the arena is what does not fit: say where
            detail = f" ({e})"
        print(f"dmc inspect: error: {args.model} does not fit {board.name}{detail}", file=sys.stderr)
        return 1
    return 0


def _export(args):
    if not args.model.endswith(".dmc") or args.torchscript or args.onnx or args.dmc:
        from .tools.export import export_checkpoint
        for path in export_checkpoint(args.model, args.torchscript, args.onnx, args.dmc):
            print(f"wrote {path}")
        return 0
    if not args.out:
        raise DMCError("--out FOLDER is required to generate C++ from a .dmc model")
    from .core.intmodel import load
    from .deploy.budget import budget
    from .deploy.codegen import codegen
    model = load(args.model)
    paths = codegen(model, args.out, args.name)
    b = budget(model)
    print(f"wrote {', '.join(map(str, paths))}: {b['model_bytes']} B of constants in flash, "
          f"{b['arena_bytes']} B arena, {b['macs']} MACs per inference")
    return 0


def _verify(args):
    from .core.intmodel import load
    from .deploy.verify import load_npz, verify_device, verify_host
    model = load(args.model)
    codes, labels = load_npz(args.data, model)
    if args.limit:
        codes = codes[:args.limit]
        labels = labels[:args.limit] if labels is not None else None
    targets = [bool(args.host), bool(args.port), bool(args.sim)]
    if sum(targets) != 1:
        raise DMCError("choose exactly one target: --host, --port PORT or --sim {uno,m4,rv32,host}")
    if args.host:
        report = verify_host(model, codes, labels, progress=not args.quiet)
    else:
        import tempfile

        from .deploy.device import DeviceSession, ProcessTransport, SerialTransport
        with tempfile.TemporaryDirectory(prefix="dmc-sim-") as tmp:
            if args.sim:
                from .deploy.firmware import build_sim_firmware
                print(f"building the serial-runner firmware for the simulated {args.sim} (PlatformIO)...")
                transport = ProcessTransport([str(build_sim_firmware(args.model, args.sim, tmp))])
            else:
                from .deploy.ports import resolve_port
                port = resolve_port(args.port)
                if port != args.port:
                    print(f"--port auto: using {port}")
                transport = SerialTransport(port, args.baud)
            session = DeviceSession(model, transport)
            try:
                print(f"device: '{session.info.name}', {session.info.arena_bytes} B arena, "
                      f"{session.info.model_bytes} model bytes, {session.info.cpu_hz / 1e6:g} MHz")
                report = verify_device(model, session, codes, labels, progress=not args.quiet)
            finally:
                session.close()
    print(report.text())
    return 0 if not report.mismatches else 1


def _ports(args):
    from .deploy.ports import list_ports, ports_table
    print(ports_table(list_ports()), end="")
    return 0


def _profile(args):
    from .deploy.profile import plot_profile, profile, profile_table
    result = profile(args.model, args.sim)
    print(profile_table(result), end="")
    if args.plot:
        print(f"plot: {plot_profile(result, args.plot)}")
    return 0


def experiment(name: str, module: str = "study"):
    """Import the study ``extras/experiments/<name>/study.py`` (or another ``module`` of it, e.g.
    the Fashion-MNIST study's ``precision``) of a repository checkout. Studies are not part of the
    installed package: they live with the repository, next to their results."""
    import importlib.util
    from pathlib import Path
    here = Path(__file__).resolve()
    for root in (here.parents[2] / "experiments", Path.cwd() / "extras" / "experiments"):
        path = root / name / f"{module}.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"dmc_{module}_{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise DMCError(f"the '{name}' study is not installed with the package: run this command from a checkout of the "
                   "DeepMicroCompression repository (it reads extras/experiments/)")


def _demo(args):
    run = experiment("lenet5").run
    rows = run(args.out, epochs=args.epochs, qat_epochs=args.qat_epochs, recipes=args.recipe,
               measure=not args.no_sim, stream=args.stream, progress=not args.quiet)
    print(f"plot: {args.out}/accuracy_vs_bytes.png; table: {args.out}/lenet5_table.md")
    misfits = [r["model"] for r in rows[1:] if r.get("fits_uno") is False]
    if misfits:
        print(f"note: {', '.join(misfits)} does not fit an Uno (see the table)")
    if not args.no_sim and args.systems_stream > 0:
        lenet = [dict(r, streamed=args.stream) for r in rows[1:]]
        experiment("uno_systems").run(args.out, stream=args.systems_stream, lenet_rows=lenet, progress=not args.quiet)
        print(f"table: {args.out}/uno_systems.md")
    return 0


def _search(args):
    import torch

    from .compression.search import Candidate, search, write_search
    if args.report:
        from .compression.search_report import write_report
        write_report(args.storage or str(Path(args.out) / "study.db"), args.study_name, args.out, args.compare)
        return 0
    from .compression.training import random_shift
    from .data import mnist_loaders
    from .zoo.lenet import lenet5, train_baseline
    train, val, test = mnist_loaders()
    model = lenet5()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
    else:
        print(f"no --weights: training a LeNet-5 baseline for {args.epochs} epochs first")
        train_baseline(model, train, val, args.epochs, progress=not args.quiet)
    model.eval()
    # start from the seed's Ultra recipe (9 of 16 conv2d_1 and 64 of 84 linear_0 channels removed,
    # 4-bit weights, 4-bit input) and let the sampler move away from it
    ultra = Candidate({"conv2d_0": (0, 4, "per_channel", 8), "conv2d_1": (9, 4, "per_tensor", 8),
                       "linear_0": (64, 4, "per_tensor", 8), "linear_1": (0, 4, "per_tensor", 8)}, 4)
    final = search(model, train, val, (1, 1, 28, 28), max_model_bytes=args.max_model_bytes, board=args.board,
                   trials=args.trials, sampler=args.sampler, objectives=args.objective, population=args.population,
                   storage=args.storage or str(Path(args.out) / "study.db"), study_name=args.study_name,
                   workers=args.workers, ray_address=args.ray_address, cpus_per_trial=args.cpus_per_trial,
                   gpus_per_trial=args.gpus_per_trial, mlflow_uri=None if args.no_mlflow else args.mlflow_uri,
                   out_dir=args.out, final_epochs=args.final_epochs, finalists=args.finalists,
                   quick_batches=args.quick_batches, seeds=[ultra], augment=random_shift(1, 25),
                   sparse=not args.no_sparse, minutes=args.minutes, progress=not args.quiet)
    write_search(final, test, args.out)
    return 0 if final else 1


def _configs(args):
    from .tools.config import load_configs
    overrides = {k: getattr(args, k, None) for k in ("arch", "epochs", "lr", "seed", "dataset", "batch_size")}
    overrides["root"] = getattr(args, "data_root", None)
    return load_configs(args.config, args.dataset_config, overrides, args.set)


def _has_dataset_args(args) -> bool:
    return bool(args.dataset_config or args.dataset or args.data_root or args.set)


def _train(args):
    from .tools.train import train
    model_cfg, data_cfg = _configs(args)
    res = train(model_cfg, data_cfg, args.output_dir, resume=args.resume, extra_epochs=args.epochs if args.resume
                else None, progress=not args.quiet)
    print(f"best validation accuracy {res['best_val_accuracy']:.2%}; checkpoints: {res['best']}, {res['last']}")
    return 0


def _test(args):
    from .tools.evaluate import test_checkpoint
    data_cfg = _configs(args)[1] if _has_dataset_args(args) else None
    row = test_checkpoint(args.checkpoint, data_cfg, args.split)
    extra = f"; deployed integer model {row['integer_top1']:.2%}" if "integer_top1" in row else ""
    print(f"{row['arch']} {args.checkpoint}: top-1 {row['top1']:.2%} on {row['images']} {row['split']} images{extra}")
    return 0


def _benchmark(args):
    import json
    from pathlib import Path

    from .tools.benchmark import benchmark_checkpoint, model_figures
    from .tools.checkpoints import load_checkpoint
    from .tools.compare import table_text
    if bool(args.checkpoint) == bool(args.arch):
        raise DMCError("give either --checkpoint PATH or --arch NAME (with --input-shape C H W and --classes)")
    if args.checkpoint:
        row = benchmark_checkpoint(load_checkpoint(args.checkpoint), args.runs, args.sim, args.dmc)
        row.pop("qm", None)
    else:
        from .zoo.registry import build
        c, h, w = args.input_shape
        row = {"name": args.arch, "arch": args.arch, "kind": "untrained float32",
               **model_figures(build(args.arch, c, (h, w), args.classes), (c, h, w), args.runs)}
    row["bytes"] = row.get("model_bytes", row["float_bytes"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"benchmark_{row['name']}.json").write_text(json.dumps(row, indent=2) + "\n")
    print(table_text([row]), end="")
    print(f"figures: {out / ('benchmark_' + row['name'] + '.json')}")
    return 0


def _compare(args):
    from .tools.compare import CSV_NAME, MD_NAME, PLOT_NAME, compare, table_markdown, table_text
    data_cfg = _configs(args)[1] if _has_dataset_args(args) else None
    models = [m for m in (args.models or "").split(",") if m]
    rows = compare(args.checkpoints or [], models, data_cfg, args.runs, args.sim, args.out, args.limit,
                   progress=not args.quiet, stream=args.stream)
    print(table_text(rows))
    print(table_markdown(rows))
    print(f"written: {args.out}/{CSV_NAME}, {args.out}/{MD_NAME}, {args.out}/{PLOT_NAME}")
    return 0


def _prune(args):
    from .tools.prune import prune_checkpoint
    rec = prune_checkpoint(args.input_model, args.output_model, args.pruning_type, args.pruning_ratio,
                           args.finetune_epochs, progress=not args.quiet)
    print(f"{args.output_model}: {rec['type']} pruning at {rec['ratio']:g}, {rec['sparsity']:.1%} of the "
          f"conv/linear weights are zero" + (f", fine-tuned {rec['finetune_epochs']} epochs" if rec["finetune_epochs"]
                                              else ""))
    return 0


def _quantize(args):
    from .tools.config import read_yaml
    from .tools.quantize import quantize_checkpoint
    cfg = read_yaml(args.compression_config) if args.compression_config else None
    rec = quantize_checkpoint(args.input_model, args.output_model, args.quantization_type, args.bits,
                              args.granularity, args.activation_bits, args.calibration_data, args.calibration_count,
                              args.qat_epochs, dmc_out=args.dmc, progress=not args.quiet, config=cfg,
                              teacher=args.teacher)
    q = rec["config"]["quantize"]
    print(f"{args.output_model}: {q.get('scheme', 'static')} {q.get('bitwidth', 8)}-bit "
          f"({q.get('granularity', 'per_tensor')})"
          + (f", calibrated on {rec['calibration']}" if rec["calibration"] else "")
          + (f", {rec['qat_epochs']} QAT epochs" if rec["qat_epochs"] else "")
          + (f"; wrote {args.dmc}" if args.dmc else ""))
    return 0


def _config_args(s, model: bool = True):
    if model:
        s.add_argument("--config", help="model.yaml: arch, options, epochs, lr, weight_decay, augment_shift, seed")
    else:
        s.set_defaults(config=None)
    s.add_argument("--dataset-config", help="datasets.yaml: dataset, root, val_size, batch_size, download, "
                   "channels, input_size, split_seed")
    s.add_argument("--dataset", help="override: mnist, fashion_mnist, cifar10 or folder")
    s.add_argument("--data-root", help="override: the data folder")
    s.add_argument("--batch-size", type=int, help="override: batch size")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (repeatable)")


def _sparse(args):
    from .core.sparse_report import report, report_text
    print(report_text(report(args.file, args.bits), csv=args.csv), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dmc", description="Deep MicroCompression: compress PyTorch models "
                                "and deploy them as integer-only C++ on microcontrollers.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print the per-layer table of a .dmc model")
    s.add_argument("model", help="path to a .dmc file")
    s.set_defaults(func=_summary)

    s = sub.add_parser("inspect", help="print the deployment budget (flash, SRAM, MACs per kernel); with "
                       "--board, fail when the model does not fit")
    s.add_argument("model", help="path to a .dmc file")
    s.add_argument("--board", help="check the budget against a board (uno, nano, mega, m4, esp32)")
    s.set_defaults(func=_inspect)

    s = sub.add_parser("sparse", help="byte counts of every weight matrix dense and in CSR, run-length, dCSR and "
                       "nibble-step CSR (a .npy, .npz or .dmc file)")
    s.add_argument("file", help="a .npy, .npz or .dmc file")
    s.add_argument("--bits", type=int, choices=[8, 4, 2], default=8,
                   help="value bits of .npy/.npz matrices (a .dmc uses each layer's weight bits; default: 8)")
    s.add_argument("--csv", action="store_true", help="print CSV instead of the table")
    s.set_defaults(func=_sparse)

    s = sub.add_parser("export", help="generate NAME.h / NAME.cpp for the C++ runtime from a .dmc model, or export "
                       "a checkpoint as TorchScript / ONNX (float) or .dmc (statically quantized)")
    s.add_argument("model", help="path to a .dmc file or a checkpoint (.pt)")
    s.add_argument("--out", help="output folder of the C++ sources (for a .dmc model)")
    s.add_argument("--name", default="model", help="C++ name of the model (default: model)")
    s.add_argument("--torchscript", metavar="PATH", help="checkpoint: write the float model as TorchScript")
    s.add_argument("--onnx", metavar="PATH", help="checkpoint: write the float model as ONNX")
    s.add_argument("--dmc", metavar="PATH", help="statically quantized checkpoint: write its integer .dmc model")
    s.set_defaults(func=_export)

    s = sub.add_parser("verify", help="run the generated C++ on a data set and compare every output bit-exactly "
                       "with the integer interpreter")
    s.add_argument("model", help="path to a .dmc file")
    s.add_argument("--data", required=True, help="npz with 'x' (float inputs or integer codes) and optional 'y'")
    s.add_argument("--host", action="store_true", help="build with the host C++ compiler and run locally")
    s.add_argument("--port", help="a board running the serial runner (e.g. the MnistLeNet5 example), e.g. "
                   "/dev/ttyACM0, or 'auto' for the one port that looks like a board (see dmc ports)")
    s.add_argument("--baud", type=int, default=115200, help="baud rate for --port (default: 115200)")
    s.add_argument("--sim", choices=["uno", "m4", "rv32", "host"],
                   help="build the serial runner with PlatformIO and run it on a simulated board")
    s.add_argument("--limit", type=int, help="use only the first N samples")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_verify)

    s = sub.add_parser("ports", help="list serial ports (device, VID:PID, description) and mark likely boards")
    s.set_defaults(func=_ports)

    s = sub.add_parser("profile", help="per-layer cycles, MACs, cycles per MAC and share of one inference on a "
                       "simulated board (exact cycles on the simulated Uno)")
    s.add_argument("model", help="path to a .dmc file")
    s.add_argument("--sim", choices=["uno", "m4", "host"], default="uno",
                   help="simulated board (default: uno; m4 and host report only the whole inference)")
    s.add_argument("--plot", help="also write a bar chart of cycles per layer to this image file (e.g. profile.png)")
    s.set_defaults(func=_profile)

    d = sub.add_parser("demo", help="the one-command demo: train a short LeNet-5, compress it (Ultra and Tiny), "
                       "build it for the simulated Uno, stream test images through it, print the table and plot; "
                       "then the sparse LeNet-5 and the Uno-scaled edge_nano (committed artifacts) on the "
                       "simulated Uno beside them")
    d.add_argument("--out", default="out", help="output folder (default: out)")
    d.add_argument("--epochs", type=int, default=3, help="baseline training epochs (default: 3)")
    d.add_argument("--qat-epochs", type=int, default=3, help="quantization-aware training epochs (default: 3)")
    d.add_argument("--recipe", nargs="+", choices=["ultra", "tiny"], default=["ultra", "tiny"],
                   help="seed recipes to run (default: both)")
    d.add_argument("--stream", type=int, default=100, help="test images streamed through the simulated Uno")
    d.add_argument("--systems-stream", type=int, default=20,
                   help="test images streamed through the sparse LeNet-5 and the edge_nano (default: 20; 0 skips them)")
    d.add_argument("--no-sim", action="store_true", help="skip the simulated Uno (no PlatformIO build)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_demo)

    s = sub.add_parser("search", help="search per-layer pruning and bit widths of LeNet-5 under a budget "
                       "(Optuna, optionally on Ray) and report the accuracy/size frontier",
                       description="Multi-objective search (validation accuracy vs model bytes, optionally arena "
                       "or simulated-Uno cycles) stored in an Optuna study: run the same command again to resume "
                       "after an interruption. Every finished trial is logged to MLflow.")
    s.add_argument("--weights", help="trained LeNet-5 baseline weights (a state_dict .pt); trained first if omitted")
    s.add_argument("--epochs", type=int, default=10, help="baseline epochs when --weights is not given")
    s.add_argument("--max-model-bytes", type=int, help="budget on model bytes (weights + biases + constants)")
    s.add_argument("--board", help="budget from a board's flash and SRAM (uno, nano, mega, m4, esp32)")
    s.add_argument("--trials", type=int, default=48, help="finished trials in the study (default: 48)")
    s.add_argument("--sampler", choices=["nsga2", "tpe"], default="nsga2", help="Optuna sampler (default: nsga2)")
    s.add_argument("--objective", action="append", choices=["arena", "cycles"], default=[],
                   help="an extra objective to minimize (repeatable): the arena, or exact simulated-Uno cycles")
    s.add_argument("--population", type=int, default=12, help="NSGA-II population size (default: 12)")
    s.add_argument("--final-epochs", type=int, default=8, help="training epochs of each finalist")
    s.add_argument("--finalists", type=int, default=3)
    s.add_argument("--quick-batches", type=int, default=100, help="training batches of each trial's quick score")
    s.add_argument("--storage", help="Optuna storage: an SQLite file or an RDB URL (default: OUT/study.db)")
    s.add_argument("--study-name", default="lenet5-search", help="study name in the storage (default: lenet5-search)")
    s.add_argument("--minutes", type=float, help="wall-clock budget of the trials in this run: no trial starts after "
                   "it (running ones and the finalists complete)")
    s.add_argument("--no-sparse", action="store_true",
                   help="leave unstructured sparsity (zeroed weights, dCSR storage) out of the search space")
    s.add_argument("--workers", type=int, default=1,
                   help="trials run at once; more than 1 runs them as Ray tasks on a local Ray (default: 1, in process)")
    s.add_argument("--ray-address", help="run trials on an existing Ray cluster: auto or HOST:PORT")
    s.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs each Ray trial reserves (default: 1)")
    s.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs each Ray trial reserves (default: 0)")
    s.add_argument("--mlflow-uri", default="mlruns", help="MLflow tracking folder or server URL (default: ./mlruns)")
    s.add_argument("--no-mlflow", action="store_true", help="do not log trials to MLflow")
    s.add_argument("--report", action="store_true",
                   help="do not search: render the stored study's frontier table and accuracy-vs-bytes plot into OUT")
    s.add_argument("--compare", help="with --report: an earlier frontier JSON (search_frontier.json) to plot beside")
    s.add_argument("--out", default="out/search", help="output folder (default: out/search)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_search)

    s = sub.add_parser("train", help="train an architecture on a data set; checkpoints (best on validation and "
                       "last, resumable) go to OUTPUT_DIR/checkpoints/ARCH_DATASET_{best,last}.pt")
    s.add_argument("--arch", help="override: architecture name (lenet5, resnet8, ds_cnn, mobilenet_v2, ...)")
    s.add_argument("--epochs", type=int, help="override: epochs (with --resume: epochs to train on top)")
    s.add_argument("--lr", type=float, help="override: learning rate")
    s.add_argument("--seed", type=int, help="override: seed")
    _config_args(s)
    s.add_argument("--output-dir", default="outputs", help="output folder (default: outputs)")
    s.add_argument("--resume", metavar="CHECKPOINT", help="continue from a *_last.pt checkpoint")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_train)

    s = sub.add_parser("test", help="top-1 of a checkpoint on the test split (architecture and dataset read from "
                       "the checkpoint; a statically quantized one also as the deployed integer model)")
    s.add_argument("--checkpoint", required=True, help="a checkpoint written by dmc train / prune / quantize")
    s.add_argument("--split", choices=["test", "val", "train"], default="test", help="split (default: test)")
    _config_args(s, model=False)
    s.set_defaults(func=_test)

    s = sub.add_parser("benchmark", help="params, MACs, host latency, checkpoint size; for a deployable model the "
                       ".dmc bytes, arena and simulated cycles")
    s.add_argument("--checkpoint", help="a checkpoint")
    s.add_argument("--arch", help="an architecture, untrained (with --input-shape and --classes)")
    s.add_argument("--input-shape", type=int, nargs=3, default=[1, 28, 28], metavar=("C", "H", "W"),
                   help="input shape for --arch (default: 1 28 28)")
    s.add_argument("--classes", type=int, default=10, help="classes for --arch (default: 10)")
    s.add_argument("--runs", type=int, default=50, help="timed host runs; the median is reported (default: 50)")
    s.add_argument("--sim", choices=["uno", "m4", "auto"], help="build the deployable model and measure it on the "
                   "simulated Uno (exact cycles) or the QEMU Cortex-M4 (instructions); auto: the Uno if it fits")
    s.add_argument("--dmc", metavar="PATH", help="also keep the deployable .dmc model here")
    s.add_argument("--out", default="outputs/benchmarks",
                   help="folder of the figures file (default: outputs/benchmarks)")
    s.set_defaults(func=_benchmark)

    s = sub.add_parser("compare", help="benchmark figures + test top-1 of several models side by side (text, "
                       "markdown, CSV and a plot of accuracy vs model bytes)")
    s.add_argument("--checkpoints", nargs="+", metavar="CKPT", help="checkpoints to compare")
    s.add_argument("--models", help="comma-separated architecture names to add untrained (figures only)")
    _config_args(s, model=False)
    s.add_argument("--runs", type=int, default=50, help="timed host runs per model (default: 50)")
    s.add_argument("--sim", choices=["uno", "m4", "auto"], help="measure deployable models on a simulated board "
                   "(auto: the Uno for models that fit it, the QEMU Cortex-M4 for the rest)")
    s.add_argument("--stream", type=int, default=5,
                   help="test images streamed through the simulated board (default: 5)")
    s.add_argument("--limit", type=int, help="test on the first N test images only")
    s.add_argument("--out", default="outputs/benchmarks", help="output folder (default: outputs/benchmarks)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_compare)

    s = sub.add_parser("prune", help="prune a checkpoint (structured channels or unstructured weights), optionally "
                       "fine-tuned, saved as a checkpoint of the same format")
    s.add_argument("--input-model", required=True, help="checkpoint to prune")
    s.add_argument("--output-model", required=True, help="where to write the pruned checkpoint")
    s.add_argument("--pruning-type", choices=["structured", "unstructured"], default="unstructured",
                   help="structured (output channels, L2) or unstructured (weights, global L1); default unstructured")
    s.add_argument("--pruning-ratio", type=float, default=0.3, help="fraction pruned (default: 0.3)")
    s.add_argument("--finetune-epochs", type=int, default=0, help="fine-tune with the masks in place (default: 0)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_prune)

    s = sub.add_parser("quantize", help="quantize a checkpoint: dynamic (weights only) or static (integer-only, "
                       "calibrated; deployable as .dmc), optionally with quantization-aware training")
    s.add_argument("--input-model", required=True, help="checkpoint to quantize")
    s.add_argument("--output-model", required=True, help="where to write the quantized checkpoint")
    s.add_argument("--quantization-type", choices=["dynamic", "static"], default="static",
                   help="dynamic or static (default: static)")
    s.add_argument("--bits", type=int, choices=[8, 4, 2], default=8, help="weight bits (default: 8)")
    s.add_argument("--granularity", choices=["per_channel", "per_tensor"], default="per_channel",
                   help="weight scales per output channel or per tensor (default: per_channel)")
    s.add_argument("--activation-bits", type=int, choices=[8, 4], default=8,
                   help="static: activation bits (default: 8)")
    s.add_argument("--calibration-data", metavar="FOLDER", help="static: a folder of images for the activation "
                   "ranges (default: the checkpoint's training split)")
    s.add_argument("--calibration-count", type=int, default=512, help="calibration images used (default: 512)")
    s.add_argument("--qat-epochs", type=int, default=0, help="quantization-aware training epochs (default: 0)")
    s.add_argument("--teacher", metavar="CHECKPOINT", help="QAT distills from this trained checkpoint (default: the "
                   "input model's own float weights)")
    s.add_argument("--compression-config", metavar="YAML", help="a whole compression config (prune_channel + "
                   "quantize sections, per-layer bit widths) instead of the options above")
    s.add_argument("--dmc", metavar="PATH", help="static: also write the deployable .dmc model")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_quantize)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DMCError as e:
        print(f"dmc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:          # unreadable inputs, unwritable output folders
        print(f"dmc {args.command}: error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
