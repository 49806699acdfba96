"""Imprint: a LoRA adapter trained (PEFT + TRL SFT) on a built dataset's sft-chat items.

Each item becomes a conversational prompt/completion pair (the last assistant turn is the
completion), so the loss falls on what the model should say, not on the question. Training is
seeded, checkpoints as it goes (an interrupted run resumes from the last checkpoint), and the
adapter folder records what it was made from: the dataset's spec and file hashes, the base
model, every setting, the loss curve. That record is what a passport later signs.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overlay.dataset.export import TRAIN, read_jsonl, require_built
from overlay.errors import ConfigError, OverlayError
from overlay.files import sha256_file, write_atomic
from overlay.progress import Progress

RECORD = "overlay_adapter.json"


class LoraSettings(BaseModel):
    """How an adapter is trained; defaults fit the 135M default model on 2 CPU cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field("smollm2", description="'smollm2' or a local Hugging Face model folder.")
    module: str | None = Field(None, description="Train only this module's items.")
    epochs: float = Field(2.0, gt=0, le=100, description="Passes over the items.")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many steps (-1: epochs).")
    batch_size: int = Field(8, ge=1, le=512, description="Items per optimizer step.")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="Peak learning rate (linear decay).")
    rank: int = Field(16, ge=1, le=512, description="LoRA rank r.")
    alpha: int = Field(32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: tuple[str, ...] = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj"),
        description="Linear layers that get adapters (the attention projections).",
    )
    max_length: int = Field(256, ge=16, le=8192, description="Tokens per item, longer cut.")
    save_steps: int = Field(25, ge=1, description="Checkpoint every this many steps.")
    seed: int = Field(0, description="Seeds data order, dropout and initialisation.")


def base_folder(base: str) -> tuple[Path, str]:
    """The base model's folder and a fingerprint of its weights' source."""
    if base == "smollm2":
        from overlay.lm.hf import cached_gguf, default_cache_dir, packaged_gguf

        gguf = packaged_gguf()
        return cached_gguf(gguf, default_cache_dir()), f"{gguf.name} sha256:{sha256_file(gguf)}"
    folder = Path(base)
    if not (folder / "config.json").exists():
        raise ConfigError(f"--base {base!r}: not 'smollm2' and not a model folder with config.json")
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return folder, " ".join(f"{w.name} sha256:{sha256_file(w)}" for w in weights)


def _items(dataset: Path, module: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    manifest = require_built(dataset)
    rows = read_jsonl(dataset / TRAIN)
    modules = sorted({r["module"] for r in rows})
    if module is not None:
        rows = [r for r in rows if r["module"] == module]
        if not rows:
            have = ", ".join(modules)
            raise ConfigError(f"--module {module!r}: no items; the dataset has {have}")
    pairs = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    return pairs, manifest


def train_lora(
    dataset: Path,
    out: Path,
    settings: LoraSettings,
    progress: Progress | None = None,
    start_from: Path | None = None,
) -> dict[str, Any]:
    """Train an adapter on `dataset` into `out`; resumes from `out/checkpoints` if present.
    With `start_from`, that adapter keeps training (a module imprinted after another)."""
    if (out / RECORD).exists():
        raise OverlayError(f"{out} already holds a trained adapter; choose another folder")
    pairs, manifest = _items(dataset, settings.module)
    source = {
        "path": str(dataset),
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "spec_sha256": manifest.get("spec_sha256"),
        "train_sha256": sha256_file(dataset / "train.jsonl"),
        "manifest_sha256": sha256_file(dataset / "manifest.json"),
    }
    return train_pairs(pairs, out, settings, source, progress, start_from)


def _base_model(settings: LoraSettings, start_from: Path | None) -> tuple[Any, Any, str, Any]:
    """(tokenizer, model, base fingerprint, the earlier adapter's record): the base model, or
    an earlier adapter on it that keeps training (imprinting one module after another)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, fingerprint = base_folder(settings.base)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    earlier = None
    if start_from is not None:
        from peft import PeftModel

        if not (start_from / RECORD).exists():
            raise ConfigError(f"{start_from} is not an adapter made by `overlay train lora`")
        earlier = json.loads((start_from / RECORD).read_text(encoding="utf-8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(model, str(start_from), is_trainable=True)
    return tokenizer, model, fingerprint, earlier


def _trainer(
    settings: LoraSettings,
    pairs: list[dict[str, Any]],
    tokenizer: Any,
    model: Any,
    checkpoints: Path,
    new_adapter: bool,
    progress: Progress | None,
) -> Any:
    """TRL's SFTTrainer with our settings, our progress callback and none of its printing."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    cuda = torch.cuda.is_available()

    class Report(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if progress:
                progress("train", state.global_step, state.max_steps)

    with warnings.catch_warnings():  # TRL passes a transformers argument renamed in v5
        warnings.simplefilter("ignore", FutureWarning)
        config = SFTConfig(
            output_dir=str(checkpoints),
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="linear",
            logging_steps=1,
            save_steps=settings.save_steps,
            save_total_limit=2,
            seed=settings.seed,
            data_seed=settings.seed,
            report_to="none",
            use_cpu=not cuda,
            bf16=cuda,
            max_length=settings.max_length,
            disable_tqdm=True,
        )
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.simplefilter("ignore", FutureWarning)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=datasets.Dataset.from_list(pairs),
            processing_class=tokenizer,
            peft_config=lora if new_adapter else None,
            callbacks=[Report()],
        )
    for noisy in (PrinterCallback, ProgressCallback):  # our own bar reports progress
        trainer.remove_callback(noisy)
    return trainer


def train_pairs(
    pairs: list[dict[str, Any]],
    out: Path,
    settings: LoraSettings,
    source: dict[str, Any],
    progress: Progress | None = None,
    start_from: Path | None = None,
) -> dict[str, Any]:
    """Train an adapter on prompt/completion `pairs` (chat messages or plain text); `source`
    says where they came from, for the adapter's record."""
    import datasets
    import torch
    from transformers import set_seed

    if (out / RECORD).exists():
        raise OverlayError(f"{out} already holds a trained adapter; choose another folder")
    datasets.disable_progress_bars()
    set_seed(settings.seed)
    tokenizer, model, fingerprint, earlier = _base_model(settings, start_from)
    checkpoints = out / "checkpoints"
    resume = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    trainer = _trainer(settings, pairs, tokenizer, model, checkpoints, start_from is None,
                       progress)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume[-1]) if resume else None)
    seconds = time.perf_counter() - t0
    trained: Any = trainer.model
    trained.save_pretrained(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    record = {
        "base": settings.base,
        "base_weights": fingerprint,
        "dataset": source,
        "module": settings.module,
        "after": {"path": str(start_from), "module": earlier["module"], "steps": earlier["steps"]}
        if earlier
        else None,
        "items": len(pairs),
        "settings": settings.model_dump(mode="json"),
        "steps": trainer.state.global_step,
        "resumed_from_step": int(resume[-1].name.split("-")[1]) if resume else None,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "seconds": round(seconds, 2),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    write_atomic(out / RECORD, json.dumps(record, indent=2) + "\n")
    shutil.rmtree(checkpoints, ignore_errors=True)
    return record
