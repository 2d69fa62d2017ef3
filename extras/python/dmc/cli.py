"""The ``dmc`` command line: summary, inspect, export, verify, demo."""
from __future__ import annotations

import argparse
import sys

from .errors import DMCError


def _summary(args):
    from .artifact import load
    load(args.model).summary()
    return 0


def _inspect(args):
    from .artifact import load
    from .boards import get_board
    from .budget import budget_text
    model = load(args.model)
    board = get_board(args.board) if args.board else None
    text, fits = budget_text(model, board)
    print(text, end="")
    if not fits:
        print(f"dmc inspect: error: {args.model} does not fit {board.name}", file=sys.stderr)
        return 1
    return 0


def _export(args):
    from .artifact import load
    from .budget import budget
    from .cpp_codegen import codegen
    model = load(args.model)
    paths = codegen(model, args.out, args.name)
    b = budget(model)
    print(f"wrote {', '.join(map(str, paths))}: {b['model_bytes']} B of constants in flash, "
          f"{b['arena_bytes']} B arena, {b['macs']} MACs per inference")
    return 0


def _verify(args):
    from .artifact import load
    from .verify import load_npz, verify_device, verify_host
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

        from .device import DeviceSession, ProcessTransport, SerialTransport
        with tempfile.TemporaryDirectory(prefix="dmc-sim-") as tmp:
            if args.sim:
                from .firmware import build_sim_firmware
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


def _demo(args):
    from .demo import run
    run(args.out, epochs=args.epochs, qat_epochs=args.qat_epochs, recipes=args.recipe, progress=not args.quiet)
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

    d = sub.add_parser("demo", help="train, compress and convert LeNet-5 on MNIST (a few minutes on 2 cores)")
    d.add_argument("--out", default="out", help="output folder for the .dmc files (default: out)")
    d.add_argument("--epochs", type=int, default=3, help="baseline training epochs (default: 3)")
    d.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware training epochs (default: 2)")
    d.add_argument("--recipe", nargs="+", choices=["ultra", "tiny"], default=["ultra"],
                   help="seed recipes to run (default: ultra)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DMCError as e:
        print(f"dmc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
