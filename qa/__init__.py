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
from qa.index import Index, IndexFormatError, IndexLockedError, IndexVersionError, StaleIndexError
from qa.models import DEFAULT_MODEL, DEFAULT_RUNTIME, RUNTIMES, HashEmbedder, ModelError, load_embedder
from qa.progress import Progress
from qa.retrieval import RetrievalSettings
from qa.store import build, default_corpus_dir, default_index_dir, load

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
    "Index",
    "IndexFormatError",
    "IndexLockedError",
    "IndexVersionError",
    "ModelError",
    "Passage",
    "Progress",
    "Question",
    "RUNTIMES",
    "RetrievalSettings",
    "Segment",
    "StaleIndexError",
    "build",
    "default_corpus_dir",
    "default_index_dir",
    "load",
    "load_corpus",
    "load_embedder",
    "read_corpus",
]
