"""`make bench`: run every benchmark and print one table per benchmark.

Each module in BENCHMARKS has `run(args) -> list[dict]` returning rows with at least
"benchmark", "measure", "value", "unit", "baseline" (what it is compared against, measured
in the same run where the issue asks for that) and "target". Modules are listed here
explicitly; add yours.
"""

import argparse
import importlib
import os
import sys
import time
import traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo_site.settings.base")

BENCHMARKS: list[str] = [
    "bench.catalog_pages",
    "bench.catalog_sync",
    "bench.stock_read",
    "bench.stock_throughput",
    "bench.imports",
    "bench.stock_screen",
    "bench.sales_post",
    "bench.ws_fanout",
    "bench.dashboard",
]


def print_table(rows: list[dict]) -> None:
    columns = ["benchmark", "measure", "value", "unit", "baseline", "target", "verdict"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("only", nargs="*", help="benchmark module names to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    args = parser.parse_args()
    selected = [name for name in BENCHMARKS if not args.only or name.split(".")[-1] in args.only]
    all_rows: list[dict] = []
    failed = False
    for name in selected:
        module = importlib.import_module(name)
        started = time.monotonic()
        print(f"\n### {name} ...", flush=True)
        try:
            rows = module.run(args)
        except Exception as error:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            rows = [
                {
                    "benchmark": name.split(".")[-1],
                    "measure": "run",
                    "value": "",
                    "verdict": f"ERROR: {type(error).__name__}: {error}"[:120],
                }
            ]
            failed = True
        print_table(rows)
        print(f"({time.monotonic() - started:.1f} s)", flush=True)
        all_rows += rows
    if all_rows:
        print("\n### Summary")
        print_table(all_rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
