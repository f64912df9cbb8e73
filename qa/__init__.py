"""Extractive question answering over a document corpus: verbatim passages, each cited.

>>> import qa
>>> engine = qa.load()                       # the index in embeddings/ of the corpus in data/
>>> answer = engine.ask("Which State Department spokesman ruled out joint operations?")
>>> answer.passages[0].source
'Reuters'
"""

from qa.answer import Answer, Passage
from qa.chunking import Chunk, ChunkingSettings
from qa.documents import CorpusError, Document, Segment, load_corpus
from qa.engine import Engine
from qa.index import Index, IndexFormatError, StaleIndexError
from qa.models import DEFAULT_MODEL, HashEmbedder, ModelError, load_embedder
from qa.retrieval import RetrievalSettings
from qa.store import build, default_index_dir, load

__all__ = [
    "Answer",
    "Chunk",
    "ChunkingSettings",
    "CorpusError",
    "DEFAULT_MODEL",
    "Document",
    "Engine",
    "HashEmbedder",
    "Index",
    "IndexFormatError",
    "ModelError",
    "Passage",
    "RetrievalSettings",
    "Segment",
    "StaleIndexError",
    "build",
    "default_index_dir",
    "load",
    "load_corpus",
    "load_embedder",
]
