"""Word and text-fragment pools of the procedural families: train, validation and test.

Every name a family invents (file names, identifiers, keys) and every free text fragment
(words inside contents, non-ASCII snippets) comes from one split's pool; the train and test
pools are a fixed partition of the first lists below and the validation pool is a list of its
own, so a held-out instance's names and contents were never seen in training, and settings can
be chosen on unseen words (``val``) without looking at the test split. The train pool also holds
:data:`SYNTHETIC_WORDS` made-up words (syllables): so many that no name is seen often enough to
be memorised — or to become a single token of a tokenizer trained on the training text — so a
model must learn to handle names as the sequences of pieces that unseen words are.

Structural text (folder names, extensions, the shapes of code lines and prompts) is shared by
every split: that is the skill being learnt. ``Gen`` wraps a seeded
``random.Random`` and a pool and draws names and content lines from them; ``Draft`` is what a
family returns. Not the families themselves (:mod:`agent_rl.tasks.families`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from agent_rl.tasks._model import Split
from agent_rl.verdicts import ToolCall

__all__ = ["DIRS", "POOLS", "SYNTHETIC_WORDS", "Draft", "Gen", "Pool", "synthetic_words"]

# Lowercase ASCII words, each usable as a Python identifier part. None of them may occur in
# the shared template text (prompts, code shapes, check source) nor in the hand-written task
# suite: tests/test_families.py checks that a test instance holds no train word and vice versa.
_WORDS = (  # noqa: SIM905 - a word list reads best as one string
    "alpha gamma delta omega token buffer "
    "ledger widget sensor metric vector signal filter window router socket "
    "thread worker stream schema export basket cargo "
    "harbor lantern meadow pebble quartz rocket saddle tunnel velvet walnut yonder zephyr "
    "amber birch cedar dune ember fjord glacier hazel iris jasper kelp lotus maple nectar "
    "orchid pine quill raven sage thistle umber violet willow yarrow zinnia anchor beacon "
    "compass dynamo engine falcon gadget hammer igloo jigsaw kettle ladder magnet needle "
    "oyster paddle quiver ribbon spindle trolley utensil valve wrench yacht zipper bison "
    "coyote dingo egret ferret gecko heron ibis jackal koala lemur marmot newt ocelot "
    "panda quokka rabbit salmon tapir urchin vole walrus badger camel donkey finch goose "
    "hornet impala jaguar kiwi llama moose narwhal otter parrot robin skunk toucan wombat "
    "atlas blizzard comet drizzle eclipse frost galaxy horizon lagoon monsoon nebula orbit "
    "prism quasar rainbow summit tundra volcano"
).split()
# Non-ASCII fragments that go inside contents (quotes, tabs and backslashes come from the
# shapes of the lines, not from here).
_UNICODE = (
    "café",
    "naïve",
    "Zürich",
    "São Paulo",
    "→",
    "✓",
    "«oui»",
    "日本",
    "🎉",
    "µs",
    "½",
    "€",
    "über",
    "résumé",
    "Ærø",
    "★",
    "∞",
    "±",
    "≤",
    "北京",
    "Москва",
    "Ελλάδα",
    "✗",
    "°C",
    "™",
    "Åsa",
    "piñata",
    "🚀",
    "façade",
    "Kraków",
)
# The validation split's own words and fragments (added later than the lists above, so that
# the train/test partition, and everything trained on it, stayed as it was).
_VAL_WORDS = (  # noqa: SIM905
    "acorn bramble crayon dolphin emerald fossil garnet hickory indigo juniper kayak lichen "
    "mango nutmeg opal pelican quinoa radish sequoia tulip vanilla wasabi zucchini apricot "
    "bluebell cobalt damson fennel ginger hemlock jasmine kumquat lilac mimosa nettle peony "
    "quince rosemary saffron tamarind verbena wisteria barley clover daisy beetle cricket "
    "mantis plover condor puffin starling sparrow"
).split()
_VAL_UNICODE = (
    "crème",
    "Göteborg",
    "smörgåsbord",
    "ñandú",
    "Αθήνα",
    "東京",
    "🌟",
    "✔",
    "≠",
    "÷",
    "¥",
    "§",
    "Łódź",
    "jalapeño",
    "Dvořák",
)
# Shared structure: folders and extensions appear in both splits.
DIRS = ("src", "app", "lib", "docs", "config", "scripts", "data", "tools", "templates")
_TEXT_EXT = (".py", ".txt", ".md", ".cfg", ".csv", ".ini", ".bat")


@dataclass(frozen=True)
class Draft:
    """What a family generator returns; ``agent_rl.tasks.families`` adds id and split."""

    prompt: str
    files: dict[str, str]
    expert: list[ToolCall]
    checks: str
    tags: tuple[str, ...] = ()
    tests_must_pass: bool = True


@dataclass(frozen=True)
class Pool:
    """One split's vocabulary: identifier words and non-ASCII fragments."""

    words: tuple[str, ...]
    unicode: tuple[str, ...]


SYNTHETIC_WORDS = 3000
"""Made-up words in the train pool, beside its real ones."""
_CONSONANTS, _VOWELS, _CODAS = "bdfgklmnprstvz", "aeiou", "lmnrst"
# English words of the shared text (prompts, code shapes, checks, the hand-written suite) that
# the syllables also make: tests/test_families.py finds any new one (a "leaked" train word).
_SHARED_ENGLISH = frozenset(["data", "live", "none", "page", "same", "takes", "time", "zero"])


def synthetic_words(n: int, seed: int = 0, avoid: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """``n`` distinct made-up lowercase words of 2-3 consonant-vowel syllables (some with a
    final consonant), deterministic by ``seed``, none of them in ``avoid``."""
    rng = random.Random(f"synthetic|{seed}")
    out: dict[str, None] = {}
    while len(out) < n:
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        if rng.random() < 0.4:
            word += rng.choice(_CODAS)
        if word not in avoid:
            out[word] = None
    return tuple(out)


def _partition(items: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every third item (from the second) is held out; the rest is for training."""
    return {
        "train": tuple(x for i, x in enumerate(items) if i % 3 != 1),
        "test": tuple(x for i, x in enumerate(items) if i % 3 == 1),
    }


POOLS: dict[Split, Pool] = {
    "train": Pool(
        _partition(_WORDS)["train"]
        + synthetic_words(SYNTHETIC_WORDS, avoid=_SHARED_ENGLISH | {*_WORDS, *_VAL_WORDS}),
        _partition(_UNICODE)["train"],
    ),
    "val": Pool(tuple(_VAL_WORDS), _VAL_UNICODE),
    "test": Pool(_partition(_WORDS)["test"], _partition(_UNICODE)["test"]),
}


class Gen:
    """Draws names and text from one pool with one seeded ``random.Random``."""

    def __init__(self, rng: random.Random, pool: Pool) -> None:
        self.rng = rng
        self.pool = pool

    def randint(self, a: int, b: int) -> int:
        return self.rng.randint(a, b)

    def choice(self, items: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(items)

    def word(self) -> str:
        return self.rng.choice(self.pool.words)

    def words(self, n: int) -> list[str]:
        """``n`` distinct words."""
        return self.rng.sample(self.pool.words, n)

    def uni(self) -> str:
        return self.rng.choice(self.pool.unicode)

    def ident(self, parts: int = 2) -> str:
        """A snake_case identifier of ``parts`` distinct words."""
        return "_".join(self.words(parts))

    def path(self, folder: str | None = None, ext: str | None = None) -> str:
        folder = folder or self.choice(DIRS)
        return f"{folder}/{self.ident()}{ext or self.choice(_TEXT_EXT)}"

    def line(self) -> str:
        """One line of file content whose JSON string needs escaping of some kind."""
        w, n, u = self.word, self.randint(0, 999), self.uni()
        forms: tuple[Callable[[], str], ...] = (
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
            lambda: f'PAYLOAD = \'{{"{w()}": "{w()}", "n": {n}}}\'',
            lambda: f'SHARE = "\\\\\\\\{w()}\\\\{w()}"  # {u}',
        )
        return self.rng.choice(forms)()

    def lines(self, n: int, avoid: tuple[str, ...] | list[str] = ()) -> list[str]:
        """``n`` distinct lines, none of them in ``avoid`` and none inside another."""
        out: list[str] = []
        while len(out) < n:
            line = self.line()
            taken = [*out, *avoid]
            if all(line not in o and o not in line for o in taken):
                out.append(line)
        return out
