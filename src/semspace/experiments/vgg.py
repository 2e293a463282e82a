"""VGG16 fc7 image features (4096-d), the paper's image encoder for E2 (optional).

Reads the shared image shards (already resized and centre-cropped), resizes them to 224 px when
needed, normalises with ImageNet statistics and keeps the output of the second fully connected
layer after its ReLU (fc7). Vectors are L2-normalised like every embedding file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from semspace.runtime import Progress, pick_device, resolve_dtype, seed_everything

log = logging.getLogger(__name__)

MODEL_ID = "torchvision/vgg16_fc7"
DIM = 4096
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_vgg16_fc7(weights: str = "imagenet"):
    """torchvision VGG16 cut after fc7 (+ReLU). ``imagenet`` downloads the weights once into the
    torch hub cache; ``random`` is for offline tests only."""
    import torch
    from torchvision.models import VGG16_Weights, vgg16

    model = vgg16(weights=VGG16_Weights.IMAGENET1K_V1 if weights == "imagenet" else None)
    model.classifier = torch.nn.Sequential(*list(model.classifier.children())[:5])
    return model.eval()


def vgg16_shard_features(
    shard: str | Path,
    out: str | Path,
    weights: str = "imagenet",
    batch_size: int = 64,
    device: str = "auto",
    dtype: str = "auto",
    seed: int = 0,
) -> int:
    """Write the fc7 features of every image of ``shard`` to ``out`` (embedding Parquet)."""
    import torch
    from PIL import Image

    from semspace.embed import embedding_table
    from semspace.images import normalise_pixels, read_shard_images
    from semspace.io import write_parquet
    from semspace.schemas import embedding_schema

    seed_everything(seed)
    dev = pick_device(device)
    dt = resolve_dtype(dtype, dev)
    model = load_vgg16_fc7(weights).to(dev, dt)
    keys: list[str] = []
    parts: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    bar = Progress(f"vgg16 {shard}")

    def flush() -> None:
        x = normalise_pixels(batch, IMAGENET_MEAN, IMAGENET_STD, dev).to(dt)
        with torch.inference_mode():
            feats = model(x).float()
        parts.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        bar.update(len(batch))
        batch.clear()

    for key, img in read_shard_images(shard):
        if img.size != (224, 224):
            img = img.resize((224, 224), Image.Resampling.BICUBIC)
        keys.append(key)
        batch.append(np.asarray(img, dtype=np.uint8))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    bar.close()
    vectors = np.concatenate(parts) if parts else np.zeros((0, DIM), dtype=np.float32)
    write_parquet(embedding_table(keys, vectors, MODEL_ID, DIM), out, schema=embedding_schema(DIM))
    return len(keys)
