"""Shared fixtures.

Everything here is offline: ``HF_HUB_OFFLINE`` is set before anything imports
huggingface_hub, the fast tests use the deterministic `qa.HashEmbedder`, and
only the ``real_engine`` fixture loads the shipped MiniLM model (once).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import qa  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent

TINY_DOCS = {
    "alpha.txt": """Quokka Island Report

By Jane Doe | (Island Times)

The quokka is a small marsupial found on Rottnest Island. It is often called the happiest animal. \
Tourists take selfies with quokkas every day.

Rangers counted 12,000 quokkas on the island in 2020.

2 Responses

  1. I love quokkas! They smile all the time.

  2. Please do not feed them bread.

Comments are closed.
""",
    "beta.txt": """Volcano Watch

Mount Etna erupted again on Tuesday, sending lava down its eastern flank. \
The eruption closed Catania airport for six hours.

Source: Etna erupts again – Volcano Daily

Iceland's Fagradalsfjall volcano also showed signs of unrest. Scientists recorded 3,000 small earthquakes in a week.

Source: Iceland unrest grows | Science | Nordic Herald
""",
    "sub/gamma.md": """Baking Notes

Sourdough bread needs a starter of flour and water. Feed the starter daily and bake when it doubles.
""",
}


def write_corpus(folder: Path, docs: dict[str, str]) -> Path:
    """Write ``{doc_id: text}`` as UTF-8 files under ``folder`` (byte-exact: no newline translation)."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, text in docs.items():
        path = folder / doc_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return folder


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir(repo_root: Path) -> Path:
    return repo_root / "data"


@pytest.fixture(scope="session")
def hash_embedder() -> qa.HashEmbedder:
    return qa.HashEmbedder()


@pytest.fixture(scope="session")
def default_docs(data_dir: Path) -> dict[str, qa.Document]:
    """The default corpus, segmented by the current code, keyed by doc id."""
    return {d.doc_id: d for d in qa.load_corpus(data_dir)}


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A three-document corpus (one in a subfolder, one a roundup, one with comments)."""
    return write_corpus(tmp_path / "corpus", TINY_DOCS)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """Where a test's index folder goes (not created)."""
    return tmp_path / "index"


@pytest.fixture
def built(tiny_corpus: Path, index_dir: Path, hash_embedder) -> qa.Engine:
    """The tiny corpus indexed into ``index_dir`` with the fake embedder."""
    return qa.build(tiny_corpus, index_dir, embedder=hash_embedder)


@pytest.fixture
def tiny_engine(tiny_corpus: Path, tmp_path: Path, hash_embedder: qa.HashEmbedder) -> qa.Engine:
    return qa.build(tiny_corpus, tmp_path / "index", embedder=hash_embedder)


@pytest.fixture(scope="session")
def hash_engine(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, hash_embedder) -> qa.Engine:
    """The default corpus indexed with the fake embedder (fast; never touches embeddings/)."""
    return qa.build(data_dir, tmp_path_factory.mktemp("hash-index") / "index", embedder=hash_embedder)


@pytest.fixture(scope="session")
def real_engine(repo_root: Path) -> qa.Engine:
    """The committed index in embeddings/ with the real MiniLM model.

    Loaded with ``strict=True``: a stale committed index must fail the tests,
    not be silently rebuilt inside the repository by the test run.
    """
    try:
        engine = qa.load(repo_root / "embeddings", strict=True)
    except qa.StaleIndexError as exc:
        pytest.fail(f"the committed index is stale; rebuild it with `qa index`: {exc}")
    engine.embedder.encode(["warm-up"])  # load the model once, here
    return engine


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test (``item.rep_call``): the browser tests screenshot failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
