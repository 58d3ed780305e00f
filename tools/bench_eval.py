"""Benchmark: batched evaluation generation vs one plain ``model.generate`` call, side by side.

    python tools/bench_eval.py --quick          # ~1-2 min on one core
    python tools/bench_eval.py                  # more states and samples
    python tools/bench_eval.py --model runs/quick/sft_start/final

Measures the evaluation path end to end — held-out TEST prompts through the chat template,
``HFPolicy`` + ``PrefixDecoder`` generation at T=1.0, strict scoring against each step's restored
sandbox — as calls/s and generated tokens/s. Then, in the same run and on the same model,
one plain ``model.generate`` call (left-padded batch of the same prompts, sampling at T=1.0)
that produces the same number of new tokens. Prints the ratio of tokens/s (target: >= 0.8x).

By default the model is the offline tiny model with random weights (built into a temporary
folder); such a model rarely stops early, so every call runs to ``--max-new-tokens``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from typing import Any


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    p.add_argument("--model", help="a saved model folder (default: build the tiny model)")
    p.add_argument("--states", type=int, help="distinct held-out prompts (default 32, quick 12)")
    p.add_argument("--samples", type=int, help="sampled calls per prompt (default 8, quick 4)")
    p.add_argument("--batch-size", type=int, default=32, help="rows per generate call")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--format", default="react", choices=("json", "react", "hermes"))
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 for stable timing)")
    return p.parse_args()


class _Counting:
    """Passes ``generate`` through and adds up the new tokens of every call."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.name, self.tokens = policy, policy.name, 0

    def generate(self, batch: list[Any]) -> list[str]:
        out = self.policy.generate(batch)
        self.tokens += sum(u["completion_tokens"] for u in self.policy.last_usage)
        return out


def main() -> None:
    args = _args()
    import torch

    from agent_rl.evaluation.runner import EvalConfig, evaluate_calls, make_policy
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.models import build_tiny_model
    from agent_rl.policies.hf import load_model

    torch.set_num_threads(args.threads)
    n_states = args.states or (12 if args.quick else 32)
    samples = args.samples or (4 if args.quick else 8)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(build_tiny_model(tmp))
        model, tokenizer = load_model(path, device="cpu")
    model.eval()
    states = held_out_states(args.format)
    step = max(1, len(states) // n_states)
    states = states[::step][:n_states]  # spread over tasks and episode depths
    config = EvalConfig(
        formats=(args.format,), max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
    )
    n_calls = n_states * samples

    # 1. the evaluation path: template, PrefixDecoder generation, strict scoring
    policy = _Counting(make_policy(model, tokenizer, 1.0, config))
    evaluate_calls(policy, states[:2], 2)  # warm-up (first-call allocations)
    policy.tokens = 0
    start = time.perf_counter()
    tally = evaluate_calls(policy, states, n_calls)
    eval_s = time.perf_counter() - start
    tokens = policy.tokens

    # 2. the baseline: ONE plain model.generate call producing the same number of new tokens
    hf = policy.policy  # the HFPolicy (PrefixDecoder): its template and stop ids
    rows = [hf.prompt_ids(states[i % len(states)].messages) for i in range(args.batch_size)]
    per_row = math.ceil(tokens / len(rows))
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[hf.pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=per_row,
            min_new_tokens=per_row,
            pad_token_id=hf.pad_id,
        )
    plain_s = time.perf_counter() - start
    plain_tokens = (out.shape[1] - width) * len(rows)

    eval_tps, plain_tps = tokens / eval_s, plain_tokens / plain_s
    prompt_len = sum(len(hf.prompt_ids(s.messages)) for s in states) / len(states)
    print(f"model: {path}  format: {args.format}  threads: {args.threads}")
    print(
        f"prompts: {len(states)} held-out states, mean {prompt_len:.0f} tokens, "
        f"{samples} samples each"
    )
    print(
        f"eval path      : {tally.n} calls, {tokens} new tokens in {eval_s:.1f}s = "
        f"{tally.n / eval_s:.1f} calls/s, {eval_tps:.0f} tokens/s "
        f"(batch {args.batch_size}, {100 * tally.call_valid.rate:.1f}% valid)"
    )
    print(
        f"plain generate : 1 call, {len(rows)} rows x {per_row} = {plain_tokens} new tokens in "
        f"{plain_s:.1f}s = {plain_tps:.0f} tokens/s"
    )
    print(f"ratio (eval tokens/s / plain tokens/s): {eval_tps / plain_tps:.2f}x  (target >= 0.8x)")


if __name__ == "__main__":
    main()
