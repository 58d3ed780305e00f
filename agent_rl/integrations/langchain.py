"""``TrajectoryCallback``: record LangChain / LangGraph agent runs as scored ``Trajectory``s.

Attach it to an agent run (``agent.invoke(inputs, config={"callbacks": [cb]})``, sync or
async). It only translates callback events, keyed by ``run_id`` / ``parent_run_id``, into one
``Trajectory`` per root run, written to the store when the root run ends — with an error too
(outcome ``error``, or ``max_steps`` on LangGraph's recursion limit), so no step is lost:

- one ``Step`` per tool call the chat model emitted, ``raw_output`` being the call text
  ``{"name": ..., "arguments": <the provider's raw arguments string>}`` built *without*
  re-serialising the arguments (malformed JSON is scored as such), scored with the real
  ``Scorer`` against the run's tools (the constructor's, else ``invocation_params["tools"]``);
  ``call`` is what LangChain parsed and the host executed, ``observation`` the tool's result or
  error (or the framework's error message for a call it refused);
- one ``Step`` for a model output without tool calls, its text scored in ``format`` (plain
  text is a valid final answer; a call written into the text is scored as one).

It never breaks the host: each handler catches its own exceptions, records them in
``.errors`` and logs them; a trajectory whose write fails is kept in ``.unsaved``.
``strict=True`` (tests) re-raises instead. It runs inline in async runs (``run_inline``),
so events are handled in order on the loop's thread; all state is behind one lock.

Not here: executing tools, repairing outputs, or the plain-Python hook (``agent_rl.recorder``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import ToolMessage

from agent_rl.formats import Format
from agent_rl.integrations import _lc_output as lc
from agent_rl.recorder import as_tool_specs
from agent_rl.scorer import Scorer
from agent_rl.tool_spec import ToolSpec
from agent_rl.trajectories import Outcome, Step, Trajectory, TrajectoryStore
from agent_rl.verdicts import ErrorEntry, Observation

__all__ = ["CallbackFailure", "TrajectoryCallback"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CallbackFailure:
    """One failure of the recorder itself (never of the host agent)."""

    event: str
    error: str


@dataclass
class _Episode:
    root: UUID
    name: str
    task: str = ""
    model: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    by_call_id: dict[str, int] = field(default_factory=dict)
    runs: set[UUID] = field(default_factory=set)


@dataclass
class _ModelCall:
    root: UUID
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    started_at: float
    t0: float


def _guarded(fn: F) -> F:
    """Catch, count and log the handler's own failures (re-raise in strict mode)."""

    @functools.wraps(fn)
    def wrapper(self: TrajectoryCallback, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as e:
            self._failed(fn.__name__, e)
            return None

    return wrapper  # type: ignore[return-value]


class TrajectoryCallback(BaseCallbackHandler):
    """Records each root run it sees as one ``Trajectory`` in ``store``.

    ``store``: a ``TrajectoryStore``, a path, or ``None`` (keep finished trajectories in
    ``.trajectories`` only). ``tools``: the tools to score calls against (``ToolSpec``, LangChain
    tools, OpenAI dicts or functions); ``None`` reads them from each model call.
    """

    run_inline = True  # async runs call us in order on the event loop, no thread hop

    def __init__(
        self,
        store: TrajectoryStore | str | os.PathLike[str] | None,
        tools: Sequence[Any] | None = None,
        format: Format = "json",
        strict: bool = False,
        *,
        keep: bool = False,
    ) -> None:
        super().__init__()
        self.store = (
            store if store is None or isinstance(store, TrajectoryStore) else TrajectoryStore(store)
        )
        self.format = format
        self.strict = strict
        self.raise_error = strict
        self.keep = keep or store is None
        self.errors: list[CallbackFailure] = []
        """The recorder's own failures (handler exceptions, store writes), in order."""
        self.unsaved: list[Trajectory] = []
        """Finished trajectories whose write failed (retry with ``retry_unsaved()``)."""
        self.trajectories: list[Trajectory] = []
        """Finished trajectories, when ``keep`` (or no store)."""
        self.written = 0
        self._tools = None if tools is None else as_tool_specs(tools)
        self._scorers: dict[tuple[str, str], Scorer] = {}
        self._lock = threading.RLock()
        self._root_of: dict[UUID, UUID] = {}
        self._episodes: dict[UUID, _Episode] = {}
        self._model_calls: dict[UUID, _ModelCall] = {}
        self._tool_runs: dict[UUID, tuple[UUID, int]] = {}

    # --- bookkeeping ---

    def _failed(self, event: str, e: BaseException) -> None:
        with self._lock:
            self.errors.append(CallbackFailure(event, f"{type(e).__name__}: {e}"))
        log.warning("TrajectoryCallback.%s failed: %r", event, e, exc_info=e)
        if self.strict:
            raise e

    def _enter(self, run_id: UUID, parent_run_id: UUID | None, name: str) -> _Episode:
        """The episode a run belongs to; a run without a known parent starts one."""
        root = self._root_of.get(parent_run_id) if parent_run_id is not None else None
        if root is None or root not in self._episodes:
            root = run_id
            self._episodes[root] = _Episode(root, name)
        self._root_of[run_id] = root
        ep = self._episodes[root]
        ep.runs.add(run_id)
        return ep

    def _leave(self, run_id: UUID, error: BaseException | None = None, output: Any = None) -> None:
        """A run ended: write its episode if it was a root."""
        with self._lock:
            root = self._root_of.pop(run_id, None)
            if root != run_id:
                return
            ep = self._episodes.pop(root)
            for r in ep.runs:
                self._root_of.pop(r, None)
        self._finish(ep, error)

    def _scorer(self, tools: list[dict[str, Any]] | None, fmt: Format) -> Scorer:
        specs: Sequence[ToolSpec] = self._tools if self._tools is not None else ()
        key_tools = "" if self._tools is not None else json.dumps(tools or [], sort_keys=True)
        key = (fmt, key_tools)
        scorer = self._scorers.get(key)
        if scorer is None:
            if self._tools is None and tools:
                specs = as_tool_specs(tools)
            scorer = self._scorers[key] = Scorer(specs, fmt)
        return scorer

    def _tool_dicts(self, invocation_tools: Any) -> list[dict[str, Any]] | None:
        if self._tools is not None:
            return [t.to_openai() for t in self._tools]
        if isinstance(invocation_tools, list) and invocation_tools:
            return lc.jsonable(invocation_tools)
        return None

    # --- chains (and any root run) ---

    @_guarded
    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            ep = self._enter(run_id, parent_run_id, str(kwargs.get("name") or ""))
            if ep.root == run_id:
                ep.task = lc.task_text(inputs)

    @_guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id, output=outputs)

    @_guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id, error)

    # --- model calls ---

    @_guarded
    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        invocation_params: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        raw = messages[0] if messages else []
        prompt = lc.prompt_messages(raw)
        self._model_start(run_id, parent_run_id, prompt, invocation_params, metadata, kwargs, raw)

    @_guarded
    def on_llm_start(
        self,
        serialized: Any,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        invocation_params: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        prompt = [{"role": "user", "content": prompts[0] if prompts else ""}]
        self._model_start(run_id, parent_run_id, prompt, invocation_params, metadata, kwargs)

    def _model_start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        prompt: list[dict[str, Any]],
        params: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        raw: Sequence[Any] = (),
    ) -> None:
        params, metadata = params or {}, metadata or {}
        tools = self._tool_dicts(params.get("tools"))
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
        model = model or params.get("_type") or ""
        with self._lock:
            ep = self._enter(run_id, parent_run_id, str(kwargs.get("name") or "model"))
            ep.model = ep.model or str(model)
            if tools and not ep.tools:
                ep.tools = tools
            self._backfill(ep, raw)
            self._model_calls[run_id] = _ModelCall(
                ep.root, prompt, tools, time.time(), time.perf_counter()
            )

    def _backfill(self, ep: _Episode, messages: Sequence[Any]) -> None:
        """Observations the framework made itself (an unknown tool, a refused malformed call)
        reach the model as tool messages: take them from the next prompt."""
        for m in messages:
            if isinstance(m, ToolMessage) and ep.by_call_id.get(m.tool_call_id) is not None:
                step = ep.steps[ep.by_call_id[m.tool_call_id]]
                if step.observation is None:
                    step.observation = lc.observation_of(m)

    @_guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            mc = self._model_calls.pop(run_id, None)
        if mc is None:
            return
        latency = time.perf_counter() - mc.t0
        gens = response.generations[0] if response.generations else []
        gen = gens[0] if gens else None
        message = getattr(gen, "message", None)
        text = lc.content_text(message.content) if message is not None else getattr(gen, "text", "")
        prompt_tokens, completion_tokens = lc.token_counts(message, response.llm_output)
        common = {
            "messages": mc.messages,
            "started_at": mc.started_at,
            "latency_s": latency,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        calls = lc.raw_calls(message) if message is not None else []
        new: list[tuple[str | None, Step]] = []
        if not calls:
            verdict = self._scorer(mc.tools, self.format).score(text)
            new.append((None, Step(index=0, raw_output=text, verdict=verdict, **common)))
        scorer = self._scorer(mc.tools, "json")
        for i, call in enumerate(calls):
            raw = lc.call_text(call)
            extra: dict[str, Any] = {"tool_call_id": call.id, "raw_arguments": call.raw}
            if i == 0 and text:
                extra["content"] = text
            step = Step(
                index=0,
                raw_output=raw,
                call=lc.parsed_call(message, call.id),
                verdict=scorer.score(raw),
                extra=extra,
                **common,
            )
            new.append((call.id if isinstance(call.id, str) else None, step))
        self._add_steps(mc.root, new)
        self._leave(run_id)

    @_guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            mc = self._model_calls.pop(run_id, None)
        if mc is None:
            return
        step = Step(
            index=0,
            messages=mc.messages,
            started_at=mc.started_at,
            latency_s=time.perf_counter() - mc.t0,
            error=f"{type(error).__name__}: {error}",
        )
        self._add_steps(mc.root, [(None, step)])
        self._leave(run_id, error)

    def _add_steps(self, root: UUID, new: list[tuple[str | None, Step]]) -> None:
        with self._lock:
            ep = self._episodes.get(root)
            orphan = ep is None  # its root run already ended: keep the steps as their own episode
            if ep is None:
                ep = _Episode(root, "orphan")
            for call_id, step in new:
                step.index = len(ep.steps)
                if call_id is not None:
                    ep.by_call_id[call_id] = step.index
                ep.steps.append(step)
        if orphan:
            self._finish(ep, None)

    # --- tools ---

    @_guarded
    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or ""
        call_id = kwargs.get("tool_call_id")
        with self._lock:
            ep = self._enter(run_id, parent_run_id, "tool")
            idx = ep.by_call_id.get(call_id) if isinstance(call_id, str) else None
            if idx is None:
                idx = next(
                    (
                        i
                        for i, s in enumerate(ep.steps)
                        if s.call is not None
                        and s.call.name == name
                        and "tool_input" not in s.extra
                    ),
                    None,
                )
            if idx is None:  # a tool run no model call asked for (a chain calling a tool)
                idx = len(ep.steps)
                ep.steps.append(Step(index=idx, extra={"unprompted": True, "tool": name}))
            step = ep.steps[idx]
            step.extra = {
                **step.extra,
                "tool_input": lc.jsonable(inputs if inputs is not None else input_str),
            }
            self._tool_runs[run_id] = (ep.root, idx)

    @_guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._tool_result(run_id, lc.observation_of(output), None)

    @_guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        message = f"{type(error).__name__}: {error}"
        obs = Observation(str(error), ok=False, error=ErrorEntry("tool_error", message))
        self._tool_result(run_id, obs, message, error)

    def _tool_result(
        self, run_id: UUID, obs: Observation, error: str | None, exc: BaseException | None = None
    ) -> None:
        with self._lock:
            where = self._tool_runs.pop(run_id, None)
            ep = None if where is None else self._episodes.get(where[0])
            if ep is not None and where is not None:
                step = ep.steps[where[1]]
                step.observation = obs
                if error:
                    step.error = error
        self._leave(run_id, exc)

    # --- writing ---

    def _finish(self, ep: _Episode, error: BaseException | None) -> None:
        last = ep.steps[-1].verdict if ep.steps else None
        if error is not None:
            status = "max_steps" if type(error).__name__ == "GraphRecursionError" else "error"
            outcome = Outcome(status=status, error=f"{type(error).__name__}: {error}")
        elif last is not None and last.final_answer is not None:
            outcome = Outcome(status="final_answer", final_answer=last.final_answer)
        else:
            outcome = Outcome(status="finished")
        traj = Trajectory(
            task=ep.task,
            tools=ep.tools,
            format=self.format,
            steps=ep.steps,
            outcome=outcome,
            metadata={
                "source": "langchain",
                "model": ep.model,
                "root_run_id": str(ep.root),
                "run_name": ep.name,
            },
        )
        if self.keep:
            with self._lock:
                self.trajectories.append(traj)
        self._write(traj)

    def _write(self, traj: Trajectory) -> None:
        if self.store is None:
            return
        try:
            self.store.append(traj)
        except Exception as e:
            with self._lock:
                self.unsaved.append(traj)
            self._failed("store", e)
            return
        with self._lock:
            self.written += 1

    def retry_unsaved(self) -> int:
        """Try to write the trajectories whose write failed; returns how many were written."""
        with self._lock:
            pending, self.unsaved = self.unsaved, []
        before = self.written
        for traj in pending:
            self._write(traj)
        return self.written - before

    def flush(self) -> int:
        """Write every episode still open (a run that never ended: the host died or was
        interrupted) with outcome ``error``. Returns how many were written."""
        with self._lock:
            roots = list(self._episodes)
        for root in roots:
            self._leave(root, RuntimeError("the run did not end before flush()"))
        return len(roots)

    @property
    def open_runs(self) -> int:
        return len(self._episodes)
