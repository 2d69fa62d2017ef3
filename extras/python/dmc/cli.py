"""The ``dmc`` command line: summary, inspect, export, verify, demo."""
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
    from .deploy.budget import budget_text
    model = load(args.model)
    board = get_board(args.board) if args.board else None
    text, fits = budget_text(model, board)
    print(text, end="")
    if not fits:
        print(f"dmc inspect: error: {args.model} does not fit {board.name}", file=sys.stderr)
        return 1
    return 0


def _export(args):
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
        raise DMCError("choose exactly one target: --host, --port PORT or --sim {uno,m4,host}")
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
                transport = SerialTransport(args.port, args.baud)
            session = DeviceSession(model, transport)
            try:
                print(f"device: '{session.info.name}', {session.info.arena_bytes} B arena, "
                      f"{session.info.model_bytes} model bytes, {session.info.cpu_hz / 1e6:g} MHz")
                report = verify_device(model, session, codes, labels, progress=not args.quiet)
            finally:
                session.close()
    print(report.text())
    return 0 if not report.mismatches else 1


def experiment(name: str):
    """Import the study ``extras/experiments/<name>/study.py`` of a repository checkout. Studies are
    not part of the installed package: they live with the repository, next to their results."""
    import importlib.util
    from pathlib import Path
    here = Path(__file__).resolve()
    for root in (here.parents[2] / "experiments", Path.cwd() / "extras" / "experiments"):
        path = root / name / "study.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"dmc_study_{name}", path)
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
    ultra = Candidate({"conv2d_0": (0.0, 4, "per_channel", 8), "conv2d_1": (0.5625, 4, "per_tensor", 8),
                       "linear_0": (0.75, 4, "per_tensor", 8), "linear_1": (0.0, 4, "per_tensor", 8)}, 4)
    final = search(model, train, val, (1, 1, 28, 28), max_model_bytes=args.max_model_bytes, board=args.board,
                   trials=args.trials, sampler=args.sampler, objectives=args.objective, population=args.population,
                   storage=args.storage or str(Path(args.out) / "study.db"), study_name=args.study_name,
                   workers=args.workers, ray_address=args.ray_address, cpus_per_trial=args.cpus_per_trial,
                   gpus_per_trial=args.gpus_per_trial, mlflow_uri=None if args.no_mlflow else args.mlflow_uri,
                   out_dir=args.out, final_epochs=args.final_epochs, finalists=args.finalists,
                   quick_batches=args.quick_batches, seeds=[ultra], augment=random_shift(1, 25),
                   progress=not args.quiet)
    write_search(final, test, args.out)
    return 0 if final else 1


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

    s = sub.add_parser("export", help="generate NAME.h / NAME.cpp for the C++ runtime")
    s.add_argument("model", help="path to a .dmc file")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--name", default="model", help="C++ name of the model (default: model)")
    s.set_defaults(func=_export)

    s = sub.add_parser("verify", help="run the generated C++ on a data set and compare every output bit-exactly "
                       "with the integer interpreter")
    s.add_argument("model", help="path to a .dmc file")
    s.add_argument("--data", required=True, help="npz with 'x' (float inputs or integer codes) and optional 'y'")
    s.add_argument("--host", action="store_true", help="build with the host C++ compiler and run locally")
    s.add_argument("--port", help="a board running the serial runner (e.g. the MnistLeNet5 example), e.g. /dev/ttyACM0")
    s.add_argument("--baud", type=int, default=115200, help="baud rate for --port (default: 115200)")
    s.add_argument("--sim", choices=["uno", "m4", "host"],
                   help="build the serial runner with PlatformIO and run it on a simulated board")
    s.add_argument("--limit", type=int, help="use only the first N samples")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_verify)

    d = sub.add_parser("demo", help="the one-command demo: train a short LeNet-5, compress it (Ultra and Tiny), "
                       "build it for the simulated Uno, stream test images through it, print the table and plot")
    d.add_argument("--out", default="out", help="output folder (default: out)")
    d.add_argument("--epochs", type=int, default=3, help="baseline training epochs (default: 3)")
    d.add_argument("--qat-epochs", type=int, default=3, help="quantization-aware training epochs (default: 3)")
    d.add_argument("--recipe", nargs="+", choices=["ultra", "tiny"], default=["ultra", "tiny"],
                   help="seed recipes to run (default: both)")
    d.add_argument("--stream", type=int, default=100, help="test images streamed through the simulated Uno")
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
