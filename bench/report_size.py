"""The real-size table of docs/benchmarks.md (bench/real_size.py), apart from report.py so
that neither file grows past what one reads at once."""

from __future__ import annotations

NAMES = {"export": "ChatGPT export", "vault": "vault of notes", "note": "one long note"}
UNITS = {"export": "messages", "vault": "notes", "note": "paragraphs"}


def real_size_table(data: dict) -> list[str]:
    """Time and peak RSS of one ingest at 1×, 4× and 16×, and how each grew."""
    rows = [f"`Overlay.ingest` in a fresh process per row, store {data['store']}, embedder "
            f"{data['embedder']} (reading, parsing, writing and indexing; embedding goes as "
            f"the tokens, see embed), {data['cores']} cores. Linear work grows 4× from one "
            "row to the next.", "",
            "| input | scale | size | MB | seconds | parse / write+index / embed s "
            "| peak RSS MB | nodes | time growth | RSS growth |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ("export", "vault", "note"):
        if kind not in data:
            continue
        growth, previous = data[kind]["growth"], None
        for r in data[kind]["runs"]:
            t = growth.get(f"time_{r['scale']}x_over_{previous}x") if previous else None
            m = growth.get(f"rss_{r['scale']}x_over_{previous}x") if previous else None
            rows.append(f"| {NAMES[kind]} | {r['scale']}× | {r['units']:,} {UNITS[kind]} | "
                        f"{r['mb']} | {r['seconds']} | {_stages(r)} | {r['peak_rss_mb']:,} | "
                        f"{r['nodes']:,} | "
                        f"{f'{t}×' if t else ''} | {f'{m}×' if m else ''} |")
            previous = r["scale"]
    return rows


def _stages(row: dict) -> str:
    stages = row.get("stages") or {}
    return " / ".join(f"{stages.get(k, 0):.1f}" for k in ("parse", "index", "embed"))
