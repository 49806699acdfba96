"""Compile a passport into items: Q/A, cloze, paraphrases, dialogues, anchor crossings, walks.

Every node draws from its own RNG, seeded by (seed, node key), so the output does not depend on
chunking or on where an interrupted build resumed: same spec + seed gives identical bytes.
Items are written per chunk of nodes into `DIR/.parts/` as they are made (atomically), and an
interrupted build picks up from the chunks already there. Self-tests are never training items,
and a templated prompt that equals a self-test question is withheld.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from overlay.dataset import templates as T
from overlay.dataset.spec import Generation, NodeRef, Spec, settings_for
from overlay.dataset.text import normalise, stopwords
from overlay.errors import OverlayError
from overlay.files import write_atomic
from overlay.lm.base import LM
from overlay.patterns import S, linear
from overlay.progress import Progress

_LABEL = linear(rf"(?i)^(rewrite|simpler|paraphrase|sentence)[{S}]*:[{S}]*")

VERSION = 1  # of the generator: part of every chunk's key, so old parts are never reused
CHUNK = 256  # nodes per resumable part


@dataclass
class Item:
    """One training item: chat `messages` (sft-chat) or plain `text` (pretrain-text)."""

    id: str
    module: str
    node: str
    kind: str
    source: str = "template"
    messages: list[dict[str, str]] = field(default_factory=list)
    text: str | None = None

    @property
    def prompt(self) -> str:
        """What the model is shown (user turns), as opposed to what it learns to say."""
        if self.text is not None:
            return self.text
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")

    @property
    def content(self) -> str:
        if self.text is not None:
            return self.text
        return "\n".join(m["content"] for m in self.messages)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.text is None:
            del data["text"]
        else:
            del data["messages"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        return cls(**data)


@dataclass
class HeldOut:
    """A held-out self-test of one node."""

    id: str
    module: str
    node: str
    question: str
    answer: str
    variants: list[str] = field(default_factory=list)
    distractors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": self.answer},
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeldOut:
        return cls(**{k: v for k, v in data.items() if k != "messages"})


@dataclass
class Built:
    """What a build made, in spec order."""

    items: list[Item]
    tests: list[HeldOut]
    stats: Counter[str] = field(default_factory=Counter)
    resumed: int = 0  # nodes taken from an interrupted build's parts (not in the output)


def _rng(seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _chat(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


_TOKEN = linear(rf"[^{S}]+")
_EDGE_PUNCT = "\"'“”‘’.,;:!?()[]{}"


def cloze_targets(text: str) -> list[tuple[int, int, str]]:
    """Spans worth blanking out, best first: numbers, then long content words."""
    stop = stopwords()
    found: list[tuple[int, int, int, str]] = []
    for m in _TOKEN.finditer(text):
        word = m.group().strip(_EDGE_PUNCT)
        if not word:
            continue
        start = m.start() + m.group().index(word)
        if any(c.isdigit() for c in word):
            rank = 100
        elif len(word) >= 5 and word.casefold() not in stop and word.isalpha():
            rank = len(word)
        else:
            continue
        found.append((rank, start, start + len(word), word))
    found.sort(key=lambda f: (-f[0], f[1]))
    return [(s, e, w) for _, s, e, w in found]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?…" else text + "."


def _lower_first(text: str) -> str:
    """'The levain…' → 'the levain…', but 'LAB produce…' stays as it is."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


_NUMBER = linear(r"\d+(?:[.,]\d+)?")


def keeps_facts(original: str, rewrite: str, title: str = "") -> bool:
    """An LM rewrite is kept only if it is new, of similar length, keeps every number and the
    node's name, keeps most content words and brings in few of its own (small models drift)."""
    a, b = normalise(original), normalise(rewrite)
    if not b or a == b or not 0.6 <= len(b) / max(len(a), 1) <= 1.6:
        return False
    if not set(_NUMBER.findall(a)) <= set(_NUMBER.findall(b)):
        return False
    stop, said = stopwords(), set(b.split())
    if any(w not in said for w in normalise(title).split() if w not in stop and w in a.split()):
        return False
    old = {w for w in a.split() if len(w) > 3 and w not in stop}
    new = {w for w in said if len(w) > 3 and w not in stop}
    if not old:
        return True
    return len(old & new) / len(old) >= 0.6 and len(new - old) / max(len(new), 1) <= 0.35


class Generator:
    """Makes the items and self-tests of one node at a time."""

    def __init__(self, spec: Spec, seed: int = 0, lm: LM | None = None) -> None:
        self.spec, self.seed, self.lm = spec, seed, lm
        self.held_out = {normalise(t.question) for r in spec.refs for t in r.node.self_tests}
        self.stats: Counter[str] = Counter()

    def tests(self, ref: NodeRef) -> list[HeldOut]:
        return [
            HeldOut(f"{ref.key}/selftest-{k}", ref.module, ref.node.id, t.question, t.answer,
                 list(t.variants), list(t.distractors))
            for k, t in enumerate(ref.node.self_tests)
        ]

    def items(self, ref: NodeRef) -> list[Item]:
        node, g = ref.node, settings_for(self.spec.passport, ref.node)
        rng = _rng(self.seed, ref.key)
        scale = {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.5, 5: 2.0}[node.meta.importance]
        out: list[Item] = []
        counter: Counter[str] = Counter()

        def add(kind: str, messages: list[dict[str, str]], source: str = "template") -> None:
            asked = [normalise(m["content"]) for m in messages if m["role"] == "user"]
            if any(q in self.held_out for q in asked):
                self.stats["withheld"] += 1  # the prompt is a self-test question
                return
            out.append(Item(f"{ref.key}/{kind}-{counter[kind]}", ref.module, node.id, kind,
                            source, messages))
            counter[kind] += 1

        title, texts = node.name, [_sentence(s.text) for s in node.statements]
        self._qa(ref, round(g.qa * scale), rng, add)
        self._cloze(title, texts, round(g.cloze * scale), rng, add)
        questions = rng.sample(T.PARAPHRASE_Q, len(T.PARAPHRASE_Q))
        framings = rng.sample(T.PARAPHRASE_A, len(T.PARAPHRASE_A))
        for k in range(round(g.paraphrase * scale)):
            s, frame = texts[k % len(texts)], framings[k % len(framings)]
            a = frame.format(t=title, s=_lower_first(s) if frame.startswith("Put") else s)
            add("paraphrase", _chat(questions[k % len(questions)].format(t=title), a))
        for k in range(g.dialogue):
            self._dialogue(title, texts, k, rng, add)
        if g.anchor:
            self._anchors(ref, rng, add)
        if g.walk:
            self._walks(ref, g, add)
        if node.meta.paradox:
            said = node.meta.paradox if isinstance(node.meta.paradox, str) else texts[0]
            add("paradox", _chat(T.PARADOX.format(t=title), _sentence(said)))
        if node.meta.frame_shift:
            f = node.meta.frame_shift
            add("frame", _chat(T.FRAME.format(t=title, f=f), f"Seen {f}: {texts[0]}"))
        if self.lm is not None:
            self._lm_items(ref, g, texts, rng, add)
        if "pretrain-text" in self.spec.passport.formats:
            out.append(Item(f"{ref.key}/text-0", ref.module, node.id, "text", text=self._text(ref)))
        return out

    # ----------------------------------------------------------------- kinds
    def _qa(self, ref: NodeRef, n: int, rng: random.Random, add: Any) -> None:
        node = ref.node
        claims = [s.claim for s in node.statements if s.claim]
        for subject, relation, value in claims:
            q = rng.choice(T.CLAIM).format(s=subject, r=relation)
            add("claim", _chat(q, _sentence(value)))
        order = rng.sample(T.QA, len(T.QA))
        for k in range(n):
            s = node.statements[k % len(node.statements)]
            add("qa", _chat(order[k % len(order)].format(t=node.name), _sentence(s.text)))

    def _cloze(self, title: str, texts: list[str], n: int, rng: random.Random, add: Any) -> None:
        options = [(s, t) for s in texts for t in cloze_targets(s)[:2]]
        for s, (start, end, word) in rng.sample(options, min(n, len(options))):
            masked = s[:start] + "____" + s[end:]
            add("cloze", _chat(rng.choice(T.CLOZE).format(t=title, masked=masked), word))

    def _dialogue(self, title: str, texts: list[str], k: int, rng: random.Random, add: Any) -> None:
        first, second = texts[k % len(texts)], texts[(k + 1) % len(texts)]
        turns = _chat(rng.choice(T.DIALOGUE_OPEN).format(t=title), first)
        if second != first:
            turns += _chat(rng.choice(T.DIALOGUE_FOLLOW), second)
        add("dialogue", turns)

    def _anchors(self, ref: NodeRef, rng: random.Random, add: Any) -> None:
        done = {ref.key}
        for target in ref.node.anchors:
            other = self.spec.resolve(target, ref.module)
            if other is None or other.key in done:
                continue  # dangling anchors are the checks' business; a repeated port is one
            done.add(other.key)
            a = other.node.name
            answer = (f"{_sentence(ref.node.statements[0].text)} It connects to {a}: "
                      f"{_sentence(other.node.statements[0].text)}")
            add("anchor", _chat(rng.choice(T.ANCHOR).format(t=ref.node.name, a=a), answer))

    def _walks(self, ref: NodeRef, g: Generation, add: Any) -> None:
        for tr in ref.node.transitions:
            nxt = self.spec.resolve(tr.to, ref.module)
            if nxt is None:
                continue
            q = T.STEP.get(tr.relation, T.STEP_OTHER).format(t=ref.node.name, r=tr.relation)
            add("step", _chat(q, f"{nxt.node.name}: {_sentence(nxt.node.statements[0].text)}"))
        path, seen = [ref], {ref.key}
        while len(path) < g.walk_length and path[-1].node.transitions:
            nxt = self.spec.resolve(path[-1].node.transitions[0].to, path[-1].module)
            if nxt is None or nxt.key in seen:
                break
            path.append(nxt)
            seen.add(nxt.key)
        if len(path) >= 3:
            lines = [f"{i}. {p.node.name}: {_sentence(p.node.statements[0].text)}"
                     for i, p in enumerate(path, 1)]
            add("walk", _chat(T.WALK.format(t=ref.node.name), "\n".join(lines)))

    def _lm_items(
        self, ref: NodeRef, g: Generation, texts: list[str], rng: random.Random, add: Any
    ) -> None:
        assert self.lm is not None
        title = ref.node.name
        for k in range(g.lm_paraphrases + g.lm_dialogues):
            s = texts[k % len(texts)]
            rewrite = self.paraphrase(s, k, g.max_new_tokens, title)
            if rewrite is None:
                continue
            if k < g.lm_paraphrases:
                add("paraphrase", _chat(rng.choice(T.PARAPHRASE_Q).format(t=title), rewrite), "lm")
            else:
                turns = _chat(rng.choice(T.DIALOGUE_OPEN).format(t=title), rewrite)
                other = texts[(k + 1) % len(texts)]
                if other != s:
                    turns += _chat(rng.choice(T.DIALOGUE_FOLLOW), other)
                add("dialogue", turns, "lm")

    def paraphrase(self, statement: str, k: int, max_tokens: int, title: str = "") -> str | None:
        """The LM's rewording of `statement` (instruction `k`), or None if it fails the filter."""
        assert self.lm is not None
        ask = T.LM_PARAPHRASE[k % len(T.LM_PARAPHRASE)].format(s=statement)
        prompt = self.lm.chat_template([{"role": "user", "content": ask}])
        text = self.lm.generate(prompt, max_tokens=max_tokens, stop=["\n"]).text
        text = text.strip().strip('"“”').strip()
        text = _LABEL.sub("", text)
        if keeps_facts(statement, text, title):
            self.stats["lm_kept"] += 1
            return _sentence(text)
        self.stats["lm_rejected"] += 1
        return None

    def _text(self, ref: NodeRef) -> str:
        node = ref.node
        parts = [node.name, " ".join(_sentence(s.text) for s in node.statements)]
        for tr in node.transitions:
            nxt = self.spec.resolve(tr.to, ref.module)
            if nxt is not None:
                parts.append(f"{node.name} {tr.relation.replace('_', ' ')} {nxt.node.name}.")
        linked = [o.node.name for a in node.anchors if (o := self.spec.resolve(a, ref.module))]
        if linked:
            parts.append("See also: " + ", ".join(linked) + ".")
        return "\n\n".join(parts)


def uses_lm(spec: Spec) -> bool:
    """Whether any node asks for LM-written items."""
    return any(
        (g := settings_for(spec.passport, r.node)).lm_paraphrases or g.lm_dialogues
        for r in spec.refs
    )


def generate(
    spec: Spec, seed: int = 0, lm: LM | None = None, progress: Progress | None = None
) -> Built:
    """All items and self-tests in memory (what `check SPEC` inspects)."""
    gen = Generator(spec, seed, lm)
    items: list[Item] = []
    for done, ref in enumerate(spec.refs, 1):
        items += gen.items(ref)
        if progress and (done % 100 == 0 or done == len(spec.refs)):
            progress("generate", done, len(spec.refs))
    return Built(items, [t for r in spec.refs for t in gen.tests(r)], gen.stats)


def build_parts(
    spec: Spec,
    out: Path,
    seed: int = 0,
    lm: LM | None = None,
    progress: Progress | None = None,
) -> Built:
    """Generate into `out/.parts/`, reusing the parts an interrupted build left there."""
    parts = out / ".parts"
    parts.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(
        f"{VERSION}|{spec.sha256}|{seed}|{lm.name if lm else '-'}".encode()
    ).hexdigest()[:12]
    for stale in parts.iterdir():
        if not stale.name.endswith(f"-{key}.jsonl"):
            stale.unlink()
    gen = Generator(spec, seed, lm)
    items: list[Item] = []
    total, resumed = len(spec.refs), 0
    for c, start in enumerate(range(0, total, CHUNK)):
        refs = spec.refs[start : start + CHUNK]
        part = parts / f"{c:05d}-{key}.jsonl"
        if part.exists():
            rows = [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
            chunk = [Item.from_json(r) for r in rows if "stats" not in r]
            gen.stats.update(next((r["stats"] for r in rows if "stats" in r), {}))
            resumed += len(refs)
        else:
            before = Counter(gen.stats)
            chunk = [i for r in refs for i in gen.items(r)]
            made = dict(gen.stats - before)
            lines = [json.dumps(i.to_json(), ensure_ascii=False) for i in chunk]
            lines.append(json.dumps({"stats": made}))
            write_atomic(part, "\n".join(lines) + "\n")
        items += chunk
        if progress:
            progress("build", min(start + CHUNK, total), total)
    return Built(items, [t for r in spec.refs for t in gen.tests(r)], gen.stats, resumed)


def finish(out: Path) -> None:
    """Drop the resumable parts once the export is complete."""
    shutil.rmtree(out / ".parts", ignore_errors=True)


def check_out_dir(out: Path, spec_path: Path) -> None:
    """Refuse to write the dataset over its own spec or into a file."""
    if out.exists() and not out.is_dir():
        raise OverlayError(f"{out} exists and is not a folder")
    if spec_path.resolve().parent == out.resolve():
        raise OverlayError(f"{out}: choose an output folder other than the spec's own")
