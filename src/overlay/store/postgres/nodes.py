"""The graph family on PostgreSQL: SQLite's nodes, edges and files, with the full-text index
written as the project's own stems and scored as FTS5's BM25.

SQLite's FTS5 indexes `overlay.lexical.terms` (space-joined stems) with its unicode61
tokenizer and ranks with `bm25(fts, 2.0, 1.0)`. Here the same tokens go to `postings` (per
node and term, the title's occurrences counted twice, with the node's token count), each
node's token count to `lex_docs` and the totals to `lex_stats`; `lexical_search` computes the
same formula (k1 = 1.2, b = 0.75, IDF floored at 1e-6), so both backends rank alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from overlay.graph import Node
from overlay.lexical import analyze
from overlay.store.connection import NODE_COLS, chunks, to_node
from overlay.store.nodes import SQLiteNodes
from overlay.store.postgres.connection import PGConnection
from overlay.store.postgres.schema import TIME

# FTS5's ranking over the stems the query names: IDF from each term's document count, then
# the saturated, length-normalised term frequency per node
BM25 = """
WITH st AS (SELECT docs::float8 AS n, tokens::float8 / greatest(docs, 1) AS avgdl
            FROM lex_stats WHERE id = 1),
w AS (SELECT p.term, greatest(ln((st.n - count(*) + 0.5) / (count(*) + 0.5)), 1e-6) AS idf
      FROM postings p, st WHERE p.term = ANY(?) GROUP BY p.term, st.n),
r AS (SELECT p.key, sum(w.idf * p.freq * 2.2
                        / (p.freq + 1.2 * (0.25 + 0.75 * p.len / st.avgdl))) AS s
      FROM postings p JOIN w ON w.term = p.term, st
      {among} GROUP BY p.key ORDER BY s DESC, p.key LIMIT ?)
SELECT n.id, r.s FROM r JOIN nodes n ON n.key = r.key ORDER BY r.s DESC, r.key
"""


def tokens(text: str) -> list[str]:
    """The tokens FTS5's unicode61 makes of `terms(text)`: the stems, split where a word
    held an underscore (a separator to it)."""
    return [t for stem in analyze(text) for t in stem.split("_") if t]


class PGNodes(SQLiteNodes, PGConnection):
    """`NodeStore` on PostgreSQL."""

    def _time(self) -> str:
        return TIME

    def _index_texts(self, rows: Sequence[tuple[int, str, str]]) -> None:
        rows = list({key: (key, title, text) for key, title, text in rows}.values())  # last wins
        if not rows:
            return
        old = self.db.execute("DELETE FROM lex_docs WHERE key = ANY(?) RETURNING len",
                              ([key for key, _, _ in rows],)).fetchall()
        docs, postings = [], []
        for key, title, text in rows:
            head, body = tokens(title), tokens(text)
            freq = Counter({t: 2 * n for t, n in Counter(head).items()})
            freq.update(body)
            size = len(head) + len(body)
            docs.append((key, size))
            postings += [(t, key, n, size) for t, n in sorted(freq.items())]
        self.db.copy("lex_docs", ("key", "len"), docs)
        self.db.copy("postings", ("term", "key", "freq", "len"), postings)
        self._lex[0] += len(docs) - len(old)
        self._lex[1] += sum(n for _, n in docs) - sum(int(o[0]) for o in old)

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        self._writing()
        for chunk in chunks(list(node_ids)):
            gone = self.db.execute(
                "DELETE FROM lex_docs WHERE key IN (SELECT key FROM nodes WHERE id = ANY(?))"
                " RETURNING len", (chunk,)).fetchall()
            self._lex[0] -= len(gone)
            self._lex[1] -= sum(int(g[0]) for g in gone)
        super().delete_nodes(node_ids)

    def find_nodes(self, prefix: str, limit: int = 10) -> list[Node]:
        rows = self.db.execute(f"SELECT {NODE_COLS} FROM nodes WHERE id >= ? AND"
                               " starts_with(id, ?) ORDER BY id LIMIT ?", (prefix, prefix, limit))
        return [to_node(r) for r in rows]

    def lexical_search(self, stems: Sequence[str], limit: int,
                       keys: Sequence[int] | None = None) -> list[tuple[str, float]]:
        """BM25 over stems (title weighted 2×), as SQLite's FTS5 scores it."""
        terms = list(dict.fromkeys(t for s in stems for t in s.split("_") if t))
        if not terms or (keys is not None and not keys):
            return []
        among, params = "", [terms, limit]
        if keys is not None:
            among, params = "WHERE p.key = ANY(?)", [terms, list(keys), limit]
        rows = self.db.execute(BM25.replace("{among}", among), params)
        return [(r[0], float(r[1])) for r in rows]

    def doc_freqs(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        uniq = list(dict.fromkeys(stems))
        total = int(self.db.execute("SELECT max(key) FROM nodes").fetchone()[0] or 0)
        found = dict(self.db.execute("SELECT term, count(*) FROM postings WHERE term = ANY(?)"
                                     " GROUP BY term", (uniq,)).fetchall())
        return total, {t: int(found.get(t, 0)) for t in uniq}
