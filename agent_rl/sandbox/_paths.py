"""Path rules of the virtual workspace: turn what a model wrote into a normalised key, or an error.

Every path a tool receives goes through :func:`normalize` before anything is looked up. The
workspace is a dict keyed by normalised POSIX paths relative to its root (``src/app.py``; the
root itself is ``"."``). Nothing here touches the host: :mod:`posixpath` is pure string work.
This module is not the sandbox: it knows nothing about which files exist.

Decisions (each a state-stage error, never a host lookup):

- absolute paths (``/etc/passwd``), home paths (``~/x``, also ``./~/x``: a shell would expand
  them) and anything that climbs out of the root after normalisation (``../x``,
  ``a/../../b``) are ``path_outside_workspace``;
- empty paths, NUL and other non-printable characters, backslashes (``C:\\x``,
  ``\\\\server\\share``), drive letters (``C:/x``) and over-long paths or names are
  ``invalid_path``.
"""

from __future__ import annotations

import posixpath

from agent_rl.verdicts import ErrorEntry

__all__ = ["MAX_NAME_CHARS", "MAX_PATH_CHARS", "ROOT", "normalize", "parents"]

ROOT = "."
MAX_PATH_CHARS = 1024
MAX_NAME_CHARS = 255


def _invalid(field: str, msg: str) -> ErrorEntry:
    return ErrorEntry("invalid_path", msg, ("arguments", field))


def normalize(path: str, field: str = "path") -> str | ErrorEntry:
    """The workspace key for ``path`` (``"."`` for the root), or the error that forbids it.

    ``field`` names the argument in the error's ``loc``.
    """
    if not path:
        return _invalid(field, "the path is empty; give a path relative to the workspace root")
    if len(path) > MAX_PATH_CHARS:
        return _invalid(field, f"the path is {len(path)} characters long (limit {MAX_PATH_CHARS})")
    if not path.isprintable():
        bad = next(c for c in path if not c.isprintable())
        return _invalid(field, f"the path contains the non-printable character {bad!r}; remove it")
    if "\\" in path:
        return _invalid(
            field, f"{path!r} contains a backslash; workspace paths use '/' (e.g. 'src/app.py')"
        )
    if len(path) >= 2 and path[1] == ":" and path[0].isascii() and path[0].isalpha():
        return _invalid(
            field, f"{path!r} is a Windows drive path; use a path relative to the workspace root"
        )
    # most paths are already normal; normpath is pure Python and costs more than this test
    norm = (
        path
        if "//" not in path and "./" not in path and path[-1] not in "/."
        else (posixpath.normpath(path))
    )
    if path[0] == "/" or norm[0] == "~":  # shells expand ~: refuse it wherever it ends up first
        return ErrorEntry(
            "path_outside_workspace",
            f"{path!r} is not relative to the workspace root; use a relative path such as "
            "'src/app.py'",
            ("arguments", field),
        )
    if norm == ".." or norm.startswith("../"):
        return ErrorEntry(
            "path_outside_workspace",
            f"{path!r} resolves to {norm!r}, outside the workspace root",
            ("arguments", field),
        )
    for name in norm.split("/"):
        if len(name) > MAX_NAME_CHARS:
            return _invalid(
                field, f"the path has a name of {len(name)} characters (limit {MAX_NAME_CHARS})"
            )
    return norm


def parents(key: str) -> list[str]:
    """The directories that contain ``key``, innermost first, without the root."""
    out = []
    head, sep, _ = key.rpartition("/")
    while sep:
        out.append(head)
        head, sep, _ = head.rpartition("/")
    return out
