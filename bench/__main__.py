"""`python -m bench [NAME...] [--quick] [--check] [--json]`: run benchmarks, print one table."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from ._harness import RESULTS, format_table, write_result


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def _compile_sources() -> None:
    """Byte-compile the project's changed sources first, as scripts/setup.sh does: where
    PYTHONDONTWRITEBYTECODE is set, an edited module would otherwise be compiled at every
    start of every process measured (the kernel's start-up, each sandbox worker)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in ("neuro", "kernel", "sandbox", "shell", "neuros", "dream", "policies", "bench", "nets"):
        if (root / folder).is_dir():
            compileall.compile_dir(str(root / folder), quiet=1, workers=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Neuro's benchmarks and print one table; each writes bench/results/NAME.json.",
        epilog="example: python -m bench kernel --quick",
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check, well under a minute in all")
    parser.add_argument("--check", action="store_true", help="run nothing; read the result files and exit 1 if any goal is missed")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; choose from {', '.join(available())}")

    if not args.check:
        _compile_sources()
        for name in names:
            t0 = time.perf_counter()
            print(f"[bench] {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr, flush=True)
            module = importlib.import_module(f"bench.{name}")
            report = module.run(quick=args.quick)
            path = write_result(name, args.quick, report)
            print(f"[bench] {name} done in {time.perf_counter() - t0:.1f}s -> {path}", file=sys.stderr, flush=True)

    rows, docs, missed = [], {}, []
    for name in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            if args.check:
                print(f"{name}: no result file; run `python -m bench {name}`", file=sys.stderr)
            continue
        doc = json.loads(path.read_text())
        docs[name] = doc
        for metric, m in doc["metrics"].items():
            rows.append((name + (" (quick)" if doc.get("quick") else ""), metric, m))
            if m.get("met") is False:
                missed.append(f"{name}.{metric}")
    if args.json:
        print(json.dumps(docs, indent=2))
    else:
        print(format_table(rows))
    if args.check and missed:
        print(f"\ngoals missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
