"""Templates: change JSON and YAML configuration files without breaking them.

JSON checks read the final file with a strict parser (``json_get``), so a missing comma, a
trailing comma or a duplicated key fails the task even when the wanted text is present.
YAML checks look for the exact lines, indentation included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent_rl.tasks._build import edit, finish, has, json_is, lacks, read, run_tests, suite
from agent_rl.tasks._model import Split, Task

__all__ = ["json_tasks", "yaml_tasks"]


@dataclass(frozen=True)
class _JsonEdit:
    slug: str
    split: Split
    path: str
    data: dict[str, Any]
    ask: str  # the request, in words
    edits: tuple[tuple[str, str], ...]  # (old, new) against json.dumps(data, indent=2)
    expect: tuple[tuple[tuple[str, ...], Any], ...]  # (key path, value) after the change
    keep: tuple[tuple[str, ...], ...]  # key paths whose value must not change


_JSON: tuple[_JsonEdit, ...] = (
    _JsonEdit(
        "server-timeout",
        "train",
        "config/app.json",
        {
            "server": {"host": "0.0.0.0", "port": 8080},
            "database": {"url": "postgres://db:5432/app", "pool_size": 5},
        },
        'Add a `"timeout": 30` setting (seconds) to the "server" section',
        (('"port": 8080', '"port": 8080,\n    "timeout": 30'),),
        ((("server", "timeout"), 30),),
        (("server", "port"), ("database", "pool_size")),
    ),
    _JsonEdit(
        "http-retries",
        "train",
        "settings.json",
        {
            "http": {"base_url": "https://api.example.com/v2", "verify_tls": True},
            "logging": {"level": "info", "json": False},
        },
        'Add `"retries": 3` to the "http" section, right after "base_url"',
        (
            (
                '"base_url": "https://api.example.com/v2",',
                '"base_url": "https://api.example.com/v2",\n    "retries": 3,',
            ),
        ),
        ((("http", "retries"), 3),),
        (("http", "verify_tls"), ("logging", "level")),
    ),
    _JsonEdit(
        "log-level",
        "train",
        "service/config.json",
        {"name": "orders", "log_level": "info", "workers": 4, "queues": ["default", "email"]},
        'Set "log_level" to "debug" and add a third queue, "reports", at the end of "queues"',
        (
            ('"log_level": "info"', '"log_level": "debug"'),
            ('"email"\n  ]', '"email",\n    "reports"\n  ]'),
        ),
        ((("log_level",), "debug"), (("queues",), ["default", "email", "reports"])),
        (("workers",), ("name",)),
    ),
    _JsonEdit(
        "feature-flag",
        "train",
        "flags.json",
        {"features": {"new_checkout": False, "beta_search": True}, "rollout_percent": 10},
        'Add a feature flag "dark_mode" set to true under "features"',
        (('"beta_search": true', '"beta_search": true,\n    "dark_mode": true'),),
        ((("features", "dark_mode"), True),),
        (("features", "new_checkout"), ("rollout_percent",)),
    ),
    _JsonEdit(
        "cache-section",
        "test",
        "deploy/service.json",
        {"service": "catalog", "replicas": 2, "env": {"REGION": "eu-west-1"}},
        'Add a top-level "cache" section: {"backend": "redis", "ttl_seconds": 600}',
        (
            (
                '"REGION": "eu-west-1"\n  }\n}',
                '"REGION": "eu-west-1"\n  },\n  "cache": {\n    "backend": "redis",\n'
                '    "ttl_seconds": 600\n  }\n}',
            ),
        ),
        ((("cache", "backend"), "redis"), (("cache", "ttl_seconds"), 600)),
        (("replicas",), ("env", "REGION")),
    ),
    _JsonEdit(
        "upload-limits",
        "test",
        "limits.json",
        {"limits": {"max_upload_mb": 10, "max_requests_per_minute": 120}, "strict": True},
        'Raise "max_upload_mb" to 25 and add "max_files": 5 to the "limits" section',
        (
            ('"max_upload_mb": 10', '"max_upload_mb": 25'),
            (
                '"max_requests_per_minute": 120',
                '"max_requests_per_minute": 120,\n    "max_files": 5',
            ),
        ),
        ((("limits", "max_upload_mb"), 25), (("limits", "max_files"), 5)),
        (("limits", "max_requests_per_minute"), ("strict",)),
    ),
)


def _value(data: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        data = data[k]
    return data


def json_tasks() -> list[Task]:
    tasks = []
    for j in _JSON:
        text = json.dumps(j.data, indent=2) + "\n"
        test_src = suite(
            f"{j.path} stays valid (read by the sandbox's declarative runner).",
            test_settings_kept=[json_is(j.path, *k, value=_value(j.data, k)) for k in j.keep],
        )
        expert = [read(j.path)] + [edit(j.path, old, new) for old, new in j.edits]
        expert += [run_tests(), finish(f"{j.ask} in {j.path}.")]
        tasks.append(
            Task(
                id=f"json-config/{j.slug}",
                prompt=f"{j.ask} in {j.path}. Keep the file valid JSON and the other settings "
                "unchanged; run the tests, then finish.",
                files={j.path: text, "tests/test_config.py": test_src},
                split=j.split,
                tags=("config", "json", "edit"),
                expert=expert,
                checks=suite(
                    test_requested_change=[json_is(j.path, *k, value=v) for k, v in j.expect]
                ),
            )
        )
    return tasks


@dataclass(frozen=True)
class _YamlEdit:
    slug: str
    split: Split
    path: str
    text: str
    ask: str
    edits: tuple[tuple[str, str], ...]
    want: tuple[str, ...]  # lines (with their indentation) that must be there afterwards
    gone: tuple[str, ...]  # text that must be gone


_YAML: tuple[_YamlEdit, ...] = (
    _YamlEdit(
        "compose-postgres",
        "train",
        "docker-compose.yml",
        'services:\n  web:\n    build: .\n    ports:\n      - "8000:8000"\n    depends_on:\n'
        "      - db\n  db:\n    image: postgres:15\n    environment:\n"
        "      POSTGRES_PASSWORD: example\n",
        "Upgrade the db service to `postgres:16` and give it `restart: unless-stopped`",
        (("    image: postgres:15\n", "    image: postgres:16\n    restart: unless-stopped\n"),),
        ("    image: postgres:16\n", "  db:\n", "    restart: unless-stopped\n"),
        ("postgres:15",),
    ),
    _YamlEdit(
        "k8s-replicas",
        "train",
        "k8s/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n"
        "  template:\n    spec:\n      containers:\n        - name: api\n"
        "          image: registry.example.com/api:1.8.2\n          env:\n"
        '            - name: PORT\n              value: "8080"\n',
        'Scale the api Deployment to 3 replicas and add an env var LOG_LEVEL with value "debug"',
        (
            ("  replicas: 2\n", "  replicas: 3\n"),
            (
                '              value: "8080"\n',
                '              value: "8080"\n            - name: LOG_LEVEL\n'
                '              value: "debug"\n',
            ),
        ),
        ("  replicas: 3\n", "            - name: LOG_LEVEL\n", '              value: "debug"\n'),
        ("replicas: 2",),
    ),
    _YamlEdit(
        "ci-matrix",
        "train",
        ".github/workflows/ci.yml",
        "name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        '    strategy:\n      matrix:\n        python-version: ["3.10", "3.11"]\n'
        "    steps:\n      - uses: actions/checkout@v4\n"
        "      - uses: actions/setup-python@v5\n        with:\n"
        "          python-version: ${{ matrix.python-version }}\n"
        "      - run: pip install -e .[dev] && pytest -q\n",
        'Add Python "3.12" to the CI test matrix',
        (('python-version: ["3.10", "3.11"]', 'python-version: ["3.10", "3.11", "3.12"]'),),
        ('        python-version: ["3.10", "3.11", "3.12"]\n',),
        ('["3.10", "3.11"]',),
    ),
    _YamlEdit(
        "prometheus",
        "test",
        "monitoring/prometheus.yml",
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n"
        '  - job_name: node\n    static_configs:\n      - targets: ["node:9100"]\n',
        'Scrape every 30s instead of 15s (scrape_interval only) and add a job "api" '
        'scraping "api:9100"',
        (
            ("  scrape_interval: 15s\n", "  scrape_interval: 30s\n"),
            (
                '      - targets: ["node:9100"]\n',
                '      - targets: ["node:9100"]\n  - job_name: api\n    static_configs:\n'
                '      - targets: ["api:9100"]\n',
            ),
        ),
        (
            "  scrape_interval: 30s\n",
            "  evaluation_interval: 15s\n",
            "  - job_name: api\n",
            '      - targets: ["api:9100"]\n',
        ),
        ("scrape_interval: 15s",),
    ),
)


def yaml_tasks() -> list[Task]:
    tasks = []
    for y in _YAML:
        expert = [read(y.path)] + [edit(y.path, old, new) for old, new in y.edits]
        expert += [read(y.path), finish(f"{y.ask} in {y.path}.")]
        tasks.append(
            Task(
                id=f"yaml-config/{y.slug}",
                prompt=f"{y.ask} in {y.path}. Keep the YAML indentation style of the file; "
                "then finish.",
                files={y.path: y.text},
                split=y.split,
                tags=("config", "yaml", "edit"),
                expert=expert,
                checks=suite(
                    test_requested_change=[has(y.path, w) for w in y.want]
                    + [lacks(y.path, g) for g in y.gone]
                ),
            )
        )
    return tasks
