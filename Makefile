# MotionMask: `make setup`, `make demo`, `make test`. Everything installs from this repository's own files.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
PYTEST_ARGS ?=

.PHONY: setup demo test test-all lint bench clean

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements/lock.txt
	$(VPY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

CACHE ?= $(or $(MOTIONMASK_CACHE),$(HOME)/.cache/motionmask)
DEFAULT_BUNDLE := $(CACHE)/bundles/motionmask-onnx-fp32.bundle

# the swap-mode generator trained here (compression/.../zoo/generators/README.md); the default bundle carries it
GENERATOR := compression/motionmask_compress/zoo/generators/swap_generator.pt

setup: $(STAMP)
	$(VPY) -m motionmask_compress.zoo.weights
	$(VPY) -m motionmask_compress.zoo.pose_onnx
	$(MAKE) --no-print-directory $(DEFAULT_BUNDLE)
	$(VPY) scripts/default_source.py

# rebuilt when the generator weights change
$(DEFAULT_BUNDLE): $(STAMP) $(wildcard $(GENERATOR))
	$(VENV)/bin/motionmask-build bundle --target onnx --precision fp32 --out $(DEFAULT_BUNDLE) --quiet \
		$(if $(wildcard $(GENERATOR)),--generator $(GENERATOR)) || (rm -f $(DEFAULT_BUNDLE); false)

demo: setup
	$(VPY) scripts/demo.py

test: setup lint
	$(VPY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sdk compression export tests benchmarks scripts

test-all: setup
	$(VPY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(VPY) benchmarks/track_benchmark.py

clean:
	rm -rf $(VENV) build out
