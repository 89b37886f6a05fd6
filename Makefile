# padiff-gen developer commands. `make demo` and `make test` set everything up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test golden bench lint fuzz clean

# The venv pins the CPU builds we develop against; the package itself only asks for ranges.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0 paddlepaddle==3.3.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m examples.demo

test: $(INSTALLED)
	$(PY) -m pytest -q

# Rewrite generated_examples/ after an intended change to the output.
golden: $(INSTALLED)
	$(PY) -m examples.catalog --refresh

# Speed and memory of emit and of generated scripts (a few minutes, ~8 GB of memory).
# Not a test: numbers go to docs/performance.md.
bench: $(INSTALLED)
	$(PY) -m bench.run

lint: $(INSTALLED)
	$(PY) -m black --check padiff_gen examples tests generated_examples bench

clean:
	rm -rf $(VENV) build dist *.egg-info
