"""Knowledge put inside the weights and tested: `overlay train lora`, `overlay eval selftest`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from overlay.cli.app import DbOpt, EmbedderOpt, JsonOpt, app, emit, open_overlay, out, progress
from overlay.cli.learning import eval_app

train_app = typer.Typer(help="Imprint a built dataset into a model.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("lora")
def lora(
    dataset: Annotated[Path, typer.Argument(help="A folder written by `overlay dataset build`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Adapter folder to write.")],
    base: Annotated[str, typer.Option("--base", help="'smollm2' or a model folder.")] = "smollm2",
    module: Annotated[str | None, typer.Option("--module", help="Only this module.")] = None,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the items.")] = 2.0,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Stop after N steps.")] = -1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Items per step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 1e-3,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a LoRA adapter (PEFT + TRL) on the dataset's chat items; an interrupted run
    resumes from its last checkpoint in OUTPUT/checkpoints."""
    from overlay.train import LoraSettings, train_lora

    settings = LoraSettings(base=base, module=module, epochs=epochs, max_steps=max_steps,
                            batch_size=batch_size, learning_rate=lr, rank=rank, seed=seed)
    with progress(True) as bar:
        record = train_lora(dataset, output, settings, bar)
    if json_out:
        emit(record)
        return
    resumed = record["resumed_from_step"]
    out.print(
        f"trained [bold]{output}[/]: {record['items']} items, {record['steps']} steps in "
        f"{record['seconds']} s; loss {record['first_loss']:.3f} → {record['last_loss']:.3f}"
        + (f" (resumed from step {resumed})" if resumed else "")
    )


@eval_app.command("selftest")
def selftest(
    dataset: Annotated[Path, typer.Argument(help="A folder written by `overlay dataset build`.")],
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="Test this LoRA adapter (inside).")
    ] = None,
    overlay_arm: Annotated[
        bool, typer.Option("--overlay", help="Test the overlay at --db (outside).")
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
    from overlay.evaluate.selftest import Arm, evaluate, load_tests
    from overlay.plugins import load_lm, load_plugins

    tests = load_tests(dataset, module, limit)
    plugins = load_plugins()
    bare = load_lm(LMConfig(), plugins)
    inside = load_lm(LMConfig(adapter=adapter), plugins) if adapter else None
    with progress(True) as bar, (open_overlay(db, embedder=embedder) if overlay_arm
                                 else nullcontext()) as ov:
        arms = [Arm("bare", bare)] + ([Arm("adapter", inside)] if inside else [])
        both = None
        if ov is not None:
            ov.lm = bare  # the overlay answers through the model already loaded, not a second copy
            arms.append(Arm("overlay", bare, ov))
            if inside is not None:  # the same store, answering through the adapted model
                both = ov.sibling(ov.store.path)
                both.lm = inside
                arms.append(Arm("both", inside, both))
        try:
            results = evaluate(tests, arms, bar, paraphrase=paraphrase, locality=locality)
        finally:
            if both is not None:
                both.close()
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


passport_app = typer.Typer(
    help="What a dataset / adapter carries, and whether a model carries it.",
    no_args_is_help=True,
)
app.add_typer(passport_app, name="passport")


@passport_app.command("build")
def passport_build(
    dataset: Annotated[Path, typer.Option("--dataset", help="A built dataset folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the passport.")],
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="The adapter trained on it.")
    ] = None,
    overlay_arm: Annotated[
        bool, typer.Option("--overlay", help="Include the overlay at --db (nodes, sources).")
    ] = False,
    selftests: Annotated[
        bool, typer.Option("--selftests/--no-selftests", help="Run the self-tests per arm.")
    ] = True,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Write passport.json/.md/.html: tree of meanings, where each is embedded, sha256 of every
    file, self-test results, and the signature probe set (measured on the adapter if given)."""
    from overlay.config import LMConfig
    from overlay.evaluate.selftest import Arm, load_tests, run
    from overlay.passport import build as build_passport
    from overlay.plugins import load_lm, load_plugins

    plugins = load_plugins()
    base = load_lm(LMConfig(), plugins)
    adapted = load_lm(LMConfig(adapter=adapter), plugins) if adapter else None
    results: dict[str, object] = {}
    with progress(True) as bar, (
        open_overlay(db, embedder=embedder) if overlay_arm else nullcontext()
    ) as ov:
        if selftests:
            tests = load_tests(dataset)
            arms = [Arm("bare", base)] + ([Arm("adapter", adapted)] if adapted else [])
            if ov is not None:
                ov.lm = base
                arms.append(Arm("overlay", base, ov))
            for arm in arms:
                r = run(tests, arm, bar)
                results[arm.name] = {k: r[k] for k in ("model", "n", "match", "choose", "modules")}
                results[arm.name]["tests"] = {  # type: ignore[index]
                    t["id"]: {"match": t["match"], "choose": t.get("choose")} for t in r["tests"]
                }
        data = build_passport(dataset, output, base=base, adapted=adapted, adapter=adapter,
                              overlay_store=ov.store if ov is not None else None,
                              selftests=results or None)
    if json_out:
        emit({k: data[k] for k in ("name", "version", "paths", "signature", "selftests")})
        return
    files = sum(len(v) for v in data["files"].values())
    out.print(f"wrote {output}/passport.json, .md, .html: {len(data['tree'])} modules, "
              f"{files} files pinned, {len(data['probes'])} probes")
    if data["signature"]:
        s = data["signature"]
        out.print(f"signature on the adapter: {s['positive']}/{s['n']} probes favour it over the "
                  f"base model, p = {s['p_value']:.2g}")


@passport_app.command("verify")
def passport_verify(
    passport: Annotated[Path, typer.Argument(help="A passport folder or passport.json.")],
    model: Annotated[
        str, typer.Option("--model", help="Model to test: 'smollm2' or a model folder.")
    ] = "smollm2",
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="An adapter applied to --model.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.01,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every pinned file's hash, then test whether MODEL (+ADAPTER) carries the imprint:
    a one-sided sign test of its probe gains over the passport's base model."""
    from overlay.config import LMConfig
    from overlay.passport import load, verify
    from overlay.plugins import load_lm, load_plugins

    data = load(passport)
    plugins = load_plugins()
    base_config = LMConfig(model=data["base_model"])
    tested_config = LMConfig(model=model, adapter=adapter)
    base = load_lm(base_config, plugins)
    tested = base if tested_config == base_config else load_lm(tested_config, plugins)
    result = verify(data, tested, base, alpha, adapter)
    if json_out:
        emit(result)
    else:
        verdict = "[green]carries[/] the imprint"
        if not result["carries"]:
            verdict = "does [bold]not[/] carry the imprint"
        out.print(
            f"{result['files_checked']} files match their hashes. {result['model']} {verdict}: "
            f"{result['positive']}/{result['n']} probes favour it over {result['base']}, "
            f"p = {result['p_value']:.2g} (alpha {alpha})"
        )


@eval_app.command("matrix")
def eval_matrix(
    dataset: Annotated[Path, typer.Argument(help="A folder written by `overlay dataset build`.")],
    modules: Annotated[
        list[str], typer.Option("--module", help="A module to imprint (two or more).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for adapters and table.")],
    epochs: Annotated[float, typer.Option("--epochs", help="Passes per module.")] = 2.0,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Steps per module.")] = -1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Items per step.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The compatibility matrix: every module's self-tests with each module imprinted alone,
    after another (in sequence), and merged with another (PEFT); reruns reuse adapters."""
    from overlay.config import LMConfig
    from overlay.evaluate.compatibility import matrix, table
    from overlay.lm.hf import HFModel
    from overlay.plugins import load_lm, load_plugins
    from overlay.train import LoraSettings
    from overlay.train.lora import base_folder

    settings = LoraSettings(epochs=epochs, max_steps=max_steps, batch_size=batch_size, seed=seed)
    base = load_lm(LMConfig(), load_plugins())
    folder = base_folder(settings.base)[0]

    def load(adapters: list[Path]) -> object:
        return HFModel(folder, name=base.name, adapter=adapters) if adapters else base

    with progress(True) as bar:
        result = matrix(dataset, modules, settings, output, load, bar)
    if json_out:
        emit(result)
    else:
        out.print(table(result), markup=False)
        out.print(f"choose-style self-test pass rates; adapters and matrix.json in {output}")


@eval_app.command("compare")
def eval_compare(
    dataset: Annotated[Path, typer.Argument(help="A folder written by `overlay dataset build`.")],
    edits: Annotated[Path, typer.Option("--edits", help="CounterFact-format JSON or JSONL.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for results, plots.")],
    records: Annotated[int, typer.Option("--records", min=1, help="Edit records used.")] = 200,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="The dataset's adapter (else trained).")
    ] = None,
    epochs: Annotated[float, typer.Option("--epochs", help="Epochs on the dataset.")] = 2.0,
    edit_epochs: Annotated[float, typer.Option("--edit-epochs", help="Epochs on edits.")] = 3.0,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Cap on steps per run.")] = -1,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """The lab: bare, outside (the overlay at --db), inside (LoRA) and both, on the dataset's
    self-tests and on knowledge edits; writes compare.json, compare.md and PNG plots."""
    from overlay.config import LMConfig
    from overlay.evaluate.compare import compare, report
    from overlay.plugins import load_lm, load_plugins
    from overlay.train import LoraSettings

    plugins = load_plugins()
    settings = LoraSettings(epochs=epochs, max_steps=max_steps)
    with open_overlay(db, embedder=embedder) as ov, progress(True) as bar:
        result = compare(dataset, edits, ov, lambda a: load_lm(LMConfig(adapter=a), plugins),
                         output, settings, records, adapter, edit_epochs, bar)
    if json_out:
        emit(result)
    else:
        out.print(report(result), markup=False)
        out.print(f"plots: {output}/selftests.png, {output}/edits.png")
