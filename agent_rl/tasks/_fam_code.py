"""Procedural families over small code bases: fix, update a JSON config, rename, add a test.

Names (packages, modules, functions, constants, config keys) are drawn from one split's pool;
paths the prompt does not give must be copied from an observation (``search``, ``list_dir``,
``run_tests``). Every edit's ``old`` text is a whole line that occurs once in its file.
Validation and ids live in :mod:`agent_rl.tasks.families`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent_rl.tasks._build import (
    count,
    edit,
    exists,
    finish,
    has,
    json_is,
    lacks,
    ls,
    read,
    run_tests,
    same,
    search,
    suite,
    write,
)
from agent_rl.tasks._pools import Draft, Gen
from agent_rl.verdicts import ToolCall

__all__ = ["add_test", "config_update", "find_and_fix", "multi_file_rename"]


def _function(name: str, a: str, b: str, body: str, returns: str = "int") -> str:
    return f"def {name}({a}: int, {b}: int) -> {returns}:\n    return {body}\n"


def find_and_fix(g: Gen) -> Draft:
    """Fix one wrong line the prompt or a failing test points at: 5-6 steps."""
    pkg, mod, other_mod, fn, f2, f3 = g.words(6)
    a, b, c, d, e, h = g.words(6)
    name = "_".join(g.words(2)).upper()
    src, test = f"src/{pkg}/{mod}.py", f"tests/test_{mod}.py"
    kind = g.randint(0, 3)
    if kind == 0:
        bug, fix = f"return {a} - {b}", f"return {a} + {b}"
        what, ident = f"`{fn}({a}, {b})` should return `{a} + {b}`, but it subtracts", fn
    elif kind == 1:
        bug, fix = f"return {a} < {b}", f"return {a} <= {b}"
        what, ident = f"`{fn}` must also accept equal values: it should return `{a} <= {b}`", fn
    elif kind == 2:
        n = g.randint(2, 500)
        m = n + g.randint(1, 99)
        while str(m).startswith(str(n)):  # "X = 6" must not survive inside "X = 60"
            m += 1
        bug, fix = f"{name} = {n}", f"{name} = {m}"
        what, ident = f"`{name}` must be {m}, not {n}", name
    else:
        w1, w2, w3 = g.words(3)
        bug = f'{name} = "C:\\\\{w1.title()}\\\\{w2}"'
        fix = f'{name} = "D:\\\\{w1.title()}\\\\{w3}"'
        what, ident = f"`{name}` must be the Windows folder `D:\\{w1.title()}\\{w3}`", name
    code = (
        f'"""{pkg.title()} {mod} helpers."""\n\n'
        + (f"{bug}\n\n\n" if kind >= 2 else "\n")
        + _function(
            fn,
            a,
            b,
            bug.removeprefix("return ") if kind < 2 else f"{a} * {b}",
            "bool" if kind == 1 else "int",
        )
        + "\n\n"
        + _function(f2, c, d, f"{c} // {d}")
    )
    files = {
        src: code,
        f"src/{pkg}/__init__.py": f"from {pkg}.{mod} import {fn}, {f2}\n",
        f"src/{pkg}/{other_mod}.py": _function(f3, e, h, f"max({e}, {h})"),
        test: suite(
            f"Tests for {src}.",
            **{
                f"test_{fn}": [f"assert {fix!r} in read({src!r}), {f'{ident} is wrong'!r}"],
                f"test_{f2}_exists": [has(src, f"def {f2}(")],
            },
        ),
    }
    if g.randint(0, 1):
        prompt = g.choice(
            [
                f"{what}. Find where it is defined, fix that line, run the tests, then finish.",
                f"Bug report: {what}. Search the code for its definition, correct that line, "
                "run the tests and finish.",
            ]
        )
        look = (
            search(ident)
            if g.randint(0, 1)
            else ToolCall("search", {"query": ident, "path": "src", "max_results": 5})
        )
        expert = [look, read(src), edit(src, bug, fix), run_tests(), finish(f"Fixed {ident}.")]
    else:
        prompt = g.choice(
            [
                f"A test in {test} fails. Run the tests, find the bug in the code under test (not "
                "in the tests), fix it, check that all tests pass, then finish.",
                f"The test suite is red: a test in {test} fails. Find the bug in the code it "
                "tests (leave the tests alone), fix it, make sure all tests pass, then finish.",
            ]
        )
        expert = [
            run_tests(),
            read(test),
            read(src),
            edit(src, bug, fix),
            run_tests(test),
            finish(f"Fixed the bug in {src}: `{bug}` was wrong."),
        ]
    return Draft(
        prompt,
        files,
        expert,
        suite(
            test_fixed=[has(src, fix), lacks(src, bug), same(src, code.replace(bug, fix))],
            test_tests_untouched=[same(test, files[test])],
        ),
        ("fix", "edit"),
    )


def _value(g: Gen, kind: int) -> Any:
    if kind == 0:
        return g.randint(0, 9000)
    if kind == 1:
        return g.randint(0, 1) == 1
    w1, w2 = g.words(2)
    return g.choice(
        [
            f"C:\\{w1.title()}\\{w2}",
            f"{w1} {g.uni()} {w2}",
            f'{w1} "{w2}"',
            f"^{w1}-\\d+$",
            f"{w1}/{w2}",
        ]
    )


def _entry(key: str, value: Any) -> str:
    return f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"


def config_update(g: Gen) -> Draft:
    """Change or add one setting of a JSON config, run its tests: 4-5 steps."""
    stem = g.word()
    path = f"config/{stem}.json"
    n_sections = g.randint(2, 3)
    names = g.words(n_sections * 4 + 1)  # sections and keys: all distinct
    sections, keys = names[:n_sections], iter(names[n_sections:])
    data: dict[str, dict[str, Any]] = {
        s: {next(keys): _value(g, g.randint(0, 2)) for _ in range(g.randint(2, 3))}
        for s in sections
    }
    section = g.choice(sections)
    kind = g.randint(0, 2)
    if g.randint(0, 2) == 0:  # add a key after the section's last one
        key, value = next(keys), _value(g, kind)
        last = list(data[section])[-1]
        old = _entry(last, data[section][last])
        new = old + ",\n    " + _entry(key, value)
        ask = f"Add a `{_entry(key, value)}` setting to the {json.dumps(section)} section"
    else:
        key = g.choice(list(data[section]))
        value = _value(g, kind)
        while value == data[section][key] or type(value) is not type(data[section][key]):
            value = _value(g, g.randint(0, 2))
        old, new = _entry(key, data[section][key]), _entry(key, value)
        shown = json.dumps(value, ensure_ascii=False)
        ask = f"Set {json.dumps(key)} in the {json.dumps(section)} section to `{shown}`"
    content = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    after = {s: dict(v) for s, v in data.items()}
    after[section][key] = value
    test = f"tests/test_{stem}_config.py"
    keep_s, keep_k = next((s, k) for s in sections for k in data[s] if (s, k) != (section, key))
    files = {
        path: content,
        f"config/{g.word()}.ini": f"[{g.word()}]\n{g.word()} = {g.randint(1, 99)}\n",
        test: suite(
            f"Checks of {path}.",
            **{
                f"test_{key}": [json_is(path, section, key, value=value)],
                f"test_{keep_k}": [json_is(path, keep_s, keep_k, value=data[keep_s][keep_k])],
            },
        ),
    }
    if g.randint(0, 1):
        prompt = g.choice(
            [
                f"{ask} in {path}. Keep the file valid JSON and the other settings unchanged; "
                "run the tests, then finish.",
                f"{ask} in {path}; the file must stay valid JSON, with every other setting as it "
                "is. Run the tests, then finish.",
            ]
        )
        expert = [read(path)]
    else:
        prompt = (
            f"{ask} in the JSON config file under config/. Keep the file valid JSON and the "
            "other settings unchanged; run the tests, then finish."
        )
        expert = [ls("config"), read(path)]
    expert += [
        edit(path, old, new),
        run_tests() if g.randint(0, 1) else run_tests("tests"),
        finish(f"Updated {key} in {path}."),
    ]
    checks = [json_is(path, s, k, value=v) for s, kv in after.items() for k, v in kv.items()]
    checks.append(count(path, f"{json.dumps(key)}:", 1))
    return Draft(prompt, files, expert, suite(test_config=checks), ("config", "json", "edit"))


def multi_file_rename(g: Gen) -> Draft:
    """Rename a function in its definition, imports, calls and docs: 8-12 steps."""
    pkg, m1, m2, m3, f2, f3, p, q, r = g.words(9)
    old, new = "_".join(g.words(2)), "_".join(g.words(2))
    def_file = f"src/{pkg}/{m1}.py"
    files: dict[str, str] = {
        def_file: f'"""{pkg.title()} {m1} helpers."""\n\n\n'
        f"def {old}({p}: str) -> str:\n    return {p}.strip()\n"
    }
    shape = g.randint(0, 3)  # 0: +docs, 1: +caller, 2: +caller +docs, 3: +2 callers
    callers = [(m2, f2, q), (m3, f3, r)][: (0, 1, 1, 2)[shape]]
    for mod, fn, arg in callers:
        files[f"src/{pkg}/{mod}.py"] = (
            f"from {pkg}.{m1} import {old}\n\n\n"
            f"def {fn}({arg}: str) -> str:\n    return {old}({arg}).upper()\n"
        )
    if shape in (0, 2):
        files[f"docs/{pkg}.md"] = (
            f"# {pkg.title()}\n\nCall `{old}(text)` from {def_file} to tidy a string.\n"
        )
    first = next(iter(callers), None)
    checks_of_tests = {f"test_{new}_defined": [has(def_file, f"def {new}(")]}
    if first is not None:
        checks_of_tests[f"test_{first[1]}_uses_it"] = [
            has(f"src/{pkg}/{first[0]}.py", f"import {new}")
        ]
    test = f"tests/test_{pkg}.py"
    files[test] = suite(f"Tests for the {pkg} package.", **checks_of_tests)
    expert: list[ToolCall] = [search(old)]
    hidden = [has(def_file, f"def {new}(")]
    for path, text in files.items():
        if old not in text:
            continue
        expert.append(read(path))
        for line in text.splitlines():
            if old in line:
                expert.append(edit(path, line, line.replace(old, new)))
        hidden += [lacks(path, old), same(path, text.replace(old, new))]
    expert += [search(old), run_tests(), finish(f"Renamed {old} to {new} everywhere.")]
    prompt = g.choice(
        [
            f"Rename the function `{old}` to `{new}` everywhere: its definition, every import "
            f"and call, and any docs that mention it. Nothing may still refer to `{old}`. Run the "
            "tests, then finish.",
            f"`{old}` is a poor name: rename the function to `{new}` in its definition, every "
            f"import and call, and the docs. No reference to `{old}` may remain. Run the tests, "
            "then finish.",
        ]
    )
    return Draft(prompt, files, expert, suite(test_renamed=hidden), ("rename", "multi_file"))


def add_test(g: Gen) -> Draft:
    """Write a declarative test for a line of a module, run just that file: 5 steps."""
    pkg, mod, other, name, other_name = g.words(5)
    src, other_src = f"src/{pkg}/{mod}.py", f"src/{pkg}/{other}.py"
    lines = g.lines(g.randint(3, 6))
    while all("\\" in x for x in lines):  # the asserted line: quotes, but no backslashes
        lines = g.lines(len(lines))
    k = g.rng.choice([i for i, x in enumerate(lines, 1) if "\\" not in x])
    line = lines[k - 1]
    example = g.lines(1, avoid=lines)[0]
    ex_test, new_test = f"tests/test_{other}.py", f"tests/test_{mod}.py"
    files = {
        src: "\n".join(lines) + "\n",
        other_src: example + "\n",
        ex_test: suite(
            f"Tests for {other_src}.", **{f"test_{other_name}": [has(other_src, example)]}
        ),
    }
    source = suite(f"Tests for {src}.", **{f"test_{name}": [has(src, line)]})
    prompt = g.choice(
        [
            f"Add {new_test} with one test, `test_{name}`, asserting that {src} contains line "
            f"{k} of it exactly, in the same declarative style as {ex_test}. Run the new test "
            "file, then finish.",
            f"Write {new_test}: one test named `test_{name}` that asserts {src} contains its "
            f"line {k} exactly, in the declarative style of {ex_test}. Run that test file, then "
            "finish.",
        ]
    )
    expert = [
        read(ex_test),
        read(src, k, k),
        write(new_test, source),
        run_tests(new_test),
        finish(f"Added {new_test}."),
    ]
    # Any quoting of the asserted line is fine; the workspace's tests must pass at the end.
    words = [w for w in re.findall(r"[a-z]+", line) if w in g.pool.words]
    checks = [exists(new_test), has(new_test, f"def test_{name}()"), has(new_test, src)]
    checks += [has(new_test, w) for w in dict.fromkeys(words)]
    return Draft(prompt, files, expert, suite(test_new_test=checks), ("new_test", "write"))
