"""Templates: rename a function across a code base; bump a release version in every place.

Renames touch three or four files with several uses each, so the expert runs 9-12 steps:
search, read each file, one exact-line edit per use, search again, run the tests, finish.
Every line that mentions the old name is unique in its file, so each edit matches once.
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
    search,
    suite,
)
from agent_rl.tasks._model import Split, Task
from agent_rl.verdicts import ToolCall

__all__ = ["rename_tasks", "version_tasks"]


@dataclass(frozen=True)
class _Rename:
    slug: str
    split: Split
    old: str
    new: str
    files: dict[str, str]  # the first file defines the function
    test: tuple[str, str]  # (path of the test file, a file whose use the test checks)


_RENAMES: tuple[_Rename, ...] = (
    _Rename(
        "users",
        "train",
        "get_usr",
        "get_user",
        {
            "app/users/repo.py": "from app.db import query\n\n\n"
            "def get_usr(user_id: int) -> dict | None:\n"
            '    rows = query("SELECT * FROM users WHERE id = ?", user_id)\n'
            "    return rows[0] if rows else None\n",
            "app/users/service.py": "from app.users.repo import get_usr\n\n\n"
            "def display_name(user_id: int) -> str:\n    user = get_usr(user_id)\n"
            '    return user["name"] if user else "unknown"\n\n\n'
            "def is_admin(user_id: int) -> bool:\n"
            '    return bool((get_usr(user_id) or {}).get("admin"))\n',
            "app/api/routes.py": "from app.users.repo import get_usr\n\n\n"
            "def user_detail(request, user_id: int):\n    return get_usr(user_id) or {}, 200\n",
        },
        ("tests/test_users.py", "app/api/routes.py"),
    ),
    _Rename(
        "billing",
        "train",
        "calc_total",
        "compute_total",
        {
            "billing/invoice.py": "from decimal import Decimal\n\n\n"
            "def calc_total(lines: list[tuple[Decimal, int]]) -> Decimal:\n"
            '    """Sum of price * quantity over invoice lines."""\n'
            '    return sum((price * qty for price, qty in lines), Decimal("0"))\n',
            "billing/cart.py": "from billing.invoice import calc_total\n\n\n"
            "class Cart:\n    def __init__(self) -> None:\n        self.lines = []\n\n"
            "    def total(self):\n        return calc_total(self.lines)\n",
            "billing/report.py": "from billing.invoice import calc_total\n\n\n"
            "def monthly(invoices):\n    return [calc_total(inv.lines) for inv in invoices]\n",
            "docs/billing.md": "# Billing\n\nTotals come from `calc_total(lines)` in "
            "billing/invoice.py.\n",
        },
        ("tests/test_billing.py", "billing/cart.py"),
    ),
    _Rename(
        "config-loader",
        "train",
        "parseCfg",
        "parse_config",
        {
            "cfg/loader.py": "import tomllib\n\n\ndef parseCfg(text: str) -> dict:\n"
            '    """Parse TOML config text, merging [defaults] under every section."""\n'
            "    data = tomllib.loads(text)\n"
            '    defaults = data.pop("defaults", {})\n'
            "    return {name: {**defaults, **body} for name, body in data.items()}\n\n\n"
            "def load(path) -> dict:\n    with open(path) as f:\n"
            "        return parseCfg(f.read())\n",
            "cli/main.py": "import sys\n\nfrom cfg.loader import load, parseCfg\n\n\n"
            "def main() -> int:\n"
            '    cfg = parseCfg(sys.stdin.read()) if "-" in sys.argv else load("app.toml")\n'
            "    print(sorted(cfg))\n    return 0\n",
        },
        ("tests/test_cli.py", "cli/main.py"),
    ),
    _Rename(
        "records",
        "train",
        "fetchData",
        "fetch_records",
        {
            "client/api.py": 'import httpx\n\nBASE = "https://api.example.com"\n\n\n'
            "def fetchData(kind: str, since: str | None = None) -> list[dict]:\n"
            '    params = {"since": since} if since else {}\n'
            '    return httpx.get(f"{BASE}/{kind}", params=params).json()\n',
            "jobs/nightly.py": "from client.api import fetchData\n\n\n"
            "def run(store) -> None:\n"
            '    for kind in ("orders", "refunds"):\n'
            "        store.save(kind, fetchData(kind, since=store.last_run))\n",
            "jobs/backfill.py": "from client.api import fetchData\n\n\n"
            "def backfill(store, kind: str) -> int:\n    rows = fetchData(kind)\n"
            "    store.save(kind, rows)\n    return len(rows)\n",
        },
        ("tests/test_jobs.py", "jobs/backfill.py"),
    ),
    _Rename(
        "reports",
        "test",
        "mk_report",
        "build_report",
        {
            "reporting/core.py": "from datetime import date\n\n\n"
            "def mk_report(title: str, rows: list[dict], day: date) -> str:\n"
            '    head = f"# {title} ({day:%Y-%m-%d})"\n'
            "    body = \"\\n\".join(f\"- {r['name']}: {r['value']}\" for r in rows)\n"
            '    return f"{head}\\n\\n{body}\\n"\n',
            "reporting/email.py": "from reporting.core import mk_report\n\n\n"
            "def send_weekly(mailer, rows, day):\n"
            '    mailer.send(subject="Weekly", body=mk_report("Weekly", rows, day))\n',
            "scripts/weekly.py": "from datetime import date\n\n"
            "from reporting.core import mk_report\n\n"
            'if __name__ == "__main__":\n'
            '    print(mk_report("Weekly (dry run)", [], date.today()))\n',
        },
        ("checks/test_reporting.py", "reporting/email.py"),
    ),
    _Rename(
        "permissions",
        "test",
        "chk_perm",
        "has_permission",
        {
            "auth/perms.py": 'ROLES = {"viewer": {"read"}, "editor": {"read", "write"}}\n\n\n'
            "def chk_perm(role: str, action: str) -> bool:\n"
            "    return action in ROLES.get(role, set())\n",
            "web/views.py": "from auth.perms import chk_perm\n\n\n"
            "def show(request, doc):\n"
            '    if not chk_perm(request.role, "read"):\n        return 403\n'
            "    return doc\n\n\ndef save(request, doc):\n"
            '    if not chk_perm(request.role, "write"):\n        return 403\n'
            "    doc.save()\n    return 204\n",
            "web/admin.py": "from auth.perms import chk_perm\n\n"
            'ADMIN_ACTIONS = [a for a in ("read", "write") if chk_perm("editor", a)]\n',
        },
        ("tests/test_web.py", "web/views.py"),
    ),
)


def rename_tasks() -> list[Task]:
    tasks = []
    for r in _RENAMES:
        (defining, *_), (test_path, used_in) = r.files, r.test
        test_src = suite(
            f"{r.new} is the public name (read by the sandbox's declarative runner).",
            test_defined=[has(defining, f"def {r.new}(")],
            test_used=[has(used_in, f"{r.new}(")],
        )
        expert: list[ToolCall] = [search(r.old)]
        for path, text in r.files.items():
            expert.append(read(path))
            expert += [
                edit(path, line, line.replace(r.old, r.new))
                for line in text.split("\n")
                if r.old in line
            ]
        expert += [search(r.old), run_tests(), finish(f"Renamed {r.old} to {r.new} everywhere.")]
        tasks.append(
            Task(
                id=f"rename/{r.slug}",
                prompt=(
                    f"Rename the function `{r.old}` to `{r.new}` everywhere: its definition, "
                    "every import and call, and any docs that mention it. Nothing may still "
                    f"refer to `{r.old}`. Run the tests, then finish."
                ),
                files={**r.files, test_path: test_src},
                split=r.split,
                tags=("rename", "multi_file", "long"),
                expert=expert,
                checks=suite(
                    test_old_name_gone=[count(p, r.old, 0) for p in r.files],
                    test_new_name_used=[
                        count(p, r.new, text.count(r.old)) for p, text in r.files.items()
                    ],
                ),
            )
        )
    return tasks


@dataclass(frozen=True)
class _Release:
    slug: str
    split: Split
    package: str
    old: str
    new: str
    note: str  # the changelog line for the new version


_RELEASES: tuple[_Release, ...] = (
    _Release("acme-cli", "train", "acme_cli", "0.4.1", "0.5.0", "Add the `acme sync` command."),
    _Release("weatherlib", "train", "weatherlib", "2.3.9", "2.4.0", "Support wind gusts."),
    _Release("tinyorm", "test", "tinyorm", "1.0.0", "1.0.1", "Fix NULL handling in filters."),
)


def version_tasks() -> list[Task]:
    tasks = []
    for r in _RELEASES:
        name = r.package.replace("_", "-")
        pyproject = (
            f'[project]\nname = "{name}"\nversion = "{r.old}"\nrequires-python = ">=3.10"\n'
            f'dependencies = ["httpx>=0.27"]\n\n[project.scripts]\n'
            f'{name} = "{r.package}.cli:main"\n'
        )
        init = f'"""{name}."""\n\n__version__ = "{r.old}"\n'
        changelog = f"# Changelog\n\n## [{r.old}]\n\n- First public release.\n"
        pkg_init = f"{r.package}/__init__.py"
        expert = [
            search(r.old),
            edit("pyproject.toml", f'version = "{r.old}"', f'version = "{r.new}"'),
            edit(pkg_init, f'__version__ = "{r.old}"', f'__version__ = "{r.new}"'),
            read("CHANGELOG.md"),
            edit("CHANGELOG.md", "# Changelog\n", f"# Changelog\n\n## [{r.new}]\n\n- {r.note}\n"),
            search(r.new),
            finish(f"Released {r.new}: version bumped in pyproject and __init__, changelog entry."),
        ]
        tasks.append(
            Task(
                id=f"version-bump/{r.slug}",
                prompt=(
                    f"Release version {r.new} of {name} (currently {r.old}): update the version "
                    f"in pyproject.toml and in {pkg_init}, and add a `## [{r.new}]` section at the "
                    f"top of CHANGELOG.md (above {r.old}) with the entry `- {r.note}`. Finish."
                ),
                files={
                    "pyproject.toml": pyproject,
                    pkg_init: init,
                    "CHANGELOG.md": changelog,
                    "README.md": f"# {name}\n\n```bash\npip install {name}\n```\n",
                },
                split=r.split,
                tags=("version_bump", "multi_file"),
                expert=expert,
                checks=suite(
                    test_versions=[
                        has("pyproject.toml", f'version = "{r.new}"'),
                        has(pkg_init, f'__version__ = "{r.new}"'),
                        lacks("pyproject.toml", r.old),
                        lacks(pkg_init, r.old),
                    ],
                    test_changelog=[
                        has("CHANGELOG.md", f"## [{r.new}]"),
                        has("CHANGELOG.md", f"- {r.note}"),
                        has("CHANGELOG.md", f"## [{r.old}]"),
                        count("CHANGELOG.md", "## [", 2),
                    ],
                ),
            )
        )
    return tasks
