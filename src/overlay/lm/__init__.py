"""Language-model backends behind one small protocol (`LM`): score, generate, chat_template."""

from overlay.lm.base import LM, Generation, Scored

__all__ = ["LM", "Generation", "Scored"]
