# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test unit integration e2e lint schemas bench bench-report import-cfpb verify replay clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install            ## install, make sure RabbitMQ answers, run the four services
	$(BIN)/python tools/run_all.py

test: install           ## the whole suite (starts RabbitMQ/PostgreSQL when they do not answer)
	$(BIN)/python tools/servers.py
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

e2e: install
	$(BIN)/python -m pytest tests/e2e

lint: install
	$(BIN)/ruff check contracts servicekit services tools tests
	$(BIN)/mypy contracts services/intake/domain.py services/investigation/domain.py \
		services/resolution/domain.py services/reporting/domain.py

schemas: install        ## print the JSON Schemas of every contract
	$(BIN)/python -m contracts

bench: install          ## throughput figures (commands/s per store, relay, reporting)
	$(BIN)/python tools/bench.py

bench-report: install   ## improvement report figures over 1,000 and 10,000 complaints
	$(BIN)/python tools/bench.py report

CFPB ?= ../shared/data/cfpb/complaints-2013-sample.csv
import-cfpb: install    ## import a CFPB CSV through the running services (CFPB=path)
	$(BIN)/python tools/import_cfpb.py $(CFPB)

verify: install         ## check every service's audit hash chain
	$(BIN)/python -m servicekit.verify

replay: install         ## rebuild reporting from zero from the upstream logs
	$(BIN)/python -m services.reporting.replay

clean:
	rm -rf $(VENV) data .pytest_cache
