"""Vault ingest on real data: the user's seed notes, the example vault, and broken inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from overlay import Overlay
from overlay.config import IngestConfig
from overlay.graph import EdgeKind, NodeKind
from overlay.ingest import vault as vault_module


def test_a_russian_chat_export_ingests_with_repair_speakers_and_links(
    overlay: Overlay, chat_export: Path
) -> None:
    report = overlay.ingest([chat_export])
    assert (report.files, report.added, len(report.repaired)) == (1, 1, 1)
    assert report.warnings == []
    assert report.links == 2 and report.links_unresolved == 2
    hits = overlay.search("Харкевич", k=5)
    assert hits and hits[0].source_path == "export/001_chat.txt"
    nodes = list(overlay.store.iter_nodes())
    assert {"user", "assistant"} <= {n.meta.get("speaker") for n in nodes}
    question = next(n for n in nodes if n.text.startswith("Можно ли сделать"))
    assert question.meta["speaker"] == "user" and "5b1c0a7e-1" in question.meta["anchor"]
    assert {link["target"] for link in overlay.links()} == {
        "Преобразователи Харкевича", "36 Overlay AGI"}


def test_seeds_ingest_with_repair_speakers_and_links(overlay: Overlay, seeds: Path) -> None:
    report = overlay.ingest([seeds])
    assert (report.files, report.added, len(report.repaired)) == (5, 5, 5)
    assert report.warnings == []
    assert report.links == 70 and report.links_unresolved == 70  # they name notes not exported
    hits = overlay.search("Харкевич", k=5)
    assert hits and hits[0].source_path == "seeds/003_88ea89ca3104fdae.txt"
    assert "Харкевич" in hits[0].title + hits[0].snippet
    nodes = list(overlay.store.iter_nodes())
    speakers = {n.meta.get("speaker") for n in nodes}
    assert {"user", "assistant"} <= speakers
    question = next(n for n in nodes if n.text.startswith("Можно ли сделать свою инфраструктуру"))
    assert question.meta["speaker"] == "user" and question.line_start == 2
    assert all("–" not in n.text[:3] for n in nodes)  # no mojibake left at the start of any block
    targets = {link["target"] for link in overlay.links()}
    assert "36 Overlay AGI" in targets and "88_в_комментариях_к_статье" in targets


def test_example_vault_resolves_every_link(overlay: Overlay, vault: Path) -> None:
    report = overlay.ingest([vault])
    assert report.files >= 30 and report.links_unresolved == 0 and report.warnings == []
    stats = overlay.stats()
    assert stats["nodes_by_kind"]["method"] == 2
    assert stats["nodes_by_kind"]["goal"] == 1 and stats["nodes_by_kind"]["principle"] == 1
    links = overlay.links()
    by_target = {(r["source"], r["target"], r["anchor"]): r for r in links}
    # alias, heading anchor, block anchor, markdown relative link, embed
    assert by_target[("vault/Sourdough.md", "Starter", None)]["to_title"] == "Starter"
    shaping = by_target[("vault/Shaping.md", "Bulk fermentation", "^bulk-done")]
    assert overlay.node(shaping["to"]).meta["block_id"] == "bulk-done"
    journal = by_target[
        ("vault/journal/2026-03-14 bake.md", "vault/Fermentation.md", "Temperature")
    ]
    assert journal["to_title"] == "Temperature"
    alias = by_target[("vault/journal/2026-03-21 bake.md", "Dutch oven", None)]
    assert alias["to_title"] == "Baking in a Dutch oven"
    method = next(
        n
        for n in overlay.store.iter_nodes()
        if n.title == "Bake a sourdough loaf" and n.kind is NodeKind.METHOD
    )
    goal_edges = [e for e in overlay.store.edges_of(method.id) if e.kind is EdgeKind.SERVES]
    assert len(goal_edges) == 1 and overlay.node(goal_edges[0].dst or "").kind is NodeKind.GOAL


def test_reingest_touches_only_what_changed(overlay: Overlay, vault: Path) -> None:
    overlay.ingest([vault])
    events = overlay.stats()["events"]
    again = overlay.ingest([vault])
    assert (again.unchanged, again.nodes_written, again.embedded) == (again.files, 0, 0)
    assert overlay.stats()["events"] == events

    note = vault / "Hooch.md"
    note.write_text(note.read_text() + "\nHooch smells like alcohol. ^smell\n")
    third = overlay.ingest([vault])
    assert (third.updated, third.added, third.unchanged) == (1, 0, third.files - 1)
    # the new paragraph, plus the grown line spans of the note and its H1 section
    assert third.nodes_written == 3
    assert third.embedded == 1  # only new text is embedded again
    assert overlay.search("smells alcohol", k=1)[0].source_path == "vault/Hooch.md"


def test_deleted_note_goes_and_links_to_it_become_unresolved(overlay: Overlay, vault: Path) -> None:
    overlay.ingest([vault])
    (vault / "Hooch.md").unlink()
    report = overlay.ingest([vault])
    assert report.deleted == 1
    assert overlay.store.nodes_of_source("vault/Hooch.md") == []
    unresolved = overlay.links(unresolved=True)
    assert [(r["source"], r["target"]) for r in unresolved] == [("vault/Starter.md", "Hooch")]
    (vault / "Hooch.md").write_text("# Hooch\n\nBack again.\n")
    assert overlay.ingest([vault]).links_unresolved == 0


def test_rename_keeps_node_identity(overlay: Overlay, vault: Path) -> None:
    overlay.ingest([vault])
    before = {n.id for n in overlay.store.nodes_of_source("vault/Hooch.md")}
    (vault / "Hooch.md").rename(vault / "journal" / "Hooch.md")
    report = overlay.ingest([vault])
    assert (report.renamed, report.deleted, report.added) == (1, 0, 0)
    after = {n.id for n in overlay.store.nodes_of_source("vault/journal/Hooch.md")}
    assert after == before
    assert overlay.ingest([vault]).links_unresolved == 0  # [[Hooch]] still finds it by name


def test_bad_inputs_warn_per_file_and_the_rest_is_ingested(
    tmp_path: Path, overlay: Overlay
) -> None:
    vault = tmp_path / "messy"
    vault.mkdir()
    (vault / "good.md").write_text("# Good\n\nThis one is fine and links [[broken yaml]].\n")
    (vault / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (vault / "empty.md").write_text("")
    (vault / "huge.md").write_text("x" * 2000)
    (vault / "cp1251.md").write_bytes(
        ("Заметка о Харкевиче и ценности информации для достижения цели. " * 4).encode("cp1251")
    )
    (vault / "broken yaml.md").write_text("---\ntags: [a, b\n---\nbody\n")
    outside = tmp_path / "secret.md"
    outside.write_text("outside the vault")
    (vault / "link.md").symlink_to(outside)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.md").write_text("far away")
    (vault / "linked-folder").symlink_to(tmp_path / "elsewhere")
    (vault / "picture.png").write_bytes(b"\x89PNG")
    ov = Overlay(
        settings=overlay.settings.model_copy(update={"ingest": IngestConfig(max_file_bytes=1000)}),
        create=True,
    )
    report = ov.ingest([vault])
    text = "\n".join(report.warnings)
    assert "binary.md: skipped, binary" in text
    assert "empty.md: empty note" in text
    assert "huge.md: skipped, 2,000 bytes" in text
    assert "cp1251.md: not UTF-8" in text
    assert "broken yaml.md:2: bad YAML frontmatter" in text
    assert "link.md: skipped, symlink leads outside the vault" in text
    assert "linked-folder: skipped, symlink leads outside the vault" in text
    assert "picture" not in text
    assert report.added == 3  # good, empty, cp1251
    assert ov.search("Харкевиче", k=1)[0].source_path == "messy/cp1251.md"
    assert report.links_unresolved == 1  # the note with broken YAML was not ingested


def test_broken_edit_keeps_the_stored_version(overlay: Overlay, vault: Path) -> None:
    overlay.ingest([vault])
    before = [n.text for n in overlay.store.nodes_of_source("vault/Hooch.md")]
    (vault / "Hooch.md").write_text("---\ntags: [oops\n---\nnew text\n")
    report = overlay.ingest([vault])
    assert any("Hooch.md:2: bad YAML" in w for w in report.warnings)
    assert [n.text for n in overlay.store.nodes_of_source("vault/Hooch.md")] == before
    assert report.deleted == 0


def test_crash_mid_ingest_leaves_a_consistent_store(
    overlay: Overlay, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = vault_module.write
    calls = {"n": 0}

    def crashing_write(store, parsed, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 10:
            with store.change("ingest.file", path=parsed.path):
                store.put_nodes(parsed.nodes[:1])
                raise KeyboardInterrupt  # the user hits Ctrl-C mid-file
        return real_write(store, parsed, **kw)

    monkeypatch.setattr(vault_module, "write", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        overlay.ingest([vault])
    files = overlay.store.files()
    assert len(files) == 9
    for record in files:  # each stored file has all its nodes; nothing of the 10th
        assert overlay.store.nodes_of_source(record.path)
    tenth = {n.source_path for n in overlay.store.iter_nodes()} - {f.path for f in files}
    assert tenth == set()
    monkeypatch.setattr(vault_module, "write", real_write)
    report = overlay.ingest([vault])
    assert report.unchanged == 9 and report.added == report.files - 9
    assert report.links_unresolved == 0 and overlay.store.count_missing_vectors("hashing-256") == 0


def test_killed_process_mid_ingest_then_resume(tmp_path: Path, vault: Path) -> None:
    """A real kill -9 during ingest: SQLite's journal keeps the store whole."""
    db = tmp_path / "k.db"
    script = textwrap.dedent(f"""
        import os, sys
        from overlay import Overlay, Settings
        from overlay.ingest import vault as v
        real, n = v.write, [0]
        def write(store, parsed, **kw):
            n[0] += 1
            if n[0] == 7:
                os.kill(os.getpid(), 9)
            return real(store, parsed, **kw)
        v.write = write
        Overlay(settings=Settings.make(db={str(db)!r}, retrieve={{"embedder": "hashing"}})).ingest(
            [__import__("pathlib").Path({str(vault)!r})])
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ}, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    from tests.conftest import open_overlay

    with open_overlay(db) as ov:
        assert len(ov.store.files()) == 6
        report = ov.ingest([vault])
        assert report.unchanged == 6 and report.links_unresolved == 0
        assert ov.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_single_file_and_missing_path(overlay: Overlay, vault: Path) -> None:
    report = overlay.ingest([vault / "Hooch.md"])
    assert report.added == 1
    from overlay.errors import IngestError

    with pytest.raises(IngestError, match="no such file"):
        overlay.ingest([vault / "nope"])


def test_new_heading_catches_links_that_named_it(overlay: Overlay, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "A.md").write_text("See [[B#Later part]] and [[C]].\n")
    (vault / "B.md").write_text("# B\n\nText.\n")
    overlay.ingest([vault])
    first = overlay.links()
    assert [r["to_title"] for r in first] == ["B", None]
    (vault / "B.md").write_text("# B\n\nText.\n\n## Later part\n\nMore.\n")
    overlay.ingest([vault])
    assert [r["to_title"] for r in overlay.links()] == ["Later part", None]
    (vault / "C.md").write_text("now it exists\n")
    report = overlay.ingest([vault])
    assert report.links_unresolved == 0 and report.links == 2
