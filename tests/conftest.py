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


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of `make demo` in the tests: this venv first, no ffmpeg on PATH."""
    from test_workflow import no_ffmpeg_env

    return no_ffmpeg_env(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, demo_env: dict[str, str]) -> Path:
    """`make demo` in a copy of the repository, once per session (tests/test_workflow.py and
    tests/test_report_browser.py look at the same run)."""
    from test_workflow import VENV_BIN, repository_copy, run

    repo = repository_copy(tmp_path_factory.mktemp("repo"))
    # The copy shares this checkout's venv (VENV; -o: never reinstall it from the copy) and its
    # WordNet folder (NLTK_DATA, when set); the rest is `make demo`.
    venv = VENV_BIN.parent
    run(repo, ["make", "-o", f"{venv}/.installed", "demo", "CORES=2", f"VENV={venv}"], demo_env)
    return repo
