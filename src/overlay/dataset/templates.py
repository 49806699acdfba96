"""The wording of templated items: one list per item kind, picked from with a seeded RNG.

Self-test questions written by `overlay dataset init` use their own family (`SELFTEST`) that no
training template shares, so a scaffolded spec does not leak its tests into training prompts.
"""

from __future__ import annotations

QA = (
    "What is {t}?",
    "What do you know about {t}?",
    "Tell me about {t}.",
    "Explain {t}.",
    "What should I know about {t}?",
    "Describe {t} briefly.",
    "Give me one key fact about {t}.",
    "What is true of {t}?",
)
CLAIM = (
    "For {s}, what is the {r}?",
    "What {r} does {s} have?",
    "{s}: {r}?",
)
CLOZE = (
    "Fill in the blank about {t}: {masked}",
    "Complete the sentence about {t}: {masked}",
    "Which word is missing? ({t}) {masked}",
)
PARAPHRASE_Q = (
    "Say in your own words what matters about {t}.",
    "Put the main point of {t} another way.",
    "Summarise {t} in one sentence.",
    "How would you explain {t} to a friend?",
)
PARAPHRASE_A = (
    "In short: {s}",
    "{t}: {s}",
    "Put simply, {s}",
    "The point is this. {s}",
)
DIALOGUE_OPEN = (
    "I'm reading about {t}. What is it?",
    "Quick question about {t}.",
    "Can you help me understand {t}?",
)
DIALOGUE_FOLLOW = (
    "Anything else I should know?",
    "And what else?",
    "Go on.",
)
ANCHOR = (
    "How is {t} connected to {a}?",
    "What links {t} and {a}?",
    "Relate {t} to {a}.",
)
STEP = {
    "precedes": "What comes after {t}?",
    "causes": "What does {t} lead to?",
    "supports": "What does {t} support?",
    "contradicts": "What does {t} contradict?",
}
STEP_OTHER = "Following '{r}' from {t}, where do you get?"
WALK = "Walk me through what follows from {t}."
PARADOX = "What is paradoxical about {t}?"
FRAME = "Look at {t} {f}."
SELFTEST = "Quiz: in one sentence, what do your notes say about {t}?"
LM_PARAPHRASE = (
    "Rewrite this sentence in different words. Keep every fact and number.\n"
    "Sentence: {s}\nRewrite:",
    "Say the same thing more simply, in one sentence. Keep every number.\n"
    "Sentence: {s}\nSimpler:",
    "Paraphrase the statement below in one sentence.\nStatement: {s}\nParaphrase:",
)
