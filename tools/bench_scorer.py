"""Benchmark the Scorer against a bare ``json.loads`` of the same texts, side by side in one run.

    python tools/bench_scorer.py            # full run (~15 s)
    python tools/bench_scorer.py --quick    # CI (~2 s)
    python tools/bench_scorer.py --check    # exit 1 if a target is missed
    python tools/bench_scorer.py --profile  # where the time goes (pyinstrument)

Texts: a seeded, realistic mix of valid calls to the sandbox tools, 100-400 bytes each, with
quotes, backslashes, newlines, tabs and non-ASCII in the strings (the escaping that breaks JSON
in practice), and invalid calls made from them (cut, a trailing comma, a wrong type, a missing
argument, a missing file). Every case times one pass over its texts; the cases and their
baselines take turns, and the fastest of all turns counts (load on a shared machine only ever
adds time). The baseline of a case is ``json.loads`` of the same calls' JSON texts (for the
react and hermes rows, the JSON inside the envelope; for parse-invalid rows, ``json.loads``
raising on the same broken text, and a footnote gives the ratio to the valid originals).

Targets (issues 2 and 4): a valid call at <= 2.5x json.loads and >= 100,000 calls/s on one
core; invalid calls within 10x. Set ``OMP_NUM_THREADS=1`` and keep the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_rl.formats import FORMATS, render_call
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.verdicts import ToolCall

VALID_MAX_RATIO = 2.5
VALID_MIN_RATE = 100_000
INVALID_MAX_RATIO = 10.0

_WORDS = ["config", "parser", "value", "retry", "limit", "user", "token", "cache", "index"]
_OPTIONAL_ONLY = ("list_dir", "run_tests")  # tools without a required argument
SIZE_RANGE = (100, 400)  # bytes of a call's JSON text
QUICK, FULL = (200, 40), (400, 200)  # (texts, interleaved passes)
_SNIPPETS = [
    'DEBUG = False\nLOG_LEVEL = "info"\n',
    "def add(a, b):\n\treturn a + b\n",
    'path = "C:\\\\Users\\\\dev\\\\app.ini"\n',
    'msg = f"{name!r} isn\'t valid"  # café\n',
    'assert parse("[1, 2]") == [1, 2]\n',
    "pattern = r'\\d+\\.\\d+'\n",
    "  return {'ok': True, \"n\": 1}\n",
]


def _path(rng: random.Random) -> str:
    folder = rng.choice(["src/agent_app", "src/agent_app/core", "tests/unit", "lib/utils"])
    return f"{folder}/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}.py"


def _text(rng: random.Random, lo: int, hi: int) -> str:
    size = rng.randint(lo, hi)
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(_SNIPPETS))
    return "".join(parts)[:size]


def make_calls(n: int, seed: int = 0) -> list[ToolCall]:
    """``n`` valid calls to the sandbox tools, mixed like a real episode, each of
    ``SIZE_RANGE`` bytes as JSON."""
    rng = random.Random(seed)
    makers: list[Callable[[], ToolCall]] = [
        lambda: ToolCall("read_file", {"path": _path(rng), "start_line": 3, "end_line": 40}),
        lambda: ToolCall("write_file", {"path": _path(rng), "content": _text(rng, 60, 300)}),
        lambda: ToolCall(
            "edit_file",
            {"path": _path(rng), "old": _text(rng, 20, 120), "new": "# é\t" + _text(rng, 20, 160)},
        ),
        lambda: ToolCall(
            "search", {"query": rng.choice(_WORDS) + "(", "path": _path(rng), "max_results": 10}
        ),
        lambda: ToolCall("run_tests", {"path": _path(rng).replace("src", "tests", 1)}),
        lambda: ToolCall(
            "finish", {"summary": f'Fixed the "off-by-one" in {_path(rng)}: {_text(rng, 20, 80)}'}
        ),
    ]
    weights = [3, 2, 3, 1, 1, 1]
    calls: list[ToolCall] = []
    while len(calls) < n:
        call = rng.choices(makers, weights)[0]()
        if SIZE_RANGE[0] <= len(render_call(call, "json").encode()) <= SIZE_RANGE[1]:
            calls.append(call)
    return calls


def interleaved_best(passes: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Seconds of the fastest run of each pass, the passes taking turns ``repeats`` times so
    that load on a shared machine hits every case alike (noise only ever adds time)."""
    best = dict.fromkeys(passes, float("inf"))
    for _ in range(repeats):
        for name, run_pass in passes.items():
            t0 = time.perf_counter()
            run_pass()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


@dataclass
class Case:
    name: str
    run: Callable[[], None]  # one pass of Scorer.score over the texts
    baseline: Callable[[], None]  # one pass of json.loads over the same calls' JSON texts
    baseline_key: str  # cases over the same JSON texts share one baseline pass
    count: int
    max_ratio: float
    min_rate: float = 0.0


@dataclass
class Row:
    case: Case
    seconds: float
    baseline_seconds: float

    @property
    def rate(self) -> float:
        return self.case.count / self.seconds

    @property
    def ratio(self) -> float:
        return self.seconds / self.baseline_seconds

    @property
    def ok(self) -> bool:
        return self.ratio <= self.case.max_ratio and self.rate >= self.case.min_rate


def _loads_all(texts: Sequence[str]) -> Callable[[], None]:
    loads = json.loads

    def run() -> None:
        for t in texts:
            try:  # noqa: SIM105 - contextlib.suppress would slow the baseline down
                loads(t)
            except ValueError:  # the invalid texts: json.loads pays for its exception too
                pass

    return run


def _score_all(scorer: Scorer, texts: Sequence[str], state: Any = None) -> Callable[[], None]:
    score = scorer.score

    def run() -> None:
        for t in texts:
            score(t, state)

    return run


def _invalid_sets(calls: Sequence[ToolCall]) -> dict[str, tuple[list[str], str]]:
    """name -> (invalid texts, expected kind), each made from one valid call."""
    bodies = [render_call(c, "json") for c in calls]
    wrong = [ToolCall(c.name, {**c.arguments, next(iter(c.arguments)): 12345}) for c in calls]
    missing = [
        ToolCall(c.name, dict(list(c.arguments.items())[1:]))  # the first is required
        for c in calls
        if c.name not in _OPTIONAL_ONLY
    ]
    return {
        "parse: truncated": ([b[: len(b) * 2 // 3] for b in bodies], "truncated"),
        "parse: trailing comma": ([b[:-2] + ",}}" for b in bodies], "trailing_comma"),
        "arguments: wrong type": ([render_call(c, "json") for c in wrong], "wrong_type"),
        "arguments: missing": ([render_call(c, "json") for c in missing], "missing_argument"),
    }


def _state_calls(calls: Sequence[ToolCall]) -> tuple[list[ToolCall], dict[str, str]]:
    """The read/edit calls (one per path) and a workspace in which each is valid."""
    chosen: dict[str, ToolCall] = {}
    for c in calls:
        if c.name in ("read_file", "edit_file"):
            chosen.setdefault(c.arguments["path"], c)
    files = {p: c.arguments.get("old", "line\n" * 50) for p, c in chosen.items()}
    return list(chosen.values()), files


def cases(n: int) -> list[Case]:
    """Every case, each checked to give the verdict it is named for."""
    calls = make_calls(n)
    tools = CodingSandbox({}).tools
    bodies = [render_call(c, "json") for c in calls]
    base = _loads_all(bodies)
    out: list[Case] = []
    for fmt in FORMATS:
        scorer = Scorer(tools, format=fmt)
        thought = None if fmt == "json" else "I need to change the config first."
        texts = [render_call(c, fmt, thought=thought) for c in calls]
        assert all(scorer.score(t).valid for t in texts), f"bench texts invalid in {fmt}"
        out.append(
            Case(f"valid, {fmt}", _score_all(scorer, texts), base, "valid calls", n,
                 VALID_MAX_RATIO, VALID_MIN_RATE)
        )  # fmt: skip

    scorer = Scorer(tools)
    state_calls, files = _state_calls(calls)
    texts = [render_call(c, "json") for c in state_calls]
    state_base = _loads_all(texts)
    for name, box, kind, limit in [
        ("valid in state (sandbox check)", CodingSandbox(files), None, VALID_MAX_RATIO * 2),
        ("invalid state: file not found", CodingSandbox({}), "file_not_found", INVALID_MAX_RATIO),
    ]:
        assert {scorer.score(t, box).kind for t in texts} == {kind}, name
        out.append(
            Case(name, _score_all(scorer, texts, box), state_base, "state calls", len(texts), limit)
        )
    for name, (texts, kind) in _invalid_sets(calls).items():
        kinds = {scorer.score(t).kind for t in texts}
        assert kinds == {kind}, f"{name}: expected {kind}, got {kinds}"
        out.append(
            Case(f"invalid {name}", _score_all(scorer, texts), _loads_all(texts), name,
                 len(texts), INVALID_MAX_RATIO)
        )  # fmt: skip
    return out


def run(quick: bool) -> list[Row]:
    n, repeats = QUICK if quick else FULL
    scored = cases(n)
    passes = {c.name: c.run for c in scored} | {f"json.loads: {c.baseline_key}": c.baseline
                                                for c in scored}  # fmt: skip
    best = interleaved_best(passes, repeats)
    return [Row(c, best[c.name], best[f"json.loads: {c.baseline_key}"]) for c in scored]


def table(rows: Sequence[Row]) -> str:
    head = f"{'case':32} {'calls/s':>9} {'us/call':>8} {'json.loads us':>13} {'ratio':>6}"
    lines = [f"{head} {'target':>20} ok", "-" * 95]
    for r in rows:
        c = r.case
        target = f"<= {c.max_ratio:g}x" + (f", >= {c.min_rate / 1000:g}k/s" if c.min_rate else "")
        lines.append(
            f"{c.name:32} {r.rate:9,.0f} {r.seconds / c.count * 1e6:8.2f} "
            f"{r.baseline_seconds / c.count * 1e6:13.2f} {r.ratio:5.2f}x {target:>20} "
            f"{'yes' if r.ok else 'NO'}"
        )
    return "\n".join(lines)


def profile() -> None:
    from pyinstrument import Profiler

    scorer = Scorer(CodingSandbox({}).tools)
    texts = [render_call(c, "json") for c in make_calls(400)]
    work = _score_all(scorer, texts)
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(300):
        work()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and repeats (CI)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--profile", action="store_true", help="profile valid scoring instead")
    args = parser.parse_args(argv)
    if args.profile:
        profile()
        return 0
    rows = run(args.quick)
    n, repeats = QUICK if args.quick else FULL
    sizes = [len(render_call(c, "json").encode()) for c in make_calls(n)]
    print(
        f"python {sys.version.split()[0]}, {n} calls of {min(sizes)}-{max(sizes)} bytes "
        f"(mean {sum(sizes) / n:.0f}), best of {repeats} interleaved passes"
    )
    print(table(rows))
    valid = next(r for r in rows if r.case.name == "valid, json")
    parse = [r for r in rows if r.case.name.startswith("invalid parse")]
    print(
        "parse-invalid rows against json.loads of the valid calls they were cut from: "
        + ", ".join(f"{r.case.name[15:]} {r.seconds / valid.baseline_seconds:.1f}x" for r in parse)
    )
    missed = [r.case.name for r in rows if not r.ok]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
