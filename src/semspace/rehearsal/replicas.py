"""Miniature replicas of every source the config names, as ``<root>/<host>/<path>`` files.

Each replica has the published file name, archive type, folder layout inside the archive and
file format (docs/download.md gives the evidence per source); its content comes from the
synthetic writers in :mod:`semspace.demo`. Datasets that users place by hand (Flickr30k images,
the V-WSD test release) are written into a ``local`` folder laid out as the docs tell users, and
LAVA's videos (not downloadable) into a ``videos`` folder, one clip per ``visualFilename``.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from semspace.errors import ConfigError
from semspace.io import write_text

log = logging.getLogger(__name__)

KARPATHY = "cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
FLICKR8K_IMAGES = "Flicker8k_Dataset"  # sic: the folder inside Flickr8k_Dataset.zip
#: Fixed zip timestamps, so that a rebuilt replica has the same digest as the lock file pins.
ZIP_TIME = (2015, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Sizes:
    """Items per split of the replicas."""

    images: int = 24  # Flickr8k/30k, Visual Genome, COCO test images
    val: int = 4
    test: int = 6
    cifar_train_per_batch: int = 4  # the classifier trains 200 epochs
    cifar_test: int = 20
    # Karpathy COCO test images (captions only); image 100 gets COCO id 473237, as in the real
    # test split (config.yaml's imagespace.neighbours.coco_id), so the replica needs more than 100.
    coco: int = 120


def url_path(url: str) -> str:
    """``https://host/a/b`` -> ``host/a/b``: where the mirror serves ``url``."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"cannot build a replica of {url!r}: not an http(s) URL")
    return parts.netloc + parts.path


def config_urls(config: dict[str, Any]) -> list[str]:
    """Every download URL of ``datasets.*.downloads`` in the config, in order."""
    urls = []
    for name, dataset in (config.get("datasets") or {}).items():
        for i, entry in enumerate(dataset.get("downloads") or []):
            if not isinstance(entry, dict) or "url" not in entry:
                raise ConfigError(f"datasets.{name}.downloads[{i}]: needs a url")
            urls.append(entry["url"])
    return urls


# ------------------------------------------------------------------------- archive writers


def _members(folder: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """(archive name, file) for every file under ``folder``, sorted, with folders first-class."""
    return [
        (prefix + p.relative_to(folder).as_posix(), p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def write_zip(dest: Path, members: Iterable[tuple[str, Path | bytes]]) -> Path:
    """A deflated zip with directory entries (as zip tools write them) and fixed timestamps."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    seen_dirs: set[str] = set()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members:
            parts = name.split("/")[:-1]
            for k in range(1, len(parts) + 1):
                d = "/".join(parts[:k]) + "/"
                if d not in seen_dirs:
                    seen_dirs.add(d)
                    zf.writestr(zipfile.ZipInfo(d, ZIP_TIME), b"")
            data = content if isinstance(content, bytes) else content.read_bytes()
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return dest


def write_tar_gz(dest: Path, folder: Path, top: str) -> Path:
    """``folder`` as ``top/...`` in a gzipped tar with fixed owner and times."""
    dest.parent.mkdir(parents=True, exist_ok=True)

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 1_230_000_000
        return info

    with tarfile.open(dest, "w:gz") as tf:
        tf.add(folder, arcname=top, filter=clean)
    return dest


# ------------------------------------------------------------------------- per source


#: (position, COCO id) of the paper's neighbours example in the real Karpathy test split.
KARPATHY_TEST_EXAMPLE = (100, 473237)


def build_karpathy_and_flickr(root: Path, local: Path, sizes: Sizes, seed: int) -> None:
    """caption_datasets.zip (dataset_{coco,flickr8k,flickr30k}.json at the top), the Flickr8k
    image zip, Flickr30k Entities' annotations.zip and split lists, and the hand-placed
    Flickr30k folder (flickr30k-images/ and dataset_flickr30k.json)."""
    from semspace.demo.coco import demo_captions, karpathy_json
    from semspace.demo.scenes import write_flickr

    with tempfile.TemporaryDirectory() as tmp:
        f8k, f30k = Path(tmp) / "f8k", Path(tmp) / "f30k"
        n, nv, nt = sizes.images, sizes.val, sizes.test
        write_flickr(f8k, n, nv, nt, seed + 1, "flickr8k", entities=False)
        write_flickr(f30k, n, nv, nt, seed, "flickr30k", entities=True)
        images = demo_captions(sizes.coco, seed)
        if len(images) > KARPATHY_TEST_EXAMPLE[0]:
            position, coco_id = KARPATHY_TEST_EXAMPLE
            images[position] = (coco_id, images[position][1])
        coco = karpathy_json(images)
        write_zip(
            root / KARPATHY,
            [
                ("dataset_coco.json", _json_bytes(coco)),
                ("dataset_flickr30k.json", f30k / "dataset_flickr30k.json"),
                ("dataset_flickr8k.json", f8k / "dataset_flickr8k.json"),
            ],
        )
        write_zip(
            root / "github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
            _members(f8k / FLICKR8K_IMAGES, FLICKR8K_IMAGES + "/"),
        )
        entities = "github.com/BryanPlummer/flickr30k_entities/raw/master/annotations.zip"
        write_zip(
            root / entities,
            _members(f30k / "Annotations", "Annotations/")
            + _members(f30k / "Sentences", "Sentences/"),
        )
        raw = root / "raw.githubusercontent.com/BryanPlummer/flickr30k_entities/master"
        raw.mkdir(parents=True, exist_ok=True)
        for split in ("train", "val", "test"):
            shutil.copyfile(f30k / f"{split}.txt", raw / f"{split}.txt")
        # Hand-placed, as config.yaml's datasets.flickr30k says: the request-form images and
        # Karpathy's dataset_flickr30k.json beside them.
        place = local / "flickr30k"
        if place.exists():
            shutil.rmtree(place)
        place.mkdir(parents=True)
        shutil.copytree(f30k / "flickr30k-images", place / "flickr30k-images")
        shutil.copyfile(f30k / "dataset_flickr30k.json", place / "dataset_flickr30k.json")


def build_visual_genome(root: Path, sizes: Sizes, seed: int) -> None:
    """region_descriptions.json.zip, image_data.json.zip, images.zip (VG_100K/) and images2.zip
    (VG_100K_2/): the last third of the images are in the second archive, as in v1.2."""
    import json

    from semspace.demo.scenes import write_visual_genome

    with tempfile.TemporaryDirectory() as tmp:
        vg = Path(tmp)
        write_visual_genome(vg, sizes.images, seed + 2)
        image_data = json.loads((vg / "image_data.json").read_text())
        second = {e["image_id"] for e in image_data[len(image_data) * 2 // 3 :]}
        (vg / "VG_100K_2").mkdir()
        for entry in image_data:
            if entry["image_id"] in second:
                name = f"{entry['image_id']}.jpg"
                (vg / "VG_100K" / name).rename(vg / "VG_100K_2" / name)
                entry["url"] = entry["url"].replace("/VG_100K/", "/VG_100K_2/")
        data = "homes.cs.washington.edu/~ranjay/visualgenome/data/dataset"
        write_zip(
            root / data / "region_descriptions.json.zip",
            [("region_descriptions.json", vg / "region_descriptions.json")],
        )
        write_zip(
            root / data / "image_data.json.zip", [("image_data.json", _json_bytes(image_data))]
        )
        images = "cs.stanford.edu/people/rak248/VG_100K_2"
        write_zip(root / images / "images.zip", _members(vg / "VG_100K", "VG_100K/"))
        write_zip(root / images / "images2.zip", _members(vg / "VG_100K_2", "VG_100K_2/"))


def build_cifar10(root: Path, sizes: Sizes, seed: int) -> None:
    """cifar-10-python.tar.gz: cifar-10-batches-py/ with the six batches, batches.meta and the
    readme.html the real archive carries."""
    from semspace.demo.cifar import write_synthetic_cifar10

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic_cifar10(
            tmp, train_per_batch=sizes.cifar_train_per_batch, test=sizes.cifar_test, seed=seed
        )
        write_text("<html><body>CIFAR-10 rehearsal replica</body></html>\n", folder / "readme.html")
        write_tar_gz(root / "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", folder, folder.name)


def github_archive_top(url: str) -> str:
    """The top folder GitHub puts in ``/<owner>/<repo>/archive/<ref>.zip``: ``<repo>-<ref>``."""
    m = re.fullmatch(r"https://github\.com/[^/]+/([^/]+)/archive/([^/]+)\.zip", url)
    if m is None:
        raise ConfigError(f"not a GitHub archive URL: {url}")
    return f"{m.group(1)}-{m.group(2)}"


def build_vwsd_trial(root: Path, url: str, seed: int) -> None:
    """The GitHub commit archive of the trial release: ``<repo>-<sha>/data/trial.data.txt``,
    ``trial.gold.txt`` and ``all_images/``."""
    from semspace.demo.vwsd import write_demo_vwsd

    top = github_archive_top(url)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        write_demo_vwsd(src, seed=seed)
        members: list[tuple[str, Path | bytes]] = [
            (f"{top}/README.md", b"# SemEval-2023 Visual-WSD (rehearsal replica)\n"),
            (f"{top}/data/trial.data.txt", src / "demo.data.txt"),
            (f"{top}/data/trial.gold.txt", src / "demo.gold.txt"),
        ]
        members += _members(src / "images", f"{top}/data/all_images/")
        write_zip(root / url_path(url), members)


def place_vwsd_test(local: Path, seed: int) -> None:
    """resources/local/vwsd_test as the task page's two archives unpack: the en/it/fa data and
    gold files and test_images_resized/ (one image folder shared by the three languages)."""
    from semspace.demo.vwsd import write_demo_vwsd

    place = local / "vwsd_test"
    if place.exists():
        shutil.rmtree(place)
    images = place / "test_images_resized"
    images.mkdir(parents=True)
    names = {
        "en": ("en.test.data.v1.1.txt", "en.test.gold.v1.1.txt"),
        "it": ("it.test.data.v1.1.txt", "it.test.gold.v1.1.txt"),
        "fa": ("fa.test.data.txt", "fa.test.gold.txt"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        write_demo_vwsd(src, seed=seed + 10)
        for data, gold in names.values():
            shutil.copyfile(src / "demo.data.txt", place / data)
            shutil.copyfile(src / "demo.gold.txt", place / gold)
        for image in (src / "images").iterdir():
            shutil.copyfile(image, images / image.name)


def reading_map_lines(views: int) -> list[str]:
    """gen_lava's ``sentencetoparse.org`` for the demo corpus: ``sid vid vid |<TAB>tree``."""
    from semspace.demo.lava import sentences, trees_of

    lines = []
    for index, scene in enumerate(sentences()):
        for reading, tree in enumerate(trees_of(*scene)):
            vids = " ".join(str(reading * views + v + 1) for v in range(views))
            lines.append(f"{index + 1} {vids} |\t{tree}")
    return lines


def build_lava(root: Path, videos: Path, url_dir: str, seed: int, views: int = 2) -> None:
    """lava.json, data/corpus_parsed_toycfg.txt and data/sentencetoparse.org at the pinned
    commit, and one short clip per visualFilename in ``videos`` (the MIT release's videos)."""
    from semspace.demo.lava import write_demo_lava

    with tempfile.TemporaryDirectory() as tmp:
        src = write_demo_lava(tmp, seed=seed, views=views)
        base = root / url_dir
        (base / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "lava.json", base / "lava.json")
        shutil.copyfile(src / "corpus_parsed_toycfg.txt", base / "data/corpus_parsed_toycfg.txt")
        write_text("\n".join(reading_map_lines(views)) + "\n", base / "data/sentencetoparse.org")
        if videos.exists():
            shutil.rmtree(videos)
        videos.mkdir(parents=True)
        for frame in sorted((src / "frames").glob("*.png")):
            write_clip(frame, videos / f"{frame.stem}.avi")


def write_clip(frame: Path, dest: Path, seconds: float = 1.0) -> None:
    """A still clip of ``frame`` (MPEG-4 in AVI) through ffmpeg."""
    if shutil.which("ffmpeg") is None:
        raise ConfigError(
            "ffmpeg is needed to write LAVA's replica videos (apt-get install ffmpeg)"
        )
    cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(frame), "-t", str(seconds)]
    cmd += ["-r", "10", "-c:v", "mpeg4", "-pix_fmt", "yuv420p", str(dest)]
    subprocess.run(cmd, check=True)


def _json_bytes(obj: Any) -> bytes:
    buf = io.StringIO()
    import json

    json.dump(obj, buf)
    return buf.getvalue().encode()


# ------------------------------------------------------------------------- everything


def build_all(
    config: dict[str, Any],
    root: Path | str,
    local: Path | str,
    videos: Path | str,
    sizes: Sizes = Sizes(),
    seed: int = 0,
) -> list[str]:
    """Write every replica under ``root`` and the hand-placed datasets under ``local``; return
    the config URLs served. A config URL without a replica is a :class:`ConfigError`."""
    root, local, videos = Path(root), Path(local), Path(videos)
    root.mkdir(parents=True, exist_ok=True)
    urls = config_urls(config)
    steps: list[Callable[[], None]] = [
        lambda: build_karpathy_and_flickr(root, local, sizes, seed),
        lambda: build_visual_genome(root, sizes, seed),
        lambda: build_cifar10(root, sizes, seed),
        lambda: place_vwsd_test(local, seed),
    ]
    for url in urls:
        if "SemEval2023-VWSD/archive/" in url:
            steps.append(lambda url=url: build_vwsd_trial(root, url, seed))
    lava = sorted({url_path(u).rsplit("/", 1)[0] for u in urls if u.endswith("/lava.json")})
    for url_dir in lava:
        steps.append(lambda d=url_dir: build_lava(root, videos, d, seed))
    for step in steps:
        step()
    missing = [u for u in urls if not (root / url_path(u)).is_file()]
    if missing:
        raise ConfigError("no rehearsal replica for: " + ", ".join(missing))
    log.info("replicas of %d source URLs under %s", len(urls), root)
    return urls


def build_hub(config: dict[str, Any], root: Path | str, seed: int = 0) -> list[str]:
    """A tiny model per ``models.<alias>.hub_id`` under ``root/<owner>/<name>``: CLIP for CLIP
    ids (the id's patch size, the config's image size), a causal LM otherwise."""
    from semspace.demo.models import build_tiny_causal_lm, build_tiny_clip

    built = []
    for alias, model in (config.get("models") or {}).items():
        hub_id = model.get("hub_id")
        if not hub_id:
            continue
        out = Path(root) / hub_id
        if "clip" in hub_id.lower():
            m = re.search(r"patch(\d+)", hub_id)
            if m is None:
                raise ConfigError(f"models.{alias}.hub_id: {hub_id} names no patch size")
            image_size = int(model.get("image_size", 224))
            build_tiny_clip(out, seed=seed, image_size=image_size, patch_size=int(m.group(1)))
        else:
            build_tiny_causal_lm(out, seed=seed)
        built.append(hub_id)
    return built
