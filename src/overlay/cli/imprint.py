"""Knowledge put inside the weights, and what an imprint carries: `overlay train lora`,
`overlay passport build | verify`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from overlay.cli.app import DbOpt, EmbedderOpt, JsonOpt, app, emit, open_overlay, out, progress
from overlay.cli.options import settings_options
from overlay.train import LoraSettings

train_app = typer.Typer(help="Imprint a built dataset into a model.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("lora")
@settings_options(LoraSettings)
def lora(
    dataset: Annotated[Path, typer.Argument(help="A folder written by `overlay dataset build`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Adapter folder to write.")],
    settings: LoraSettings,
    json_out: JsonOpt = False,
) -> None:
    """Train a LoRA adapter (PEFT + TRL) on the dataset's chat items; an interrupted run
    resumes from its last checkpoint in OUTPUT/checkpoints. Every setting is an option."""
    from overlay.train import train_lora

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
    outside: Annotated[
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
    from overlay.evaluate.arms import build as build_arms
    from overlay.evaluate.selftest import load_tests, run
    from overlay.passport import build as build_passport
    from overlay.plugins import load_lm, load_plugins

    plugins = load_plugins()
    base = load_lm(LMConfig(), plugins)
    adapted = load_lm(LMConfig(adapter=adapter), plugins) if adapter else None
    results: dict[str, object] = {}
    opened = open_overlay(db, embedder=embedder) if outside else nullcontext()
    with progress(True) as bar, opened as ov:
        if selftests:
            tests = load_tests(dataset)
            with build_arms(base, adapted, ov) as arms:
                for arm in arms:
                    if arm.name == "both":
                        continue  # the passport records each way in, not their sum
                    r = run(tests, arm, bar)
                    results[arm.name] = {k: r[k] for k in ("model", "n", "match", "choose",
                                                           "modules")}
                    results[arm.name]["tests"] = {  # type: ignore[index]
                        t["id"]: {"match": t["match"], "choose": t.get("choose")}
                        for t in r["tests"]
                    }
        data = build_passport(dataset, output, base=base, adapted=adapted, adapter=adapter,
                              overlay_sources=ov.sources() if ov is not None else None,
                              selftests=results or None)
    if json_out:
        emit({k: data[k] for k in ("name", "version", "paths", "signature", "selftests")})
        return
    files = sum(len(v) for v in data["files"].values())
    out.print(f"wrote {output}/passport.json, .md, .html: {len(data['tree'])} modules, "
              f"{files} files pinned, {len(data['probes'])} probes")
    if data["signature"]:
        sig = data["signature"]
        out.print(f"signature on the adapter: {sig['positive']}/{sig['n']} probes favour it over "
                  f"the base model, p = {sig['p_value']:.2g}")


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


