"""Shared fixtures: tiny models built once per test session, and the real data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared/data`` beside the repository: real data for offline checks, absent on most machines.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP (32 px images, 8 px patches, width 32, 1000 tokens) in save_pretrained layout."""
    from semspace.demo.models import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip", seed=0)


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Falcon causal LM (width 32, 2 layers, 4 heads) with eos = pad = ``<|endoftext|>``."""
    from semspace.demo.models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-falcon", seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (see its README); skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a shared CPU, more threads than free cores slow small models many
    times."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
