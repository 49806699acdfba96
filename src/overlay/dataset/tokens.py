"""Item lengths in the base model's own chat format, for the token-budget rule.

Contents are tokenized in one batch; the template's own tokens (role markers, a default system
prompt) are measured once per message count by rendering the template with empty contents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overlay.dataset.items import Item


class ChatTokens:
    """Counts tokens of items as `tokenizer` would feed them to its model."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer, self.name = tokenizer, name
        self._overhead: dict[tuple[str, ...], int] = {}

    def overhead(self, roles: tuple[str, ...]) -> int:
        if roles not in self._overhead:
            empty = [{"role": r, "content": ""} for r in roles]
            if getattr(self.tokenizer, "chat_template", None):
                ids = self.tokenizer.apply_chat_template(empty, tokenize=True)
                ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
                self._overhead[roles] = len(ids)
            else:  # the plain "role: content" rendering of lm.hf
                self._overhead[roles] = len(
                    self.tokenizer("".join(f"{r}: \n" for r in roles))["input_ids"]
                )
        return self._overhead[roles]

    def __call__(self, items: Sequence[Item]) -> list[int]:
        texts = [i.text for i in items if i.text is not None]
        flat = [m["content"] for i in items if i.text is None for m in i.messages]
        content = self._lengths(flat, special=False)
        bare = iter(self._lengths(texts, special=True))
        sizes, k = [], 0
        for item in items:
            if item.text is not None:
                sizes.append(next(bare))
                continue
            roles = tuple(m["role"] for m in item.messages)
            sizes.append(self.overhead(roles) + sum(content[k : k + len(roles)]))
            k += len(roles)
        return sizes

    def _lengths(self, texts: list[str], special: bool) -> list[int]:
        """Token counts, each distinct text tokenized once (items repeat their statements)."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return []
        ids = self.tokenizer(
            unique, add_special_tokens=special, return_attention_mask=False
        )["input_ids"]
        size = {t: len(x) for t, x in zip(unique, ids, strict=True)}
        return [size[t] for t in texts]


def load_counter(base_model: str, cache_dir: Path | None = None) -> ChatTokens:
    """A counter for the spec's `base_model` ('smollm2' or a local model folder)."""
    from overlay.lm.hf import load_tokenizer

    return ChatTokens(load_tokenizer(base_model, cache_dir), base_model)
