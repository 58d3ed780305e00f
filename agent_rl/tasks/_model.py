"""``Task``: one coding task — a workspace, a prompt, a scripted expert and a success check.

The success check is data, not code: ``checks`` is test source in the mock runner's declarative
language (see :mod:`agent_rl.sandbox._runner`), run against the final workspace like hidden
tests; optionally the workspace's own tests must pass and ``finish`` must have been called.
So a task serialises to JSON and back unchanged. This module is not the catalog
(:mod:`agent_rl.tasks.catalog`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_rl.sandbox import CodingSandbox, RunReport, run_source, run_tests
from agent_rl.verdicts import ToolCall

__all__ = ["Split", "Task", "make_sandbox"]

Split = Literal["train", "val", "test"]


class Task(BaseModel):
    """A coding task over a small virtual workspace.

    ``expert`` is a scripted solution (valid at every step, ending in ``finish``);
    ``checks`` the hidden success tests; ``tests_must_pass`` also requires every test file of
    the workspace to pass at the end; ``must_finish`` requires the episode to have finished.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_./-]*$")
    prompt: str = Field(min_length=1)
    files: dict[str, str]
    split: Split
    tags: tuple[str, ...] = ()
    expert: list[ToolCall]
    checks: str
    tests_must_pass: bool = True
    must_finish: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        if not self.expert or self.expert[-1].name != "finish":
            raise ValueError(f"task {self.id}: the expert solution must end with a finish call")
        report = run_source(self.checks, self.files, f"{self.id}:checks")
        if report.collection_errors or not report.results:
            raise ValueError(f"task {self.id}: checks collect no tests: {report.render()}")
        broken = [r for r in report.results if r.outcome == "error"]
        if broken:
            raise ValueError(f"task {self.id}: check {broken[0].nodeid}: {broken[0].message}")
        return self

    def report(self, sandbox: CodingSandbox) -> RunReport:
        """The hidden checks, then the workspace's tests if ``tests_must_pass``, on ``sandbox``."""
        hidden = run_source(self.checks, sandbox.files, "checks")
        if not self.tests_must_pass:
            return hidden
        visible = run_tests(sandbox.files)
        return RunReport(
            hidden.results + visible.results, hidden.collection_errors + visible.collection_errors
        )

    def check(self, sandbox: CodingSandbox) -> bool:
        """Whether ``sandbox`` (the state an episode left) solves the task."""
        if self.must_finish and not sandbox.done:
            return False
        report = self.report(sandbox)
        return not report.collection_errors and all(r.outcome == "passed" for r in report.results)

    def explain(self, sandbox: CodingSandbox) -> str:
        """Why ``check`` says what it says, for logs and humans."""
        head = "" if sandbox.done or not self.must_finish else "not finished (call finish)\n"
        return head + self.report(sandbox).render()


def make_sandbox(task: Task) -> CodingSandbox:
    """A fresh sandbox holding the task's starting workspace."""
    return CodingSandbox(task.files)
