"""``python -m bench run|generate|reason ...`` (see ``bench/run.py`` and ``bench/generate.py``)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench run [options] | generate [options] | reason DATA ENGINE\n"
              "  run:      the whole benchmark (python -m bench run --help)\n"
              "  generate: the seeded data only (python -m bench generate --help)\n"
              "  reason:   one reasoning timing (used by run)")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from bench.run import main as run_main

        return run_main(rest)
    if cmd == "generate":
        from bench.generate import main as gen_main

        return gen_main(rest)
    if cmd == "engine-times":
        from bench.run import engine_times_main

        return engine_times_main(rest)
    if cmd == "reason":
        from bench.run import reason_main

        return reason_main(rest)
    print(f"unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
