"""Retrieval: stemming, the vector index cache, and search quality with the real MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from overlay import Overlay
from overlay.graph import Node, NodeKind
from overlay.retrieve import HashingEmbedder, VectorIndex, analyze
from overlay.store import SQLiteStore


def test_stemming_carries_russian_and_english() -> None:
    assert analyze("Харкевича Харкевичу") == ["харкевич", "харкевич"]
    assert analyze("Ёлки ёлка") == analyze("елки елка")
    assert analyze("starters feeding fed") == ["starter", "feed", "fed"]


def test_vector_index_catches_up_with_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    emb = HashingEmbedder(64)
    texts = [f"note number {i} about topic {i % 7}" for i in range(300)]
    nodes = [Node(f"n{i}", NodeKind.FACT, "", t) for i, t in enumerate(texts)]
    with store.change("x"):
        store.put_nodes(nodes)
        store.put_vectors([n.id for n in nodes], emb.name, emb.embed(texts))
    index = VectorIndex(store, emb.name, exact_below=0)
    assert index.sync()["rebuilt"] == 1.0
    with store.change("x"):
        store.delete_nodes(["n0", "n1"])
        store.put_vectors(["n2"], emb.name, emb.embed(["completely different words here"]))
    reopened = VectorIndex(store, emb.name, exact_below=0)
    done = reopened.sync()
    assert done["rebuilt"] == 0.0 and done["changed"] == 3.0
    assert reopened.index is not None and len(reopened.index) == 298
    query = emb.embed(["completely different words here"])[0]
    key = store.db.execute("SELECT key FROM nodes WHERE id = 'n2'").fetchone()[0]
    assert reopened.search(query, 1)[0][0] == key
    fresh = VectorIndex(store, emb.name, exact_below=0)
    fresh.path.unlink()
    assert fresh.sync()["rebuilt"] == 1.0 and fresh.index is not None and len(fresh.index) == 298


def test_damaged_index_file_is_rebuilt(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    emb = HashingEmbedder(32)
    with store.change("x"):
        store.put_nodes([Node("a", NodeKind.FACT, "", "alpha")])
        store.put_vectors(["a"], emb.name, emb.embed(["alpha"]))
    index = VectorIndex(store, emb.name)
    index.sync()
    index.path.write_bytes(b"garbage")
    assert VectorIndex(store, emb.name).sync()["rebuilt"] == 1.0


@pytest.mark.slow
def test_hybrid_search_on_the_example_vault(vault_overlay: Overlay) -> None:
    hits = vault_overlay.search("how do I keep a sourdough starter alive", k=5)
    sources = [h.source_path for h in hits]
    assert {"vault/Storing a starter.md", "vault/Starter.md"} & set(sources[:3])
    top = hits[0]
    assert top.line is not None and top.snippet and "rrf" in top.parts
    assert {"lexical", "dense"} <= set(top.parts)


@pytest.mark.slow
def test_dense_finds_meaning_without_shared_words(vault_overlay: Overlay) -> None:
    """No stem of the query occurs in the Flavour note; MiniLM still ranks it first."""
    query = "vinegar taste"
    lexical = [
        vault_overlay.node(i).source_path for i, _ in vault_overlay.retriever.lexical(query, 20)
    ]
    assert "vault/Flavour.md" not in lexical
    dense = vault_overlay.retriever.dense(query, 3)
    assert vault_overlay.node(dense[0][0]).source_path == "vault/Flavour.md"


@pytest.mark.slow
def test_graph_hop_brings_linked_notes(vault_overlay: Overlay) -> None:
    hits = vault_overlay.search("acetone nail polish smell", k=30)
    lifted = [h for h in hits if h.parts.get("graph", 0) > h.parts.get("rrf", 0)]
    assert lifted and all(h.via for h in lifted)
    # a lifted neighbour never outranks the hit that lifted it
    rank = {h.node_id: i for i, h in enumerate(hits)}
    assert all(min(rank.get(v, 99) for v in h.via) < rank[h.node_id] for h in lifted)
    assert hits[0].source_path == "vault/Starter troubleshooting.md"


@pytest.mark.slow
def test_minilm_embeddings_are_unit_length(minilm) -> None:  # type: ignore[no-untyped-def]
    vecs = minilm.embed(["a starter", "закваска"])
    assert vecs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
