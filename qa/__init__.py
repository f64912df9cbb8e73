"""Extractive question answering over a document corpus: verbatim passages, each cited.

>>> import qa
>>> engine = qa.load()                       # the index in embeddings/ of the corpus in data/
>>> answer = engine.ask("Which State Department spokesman ruled out joint operations?")
>>> answer.passages[0].source
'Reuters'
"""

from qa.answer import Answer, Passage
from qa.chunking import Chunk, ChunkingSettings
from qa.documents import Corpus, CorpusError, Document, Segment, load_corpus, read_corpus
from qa.engine import Engine
from qa.evidence import Candidate, Evidence, Question
from qa.models import DEFAULT_MODEL, DEFAULT_RUNTIME, RUNTIMES, HashEmbedder, ModelError, load_embedder
from qa.progress import Progress
from qa.retrieval import RetrievalSettings
from qa.store import IndexLockedError, build, copy, default_corpus_dir, default_index_dir, load
from qa.stores import Hits, IndexFormatError, IndexVersionError, StaleIndexError, Store, StoreInfo, WritableStore
from qa.stores.local import LocalStore
from qa.stores.milvus import MilvusStore, StoreUnavailableError  # pymilvus is imported when one is made

__all__ = [
    "Answer",
    "Candidate",
    "Chunk",
    "ChunkingSettings",
    "Corpus",
    "CorpusError",
    "DEFAULT_MODEL",
    "DEFAULT_RUNTIME",
    "Document",
    "Engine",
    "Evidence",
    "HashEmbedder",
    "Hits",
    "IndexFormatError",
    "IndexLockedError",
    "IndexVersionError",
    "LocalStore",
    "MilvusStore",
    "ModelError",
    "Passage",
    "Progress",
    "Question",
    "RUNTIMES",
    "RetrievalSettings",
    "Segment",
    "StaleIndexError",
    "Store",
    "StoreInfo",
    "StoreUnavailableError",
    "WritableStore",
    "build",
    "copy",
    "default_corpus_dir",
    "default_index_dir",
    "load",
    "load_corpus",
    "load_embedder",
    "read_corpus",
]
