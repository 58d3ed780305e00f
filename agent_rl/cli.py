"""The ``agent-rl`` command line: a thin dispatcher over ``agent_rl.commands``.

Each subcommand lives in its own module under ``agent_rl/commands/`` exposing
``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports (torch, trl) happen inside
``run`` so ``agent-rl --help`` and ``agent-rl score`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from agent_rl.errors import AgentRLError

__all__ = ["main"]

COMMANDS = (
    "record", "score", "sft", "train", "eval", "demo", "tasks", "serve", "proxy", "online",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-rl",
        description="Score, record and train LLM agents for completely valid tool calls.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"agent_rl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agent_rl.commands.{name}":
                raise
            continue  # a command not built yet
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "settings_argv", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # sft / train: the settings' own flags, parsed by trl's TrlParser
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(f"agent_rl.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except AgentRLError as exc:
        print(f"agent-rl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"agent-rl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
