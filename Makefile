# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
L2L_STAMP := $(VENV)/.learn2learn
L2L_WHEELS := build/learn2learn-wheel
L2L_WHEEL := $(L2L_WHEELS)/.built

.PHONY: demo test test-slow lint typecheck warm docs-build venv learn2learn clean bench docs docs-samples

# The project with its test, cluster and docs extras (uv given pip's configuration, else pip).
$(STAMP): setup.cfg pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh $(PYTHON) $(VENV) test,cluster,docs
	touch $(STAMP)

venv: $(STAMP)

# Python writes the bytecode of each module it imports (into .venv and the project's __pycache__
# folders, which git ignores) even where PYTHONDONTWRITEBYTECODE is set (it is on the machine the
# timings were taken on): each module then compiles once, in the first process that imports it,
# instead of in every process (2 s more per `import torch`) or all of site-packages ahead of time.
unexport PYTHONDONTWRITEBYTECODE

# learn2learn's wheel needs only the Python that makes .venv: it compiles while .venv installs.
$(L2L_WHEEL): scripts/install_learn2learn.sh
	bash scripts/install_learn2learn.sh --build-only $(L2L_WHEELS) $(PYTHON)
	touch $(L2L_WHEEL)

$(L2L_STAMP): $(STAMP) $(L2L_WHEEL)
	bash scripts/install_learn2learn.sh --from $(L2L_WHEELS) $(BIN)/python
	touch $(L2L_STAMP)

learn2learn: $(L2L_STAMP)

demo: $(STAMP)
	$(BIN)/fewshot-clce benchmark --preset demo

# The tests in two tiers, both run by CI (.ci/run). `make test`: everything but the tests marked
# slow, after the linter, the type checker, the docs build and one collection of the tests (which
# imports, and so compiles, what the test workers will import), run side by side. `make test-slow`:
# the tests that start other Python processes or notebook kernels, train for more than a few
# seconds, build a whole dataset or need learn2learn (built and installed first).
test:
	@$(MAKE) --no-print-directory --output-sync=target -j4 lint typecheck docs-build warm
	$(BIN)/python -m pytest -q -n auto -m "not slow"
	@echo "make test: passed; the tests marked slow run with make test-slow (CI runs both)"

test-slow: $(L2L_STAMP)
	$(BIN)/python -m pytest -q -n auto -m slow

warm: $(STAMP)
	@$(BIN)/python -m pytest -q --collect-only -m "not slow" > $(VENV)/collect.log 2>&1 || { cat $(VENV)/collect.log; exit 1; }

docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The formatter and linter over the whole tree (settings in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The type checker over the packages listed in pyproject.toml's [tool.mypy].
typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site, served with live reload on http://127.0.0.1:8000.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Every command output the docs show (docs/samples/*.txt), written from the current code.
docs-samples: $(STAMP)
	$(BIN)/python scripts/docs_samples.py

bench: learn2learn
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
