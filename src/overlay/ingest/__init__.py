"""Vault ingest: text repair, Markdown/Obsidian parsing, link resolution, incremental writes."""

from overlay.ingest.markdown import Note, parse_note
from overlay.ingest.notes import resolve_links
from overlay.ingest.repair import decode, repair_text
from overlay.ingest.vault import IngestReport, ingest

__all__ = ["IngestReport", "Note", "decode", "ingest", "parse_note", "repair_text", "resolve_links"]
