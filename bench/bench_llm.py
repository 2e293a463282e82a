"""LLM association (E5): generated tokens/s, batched (left-padded) vs one prompt at a time.

    python bench/bench_llm.py --device cpu            # tiny Falcon, batched vs one at a time
    # falcon-7b's architecture, random bf16 weights:
    python bench/bench_llm.py --device cuda

Every case generates a fixed number of tokens after a fixed prompt (``min_new_tokens =
max_new_tokens``, so no early stop) through ``semspace.experiments.association.generate_ids``,
the call that the association stage makes. On CPU the model is a tiny Falcon with random weights
(the ratio is what counts there); on CUDA it is ``FalconConfig`` with tiiuae/falcon-7b-instruct's
sizes (6.9 B parameters) in bfloat16, at batch sizes 1..256.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

#: tiiuae/falcon-7b-instruct's config.json, as FalconConfig arguments.
FALCON_7B = {
    "vocab_size": 65024,
    "hidden_size": 4544,
    "num_hidden_layers": 32,
    "num_attention_heads": 71,
    "multi_query": True,
    "parallel_attn": True,
    "new_decoder_architecture": False,
    "alibi": False,
    "bias": False,
    "layer_norm_epsilon": 1e-5,
    "bos_token_id": 11,
    "eos_token_id": 11,
}
#: The tiny CPU model: falcon-7b's layout at toy size.
TINY = {
    "vocab_size": 4096,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "multi_query": True,
    "parallel_attn": True,
    "new_decoder_architecture": False,
    "alibi": False,
    "bias": False,
    "bos_token_id": 0,
    "eos_token_id": 0,
}


def build_model(arch: dict, device: str, dtype: str, seed: int = 0):
    """A randomly initialised ``FalconForCausalLM`` built directly on ``device`` in ``dtype``."""
    import torch
    from transformers import FalconConfig, FalconForCausalLM

    torch.manual_seed(seed)
    config = FalconConfig(**arch, pad_token_id=arch["eos_token_id"])
    dt = getattr(torch, dtype)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dt)
    try:
        with torch.device(device):
            model = FalconForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def parameter_count(arch: dict) -> int:
    """Parameters of the architecture, counted on the meta device (no memory used)."""
    import torch
    from transformers import FalconConfig, FalconForCausalLM

    with torch.device("meta"):
        model = FalconForCausalLM(FalconConfig(**arch, pad_token_id=arch["eos_token_id"]))
    return sum(p.numel() for p in model.parameters())


def make_prompts(n: int, length: int, vocab: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (n, length), generator=g)


def run_generation(model, prompts, batch_size: int, new_tokens: int) -> int:
    """Generate ``new_tokens`` after each prompt, ``batch_size`` prompts at a time; return tokens
    made."""
    from semspace.experiments.association import Decoding, generate_ids

    fixed = Decoding(max_new_tokens=new_tokens, min_new_tokens=new_tokens)  # no early stop
    made = 0
    for start in range(0, prompts.shape[0], batch_size):
        batch = prompts[start : start + batch_size]
        out = generate_ids(model, batch, fixed, eos=model.config.eos_token_id)
        made += (out.shape[1] - batch.shape[1]) * batch.shape[0]
    return made


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default: by device)")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per timed call (CPU)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared 2-core machine two threads spin-wait)",
    )
    args = parser.parse_args(argv)

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("--device cuda: no CUDA device here", file=sys.stderr)
        return 1
    if cuda:
        arch, dtype = FALCON_7B, "bfloat16"
        prompt_tokens = args.prompt_tokens or 64
        new_tokens = args.new_tokens or (16 if args.quick else 64)
        sizes = [
            int(b)
            for b in (args.batch_sizes or ("1,16,64" if args.quick else "1,8,32,64,128,256")).split(
                ","
            )
        ]
    else:
        arch, dtype = TINY, "float32"
        prompt_tokens = args.prompt_tokens or 32
        new_tokens = args.new_tokens or (4 if args.quick else 8)
        sizes = [
            int(b) for b in (args.batch_sizes or ("1,8" if args.quick else "1,4,16")).split(",")
        ]
    model = build_model(arch, args.device, dtype)
    sync = torch.cuda.synchronize if cuda else None
    cases = []
    with torch.inference_mode():
        for batch_size in sizes:
            # CPU: the same prompts in every case, so the ratio compares like with like; GPU: one
            # batch.
            n = batch_size if cuda else (args.prompts or (8 if args.quick else 16))
            prompts = make_prompts(n, prompt_tokens, arch["vocab_size"]).to(args.device)
            made = run_generation(model, prompts, batch_size, new_tokens)
            times = common.time_it(
                functools.partial(run_generation, model, prompts, batch_size, new_tokens),
                repeats=args.repeats,
                warmup=1,
                sync=sync,
            )
            name = "one prompt at a time" if batch_size == 1 else f"batch {batch_size}"
            cases.append(
                common.Case(
                    bench="llm",
                    name=name,
                    n=made,
                    times=times,
                    unit="tokens",
                    baseline=None if batch_size == 1 else "one prompt at a time",
                    extra={
                        "batch": batch_size,
                        "prompt tokens": prompt_tokens,
                        "new tokens": new_tokens,
                    },
                )
            )
            if cuda:
                cases[-1].extra["peak GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    title = (
        "falcon-7b architecture, random bf16 weights"
        if cuda
        else f"tiny Falcon (random weights), fp32, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"LLM generation on {args.device}: {title}, "
        f"{parameter_count(arch) / 1e6:.1f} M parameters\n"
    )
    print(common.markdown_table(cases))
    if cuda:
        best = max(c.rate for c in cases)
        print(f"\nbest: {best:,.0f} generated tokens/s (goal: >= 5,000 on one H100)")
    path = common.write_json(
        f"llm_{args.device}",
        {
            "cases": cases,
            "arch": arch,
            "dtype": dtype,
            "threads": torch.get_num_threads(),
            "speedups": common.speedups(cases),
        },
    )
    print(f"\n(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
