"""Benchmark procedural task generation (draw + build + validate) per family, and size episodes.

    OMP_NUM_THREADS=1 python tools/bench_families.py            # 400 instances per family
    OMP_NUM_THREADS=1 python tools/bench_families.py --quick    # CI: 40 per family
    python tools/bench_families.py --tokenizer runs/tiny/tokenizer.json   # also count tokens

Rows per family, side by side in one run (best of ``--repeats``):
- draw: the family generator alone (random names and contents, the expert's calls);
- task: draw + ``Task(...)`` (pydantic, and the checks collected by the mock runner);
- full: ``build_task`` as ``generate_tasks`` runs it: draw + Task + ``validate_task`` (the
  expert stepped through a real sandbox, the checks run before and after).
Target: full >= 200 instances/s on one core. Then episode sizes: expert steps, and the
characters of the conversation the model sees before its last call (task prompt + every
earlier call in react format + its observation; the system prompt is printed once apart) and,
with ``--tokenizer``, the tokens of the whole prompt (system prompt included) before that call.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_rl.formats import render_call
from agent_rl.prompts import build_messages, system_prompt
from agent_rl.sandbox import TOOLS
from agent_rl.tasks import FAMILIES, Task, make_sandbox
from agent_rl.tasks._pools import POOLS, Gen
from agent_rl.tasks.families import build_task


def _best(fn: Callable[[int], object], repeats: int) -> float:
    """The best time of ``fn(seed)`` over ``repeats`` seeds (fresh instances each time, so the
    mock runner's parse cache never sees the same checks twice)."""
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - start)
    return min(times)


def _draw(family: str, n: int, seed: int) -> list:
    make = FAMILIES[family]
    return [
        make(Gen(random.Random(f"{family}|train|{seed}|{k}"), POOLS["train"])) for k in range(n)
    ]


def _tasks(family: str, n: int, seed: int) -> list[Task]:
    return [
        Task(
            id=f"bench/{k}",
            prompt=d.prompt,
            files=d.files,
            split="train",
            expert=d.expert,
            checks=d.checks,
        )
        for k, d in enumerate(_draw(family, n, seed))
    ]


def _before_last_call(task: Task) -> list[dict[str, str]]:
    box = make_sandbox(task)
    history = [(render_call(c, "react"), box.step(c).content) for c in task.expert[:-1]]
    return build_messages(task.prompt, history, TOOLS)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="40 instances per family")
    p.add_argument("--n", type=int, help="instances per family (default 400, quick 40)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tokenizer", help="a tokenizer.json (tokenizers) to count prompt tokens with")
    args = p.parse_args()
    n = args.n or (40 if args.quick else 400)
    print(
        f"python {sys.version.split()[0]}, {n} train instances per family, best of {args.repeats}"
    )
    print(f"{'family':<18} {'draw/s':>8} {'task/s':>8} {'full/s':>8} {'full/draw':>9}  target ok")
    total_time = 0.0
    for family in FAMILIES:
        t_draw = _best(lambda s, f=family: _draw(f, n, s), args.repeats)
        t_task = _best(lambda s, f=family: _tasks(f, n, 100 + s), args.repeats)
        t_full = _best(
            lambda s, f=family: [build_task(f, "train", 200 + s, k) for k in range(n)],
            args.repeats,
        )
        total_time += t_full
        ok = "yes" if n / t_full >= 200 else "NO"
        print(
            f"{family:<18} {n / t_draw:>8,.0f} {n / t_task:>8,.0f} {n / t_full:>8,.0f} "
            f"{t_full / t_draw:>8.1f}x  >= 200/s {ok}"
        )
    all_rate = n * len(FAMILIES) / total_time
    print(f"{'all (mixed)':<18} {'':>8} {'':>8} {all_rate:>8,.0f}")

    count: Callable[[str], int] | None = None
    if args.tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(args.tokenizer)
        count = lambda text: len(tok.encode(text).ids)  # noqa: E731
    system = system_prompt(TOOLS, "react")
    print(f"\nsystem prompt (react): {len(system):,} chars", end="")
    print(f", {count(system):,} tokens" if count else "")
    head = (
        f"{'family':<18} {'steps':>6} {'chars before last call: median':>31} {'p90':>6} {'max':>6}"
    )
    print(head + ("  tokens: median    max" if count else ""))
    for family in FAMILIES:
        tasks = [build_task(family, "train", 0, k) for k in range(n)]
        steps = sorted(len(t.expert) for t in tasks)
        convs = [_before_last_call(t) for t in tasks]
        chars = sorted(sum(len(m["content"]) for m in c[1:]) for c in convs)
        line = (
            f"{family:<18} {f'{steps[0]}-{steps[-1]}':>6} {statistics.median(chars):>31,.0f} "
            f"{chars[int(0.9 * len(chars))]:>6,} {chars[-1]:>6,}"
        )
        if count:
            tokens = sorted(count("\n".join(m["content"] for m in c)) for c in convs)
            line += f"  {statistics.median(tokens):>14,.0f} {tokens[-1]:>6,}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
