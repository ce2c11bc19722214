# Two commands: `make demo` and `make test`. Both create .venv on first use.
# `make test-pins` runs the suite again in .venv-pins, the oldest versions supported (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

PINS := .venv-pins
PINS_BIN := $(PINS)/bin
PINS_FILE := .ci/sakyum-pins.txt
# SQLAlchemy 1.4 has no psycopg 3 dialect: the pinned environment reaches PostgreSQL through psycopg2.
PINS_POSTGRES_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
# The browser test's tools cannot join these pins, so that one test skips there with this reason.
PINS_NO_BROWSER := playwright needs greenlet>=3.1.1 and sakyum 0.0.12 pins greenlet==2.0.2

# `make test-min` runs a subset of the suite (MIN_TESTS) in .venv-min, at the lowest version of each
# dependency the README states (.ci/minimums.txt, used as pip constraints).
MIN := .venv-min
MIN_BIN := $(MIN)/bin
MIN_FILE := .ci/minimums.txt
MIN_TESTS ?= tests/test_api.py tests/test_magic.py tests/test_commands.py tests/test_render.py \
	tests/test_results.py tests/test_terminal.py tests/test_show.py tests/test_plan.py tests/test_diff.py \
	tests/test_checks.py tests/test_cells.py tests/test_progress.py tests/test_graph.py tests/test_versions.py \
	tests/test_notebook.py

.PHONY: demo test test-pins test-min lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . nbclient nbformat ipykernel
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,lint,browser]'
	touch $@ $(VENV)/.installed

# The pins first, then sakyum-magic exactly as a user installs it (no constraints: pip must find a
# resolution that keeps every pin, which `pip check` and check_pins.py verify), then the test tools,
# constrained to the pins too.
$(PINS)/.installed: pyproject.toml $(PINS_FILE)
	rm -rf $(PINS)
	$(PYTHON) -m venv $(PINS)
	$(PINS_BIN)/python -m pip install --quiet -r $(PINS_FILE)
	$(PINS_BIN)/python -m pip install -e . > $(PINS)/install.log
	@if grep -i "uninstalling" $(PINS)/install.log; then echo "pip moved a pin: see $(PINS)/install.log"; exit 1; fi
	$(PINS_BIN)/python -m pip check
	$(PINS_BIN)/python .ci/check_pins.py $(PINS_FILE)
	$(PINS_BIN)/python -m pip install --quiet -e '.[test]' psycopg2-binary -c $(PINS_FILE)
	$(PINS_BIN)/python -m pip check
	$(PINS_BIN)/python .ci/check_pins.py $(PINS_FILE) > /dev/null
	touch $@

$(MIN)/.installed: pyproject.toml $(MIN_FILE)
	rm -rf $(MIN)
	$(PYTHON) -m venv $(MIN)
	$(MIN_BIN)/python -m pip install --quiet -e '.[test]' psycopg2-binary -c $(MIN_FILE)
	$(MIN_BIN)/python -m pip check
	$(MIN_BIN)/python .ci/check_pins.py $(MIN_FILE)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python notebooks/run.py notebooks/quickstart.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest

# The quickstart notebook first (its output goes to a log), so that pytest's summary is the last line.
test-pins: $(PINS)/.installed
	$(PINS_BIN)/python notebooks/run.py notebooks/quickstart.ipynb --workdir $(PINS)/quickstart \
		> $(PINS)/quickstart.log
	tail -1 $(PINS)/quickstart.log
	SAKYUM_TEST_POSTGRES_URL=$(PINS_POSTGRES_URL) SAKYUM_TEST_NO_BROWSER="$(PINS_NO_BROWSER)" \
		$(PINS_BIN)/python -m pytest

test-min: $(MIN)/.installed
	SAKYUM_TEST_POSTGRES_URL=$(PINS_POSTGRES_URL) $(MIN_BIN)/python -m pytest $(MIN_TESTS)

# The env.py template, type-checked as init writes it: in a folder of its own, beside the support modules.
TEMPLATE_DIR := sakyum_magic/_authoring/templates/sakyum
SUPPORT := sakyum_magic/_guards/sakyum_env_support.py sakyum_magic/_guards/sakyum_env_lock.py

lint: $(STAMP)
	$(BIN)/ruff check sakyum_magic tests benchmarks
	$(BIN)/mypy sakyum_magic benchmarks
	tmp=$$(mktemp -d) && cp $(TEMPLATE_DIR)/env.py $(SUPPORT) $$tmp && $(BIN)/mypy --strict $$tmp; \
		status=$$?; rm -rf $$tmp; exit $$status

# make bench: every case with its target (about ten minutes); make bench BENCH_ARGS=--quick: a minute or two.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(PINS) $(MIN) default.db alembic alembic.ini .pytest_cache .mypy_cache
