"""The models an overlay uses — the embedder, the LM, and the scorer and writer when they are
other models — each loaded on first use, once.

One `Models` can serve several `Overlay`s (the server's readers, a scratch copy for a
benchmark, the lab's arms), so a model is never loaded twice in one process.
"""

from __future__ import annotations

from overlay import threads
from overlay.config import Settings
from overlay.errors import LimitError
from overlay.lm.base import LM, SCORE, TOKENIZE
from overlay.plugins import Plugins, load_embedder, load_lm
from overlay.retrieve.embed import Embedder


class Models:
    """Loaded models by role. `lm` and `embedder` may be handed in already loaded."""

    def __init__(
        self,
        settings: Settings,
        plugins: Plugins,
        lm: LM | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings, self.plugins = settings, plugins
        self._embedder, self._embedder_loaded = embedder, embedder is not None
        self._lm = lm
        self._others: dict[str, LM] = {}
        self.priors: dict[str, float] = {}  # the selector's cache of the scorer's priors
        if settings.threads is not None:  # torch's threads are the process's: set once here
            threads.limit(settings.threads)

    @property
    def embedder(self) -> Embedder | None:
        """The configured embedder (None for lexical retrieval only)."""
        if not self._embedder_loaded:
            self._embedder = load_embedder(self.settings.retrieve, self.plugins)
            self._embedder_loaded = True
        return self._embedder

    @property
    def lm(self) -> LM:
        """The model `--model` names."""
        if self._lm is None:
            self._lm = load_lm(self.settings.lm, self.plugins)
        return self._lm

    @lm.setter
    def lm(self, value: LM) -> None:
        self._lm = value
        self._others.clear()
        self.priors = {}

    @property
    def scorer(self) -> LM:
        """The model that scores candidates: `--score-model` if given, else `--model`."""
        return self._other(self.settings.lm.score_model)

    @property
    def writer(self) -> LM:
        """The model that writes (compose mode, method steps): `--write-model`, else `--model`."""
        return self._other(self.settings.lm.write_model)

    def schedule(self) -> None:
        """Put each model in process behind one worker thread (`overlay.lm.scheduler`), so
        concurrent requests share its forward passes; served models stay as they are (their
        server batches). The server does this once; a CLI command never needs to."""
        from overlay.lm.scheduler import Scheduler

        for name in (self.settings.lm.score_model, self.settings.lm.write_model):
            self._other(name)  # load every model in use before wrapping it

        def scheduled(lm: LM) -> LM:
            if isinstance(lm, Scheduler) or not hasattr(lm, "score_batch"):
                return lm
            wrapped: LM = Scheduler(lm)
            return wrapped

        self._lm = scheduled(self.lm)
        self._others = {k: scheduled(v) for k, v in self._others.items()}

    def _other(self, name: str | None) -> LM:
        if name is None or name == self.settings.lm.model:
            return self.lm
        if name not in self._others:
            config = self.settings.lm.model_copy(update={"model": name})
            self._others[name] = load_lm(config, self.plugins)
        return self._others[name]

    def check_question(self, question: str, limit: int, chat: bool = True) -> None:
        """LimitError when `question` is over `limit` tokens, counted in the scorer's tokens
        (inside its chat template unless `chat` is off)."""
        scorer = self.scorer
        if SCORE not in scorer.features:  # a verdict will need it: its one-line error, now
            scorer.score(question, [])
        if TOKENIZE in scorer.features:
            shown = scorer.chat_template([{"role": "user", "content": question}]) if chat \
                else question
            size, unit = len(scorer.encode(shown)), f"tokens in {scorer.name}'s format"
        else:  # a server with no tokenizer: about four bytes a token
            size, unit = len(question.encode()) // 4, "tokens (estimated: 4 bytes each)"
        if size > limit:
            raise LimitError(f"the question is {size:,} {unit}, over the limit of {limit:,} "
                             "(select.max_question_tokens)")
