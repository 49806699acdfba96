"""Hostile vaults, round two: notes that once froze ingest, a note of very many blocks, an
ingest of very many nodes, and a copied vault taken for its original."""

from __future__ import annotations

import shutil
from pathlib import Path

from overlay import Overlay, Settings


def open_store(db: Path, **ingest: int) -> Overlay:
    return Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"},
                                          ingest=ingest))


def test_the_notes_that_froze_ingest_are_read(tmp_path: Path) -> None:
    vault = tmp_path / "r"
    vault.mkdir()
    (vault / "c.md").write_text("# C\n\n" + "<!---->" * 40 + "x\n")
    (vault / "m.md").write_text("# M\n\n" + "[](" * 16_000 + "\n")
    with open_store(tmp_path / "o.db") as ov:
        report = ov.ingest([vault])
        assert report.added == 2 and report.warnings == []


def test_a_note_of_many_blocks_keeps_its_first_ones(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "Many.md").write_text("".join(f"Paragraph {i}.\n\n" for i in range(500)))
    (vault / "Small.md").write_text("# Small\n\nOne paragraph.\n")
    with open_store(tmp_path / "o.db", max_blocks=100) as ov:
        report = ov.ingest([vault])
        assert report.added == 2
        [warning] = report.warnings
        assert "Many.md" in warning and "blocks, only the first 100 kept" in warning
        assert "ingest.max_blocks" in warning
        texts = {n.text for n in ov.store.nodes_of_source("v/Many.md")}
        assert "Paragraph 99." in texts and "Paragraph 100." not in texts
        assert len(texts) == 101  # the note and its first 100 blocks


def test_an_ingest_stops_at_its_node_limit_and_deletes_nothing(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    for i in range(6):
        (vault / f"n{i}.md").write_text(f"# Note {i}\n\nFirst.\n\nSecond.\n")
    db = tmp_path / "o.db"
    with open_store(db) as ov:
        assert ov.ingest([vault]).added == 6
    (vault / "n5.md").rename(vault / "z.md")  # a move the cut-short ingest will not reach
    for i in range(5):
        (vault / f"n{i}.md").write_text(f"# Note {i}\n\nFirst.\n\nChanged.\n")
    with open_store(db, max_nodes=10) as ov:
        report = ov.ingest([vault])
        assert (report.updated, report.added) == (2, 0)  # 4 nodes a note: the third passes 10
        [warning] = report.warnings
        assert "ingest.max_nodes" in warning and "stored versions are kept" in warning
        assert report.deleted == 0
        assert ov.store.nodes_of_source("v/n5.md")  # its old path is kept, not deleted
    with open_store(db) as ov:  # with the limit lifted the rest is read, the move a move
        again = ov.ingest([vault])
        assert again.warnings == [] and again.renamed == 1 and again.deleted == 0


def test_a_copied_vault_is_a_new_vault_not_a_move(tmp_path: Path) -> None:
    a = tmp_path / "A"
    a.mkdir()
    for name in ("Hooch", "Levain", "Crumb"):
        (a / f"{name}.md").write_text(f"# {name}\n\nAbout {name.lower()}.\n")
    with open_store(tmp_path / "o.db") as ov:
        ov.ingest([a])
        ids = {n.id for n in ov.store.iter_nodes()}
        b = Path(shutil.copytree(a, tmp_path / "B"))
        (b / "Hooch.md").unlink()
        report = ov.ingest([b])
        assert (report.added, report.renamed, report.deleted) == (2, 0, 0)
        assert any("a copy of the vault at" in w for w in report.warnings)
        assert ids <= {n.id for n in ov.store.iter_nodes()}  # A's notes are all still there
        paths = {r.path for r in ov.store.files()}
        assert {"A/Hooch.md", "A/Levain.md", "B/Levain.md"} <= paths
        again = ov.ingest([a])
        assert (again.unchanged, again.renamed, again.deleted) == (3, 0, 0)
        assert ov.ingest([b]).unchanged == 2  # B keeps its own new id from now on
        moved = b.rename(tmp_path / "C")  # and a move is still a move
        assert ov.ingest([moved]).renamed == 2
