# The two commands: `make up` (the broker on its embedded default) and `make test` (the whole suite).
# Both install what they need into .venv first (only again when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
# `make up PORT=8123`: the gateway's port
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.PHONY: up test bench asyncapi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,rucio,bench]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/ebroker up --port $(PORT)

test: $(STAMP)
	bash scripts/rucio/server.sh provision  # the real Rucio server's own venv, for the data tests
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python -m bench.offersets

asyncapi: $(STAMP)
	$(VENV)/bin/ebroker asyncapi --out docs/asyncapi.yaml

clean:
	rm -rf $(VENV) var
