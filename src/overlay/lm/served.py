"""A model someone already serves (vLLM, SGLang, llama.cpp, Ollama, any OpenAI-compatible
server), behind the `LM` protocol.

- **Tokens come from the server**: `/tokenize` and `/detokenize` (vLLM, SGLang, llama.cpp), so
  a continuation's tokens are exactly the server's, never a local guess.
- **Scoring**: all K continuations of one prompt go in one `/v1/completions` request, as K
  token-id prompts `prompt + continuation` with `echo` and `prompt_logprobs`; each
  continuation's log-probs are read at its own positions. A server without `/tokenize` gets
  text prompts, and the continuation is found by the returned character offsets (a token that
  straddles the join counts for the continuation).
- **Writing**: a streamed completion; strict mode sends a regular expression for the server's
  constrained decoding (vLLM's structured outputs). No logits processor crosses HTTP.
- **Chat template**: rendered by the server (`/tokenize` with messages); a server that cannot
  render one is sent the messages through `/v1/chat/completions` instead.

`features` is probed once, on first use: what the server answers decides what Overlay does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import urlsplit

from overlay.errors import ModelError
from overlay.lm.base import SCORE, STREAM, TOKENIZE, Generation, OnText, Scored
from overlay.served import Server

CHAT = "\x00overlay-chat\x00"  # a prompt that is messages, for servers that render no template
REGEX_FIELDS = ("structured_outputs", "guided_regex", "regex")  # newest vLLM first, SGLang


def regex_body(field: str, pattern: str) -> dict[str, Any]:
    """How a server takes a regular expression for constrained decoding."""
    if field == "structured_outputs":
        return {"structured_outputs": {"regex": pattern}}
    return {field: pattern}
PROMPTS_PER_REQUEST = 64


class ServedModel:
    """The model `server.model` on an OpenAI-compatible server."""

    backend = "served"

    def __init__(self, server: Server) -> None:
        self.server = server
        host = urlsplit(server.base).netloc
        self.name = f"{server.model}@{host}"
        self._regex_field: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="overlay-served")

    # ---------------------------------------------------------------- probing
    @cached_property
    def tokenizes(self) -> bool:
        """Whether the server tokenizes for us (`/tokenize`)."""
        try:
            self.server.request("POST", "/tokenize", {"model": self.server.model, "prompt": "a"},
                                root=True)
        except ModelError as exc:
            if "cannot reach" in str(exc):
                raise
            return False
        return True

    @cached_property
    def features(self) -> frozenset[str]:
        """Probed once: tokenizing and scoring cost one small request each. Constrained
        decoding is tried when strict mode first needs it (`regex` below)."""
        found = {STREAM, TOKENIZE} if self.tokenizes else {STREAM}
        if self._probe_score():
            found.add(SCORE)
        return frozenset(found)

    @cached_property
    def regex(self) -> bool:
        """Whether the server constrains decoding to a regular expression (and how)."""
        return self._probe_regex()

    def _probe_score(self) -> bool:
        try:
            choice = self._completions({"prompt": "One two three", "echo": True, "max_tokens": 1,
                                        "logprobs": 0, "prompt_logprobs": 0})[0]
        except ModelError as exc:
            if "cannot reach" in str(exc):
                raise
            return False
        text_lps = (choice.get("logprobs") or {}).get("token_logprobs") or []
        return bool(choice.get("prompt_logprobs")) or sum(x is not None for x in text_lps) > 2

    def _probe_regex(self) -> bool:
        for k, field in enumerate(REGEX_FIELDS):
            try:
                choice = self._completions({"prompt": "Say ab:", "max_tokens": 4,
                                            "temperature": 0, **regex_body(field, "ab")})[0]
            except ModelError as exc:
                if "cannot reach" in str(exc):
                    raise
                continue
            if choice.get("text") == "ab":
                self._regex_field = k
                return True
        return False

    def describe(self) -> dict[str, Any]:
        """What the server supports, for `overlay lm check`."""
        return {
            "model": self.server.model,
            "url": self.server.base,
            "context": self.server.context,
            "tokenize": self.tokenizes,
            "prompt_logprobs": SCORE in self.features,
            "regex": self.regex,
            "streaming": STREAM in self.features,
        }

    # ----------------------------------------------------------------- tokens
    @property
    def eos_token_id(self) -> int:
        return int(self._info.get("eos_token_id") or 0)

    @property
    def vocab_size(self) -> int:
        return int(self._info.get("vocab_size") or 0)

    @cached_property
    def _info(self) -> dict[str, Any]:
        try:
            return self.server.request("GET", "/tokenizer_info", root=True)
        except ModelError:
            return {}

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        return list(self._encode(text, special))

    @lru_cache(maxsize=4096)  # noqa: B019  (one model per process; texts repeat per ask)
    def _encode(self, text: str, special: bool) -> tuple[int, ...]:
        if not self.tokenizes:
            raise ModelError(f"{self.server.base} has no /tokenize endpoint; this needs one")
        data = self.server.request("POST", "/tokenize", {
            "model": self.server.model, "prompt": text, "add_special_tokens": special},
            root=True)
        return tuple(int(t) for t in data.get("tokens", []))

    def decode(self, ids: Sequence[int]) -> str:
        if not ids:
            return ""
        data = self.server.request("POST", "/detokenize",
                                   {"model": self.server.model, "tokens": list(ids)}, root=True)
        return str(data.get("prompt", ""))

    def _prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's tokens, with the start token the tokenizer adds unless a rendered
        chat template already begins with it."""
        rendered = self._rendered.get(prompt)
        if rendered is not None:
            return list(rendered)
        plain, special = self.encode(prompt), self.encode(prompt, special=True)
        return plain if len(special) > len(plain) and plain[:1] == special[:1] else special

    @cached_property
    def _rendered(self) -> dict[str, tuple[int, ...]]:
        return {}

    def chat_template(self, messages: Sequence[dict[str, str]]) -> str:
        if not self.tokenizes:
            return CHAT + json.dumps(list(messages), ensure_ascii=False)
        data = self.server.request("POST", "/tokenize", {
            "model": self.server.model, "messages": list(messages),
            "add_generation_prompt": True}, root=True)
        ids = tuple(int(t) for t in data.get("tokens", []))
        text = self.decode(ids)
        self._rendered[text] = ids
        return text

    # ---------------------------------------------------------------- scoring
    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        if SCORE not in self.features:
            raise ModelError(
                f"{self.name} cannot score continuations (the server returns no prompt "
                "log-probabilities); score in-process with --score-model smollm2 and let the "
                "server write with --write-model"
            )
        if not continuations:
            return []
        if self.tokenizes:
            return self._score_ids(prompt, continuations)
        return self._score_text(prompt, continuations)

    def _score_ids(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        head = self._prompt_ids(prompt)
        conts = list(self._pool.map(self.encode, continuations))
        self._fits(max(len(head) + len(c) for c in conts))
        out: list[Scored] = [Scored(t, c, []) for t, c in zip(continuations, conts, strict=True)]
        todo = [i for i, c in enumerate(conts) if c]
        for start in range(0, len(todo), PROMPTS_PER_REQUEST):
            batch = todo[start : start + PROMPTS_PER_REQUEST]
            choices = self._completions({"prompt": [head + conts[i] for i in batch],
                                         "echo": True, "max_tokens": 1, "prompt_logprobs": 0,
                                         "temperature": 0})
            for i, choice in zip(batch, choices, strict=True):
                rows = choice.get("prompt_logprobs") or []
                ids = head + conts[i]
                out[i].logprobs = [_logprob(rows[j], ids[j]) for j in range(len(head), len(ids))]
        return out

    def _score_text(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        choices = self._completions({"prompt": [prompt + c for c in continuations], "echo": True,
                                     "max_tokens": 1, "logprobs": 0, "temperature": 0})
        out = []
        for text, choice in zip(continuations, choices, strict=True):
            lp = choice.get("logprobs") or {}
            offsets, tokens = lp.get("text_offset") or [], lp.get("tokens") or []
            values = lp.get("token_logprobs") or []
            # the continuation's tokens: those with a character at or after the join (a token
            # straddling it is the continuation's); the last one is the generated token
            picked = [v for off, tok, v in zip(offsets, tokens, values, strict=False)
                      if off + len(tok) > len(prompt) and off < len(prompt) + len(text)]
            out.append(Scored(text, [], [float(v) for v in picked if v is not None]))
        return out

    def _fits(self, tokens: int) -> None:
        context = self.server.context
        if context is not None and tokens >= context:
            raise ModelError(f"{self.name}: the prompt with a candidate is {tokens} tokens, over "
                             f"the served model's context of {context}; lower --max-chars or "
                             "ask a shorter question")

    def _completions(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        data = self.server.request("POST", "/completions", {"model": self.server.model, **body})
        choices = sorted(data.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if not choices:
            raise ModelError(f"{self.server.base}: a completion came back without choices")
        return choices

    # -------------------------------------------------------------- generation
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
        if logits_processors:
            raise ModelError(f"{self.name}: a served model takes no logits processors")
        body: dict[str, Any] = {"model": self.server.model, "max_tokens": max_tokens,
                                "temperature": 0, "stop": list(stop) or None}
        if regex is not None:
            if not self.regex:
                raise ModelError(f"{self.name}: the server offers no constrained decoding, so "
                                 "strict mode cannot run there; drop --strict")
            body.update(regex_body(REGEX_FIELDS[self._regex_field or 0], regex))
        t0 = time.perf_counter()
        if prompt.startswith(CHAT):
            body["messages"] = json.loads(prompt[len(CHAT) :])
            path, n_prompt = "/chat/completions", 0
        else:
            ids = self._prompt_ids(prompt) if self.tokenizes else None
            body["prompt"], path = ids if ids is not None else prompt, "/completions"
            n_prompt = len(ids or [])
            if ids is not None:
                self._fits(len(ids) + 1)
                body["return_token_ids"] = True
        text, token_ids, pieces, stopped = self._stream(path, body, on_text)
        if self.tokenizes and not token_ids and text:
            token_ids = self.encode(text)
        return Generation(text, token_ids, n_prompt, stopped, time.perf_counter() - t0,
                          {"pieces": pieces} if len(pieces) == len(token_ids) else {})

    def _stream(
        self, path: str, body: dict[str, Any], on_text: OnText | None
    ) -> tuple[str, list[int], list[str], str]:
        """(text, token ids, the text of each token when the server says, why it stopped)."""
        parts: list[str] = []
        ids: list[int] = []
        pieces: list[str] = []
        stopped = "length"
        for chunk in self.server.stream(path, body):
            for choice in chunk.get("choices") or []:
                delta = choice.get("text")
                if delta is None:
                    delta = (choice.get("delta") or {}).get("content") or ""
                new_ids = [int(t) for t in choice.get("token_ids") or []]
                ids += new_ids
                pieces += [delta] if len(new_ids) == 1 else [""] * len(new_ids)
                if delta:
                    parts.append(delta)
                    if on_text is not None:
                        on_text(delta)
                if choice.get("finish_reason"):
                    stopped = "length" if choice["finish_reason"] == "length" else "eos"
        return "".join(parts), ids, pieces, stopped


def _logprob(row: Any, token: int) -> float:
    """The log-prob of `token` in one position of vLLM's `prompt_logprobs` (keys are ids)."""
    if not isinstance(row, dict):
        raise ModelError("the server returned no log-probability for a continuation token")
    found = row.get(str(token), row.get(token))
    if isinstance(found, dict):
        return float(found["logprob"])
    if found is None:
        raise ModelError(f"the server's prompt log-probs lack token {token}")
    return float(found)
