# argus: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench soak serve live nats clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/argus stream --demo AAPL GOOGL MSFT || test $$? -eq 130  # Ctrl-C ends the demo

lint: $(STAMP)
	$(BIN)/ruff check argus_cli tests benchmarks
	$(BIN)/ruff format --check argus_cli tests benchmarks
	$(BIN)/mypy --strict argus_cli

test: lint
	$(BIN)/pytest -n 2
	@echo "the CLI and security suites again, on the websockets transport:"
	ARGUS_TEST_TRANSPORT=websockets $(BIN)/pytest -n 2 -q tests/cli tests/client/test_security.py tests/client/test_redaction_hostile.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run

soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

live: $(STAMP)
	$(BIN)/python -m benchmarks.live

serve: $(STAMP)
	$(BIN)/argus serve

nats: $(STAMP)  # a local NATS JetStream server for --publish / --from (Ctrl-C stops it)
	$(BIN)/argus nats serve

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
