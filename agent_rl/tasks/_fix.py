"""Templates: fix the bug a failing test points at; replace ``print`` calls with logging.

Each variant is a small, realistic module with one wrong line. The expert runs the tests, reads
the failing test and the module, fixes the line, reruns the tests and finishes; the checks also
require the test file to be left exactly as it was (fixing the test instead is a failure).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_rl.tasks._build import (
    count,
    edit,
    finish,
    has,
    lacks,
    read,
    run_tests,
    same,
    search,
    suite,
)
from agent_rl.tasks._model import Split, Task

__all__ = ["fix_tasks", "logging_tasks"]


@dataclass(frozen=True)
class _Bug:
    slug: str
    split: Split
    src: str  # path of the module
    code: str  # module source, with `bug` in it exactly once
    bug: str
    fix: str
    test: str  # path of the test file
    tests: dict[str, list[str]]  # the test file's functions; at least one fails before the fix
    extra: dict[str, str] | None = None  # other files of the workspace


_BUGS: tuple[_Bug, ...] = (
    _Bug(
        "pricing",
        "train",
        "src/shop/pricing.py",
        '"""Price calculations for the checkout."""\n\nTAX_RATE = 0.2\n\n\n'
        "def apply_discount(price: float, rate: float) -> float:\n"
        '    """Price after a fractional discount `rate` (0.1 = 10% off)."""\n'
        "    return round(price * (1 + rate), 2)\n\n\n"
        "def with_tax(price: float) -> float:\n    return round(price * (1 + TAX_RATE), 2)\n",
        "return round(price * (1 + rate), 2)",
        "return round(price * (1 - rate), 2)",
        "tests/test_pricing.py",
        {
            "test_discount_lowers_price": [
                has("src/shop/pricing.py", "return round(price * (1 - rate), 2)")
            ],
            "test_tax_is_added": [has("src/shop/pricing.py", "price * (1 + TAX_RATE)")],
        },
        {"src/shop/__init__.py": "", "README.md": "# shop\n\nA tiny checkout service.\n"},
    ),
    _Bug(
        "temperature",
        "train",
        "src/units/temperature.py",
        '"""Temperature conversions."""\n\n\n'
        "def celsius_to_fahrenheit(c: float) -> float:\n    return c * 5 / 9 + 32\n\n\n"
        "def fahrenheit_to_celsius(f: float) -> float:\n    return (f - 32) * 5 / 9\n",
        "return c * 5 / 9 + 32",
        "return c * 9 / 5 + 32",
        "tests/test_temperature.py",
        {
            "test_c_to_f": [has("src/units/temperature.py", "return c * 9 / 5 + 32")],
            "test_f_to_c": [has("src/units/temperature.py", "return (f - 32) * 5 / 9")],
        },
        {"src/units/__init__.py": "from .temperature import *  # noqa: F403\n"},
    ),
    _Bug(
        "slugify",
        "train",
        "src/textutil/slug.py",
        'import re\n\n_NON_WORD = re.compile(r"[^a-z0-9]+")\n\n\n'
        "def slugify(title: str) -> str:\n"
        '    """`Hello, World!` -> `hello-world`."""\n'
        '    return _NON_WORD.sub("-", title.upper()).strip("-")\n',
        'title.upper()).strip("-")',
        'title.lower()).strip("-")',
        "tests/test_slug.py",
        {
            "test_slug_is_lowercase": [has("src/textutil/slug.py", "title.lower()")],
            "test_separator": [has("src/textutil/slug.py", '_NON_WORD.sub("-"')],
        },
    ),
    _Bug(
        "paginate",
        "train",
        "src/api/paginate.py",
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Page:\n"
        "    number: int  # 1-based\n"
        "    size: int = 20\n\n    @property\n    def offset(self) -> int:\n"
        "        return self.number * self.size\n",
        "return self.number * self.size",
        "return (self.number - 1) * self.size",
        "tests/test_paginate.py",
        {
            "test_first_page_starts_at_zero": [
                has("src/api/paginate.py", "return (self.number - 1) * self.size")
            ],
            "test_default_size": [has("src/api/paginate.py", "size: int = 20")],
        },
    ),
    _Bug(
        "retry",
        "train",
        "src/net/retry.py",
        '"""Retry with exponential backoff."""\n\nimport time\n\nBASE_DELAY = 0.5\n\n\n'
        "def backoff(attempt: int) -> float:\n"
        '    """Seconds to wait before retry `attempt` (0, 1, 2, ...): doubles each time."""\n'
        "    return BASE_DELAY * attempt\n\n\n"
        "def wait(attempt: int) -> None:\n    time.sleep(backoff(attempt))\n",
        "return BASE_DELAY * attempt",
        "return BASE_DELAY * 2**attempt",
        "tests/test_retry.py",
        {"test_backoff_doubles": [has("src/net/retry.py", "return BASE_DELAY * 2**attempt")]},
    ),
    _Bug(
        "circle",
        "test",
        "lib/geometry/shapes.py",
        "import math\nfrom dataclasses import dataclass\n\n\n@dataclass(frozen=True)\n"
        "class Circle:\n    radius: float\n\n    def area(self) -> float:\n"
        "        return 2 * math.pi * self.radius\n\n    def circumference(self) -> float:\n"
        "        return 2 * math.pi * self.radius\n",
        "        return 2 * math.pi * self.radius\n\n    def circumference",
        "        return math.pi * self.radius**2\n\n    def circumference",
        "lib/tests/test_shapes.py",
        {
            "test_area": [has("lib/geometry/shapes.py", "return math.pi * self.radius**2")],
            "test_circumference": [
                count("lib/geometry/shapes.py", "return 2 * math.pi * self.radius", 1)
            ],
        },
    ),
    _Bug(
        "leap-year",
        "test",
        "lib/calendar_utils/leap.py",
        "def is_leap(year: int) -> bool:\n"
        '    """Gregorian leap years: 2000 and 2024 are, 1900 and 2023 are not."""\n'
        "    return year % 4 == 0 and year % 100 != 0\n",
        "return year % 4 == 0 and year % 100 != 0",
        "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
        "lib/tests/test_leap.py",
        {
            "test_every_400_years": [
                has("lib/calendar_utils/leap.py", "year % 100 != 0 or year % 400 == 0")
            ]
        },
    ),
)


def fix_tasks() -> list[Task]:
    tasks = []
    for b in _BUGS:
        test_src = suite(
            f"Tests for {b.src} (read by the sandbox's declarative runner).", **b.tests
        )
        files = {b.src: b.code, b.test: test_src, **(b.extra or {})}
        line = next(ln.strip() for ln in b.bug.splitlines() if ln.strip())
        tasks.append(
            Task(
                id=f"fix-test/{b.slug}",
                prompt=(
                    f"A test in {b.test} fails. Run the tests, find the bug in the code under "
                    "test (not in the tests), fix it, check that all tests pass, then finish."
                ),
                files=files,
                split=b.split,
                tags=("fix_test", "edit"),
                expert=[
                    run_tests(),
                    read(b.test),
                    read(b.src),
                    edit(b.src, b.bug, b.fix),
                    run_tests(),
                    finish(f"Fixed the bug in {b.src}: `{line}` was wrong."),
                ],
                checks=suite(
                    test_fixed=[has(b.src, b.fix), lacks(b.src, b.bug)],
                    test_tests_untouched=[same(b.test, test_src)],
                ),
            )
        )
    return tasks


@dataclass(frozen=True)
class _Prints:
    slug: str
    split: Split
    path: str
    code: str  # the module; its last import line is `anchor`
    anchor: str
    prints: tuple[tuple[str, str], ...]  # (print line, logger line) in file order


_PRINTS: tuple[_Prints, ...] = (
    _Prints(
        "sync-job",
        "train",
        "jobs/sync.py",
        '"""Nightly sync of customer records from the CRM."""\n\n'
        "import json\nfrom urllib.request import urlopen\n\n\n"
        "def sync(url: str, store: dict) -> int:\n"
        '    print(f"fetching {url}")\n'
        "    rows = json.load(urlopen(url))\n    synced = 0\n    for row in rows:\n"
        '        if "id" not in row:\n'
        '            print(f"skipping bad row {row!r}")\n            continue\n'
        '        store[row["id"]] = row\n        synced += 1\n'
        '    print(f"synced {synced} rows")\n    return synced\n',
        "from urllib.request import urlopen",
        (
            ('    print(f"fetching {url}")', '    logger.info("fetching %s", url)'),
            (
                '            print(f"skipping bad row {row!r}")',
                '            logger.warning("skipping bad row %r", row)',
            ),
            ('    print(f"synced {synced} rows")', '    logger.info("synced %d rows", synced)'),
        ),
    ),
    _Prints(
        "backup",
        "train",
        "tools/backup.py",
        '"""Copy the nightly database dump to object storage."""\n\n'
        "import time\nfrom pathlib import Path\n\n\n"
        "def upload(path: Path, client, retries: int = 3) -> None:\n"
        '    print(f"uploading {path}")\n    start = time.monotonic()\n'
        "    for attempt in range(retries):\n        try:\n"
        "            client.put(path.name, path.read_bytes())\n            break\n"
        "        except ConnectionError as exc:\n"
        '            print(f"retrying after error: {exc}")\n'
        "            time.sleep(2**attempt)\n"
        '    print(f"done in {time.monotonic() - start:.1f}s")\n',
        "from pathlib import Path",
        (
            ('    print(f"uploading {path}")', '    logger.info("uploading %s", path)'),
            (
                '            print(f"retrying after error: {exc}")',
                '            logger.warning("retrying after error: %s", exc)',
            ),
            (
                '    print(f"done in {time.monotonic() - start:.1f}s")',
                '    logger.info("done in %.1fs", time.monotonic() - start)',
            ),
        ),
    ),
    _Prints(
        "importer",
        "test",
        "etl/importer.py",
        '"""Import product feeds from suppliers into the catalogue."""\n\n'
        "import csv\nimport io\n\n\n"
        "def import_feed(name: str, text: str, catalogue: dict) -> int:\n"
        '    print(f"reading feed {name}")\n    n = 0\n'
        "    for item in csv.DictReader(io.StringIO(text)):\n"
        '        if not item.get("price"):\n'
        "            print(f\"price missing for {item['sku']}\")\n            continue\n"
        '        catalogue[item["sku"]] = float(item["price"])\n        n += 1\n'
        '    print(f"imported {n} products from {name}")\n    return n\n',
        "import io",
        (
            ('    print(f"reading feed {name}")', '    logger.info("reading feed %s", name)'),
            (
                "            print(f\"price missing for {item['sku']}\")",
                '            logger.warning("price missing for %s", item["sku"])',
            ),
            (
                '    print(f"imported {n} products from {name}")',
                '    logger.info("imported %d products from %s", n, name)',
            ),
        ),
    ),
)


def logging_tasks() -> list[Task]:
    tasks = []
    for p in _PRINTS:
        new_head = f"{p.anchor}\nimport logging\n\nlogger = logging.getLogger(__name__)"
        expert = [search("print(", p.path), read(p.path), edit(p.path, p.anchor, new_head)]
        expert += [edit(p.path, old, new) for old, new in p.prints]
        expert += [search("print("), finish(f"Replaced the print calls in {p.path} with logging.")]
        tasks.append(
            Task(
                id=f"print-to-logging/{p.slug}",
                prompt=(
                    f"{p.path} reports progress with print(). Switch it to the logging module: "
                    "`import logging`, a module-level `logger = logging.getLogger(__name__)`, "
                    "logger.warning(...) for the print inside the loop and logger.info(...) for "
                    "the other two, with %-style arguments instead of f-strings. Then finish."
                ),
                files={p.path: p.code},
                split=p.split,
                tags=("logging", "multi_edit", "long"),
                expert=expert,
                checks=suite(
                    test_no_print=[count(p.path, "print(", 0), count(p.path, 'f"', 0)],
                    test_logger=[
                        has(p.path, "import logging"),
                        has(p.path, "logger = logging.getLogger(__name__)"),
                        count(p.path, "logger.info(", 2),
                        count(p.path, "logger.warning(", 1),
                    ],
                ),
            )
        )
    return tasks
