"""Entry point of ``python -m dmc``: the same command line as ``dmc``."""
import sys

from .cli import main

sys.exit(main())
