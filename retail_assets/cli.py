"""``retail-assets`` command line: a thin dispatcher.

Each domain registers its own sub-commands (``register(subparsers)``) so that this file never
grows with domain logic, and heavy imports stay inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> has a ``register(subparsers)`` function
COMMAND_MODULES = (
    "retail_assets.streaming.cli",
    "retail_assets.demo",
    "retail_assets.lake.ledger_cli",
    "retail_assets.dataset_calendar.cli",
    "retail_assets.reporting.realism_cli",
    "retail_assets.backfill.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retail-assets",
        description="The synthetic retail lakehouse: demo, streaming outbox and generation ledger.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line message for known, user-fixable failures
        if getattr(exc, "user_facing", False) or (
            type(exc).__name__.endswith("Error") and "retail_assets" in type(exc).__module__
        ):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
