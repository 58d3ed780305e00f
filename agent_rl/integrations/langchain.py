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
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from agent_rl.formats import Format, render_raw_call
from agent_rl.integrations import _lc_output as lc
from agent_rl.integrations._runs import Episode, RunTree
from agent_rl.recorder import as_tool_specs
from agent_rl.scorer import Scorer, scorer_for
from agent_rl.trajectories import Step, Trajectory, TrajectoryStore
from agent_rl.verdicts import ErrorEntry, Observation

__all__ = ["CallbackFailure", "TrajectoryCallback"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CallbackFailure:
    """One failure of the recorder itself (never of the host agent)."""

    event: str
    error: str


@dataclass(frozen=True)
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
    tools, OpenAI dicts or functions); ``None`` reads them from each model call. ``format``: how
    a model output *without* provider tool calls is scored. ``keep``: also keep finished
    trajectories in ``.trajectories``.
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
        self.format: Format = format
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
        self._lock = threading.RLock()
        self._tree = RunTree()
        self._model_calls: dict[UUID, _ModelCall] = {}
        self._tool_steps: dict[UUID, Step] = {}

    @property
    def open_runs(self) -> int:
        """Root runs started and not yet ended."""
        return len(self._tree.episodes)

    def _failed(self, event: str, e: BaseException) -> None:
        with self._lock:
            self.errors.append(CallbackFailure(event, f"{type(e).__name__}: {e}"))
        log.warning("TrajectoryCallback.%s failed: %r", event, e, exc_info=e)
        if self.strict:
            raise e

    def _leave(self, run_id: UUID, error: BaseException | None = None) -> None:
        """A run ended: write its episode if it was a root run."""
        with self._lock:
            ep = self._tree.leave(run_id)
        if ep is not None:
            self._finish(ep, error)

    # --- chains (and any root run) ---

    @_guarded
    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        with self._lock:
            ep = self._tree.enter(run_id, kw.get("parent_run_id"), str(kw.get("name") or "chain"))
            if ep.root == run_id:
                ep.task = lc.task_text(inputs)

    @_guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id)

    @_guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._leave(run_id, error)

    # --- model calls ---

    @_guarded
    def on_chat_model_start(
        self, serialized: Any, messages: list[list[Any]], *, run_id: UUID, **kw: Any
    ) -> None:
        raw = messages[0] if messages else []
        self._model_start(run_id, kw, lc.prompt_messages(raw), lc.tool_answers(raw))

    @_guarded
    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID, **kw: Any) -> None:
        prompt = [{"role": "user", "content": prompts[0] if prompts else ""}]
        self._model_start(run_id, kw, prompt, [])

    def _model_start(
        self,
        run_id: UUID,
        kw: dict[str, Any],
        prompt: list[dict[str, Any]],
        answers: list[tuple[str, Observation]],
    ) -> None:
        params, metadata = kw.get("invocation_params") or {}, kw.get("metadata") or {}
        tools = self._tool_dicts(params.get("tools"))
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
        with self._lock:
            ep = self._tree.enter(run_id, kw.get("parent_run_id"), "model")
            ep.model = ep.model or str(model or params.get("_type") or "")
            ep.tools = ep.tools or tools or []
            ep.backfill(answers)
            self._model_calls[run_id] = _ModelCall(
                ep.root, prompt, tools, time.time(), time.perf_counter()
            )

    def _tool_dicts(self, invocation_tools: Any) -> list[dict[str, Any]] | None:
        if self._tools is not None:
            return [t.to_openai() for t in self._tools]
        if isinstance(invocation_tools, list) and invocation_tools:
            return lc.jsonable(invocation_tools)
        return None

    def _scorer(self, tools: list[dict[str, Any]] | None, fmt: Format) -> Scorer:
        """The shared scorer of the constructor's tools, else of the run's OpenAI tool dicts
        (built once per distinct tool list: ``scorer_for`` caches by their JSON)."""
        return scorer_for(self._tools if self._tools is not None else tools or [], fmt)

    def _score(self, tools: list[dict[str, Any]] | None, fmt: Format, text: str) -> Any:
        """The verdict, or ``None`` (and a counted failure) if these tools cannot be scored:
        the step is recorded either way."""
        try:
            return self._scorer(tools, fmt).score(text)
        except Exception as e:
            if self.strict:
                raise  # counted once, by the handler's guard
            self._failed("score", e)
            return None

    @_guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._model_ended(run_id, lambda mc: self._steps_of(mc, response))

    def _model_ended(
        self,
        run_id: UUID,
        steps_of: Callable[[_ModelCall], list[tuple[str | None, Step]]],
        error: BaseException | None = None,
    ) -> None:
        with self._lock:
            mc = self._model_calls.pop(run_id, None)
        if mc is not None:
            self._add_steps(mc, steps_of(mc))
        self._leave(run_id, error)

    def _steps_of(self, mc: _ModelCall, response: Any) -> list[tuple[str | None, Step]]:
        """One step per tool call of the output (or one for an output without calls)."""
        gens = response.generations[0] if response.generations else []
        gen = gens[0] if gens else None
        message = getattr(gen, "message", None)
        text = lc.content_text(message.content) if message is not None else getattr(gen, "text", "")
        tokens = lc.token_counts(message, getattr(response, "llm_output", None))
        timing = {
            "messages": mc.messages,
            "started_at": mc.started_at,
            "latency_s": time.perf_counter() - mc.t0,
        }
        calls = lc.raw_calls(message)
        if not calls:
            verdict = self._score(mc.tools, self.format, text)
            step = Step(
                index=0,
                raw_output=text,
                verdict=verdict,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                **timing,
            )
            return [(None, step)]
        steps = []
        for i, call in enumerate(calls):
            raw = render_raw_call(call.name, call.arguments)  # raw arguments, verbatim
            extra: dict[str, Any] = {"tool_call_id": call.id, "raw_arguments": call.raw}
            if len(calls) > 1:
                extra["parallel"] = [i, len(calls)]
            if i == 0 and text:
                extra["content"] = text
            step = Step(
                index=0,
                raw_output=raw,
                call=lc.parsed_call(message, call.id),
                verdict=self._score(mc.tools, "json", raw),
                prompt_tokens=tokens[0] if i == 0 else None,  # tokens of the model call: once
                completion_tokens=tokens[1] if i == 0 else None,
                extra=extra,
                **timing,
            )
            steps.append((call.id if isinstance(call.id, str) else None, step))
        return steps

    @_guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        def failed_step(mc: _ModelCall) -> list[tuple[str | None, Step]]:
            step = Step(
                index=0,
                messages=mc.messages,
                started_at=mc.started_at,
                latency_s=time.perf_counter() - mc.t0,
                error=f"{type(error).__name__}: {error}",
            )
            return [(None, step)]

        self._model_ended(run_id, failed_step, error)

    def _add_steps(self, mc: _ModelCall, new: list[tuple[str | None, Step]]) -> None:
        with self._lock:
            ep = self._tree.episodes.get(mc.root)
            orphan = ep is None  # its root run already ended: keep the steps as their own episode
            if ep is None:
                ep = Episode(mc.root, "orphan")
            for call_id, step in new:
                ep.add(step, call_id)
        if orphan:
            self._finish(ep, None)

    # --- tools ---

    @_guarded
    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, **kw: Any) -> None:
        inputs = kw.get("inputs")
        name = str((serialized or {}).get("name") or kw.get("name") or "")
        tool_input = lc.jsonable(inputs if inputs is not None else input_str)
        with self._lock:
            ep = self._tree.enter(run_id, kw.get("parent_run_id"), "tool")
            step = ep.step_for_tool(kw.get("tool_call_id"), name)
            step.extra = {**step.extra, "tool_input": tool_input}
            self._tool_steps[run_id] = step

    @_guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._tool_result(run_id, lc.observation_of(output))

    @_guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        message = f"{type(error).__name__}: {error}"
        obs = Observation(str(error), ok=False, error=ErrorEntry("tool_error", message))
        self._tool_result(run_id, obs, error)

    def _tool_result(
        self, run_id: UUID, obs: Observation, error: BaseException | None = None
    ) -> None:
        with self._lock:
            step = self._tool_steps.pop(run_id, None)
            if step is not None:
                step.observation = obs
                if error is not None:
                    step.error = f"{type(error).__name__}: {error}"
        self._leave(run_id, error)

    # --- writing ---

    def _finish(self, ep: Episode, error: BaseException | None) -> None:
        traj = ep.to_trajectory(self.format, error)
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
            if self.strict:
                raise  # counted once, by the handler's guard
            self._failed("store", e)
            return
        with self._lock:
            self.written += 1

    def retry_unsaved(self) -> int:
        """Try again to write the trajectories whose write failed; returns how many were."""
        with self._lock:
            pending, self.unsaved = self.unsaved, []
        before = self.written
        for traj in pending:
            self._write(traj)
        return self.written - before

    def flush(self) -> int:
        """Write every episode still open (its run never ended: the host died or was
        interrupted) with outcome ``error``. Returns how many were written."""
        with self._lock:
            roots = list(self._tree.episodes)
        for root in roots:
            self._leave(root, RuntimeError("the run did not end before flush()"))
        return len(roots)
