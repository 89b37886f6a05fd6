# padiff-gen developer commands. `make demo` and `make test` set everything up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-fast test-zoo test-llm golden bench bench-llm lint fuzz clean

# The venv pins the CPU builds we develop against; the package itself only asks for ranges.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0 paddlepaddle==3.3.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m examples.demo

# The unit tier (tests/unit: pieces tested without models or subprocesses) runs first,
# so that a broken law fails in seconds; `make test-fast` runs it alone.
test: $(INSTALLED)
	$(PY) -m pytest -q tests/unit tests

test-fast: $(INSTALLED)
	$(PY) -m pytest -q tests/unit

# The zoo tests against real torchvision, in a venv of their own: torchvision pins its
# torch, and the pair is several GB, so this stays out of `make test` and CI.
ZOO_VENV ?= .venv-zoo
ZOO_PY := $(ZOO_VENV)/bin/python
ZOO_INSTALLED := $(ZOO_VENV)/.installed

$(ZOO_INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1 paddlepaddle==3.3.1
	$(ZOO_PY) -m pip install --quiet -e '.[test]'
	touch $(ZOO_INSTALLED)

test-zoo: $(ZOO_INSTALLED)
	$(ZOO_PY) -m pytest -q tests_torchvision

# The acceptance tests against Hugging Face transformers and PaddleFormers (issue 8), in a
# venv of their own (about 2 GB, so not in `make test` or CI). torch is pinned in the same
# pip call, or another package pulls a CUDA build. paddlecodec installs a `torchcodec`
# module without metadata that crashes transformers' imports; a torchvision or timm pulled
# in does not load with the CPU torch. See tests_llm/LAYOUTS.md.
LLM_VENV ?= .venv-llm
LLM_PY := $(LLM_VENV)/bin/python
LLM_INSTALLED := $(LLM_VENV)/.installed

$(LLM_INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(LLM_VENV)
	$(LLM_PY) -m pip install --quiet torch==2.13.0 paddlepaddle==3.3.1 paddleformers==1.2.0 'transformers>=5.0,<5.4'
	$(LLM_PY) -m pip uninstall --quiet -y paddlecodec torchvision timm
	$(LLM_PY) -m pip install --quiet -e '.[test]'
	touch $(LLM_INSTALLED)

test-llm: $(LLM_INSTALLED)
	$(LLM_PY) -m pytest -q -p no:cacheprovider tests_llm

# Rewrite generated_examples/ after an intended change to the output.
golden: $(INSTALLED)
	$(PY) -m examples.catalog --refresh

# The property-based tests with thousands of examples instead of the CI budget (long).
fuzz: $(INSTALLED)
	PADIFF_GEN_FUZZ=1 $(PY) -m pytest -q tests/test_properties.py

# Speed and memory of emit and of generated scripts (a few minutes, ~8 GB of memory).
# Not a test: numbers go to docs/performance.md. `make bench BENCH_ARGS=--llama7b` also
# converts a LLaMA-7B-shaped bfloat16 checkpoint (needs ~30 GB of free disk).
BENCH_ARGS ?=
bench: $(INSTALLED)
	$(PY) -m bench.run $(BENCH_ARGS)

# emit at the published sizes of the test-llm architectures (time, peak RSS, what decided
# each layout): the README's table. Runs in the venv of test-llm.
bench-llm: $(LLM_INSTALLED)
	$(LLM_PY) -m bench.published $(BENCH_ARGS)

lint: $(INSTALLED)
	$(PY) -m black --check padiff_gen examples tests generated_examples bench

clean:
	rm -rf $(VENV) $(ZOO_VENV) $(LLM_VENV) build dist *.egg-info
