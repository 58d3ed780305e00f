"""``agent-rl serve MODEL``: a model behind an OpenAI-compatible endpoint, each request recorded.

    agent-rl serve runs/sft/final --port 8000 --store runs/served.jsonl
    python -c "import openai; print(openai.OpenAI(base_url='http://127.0.0.1:8000/v1', \\
        api_key='-').models.list())"

``MODEL`` is a saved model folder or hub name (served with transformers on CPU or GPU). Clients
send ``tools``: a call the model writes validly comes back as ``tool_calls``, anything else as
plain ``content``; each request is scored and appended to ``--store`` (one line per request,
grouped by conversation: ``agent_rl.runtime.conversations``). The work is done by
``agent_rl.runtime.create_serve_app``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_endpoint_flags", "add_parser", "add_serve_flags", "need_runtime", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="serve a model over the OpenAI chat-completions API, recording every request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_serve_flags(p)


def add_serve_flags(p: argparse.ArgumentParser) -> None:
    """The flags ``serve`` and ``online`` share."""
    p.add_argument("model", help="a saved model folder or hub name")
    add_endpoint_flags(
        p, port=8000, what="how the model writes a call (default: hermes, the Qwen2.5 template's)"
    )
    p.add_argument("--name", help="the model name clients ask for (default: MODEL)")
    p.add_argument("--max-tokens", type=int, default=256, help="default max_tokens per request")
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
    p.add_argument(
        "--no-template-tools",
        dest="template_tools",
        action="store_false",
        help="score and record against the request's tools but leave them out of the chat "
        "template (clients whose own prompt lists the tools, e.g. a ReAct agent)",
    )


def add_endpoint_flags(p: argparse.ArgumentParser, *, port: int, what: str) -> None:
    """``--host``, ``--port``, ``--store`` and ``--format``: what every runtime command takes."""
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=port, help=f"default: {port}")
    p.add_argument("--store", metavar="FILE.jsonl", help="record each request here")
    p.add_argument("--format", choices=("hermes", "json", "react"), default="hermes", help=what)


def need_runtime() -> None:
    """A ``ConfigError`` with the install line when the ``serve`` extra is missing."""
    from agent_rl.errors import ConfigError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"serving needs FastAPI and uvicorn ({e}). Install them: pip install 'agent-rl[serve]'"
        ) from None


def run(args: argparse.Namespace) -> int:
    need_runtime()
    from agent_rl.policies import HFPolicy
    from agent_rl.runtime import ServedPolicy, create_serve_app
    from agent_rl.runtime.server import run_foreground

    policy = HFPolicy(args.model, device=args.device, max_new_tokens=args.max_tokens)
    served = ServedPolicy(
        policy,
        name=args.name or args.model,
        max_tokens=args.max_tokens,
        template_tools=args.template_tools,
    )
    app = create_serve_app(served, store=args.store, format=args.format)
    print(
        f"serving {served.name!r} on http://{args.host}:{args.port}/v1"
        + (f", recording to {args.store}" if args.store else ""),
        flush=True,
    )
    run_foreground(app, args.host, args.port)
    return 0
