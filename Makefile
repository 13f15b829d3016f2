# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
L2L_STAMP := $(VENV)/.learn2learn
L2L_WHEELS := build/learn2learn-wheel
L2L_WHEEL := $(L2L_WHEELS)/.built
BYTECODE := $(VENV)/.bytecode

.PHONY: demo test lint typecheck venv learn2learn clean bench docs docs-samples

# The project with its test, cluster and docs extras (uv given pip's configuration, else pip).
$(STAMP): setup.cfg pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh $(PYTHON) $(VENV) test,cluster,docs
	touch $(STAMP)

venv: $(STAMP)

# The installed packages' bytecode (uv leaves it out; it compiles while learn2learn installs).
# Where PYTHONDONTWRITEBYTECODE is set (it is on the machine the timings were taken on), Python
# would otherwise compile PyTorch's modules again in every process (2 s more per `import torch`).
# The packages' own test folders (a quarter of the files) are never imported and left out. A few
# packages ship files that are not Python 3 (templates, examples): they fail to compile and are
# never imported, so the exit status is not checked (uv and pip skip them the same way).
$(BYTECODE): $(STAMP)
	$(BIN)/python -m compileall -q -j 0 -x '/tests?/' $$($(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") > /dev/null 2>&1 || true
	touch $(BYTECODE)

# learn2learn's wheel needs only the Python that makes .venv: it compiles while .venv installs.
$(L2L_WHEEL): scripts/install_learn2learn.sh
	bash scripts/install_learn2learn.sh --build-only $(L2L_WHEELS) $(PYTHON)
	touch $(L2L_WHEEL)

$(L2L_STAMP): $(STAMP) $(L2L_WHEEL)
	bash scripts/install_learn2learn.sh --from $(L2L_WHEELS) $(BIN)/python
	touch $(L2L_STAMP)

learn2learn:
	@$(MAKE) --no-print-directory -j2 $(L2L_STAMP) $(BYTECODE)

demo: $(STAMP) $(BYTECODE)
	$(BIN)/fewshot-clce benchmark --preset demo

# The package's bytecode first: where PYTHONDONTWRITEBYTECODE is set (it is on the machine the
# timings were taken on) every test worker and every process a test starts compiles it again (~1.5 s each).
# learn2learn, the installed packages' bytecode, the linter and the type checker need only .venv:
# they run side by side (each one's output printed in one piece when it ends).
test:
	@$(MAKE) --no-print-directory --output-sync=target -j4 $(L2L_STAMP) $(BYTECODE) lint typecheck
	$(BIN)/python -m compileall -q fewshot_clce
	$(BIN)/python -m pytest -q -n auto
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
