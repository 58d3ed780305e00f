"""Synthetic escaping drills: extra expert episodes whose calls need heavy JSON escaping.

The task suite has a few dozen training tasks; a small model trained on them memorises their
contents and does not learn the *rule* that turns raw text into a JSON string (``"`` -> ``\\"``,
``\\`` -> ``\\\\``, newline -> ``\\n``, tab -> ``\\t``). Drills add fresh, seeded episodes of
the two calls where that rule matters, in the same prompt style as the task suite:

- ``write``: create a file with exactly the fenced text (``list_dir``, ``write_file``,
  ``read_file``, ``finish``), like the suite's escaping tasks;
- ``edit``: change one line of a file to another (``read_file``, ``edit_file``, ``finish``).

Contents mix quotes, backslashes (Windows paths, regexes, literal ``\\n``), tabs, JSON
fragments and non-ASCII text. Drills are training data only (never evaluated on) and are built
through the real sandbox, so every expert call is valid in its state. This module builds
steps; it trains nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from agent_rl.training.data import StepExample, episode_steps
from agent_rl.verdicts import ToolCall

__all__ = ["drill_steps"]

_WORDS = (  # noqa: SIM905 - a word list reads best as one string
    "alpha beta gamma delta omega queue cache token parser buffer client server retry limit "
    "config report invoice ledger widget sensor metric vector matrix signal filter window "
    "router socket thread worker batch stream record schema folder backup export import"
).split()
_UNICODE = ("café", "naïve", "Zürich", "São Paulo", "→", "✓", "—", "«ok»", "日本", "🎉", "µs")
_EXT = (".py", ".txt", ".md", ".json", ".cfg", ".csv", ".ini", ".bat")
_DIRS = ("src", "app", "lib", "docs", "config", "scripts", "data", "tools", "templates")


def _line(rng: random.Random) -> str:
    w = lambda: rng.choice(_WORDS)  # noqa: E731
    n = rng.randint(0, 999)
    u = rng.choice(_UNICODE)
    forms = (
        lambda: f'{w().upper()} = "{w()} said \\"{w()}\\""',
        lambda: f'PATH = "C:\\\\{w().title()}\\\\{w()}\\\\{w()}.log"',
        lambda: f'GLOB = r"D:\\{w()}\\*.{w()[:3]}"',
        lambda: f'PATTERN = re.compile(r"^{w()}(\\d+)\\.(\\w*)$")',
        lambda: f"{w()}\t{w()}\t{n}\t{u}",
        lambda: f'{{"{w()}": [{n}, "{w()}"], "{w()}": "{u}"}}',
        lambda: f"print('{w()} \"{w()}\" {w()}')",
        lambda: f'MESSAGE = "{w()}\\n{w()}\\t{w()}"',
        lambda: f'| `{w()}` | "{w()}" | {u} |',
        lambda: f'    return "{w()}" + \'{w()}\' + "\\\\"',
        lambda: f"# {w()} {w()}: {u} ({n}%)",
        lambda: f"{w()} = {n}  # '{w()}' or \"{w()}\"",
    )
    return rng.choice(forms)()


def _content(rng: random.Random, lines: int) -> str:
    out: list[str] = []
    while len(out) < lines:
        line = _line(rng)
        if line not in out:
            out.append(line)
    return "\n".join(out) + "\n"


def _path(rng: random.Random) -> str:
    return f"{rng.choice(_DIRS)}/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}{rng.choice(_EXT)}"


def _write(rng: random.Random) -> tuple[str, dict[str, str], list[ToolCall]]:
    path, content = _path(rng), _content(rng, rng.randint(2, 6))
    folder = path.split("/")[0]
    other = f"{folder}/README.md"
    prompt = (
        f"Create {path}, a {rng.choice(_WORDS)} {rng.choice(_WORDS)} file, with exactly the text "
        "between the fences below (every character counts: quotes, backslashes, tabs, "
        f"unicode; the file ends with one newline). Then finish.\n\n````\n{content[:-1]}\n````"
    )
    calls = [
        ToolCall("list_dir", {"path": folder}),
        ToolCall("write_file", {"path": path, "content": content}),
        ToolCall("read_file", {"path": path}),
        ToolCall("finish", {"summary": f"Created {path} with the exact text."}),
    ]
    return prompt, {other: f"# {folder}\n"}, calls


def _edit(rng: random.Random) -> tuple[str, dict[str, str], list[ToolCall]]:
    path, content = _path(rng), _content(rng, rng.randint(3, 7))
    lines = content.splitlines()
    old = rng.choice(lines)
    new = _line(rng)
    while new in lines:
        new = _line(rng)
    prompt = (
        f"In {path}, replace the line\n\n````\n{old}\n````\n\nwith exactly\n\n````\n{new}\n"
        "````\n\n(every character counts). Then finish."
    )
    calls = [
        ToolCall("read_file", {"path": path}),
        ToolCall("edit_file", {"path": path, "old": old, "new": new}),
        ToolCall("finish", {"summary": f"Replaced one line of {path}."}),
    ]
    return prompt, {path: content}, calls


def drill_steps(episodes: int, formats: Sequence[str], seed: int = 0) -> Iterator[StepExample]:
    """Every step of ``episodes`` seeded drill episodes (half write, half edit) per format."""
    rng = random.Random(seed)
    for k in range(episodes):
        prompt, files, calls = (_write if k % 2 == 0 else _edit)(rng)
        yield from episode_steps(f"drill/{k}", prompt, files, calls, formats)
