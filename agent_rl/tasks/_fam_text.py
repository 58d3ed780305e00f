"""Procedural families over text files: exact writes, line edits, appends, copy by line range.

Each generator takes a :class:`~agent_rl.tasks._pools.Gen` and returns a
:class:`~agent_rl.tasks._pools.Draft` whose expert solves it; contents come from
``Gen.lines`` (quotes, backslashes, tabs, JSON fragments, non-ASCII), so every write or edit
argument needs real JSON escaping. Success is exact file equality. Validation and ids live in
:mod:`agent_rl.tasks.families`.
"""

from __future__ import annotations

import json

from agent_rl.tasks._build import edit, exists, finish, ls, read, same, suite, write
from agent_rl.tasks._pools import DIRS, Draft, Gen
from agent_rl.verdicts import ToolCall

__all__ = ["append_log", "edit_line", "explore_and_read", "write_exact"]

_EXACT = (
    "(every character counts: quotes, backslashes, tabs, unicode; the file ends with one newline)"
)


def _fence(text: str) -> str:
    """``text`` (ending with a newline) between four-backtick fences."""
    return f"````\n{text}````"


def write_exact(g: Gen) -> Draft:
    """Create (or overwrite) a file with fenced exact text: 3-4 steps."""
    path = g.path()
    folder = path.split("/")[0]
    lines = g.lines(g.randint(2, 6))
    content = "\n".join(lines) + "\n"
    what = f"the {g.word()} {g.word()} file"
    files = {f"{folder}/README.md": f"# {folder}\n\nFiles of the {g.word()} {g.word()}.\n"}
    if g.randint(0, 2) == 0:  # the file exists: read it, then replace its whole content
        files[path] = "\n".join(g.lines(g.randint(1, 3), avoid=lines)) + "\n"
        prompt = g.choice(
            [
                f"Replace the whole content of {path}, {what}, with exactly the text between "
                f"the fences below {_EXACT}. Then finish.",
                f"{path} ({what}) is outdated. Overwrite it so that it holds exactly the fenced "
                f"text below {_EXACT}, then finish.",
            ]
        )
        expert = [read(path), write(path, content), finish(f"Rewrote {path}.")]
    else:
        exact = _EXACT
        if path.endswith(".bat"):  # Windows line endings: a carriage return before each newline
            content = "\r\n".join(lines) + "\r\n"
            exact = _EXACT.replace("the file ends with one newline", "every line ends with CRLF")
        prompt = g.choice(
            [
                f"Create {path}, {what}, with exactly the text between the fences below {exact}. "
                "Then finish.",
                f"Write a new file {path} ({what}) whose content is exactly the fenced text below "
                f"{exact}. Then finish.",
                f"We need {what} at {path}. Create it with exactly this text {exact}, then finish.",
            ]
        )
        look = ls(folder) if g.randint(0, 1) else ls()
        expert = [look, write(path, content), read(path), finish(f"Created {path}.")]
    return Draft(
        f"{prompt}\n\n{_fence(content)}",
        files,
        expert,
        suite(test_exact_content=[exists(path), same(path, content)]),
        ("escaping", "write"),
    )


def edit_line(g: Gen) -> Draft:
    """Replace one line of a file, given as text or as a line number: 3-4 steps."""
    path = g.path()
    lines = g.lines(g.randint(3, 7))
    k = g.randint(1, len(lines))
    old, new = lines[k - 1], g.lines(1, avoid=lines)[0]
    content = "\n".join(lines) + "\n"
    after = "\n".join([*lines[: k - 1], new, *lines[k:]]) + "\n"
    files = {path: content}
    if g.randint(0, 1):
        prompt = g.choice(
            [
                f"In {path}, replace the line\n\n{_fence(old + chr(10))}\n\nwith exactly\n\n"
                f"{_fence(new + chr(10))}\n\n(every character counts). Then finish.",
                f"Change this line of {path}:\n\n{_fence(old + chr(10))}\n\ninto exactly this "
                f"one (every character counts):\n\n{_fence(new + chr(10))}\n\nThen finish.",
            ]
        )
        expert = [read(path), edit(path, old, new), finish(f"Replaced one line of {path}.")]
    else:
        prompt = (
            f"Line {k} of {path} is out of date. Change it to exactly the text between the "
            f"fences below (every character counts) and leave the other lines as they are. "
            f"Then finish.\n\n{_fence(new + chr(10))}"
        )
        expert = [
            read(path, k, k),
            edit(path, old, new),
            read(path),
            finish(f"Line {k} of {path} updated."),
        ]
    return Draft(
        prompt,
        files,
        expert,
        suite(test_line_replaced=[same(path, after)]),
        ("escaping", "edit"),
    )


def _record(g: Gen) -> str:
    """One JSON Lines record whose strings hold quotes, backslashes or non-ASCII text."""
    a, b, c = g.words(3)
    values = (
        f'{a} said "{b}"',
        f"C:\\{a.title()}\\{b}.log",
        f"{a} {g.uni()} {b}",
        f"{a}\t{b}",
        f"^{a}\\d+$",
    )
    record = {"event": a, "detail": g.choice(values), "n": g.randint(0, 999)}
    if g.randint(0, 1):
        record[c] = g.choice(values)
    return json.dumps(record, ensure_ascii=False)


def append_log(g: Gen) -> Draft:
    """Append a JSON Lines record to a log, by edit or by rewrite, then check it: 4 steps."""
    path = f"logs/{g.ident()}.jsonl"
    lines: list[str] = []
    count = g.randint(2, 4)
    while len(lines) < count:
        rec = _record(g)
        if all(rec not in x and x not in rec for x in lines):
            lines.append(rec)
    entry = _record(g)
    while any(entry in x or x in entry for x in lines):
        entry = _record(g)
    content = "\n".join(lines) + "\n"
    after = content + entry + "\n"
    n = len(lines) + 1
    prompt = g.choice(
        [
            f"{path} is a JSON Lines log (one JSON object per line). Append the record between "
            "the fences below as its new last line, exactly as written, keeping the existing "
            "lines. Then read the new line back and finish.",
            f"Add one record to the JSON Lines log {path}: append the line between the fences "
            "below at the end of the file, exactly as written (keep the existing lines), read "
            "it back, then finish.",
        ]
    )
    prompt += f"\n\n{_fence(entry + chr(10))}"
    change = (
        edit(path, lines[-1], lines[-1] + "\n" + entry) if g.randint(0, 1) else write(path, after)
    )
    expert = [read(path), change, read(path, n, n), finish(f"Appended one record to {path}.")]
    return Draft(
        prompt,
        {path: content, "README.md": f"# {g.word()}\n\nLogs live in logs/.\n"},
        expert,
        suite(test_record_appended=[same(path, after)]),
        ("escaping", "json", "append"),
    )


def explore_and_read(g: Gen) -> Draft:
    """Find the one file of a kind with list_dir, copy a line range of it: 5-6 steps."""
    nested = g.randint(0, 1) == 1
    base = g.choice(DIRS)
    folder = f"{base}/{g.word()}" if nested else base
    exts = [".cfg", ".csv", ".ini", ".txt", ".md", ".py"]
    g.rng.shuffle(exts)
    target_ext, others = exts[0], exts[1 : g.randint(3, 5)]
    stems = g.words(len(others) + 1)
    target = f"{folder}/{stems[0]}{target_ext}"
    files = {
        f"{folder}/{s}{e}": "\n".join(g.lines(g.randint(2, 4))) + "\n"
        for s, e in zip(stems[1:], others, strict=True)
    }
    if nested:
        files[f"{base}/README.md"] = f"# {base}\n\nThe {g.word()} files are in folders below.\n"
    body = g.lines(g.randint(4, 8))
    files[target] = "\n".join(body) + "\n"
    n = len(body)
    mode = g.randint(0, 3)  # 0-1: lines a to b, 2: line a to the end, 3: the first b lines
    if mode == 2:
        a, b = g.randint(max(2, n - 3), n), n
        lines_asked, reading = f"lines {a} to the end", read(target, a)
    elif mode == 3:
        a, b = 1, g.randint(2, 4)
        lines_asked = f"the first {b} lines"
        reading = ToolCall("read_file", {"path": target, "end_line": b})
    else:
        a = g.randint(1, n - 1)
        b = g.randint(a + 1, min(n, a + 3))
        lines_asked, reading = f"lines {a} to {b}", read(target, a, b)
    copied = "\n".join(body[a - 1 : b]) + "\n"
    dest = f"notes/{g.ident()}.txt"
    where = f"{folder}/" if not nested else f"the {folder.split('/')[1]} folder under {base}/"
    prompt = g.choice(
        [
            f"Copy {lines_asked} of the only {target_ext} file in {where} into a new file "
            f"{dest}: the same text exactly, one line per line, ending with a newline. Then "
            "finish.",
            f"There is exactly one {target_ext} file in {where}. Copy {lines_asked} of it, "
            f"exactly as they are, into a new file {dest} (ending with a newline), then finish.",
        ]
    )
    expert = [ls(base), ls(folder)] if nested else [ls(folder)]
    expert += [
        reading,
        write(dest, copied),
        read(dest),
        finish(f"Copied lines {a}-{b} of {target} into {dest}."),
    ]
    return Draft(
        prompt,
        files,
        expert,
        suite(test_lines_copied=[same(dest, copied), same(target, files[target])]),
        ("explore", "read_range", "write"),
    )
