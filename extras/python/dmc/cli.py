"""The ``dmc`` command line."""
from __future__ import annotations

import argparse
import sys

from .errors import DMCError


def _summary(args):
    from .artifact import load
    load(args.model).summary()


def _demo(args):
    from .demo import run
    run(args.out, epochs=args.epochs, qat_epochs=args.qat_epochs, recipes=args.recipe, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dmc", description="Deep MicroCompression: compress PyTorch models "
                                "and deploy them as integer-only C++ on microcontrollers.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print the per-layer table of a .dmc model")
    s.add_argument("model", help="path to a .dmc file")
    s.set_defaults(func=_summary)
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
        args.func(args)
    except DMCError as e:
        print(f"dmc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
