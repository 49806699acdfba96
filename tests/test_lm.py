"""The LM backend: shared-prefix scoring equals the naive computation on the real default model;
generation honours stops and processors; a missing model is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from overlay import ModelError, Overlay, PluginError, Settings
from overlay.lm import LM
from overlay.lm.fake import FakeLM
from overlay.lm.hf import HFModel, cached_gguf, packaged_gguf

PROMPT = (
    "<|im_start|>user\nWhat keeps a sourdough starter alive between bakes?<|im_end|>\n"
    "<|im_start|>assistant\n"
)
CONTS = [
    " Feed it flour and water.",
    " Keep it in the fridge and feed it weekly.",
    " A starter is a culture of wild yeast and lactic acid bacteria living in flour and water,"
    " and it needs regular feeding to stay active.",
    " Yes",
    "!",
    " Discard half, then add equal weights of flour and water; wait until it doubles.",
]


def _maxdiff(a: list[list[float]], b: list[list[float]]) -> float:
    assert [len(x) for x in a] == [len(y) for y in b]
    return max(abs(x - y) for r, s in zip(a, b, strict=True) for x, y in zip(r, s, strict=True))


def test_default_model_satisfies_the_protocol(smol: HFModel) -> None:
    assert isinstance(smol, LM)
    assert smol.name == "SmolLM2-135M-Instruct"
    assert smol.decode(smol.encode("hello world")) == "hello world"
    prompt = smol.chat_template([{"role": "user", "content": "hi"}])
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("batch_tokens", [1024, 16, 7])
def test_shared_prefix_scores_equal_naive(smol: HFModel, batch_tokens: int) -> None:
    """Packed continuations over one prompt pass = each continuation alone, |Δ| ≤ 1e-3;
    small budgets force several packs and the long candidate to run in pieces."""
    smol.batch_tokens = batch_tokens
    try:
        fast = smol.score(PROMPT, CONTS)
    finally:
        smol.batch_tokens = 1024
    naive = smol.score_naive(PROMPT, CONTS)
    assert _maxdiff([s.logprobs for s in fast], [s.logprobs for s in naive]) <= 1e-3
    assert all(s.total < 0 for s in fast)


def test_scoring_prefers_the_sensible_continuation(smol: HFModel) -> None:
    good, bad = smol.score("The capital of France is", [" Paris", " banana"])
    assert good.total > bad.total


def test_scoring_edge_cases(smol: HFModel) -> None:
    assert smol.score(PROMPT, []) == []
    empty = smol.score(PROMPT, [""])[0]
    assert empty.logprobs == [] and empty.normalised() == 0.0
    many = smol.score(PROMPT, [f" option {i}" for i in range(40)])
    assert len(many) == 40


def test_generate_stops_and_applies_processors(smol: HFModel) -> None:
    prompt = smol.chat_template([{"role": "user", "content": "Count from one to ten in words."}])
    gen = smol.generate(prompt, max_tokens=24)
    assert gen.text and len(gen.token_ids) <= 24 and gen.prompt_tokens > 5

    only = smol.encode(" bread")[0]

    def force(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(scores, -1e9)
        forced[:, only] = 0
        return forced

    gen = smol.generate(prompt, [force], max_tokens=5)
    assert gen.token_ids == [only] * 5
    stopped = smol.generate(prompt, [force], max_tokens=20, stop=["bread bread"])
    assert stopped.stopped == "stop" and "bread bread" not in stopped.text


def test_default_model_cache_is_reused(tmp_path: Path, smol: HFModel) -> None:
    first = cached_gguf(packaged_gguf(), Path.home() / ".cache" / "overlay")
    assert (first / "config.json").exists()
    assert "quantization_config" not in (first / "config.json").read_text()


def test_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load model"):
        HFModel(tmp_path / "no-such-model")
    settings = Settings.make(db=tmp_path / "o.db", lm={"model": str(tmp_path / "nothing")})
    with Overlay(settings=settings) as overlay, pytest.raises(ModelError):
        _ = overlay.lm


def test_unknown_lm_name_lists_the_registered_ones(tmp_path: Path) -> None:
    settings = Settings.make(db=tmp_path / "o.db", lm={"model": "gpt-17"})
    with Overlay(settings=settings) as overlay, pytest.raises(PluginError, match="smollm2"):
        _ = overlay.lm


def test_fake_lm_is_deterministic() -> None:
    a, b = FakeLM(), FakeLM()
    assert a.score("x y", [" z", " w"]) == b.score("x y", [" z", " w"])
    assert (
        a.generate("hello there", max_tokens=6).text == b.generate("hello there", max_tokens=6).text
    )
    assert isinstance(a, LM)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory, smol: HFModel) -> Path:
    """A small random-weight Qwen2 model folder: the Qwen architecture (q/k/v biases, GQA,
    its own rotary setup) through the same loading, scoring and generation code."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-qwen")
    config = Qwen2Config(
        vocab_size=len(smol.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=smol.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    smol.tokenizer.save_pretrained(folder)
    return folder


def test_any_hf_folder_works_the_same_way(tiny_qwen: Path, tmp_path: Path) -> None:
    qwen = HFModel(tiny_qwen)
    assert qwen.name == tiny_qwen.name and isinstance(qwen, LM)
    qwen.batch_tokens = 8
    fast = qwen.score(PROMPT, CONTS)
    naive = qwen.score_naive(PROMPT, CONTS)
    assert _maxdiff([s.logprobs for s in fast], [s.logprobs for s in naive]) <= 1e-3
    assert len(qwen.generate(PROMPT, max_tokens=5).token_ids) <= 5
    settings = Settings.make(db=tmp_path / "o.db", lm={"model": str(tiny_qwen)})
    with Overlay(settings=settings) as overlay:
        assert overlay.lm.name == tiny_qwen.name
