"""Templates: write files whose text is hard to escape in JSON; add README sections; add tests.

The escaping tasks are the ones that break tool calls in practice: Windows paths, regexes,
quotes inside quotes, tabs, unicode and emoji, JSON inside a JSON string. Their check is exact
equality of the written file, so one lost backslash fails the task.
"""

from __future__ import annotations

from agent_rl.tasks._build import (
    edit,
    exists,
    finish,
    has,
    ls,
    read,
    run_tests,
    same,
    suite,
    write,
)
from agent_rl.tasks._model import Split, Task

__all__ = ["escape_tasks", "new_test_tasks", "readme_tasks"]

_ESCAPES: tuple[tuple[str, Split, str, str, str], ...] = (
    (
        "windows-paths",
        "train",
        "src/settings_win.py",
        "Python settings for the Windows build agents",
        '"""Paths on the Windows build agents."""\nimport re\n\n'
        'DATA_DIR = "C:\\\\Users\\\\build\\\\data"\n'
        'LOG_GLOB = r"D:\\logs\\*.log"\n'
        'VERSION_RE = re.compile(r"^v(\\d+)\\.(\\d+)\\.(\\d+)$")\n'
        "QUOTE = 'He said \"ship it\" and left.'\n",
    ),
    (
        "tsv-fixture",
        "train",
        "fixtures/people.tsv",
        "a tab-separated fixture (real tab characters between columns)",
        "id\tname\tcity\n1\tJosé Müller\tZürich\n2\t李雷\t北京\n3\tZoë O'Brien\tDublin\n",
    ),
    (
        "welcome-template",
        "train",
        "templates/welcome.txt",
        "the welcome e-mail template",
        'Hello {name},\n\n"Welcome aboard!" — the team 🎉\n\n'
        "\tP.S. Scratch files go in C:\\Temp\\scratch, not in 'My Documents'.\n",
    ),
    (
        "escaped-messages",
        "train",
        "app/messages.py",
        "the message constants (the backslash sequences are literal text in the file)",
        '"""User-facing messages."""\n\n'
        'MULTILINE = "Line one\\nLine two"\n'
        'GREETING = "{{name}} said: \\"hi\\""\n'
        "TAB = '\\t'\n"
        'UNICODE = "caf\\u00e9 → café"\n',
    ),
    (
        "json-patterns",
        "train",
        "config/patterns.json",
        "the validation patterns as JSON",
        "{\n"
        '  "version_re": "^v\\\\d+\\\\.\\\\d+$",\n'
        '  "quote": "say \\"hi\\"",\n'
        '  "windows_path": "C:\\\\tmp\\\\new",\n'
        '  "unicode": "naïve café ✓"\n'
        "}\n",
    ),
    (
        "batch-script",
        "test",
        "scripts/build.bat",
        "the Windows build script",
        "@echo off\r\n"
        'set "OUT=C:\\Program Files\\Acme\\bin"\r\n'
        'if not exist "%OUT%" mkdir "%OUT%"\r\n'
        "echo Building... ^& packaging\r\n"
        'copy /Y dist\\*.exe "%OUT%\\"\r\n',
    ),
    (
        "regex-cheatsheet",
        "test",
        "docs/regex.md",
        "the regex cheat sheet",
        "# Regex cheatsheet\n\n| Pattern | Matches |\n|---------|---------|\n"
        "| `\\d+` | digits |\n| `\\s*` | spaces → none or more |\n\n"
        '```python\nre.sub(r"\\\\", "/", path)  # backslashes to slashes\n```\n\n'
        "Tab-separated:\t\"quoted\"\t'single'\t«guillemets»\n",
    ),
)


def escape_tasks() -> list[Task]:
    tasks = []
    for slug, split, path, what, content in _ESCAPES:
        tasks.append(
            Task(
                id=f"escape/{slug}",
                prompt=(
                    f"Create {path}, {what}, with exactly the text between the fences below "
                    "(every character counts: quotes, backslashes, tabs, unicode; the file "
                    "ends with one newline). Then finish.\n\n"
                    f"````\n{content}````"
                ),
                files={"README.md": f"# {slug}\n\nSee {path.split('/')[0]}/ for {what}.\n"},
                split=split,
                tags=("escaping", "write"),
                expert=[ls(), write(path, content), read(path), finish(f"Created {path}.")],
                checks=suite(test_exact_content=[exists(path), same(path, content)]),
            )
        )
    return tasks


_README = (
    "# {name}\n\n{blurb}\n\n## Usage\n\n```python\nimport {module}\n\n{usage}\n```\n\n"
    "## Changelog\n\nSee CHANGELOG.md.\n"
)
_READMES: tuple[tuple[str, Split, dict[str, str], str, str, str, tuple[str, ...]], ...] = (
    # (slug, split, fields, request, old text, new text, text the section must contain)
    (
        "install-section",
        "train",
        {
            "name": "fastcsv",
            "module": "fastcsv",
            "blurb": "A fast CSV reader.",
            "usage": 'rows = fastcsv.read("data.csv")',
        },
        "Add an `## Installation` section right before `## Usage` whose body is a bash code "
        "block with `pip install fastcsv`",
        "## Usage\n",
        "## Installation\n\n```bash\npip install fastcsv\n```\n\n## Usage\n",
        ("## Installation\n", "pip install fastcsv"),
    ),
    (
        "license-section",
        "train",
        {
            "name": "tinyqueue",
            "module": "tinyqueue",
            "blurb": "An in-process job queue.",
            "usage": "q = tinyqueue.Queue()\nq.put(job)",
        },
        "Add a `## License` section at the very end of README.md with the line `MIT, see LICENSE.`",
        "See CHANGELOG.md.\n",
        "See CHANGELOG.md.\n\n## License\n\nMIT, see LICENSE.\n",
        ("## License\n", "MIT, see LICENSE."),
    ),
    (
        "config-table",
        "train",
        {
            "name": "shortlink",
            "module": "shortlink",
            "blurb": "A URL shortener service.",
            "usage": "app = shortlink.create_app()",
        },
        "Add a `## Configuration` section between Usage and Changelog with a markdown table "
        "(columns `Variable | Default`) listing `SHORTLINK_PORT` (default `8080`) and "
        "`SHORTLINK_DB` (default `sqlite:///links.db`)",
        "## Changelog\n",
        "## Configuration\n\n| Variable | Default |\n|---|---|\n| `SHORTLINK_PORT` | `8080` |\n"
        "| `SHORTLINK_DB` | `sqlite:///links.db` |\n\n## Changelog\n",
        ("## Configuration\n", "| Variable | Default |", "SHORTLINK_PORT", "sqlite:///links.db"),
    ),
    (
        "troubleshooting",
        "test",
        {
            "name": "pdfmerge",
            "module": "pdfmerge",
            "blurb": "Merge PDF files.",
            "usage": 'pdfmerge.merge(["a.pdf", "b.pdf"], "out.pdf")',
        },
        "Add a `## Troubleshooting` section just before `## Changelog` with one bullet: "
        "`ModuleNotFoundError: pdfmerge` means the package is not installed; run "
        "`pip install pdfmerge`",
        "## Changelog\n",
        "## Troubleshooting\n\n- `ModuleNotFoundError: pdfmerge` means the package is not "
        "installed; run `pip install pdfmerge`.\n\n## Changelog\n",
        ("## Troubleshooting\n", "- `ModuleNotFoundError: pdfmerge`", "`pip install pdfmerge`"),
    ),
)


def readme_tasks() -> list[Task]:
    tasks = []
    for slug, split, fields, ask, old, new, want in _READMES:
        readme = _README.format(**fields)
        heading = want[0].strip()
        tasks.append(
            Task(
                id=f"readme/{slug}",
                prompt=f"{ask}. Leave the rest of README.md as it is, then finish.",
                files={"README.md": readme, f"{fields['module']}/__init__.py": ""},
                split=split,
                tags=("docs", "markdown", "edit"),
                expert=[
                    read("README.md"),
                    edit("README.md", old, new),
                    read("README.md"),
                    finish(f"Added the {heading[3:]} section to README.md."),
                ],
                checks=suite(
                    test_section_added=[has("README.md", w) for w in want],
                    test_rest_kept=[
                        has("README.md", "## Usage\n"),
                        has("README.md", fields["usage"]),
                    ],
                ),
            )
        )
    return tasks


_NEW_TESTS: tuple[tuple[str, Split, str, str, tuple[str, ...]], ...] = (
    # (slug, split, module path, module source, function names to cover)
    (
        "strings",
        "train",
        "src/strutil.py",
        "def truncate(s: str, n: int) -> str:\n"
        "    return s if len(s) <= n else s[: n - 1] + '…'\n\n\n"
        "def title_case(s: str) -> str:\n    return ' '.join(w.capitalize() for w in s.split())\n",
        ("truncate", "title_case"),
    ),
    (
        "money",
        "train",
        "src/money.py",
        "from decimal import ROUND_HALF_UP, Decimal\n\n\n"
        "def to_cents(amount: Decimal) -> int:\n"
        "    return int((amount * 100).quantize(Decimal('1'), rounding=ROUND_HALF_UP))\n\n\n"
        "def format_eur(cents: int) -> str:\n    return f'€{cents / 100:.2f}'\n",
        ("to_cents", "format_eur"),
    ),
    (
        "intervals",
        "test",
        "lib/intervals.py",
        "def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:\n"
        "    return a[0] < b[1] and b[0] < a[1]\n\n\n"
        "def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
        "    out: list[tuple[int, int]] = []\n    for s in sorted(spans):\n"
        "        if out and s[0] <= out[-1][1]:\n"
        "            out[-1] = (out[-1][0], max(out[-1][1], s[1]))\n"
        "        else:\n            out.append(s)\n    return out\n",
        ("overlaps", "merge"),
    ),
)

# the example test the agent imitates: a different one per split
_EXAMPLES: dict[Split, tuple[str, str]] = {
    "train": ("src/ping.py", "def ping() -> str:\n    return 'pong'\n"),
    "test": ("src/health.py", "def status() -> dict:\n    return {'ok': True}\n"),
}


def new_test_tasks() -> list[Task]:
    tasks = []
    for slug, split, path, source, names in _NEW_TESTS:
        stem = path.rsplit("/", 1)[-1].removesuffix(".py")
        test_path = f"tests/test_{stem}.py"
        ex_path, ex_src = _EXAMPLES[split]
        ex_name = ex_src[4 : ex_src.index("(")]
        ex_test = f"tests/test_{ex_name}.py"
        example = suite(
            "Declarative tests: each assertion checks the text of a workspace file.",
            **{f"test_{ex_name}_defined": [has(ex_path, f"def {ex_name}(")]},
        )
        new_src = suite(
            f"Tests for {path}.", **{f"test_{n}_defined": [has(path, f"def {n}(")] for n in names}
        )
        tasks.append(
            Task(
                id=f"new-test/{slug}",
                prompt=(
                    f"Add {test_path} with one test per function of {path} "
                    f"({', '.join(names)}), each asserting that the function is defined, in the "
                    f"same declarative style as {ex_test}. Run the tests, then finish."
                ),
                files={path: source, ex_path: ex_src, ex_test: example},
                split=split,
                tags=("tests", "write"),
                expert=[
                    read(ex_test),
                    read(path),
                    write(test_path, new_src),
                    run_tests(),
                    finish(f"Added {test_path} covering {', '.join(names)}."),
                ],
                checks=suite(
                    test_file_added=[exists(test_path), has(test_path, f"read({path!r})")]
                    + [has(test_path, f"def {n}(") for n in names],
                ),
            )
        )
    return tasks
