"""``agent-rl serve`` with a real model: the tiny offline Qwen2 behind the endpoint (tools in its
chat template, per-request sampling, token counts, weights versions), and the CLI command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_rl import HFPolicy, ToolCall, TrajectoryStore, load_tasks, render_call
from agent_rl.runtime import BackgroundServer, ServedPolicy, create_serve_app
from agent_rl.runtime.serve import template_messages

openai = pytest.importorskip("openai")

GCD = {
    "type": "function",
    "function": {
        "name": "math.gcd",
        "description": "gcd",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        },
    },
}
ASK_GCD = {
    "model": "tiny",
    "messages": [{"role": "user", "content": "gcd of 12 and 18?"}],
    "tools": [GCD],
    "max_tokens": 8,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [render_call(c, "hermes") for t in load_tasks("train")[:4] for c in t.expert] * 4
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny"),
        corpus,
        vocab_size=300,
        hidden_size=32,
        layers=1,
        heads=2,
        max_positions=1024,
    )


def test_a_tiny_model_served_to_the_openai_sdk_is_recorded_as_it_answered(tiny, tmp_path) -> None:
    policy = HFPolicy(str(tiny), max_new_tokens=8)
    store = tmp_path / "s.jsonl"
    served = ServedPolicy(policy, name="tiny")
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "gcd of 12 and 18?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "math.gcd", "arguments": '{"a": 12, "b": 18}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "6"},
    ]
    with ExitStack() as stack:
        server = stack.enter_context(BackgroundServer(create_serve_app(served, store=store)))
        api = stack.enter_context(
            openai.OpenAI(base_url=server.base_url, api_key="-", max_retries=0, timeout=60)
        )
        greedy = api.chat.completions.create(
            model="tiny", messages=messages, tools=[GCD], temperature=0, max_tokens=6
        )
        chunks = list(
            api.chat.completions.create(
                model="tiny",
                messages=messages,
                tools=[GCD],
                temperature=0,
                max_tokens=6,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        sampled = api.chat.completions.create(
            model="tiny", messages=messages, tools=[GCD], n=3, temperature=1.0, seed=7
        )
        version = served.swap_weights(policy.model.state_dict())
        after = api.chat.completions.create(model="tiny", messages=messages[:1], max_tokens=4)
        with pytest.raises(openai.BadRequestError, match="exceeds the context"):
            api.chat.completions.create(
                model="tiny",
                messages=[{"role": "user", "content": ", ".join(map(str, range(2000)))}],
            )
    text = greedy.choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # the same greedy text, streamed
    assert chunks[-1].usage.completion_tokens == greedy.usage.completion_tokens
    assert greedy.usage.completion_tokens <= 6 and greedy.choices[0].finish_reason in (
        "stop",
        "length",
    )
    prompt_ids = policy.prompt_ids(template_messages(messages), [GCD])
    assert greedy.usage.prompt_tokens == len(prompt_ids)  # the tools went into the template
    assert len(prompt_ids) > len(policy.prompt_ids(template_messages(messages)))
    assert len(sampled.choices) == 3
    assert version == 1 and after.system_fingerprint == "agent-rl-w1"
    lines = list(TrajectoryStore(store).read())
    assert [len(t.steps) for t in lines] == [1, 1, 3, 1, 1]
    assert lines[0].steps[0].raw_output == text and lines[0].steps[0].verdict is not None
    assert lines[0].steps[0].prompt_tokens == greedy.usage.prompt_tokens
    assert [s.raw_output for s in lines[2].steps] == [
        c.message.content or "" for c in sampled.choices
    ]
    assert [t.metadata.extra["weights_version"] for t in lines] == [0, 0, 0, 1, 1]
    assert lines[4].outcome.status == "error" and "exceeds the context" in lines[4].steps[0].error
    assert policy.max_new_tokens == 8 and not policy.do_sample  # per-request settings undone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_agent_rl_serve_and_proxy_commands(tiny, tmp_path) -> None:
    with ExitStack() as stack:
        _serve_and_proxy_commands(tiny, tmp_path, stack)


def _serve_and_proxy_commands(tiny: Path, tmp_path: Path, stack: ExitStack) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    serve_port, proxy_port = _free_port(), _free_port()
    cli = [sys.executable, "-m", "agent_rl.cli"]
    log = stack.enter_context(open(tmp_path / "log.txt", "wb"))  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                *cli,
                "serve",
                str(tiny),
                "--port",
                str(serve_port),
                "--name",
                "tiny",
                "--max-tokens",
                "4",
                "--store",
                str(tmp_path / "s.jsonl"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                *cli,
                "proxy",
                "--upstream",
                f"http://127.0.0.1:{serve_port}/v1",
                "--port",
                str(proxy_port),
                "--store",
                str(tmp_path / "p.jsonl"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        url = f"http://127.0.0.1:{proxy_port}/v1"
        deadline = time.monotonic() + 300  # two fresh torch imports: 2 min on a busy box
        while True:  # bounded: both up, or fail
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "servers did not start"
            assert all(p.poll() is None for p in procs), (tmp_path / "log.txt").read_text()
            time.sleep(0.2)
        with openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=60) as api:
            reply = api.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    for name in ("s.jsonl", "p.jsonl"):
        (line,) = TrajectoryStore(tmp_path / name).read()
        assert line.steps[0].raw_output == (reply.choices[0].message.content or "")
    assert json.loads(json.dumps(line.steps[0].extra["response"]))["role"] == "assistant"


# --- online: learn from what is served ------------------------------------------------------------


def text_checksum(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """A reward with variance between any two different texts: the untrained tiny model never
    writes a valid call, so ``arguments_valid`` alone would give every group zero advantage."""
    from agent_rl.training.rewards import completion_text

    return [float(zlib.crc32(completion_text(c).encode()) % 97) for c in completions]


def test_online_learner_trains_on_fresh_served_steps_and_swaps_weights(tiny, tmp_path) -> None:
    import torch

    from agent_rl.runtime.online import OnlineLearner
    from agent_rl.training.rewards import arguments_valid

    policy = HFPolicy(str(tiny), max_new_tokens=8)
    store = tmp_path / "s.jsonl"
    served = ServedPolicy(policy, name="tiny")
    learner = OnlineLearner(
        served,
        store,
        tmp_path / "online",
        max_prompts=2,
        reward_funcs=[arguments_valid, text_checksum],
        max_completion_length=8,
        learning_rate=1e-2,
        temperature=1.0,
    )
    with BackgroundServer(create_serve_app(served, store=store)) as server:
        url = f"{server.base_url}/chat/completions"
        assert learner.update() is None  # nothing served yet
        for _ in range(2):
            assert httpx.post(url, json=ASK_GCD, timeout=60).status_code == 200
        before = {k: v.clone() for k, v in policy.model.state_dict().items()}
        first = learner.update()
        assert first is not None and first.version == 1 == served.weights_version
        assert first.samples == 2 and first.lags == [0, 0]
        assert first.result is not None and first.result.global_step == 1
        after = policy.model.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)  # new weights served
        assert all(torch.equal(after[k], v) for k, v in learner.model.state_dict().items())
        assert learner.update() is None  # each served sample is learned from once
        reply = httpx.post(url, json=ASK_GCD, timeout=60).json()
        assert reply["system_fingerprint"] == "agent-rl-w1"
        served.swap_weights(policy.model.state_dict())  # v2: the v1 sample is one version old
        served.swap_weights(policy.model.state_dict())  # v3: now too old to learn from
        assert learner.fresh_steps()[0] == []
        assert httpx.post(url, json=ASK_GCD, timeout=60).status_code == 200
        third = learner.update()
    assert third is not None and third.lags == [0] and third.version == 4
    versions = [t.metadata.extra["weights_version"] for t in TrajectoryStore(store).read()]
    assert versions == [0, 0, 1, 3]


def test_online_command_needs_a_store_and_a_local_model(tiny, capsys) -> None:
    from agent_rl.cli import main
    from agent_rl.errors import ConfigError
    from agent_rl.runtime.online import OnlineLearner

    assert main(["online", str(tiny), "--port", "0"]) == 2
    assert "needs --store" in capsys.readouterr().err
    from agent_rl import ScriptedPolicy

    with pytest.raises(ConfigError, match="only a local model can be trained"):
        OnlineLearner(ServedPolicy(ScriptedPolicy(["x"])), "s.jsonl", "out")


def test_online_versions_are_saved_before_they_serve_and_a_restart_resumes_them(
    tiny, tmp_path
) -> None:
    import torch

    from agent_rl.errors import PolicyError
    from agent_rl.runtime.online import OnlineLearner, resume
    from agent_rl.runtime.online_state import latest_weights, read_updates
    from agent_rl.training.rewards import arguments_valid

    store, out = tmp_path / "s.jsonl", tmp_path / "online"
    settings: dict[str, Any] = {
        "reward_funcs": [arguments_valid, text_checksum],
        "max_completion_length": 8,
        "learning_rate": 1e-2,
    }
    assert resume(out, str(tiny)) == (str(tiny), None)  # nothing saved: the model at v0
    policy = HFPolicy(str(tiny), max_new_tokens=8)
    served = ServedPolicy(policy, name="tiny")
    learner = OnlineLearner(served, store, out, max_prompts=2, **settings)
    with BackgroundServer(create_serve_app(served, store=store)) as server:
        url = f"{server.base_url}/chat/completions"
        for _ in range(2):
            assert httpx.post(url, json=ASK_GCD, timeout=60).status_code == 200
        first = learner.update()
        reply = httpx.post(url, json=ASK_GCD, timeout=60).json()
        assert reply["system_fingerprint"] == "agent-rl-w1"
    saved = latest_weights(out)
    assert first is not None and saved is not None and saved.version == first.version == 1
    assert [p.name for p in out.glob("weights-v*")] == ["weights-v1"]
    assert sorted(saved.learned.values()) == [0, 0]  # the two v0 samples, learned from once
    reloaded = HFPolicy(str(saved.path)).model.state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in policy.model.state_dict().items())
    (row,) = read_updates(out)
    assert (row["version"], row["samples"], row["lags"]) == (1, 2, [0, 0])

    # a restart, as `agent-rl online` does it: the saved weights, their version, what they saw
    model, again = resume(out, str(tiny))
    assert again is not None and model == str(saved.path)
    served = ServedPolicy(
        HFPolicy(model, max_new_tokens=8), name="tiny", weights_version=again.version
    )
    learner = OnlineLearner(served, store, out, max_prompts=8, learned=again.learned, **settings)
    assert learner.fresh_steps()[1] == [1]  # not the v0 samples again: only the new v1 one
    second = learner.update()
    assert second is not None and second.version == 2 == served.weights_version
    assert second.lags == [0] and latest_weights(out).version == 2  # type: ignore[union-attr]
    assert [p.name for p in out.glob("weights-v*")] == ["weights-v2"]
    assert [r["version"] for r in read_updates(out)] == [1, 2]
    with pytest.raises(PolicyError, match="not newer"):
        served.swap_weights(learner.model.state_dict(), version=2)


def test_tools_the_client_lists_itself_are_scored_but_left_out_of_the_template(
    tiny, tmp_path
) -> None:
    from agent_rl.runtime.online import OnlineLearner

    policy = HFPolicy(str(tiny), max_new_tokens=4)
    served = ServedPolicy(policy, name="tiny", template_tools=False)
    store = tmp_path / "s.jsonl"
    messages = [{"role": "user", "content": "gcd of 12 and 18? Tools: math.gcd(a, b)"}]
    ask = {"model": "tiny", "messages": messages, "tools": [GCD], "max_tokens": 4}
    with BackgroundServer(create_serve_app(served, store=store)) as server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json=ask, timeout=60).json()
    plain = policy.prompt_ids(template_messages(messages))
    assert reply["usage"]["prompt_tokens"] == len(plain)  # the prompt as the client wrote it
    assert len(plain) < len(policy.prompt_ids(template_messages(messages), [GCD]))
    (line,) = TrajectoryStore(store).read()
    assert line.tools == [GCD] and line.steps[0].verdict is not None  # scored against them
    (step,), _, _ = OnlineLearner(served, store, tmp_path / "online").fresh_steps()
    assert step.messages == policy.tokenizer.apply_chat_template(
        template_messages(messages), tokenize=False, add_generation_prompt=True
    )  # the learner trains on the prompt the model saw


def test_served_episodes_of_known_tasks_are_learned_from_in_their_state(tiny, tmp_path) -> None:
    from agent_rl.prompts import build_messages
    from agent_rl.runtime.online import OnlineLearner
    from agent_rl.runtime.online_state import read_updates
    from agent_rl.tasks import generate_tasks, make_sandbox

    (task,) = generate_tasks("train", 1, seed=3, families=["write_exact"])
    sandbox = make_sandbox(task)
    tools = [t.to_openai() for t in sandbox.tools]
    history = []
    for call in task.expert[:2]:  # the client's episode so far: the expert's first calls
        history.append((render_call(call, "react"), sandbox.step(call).content))
    store, out = tmp_path / "s.jsonl", tmp_path / "online"
    served = ServedPolicy(HFPolicy(str(tiny), max_new_tokens=8), name="tiny", template_tools=False)
    with BackgroundServer(create_serve_app(served, store=store, format="react")) as server:
        url = f"{server.base_url}/chat/completions"
        for k in (1, 2):  # its steps 1 and 2 (the system prompt left out: a short context)
            messages = build_messages(task.prompt, history[:k], sandbox.tools, "react")[1:]
            ask = {"model": "tiny", "messages": messages, "tools": tools, "max_tokens": 8}
            assert httpx.post(url, json=ask, timeout=60).status_code == 200
        detour = make_sandbox(task)  # the expert's first call, then a write off its path
        scratch = ToolCall(name="write_file", arguments={"path": "scratch.txt", "content": "x"})
        detour.step(task.expert[0])
        off = [history[0], (render_call(scratch, "react"), detour.step(scratch).content)]
        messages = build_messages(task.prompt, off, sandbox.tools, "react")[1:]
        ask = {"model": "tiny", "messages": messages, "tools": tools, "max_tokens": 8}
        assert httpx.post(url, json=ask, timeout=60).status_code == 200
        assert httpx.post(url, json=ASK_GCD, timeout=60).status_code == 200  # other traffic
    from agent_rl.runtime.online import ONLINE_REWARDS

    seen: list[str] = []

    def prompts_seen(completions: list[Any], **kwargs: Any) -> list[float | None]:
        seen.extend(kwargs["task_id"])
        return [None] * len(completions)

    learner = OnlineLearner(
        served,
        store,
        out,
        tasks=[task],
        reward_funcs=[*ONLINE_REWARDS, prompts_seen],
        max_completion_length=8,
        learning_rate=1e-2,
    )
    first, second, other = learner.fresh_steps()[0]  # the detour is not learned from
    assert learner.off_path == 1
    state = make_sandbox(task)
    state.step(task.expert[0])
    assert first.state == json.dumps(state.snapshot(), ensure_ascii=False)
    assert first.target == render_call(task.expert[1], "react")  # the expert's call: reference
    assert first.task_id == second.task_id == task.id
    assert second.target == render_call(task.expert[2], "react") and second.state
    assert (other.state, other.target) == ("", None)  # not a task's episode: schema only
    update = learner.update()  # one GRPO step on the default rewards (ONLINE_REWARDS)
    assert update is not None and update.result is not None and update.result.global_step == 1
    assert (update.replayed, update.off_path) == (2, 1)
    assert len(seen) == 3 * 2 and len(set(seen)) == 2  # every prompt in the one step, 2 each
    (row,) = read_updates(out)
    assert (row["samples"], row["replayed"], row["off_path"]) == (3, 2, 1)
