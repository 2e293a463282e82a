"""``semspace demo tiny-clip|tiny-causal-lm``: build the tiny models used offline."""

from __future__ import annotations

import argparse

from semspace.runtime import log


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="build tiny models for offline runs")
    demo = parser.add_subparsers(dest="demo_command", metavar="WHAT", required=True)

    clip = demo.add_parser(
        "tiny-clip", help="tiny CLIPModel + trained CLIP tokenizer + image processor"
    )
    clip.add_argument("--out", required=True, help="folder to write (save_pretrained layout)")
    clip.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    clip.add_argument("--image-size", type=int, default=32, help="input image side (pixels)")
    clip.add_argument(
        "--patch-size", type=int, default=8, help="ViT patch side (pixels); divides --image-size"
    )
    clip.add_argument(
        "--hidden-size", type=int, default=32, help="width of both towers (MLP: 4x this)"
    )
    clip.add_argument("--layers", type=int, default=2, help="transformer layers per tower")
    clip.add_argument("--heads", type=int, default=2, help="attention heads per layer")
    clip.add_argument("--projection-dim", type=int, default=32, help="size of the joint embedding")
    clip.add_argument("--vocab-size", type=int, default=1000, help="at least 515 (byte-level BPE)")
    clip.set_defaults(func=_tiny_clip)

    lm = demo.add_parser(
        "tiny-causal-lm", help="tiny FalconForCausalLM + trained byte-level BPE tokenizer"
    )
    lm.add_argument("--out", required=True, help="folder to write (save_pretrained layout)")
    lm.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    lm.add_argument("--hidden-size", type=int, default=32, help="model width; divisible by --heads")
    lm.add_argument("--layers", type=int, default=2, help="decoder layers")
    lm.add_argument("--heads", type=int, default=4, help="attention heads per layer")
    lm.add_argument("--vocab-size", type=int, default=1000, help="at most this many tokens")
    lm.set_defaults(func=_tiny_causal_lm)


def _tiny_clip(args: argparse.Namespace) -> int:
    from semspace.demo.models import build_tiny_clip

    out = build_tiny_clip(
        args.out,
        seed=args.seed,
        image_size=args.image_size,
        patch_size=args.patch_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        projection_dim=args.projection_dim,
        vocab_size=args.vocab_size,
    )
    log.info("wrote %s", out)
    return 0


def _tiny_causal_lm(args: argparse.Namespace) -> int:
    from semspace.demo.models import build_tiny_causal_lm

    out = build_tiny_causal_lm(
        args.out,
        seed=args.seed,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        vocab_size=args.vocab_size,
    )
    log.info("wrote %s", out)
    return 0
