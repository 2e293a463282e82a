"""The rehearsal's replicas are read by the official readers; its hub answers huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import pickle
import pickletools
import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from semspace.datasets.cifar10 import CLASSES
from semspace.download import mirror_url
from semspace.errors import ConfigError
from semspace.rehearsal import replicas as R
from semspace.rehearsal.hub import find_repos, git_blob_sha1, parse_range
from semspace.rehearsal.server import hub_server, mirror_server, start, url_of


def _vendored(name: str):
    """A module of tests/official/ (the official readers, vendored with attribution)."""
    import importlib.util

    path = Path(__file__).parent / "official" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"official_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


F30K = _vendored("flickr30k_entities_utils")
VG = _vendored("visual_genome_local")
CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
SIZES = R.Sizes(images=12, val=2, test=3, cifar_train_per_batch=6, cifar_test=10, coco=5)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(mirror root, local folder) with every replica but LAVA's (which needs ffmpeg)."""
    base = tmp_path_factory.mktemp("rehearsal")
    root, local = base / "mirror", base / "local"
    config = yaml.safe_load(CONFIG.read_text())
    R.build_karpathy_and_flickr(root, local, SIZES, 0)
    R.build_visual_genome(root, SIZES, 0)
    R.build_cifar10(root, SIZES, 0)
    R.place_vwsd_test(local, 0)
    for url in R.config_urls(config):
        if "SemEval2023-VWSD/archive/" in url:
            R.build_vwsd_trial(root, url, 0)
    return root, local


def _unzip(path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(path) as zf:
        zf.extractall(dest)
    return dest


def _tops(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return {name.split("/")[0] + ("/" if "/" in name else "") for name in zf.namelist()}


# ----------------------------------------------------------------------------- CIFAR-10


def _official_cifar(root: Path, train: bool):
    """torchvision's own CIFAR10 reader; only the published md5s are swapped for the replica's
    (its integrity check still runs, on the replica's digests)."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder

    def md5(name: str) -> str:
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    class Replica(CIFAR10):
        train_list: ClassVar = [[n, md5(n)] for n, _ in CIFAR10.train_list]
        test_list: ClassVar = [[n, md5(n)] for n, _ in CIFAR10.test_list]
        meta: ClassVar = {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])}

    return Replica(str(root), train=train, download=False)


def test_cifar_replica_is_read_by_torchvision(built, tmp_path):
    root, _ = built
    archive = root / "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    with tarfile.open(archive, "r:gz") as tf:
        names = tf.getnames()
        tf.extractall(tmp_path, filter="data")
    assert {n.split("/")[0] for n in names} == {"cifar-10-batches-py"}
    test = _official_cifar(tmp_path, train=False)
    train = _official_cifar(tmp_path, train=True)
    assert len(test) == SIZES.cifar_test and len(train) == 5 * SIZES.cifar_train_per_batch
    assert test.classes == list(CLASSES)
    image, label = test[0]
    assert image.size == (32, 32) and 0 <= label < 10
    # Labels as an independent reader sees them (byte keys, as the real Python-2 files load).
    with (tmp_path / "cifar-10-batches-py/test_batch").open("rb") as handle:
        raw = pickle.load(handle, encoding="bytes")
    assert list(test.targets) == raw[b"labels"]


def test_cifar_pickles_have_python2_str_keys(built, tmp_path):
    root, _ = built
    with tarfile.open(root / "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz") as tf:
        data = tf.extractfile("cifar-10-batches-py/test_batch").read()
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert "SHORT_BINSTRING" in ops  # Python 2's str
    assert not ops & {"SHORT_BINUNICODE", "BINUNICODE", "SHORT_BINBYTES", "BINBYTES"}
    assert pickletools.genops(data).__next__()[1] == 2  # PROTO 2


# ----------------------------------------------------------------------------- Flickr30k Entities


def test_flickr30k_entities_replica_is_read_by_the_official_utils(built, tmp_path):
    root, local = built
    archive = root / "github.com/BryanPlummer/flickr30k_entities/raw/master/annotations.zip"
    assert _tops(archive) == {"Annotations/", "Sentences/"}
    out = _unzip(archive, tmp_path)
    raw = root / "raw.githubusercontent.com/BryanPlummer/flickr30k_entities/master"
    splits = {s: (raw / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    ids = [i for s in splits.values() for i in s]
    assert len(ids) == len(set(ids)) == SIZES.images
    assert (len(splits["val"]), len(splits["test"])) == (SIZES.val, SIZES.test)
    images = local / "flickr30k/flickr30k-images"
    assert sorted(p.stem for p in images.iterdir()) == sorted(ids)
    for image_id in ids:
        sentences = F30K.get_sentence_data(str(out / "Sentences" / f"{image_id}.txt"))
        boxes = F30K.get_annotations(str(out / "Annotations" / f"{image_id}.xml"))
        assert sentences and all(s["phrases"] for s in sentences)
        known = set(boxes["boxes"]) | set(boxes["scene"]) | set(boxes["nobox"])
        for sentence in sentences:
            words = sentence["sentence"].split()
            for phrase in sentence["phrases"]:
                assert phrase["phrase_id"] in known
                start = phrase["first_word_index"]
                assert (
                    words[start : start + len(phrase["phrase"].split())] == phrase["phrase"].split()
                )
        for box_list in boxes["boxes"].values():
            for xmin, ymin, xmax, ymax in box_list:
                assert 0 <= xmin < xmax < boxes["width"] and 0 <= ymin < ymax < boxes["height"]


# ----------------------------------------------------------------------------- Visual Genome


def test_visual_genome_replica_is_read_by_the_official_driver(built, tmp_path):
    root, _ = built
    data = root / "homes.cs.washington.edu/~ranjay/visualgenome/data/dataset"
    images = root / "cs.stanford.edu/people/rak248/VG_100K_2"
    assert _tops(data / "region_descriptions.json.zip") == {"region_descriptions.json"}
    assert _tops(data / "image_data.json.zip") == {"image_data.json"}
    assert _tops(images / "images.zip") == {"VG_100K/"}
    assert _tops(images / "images2.zip") == {"VG_100K_2/"}
    for archive in [*data.glob("*.zip"), *images.glob("*.zip")]:
        _unzip(archive, tmp_path)
    per_image = VG.get_all_region_descriptions(str(tmp_path))
    assert len(per_image) == SIZES.images
    folders = set()
    for regions in per_image:
        image = regions[0].image
        folder, name = image.url.split("/")[-2:]
        folders.add(folder)
        assert (tmp_path / folder / name).is_file()
        for r in regions:
            assert 0 <= r.x and r.x + r.width <= image.width and r.y + r.height <= image.height
    assert folders == {"VG_100K", "VG_100K_2"}


# ----------------------------------------------------------------------------- Karpathy splits


def test_karpathy_replica_follows_the_split_preprocessing_access_pattern(built, tmp_path):
    """As neuraltalk2's / self-critical's prepro code reads dataset_*.json: ``images``; per
    image ``split``, ``filename`` (``filepath`` for COCO), ``sentences[*].tokens``."""
    root, local = built
    archive = root / R.KARPATHY
    names = {"dataset_coco.json", "dataset_flickr8k.json", "dataset_flickr30k.json"}
    assert _tops(archive) == names
    out = _unzip(archive, tmp_path / "k")
    f8k = _unzip(
        root / "github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
        tmp_path / "f8k",
    )
    image_dirs = {
        "dataset_coco.json": None,
        "dataset_flickr8k.json": f8k / "Flicker8k_Dataset",
        "dataset_flickr30k.json": local / "flickr30k/flickr30k-images",
    }
    for name, folder in image_dirs.items():
        imgs = json.loads((out / name).read_text())["images"]
        for img in imgs:
            assert img["split"] in {"train", "val", "test", "restval"}
            tokens = [s["tokens"] for s in img["sentences"]]
            assert tokens and all(t and all(w == w.lower() for w in t) for t in tokens)
            assert img["sentids"] == [s["sentid"] for s in img["sentences"]]
            if folder is None:
                assert img["filepath"] in {"train2014", "val2014"}
            else:
                assert (folder / img["filename"]).is_file()
    coco = json.loads((out / "dataset_coco.json").read_text())["images"]
    assert sum(img["split"] == "test" for img in coco) == SIZES.coco


def test_vwsd_trial_replica_is_a_github_commit_archive(built, tmp_path):
    root, local = built
    config = yaml.safe_load(CONFIG.read_text())
    url = config["datasets"]["vwsd_trial"]["downloads"][0]["url"]
    top = R.github_archive_top(url)
    assert top == "SemEval2023-VWSD-" + url.rsplit("/", 1)[1].removesuffix(".zip")
    out = _unzip(root / R.url_path(url), tmp_path)
    assert config["datasets"]["vwsd_trial"]["options"]["data"].startswith(top + "/")
    data = (out / top / "data/trial.data.txt").read_text().splitlines()
    gold = (out / top / "data/trial.gold.txt").read_text().splitlines()
    assert len(data) == len(gold) > 0
    for line, answer in zip(data, gold):
        assert answer in line.split("\t")[2:]
    assert (local / "vwsd_test/test_images_resized").is_dir()


# ----------------------------------------------------------------------------- URLs, mirror


def test_url_path_and_errors():
    assert R.url_path("https://a.org/x/y.zip") == "a.org/x/y.zip"
    with pytest.raises(ConfigError):
        R.url_path("file:///tmp/x")
    with pytest.raises(ConfigError):
        R.config_urls({"datasets": {"d": {"downloads": [{"filename": "x"}]}}})


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="LAVA's replica videos need ffmpeg")
def test_every_config_url_is_served_through_the_mirror(tmp_path):
    config = yaml.safe_load(CONFIG.read_text())
    urls = R.build_all(config, tmp_path / "m", tmp_path / "local", tmp_path / "videos", SIZES)
    assert urls == R.config_urls(config) and len(urls) >= 10
    lava = json.loads(next((tmp_path / "m").rglob("lava.json")).read_text())
    assert {p.stem for p in (tmp_path / "videos").iterdir()} == {v["visualFilename"] for v in lava}
    server = mirror_server(tmp_path / "m")
    start(server)
    try:
        for url in urls:
            with urllib.request.urlopen(mirror_url(url, url_of(server))) as answer:
                assert answer.read() == (tmp_path / "m" / R.url_path(url)).read_bytes()
    finally:
        server.shutdown()


# ----------------------------------------------------------------------------- hub


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    # The Makefile exports HF_HUB_OFFLINE=1 (huggingface_hub reads it once, at import); these
    # tests talk only to their own loopback Hub, so online mode is switched on for them alone.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    repo = tmp_path / "hub/org/tiny-model"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text('{"model_type": "test"}')
    (repo / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (repo / "sub").mkdir()
    (repo / "sub/vocab.txt").write_text("a\nb\n")
    server = hub_server(tmp_path / "hub")
    start(server)
    yield url_of(server), repo, server.repos["org/tiny-model"]
    server.shutdown()


def test_hub_answers_snapshot_download(hub, tmp_path):
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    endpoint, repo, served = hub
    api = HfApi(endpoint=endpoint)
    info = api.model_info("org/tiny-model", revision="main")
    assert info.sha == served.commit and len(info.sha) == 40
    assert sorted(s.rfilename for s in info.siblings) == [
        "config.json",
        "model.safetensors",
        "sub/vocab.txt",
    ]
    out = tmp_path / "snap"
    snapshot_download("org/tiny-model", revision=info.sha, local_dir=out, endpoint=endpoint)
    for rel in ("config.json", "model.safetensors", "sub/vocab.txt"):
        assert (out / rel).read_bytes() == (repo / rel).read_bytes()
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/absent")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/tiny-model", revision="0" * 40)


def test_hub_headers_and_ranges(hub):
    endpoint, repo, served = hub
    url = f"{endpoint}/org/tiny-model/resolve/main/model.safetensors"
    data = (repo / "model.safetensors").read_bytes()
    head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"))
    assert head.headers["X-Repo-Commit"] == served.commit
    assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert int(head.headers["X-Linked-Size"]) == len(data)
    small = urllib.request.urlopen(f"{endpoint}/org/tiny-model/resolve/main/config.json")
    assert small.headers["ETag"] == f'"{git_blob_sha1((repo / "config.json").read_bytes())}"'
    part = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=100-"}))
    assert part.status == 206 and part.read() == data[100:]
    assert parse_range("bytes=-10", 100) == (90, 99) and parse_range("junk", 100) is None


def test_hub_commit_changes_with_content(tmp_path):
    repo = tmp_path / "o/m"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text("{}")
    first = find_repos(tmp_path)["o/m"].commit
    (repo / "config.json").write_text('{"a": 1}')
    assert find_repos(tmp_path)["o/m"].commit != first


def test_rehearsal_leftovers_block_only_runs_that_would_use_them(tmp_path, monkeypatch):
    from semspace.checks import REHEARSAL_MARKER, check_rehearsal_leftovers

    monkeypatch.chdir(tmp_path)
    REHEARSAL_MARKER.parent.mkdir(parents=True)
    REHEARSAL_MARKER.write_text("resources/models\nresults/main\n")
    (tmp_path / "results" / "main").mkdir(parents=True)
    real = {"run": "main", "models": {"clip": {"hub_id": "openai/clip"}}, "embed": {"m": "clip"}}
    with pytest.raises(ConfigError, match=r"\.rehearsal-owns: results/main hold"):
        check_rehearsal_leftovers(real)
    # the rehearsal itself (loopback mirror) and a run elsewhere go on
    check_rehearsal_leftovers({**real, "downloads_mirror": "http://127.0.0.1:18431"})
    check_rehearsal_leftovers({**real, "run": "demo"})
    # a model the rehearsal downloaded is a clash too, for any run
    (tmp_path / "resources" / "models" / "clip").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"resources/models/clip hold"):
        check_rehearsal_leftovers({**real, "run": "demo"})
    # a model given by path is the user's own
    check_rehearsal_leftovers({**real, "run": "demo", "models": {"clip": {"path": "m"}}})
