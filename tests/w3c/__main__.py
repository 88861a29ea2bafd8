"""``python -m tests.w3c``: run the W3C SPARQL suites and print the results table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .manifest import default_suite_dir, load_tests
from .report import Report, load_expected
from .runner import FAIL, Runner

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(directory: Path | None = None, area: str | None = None) -> Report:
    """Run every test (or one area's) and classify the outcomes."""
    directory = directory or default_suite_dir(REPO_ROOT)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"W3C test data not found at {directory} (set KGRAPH_W3C_DIR)")
    tests = load_tests(directory)
    if area:
        tests = [t for t in tests if t.area == area or t.area.startswith(area + "/")]
    with Runner(directory) as runner:
        outcomes = runner.run_all(tests)
    return Report(outcomes, load_expected(), partial=bool(area))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.w3c", description=__doc__)
    parser.add_argument("--dir", type=Path, help="suite folder (default: ../shared/w3c-sparql11)")
    parser.add_argument("--area", help="only this area, e.g. sparql11/functions or sparql10")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show every expected failure's details")
    parser.add_argument("--show-all", action="store_true", help="print every failure's details")
    parser.add_argument("--write-docs", nargs="?", const=REPO_ROOT / "docs" / "conformance.md",
                        type=Path, metavar="PATH", help="write the Markdown report")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = run(args.dir, args.area)
    print(report.text(verbose=args.verbose))
    if args.show_all:
        for o in report.outcomes:
            if o.status == FAIL:
                print(f"\n{o.test.iri}\n    " + o.detail.replace("\n", "\n    "))
    print(f"\n{len(report.outcomes)} tests in {time.perf_counter() - start:.1f} s")
    if args.write_docs:
        if args.area:
            parser.error("--write-docs needs the whole suite (no --area)")
        args.write_docs.write_text(report.markdown(), encoding="utf-8")
        print(f"wrote {args.write_docs}")
    return 1 if report.unexpected() or report.stale_entries() else 0


if __name__ == "__main__":
    sys.exit(main())
