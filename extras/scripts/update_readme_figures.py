"""Copy the latest result tables into README.md, between their markers:

    <!-- figures:lenet5 --> ... <!-- /figures:lenet5 -->   extras/experiments/lenet5/results/lenet5_table.md
    <!-- figures:uno --> ... <!-- /figures:uno -->         extras/benchmarks/results/uno.md
    <!-- figures:uno_layers --> ... <!-- /figures:uno_layers -->  extras/benchmarks/results/uno_layers.md
    <!-- figures:m4 --> ... <!-- /figures:m4 -->           extras/benchmarks/results/m4.md
    <!-- figures:search --> ... <!-- /figures:search -->   extras/experiments/lenet5/results/search/search_frontier.md
    <!-- figures:sparse_lenet5 --> ... <!-- /figures:sparse_lenet5 -->
                                  extras/experiments/sparse_lenet5/results/sparse_lenet5_table.md
    <!-- figures:sparse_kernels --> ... <!-- /figures:sparse_kernels -->
                                  extras/benchmarks/results/sparse_kernels.md
    <!-- figures:fashion --> ... <!-- /figures:fashion -->
                                  extras/experiments/fashion_backbones/results/fashion_backbones.md
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"lenet5": "extras/experiments/lenet5/results/lenet5_table.md",
           "uno": "extras/benchmarks/results/uno.md",
           "uno_layers": "extras/benchmarks/results/uno_layers.md",
           "m4": "extras/benchmarks/results/m4.md",
           "search": "extras/experiments/lenet5/results/search/search_frontier.md",
           "sparse_lenet5": "extras/experiments/sparse_lenet5/results/sparse_lenet5_table.md",
           "sparse_kernels": "extras/benchmarks/results/sparse_kernels.md",
           "fashion": "extras/experiments/fashion_backbones/results/fashion_backbones.md"}


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for key, rel in SOURCES.items():
        src = ROOT / rel
        if not src.exists():
            print(f"skip {key}: {rel} does not exist")
            continue
        pattern = re.compile(rf"(<!-- figures:{key} -->\n).*?(<!-- /figures:{key} -->)", re.S)
        if not pattern.search(text):
            print(f"skip {key}: no markers in README.md")
            continue
        text = pattern.sub(lambda m: m.group(1) + src.read_text().rstrip() + "\n" + m.group(2), text)
        print(f"updated {key} from {rel}")
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
