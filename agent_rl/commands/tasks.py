"""``agent-rl tasks``: generate procedural task instances to a JSONL file, or summarise one.

    agent-rl tasks generate --split train --n 2000 --seed 0 --out runs/train_tasks.jsonl
    agent-rl tasks generate --split test --n 300 --out runs/test_tasks.jsonl \\
        --families write_exact,edit_line
    agent-rl tasks show runs/train_tasks.jsonl      # count, steps and tools per family

Instances come from ``agent_rl.tasks.generate_tasks`` (validated, deterministic for the same
arguments); the file holds one ``Task`` JSON object per line (``load_task_file`` reads it).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tasks",
        help="generate procedural task instances (JSONL), or summarise a task file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    g = actions.add_parser("generate", help="write N validated instances as JSONL")
    g.add_argument("--split", choices=("train", "val", "test"), required=True)
    g.add_argument("--n", type=int, required=True, help="how many instances")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, metavar="FILE", help="the JSONL file to write")
    g.add_argument("--families", help="comma-separated family names (default: all, in turn)")
    s = actions.add_parser("show", help="count, steps and tools per family of a task file")
    s.add_argument("file", metavar="FILE", help="a JSONL task file")


def _family(task_id: str) -> str:
    parts = task_id.split("/")
    return parts[1] if parts[0] == "fam" and len(parts) > 2 else parts[0]


def _show(path: str) -> int:
    from agent_rl.tasks import load_task_file

    tasks = load_task_file(path)
    steps: dict[str, list[int]] = defaultdict(list)
    tools: dict[str, Counter[str]] = defaultdict(Counter)
    for t in tasks:
        fam = _family(t.id)
        steps[fam].append(len(t.expert))
        tools[fam].update(c.name for c in t.expert)
    splits = Counter(t.split for t in tasks)
    print(
        f"{path}: {len(tasks)} tasks ({', '.join(f'{s} {n}' for s, n in sorted(splits.items()))})"
    )
    print(f"{'family':<20} {'count':>6} {'steps':>7} {'mean':>5}  tools")
    for fam in sorted(steps):
        s = steps[fam]
        used = ", ".join(f"{name}:{n}" for name, n in sorted(tools[fam].items()))
        print(f"{fam:<20} {len(s):>6} {f'{min(s)}-{max(s)}':>7} {sum(s) / len(s):>5.1f}  {used}")
    return 0


def run(args: argparse.Namespace) -> int:
    from agent_rl.errors import ConfigError
    from agent_rl.tasks import generate_tasks, save_task_file

    if args.action == "show":
        return _show(args.file)
    if args.n < 0:
        raise ConfigError(f"--n must be >= 0, not {args.n}")
    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    start = time.perf_counter()
    tasks = generate_tasks(args.split, args.n, seed=args.seed, families=families)
    took = time.perf_counter() - start
    try:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        n = save_task_file(tasks, args.out)
    except OSError as exc:
        raise ConfigError(f"cannot write {args.out}: {exc}") from exc
    rate = f" ({n / took:,.0f}/s)" if took > 0 and n else ""
    print(f"wrote {n} {args.split} tasks to {args.out} in {took:.2f}s{rate}")
    return 0
