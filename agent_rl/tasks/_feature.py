"""Templates: small features that span several files, 8-12 expert steps each.

Each is written out by hand (code, docs, tests) because what makes them realistic is the
plumbing: a setting defined in one module, imported in another, passed by a caller, documented
and tested. The prompt states every name and value the checks look for.
"""

from __future__ import annotations

from agent_rl.tasks._build import (
    edit,
    exists,
    finish,
    has,
    json_is,
    lacks,
    read,
    run_tests,
    same,
    search,
    suite,
    write,
)
from agent_rl.tasks._model import Task

__all__ = ["feature_tasks"]

_FEATURE = ("feature", "multi_file", "long")


def _http_timeout() -> Task:
    settings, http, job, docs = (
        "src/client/settings.py",
        "src/client/http.py",
        "src/jobs/healthcheck.py",
        "docs/client.md",
    )
    files = {
        settings: 'BASE_URL = "https://api.example.com"\nUSER_AGENT = "acme-client/1.2"\n',
        http: "import httpx\n\nfrom client.settings import BASE_URL, USER_AGENT\n\n\n"
        "def fetch(path: str) -> dict:\n"
        '    headers = {"User-Agent": USER_AGENT}\n'
        '    response = httpx.get(f"{BASE_URL}{path}", headers=headers)\n'
        "    response.raise_for_status()\n    return response.json()\n",
        job: "from client.http import fetch\n\n\ndef healthy() -> bool:\n"
        '    return fetch("/health").get("status") == "ok"\n',
        docs: "# Client\n\n`fetch(path)` GETs `BASE_URL + path` and returns the JSON body.\n",
        "tests/test_client.py": suite(
            test_default_timeout=[has(settings, "DEFAULT_TIMEOUT = 10.0")],
            test_fetch_passes_timeout=[has(http, "timeout=timeout")],
        ),
    }
    expert = [
        search("fetch("),
        read(settings),
        edit(
            settings,
            'USER_AGENT = "acme-client/1.2"\n',
            'USER_AGENT = "acme-client/1.2"\nDEFAULT_TIMEOUT = 10.0\n',
        ),
        read(http),
        edit(http, "import BASE_URL, USER_AGENT", "import BASE_URL, DEFAULT_TIMEOUT, USER_AGENT"),
        edit(
            http,
            "def fetch(path: str) -> dict:",
            "def fetch(path: str, timeout: float = DEFAULT_TIMEOUT) -> dict:",
        ),
        edit(http, "headers=headers)", "headers=headers, timeout=timeout)"),
        edit(job, 'fetch("/health")', 'fetch("/health", timeout=2.0)'),
        edit(
            docs,
            "returns the JSON body.\n",
            "returns the JSON body.\n\n`timeout` (seconds, default `DEFAULT_TIMEOUT` = 10.0) "
            "bounds the whole request.\n",
        ),
        run_tests(),
        finish("fetch() takes a timeout (default DEFAULT_TIMEOUT=10.0); healthcheck uses 2.0."),
    ]
    return Task(
        id="feature/http-timeout",
        prompt=(
            f"Requests from our HTTP client can hang forever. Add `DEFAULT_TIMEOUT = 10.0` to "
            f"{settings}; give `fetch` in {http} a parameter `timeout: float = DEFAULT_TIMEOUT` "
            "and pass `timeout=timeout` to `httpx.get`; make the health check in "
            f'{job} call `fetch("/health", timeout=2.0)`; mention the timeout in {docs}. '
            "Run the tests, then finish."
        ),
        files=files,
        split="train",
        tags=_FEATURE,
        expert=expert,
        checks=suite(
            test_setting=[has(settings, "DEFAULT_TIMEOUT = 10.0")],
            test_fetch=[
                has(http, "DEFAULT_TIMEOUT"),
                has(http, "timeout: float = DEFAULT_TIMEOUT"),
                has(http, "timeout=timeout"),
            ],
            test_caller=[has(job, 'fetch("/health", timeout=2.0)')],
            test_docs=[has(docs, "timeout")],
        ),
    )


def _cli_subcommand() -> Task:
    main, cmd, readme = "todo/cli.py", "todo/commands/stats.py", "README.md"
    stats_src = (
        '"""`todo stats`: how many tasks are open and done."""\n\nfrom todo.store import load\n\n\n'
        "def run(args) -> int:\n    tasks = load(args.file)\n"
        '    done = sum(t["done"] for t in tasks)\n'
        '    print(f"{len(tasks) - done} open, {done} done")\n    return 0\n'
    )
    files = {
        main: "import argparse\n\nfrom todo.commands import add, listing\n\n"
        'COMMANDS = {\n    "add": add.run,\n    "list": listing.run,\n}\n\n\n'
        'def main(argv=None) -> int:\n    parser = argparse.ArgumentParser(prog="todo")\n'
        '    parser.add_argument("command", choices=sorted(COMMANDS))\n'
        '    parser.add_argument("--file", default="todo.json")\n'
        "    args = parser.parse_args(argv)\n    return COMMANDS[args.command](args)\n",
        "todo/commands/__init__.py": "",
        "todo/commands/add.py": "from todo.store import load, save\n\n\ndef run(args) -> int:\n"
        "    tasks = load(args.file)\n"
        '    tasks.append({"title": input("title: "), "done": False})\n'
        "    save(args.file, tasks)\n    return 0\n",
        "todo/commands/listing.py": "from todo.store import load\n\n\ndef run(args) -> int:\n"
        "    for t in load(args.file):\n"
        '        print(("[x] " if t["done"] else "[ ] ") + t["title"])\n'
        "    return 0\n",
        "todo/store.py": "import json\nfrom pathlib import Path\n\n\ndef load(path):\n"
        "    p = Path(path)\n    return json.loads(p.read_text()) if p.exists() else []\n\n\n"
        "def save(path, tasks):\n    Path(path).write_text(json.dumps(tasks, indent=2))\n",
        readme: "# todo\n\n## Commands\n\n- `todo add`: add a task\n- `todo list`: list tasks\n",
        "tests/test_cli.py": suite(
            test_commands_registered=[has(main, '"add": add.run'), has(main, '"list": listing.run')]
        ),
    }
    expert = [
        read(main),
        read("todo/commands/listing.py"),
        write(cmd, stats_src),
        edit(main, "import add, listing", "import add, listing, stats"),
        edit(
            main,
            '    "list": listing.run,\n',
            '    "list": listing.run,\n    "stats": stats.run,\n',
        ),
        read(readme),
        edit(
            readme,
            "- `todo list`: list tasks\n",
            "- `todo list`: list tasks\n- `todo stats`: count open and done tasks\n",
        ),
        run_tests(),
        finish("Added `todo stats` (todo/commands/stats.py), registered and documented."),
    ]
    return Task(
        id="feature/cli-stats",
        prompt=(
            "Add a `todo stats` subcommand that prints how many tasks are open and done. Put it "
            f"in {cmd} with a `run(args) -> int` function like the other commands, register it "
            f'in COMMANDS in {main} as `"stats": stats.run`, and list `todo stats` under '
            f"Commands in {readme}. Run the tests, then finish."
        ),
        files=files,
        split="train",
        tags=_FEATURE,
        expert=expert,
        checks=suite(
            test_command_module=[exists(cmd), has(cmd, "def run(args")],
            test_registered=[has(main, '"stats": stats.run'), has(main, "stats")],
            test_documented=[has(readme, "`todo stats`"), has(readme, "`todo list`")],
        ),
    )


def _model_field() -> Task:
    model, ser, fixture = "shop/models.py", "shop/serializers.py", "fixtures/customers.json"
    files = {
        model: "from dataclasses import dataclass\n\n\n@dataclass\nclass Customer:\n"
        "    id: int\n    name: str\n    vip: bool = False\n",
        ser: "from shop.models import Customer\n\n\ndef to_dict(c: Customer) -> dict:\n"
        '    return {"id": c.id, "name": c.name, "vip": c.vip}\n',
        fixture: '[\n  {"id": 1, "name": "Ada", "vip": true},\n'
        '  {"id": 2, "name": "Linus", "vip": false}\n]\n',
        "tests/test_models.py": suite(
            test_fixture_ids=[
                json_is(fixture, 0, "id", value=1),
                json_is(fixture, 1, "id", value=2),
            ]
        ),
    }
    expert = [
        search("class Customer"),
        read(model),
        edit(model, "    vip: bool = False\n", '    vip: bool = False\n    email: str = ""\n'),
        read(ser),
        edit(ser, '"vip": c.vip}', '"vip": c.vip, "email": c.email}'),
        read(fixture),
        edit(
            fixture,
            '"name": "Ada", "vip": true}',
            '"name": "Ada", "vip": true, "email": "ada@example.com"}',
        ),
        edit(
            fixture,
            '"name": "Linus", "vip": false}',
            '"name": "Linus", "vip": false, "email": "linus@example.com"}',
        ),
        run_tests(),
        finish("Customer has an email field, serialised and present in the fixture."),
    ]
    return Task(
        id="feature/customer-email",
        prompt=(
            f'Customers need an e-mail address. Add `email: str = ""` as the last field of '
            f'Customer in {model}, include `"email": c.email` in `to_dict` in {ser}, and give '
            f"both customers in {fixture} an email: ada@example.com and linus@example.com. "
            "Run the tests, then finish."
        ),
        files=files,
        split="train",
        tags=(*_FEATURE, "json"),
        expert=expert,
        checks=suite(
            test_model=[has(model, 'email: str = ""')],
            test_serializer=[has(ser, '"email": c.email')],
            test_fixture=[
                json_is(fixture, 0, "email", value="ada@example.com"),
                json_is(fixture, 1, "email", value="linus@example.com"),
                json_is(fixture, 0, "vip", value=True),
            ],
        ),
    )


def _pool_setting() -> Task:
    settings, pool, env, docs = (
        "app/settings.py",
        "app/db/pool.py",
        ".env.example",
        "docs/config.md",
    )
    files = {
        settings: 'import os\n\nDATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/app")\n',
        pool: "from app import settings\nfrom app.db.driver import connect\n\n\n"
        "def make_pool():\n    return [connect(settings.DATABASE_URL) for _ in range(10)]\n",
        env: "DATABASE_URL=postgres://localhost/app\n",
        docs: "# Configuration\n\n| Variable | Default |\n|---|---|\n"
        "| `DATABASE_URL` | `postgres://localhost/app` |\n",
        "tests/test_settings.py": suite(test_url=[has(settings, '"DATABASE_URL"')]),
    }
    expert = [
        search("range(10)"),
        read(settings),
        edit(
            settings,
            '"postgres://localhost/app")\n',
            '"postgres://localhost/app")\n'
            'MAX_CONNECTIONS = int(os.environ.get("MAX_CONNECTIONS", "10"))\n',
        ),
        read(pool),
        edit(pool, "range(10)", "range(settings.MAX_CONNECTIONS)"),
        read(env),
        edit(env, "postgres://localhost/app\n", "postgres://localhost/app\nMAX_CONNECTIONS=10\n"),
        read(docs),
        edit(
            docs,
            "`postgres://localhost/app` |\n",
            "`postgres://localhost/app` |\n| `MAX_CONNECTIONS` | `10` |\n",
        ),
        run_tests(),
        finish("The pool size comes from MAX_CONNECTIONS (default 10), documented."),
    ]
    return Task(
        id="feature/pool-size-setting",
        prompt=(
            f"The database pool size is hard-coded to 10 in {pool}. Make it configurable: in "
            f'{settings} add `MAX_CONNECTIONS = int(os.environ.get("MAX_CONNECTIONS", "10"))`, '
            f"use `settings.MAX_CONNECTIONS` in {pool}, add `MAX_CONNECTIONS=10` to {env} and a "
            f"`MAX_CONNECTIONS` row (default `10`) to the table in {docs}. Run the tests, finish."
        ),
        files=files,
        split="test",
        tags=_FEATURE,
        expert=expert,
        checks=suite(
            test_setting=[
                has(settings, 'MAX_CONNECTIONS = int(os.environ.get("MAX_CONNECTIONS", "10"))')
            ],
            test_pool=[has(pool, "settings.MAX_CONNECTIONS"), lacks(pool, "range(10)")],
            test_env_and_docs=[
                has(env, "MAX_CONNECTIONS=10\n"),
                has(docs, "| `MAX_CONNECTIONS` |"),
            ],
        ),
    )


def _email_cc() -> Task:
    mail, signup, billing = "notify/mail.py", "accounts/signup.py", "billing/receipts.py"
    files = {
        mail: "import smtplib\nfrom email.message import EmailMessage\n\n\n"
        "def send_email(to: str, subject: str, body: str) -> None:\n"
        '    msg = EmailMessage()\n    msg["To"] = to\n    msg["Subject"] = subject\n'
        "    msg.set_content(body)\n"
        '    with smtplib.SMTP("localhost") as smtp:\n        smtp.send_message(msg)\n',
        signup: "from notify.mail import send_email\n\n\ndef welcome(user) -> None:\n"
        '    send_email(user.email, "Welcome!", f"Hi {user.name}, thanks for signing up.")\n',
        billing: 'from notify.mail import send_email\n\nFINANCE = "finance@example.com"\n\n\n'
        "def send_receipt(order) -> None:\n"
        '    send_email(order.email, f"Receipt #{order.id}", order.receipt_text())\n',
        "tests/test_mail.py": suite(test_signature=[has(mail, "def send_email(")]),
    }
    expert = [
        search("send_email("),
        read(mail),
        edit(mail, "body: str) -> None:", "body: str, cc: list[str] | None = None) -> None:"),
        edit(
            mail,
            '    msg["Subject"] = subject\n',
            '    msg["Subject"] = subject\n    if cc:\n        msg["Cc"] = ", ".join(cc)\n',
        ),
        read(billing),
        edit(billing, "order.receipt_text())", "order.receipt_text(), cc=[FINANCE])"),
        run_tests(),
        search("send_email("),
        finish("send_email takes an optional cc; receipts copy finance."),
    ]
    return Task(
        id="feature/email-cc",
        prompt=(
            f"Finance wants a copy of every receipt. Give `send_email` in {mail} an optional "
            '`cc: list[str] | None = None` parameter that sets the `msg["Cc"]` header (joined '
            f'with ", ") when given, and make `send_receipt` in {billing} pass `cc=[FINANCE]`. '
            f"The welcome mail in {signup} must not change. Run the tests, then finish."
        ),
        files=files,
        split="test",
        tags=_FEATURE,
        expert=expert,
        checks=suite(
            test_signature=[has(mail, "cc: list[str] | None = None"), has(mail, 'msg["Cc"]')],
            test_receipt=[has(billing, "cc=[FINANCE]")],
            test_welcome_unchanged=[same(signup, files[signup])],
        ),
    )


def feature_tasks() -> list[Task]:
    return [_http_timeout(), _cli_subcommand(), _model_field(), _pool_setting(), _email_cc()]
