"""Image embedding: images/s from the project's pre-resized shards vs the thesis's per-item way.

    python bench/bench_embed.py --device cpu     # same model and images, ratio of the two ways
    # ViT-B/32 and ViT-L/14 (random weights), batch sizes:
    python bench/bench_embed.py --device cuda

CPU: a tiny CLIP with a real 224 px input (so preprocessing costs what it costs for the real
models), N synthetic 640×480 JPEG photos. Cases:
- ``thesis_per_item``: per image, ``CLIPProcessor(images=PIL, text=prompt)`` on the original file
  and one ``CLIPModel(**inputs)`` call, one image at a time (as in the thesis's script);
- ``shards``: ``semspace.embed`` from a pre-resized shard (decode + normalise + batched forward),
  the embedding stage's work;
- ``resize+shards``: the resize stage (decode, resize, JPEG) plus the above, so the ratio also
  holds when the shards are not reused.
CUDA: ``CLIPConfig`` of ViT-B/32 and ViT-L/14 with random weights in the dtype ``auto`` gives,
images/s of the forward pass at several batch sizes from tensors already on the GPU, and
separately the CPU decode + normalise path of a shard (which a data loader would overlap).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

#: openai/clip-vit-base-patch32 and clip-vit-large-patch14 sizes, as CLIPConfig arguments.
ARCHS = {
    "ViT-B/32": {
        "text_config": {
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 8,
        },
        "vision_config": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 32,
        },
        "projection_dim": 512,
    },
    "ViT-L/14": {
        "text_config": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
        },
        "vision_config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 224,
            "patch_size": 14,
        },
        "projection_dim": 768,
    },
}
PROMPT = "a photo of a dog"


def make_photos(folder: Path, n: int, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """Smooth random colour JPEGs of photo size (quality 90)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize(size, Image.BICUBIC)
        path = folder / f"{i:05d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def make_shard(paths: list[Path], size: int, out: Path) -> Path:
    """The resize stage's work: decode, resize + centre crop, JPEG, one Parquet shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from semspace.images import encode_image, load_and_resize
    from semspace.schemas import SHARD

    imgs = [load_and_resize(p, size) for p in paths]
    table = pa.table(
        {
            "key": [p.name for p in paths],
            "image": [encode_image(im) for im in imgs],
            "width": [im.width for im in imgs],
            "height": [im.height for im in imgs],
        },
        schema=SHARD,
    )
    pq.write_table(table, out)
    return out


def embed_from_shard(clip, shard: Path, batch_size: int):
    """What ``semspace embed images`` does per shard, without the part files."""
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from semspace.embed import embed_images

    table = pq.read_table(shard)
    data = table["image"].to_pylist()
    out = []
    for start in range(0, len(data), batch_size):
        imgs = [Image.open(io.BytesIO(b)).convert("RGB") for b in data[start : start + batch_size]]
        out.append(embed_images(clip, imgs))
    return np.concatenate(out)


def thesis_per_item(model, processor, paths: list[Path]) -> list[float]:
    """One ``CLIPProcessor(images=..., text=...)`` and one forward pass per image (the thesis)."""
    import torch
    from PIL import Image

    scores = []
    for path in paths:
        with Image.open(path) as img:
            inputs = processor(
                images=img.convert("RGB"), text=[PROMPT], return_tensors="pt", padding=True
            )
        with torch.no_grad():
            scores.append(float(model(**inputs).logits_per_image[0, 0]))
    return scores


def run_cpu(args) -> list[common.Case]:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    from semspace.demo.models import build_tiny_clip
    from semspace.embed import embed_texts, load_clip

    n = 16 if args.quick else 64
    batch = 32
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    model_dir = build_tiny_clip(
        tmp / "clip224", image_size=224, patch_size=32, hidden_size=64, layers=2, heads=2
    )
    paths = make_photos(tmp / "photos", n)
    shard = make_shard(paths, 224, tmp / "shard.parquet")

    model = CLIPModel.from_pretrained(model_dir).eval()
    processor = CLIPProcessor.from_pretrained(model_dir)
    clip = load_clip(model_dir, device="cpu")
    sync = None
    cases = [
        common.Case(
            "embed",
            "thesis_per_item",
            n,
            common.time_it(
                lambda: thesis_per_item(model, processor, paths), repeats=args.repeats, sync=sync
            ),
            unit="images",
        ),
        common.Case(
            "embed",
            "shards",
            n,
            common.time_it(
                lambda: (embed_from_shard(clip, shard, batch), embed_texts(clip, [PROMPT])),
                repeats=args.repeats,
            ),
            unit="images",
            baseline="thesis_per_item",
            extra={"batch": batch},
        ),
        common.Case(
            "embed",
            "resize+shards",
            n,
            common.time_it(
                lambda: embed_from_shard(
                    clip, make_shard(paths, 224, tmp / "again.parquet"), batch
                ),
                repeats=args.repeats,
            ),
            unit="images",
            baseline="thesis_per_item",
            extra={"batch": batch},
        ),
    ]
    for case in cases:
        case.extra.update(model="tiny CLIP 224px/32 width 64", threads=torch.get_num_threads())
    return cases


def build_clip_arch(arch: dict, device, dtype, seed: int = 0):
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = CLIPModel(CLIPConfig(**arch))
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def run_cuda(args, device_name: str = "cuda", archs: dict | None = None) -> list[common.Case]:
    import torch
    import torch.nn.functional as F

    from semspace.embed import Clip, pixel_values
    from semspace.runtime import resolve_dtype

    device = torch.device(device_name)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    dtype = resolve_dtype("auto", device)
    n_decode = 64 if args.quick else 512
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    paths = make_photos(tmp / "photos", n_decode)
    shard = make_shard(paths, 224, tmp / "shard.parquet")
    cases = []
    for name, arch in (ARCHS if archs is None else archs).items():
        model = build_clip_arch(arch, device, dtype)
        clip = Clip(
            model=model,
            tokenizer=None,
            image_mean=(0.48145466, 0.4578275, 0.40821073),
            image_std=(0.26862954, 0.26130258, 0.27577711),
            image_size=224,
            logit_scale=100.0,
            model_id=name,
            device=device,
            dtype=dtype,
        )
        for bs in [32, 128] if args.quick else [32, 128, 512]:
            pixels = torch.randn(bs, 3, 224, 224, device=device, dtype=dtype)

            def forward(pixels=pixels, model=model):
                with torch.inference_mode():
                    feats = model.get_image_features(pixel_values=pixels).pooler_output
                    F.normalize(feats.float(), dim=-1).cpu()

            times = common.time_it(forward, repeats=args.repeats, warmup=2, sync=sync)
            cases.append(
                common.Case(
                    "embed",
                    f"{name} forward bs={bs}",
                    bs,
                    times,
                    unit="images",
                    extra={"dtype": str(dtype).replace("torch.", "")},
                )
            )

        import pyarrow.parquet as pq
        from PIL import Image

        data = pq.read_table(shard)["image"].to_pylist()

        def decode(data=data, clip=clip):
            for start in range(0, len(data), 128):
                imgs = [Image.open(io.BytesIO(b)).convert("RGB") for b in data[start : start + 128]]
                pixel_values(clip, imgs)

        times = common.time_it(decode, repeats=args.repeats, sync=sync)
        cases.append(
            common.Case("embed", f"{name} shard decode+normalise", len(data), times, unit="images")
        )
        del model
        torch.cuda.empty_cache()
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    cases = run_cuda(args) if args.device == "cuda" else run_cpu(args)
    print(common.markdown_table(cases))
    path = common.write_json(
        f"embed_{args.device}", {"cases": cases, "speedups": common.speedups(cases)}
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
