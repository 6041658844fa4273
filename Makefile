# The two commands README opens with: `make demo` and `make test`. Both create a venv on first use.
# PYTHON picks the interpreter (found by tools/find-python: on PATH, else pyenv's versions/X.Y.*), and with
# it the host stack: Python 3.10–3.11 gets TensorFlow 2.14 / Keras 2, 3.12+ Keras 3. EXTRA=host-keras3 asks
# for Keras 3 on 3.10–3.11. The default (python3, host) lives in .venv; any other in .venv-X.Y[-EXTRA].
PYTHON ?= python3
EXTRA  ?= host
ifeq ($(PYTHON)/$(EXTRA),python3/host)
VENV   ?= .venv
else
VENV   ?= .venv-$(shell tools/find-python --version $(PYTHON))$(if $(filter-out host,$(EXTRA)),-$(EXTRA))
endif
BIN    := $(VENV)/bin

.PHONY: demo test bench fidelity estimate-accuracy mutation-check clean

$(BIN)/.installed: pyproject.toml
	py="$$(tools/find-python $(PYTHON))" && "$$py" -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRA),test]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/fpga-accel demo --force

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

fidelity: $(BIN)/.installed
	$(BIN)/python benchmarks/fidelity.py --readme

# Each test in benchmarks/mutation_check.py's table passes, and fails once the code it guards is broken by
# the table's one-line edit (in a copy of the tree; writes benchmarks/mutation_check.md)
mutation-check: $(BIN)/.installed
	$(BIN)/python benchmarks/mutation_check.py

# Refit the estimator on the calibration set, cross-validate it (leave one source out), print the error and
# regenerate the calibration README table
estimate-accuracy: $(BIN)/.installed
	$(BIN)/python benchmarks/estimate_accuracy.py --write-constants --prior-weight-cv --markdown benchmarks/estimate_accuracy.md --readme README.md
	$(BIN)/python benchmarks/calibration_table.py

clean:
	rm -rf .venv .venv-[0-9]* hls_projects/*/ bitstreams/*/
