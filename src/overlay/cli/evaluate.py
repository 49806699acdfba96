"""`overlay eval …`: every evaluation in one command group — knowledge edits, a dataset's
self-tests on the lab's arms, the compatibility matrix of adapters, and the lab itself."""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from overlay.cli.app import (
    CreateOpt,
    DbOpt,
    EmbedderOpt,
    JsonOpt,
    app,
    emit,
    model_options,
    open_overlay,
    out,
)
from overlay.cli.app import progress as bar_progress
from overlay.cli.options import option
from overlay.train import LoraSettings

eval_app = typer.Typer(help="Benchmarks of the overlay on your machine.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

DatasetArg = Annotated[
    Path, typer.Argument(help="A folder written by `overlay dataset build`.")
]
EpochsOpt = Annotated[float, option(LoraSettings, "epochs")]
MaxStepsOpt = Annotated[int, option(LoraSettings, "max_steps")]


def _edit_table(title: str, found: dict[str, Any], cols: tuple[str, ...], about: str) -> None:
    """One convention's shares for the overlay and the bare model, with what they count."""
    table = Table(title=title, caption=about, caption_justify="left")
    for col in ("", *cols):
        table.add_column(col)
    for name in ("overlay", "bare_model"):
        r = found[name]
        table.add_row(name.replace("_", " "),
                      *("—" if r[k] is None else f"{r[k]:.3f}" for k in cols))
    out.print(table)


@eval_app.command("edits")
@model_options
def eval_edits(
    data: Annotated[Path, typer.Option("--data", help="CounterFact-format JSON or JSONL.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N records.")] = None,
    sequential: Annotated[
        bool,
        typer.Option("--sequential/--one-at-a-time", help="All edits in one overlay (default)."),
    ] = True,
    sample: Annotated[int | None, typer.Option(
        "--sample", min=1, help="Learn every record, measure a random N of them.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --sample.")] = 0,
    wise: Annotated[bool, typer.Option(
        "--wise/--no-wise", help="Also the WISE/GRACE convention (generates answers: slower).",
    )] = True,
    db: DbOpt = None,
    create: CreateOpt = False,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Knowledge-edit benchmark on a scratch copy of the store: reliability, generalization,
    locality, for the overlay and the bare model."""
    import random

    from overlay.evaluate.edits import evaluate, load

    records = load(data, limit)
    measure = None
    if sample is not None and sample < len(records):
        measure = {"sample": sorted(random.Random(seed).sample(range(len(records)), sample))}
    with (
        open_overlay(db, create=create, embedder=embedder, models=models) as overlay,
        bar_progress(True) as bar,
    ):
        result = evaluate(overlay, records, sequential, bar, wise=wise, measure=measure)
    if json_out:
        emit(result)
        return
    about = result["conventions"]["about"]
    _edit_table(f"{result['measured']} of {result['records']} edits measured, "
                f"{result['setting']}, {result['model']}",
                result, ("reliability", "generalization", "locality"), about["headline"])
    for name, title, cols in (
        ("wise", "WISE/GRACE convention", ("reliability", "generalization", "locality")),
        ("counterfact", "CounterFact convention", ("efficacy", "paraphrase", "neighbourhood")),
    ):
        if result["conventions"][name] is not None:
            _edit_table(title, result["conventions"][name], cols, about[name])
    out.print(
        f"learn {result['learn_ms_p50']} ms p50, {result['learn_ms_p95']} ms p95 per edit; "
        f"{result['eval_ms_p50']} ms p50 per choice; store {result['store_bytes'] / 1e6:.1f} MB"
    )


@eval_app.command("ranking")
@model_options
def eval_ranking(
    questions: Annotated[Path, typer.Option(
        "--questions", help='JSON list of {"question", "gold": [note name, ...]}.')],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Ranking benchmark on a scratch copy of the store: nDCG@10 and top-1 of retrieval
    alone, the LM alone and the selector, out of the box and after one round of verdicts."""
    from overlay.evaluate.ranking import ORDERS, evaluate, load

    asked = load(questions)
    with (
        open_overlay(db, embedder=embedder, models=models) as overlay,
        bar_progress(True) as bar,
    ):
        result = evaluate(overlay, asked, bar)
    if json_out:
        emit(result)
        return
    table = Table(title=f"{result['questions']} questions, {result['model']}")
    for col in ("ranked by", "nDCG@10", "top-1", "nDCG@10 after feedback", "top-1 after"):
        table.add_column(col)
    before, after = result["out_of_the_box"], result["after_feedback"]
    for by in ORDERS:
        table.add_row("the selector's score" if by == "selector" else f"{by} alone",
                      *(f"{r[by][m]:.3f}" for r in (before, after) for m in ("ndcg@10", "top1")))
    out.print(table)
    for name, r in (("out of the box", before), ("after feedback", after)):
        vs = r["selector_vs_retrieval"]
        out.print(f"{name}: the selector beat retrieval on {vs['better']} questions and lost on "
                  f"{vs['worse']} (sign test p = {vs['sign_test_p']})")
    v = result["verdicts"]
    out.print(f"verdicts from the gold notes: {v['good']} good, {v['bad']} bad")


@eval_app.command("memory")
@model_options
def eval_memory(
    conversations: Annotated[Path, typer.Argument(
        help="LoCoMo-style JSON: conversations of dated sessions, questions with evidence.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Memory retrieval: each conversation in its own scratch overlay, every question with
    evidence asked four ways (lexical, dense, hybrid search, the full ask); evidence recall
    and nDCG@10 at turn and session level, per category. Your store is not touched."""
    from overlay.evaluate.memory import ARMS, evaluate, load

    samples = load(conversations)
    with (  # only the models matter: without --db a throwaway store lends them
        tempfile.TemporaryDirectory(prefix="overlay-memory-") as tmp,
        open_overlay(db or Path(tmp) / "models.db", create=db is None, embedder=embedder,
                     models=models) as overlay,
        bar_progress(True) as bar,
    ):
        result = evaluate(overlay, samples, bar)
    if json_out:
        emit(result)
        return
    table = Table(title=f"{result['questions']} questions over {result['turns']} turns of "
                  f"{result['conversations']} conversations ({result['embedder']})",
                  caption="turn-level evidence recall@10 per category; session level in --json; "
                  f"p50 after the question's embedding ({result['all']['embed_p50_ms']:.0f} ms)")
    cats = [("all", result["all"]), *result["by_category"].items()]
    for col in ("", *(f"{name} ({r['questions']})" for name, r in cats), "p50 ms"):
        table.add_column(col, justify="right")
    for arm in ARMS:
        table.add_row(arm, *(f"{r[arm]['turn']['recall@10']:.3f}" for _, r in cats),
                      f"{result['all'][arm]['p50_ms']:.0f}")
    out.print(table)


@eval_app.command("selftest")
def eval_selftest(
    dataset: DatasetArg,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="Test this LoRA adapter (the inside arm).")
    ] = None,
    outside: Annotated[
        bool, typer.Option("--overlay", help="Test the overlay at --db (the outside arm).")
    ] = False,
    module: Annotated[str | None, typer.Option("--module", help="Only this module.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N tests.")] = None,
    paraphrase: Annotated[
        bool, typer.Option("--paraphrase/--no-paraphrase", help="Also score reworded tests.")
    ] = True,
    locality: Annotated[
        bool, typer.Option("--locality/--no-locality", help="Probe unrelated knowledge too.")
    ] = True,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Run the dataset's held-out self-tests on the bare model and on each arm asked for:
    --adapter (inside), --overlay (outside), both together when both are given."""
    from overlay.config import LMConfig
    from overlay.evaluate.arms import build
    from overlay.evaluate.selftest import evaluate, load_tests
    from overlay.plugins import load_lm, load_plugins

    tests = load_tests(dataset, module, limit)
    plugins = load_plugins()
    bare = load_lm(LMConfig(), plugins)
    inside = load_lm(LMConfig(adapter=adapter), plugins) if adapter else None
    opened = open_overlay(db, embedder=embedder) if outside else nullcontext()
    with bar_progress(True) as bar, opened as ov, build(bare, inside, ov) as arms:
        results = evaluate(tests, arms, bar, paraphrase=paraphrase, locality=locality)
    if json_out:
        emit({"dataset": str(dataset), "tests": len(tests), "arms": results})
        return
    table = Table("arm", "model", "n", "match", "choose", "reworded", "stable", "local agree",
                  "ΔCE", *sorted(results[0]["modules"]))
    for r in results:
        mods = [f"{m['match']} / {m['choose']}" for _, m in sorted(r["modules"].items())]
        local = r.get("locality") or {}
        table.add_row(r["arm"], r["model"], str(r["n"]), str(r["match"]), str(r["choose"]),
                      str(r["paraphrase"]), str(r["stable"]), str(local.get("agreement", "")),
                      f"{local['cross_entropy_change']:+.2%}" if local else "", *mods)
    out.print(table)
    out.print("match: the free answer contains the expected one; choose: the expected answer "
              "outranks the distractors; reworded: choose on reworded questions; stable: no "
              "rewording changed the outcome; local agree: unrelated probes chosen as the bare "
              "model does; ΔCE: change of cross-entropy on general text; per module: match / "
              "choose")


@eval_app.command("matrix")
def eval_matrix(
    dataset: DatasetArg,
    modules: Annotated[
        list[str], typer.Option("--module", help="A module to imprint (two or more).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for adapters and table.")],
    epochs: EpochsOpt = 2.0,
    max_steps: MaxStepsOpt = -1,
    batch_size: Annotated[int, option(LoraSettings, "batch_size")] = 8,
    seed: Annotated[int, option(LoraSettings, "seed")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """The compatibility matrix: every module's self-tests with each module imprinted alone,
    after another (in sequence), and merged with another (PEFT); reruns reuse adapters."""
    from overlay.config import LMConfig, validated
    from overlay.evaluate.compatibility import matrix, table
    from overlay.lm.hf import HFModel
    from overlay.plugins import load_lm, load_plugins
    from overlay.train.lora import base_folder

    settings = validated(LoraSettings, {"epochs": epochs, "max_steps": max_steps,
                                        "batch_size": batch_size, "seed": seed})
    base = load_lm(LMConfig(), load_plugins())
    folder = base_folder(settings.base)[0]

    def load(adapters: list[Path]) -> object:
        return HFModel(folder, name=base.name, adapter=adapters) if adapters else base

    with bar_progress(True) as bar:
        result = matrix(dataset, modules, settings, output, load, bar)
    if json_out:
        emit(result)
    else:
        out.print(table(result), markup=False)
        out.print(f"choose-style self-test pass rates; adapters and matrix.json in {output}")


@eval_app.command("compare")
def eval_compare(
    dataset: DatasetArg,
    edits: Annotated[Path, typer.Option("--edits", help="CounterFact-format JSON or JSONL.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for results, plots.")],
    records: Annotated[int, typer.Option("--records", min=1, help="Edit records used.")] = 200,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="The dataset's adapter (else trained).")
    ] = None,
    epochs: EpochsOpt = 2.0,
    edit_epochs: Annotated[float, typer.Option("--edit-epochs", help="Epochs on edits.")] = 3.0,
    max_steps: MaxStepsOpt = -1,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """The lab: bare, outside (the overlay at --db), inside (LoRA) and both, on the dataset's
    self-tests and on knowledge edits; writes compare.json, compare.md and PNG plots."""
    from overlay.config import LMConfig, validated
    from overlay.evaluate.compare import compare, report
    from overlay.plugins import load_lm, load_plugins

    plugins = load_plugins()
    settings = validated(LoraSettings, {"epochs": epochs, "max_steps": max_steps})
    with open_overlay(db, embedder=embedder) as ov, bar_progress(True) as bar:
        result = compare(dataset, edits, ov, lambda a: load_lm(LMConfig(adapter=a), plugins),
                         output, settings, records, adapter, edit_epochs, bar)
    if json_out:
        emit(result)
    else:
        out.print(report(result), markup=False)
        out.print(f"plots: {output}/selftests.png, {output}/edits.png")
