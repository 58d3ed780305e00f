"""Renamed variants of the training tasks: the same work over other file and identifier names.

A small model trained on a few dozen expert episodes memorises their paths and names: on an
unseen task it writes a path from a training task (``file_not_found``) instead of copying one
from the prompt. Variants keep every task's structure (files, expert solution, checks) and
rename, consistently everywhere in the task (paths, prompt, contents, expert calls, checks), the
words its file paths and defined names are made of (``src/shop/pricing.py`` ->
``cedar/harbor/lantern.py``, ``apply_discount`` -> ``apply_meadow``), so a valid call has to copy
its names from the episode. Words that carry meaning to the tools, the mock test runner or Python
(``tests``, ``read``, ``def``, ...) are never renamed, and every variant is kept only if its
expert solution still runs valid and solves it. Training data only; this module trains nothing.
"""

from __future__ import annotations

import builtins
import json
import keyword
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_rl.tasks import Task

__all__ = ["task_variants"]

_POOL_TEXT = """
    acorn anchor apple arch arrow aspen atlas badge bamboo banner barley basin beacon birch bison
    blade bloom bolt bramble breeze brick bridge brook bucket cabin cactus canal candle canyon
    cargo carpet castle cedar cellar chalk cherry cider cinder clover cobalt comet copper coral
    cotton crane crater crest crown crystal dagger daisy delta desert dew dune eagle ember falcon
    feather fern fiddle flint forge fossil fox frost garnet geyser ginger glacier glove granite
    grove gull harbor harvest hazel heron hollow honey horizon husk iris ivory ivy jasper jungle
    juniper kayak kernel kettle kiln lagoon lantern larch lava ledge lemon lichen lily linen lotus
    lynx magnet mango maple marble marsh meadow mesa mint mist moss nectar nickel oasis oak ocean
    olive onyx orbit orchid otter oyster paddle pebble pepper petal pine plum pollen poppy prairie
    quarry quartz quill raven reed ridge river robin ruby saddle saffron sage salmon sapphire
    satin shell sierra silk slate sorrel spruce summit swallow tangle thistle thorn thunder tide
    timber topaz torch tulip tundra velvet violet walnut willow wren yarrow zephyr zinc
"""
_POOL = tuple(_POOL_TEXT.split())
# Words that mean something to the mock test runner, the tools (names, arguments), Python or
# the workspace's layout (extensions, names runners look for): never renamed.
_KEEP = """
sandbox checks exists json get read test tests path content old new query summary start end
name arguments action list dir write edit search run finish file files py md yml yaml toml
cfg ini txt csv init main readme changelog self cls
"""
_PROTECTED = frozenset(
    {*keyword.kwlist, *keyword.softkwlist, *(w.lower() for w in dir(builtins)), *_KEEP.split()}
)
_PATH_WORDS = re.compile(r"[A-Za-z]+")
_DEFINED = re.compile(r"^\s*(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def _words(task: Task) -> list[str]:
    """The words of the task's file paths (workspace and expert calls) and of the names its
    Python files define."""
    found: set[str] = set()
    paths = [*task.files, *(str(c.arguments.get("path", "")) for c in task.expert)]
    for path in paths:
        found.update(w.lower() for w in _PATH_WORDS.findall(path))
    for path, text in task.files.items():
        if path.endswith(".py") and not path.rsplit("/", 1)[-1].startswith("test_"):
            for name in _DEFINED.findall(text):
                found.update(w.lower() for w in _PATH_WORDS.findall(name))
    return sorted(w for w in found if len(w) >= 3 and w not in _PROTECTED)


def _rename(value: Any, sub: Any) -> Any:
    if isinstance(value, str):
        return sub(value)
    if isinstance(value, dict):
        return {_rename(k, sub): _rename(v, sub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rename(v, sub) for v in value)
    return value


def _variant(task: Task, k: int, rng: random.Random) -> Task | None:
    from agent_rl.tasks import Task

    data = task.model_dump(mode="json", exclude={"id", "split", "tags"})
    text = json.dumps(data, ensure_ascii=False).lower()
    words = _words(task)
    free = [w for w in _POOL if w not in text]
    if not words or len(free) < len(words):
        return None
    mapping: dict[str, str] = {}
    for word, new in zip(words, rng.sample(free, len(words)), strict=True):
        mapping |= {word: new, word.capitalize(): new.capitalize(), word.upper(): new.upper()}
    pattern = re.compile(
        r"(?<![A-Za-z])(" + "|".join(sorted(map(re.escape, mapping), key=len, reverse=True)) + ")"
        r"(?![a-z])"
    )
    data = _rename(data, lambda s: pattern.sub(lambda m: mapping[m.group(1)], s))
    try:
        variant = Task(id=f"{task.id}/v{k}", split=task.split, tags=task.tags, **data)
    except ValueError:
        return None
    return variant if _solves(variant) else None


def _solves(task: Task) -> bool:
    from agent_rl.tasks import make_sandbox

    sandbox = make_sandbox(task)
    return all(sandbox.step(call).ok for call in task.expert) and task.check(sandbox)


def task_variants(tasks: Sequence[Task], per_task: int, seed: int = 0) -> list[Task]:
    """``per_task`` renamed variants of each of ``tasks`` (seeded), each one checked: its expert
    solution runs valid and solves it. A variant that fails the check is dropped."""
    rng = random.Random(seed)
    out = []
    for k in range(per_task):
        for task in tasks:
            variant = _variant(task, k, rng)
            if variant is not None:
                out.append(variant)
    return out
