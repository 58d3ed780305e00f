"""Argument validation on the valid path vs a bare json.loads of the same call text, side by side.

Run from the project root:  OMP_NUM_THREADS=1 python tools/bench_arguments.py [--quick]
Prints, per sandbox tool call: json.loads time, ToolSpec.validate_arguments time (valid args),
their ratio, and for reference fastjsonschema (draft-07, raises on invalid) and jsonschema.
Also an invalid call (3 errors) through the explain path.
"""

from __future__ import annotations

import json
import sys
import timeit

from jsonschema import Draft202012Validator

from agent_rl.sandbox._tools import TOOLS_BY_NAME

CALLS = [
    '{"name": "edit_file", "arguments": {"path": "src/calc.py", "old": "return a - b", '
    '"new": "return a + b"}}',
    '{"name": "read_file", "arguments": {"path": "src/app.py", "start_line": 10, "end_line": 40}}',
    '{"name": "search", "arguments": {"query": "def parse_config", "path": "src", '
    '"max_results": 20}}',
    '{"name": "write_file", "arguments": {"path": "notes/todo.md", "content": '
    '"- fix the \\"quoted\\" path\\n- add tests\\n"}}',
]
BAD = '{"name": "edit_file", "arguments": {"path": "src/calc.py", "old": "", "nw": "x"}}'


try:  # a reference point only; not a dependency of agent-rl
    import fastjsonschema
except ImportError:  # pragma: no cover
    fastjsonschema = None

SCALE = 10 if "--quick" in sys.argv else 1


def best(stmt: str, env: dict, n: int) -> float:
    n = max(n // SCALE, 100)
    return min(timeit.repeat(stmt, globals=env, number=n, repeat=9 // SCALE + 1)) / n * 1e6


def main() -> None:
    print(
        f"{'call':<11}{'bytes':>6}{'loads us':>10}{'validate us':>13}{'ratio':>7}"
        f"{'fastjsonschema':>16}{'jsonschema':>12}"
    )
    ratios = []
    for text in [*CALLS, BAD]:
        call = json.loads(text)
        spec, args = TOOLS_BY_NAME[call["name"]], call["arguments"]
        valid = text is not BAD
        assert (spec.validate_arguments(args) == []) is valid and spec.compiled
        env = {
            "loads": json.loads,
            "text": text,
            "args": args,
            "validate": spec.validate_arguments,
            "js": Draft202012Validator(spec.parameters),
            "fj": fastjsonschema.compile(spec.parameters) if fastjsonschema else None,
        }
        t_loads = best("loads(text)", env, 100_000)
        t_val = best("validate(args)", env, 100_000 if valid else 20_000)
        t_fj = best("fj(args)", env, 100_000) if valid and fastjsonschema else float("nan")
        t_js = best("js.is_valid(args)", env, 5_000)
        name = call["name"] if valid else "invalid"
        if valid:
            ratios.append(t_val / t_loads)
        print(
            f"{name:<11}{len(text):>6}{t_loads:>10.3f}{t_val:>13.3f}{t_val / t_loads:>7.2f}"
            f"{t_fj:>16.3f}{t_js:>12.2f}"
        )
    print(f"valid path, worst ratio to json.loads: {max(ratios):.2f}x (budget 0.5x)")


if __name__ == "__main__":
    main()
