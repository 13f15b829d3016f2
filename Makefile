# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
L2L_STAMP := $(VENV)/.learn2learn

.PHONY: demo test venv learn2learn clean bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,cluster]'
	touch $(STAMP)

venv: $(STAMP)

$(L2L_STAMP): $(STAMP) scripts/install_learn2learn.sh
	bash scripts/install_learn2learn.sh $(BIN)/python
	touch $(L2L_STAMP)

learn2learn: $(L2L_STAMP)

demo: $(STAMP)
	$(BIN)/fewshot-clce benchmark --preset demo

test: $(STAMP) $(L2L_STAMP)
	$(BIN)/python -m pytest -q -n auto

bench: $(STAMP) $(L2L_STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
