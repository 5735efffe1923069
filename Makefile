# make run / make test do every bit of set-up on a fresh machine: Debian packages (as root, where
# missing), the portable llama-cpp-python wheel (built once into a cache folder that later runs
# and fresh clones reuse), the virtualenv, and moot itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# llama-cpp-python is compiled from source (no binary wheel on the registry). The native build
# crashes on these machines, so the default is the portable one. A GPU user runs e.g.
#   make LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" run
LLAMA_VERSION := 0.3.36
BFCL_VERSION := 2026.3.23
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
CACHE_HOME := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)
LLAMA_FLAVOUR := $(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-10)
WHEELS := $(or $(MOOT_WHEELS),$(CACHE_HOME)/moot/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_FLAVOUR))

# Debian packages the tests use: tmux (the app driven as a person would), docker.io (a private
# Docker daemon for the sandboxed executor), bubblewrap.
APT_PACKAGES := tmux docker.io bubblewrap

.PHONY: run test bench bench-anchors deps apt bytecode llama-wheel clean

# The app, on the bundled local model, with the coder team ready for a task. Code runs where it is
# safe on this machine: in Docker when a daemon answers, else in the bubblewrap sandbox; only with
# neither does it run locally, and then the app asks before running each block.
run: deps
	$(BIN)/moot --team coder $$($(BIN)/python -c 'from moot.executors import planned_executor as p; print("" if p({"work_dir": "coding"}) in ("docker", "sandbox") else "--executor local")')

test: deps
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: deps
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# A side venv with the anchors (AutoGen 0.4 API, AG2 0.14) for bench/orchestration_overhead.py.
ANCHORS_VENV := .venv-anchors
bench-anchors: $(ANCHORS_VENV)/.installed

$(ANCHORS_VENV)/.installed:
	@[ -x $(ANCHORS_VENV)/bin/python ] || $(PYTHON) -m venv $(ANCHORS_VENV)
	$(ANCHORS_VENV)/bin/python -m pip install -q "ag2==0.14.0" "autogen-agentchat==0.7.5" "autogen-ext==0.7.5"
	@touch $@

deps: apt $(VENV)/.installed bytecode

# moot's own modules compiled, as a wheel install leaves them (an editable install does not, and
# with PYTHONDONTWRITEBYTECODE nothing would: every start would compile them again, ~30 ms of the
# app's first frame). Only changed files are compiled again.
PACKAGE_DIRS := moot agents backends executors memory evals tui
bytecode: $(VENV)/.installed
	@$(BIN)/python -m compileall -q $(PACKAGE_DIRS) >/dev/null

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null \
	      || { echo "apt-get install$$missing failed" >&2; exit 1; }; \
	  else echo "note: not root, so these Debian packages are not installed:$$missing (the tests that need them will say so)"; fi; \
	fi

llama-wheel: $(WHEELS)/.built

$(WHEELS)/.built:
	@echo "building llama-cpp-python $(LLAMA_VERSION) with CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' (once; about 8 minutes on 2 cores)"
	@tmp=$$(mktemp -d "$(CACHE_HOME)/moot-wheel.XXXXXX" 2>/dev/null || { mkdir -p "$(CACHE_HOME)"; mktemp -d "$(CACHE_HOME)/moot-wheel.XXXXXX"; }) && \
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(PYTHON) -m pip wheel -q --no-deps --no-cache-dir \
	  -w "$$tmp" "llama-cpp-python==$(LLAMA_VERSION)" && \
	mkdir -p "$(WHEELS)" && mv "$$tmp"/*.whl "$(WHEELS)/" && rmdir "$$tmp" && \
	echo "$(LLAMA_CMAKE_ARGS)" > "$@"

$(VENV)/.installed: pyproject.toml $(WHEELS)/.built
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-deps --no-index --find-links "$(WHEELS)" --force-reinstall "llama-cpp-python==$(LLAMA_VERSION)"
	$(BIN)/python -m pip install -q --find-links "$(WHEELS)" -e '.[test]'
	# moot eval bfcl reads only bfcl-eval's data files; its dependencies (torch...) are not wanted
	$(BIN)/python -m pip install -q --no-deps "bfcl-eval==$(BFCL_VERSION)"
	@touch $@

clean:
	rm -rf $(VENV) $(ANCHORS_VENV) .pytest_cache
