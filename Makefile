# Every command a developer or CI needs; the README's first lines name `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MEMBERS := libs/bunri programs services/auth-api services/scan-api services/chat-api services/my-api \
	services/character-api services/location-api services/info-api workers/storage workers/ai workers/character
EDITABLES := $(foreach member,$(filter-out programs workers/ai,$(MEMBERS)),-e $(member)) \
	-e 'programs[standalone]' -e 'workers/ai[training]'
PYTEST_WORKERS ?= auto

.PHONY: setup run migrate test lint typecheck pytest bench bench-auth bench-accept bench-e2e bench-chat bench-profile bench-character bench-location bench-model bench-storage bench-ai model chaos lock services clean

setup: $(VENV)/.installed

$(VENV)/.installed: constraints.txt requirements-dev.txt $(foreach member,$(MEMBERS),$(member)/pyproject.toml)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(EDITABLES)
	touch $@

services:
	scripts/ensure-services

migrate: setup
	$(BIN)/bunri db upgrade

# The whole platform on this machine, on http://127.0.0.1:8080 (see `bunri standalone --help`).
run: setup services
	$(BIN)/bunri standalone

# lint-imports: the architecture's contracts (pyproject.toml, [tool.importlinter]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collects nothing; an empty selection is not a failure.
pytest: setup services
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test: lint typecheck pytest

# The performance table (bench/results/latest.md, plots beside it, and the README's copy): the
# accept path beside both baselines, end to end, AI batching and pool memory, storage pools, the
# profile read, the character's reads, claims and a campaign, the location search. About 14
# minutes. The other bench-* targets run one benchmark each, with more options.
bench: setup services
	$(BIN)/python -m bench.suite

bench-auth: setup services
	$(BIN)/python -m bench.auth_bench

bench-accept: setup services
	$(BIN)/python -m bench.accept

bench-e2e: setup services
	$(BIN)/python -m bench.e2e

bench-chat: setup services
	$(BIN)/python -m bench.chat

# my-api's GET /api/v1/my/profile at 300/s, the cache warm (target p99 <= 15 ms);
# PROFILE_ARGS="--record" puts the figures into bench/results/latest.md and the README's table.
bench-profile: setup services
	$(BIN)/python -m bench.profile_read $(PROFILE_ARGS)

# character-api's GET /api/v1/character at 300/s, the cache warm (target p99 <= 15 ms), mission
# claims at 50/s, and a reward campaign for 100,000 users through the character worker (users/s);
# CHARACTER_ARGS="--record" puts the figures into bench/results/latest.md and the README's table.
bench-character: setup services
	$(BIN)/python -m bench.character $(CHARACTER_ARGS)

# location-api's nearby searches by 20,000 people clustered in six cities, 60 s of warm-up then
# 200/s for 30 s (targets: hit rate >= 90 %, p99 <= 15 ms on hits), Kakao faked at 0.2-0.5 s, its
# calls beside those without the cache; about 2 minutes. LOCATION_ARGS="--record" puts the figures
# into bench/results/latest.md and the README's table.
bench-location: setup services
	$(BIN)/python -m bench.location $(LOCATION_ARGS)

# The storage worker on eventlet vs prefork vs threads, S3 answering at once or 20 ms later.
bench-storage: setup services
	$(BIN)/python -m bench.storage_pools

# The AI worker: dynamic batching vs one image at a time, and the prefork pool's memory.
bench-ai: setup services
	$(BIN)/python -m bench.ai_batching

# The shipped classifier on the held-out photos: bench/results/local-model/report.md.
TRASHNET ?= ../shared/data/trashnet
bench-model: setup
	$(BIN)/bunri evaluate --data $(TRASHNET)

# Train the shipped classifier again (about an hour on 2 cores; CUDA when present).
model: setup .cache/backgrounds
	$(BIN)/bunri train --data $(TRASHNET)

.cache/backgrounds:
	scripts/fetch-backgrounds $@

# Scans flow while workers are SIGKILLed, RabbitMQ restarts and PostgreSQL stops for 30 s, on a
# private broker and database of its own; fails unless every scan finished exactly once.
# CHAOS_ARGS="--scans 100 --rate 5" for a short try (see `python -m bench.chaos --help`).
chaos: setup services
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# Re-resolve every dependency from scratch and pin the result.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -r requirements-dev.txt $(EDITABLES)
	( echo "# Pinned by 'make lock'; every install uses these exact versions." ; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | sort -f ) > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
