"""``python -m retail_assets_tests.golden --write``: record the golden digests of the current MODEL_VERSION."""

from __future__ import annotations

import argparse
import sys

from retail_assets_tests.golden import GoldenExistsError, write_golden


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retail_assets_tests.golden", description=__doc__)
    parser.add_argument("--write", action="store_true", help="write <MODEL_VERSION>.json (never overwrites)")
    args = parser.parse_args(argv)
    if not args.write:
        parser.print_help()
        return 2
    try:
        path = write_golden()
    except GoldenExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
