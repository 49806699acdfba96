"""The dataset architect: schema errors with positions, every design rule on a spec that breaks
it and on one that does not, deterministic and resumable builds, the exported files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from overlay.dataset import build, check, load_spec
from overlay.dataset import items as build_mod
from overlay.dataset.checks import RULES, Report
from overlay.dataset.items import generate, keeps_facts
from overlay.dataset.tokens import load_counter
from overlay.yamlfile import SpecError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "passport.yaml"

BASE = """\
name: test
modules:
  - id: starter
    nodes:
      - id: levain
        title: Levain
        aliases: [Leaven]
        statements:
          - A levain is a portion of starter built for one bake.
          - text: A levain peaks 4–6 hours after feeding at 26 °C.
            subject: levain
            relation: peak time
            value: 4–6 hours at 26 °C
        anchors: ["[[Float test]]"]
        transitions: [{to: float-test, relation: precedes}]
        self_tests:
          - question: How long after feeding is a levain ready?
            answer: 4–6 hours
      - id: float-test
        title: Float test
        statements:
          - A spoonful of ripe levain floats in water because it is full of gas.
        transitions: [{to: bake.oven-spring, relation: precedes}]
        self_tests:
          - question: Why does a ripe levain float?
            answer: Because it is full of gas.
  - id: bake
    nodes:
      - id: oven-spring
        title: Oven spring
        statements:
          - Oven spring is the last rise of a loaf in the first minutes of baking.
        anchors: [starter.levain]
        self_tests:
          - question: When does the last rise of a loaf happen?
            answer: In the first minutes.
      - id: scoring
        title: Scoring
        statements:
          - Scoring cuts the top of the loaf so it opens where the baker chooses.
        self_tests:
          - question: Why cut the top of a loaf?
            answer: So it opens where you choose.
"""


def write(tmp_path: Path, text: str, name: str = "passport.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(tmp_path: Path, change: object) -> Path:
    """BASE with `change(data)` applied (a violation added), written as a new spec."""
    data = yaml.safe_load(BASE)
    change(data)  # type: ignore[operator]
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def findings(path: Path, rule: str) -> list[str]:
    report = check(path)
    return [f"{f.where} {f.message}" for f in report.findings if f.rule == rule]


def node(data: dict, module: int, index: int) -> dict:  # type: ignore[type-arg]
    return data["modules"][module]["nodes"][index]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ schema
def test_base_spec_and_example_check_clean(tmp_path: Path) -> None:
    for path in (write(tmp_path, BASE), EXAMPLE):
        report = check(path)
        assert report.findings == [], report.to_json()
        assert report.ok


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("name: x\nmodules:\n  - id: m\n    nodes:\n      - id: a\n        title: A\n",
         ":5:9", "statements"),
        ("name: x\nmodules:\n  - id: m\n    nodes:\n      - id: a\n        statements: [s]\n"
         "        meta: {importance: 9}\n", ":7:28", "importance"),
        ("name: x\nmodules:\n  - id: m\n    nodes:\n      - id: a\n        statements: [s]\n"
         "        colour: red\n", ":7:17", "colour"),
        ("name: x\nmodules:\n  - id: m\n    nodes: [\n", ":5:1", "not valid YAML"),
        ("name: x\nname: y\nmodules: []\n", ":2:1", "duplicate key"),
        ("name: x\nmodules:\n  - id: has space\n    nodes: []\n", ":3:9", "modules.0.id"),
    ],
)
def test_schema_errors_name_file_line_and_column(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(str(path) + where), message
    assert says in message


def test_schema_is_json_schema_with_help() -> None:
    from overlay.dataset import json_schema

    schema = json_schema()
    assert schema["title"] == "Passport"
    node_schema = schema["$defs"]["Node"]
    assert "statements" in node_schema["required"]
    assert all("description" in p for p in schema["$defs"]["Checks"]["properties"].values())


# ------------------------------------------------------------------- rules
def test_every_rule_is_tested_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{rule}"' in source for rule in RULES)


def test_duplicate_id(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda d: d["modules"][1]["nodes"].append(dict(node(d, 1, 1))))
    found = findings(path, "duplicate-id")
    assert len(found) == 1 and "bake.scoring" in found[0]


def test_dangling_ambiguous_and_self_anchors(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        node(d, 0, 0)["anchors"] = ["[[Nowhere]]", "levain"]
        node(d, 1, 0)["anchors"] = ["[[Leaven]]"]  # an alias is a name too

    path = edited(tmp_path, change)
    found = findings(path, "dangling-anchor")
    assert any("'[[Nowhere]]' names no node" in f for f in found)
    assert any("'levain' points at its own node" in f for f in found)
    assert len(found) == 2
    spec = load_spec(path)
    line = spec.positions.of(("modules", 0, "nodes", 0, "anchors", 0))
    assert line is not None and any(f":{line[0]}:" in f for f in found)


def test_ambiguous_reference_from_a_third_module(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        node(d, 1, 1)["id"] = "levain"
        d["modules"].append({"id": "other", "nodes": [{
            "id": "x", "statements": ["Something else entirely, said at length here."],
            "anchors": ["levain"], "self_tests": [{"question": "q?", "answer": "a"}]}]})

    found = findings(edited(tmp_path, change), "dangling-anchor")
    assert len(found) == 1 and "ambiguous (starter.levain, bake.levain)" in found[0]


def test_cycle_only_for_acyclic_relations(tmp_path: Path) -> None:
    def loop(relation: str) -> Path:
        def change(d: dict) -> None:  # type: ignore[type-arg]
            node(d, 1, 0)["transitions"] = [{"to": "starter.levain", "relation": relation}]
            node(d, 0, 1)["transitions"][0]["relation"] = relation
            node(d, 0, 0)["transitions"][0]["relation"] = relation

        return edited(tmp_path, change)

    found = findings(loop("precedes"), "cycle")
    assert len(found) == 1
    assert "starter.levain" in found[0] and "bake.oven-spring" in found[0]
    assert findings(loop("analogy"), "cycle") == []


def test_contradiction_exact_and_normalised(tmp_path: Path) -> None:
    def claim(value: str, subject: str = "Leaven") -> Path:
        def change(d: dict) -> None:  # type: ignore[type-arg]
            node(d, 1, 1)["statements"].append(
                {"text": f"{subject} peaks after {value}.", "subject": subject,
                 "relation": "Peak  time", "value": value}
            )

        return edited(tmp_path, change)

    found = findings(claim("2 hours"), "contradiction")
    assert len(found) == 1 and "'2 hours'" in found[0] and "'4–6 hours at 26 °C'" in found[0]
    # the same value written differently (dash, spacing, case) is no contradiction
    assert findings(claim("4-6 Hours at 26°C"), "contradiction") == []
    # a different subject is no contradiction either
    assert findings(claim("2 hours", subject="starter"), "contradiction") == []


def test_near_duplicates_between_nodes_and_items(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        node(d, 1, 1)["statements"].append(
            "A spoonful of ripe levain floats in water because it is so full of gas."
        )

    found = findings(edited(tmp_path, change), "near-duplicate")
    assert any("bake.scoring says nearly what starter.float-test says" in f for f in found)
    assert all(f.severity == "warning" for f in check(edited(tmp_path, change)).findings)


def test_coverage_of_items_and_self_tests(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        node(d, 1, 1)["generation"] = {"qa": 0, "cloze": 0, "paraphrase": 1, "dialogue": 0}
        node(d, 1, 0)["self_tests"] = []

    found = findings(edited(tmp_path, change), "coverage")
    assert any("bake.scoring has 1 training items" in f for f in found)
    assert any("bake.oven-spring has 0 self-tests" in f for f in found)


def test_leakage_catches_short_questions_inside_training_prompts(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        # the statement carries the self-test's question, so cloze prompts show it
        node(d, 0, 1)["statements"] = ["Why does a ripe levain float? Because of its gas bubbles."]

    found = findings(edited(tmp_path, change), "leakage")
    assert len(found) == 1 and "starter.float-test/selftest-0" in found[0]
    assert "float-test/cloze" in found[0]


def test_a_self_test_equal_to_a_template_prompt_is_withheld(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        node(d, 1, 1)["self_tests"] = [{"question": "Tell me about Scoring.", "answer": "It cuts."}]
        node(d, 1, 1)["generation"] = {"qa": 8}

    path = edited(tmp_path, change)
    built = generate(load_spec(path))
    assert built.stats["withheld"] == 1
    prompts = {i.prompt for i in built.items}
    assert "Tell me about Scoring." not in prompts
    assert findings(path, "leakage") == []


def test_module_balance(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        d["checks"] = {"balance": 1.5}
        d["modules"][1]["nodes"].pop()

    found = findings(edited(tmp_path, change), "module-balance")
    assert len(found) == 1 and "module starter has" in found[0] and "bake has" in found[0]
    assert findings(write(tmp_path, BASE), "module-balance") == []


def test_token_budget_with_the_base_models_tokenizer(tmp_path: Path) -> None:
    counter = load_counter("smollm2")
    path = edited(tmp_path, lambda d: d.update(checks={"max_tokens": 40}))
    report = check(path, tokens=counter)
    over = [f for f in report.findings if f.rule == "token-budget"]
    assert over and all("tokens in smollm2's format" in f.message for f in over)
    # the counter agrees with the chat template rendered and tokenized whole
    item = generate(load_spec(path)).items[0]
    whole = counter.tokenizer.apply_chat_template(item.messages, tokenize=False)
    ids = counter.tokenizer(whole, add_special_tokens=False)["input_ids"]
    assert counter([item])[0] == len(ids)
    assert not [f for f in check(write(tmp_path, BASE), tokens=counter).findings]


# ------------------------------------------------------------------- build
def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_build_is_deterministic_and_seeded(tmp_path: Path) -> None:
    a = build(EXAMPLE, tmp_path / "a", seed=7)
    b = build(EXAMPLE, tmp_path / "b", seed=7)
    c = build(EXAMPLE, tmp_path / "c", seed=8)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    assert a.hashes == b.hashes
    assert a.hashes["train.jsonl"] != c.hashes["train.jsonl"]
    assert not (tmp_path / "a" / ".parts").exists()


def test_interrupted_build_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_mod, "CHUNK", 5)
    whole = build(EXAMPLE, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop_after_two(stage: str, done: int, total: int) -> None:
        if done >= 10:
            raise Stop

    with pytest.raises(Stop):
        build(EXAMPLE, tmp_path / "resumed", progress=stop_after_two)
    assert len(list((tmp_path / "resumed" / ".parts").glob("*.jsonl"))) == 2
    resumed = build(EXAMPLE, tmp_path / "resumed")
    assert resumed.built.resumed == 10
    assert resumed.hashes == whole.hashes


def test_export_files_card_and_datasetdict(tmp_path: Path) -> None:
    import datasets

    result = build(EXAMPLE, tmp_path / "out")
    out = tmp_path / "out"
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    tests = [json.loads(x) for x in (out / "selftest.jsonl").read_text().splitlines()]
    assert all(r["messages"][0]["role"] == "user" and r["messages"][-1]["role"] == "assistant"
               for r in train)
    asked = {m["content"] for r in train for m in r["messages"] if m["role"] == "user"}
    assert not asked & {t["question"] for t in tests}  # self-tests are held out
    dd = datasets.load_from_disk(str(out / "hf"))
    assert set(dd) == {"train", "selftest", "pretrain"}
    assert dd["train"].num_rows == len(train) and dd["selftest"].num_rows == len(tests) == 33
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["pretty_name"] == "sourdough" and meta["license"] == "mit"
    for name, digest in result.hashes.items():
        assert f"| {name} | `{digest}` |" in card
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert (out / "spec.yaml").read_bytes() == EXAMPLE.read_bytes()
    assert "| starter | 9 |" in card and "Result: **pass**" in card


def test_check_a_built_folder_and_refuse_other_folders(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path / "out")
    report = check(tmp_path / "out")
    assert isinstance(report, Report) and report.ok
    assert report.counted["items"] == 429
    with pytest.raises(Exception, match="not a built dataset"):
        check(tmp_path)


def test_lm_rewrites_are_filtered() -> None:
    s = "Hooch is the grey or brown liquid that collects on a hungry Starter."
    assert not keeps_facts(s, "The Starter is the grey or brown liquid that collects.", "Hooch")
    assert not keeps_facts(s, s, "Hooch")
    assert not keeps_facts("Bake at 250 °C.", "Bake it very hot.", "")
    assert keeps_facts(
        "Pink, orange or fuzzy mould means the culture is contaminated.",
        "The culture is contaminated with pink, orange, or fuzzy mould.",
        "Starter troubleshooting",
    )


def test_lm_paraphrases_with_the_default_model(tmp_path: Path, smol: object) -> None:
    data = yaml.safe_load(BASE)
    data["generation"] = {"lm_paraphrases": 2}
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    result = build(path, tmp_path / "out", lm=smol)  # type: ignore[arg-type]
    stats = result.built.stats
    assert stats["lm_kept"] + stats["lm_rejected"] == 2 * 4
    lm_items = [i for i in result.built.items if i.source == "lm"]
    assert len(lm_items) == stats["lm_kept"]
    for item in lm_items:
        refs = load_spec(path).refs
        statement = next(s.text for r in refs if r.node.id == item.node for s in r.node.statements)
        assert item.messages[-1]["content"].rstrip(".") != statement.rstrip(".")
