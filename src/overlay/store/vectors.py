"""The vector family: one embedding per node and model, and a log of their changes; and the
embeddings of judged questions (`overlay.evidence`).

Triggers fill `vector_log` on every put and delete, so the HNSW index beside the store
(`overlay.retrieve.dense`) catches up by replaying the log instead of rebuilding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from overlay.graph import Node
from overlay.store.connection import NODE_COLS, Connection, chunks, marks, to_node
from overlay.store.records import Vector


class VectorStore(Protocol):
    """Embeddings by node and model, and what changed since a log position."""

    def put_vectors(self, node_ids: Sequence[str], model: str, vectors: Vector) -> None: ...
    def nodes_missing_vectors(self, model: str, limit: int | None = None) -> list[Node]: ...
    def count_vectors(self, model: str) -> int: ...
    def count_missing_vectors(self, model: str) -> int: ...
    def iter_vectors(
        self, model: str, batch: int = 50_000
    ) -> Iterator[tuple[list[int], Vector]]: ...
    def get_vectors(self, keys: Sequence[int], model: str) -> tuple[list[int], Vector]: ...
    def vector_changes(self, since: int) -> tuple[int, list[tuple[int, str]]]: ...
    def vector_seq(self) -> int: ...
    def vector_models(self) -> list[str]: ...

    # a database with a vector index of its own (pgvector) is searched through it; one
    # without (SQLite) is searched through the HNSW file beside it (`overlay.retrieve.dense`)
    indexes_vectors: bool

    def nearest(self, model: str, query: Vector, k: int, expansion: int = 256,
                exact: bool = False) -> list[tuple[int, float]]:
        """(key, cosine similarity) of the k vectors of `model` nearest `query`; `expansion`
        is the index's search breadth (pgvector's `hnsw.ef_search`); `exact` reads them all."""
        ...

    def ids_of_keys(self, keys: Sequence[int]) -> dict[int, str]: ...
    def put_question_vectors(self, questions: Sequence[str], model: str, vectors: Vector
                             ) -> None: ...
    def question_vectors(self, questions: Sequence[str], model: str) -> dict[str, Vector]: ...


class SQLiteVectors(Connection):
    """`VectorStore` on SQLite: float32 blobs in `vectors`, changes in `vector_log`."""

    def put_vectors(self, node_ids: Sequence[str], model: str, vectors: Vector) -> None:
        self._writing()
        keys = self._keys(list(node_ids))
        self.db.executemany(
            "INSERT INTO vectors(key, model, vec) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
            " SET model=excluded.model, vec=excluded.vec",
            (
                (keys[nid], model, self._vec_in(vec))
                for nid, vec in zip(node_ids, vectors, strict=True)
                if nid in keys
            ),
        )
        if len(node_ids):
            self._vector_index(model, int(np.asarray(vectors).shape[1]))

    def nodes_missing_vectors(self, model: str, limit: int | None = None) -> list[Node]:
        cols = ", ".join("n." + c.strip() for c in NODE_COLS.split(","))
        rows = self.db.execute(
            f"SELECT {cols} FROM nodes n LEFT JOIN vectors v ON v.key = n.key AND v.model = ?"
            " WHERE v.key IS NULL ORDER BY n.key LIMIT ?",
            (model, 1 << 62 if limit is None else limit),
        )
        return [to_node(r) for r in rows]

    def count_vectors(self, model: str) -> int:
        row = self.db.execute("SELECT count(*) FROM vectors WHERE model = ?", (model,)).fetchone()
        return int(row[0])

    def count_missing_vectors(self, model: str) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM nodes n LEFT JOIN vectors v ON v.key = n.key AND v.model = ?"
            " WHERE v.key IS NULL",
            (model,),
        ).fetchone()
        return int(row[0])

    def iter_vectors(self, model: str, batch: int = 50_000) -> Iterator[tuple[list[int], Vector]]:
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT key, vec FROM vectors WHERE model = ? AND key > ? ORDER BY key LIMIT ?",
                (model, last, batch),
            ).fetchall()
            if not rows:
                return
            keys = [r[0] for r in rows]
            yield keys, np.vstack([self._vec_out(r[1]) for r in rows])
            last = keys[-1]

    def get_vectors(self, keys: Sequence[int], model: str) -> tuple[list[int], Vector]:
        found: list[int] = []
        vecs: list[Vector] = []
        for chunk in chunks(list(keys)):
            for k, blob in self.db.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks(chunk)})",
                [model, *chunk],
            ):
                found.append(k)
                vecs.append(self._vec_out(blob))
        return found, (np.vstack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    def vector_changes(self, since: int) -> tuple[int, list[tuple[int, str]]]:
        """The last log sequence and, per key changed after `since`, its latest operation."""
        rows = self.db.execute(
            "SELECT seq, key, op FROM vector_log WHERE seq > ? ORDER BY seq", (since,)
        ).fetchall()
        last = rows[-1][0] if rows else self.vector_seq()
        latest: dict[int, str] = {}
        for _, key, op in rows:
            latest[key] = op
        return max(last, since), list(latest.items())

    def vector_seq(self) -> int:
        row = self.db.execute("SELECT max(seq) FROM vector_log").fetchone()
        return int(row[0] or 0)

    indexes_vectors = False

    def nearest(self, model: str, query: Vector, k: int, expansion: int = 256,
                exact: bool = True) -> list[tuple[int, float]]:
        """Exact: every vector of `model` is read (the HNSW file beside the store is the fast
        path; this one needs nothing beside it)."""
        q = np.asarray(query, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        best: list[tuple[int, float]] = []
        for keys, vecs in self.iter_vectors(model):
            norms = np.linalg.norm(vecs, axis=1)
            sims = vecs @ q / np.where(norms > 0, norms, 1.0)
            best += zip(keys, sims.tolist(), strict=True)
            best = sorted(best, key=lambda p: -p[1])[:k]
        return best

    def vector_models(self) -> list[str]:
        """Names of the embedders whose vectors the store holds (an index makes this cheap)."""
        rows = self.db.execute("SELECT DISTINCT model FROM vectors ORDER BY model")
        return [r[0] for r in rows]

    def ids_of_keys(self, keys: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in chunks(list(keys)):
            out.update(
                self.db.execute(
                    f"SELECT key, id FROM nodes WHERE key IN ({marks(chunk)})", chunk
                ).fetchall()
            )
        return out

    # ------------------------------------------------------ judged questions
    def put_question_vectors(self, questions: Sequence[str], model: str, vectors: Vector
                             ) -> None:
        self._writing()
        self.db.executemany(
            "INSERT INTO question_vectors(question, model, vec) VALUES (?, ?, ?)"
            " ON CONFLICT(question, model) DO UPDATE SET vec = excluded.vec",
            ((q, model, self._vec_in(v))
             for q, v in zip(questions, vectors, strict=True)),
        )

    def question_vectors(self, questions: Sequence[str], model: str) -> dict[str, Vector]:
        out: dict[str, Vector] = {}
        for chunk in chunks(list(questions)):
            for q, blob in self.db.execute(
                "SELECT question, vec FROM question_vectors WHERE model = ? AND question IN"
                f" ({marks(chunk)})", [model, *chunk]):
                out[q] = self._vec_out(blob)
        return out
