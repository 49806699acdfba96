"""The stores' tables of docs/benchmarks.md (bench/stores.py, bench/stores_eval.py), apart from
report.py so that neither file grows past what one reads at once."""

from __future__ import annotations


def stores_table(data: dict) -> list[str]:
    """Both backends in one run: ingest, search at scale, learning, several servers."""
    s, r = data["search"], data["ratios"]
    rows = ["Both stores in one run; PostgreSQL " + data["postgres"] + " over a Unix socket; "
            f"embedder {data['embedder']} (no model: the store is measured). Ratios are "
            "PostgreSQL's time over SQLite's.", "",
            "| ingest | SQLite s | PostgreSQL s | notes/s SQLite / PostgreSQL | ratio |",
            "|---|---:|---:|---:|---:|"]
    for key, row in data["ingest"].items():
        if key.startswith("sqlite_"):
            n = key.split("_")[1]
            pg = data["ingest"][f"postgresql_{n}"]
            rows.append(f"| {int(n):,} notes ({row['nodes']:,} nodes) | {row['s']} | {pg['s']} "
                        f"| {row['notes_per_s']} / {pg['notes_per_s']} | {r[f'ingest_{n}']}× |")
    rows += ["", f"Search at {s['sqlite']['nodes']:,} nodes ({s['lexical_lists_equal']} lexical "
             "top-10 lists identical on the two backends); recall@10 of the note each query "
             "was drawn from, and of the exact top 10 for the dense list:", "",
             "| list | SQLite p50 / p95 ms | PostgreSQL p50 / p95 ms | recall@10 SQLite / "
             "PostgreSQL | ratio p50 |", "|---|---:|---:|---:|---:|"]
    for arm in ("lexical", "dense", "hybrid"):
        a, b = s["sqlite"][arm], s["postgresql"][arm]
        extra = (f" (exact: {a['recall_vs_exact']} / {b['recall_vs_exact']})"
                 if "recall_vs_exact" in a else "")
        rows.append(f"| {arm} | {a['p50_ms']} / {a['p95_ms']} | {b['p50_ms']} / {b['p95_ms']} "
                    f"| {a['recall_at_10']} / {b['recall_at_10']}{extra} | {r[f'{arm}_p50']}× |")
    learn = data["learning"]
    rows += ["", "| learning | SQLite | PostgreSQL | ratio |", "|---|---:|---:|---:|",
             f"| learn p50 ms | {learn['sqlite']['learn']['p50_ms']} | "
             f"{learn['postgresql']['learn']['p50_ms']} | {r['learn_p50']}× |",
             f"| {learn['sqlite']['feedback_events']:,} verdicts, s | "
             f"{learn['sqlite']['feedback_s']} | {learn['postgresql']['feedback_s']} "
             f"| {r['feedback']}× |",
             f"| episodes stored | {learn['sqlite']['episodes_stored']:,} "
             f"| {learn['postgresql']['episodes_stored']:,} | |"]
    sv = data["servers"]
    one = sv["postgresql"]
    rows += ["", f"{one['processes']} `overlay serve` processes × {one['clients']} clients, each "
             "round two searches, a chat (fake LM), its verdict through another process and a "
             "lesson:", "",
             "| store | requests | errors | lost writes | req/s | search p50 ms | chat p50 ms "
             "| learn p50 ms | verdict p50 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("sqlite", "postgresql"):
        x = sv[name]
        rows.append(f"| {name} | {x['requests']} | **{x['errors']}** | **{x['lost_writes']}** "
                    f"| {x['requests_per_s']} | {x['search']['p50_ms']} | {x['chat']['p50_ms']} "
                    f"| {x['learn']['p50_ms']} | {x['feedback']['p50_ms']} |")
    return rows


def stores_eval_table(data: dict) -> list[str]:
    """The same evaluations on both backends, and whether their figures are the same."""
    rows = ["| evaluation | SQLite | PostgreSQL | same |", "|---|---|---|---|"]
    for key, same in data["same_figures"].items():
        a, b = data["sqlite"][key], data["postgresql"][key]
        if key == "edits":
            def cell(x: dict) -> str:
                o = x["groups"]["report"]["overlay"] if x.get("groups") else x["overlay"]
                return f"{o['reliability']} / {o['generalization']} / {o['locality']}"
            name = f"edits, {a['records']:,} learned, second half (rel. / gen. / loc.)"
        else:
            def cell(x: dict) -> str:
                o, f = x["out_of_the_box"]["selector"], x["after_feedback"]["selector"]
                return f"{o['top1']} → {f['top1']} (nDCG {o['ndcg@10']} → {f['ndcg@10']})"
            name = f"{key.replace('_', ' ')}: selector top-1 out of the box → after verdicts"
        rows.append(f"| {name} | {cell(a)} | {cell(b)} | {'yes' if same else '**no**'} |")
    return rows
