"""Retrieval: lexical (stemmed FTS5), dense (embeddings + HNSW), hybrid fusion, graph hop."""

from overlay.lexical import analyze
from overlay.retrieve.dense import VectorIndex, embed_missing
from overlay.retrieve.embed import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from overlay.retrieve.hybrid import Hit, Retriever

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "Retriever",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "analyze",
    "embed_missing",
]
