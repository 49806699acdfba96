"""Render docs/benchmarks.md's tables from bench/results/*.json (run after the benchmarks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report_embed import embed_table
from report_size import real_size_table
from report_stores import stores_eval_table, stores_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def ingest_table(data: dict) -> list[str]:
    rows = [
        "| notes | nodes | links | parse s | embed s | index s | total s | raw embedding s "
        "| total / raw | re-ingest after 1 change s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        rows.append(
            f"| {r['notes']:,} | {r['nodes']:,} | {r['links']:,} | {r['parse_s']} | {r['embed_s']} "
            f"| {r['index_s']} | {r['total_s']} | {r['raw_embedding_s']} "
            f"| **{r['total_over_raw_embedding']}** | **{r['incremental_one_file_s']}** |"
        )
    return rows


def retrieve_table(data: dict) -> list[str]:
    rows = [
        "| nodes | load s | HNSW build s | lexical p50/p95 ms | dense p50/p95 ms "
        "| query embedding p50 ms | hybrid p50/p95 ms | dense recall@10 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        lex, den, hyb = r["lexical"], r["dense_hnsw"], r["hybrid"]
        rows.append(
            f"| {r['nodes']:,}{' *' if 'measured' in r else ''} | {r['load_s']} "
            f"| {r['index_build_s']} "
            f"| {lex['p50_ms']} / {lex['p95_ms']} | {den['p50_ms']} / {den['p95_ms']} "
            f"| {r['query_embedding']['p50_ms']} | **{hyb['p50_ms']}** / {hyb['p95_ms']} "
            f"| **{r['dense_recall_at_10']}** |"
        )
    if any("measured" in r for r in data["runs"]):
        rows += ["", "\\* measured in an earlier run of the same script (`--merge`)."]
    return rows


def scoring_table(data: dict) -> list[str]:
    rows = [
        "| K | prompt tokens | mean candidate tokens | naive s | shared-prefix s | speed-up "
        "| FLOP bound | max abs Δ logprob | shared / prefill bound |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        rows.append(
            f"| {r['k']} | {r['prompt_tokens']} | {r['mean_candidate_tokens']} | {r['naive_s']} "
            f"| {r['shared_s']} | **{r['speedup']}×** | {r['flop_bound_ratio']}× "
            f"| {r['max_abs_delta_logprob']} | {r['shared_over_prefill_bound']}× |"
        )
    return rows


def ask_table(data: dict) -> list[str]:
    rows = [
        "| vault | nodes | statement p50 / p95 ms | the same, LM term at every ask | speed-up "
        "| compose p50 / p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        st, co = r["statement"], r["compose"]
        old = r.get("statement_lm_always")
        then = f"{old['p50_ms']:.0f} / {old['p95_ms']:.0f}" if old else "—"
        rows.append(
            f"| {r['vault']} | {r['nodes']:,} | **{st['p50_ms']:.0f}** / {st['p95_ms']:.0f} "
            f"| {then} | {r.get('statement_speedup', '—')}× "
            f"| **{co['p50_ms']:.0f}** / {co['p95_ms']:.0f} |"
        )
    rows += ["", f"Model {data['model']}, embedder {data.get('embedder', 'all-MiniLM-L6-v2')}."]
    o = data["processor_overhead"]
    rows += [
        "",
        f"Per generated token ({o['tokens']} tokens, same prompt): plain `generate` "
        f"{o['plain_ms_per_token']} ms, with the overlay bias {o['overlay_ms_per_token']} ms "
        f"(**{o['overlay_over_plain']}×**), strict {o['strict_ms_per_token']} ms "
        f"(**{o['strict_over_plain']}×**).",
    ]
    return rows


def learn_table(data: dict) -> list[str]:
    return [
        "| feedback events/s (batched) | learn-to-usable p50 / p95 ms "
        "| undo: events, exact, events/s |",
        "|---:|---:|---:|",
        f"| **{data['feedback_per_s']:,}** | **{data['learn_to_usable_ms_p50']}** / "
        f"{data['learn_to_usable_ms_p95']} | {data['undo_events']:,}, "
        f"**{'exact' if data['undo_exact'] else 'NOT exact'}**, {data['undo_per_s']:,} |",
    ]


# published reference points from ../shared/benchmarks/README.md: other models, other data
PUBLISHED = [
    ("WISE", 0.77, 0.72, 1.00),
    ("GRACE", 0.93, 0.08, 1.00),
    ("MEMIT-MASS", 0.69, 0.65, 0.62),
    ("ROME", 0.01, 0.01, 0.00),
    ("FT-L", 0.19, 0.16, 0.03),
]


def edit_rows(data: dict) -> list[str]:
    """The headline table of one edit run: the overlay and the bare model."""
    o, b = data["overlay"], data["bare_model"]
    return [
        "| system | edits | reliability | generalization | locality |",
        "|---|---:|---:|---:|---:|",
        f"| overlay + {data['model']} (this run) | {data['records']:,} | **{o['reliability']}** "
        f"| **{o['generalization']}** | **{o['locality']}** |",
        f"| bare {data['model']} (this run) | {data['records']:,} | {b['reliability']} "
        f"| {b['generalization']} | {b['locality']} |",
    ]


def edits_table(data: dict) -> list[str]:
    rows = []
    if "measured_records" in data:
        rows += [f"All {data['records']:,} records learned; measured: records "
                 f"{data['measured_records']}.", ""]
    rows += edit_rows(data)
    for name, r, g, loc in PUBLISHED:
        rows.append(
            f"| {name}, LLaMA-2-7B, zsRE, T = 1000 (WISE paper, Table 2; *other model and data*) "
            f"| 1,000 | {r} | {g} | {loc} |"
        )
    rows += conventions_rows(data)
    rows += [
        "",
        f"Learn {data['learn_ms_p50']} ms p50 per edit; {data['eval_ms_p50']} ms p50 per choice; "
        f"{data['total_s']} s in all ({data['setting']}).",
    ]
    return rows


def conventions_rows(data: dict) -> list[str]:
    """The same run in the field's two conventions, each with what it counts."""
    conv = data.get("conventions")
    if not conv:
        return []
    rows = ["", "The same run in the field's two conventions:", "",
            "| convention | system | reliability / efficacy | generalization / paraphrase "
            "| locality / neighbourhood |", "|---|---|---:|---:|---:|"]
    for name, label, cols in (
        ("wise", "WISE/GRACE", ("reliability", "generalization", "locality")),
        ("counterfact", "CounterFact", ("efficacy", "paraphrase", "neighbourhood")),
    ):
        if conv.get(name) is None:
            continue  # not measured in this run
        for system in ("overlay", "bare_model"):
            r = conv[name][system]
            vals = " | ".join("—" if r[c] is None else str(r[c]) for c in cols)
            rows.append(f"| {label} | {system.replace('_', ' ')} | {vals} |")
    rows += ["", *(f"- **{k}**: {v}." for k, v in conv["about"].items())]
    return rows


def edits_zsre_table(data: dict) -> list[str]:
    return [
        f"{'All' if data.get('limit') is None else 'The first'} {data['records']} question-form "
        f"edits of `{data['data']}`, "
        f"{data['setting']}; measured, not tuned on.",
        "",
        *edit_rows(data),
        *conventions_rows(data),
        "",
        f"Learn {data['learn_ms_p50']} ms p50 per edit; {data['eval_ms_p50']} ms p50 per choice; "
        f"{data['total_s']} s in all.",
    ]


def scale_table(data: dict) -> list[str]:
    rows = [
        f"{data['records']:,} edits learned sequentially into one overlay ({data['data']}), "
        f"{data['model']}; measured: {data['measured']} of them.",
        "",
        "| measured | records | reliability | generalization | locality | CounterFact "
        "neighbourhood (overlay / bare) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("first_learned", "the first learned (forgetting)"),
                        ("sample", f"a random sample (seed {data['seed']})")):
        g = data["groups"][name]
        o, nb = g["overlay"], g["conventions"]["counterfact"]
        rows.append(f"| {label} | {g['records']} | {o['reliability']} | {o['generalization']} "
                    f"| {o['locality']} | {nb['overlay']['neighbourhood']} / "
                    f"{nb['bare_model']['neighbourhood']} |")
    lat = data["learn_ms"]
    rows += [
        "",
        f"Learn latency: first 1,000 learns {lat['first_1000']['p50']} ms p50 / "
        f"{lat['first_1000']['p95']} ms p95; last 1,000 {lat['last_1000']['p50']} ms p50 / "
        f"{lat['last_1000']['p95']} ms p95. Store {data['store_bytes'] / 1e6:.1f} MB. "
        f"{data['eval_ms_p50']} ms p50 per choice; {data['total_s']} s in all.",
    ]
    return rows


def ranking_table(data: dict) -> list[str]:
    rows = [
        "| questions | ranked by | nDCG@10 | top-1 | nDCG@10 after feedback | top-1 after |",
        "|---|---|---:|---:|---:|---:|",
    ]
    notes = []
    for name in ("vault", "docs", "vault-ru"):
        found = data.get(name)
        if not found:
            continue
        before, after = found["out_of_the_box"], found["after_feedback"]
        for by, label in (("retrieval", "retrieval alone"), ("lm", "LM alone"),
                          ("selector", "**the selector**")):
            rows.append(f"| {name} ({found['questions']}) | {label} | {before[by]['ndcg@10']} "
                        f"| {before[by]['top1']} | {after[by]['ndcg@10']} | {after[by]['top1']} |")
        b, a, v = (before["selector_vs_retrieval"], after["selector_vs_retrieval"],
                   found["verdicts"])
        notes.append(f"- {name}: the selector beat retrieval on {b['better']} questions and lost "
                     f"on {b['worse']} out of the box; after {v['good']} good and {v['bad']} bad "
                     f"verdicts, {a['better']} and {a['worse']} (sign test p = "
                     f"{a['sign_test_p']}); {found['seconds']} s.")
    return [*rows, "", *notes]


def multilingual_table(data: dict) -> list[str]:
    rows = ["| embedder | notes ← questions | lexical hit@1 / MRR@10 | dense | hybrid "
            "| hybrid R@5 / R@10 | hybrid query p50 |", "|---|---|---|---|---|---|---:|"]
    notes = []
    for name, found in data["embedders"].items():
        for way, d in found["directions"].items():
            cells = [f"{d[m]['hit@1']} / {d[m]['MRR@10']}" for m in ("lexical", "dense")]
            h = d["hybrid"]
            rows.append(f"| {found['model']} | {way} | {' | '.join(cells)} | **{h['hit@1']}** / "
                        f"{h['MRR@10']} | {h['R@5']} / {h['R@10']} | {h['query_p50_ms']} ms |")
        never = data["hybrid_never_below_best_single_hit@1"][name]
        notes.append(f"- {found['model']}: ingest {found['ingest_s_per_1000_notes']} s per "
                     f"1,000 notes; hybrid {'never' if never else 'sometimes'} below its best "
                     "single list at hit@1.")
    return [*rows, "", f"{data['paragraphs_per_language']} paragraphs per language, "
            f"{data['measure']}.", "", *notes]


def memory_table(data: dict) -> list[str]:
    arms = ("lexical", "dense", "hybrid", "ask")
    names = {"lexical": "BM25 (lexical alone)", "dense": "dense alone", "hybrid": "hybrid search",
             "ask": "the full ask's candidates"}
    cats = [("all", data["all"]), *data["by_category"].items()]
    rows = ["| evidence turns, recall@10 | " + " | ".join(f"{c} ({r['questions']})"
                                                        for c, r in cats)
            + " | turn nDCG@10 | session R@10 | p50 |",
            "|---|" + "---:|" * (len(cats) + 3)]
    best = {c: max(r[a]["turn"]["recall@10"] for a in arms) for c, r in cats}
    for arm in arms:
        cells = [(f"**{r[arm]['turn']['recall@10']}**" if r[arm]["turn"]["recall@10"] == best[c]
                  else str(r[arm]["turn"]["recall@10"])) for c, r in cats]
        a = data["all"][arm]
        rows.append(f"| {names[arm]} | {' | '.join(cells)} | {a['turn']['ndcg@10']} | "
                    f"{a['session']['recall@10']} | {a['p50_ms']} ms |")
    return [*rows, "", f"{data['questions']} questions with evidence over {data['turns']} turns "
            f"of {data['conversations']} conversations ({data['data']}), embedder "
            f"{data['embedder']}; recall@5 and the session level per category are in "
            f"bench/results/memory.json. The question's embedding ({data['all']['embed_p50_ms']} "
            f"ms p50) is timed apart; each arm's p50 is what it adds. Ingest: "
            f"{data['ingest_s_per_1000_turns']} s per 1,000 turns; the run took "
            f"{data['seconds']} s."]


def dataset_table(data: dict) -> list[str]:
    rows = [
        "| nodes | items | self-tests | load s | generate s | export s | build s | check s "
        "| slowest rules (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["runs"]:
        slow = sorted(r["rules_s"].items(), key=lambda kv: -kv[1])[:3]
        rules = ", ".join(f"{k} {v}" for k, v in slow)
        rows.append(
            f"| {r['nodes']:,} | {r['items']:,} | {r['self_tests']:,} | {r['load_s']} "
            f"| {r['generate_s']} | {r['export_s']} | **{r['build_s']}** | **{r['check_s']}** "
            f"| {rules} |"
        )
    g = data.get("growth") or {}
    if g:
        rows += [
            "",
            f"Growth from 1,000 to 10,000 nodes (10× the items; 10× is linear): build "
            f"**{g['build_1k_to_10k']}×**, check **{g['check_1k_to_10k']}×**.",
        ]
    return rows


def server_table(data: dict) -> list[str]:
    rows = [
        "| design | clients | requests | wall s | req/s | search p50 / p95 ms "
        "| chat p50 / p95 ms | learn p50 / p95 ms | errors | database locked |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    designs = [("new", data["runs"])]
    if data.get("old_runs"):
        designs.append((f"old ({data.get('old_design', 'before')})", data["old_runs"]))
    for name, runs in designs:
        for r in runs:
            k = r["by_kind"]

            def cell(x: str, k: dict = k) -> str:
                if not k[x]["n"]:
                    return "—"
                return f"{k[x]['p50_ms']:.0f} / {k[x]['p95_ms']:.0f}"

            who = f"{name}, {r['mix']}" if r.get("mix") else name
            rows.append(
                f"| {who} | {r['clients']} | {r['requests']} | {r['wall_s']} "
                f"| **{r['throughput_rps']}** | **{cell('search')}** | {cell('chat')} "
                f"| {cell('learn')} | **{r['errors']}** | {r['database_locked']} |"
            )
    rows += ["", f"Mix: {data['mix']}."]
    if data.get("scheduler"):
        rows += ["", "| asks at once | candidates | one after another s | through the scheduler s "
                 "| candidates/s, sequential | candidates/s, scheduler | speed-up "
                 "| requests per pass |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        rows += [f"| {r['asks']} | {r['candidates']} | {r['sequential_s']} | {r['scheduler_s']} "
                 f"| {r['sequential_cand_per_s']} | {r['scheduler_cand_per_s']} "
                 f"| **{r['speedup']}×** | {r['requests_per_pass']} |" for r in data["scheduler"]]
    t = data.get("threads")
    if t:
        rows += ["", f"One MiniLM query embedding on {t['cores']} cores, median ms:", "",
                 "| machine | torch default (a thread per core) | one thread (the embedder's) |",
                 "|---|---:|---:|",
                 f"| idle | {t['idle']['default_ms']} | **{t['idle']['one_thread_ms']}** |",
                 f"| four busy processes | {t['load_4']['default_ms']} "
                 f"| **{t['load_4']['one_thread_ms']}** |"]
    return rows


def imprint_table(data: dict) -> list[str]:
    b, a = data["before"], data["after"]

    def row(name: str, r: dict) -> str:
        loc = r.get("locality") or {}
        return (f"| {name} | {r['match']} | **{r['choose']}** | {r['paraphrase']} | {r['stable']} "
                f"| {loc.get('agreement', '')} | {loc.get('cross_entropy_change', '')} |")

    return [
        f"{data['nodes']} nodes, {data['items']:,} items, {data['epochs']} epoch(s) = "
        f"{data['steps']} steps in **{data['train_s']} s** ({data['s_per_step']} s/step), peak "
        f"RSS **{data['peak_rss_mib']} MiB**; loss {data['loss_first']} → {data['loss_last']}. "
        f"{data['self_tests']} self-tests:",
        "",
        "| model | match | choose | reworded | stable | locality agreement | ΔCE (relative) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("before (bare)", b),
        row("after (adapter)", a),
    ]


def compare_table(data: dict) -> list[str]:
    st, ed = data["selftests"], data["edit_results"]
    rows = [
        f"The four arms on examples/passport.yaml's self-tests (inside: LoRA trained for "
        f"{data['epochs']} epochs in {data['adapter_train_s']} s; outside: the overlay over "
        "examples/vault):",
        "",
        "| arm | match | choose | reworded | stable | locality agreement | ΔCE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, r in st.items():
        loc = r.get("locality") or {}
        rows.append(f"| {arm} | {r['match']} | **{r['choose']}** | {r['paraphrase']} "
                    f"| {r['stable']} | {loc.get('agreement', '')} "
                    f"| {loc.get('cross_entropy_change', '')} |")
    rows += [
        "",
        f"{data['records']} CounterFact records (inside: LoRA on the edits, "
        f"{data['edit_epochs']} epochs; outside: each edit learned into an empty overlay):",
        "",
        "| arm | reliability | generalization | locality | learn ms / fact | choice ms p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for arm, r in ed.items():
        rows.append(f"| {arm} | **{r['reliability']}** | {r['generalization']} | {r['locality']} "
                    f"| {r['learn_ms_per_fact']} | {r['eval_ms_p50']} |")
    rows += ["", "![self-tests](img/compare-selftests.png) ![edits](img/compare-edits.png)"]
    return rows


def signals_table(data: dict) -> list[str]:
    rows = [
        f"The watch loop on {data['channels']} channels at {data['rate_hz']:g} Hz, "
        f"{data['signal_s']:g} s of signal, {data['window_s']} s windows:",
        "",
        "| step s | windows | features windows/s | whole loop windows/s | real time needs "
        "| margin | samples/s | operators applied |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        rows.append(f"| {r['step_s']} | {r['windows']:,} | {r['features_windows_per_s']:,} "
                    f"| {r['loop_windows_per_s']:,} | {r['needed_windows_per_s']:g} "
                    f"| **{r['margin_over_real_time']}×** | {r['samples_per_s']:,} "
                    f"| {r['operators_applied']} |")
    return rows


def backends_table(data: dict) -> list[str]:
    s, a, c = data["scoring"], data["ask_p50_ms"], data["concurrent"]
    return [
        f"Scoring K = {s['k']} candidates after a {s['prompt_tokens']}-token prompt "
        "(best of 3; max |Δ logprob| in process vs vLLM "
        f"{s['max_abs_delta_logprob']}):",
        "",
        "| in process, shared prefix s | vLLM, one batched request s | vLLM, K requests s "
        "| batched / in process | K requests / batched |",
        "|---:|---:|---:|---:|---:|",
        f"| {s['in_process_s']} | {s['vllm_batched_s']} | {s['vllm_separate_s']} "
        f"| **{s['batched_over_in_process']}×** | {s['separate_over_batched']}× |",
        "",
        "| ask p50, in process ms | ask p50, vLLM ms | 16 asks in sequence s "
        "| 16 asks at once s | throughput at once / in sequence |",
        "|---:|---:|---:|---:|---:|",
        f"| {a['in_process']} | {a['vllm']} | {c['sequential_s']} | {c['concurrent_s']} "
        f"| **{c['throughput_ratio']}×** |",
        "",
        f"GPU: {data['gpu']}.",
    ]


def main() -> None:
    parts: list[str] = []
    tables = (
        ("ingest", ingest_table),
        ("retrieve", retrieve_table),
        ("scoring", scoring_table),
        ("ask", ask_table),
        ("learn", learn_table),
        ("edits", edits_table),
        ("edits-zsre", edits_zsre_table),
        ("scale", scale_table),
        ("ranking", ranking_table),
        ("multilingual", multilingual_table),
        ("embed", embed_table),
        ("real_size", real_size_table),
        ("memory", memory_table),
        ("dataset", dataset_table),
        ("server", server_table),
        ("imprint", imprint_table),
        ("compare", compare_table),
        ("signals", signals_table),
        ("backends", backends_table),
        ("stores", stores_table),
        ("stores-eval", stores_eval_table),
    )
    for name, render in tables:
        path = RESULTS / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            parts += [f"### {name} ({data['when']}, {data['machine']})", "", *render(data), ""]
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(head + START + "\n" + "\n".join(parts) + END + tail)
    print(json.dumps({"updated": str(doc), "tables": len(parts) > 0}))


if __name__ == "__main__":
    main()
