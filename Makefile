# One command each: `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench clean

install: $(STAMP)

# torch is pinned here (not in pyproject.toml) so that a CPU machine takes the CPU build;
# on a machine with a CUDA torch already installed, run `pip install -e ".[dev,viz]"` instead.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[dev,viz]"
	touch $(STAMP)

test: install
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest tests

# S-SSAL on the built-in synthetic world (configs/synthetic/s_ssal_tiny.yaml) beside random + normal, a table and
# runs/demo/report/index.html; resumable (run it again to continue, or to see the same numbers in seconds).
demo: install
	OMP_NUM_THREADS=2 $(BIN)/ssal demo --out runs/demo

# The speed benchmarks (each prints a table). The others take arguments or hours and are run by hand:
# label_efficiency.py, faults.py, train_kills.py, torchrun_stress.py, sim_to_real.py, redundancy.py.
SPEED_BENCHMARKS := geometry detector engine eval query synth cpsp waymo_infos

bench: install
	for name in $(SPEED_BENCHMARKS); do echo "== benchmarks/$$name.py"; OMP_NUM_THREADS=2 $(BIN)/python benchmarks/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
