"""Procedural families over docs and release files: a markdown section, a YAML service, a release.

Their edits replace a line with several (``new`` holds newlines, backticks, quotes and
indentation the file's style needs), which is where JSON escaping of multi-line text breaks.
Success is exact file equality. Validation and ids live in :mod:`agent_rl.tasks.families`.
"""

from __future__ import annotations

from agent_rl.tasks._build import edit, finish, read, same, search, suite
from agent_rl.tasks._pools import Draft, Gen

__all__ = ["insert_section", "version_bump", "yaml_service"]

# Shared structure: section titles of a README (both splits use them).
_TITLES = (
    "Installation",
    "Usage",
    "Configuration",
    "Examples",
    "Testing",
    "Deployment",
    "Security",
    "Roadmap",
    "Contributing",
    "License",
)


def _body(g: Gen) -> tuple[str, str]:
    """A section body (no trailing newline) and how the prompt names it."""
    pkg, fn, w1, w2 = g.words(4)
    n = g.randint(1, 9999)
    kind = g.randint(0, 3)
    if kind == 0:
        return f"```bash\npip install {pkg}-{w1}\n```", "a bash code block"
    if kind == 1:
        return (
            f'```python\nfrom {pkg} import {fn}\n\n{fn}("{w1}", path=r"C:\\{w2}\\{w1}")\n```',
            "a python code block",
        )
    if kind == 2:
        return (
            f'- `{w1}`: the "{w2}" mode ({g.uni()})\n- `{fn}`: off by default',
            "a bullet list",
        )
    key = f"{pkg}_{w1}".upper()
    return (
        f"| Variable | Default |\n|---|---|\n| `{key}` | `{n}` |\n| `{w2.upper()}_DIR` "
        f"| `C:\\{w2}` |",
        "a markdown table",
    )


def insert_section(g: Gen) -> Draft:
    """Add a markdown section before another one or at the end of a doc: 4 steps."""
    name = g.word()
    path = g.choice(["README.md", f"docs/{name}.md"])
    titles = g.rng.sample(_TITLES, 4)
    existing, title = titles[:3], titles[3]
    sections = [f"## {t}\n\n{_body(g)[0]}\n" for t in existing]
    head = f"# {name}\n\nThe {g.word()} {g.word()} toolkit.\n"
    content = "\n".join([head, *sections])
    body, what = _body(g)
    if g.randint(0, 1):
        k = g.randint(0, 2)
        anchor = f"## {existing[k]}\n"
        new = f"## {title}\n\n{body}\n\n{anchor}"
        where = f"right before `## {existing[k]}`"
        first = content[: content.index(anchor)].count("\n") + 1
    else:
        anchor = sections[-1].rstrip("\n").rsplit("\n", 1)[-1] + "\n"
        if content.count(anchor) != 1:  # a line like "```" occurs in several sections
            anchor = sections[-1]
        new = f"{anchor}\n## {title}\n\n{body}\n"
        where = "at the very end"
        first = content.count("\n") + 2
    after = content.replace(anchor, new)
    last = first + 2 + body.count("\n")
    prompt = g.choice(
        [
            f"Add a `## {title}` section {where} of {path} whose body is {what}, exactly the "
            f"text between the fences below. Leave the rest of {path} as it is, then finish.",
            f"{path} needs a `## {title}` section {where}: its body is {what}, exactly the "
            f"fenced text below. Change nothing else in {path}, then finish.",
        ]
    )
    prompt += f"\n\n````\n{body}\n````"
    expert = [
        read(path),
        edit(path, anchor, new),
        read(path, first, last) if g.randint(0, 1) else read(path),
        finish(f"Added the {title} section to {path}."),
    ]
    files = {path: content}
    if path != "README.md":
        files["README.md"] = f"# {g.word()}\n\nSee docs/.\n"
    return Draft(prompt, files, expert, suite(test_section=[same(path, after)]), ("docs", "edit"))


def yaml_service(g: Gen) -> Draft:
    """Bump a service's image and/or add an environment variable in a YAML file: 4-5 steps."""
    path = f"deploy/{g.word()}.yaml"
    names = g.words(3)
    services: dict[str, list[str]] = {}
    images: dict[str, tuple[str, str]] = {}
    for svc in names:
        image, tag = f"{g.word()}/{svc}", f"{g.randint(1, 9)}.{g.randint(0, 20)}"
        images[svc] = (image, tag)
        key = f"{g.word()}_{g.word()}".upper()
        services[svc] = [
            f"  {svc}:",
            f"    image: {image}:{tag}",
            "    ports:",
            f'      - "{g.randint(1000, 9999)}:{g.randint(1000, 9999)}"',
            "    environment:",
            f'      {key}: "{g.word()} {g.uni()}"',
        ]
    content = "services:\n" + "\n".join(line for s in names for line in services[s]) + "\n"
    svc = g.choice(names)
    image, tag = images[svc]
    new_tag = f"{int(tag.split('.')[0]) + 1}.{g.randint(0, 20)}"
    var, value = f"{g.word()}_{g.word()}".upper(), f'{g.word()}: \\"{g.word()}\\"'
    mode = g.randint(0, 2)  # 0 bump, 1 env, 2 both
    edits = []
    asks = []
    if mode in (0, 2):
        old = f"    image: {image}:{tag}\n"
        edits.append((old, f"    image: {image}:{new_tag}\n"))
        asks.append(f"upgrade the {svc} service to `{image}:{new_tag}`")
    if mode in (1, 2):
        old = services[svc][-1] + "\n"
        edits.append((old, f'{old}      {var}: "{value}"\n'))
        asks.append(f'give it the environment variable `{var}: "{value}"`')
    after = content
    for old, new in edits:
        after = after.replace(old, new)
    ask = " and ".join(asks) if mode == 2 else asks[0].replace("give it", f"give the {svc} service")
    prompt = g.choice(
        [
            f"In {path}, {ask}. Keep the YAML indentation style of the file; then finish.",
            f"{ask[0].upper()}{ask[1:]} in {path}, keeping the file's YAML indentation style. "
            "Then finish.",
        ]
    )
    expert = [read(path), *(edit(path, o, n) for o, n in edits), read(path)]
    expert.append(finish(f"Updated the {svc} service in {path}."))
    return Draft(
        prompt, {path: content}, expert, suite(test_yaml=[same(path, after)]), ("yaml", "edit")
    )


def version_bump(g: Gen) -> Draft:
    """Release a new version: two version strings and a changelog section: 7 steps."""
    pkg, suffix, w1, w2, w3 = g.words(5)
    name = f"{pkg}-{suffix}"
    major, minor = g.randint(0, 3), g.randint(0, 12)
    older, old = f"{major}.{minor}.{g.randint(0, 5)}", f"{major}.{minor + 1}.0"
    new = g.choice([f"{major}.{minor + 1}.1", f"{major}.{minor + 2}.0", f"{major + 1}.0.0"])
    entry = g.choice(
        [
            f"- Add the `{pkg} {w1}` command.",
            f'- Fix "{w1}" paths like `C:\\{w2}\\{w3}`.',
            f"- Support {w1} {g.uni()} names in `{w2}()`.",
        ]
    )
    pyproject = (
        f'[project]\nname = "{name}"\nversion = "{old}"\n'
        f'description = "{w2.title()} tools for {w3}."\n'
    )
    init = f'"""{name}: {w2} tools."""\n\n__version__ = "{old}"\n'
    changelog = (
        f"# Changelog\n\n## [{old}]\n\n- Add `{pkg}.{w3}()`.\n\n## [{older}]\n\n- First release.\n"
    )
    init_path = f"{pkg}/__init__.py"
    files = {
        "pyproject.toml": pyproject,
        init_path: init,
        "CHANGELOG.md": changelog,
        "README.md": f"# {name}\n\n{w2.title()} tools for {w3}.\n",
    }
    new_changelog_head = f"## [{new}]\n\n{entry}\n\n## [{old}]\n"
    after = {
        "pyproject.toml": pyproject.replace(f'version = "{old}"', f'version = "{new}"'),
        init_path: init.replace(f'__version__ = "{old}"', f'__version__ = "{new}"'),
        "CHANGELOG.md": changelog.replace(f"## [{old}]\n", new_changelog_head),
    }
    prompt = g.choice(
        [
            f"Release version {new} of {name} (currently {old}): update the version in "
            f"pyproject.toml and in {init_path}, and add a `## [{new}]` section at the top of "
            f"CHANGELOG.md (above {old}) with the entry `{entry}`. Finish.",
            f"Prepare the {new} release of {name} (now {old}): set the version to {new} in "
            f"pyproject.toml and in {init_path}, and put a `## [{new}]` section with the entry "
            f"`{entry}` at the top of CHANGELOG.md, above {old}. Then finish.",
        ]
    )
    expert = [
        search(old),
        edit("pyproject.toml", f'version = "{old}"', f'version = "{new}"'),
        edit(init_path, f'__version__ = "{old}"', f'__version__ = "{new}"'),
        read("CHANGELOG.md"),
        edit("CHANGELOG.md", f"## [{old}]\n", new_changelog_head),
        search(new),
        finish(f"Released {new}: versions updated and CHANGELOG.md has a {new} section."),
    ]
    checks = [same(p, text) for p, text in after.items()]
    return Draft(prompt, files, expert, suite(test_release=checks), ("release", "edit"))
