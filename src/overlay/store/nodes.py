"""The graph family: nodes, edges, ingested files and the full-text index over nodes.

Writing a node also writes its full-text row: the stems of its title and text
(`overlay.lexical`), so neither ingest nor learning computes index rows themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from overlay.graph import Edge, EdgeKind, Node, Within
from overlay.lexical import terms
from overlay.store.connection import NODE_COLS, Connection, chunks, marks, now, to_edge, to_node
from overlay.store.records import FileRecord, StoredEdge

FILE_COLS = "path, source_id, hash, size, repaired, mtime_ns, vault"


class NodeStore(Protocol):
    """Nodes, edges, files and text search."""

    def put_nodes(self, nodes: Sequence[Node]) -> None:
        """Insert or update nodes and their full-text rows; a changed text drops the node's
        stale vector so it is embedded again."""
        ...

    def get_node(self, node_id: str) -> Node | None: ...
    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]: ...
    def find_nodes(self, prefix: str, limit: int = 10) -> list[Node]: ...
    def nodes_of_source(self, source_path: str) -> list[Node]: ...
    def delete_nodes(self, node_ids: Sequence[str]) -> None: ...
    def set_source_path(self, old: str, new: str) -> None: ...
    def iter_nodes(self) -> Iterator[Node]: ...

    def add_edges(self, edges: Iterable[Edge]) -> None: ...
    def delete_edges_from(self, node_ids: Sequence[str]) -> None: ...
    def delete_edge(self, edge: Edge) -> None: ...
    def link_edges(self, unresolved_only: bool = False) -> list[StoredEdge]: ...
    def link_counts(self) -> tuple[int, int]: ...
    def set_edge_dst(self, edge_id: int, dst: str | None) -> None: ...
    def edges_of(self, node_id: str) -> list[Edge]: ...
    def neighbours(
        self, node_ids: Sequence[str], kinds: Sequence[EdgeKind] | None = None
    ) -> list[tuple[str, str, str]]: ...
    def edges_among(self, node_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(src, dst, kind) of every resolved edge between two of `node_ids`, as written."""
        ...

    def linked(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]: ...

    def file_record(self, path: str) -> FileRecord | None: ...
    def files(self) -> list[FileRecord]: ...
    def put_file(self, record: FileRecord) -> None: ...
    def vaults(self) -> dict[str, str]:
        """Every known vault: id → the name its files' paths start with."""
        ...

    def put_vault(self, vault_id: str, name: str) -> None: ...
    def move_prefix(self, old: str, new: str, vault_id: str | None, *, reread: bool = False
                    ) -> int:
        """Rename every path that starts with `old/` to start with `new/` (files, their nodes,
        links written as paths), and give those files `vault_id`; returns the files moved.
        `reread` marks the moved files changed, so the next ingest parses them again (their
        relative links meant something else where they were)."""
        ...

    def lexical_search(self, stems: Sequence[str], limit: int,
                       keys: Sequence[int] | None = None) -> list[tuple[str, float]]: ...
    def keys_within(self, within: Within) -> list[int]: ...
    def time_span(self) -> tuple[str, str] | None: ...
    def doc_freqs(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]: ...


class SQLiteNodes(Connection):
    """`NodeStore` on SQLite: `nodes`, `edges`, `files` and the FTS5 table `fts`."""

    # ------------------------------------------------------------------ nodes
    def put_nodes(self, nodes: Sequence[Node]) -> None:
        self._writing()
        stamp = now()
        keys = self._returning(
            "INSERT INTO nodes(id, kind, title, text, source_path, line_start, line_end, hash,"
            " meta, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, title=excluded.title,"
            " text=excluded.text, source_path=excluded.source_path,"
            " line_start=excluded.line_start, line_end=excluded.line_end, hash=excluded.hash,"
            " meta=excluded.meta, updated_at=excluded.updated_at RETURNING key",
            [(n.id, n.kind.value, n.title, n.text, n.source_path, n.line_start, n.line_end,
              n.hash, json.dumps(n.meta, ensure_ascii=False), stamp, stamp) for n in nodes])
        self._index_texts([(key, n.title, n.text) for key, n in zip(keys, nodes, strict=True)])

    def _index_texts(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """(Re)write the full-text rows of the nodes with these (key, title, text)."""
        self.db.executemany("DELETE FROM fts WHERE rowid = ?", [(key,) for key, _, _ in rows])
        self.db.executemany("INSERT INTO fts(rowid, title, body) VALUES (?, ?, ?)",
                            [(key, terms(title), terms(text)) for key, title, text in rows])

    def get_node(self, node_id: str) -> Node | None:
        row = self.db.execute(f"SELECT {NODE_COLS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
        return to_node(row) if row else None

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for chunk in chunks(list(node_ids)):
            for row in self.db.execute(
                f"SELECT {NODE_COLS} FROM nodes WHERE id IN ({marks(chunk)})", chunk
            ):
                out[row[0]] = to_node(row)
        return out

    def find_nodes(self, prefix: str, limit: int = 10) -> list[Node]:
        """Nodes whose id starts with `prefix` (users type short ids)."""
        rows = self.db.execute(
            f"SELECT {NODE_COLS} FROM nodes WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )
        return [to_node(r) for r in rows]

    def nodes_of_source(self, source_path: str) -> list[Node]:
        rows = self.db.execute(
            f"SELECT {NODE_COLS} FROM nodes WHERE source_path = ? ORDER BY line_start, key",
            (source_path,),
        )
        return [to_node(r) for r in rows]

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        self._writing()
        for chunk in chunks(list(node_ids)):
            self.db.execute(f"DELETE FROM nodes WHERE id IN ({marks(chunk)})", chunk)

    def set_source_path(self, old: str, new: str) -> None:
        self._writing()
        self.db.execute("UPDATE nodes SET source_path = ? WHERE source_path = ?", (new, old))
        self.db.execute("UPDATE files SET path = ? WHERE path = ?", (new, old))

    def iter_nodes(self) -> Iterator[Node]:
        for row in self.db.execute(f"SELECT {NODE_COLS} FROM nodes ORDER BY key"):
            yield to_node(row)

    # ------------------------------------------------------------------ edges
    def add_edges(self, edges: Iterable[Edge]) -> None:
        self._writing()
        self.db.executemany(
            "INSERT INTO edges(src, dst, kind, target, line, meta) VALUES (?,?,?,?,?,?)",
            (
                (e.src, e.dst, e.kind.value, e.target, e.line,
                 json.dumps(e.meta, ensure_ascii=False))
                for e in edges
            ),
        )

    def delete_edges_from(self, node_ids: Sequence[str]) -> None:
        self._writing()
        for chunk in chunks(list(node_ids)):
            self.db.execute(f"DELETE FROM edges WHERE src IN ({marks(chunk)})", chunk)

    def delete_edge(self, edge: Edge) -> None:
        """Remove one edge equal to `edge` (src, dst, kind)."""
        self._writing()
        self.db.execute(
            "DELETE FROM edges WHERE id = (SELECT id FROM edges WHERE src = ?"
            " AND dst IS NOT DISTINCT FROM ?"
            " AND kind = ? ORDER BY id DESC LIMIT 1)",
            (edge.src, edge.dst, edge.kind.value),
        )

    def link_edges(self, unresolved_only: bool = False) -> list[StoredEdge]:
        rows = self.db.execute(
            "SELECT id, src, dst, kind, target, line, meta FROM edges WHERE target IS NOT NULL"
            + (" AND dst IS NULL" if unresolved_only else "")
        )
        return [StoredEdge(r[0], to_edge(r[1:])) for r in rows]

    def link_counts(self) -> tuple[int, int]:
        """(links written in notes, how many of them point at a node)."""
        row = self.db.execute(
            "SELECT count(*), count(dst) FROM edges WHERE target IS NOT NULL"
        ).fetchone()
        return int(row[0]), int(row[1])

    def set_edge_dst(self, edge_id: int, dst: str | None) -> None:
        self._writing()
        self.db.execute("UPDATE edges SET dst = ? WHERE id = ?", (dst, edge_id))

    def edges_of(self, node_id: str) -> list[Edge]:
        rows = self.db.execute(
            "SELECT src, dst, kind, target, line, meta FROM edges WHERE src = ? OR dst = ?"
            " ORDER BY id",
            (node_id, node_id),
        )
        return [to_edge(r) for r in rows]

    def neighbours(
        self, node_ids: Sequence[str], kinds: Sequence[EdgeKind] | None = None
    ) -> list[tuple[str, str, str]]:
        """(from, to, kind) for every resolved edge touching `node_ids`, in both directions."""
        out: list[tuple[str, str, str]] = []
        kind_sql, kind_args = "", [k.value for k in kinds or []]
        if kind_args:
            kind_sql = f" AND kind IN ({marks(kind_args)})"
        for chunk in chunks(list(node_ids), 400):
            out += self.db.execute(
                f"SELECT src, dst, kind FROM edges WHERE src IN ({marks(chunk)})"
                f" AND dst IS NOT NULL{kind_sql} UNION ALL SELECT dst, src, kind FROM edges"
                f" WHERE dst IN ({marks(chunk)}){kind_sql}",
                [*chunk, *kind_args, *chunk, *kind_args],
            ).fetchall()
        return out

    def edges_among(self, node_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        wanted = set(node_ids)
        out: list[tuple[str, str, str]] = []
        for chunk in chunks(list(wanted), 400):
            out += [(a, b, k) for a, b, k in self.db.execute(
                f"SELECT src, dst, kind FROM edges WHERE src IN ({marks(chunk)})"
                " AND dst IS NOT NULL", chunk).fetchall() if b in wanted]
        return sorted(set(out))

    def linked(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (a, b) pairs already have an edge, either way (one query per 400
        nodes, not one per pair)."""
        found = {(src, dst) for src, dst, _ in self.edges_among([x for p in pairs for x in p])}
        return {(a, b) for a, b in pairs if (a, b) in found or (b, a) in found}

    # ------------------------------------------------------------------ files
    def file_record(self, path: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {FILE_COLS} FROM files WHERE path = ?", (path,)).fetchone()
        return FileRecord(*row) if row else None

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(f"SELECT {FILE_COLS} FROM files ORDER BY path")
        return [FileRecord(*r) for r in rows]

    def put_file(self, record: FileRecord) -> None:
        self._writing()
        self.db.execute(
            "INSERT INTO files(path, source_id, hash, size, mtime_ns, repaired, vault,"
            " ingested_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET"
            " source_id=excluded.source_id, hash=excluded.hash, size=excluded.size,"
            " mtime_ns=excluded.mtime_ns, repaired=excluded.repaired, vault=excluded.vault,"
            " ingested_at=excluded.ingested_at",
            (record.path, record.source_id, record.hash, record.size, record.mtime_ns,
             record.repaired, record.vault, now()),
        )

    def vaults(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, name FROM vaults").fetchall())

    def put_vault(self, vault_id: str, name: str) -> None:
        self._writing()
        self.db.execute("INSERT INTO vaults(id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE"
                        " SET name = excluded.name", (vault_id, name))

    def move_prefix(self, old: str, new: str, vault_id: str | None, *, reread: bool = False
                    ) -> int:
        self._writing()
        n, like = len(old) + 2, old.replace("%", r"\%").replace("_", r"\_") + "/%"
        moved = self.db.execute(
            "UPDATE files SET path = ? || substr(path, ?), vault = ?,"
            " hash = CASE WHEN ? THEN '' ELSE hash END,"
            " mtime_ns = CASE WHEN ? THEN 0 ELSE mtime_ns END WHERE path LIKE ? ESCAPE '\\'",
            (new + "/", n, vault_id, reread, reread, like)).rowcount
        self.db.execute("UPDATE nodes SET source_path = ? || substr(source_path, ?)"
                        " WHERE source_path LIKE ? ESCAPE '\\'", (new + "/", n, like))
        self.db.execute("UPDATE edges SET target = ? || substr(target, ?) WHERE target LIKE ?"
                        f" ESCAPE '\\' AND {self._json('meta', 'style')} = 'path'",
                        (new + "/", n, like))
        return int(moved)

    def _time(self) -> str:
        """A memory's time, as the index nodes_time spells it."""
        return self._json("meta", "time")

    # ---------------------------------------------------------------- lexical
    def lexical_search(self, stems: Sequence[str], limit: int,
                       keys: Sequence[int] | None = None) -> list[tuple[str, float]]:
        """BM25 over stems (title weighted 2×); higher score is better. With `keys`, only
        among those nodes."""
        if not stems or (keys is not None and not keys):
            return []
        query = " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(stems))
        among, params = "", [query]
        if keys is not None:
            among, params = " AND rowid IN (SELECT value FROM json_each(?))", [
                query, json.dumps(list(keys))]
        # rank inside FTS5 first, join only the winners: 3× faster than joining every match
        rows = self.db.execute(
            "SELECT n.id, r.s FROM (SELECT rowid, bm25(fts, 2.0, 1.0) AS s FROM fts"
            f" WHERE fts MATCH ?{among} ORDER BY s LIMIT ?) r JOIN nodes n ON n.key = r.rowid"
            " ORDER BY r.s",
            (*params, limit),
        )
        return [(r[0], -float(r[1])) for r in rows]

    def time_span(self) -> tuple[str, str] | None:
        """The earliest and the latest time a node holds (a memory's), or None."""
        time = self._time()  # as the index nodes_time spells it
        first, last = self.db.execute(
            f"SELECT min({time}), max({time}) FROM nodes WHERE {time} IS NOT NULL").fetchone()
        return None if first is None else (str(first), str(last))

    def keys_within(self, within: Within) -> list[int]:
        """The keys of the nodes `within` admits (its time range in SQL, the speaker, whose
        case SQLite folds only in ASCII, here)."""
        where, params, speaker = ["1 = 1"], list[str](), self._json("meta", "speaker")
        if within.speaker is not None:
            where.append(f"{speaker} IS NOT NULL")
        for op, value in ((">=", within.since), ("<", within.until)):
            if value is not None:  # the index nodes_time serves these
                where.append(f"{self._time()} {op} ?")
                params.append(value)
        rows = self.db.execute(
            f"SELECT key, {speaker} FROM nodes WHERE {' AND '.join(where)}", params)
        return [int(k) for k, who in rows if within.said_by(who)]

    def doc_freqs(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(about how many nodes are indexed, how many of them contain each stem)."""
        uniq = list(dict.fromkeys(stems))
        # max(key) is O(1) and close to the node count; exactness does not matter for a ratio
        total = int(self.db.execute("SELECT max(key) FROM nodes").fetchone()[0] or 0)
        found: dict[str, int] = {}
        for chunk in chunks(uniq):
            found.update(
                self.db.execute(
                    f"SELECT term, doc FROM fts_vocab WHERE term IN ({marks(chunk)})", chunk
                ).fetchall()
            )
        return total, {t: int(found.get(t, 0)) for t in uniq}
