"""The vector family on PostgreSQL: pgvector columns, searched through an HNSW index per model
(`nearest`), so a server's processes share one index that the database keeps current."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from psycopg import sql

from overlay.store.postgres.connection import PGConnection
from overlay.store.records import Vector
from overlay.store.vectors import SQLiteVectors


class PGVectors(SQLiteVectors, PGConnection):
    """`VectorStore` on PostgreSQL."""

    indexes_vectors = True
    _ef_search = 40  # pgvector's default, until a search asks for another

    def nearest(self, model: str, query: Vector, k: int, expansion: int = 256,
                exact: bool = False) -> list[tuple[int, float]]:
        """Through the model's HNSW index; `expansion` is `hnsw.ef_search` (at least k).
        `exact` reads every vector instead (ordered by an expression the index does not
        cover), as SQLite's search does below `retrieve.exact_below` vectors."""
        vec = np.ascontiguousarray(query, dtype=np.float32)
        ef = max(k, min(expansion, 1000))
        if ef != self._ef_search:
            self.db.execute(f"SET hnsw.ef_search = {int(ef)}")
            self._ef_search = ef
        dim = sql.Literal(int(vec.shape[0]))
        cast = sql.SQL("vec::vector({})").format(dim)
        query_sql = sql.SQL(
            "SELECT key, 1 - ({cast} <=> %s::vector({dim})) FROM vectors WHERE model = {model}"
            " ORDER BY ({cast} <=> %s::vector({dim})){plus} LIMIT %s").format(
                cast=cast, dim=dim, model=sql.Literal(model),
                plus=sql.SQL(" + 0" if exact else ""))
        rows = self.db.conn.execute(query_sql, (vec, vec, k))
        return [(int(key), float(sim)) for key, sim in rows]

    def put_question_vectors(self, questions: Sequence[str], model: str, vectors: Vector
                             ) -> None:
        self._writing()
        self.db.executemany(
            "INSERT INTO question_vectors(question, model, vec) VALUES (?, ?, ?)"
            " ON CONFLICT(md5(question), model) DO UPDATE SET vec = excluded.vec",
            sorted(((q, model, self._vec_in(v))
                    for q, v in zip(questions, vectors, strict=True)), key=lambda r: r[0]))
