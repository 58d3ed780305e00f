"""``agent-rl proxy --upstream URL``: capture any agent's OpenAI traffic, changing nothing.

    agent-rl proxy --upstream http://localhost:8000/v1 --port 8001 --store runs/captured.jsonl
    OPENAI_BASE_URL=http://127.0.0.1:8001/v1 python my_agent.py     # the agent, unchanged

Requests are forwarded to the upstream as sent and the client gets the upstream's bytes back
(streams relayed as they arrive); each call's raw output — provider tool-call argument strings
verbatim — is scored against the request's ``tools`` and appended to ``--store``. The work is done
by ``agent_rl.runtime.create_proxy_app``.
"""

from __future__ import annotations

import argparse

from agent_rl.commands.serve import add_endpoint_flags, need_runtime

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "proxy",
        help="forward OpenAI-compatible traffic to an upstream and record every call",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--upstream", required=True, help="the upstream API root, e.g. http://h:8000/v1")
    add_endpoint_flags(p, port=8001, what="the format tool calls are rendered in for scoring")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per upstream call")


def run(args: argparse.Namespace) -> int:
    need_runtime()
    from agent_rl.policies.openai import chat_completions_url
    from agent_rl.runtime import create_proxy_app
    from agent_rl.runtime.server import run_foreground

    chat_completions_url(args.upstream)  # a bad URL is a ConfigError before anything starts
    app = create_proxy_app(
        args.upstream, store=args.store, format=args.format, timeout=args.timeout
    )
    print(
        f"proxy on http://{args.host}:{args.port}/v1 -> {args.upstream}"
        + (f", recording to {args.store}" if args.store else ""),
        flush=True,
    )
    run_foreground(app, args.host, args.port)
    return 0
