# The two commands README opens with: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench fidelity estimate-accuracy clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[host,test]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/fpga-accel demo --force

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

fidelity: $(BIN)/.installed
	$(BIN)/python benchmarks/fidelity.py --readme

# Refit the estimator on the calibration set, cross-validate it (leave one design out) and print the error
estimate-accuracy: $(BIN)/.installed
	$(BIN)/python benchmarks/estimate_accuracy.py --write-constants --markdown benchmarks/estimate_accuracy.md

clean:
	rm -rf $(VENV) hls_projects/*/ bitstreams/*/
