# The two commands of the README: `make serve` runs it, `make test` runs the tests.
# Both install what is missing first (scripts/bootstrap.sh).
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
ARGS ?=

.PHONY: serve demo test lint bench

serve:
	@scripts/bootstrap.sh
	uv run hitting-coach serve $(ARGS)

demo:
	@scripts/bootstrap.sh
	uv run hitting-coach serve --demo $(ARGS)

test:
	@scripts/bootstrap.sh --test
	uv sync --frozen
	uv run ruff check .
	uv run ruff format --check .
	uv run lint-imports
	uv run pytest -n auto --dist loadgroup $(ARGS)

lint:
	uv run ruff check .
	uv run ruff format --check .
	uv run lint-imports
