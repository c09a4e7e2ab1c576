# Two commands a reader needs (see README.md):
#   make run    set up, then run the article's notebook and the port into output/ (results JSON, plots,
#               executed notebooks), one line per notebook in the terminal
#   make test   set up, then run the test suite
# `make lessons` runs every notebook, in reading order. Both environments take the PyTorch build
# that fits the machine (TORCH, below); `make setup TORCH=cuda` or `TORCH=cpu` asks for one.

# fastai v1 needs Python 3.11: the one on PATH, else a uv-managed one (`uv python install 3.11`).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || { command -v uv >/dev/null 2>&1 && uv python find 3.11 2>/dev/null; })
GET_PYTHON := get it with uv (uv python install 3.11), your system's package manager (apt install python3.11, brew install python@3.11), or conda (conda env create -f environment.yml), or name one: make PYTHON=/path/to/python3.11
comma := ,
# The oldest Python 3.11 the locks install on (Debian 12's): every pinned package's Requires-Python
# admits it (`make lock` checks; so does tests/test_packaging.py), and check-python refuses older ones.
PYTHON_FLOOR := 3.11.2
# $(PYTHON)'s version, e.g. 3.11.7; empty when it is not a Python.
python_version = $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
# $(call at_least,VERSION,FLOOR): "yes" when VERSION >= FLOOR, both as major.minor.micro (shell
# builtins only: make's PATH may hold nothing else).
three = $(wordlist 1,3,$(subst ., ,$(1)) 0 0 0)
at_least = $(shell set -- $(call three,$(1)) $(call three,$(2)); \
	{ [ $$1 -gt $$4 ] || { [ $$1 -eq $$4 ] && { [ $$2 -gt $$5 ] || { [ $$2 -eq $$5 ] && [ $$3 -ge $$6 ]; }; }; }; } \
	2>/dev/null && echo yes)
VENV := .venv
VENV2 := .venv-fastai2
# What `make run` runs: the article's notebook and its port, what a reader comes for.
NOTEBOOKS ?= 01_article 02_port
# Every lesson, in reading order: each numbered notebook in notebooks/ (a new one joins by its name).
LESSONS := $(sort $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb))))
# The two that `make benchmark` runs: 07 writes benchmarks/results/, which 08 reads.
BENCHMARK_NOTEBOOKS := 07_benchmark 08_beyond
# A cell that runs longer than this (seconds) has hung: fail instead of waiting.
CELL_TIMEOUT ?= 1200
# Except the benchmark's one long cell, which trains every method on every fold (half an hour on 2 cores).
BENCHMARK_CELL_TIMEOUT ?= 7200
# Runs notebooks with papermill, showing one line per notebook, its progress lines, and where the
# outputs went (movielens_fastai/reporting/runner.py).
RUNNER = $(VENV)/bin/python -m movielens_fastai.reporting.runner --cell-timeout $(CELL_TIMEOUT) \
	--cell-timeout 07_benchmark=$(BENCHMARK_CELL_TIMEOUT)
# Kernels are installed inside each venv; this lets Jupyter and papermill find both.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter:$(CURDIR)/$(VENV2)/share/jupyter

# TORCH, PyTorch's build in both environments:
#   cpu   PyTorch's CPU-only build: about a quarter of the disk, no GPU support
#   cuda  PyPI's build, CUDA libraries included: uses an NVIDIA GPU
# Unset, it is what the environments were built with, so a later target reuses them; for new
# environments, the machine decides: cuda where `nvidia-smi -L` lists a GPU, cpu elsewhere. Naming
# a build the environments were not built with rebuilds both, and says so.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# (Environments built before TORCH had two names were stamped "default": PyPI's build, cuda.)
built_with := $(patsubst default,cuda,$(patsubst .installed-%,%,$(notdir $(firstword \
	$(wildcard $(VENV)/.installed-* $(VENV2)/.installed-*)))))
ifeq ($(origin TORCH),undefined)
ifneq ($(built_with),)
TORCH := $(built_with)
TORCH_WHY := as the environments were built; TORCH=$(if $(filter cpu,$(built_with)),cuda,cpu) switches
else ifneq ($(filter GPU,$(shell nvidia-smi -L 2>/dev/null)),)
TORCH := cuda
TORCH_WHY := nvidia-smi lists an NVIDIA GPU; TORCH=cpu for the CPU-only build
else
TORCH := cpu
TORCH_WHY := no NVIDIA GPU: nvidia-smi lists none; TORCH=cuda for the CUDA build
endif
else ifneq ($(filter-out $(TORCH),$(built_with)),)
TORCH_WHY := TORCH=$(TORCH) asked; the environments were built with the $(built_with) build: rebuilding both
else
TORCH_WHY := TORCH=$(TORCH) asked
endif
ifeq ($(TORCH),cuda)
LOCK := requirements.txt
LOCK2 := requirements-fastai2.txt
else ifeq ($(TORCH),cpu)
LOCK := requirements-cpu.txt
LOCK2 := requirements-fastai2-cpu.txt
else
$(error TORCH must be 'cuda' or 'cpu' (or unset: the machine decides), got '$(TORCH)')
endif
# The CPU locks: torch's own CUDA dependencies left out (nvidia-ml-py3 is fastai v1's, not torch's),
# torch and torchvision swapped for PyTorch's CPU build and the torchvision made for it.
CUDA_ONLY := ^(triton|cuda-[a-z]+|nvidia-(cu|nv|nccl)[a-z0-9-]*)==
TORCH_CPU := 2.13.0+cpu
TORCHVISION_CPU := 0.28.0

.PHONY: setup torch-build check-python check-cuda-locks run lessons benchmark publish badges check test jupyter app space lock lock-cpu cpu-lock-files clean

setup: $(VENV)/.installed-$(TORCH) $(VENV2)/.installed-$(TORCH)

# One line: which build, and why.
torch-build:
	@echo "PyTorch: the $(TORCH) build ($(TORCH_WHY))."

# Stops make with one line (make's own "Makefile:N: *** ... Stop.") before anything is built.
check-python:
	$(if $(PYTHON),,$(error Python 3.11 is needed but python3.11 is not on PATH; $(GET_PYTHON)))
	$(if $(filter 3.11.%,$(python_version)),,$(error $(PYTHON) is not Python 3.11; $(GET_PYTHON)))
	$(if $(call at_least,$(python_version),$(PYTHON_FLOOR)),,$(error $(PYTHON) is Python $(python_version)$(comma) \
		older than $(PYTHON_FLOOR)$(comma) the oldest the locks install on; $(GET_PYTHON)))

# $(call venv,DIR,LOCK,KERNEL,DISPLAY NAME): a fresh venv with LOCK installed and its kernel registered,
# one line per step with the time since the start (pip stays quiet: a download can take minutes).
# For the CPU build, torch comes first from PyTorch's CPU index (only torch: every other package
# keeps coming from PyPI), then the lock finds it already satisfied. The editable install is -qq:
# setuptools warns there about folders named like the package, which the checkout is.
define venv
	@set -e; start=$$(date +%s); \
	step() { t=$$(( $$(date +%s) - start )); printf '%s: %s (%d min %02d s)\n' $(1) "$$1" $$((t / 60)) $$((t % 60)); }; \
	step "new environment, the $(TORCH) build of PyTorch"; \
	rm -rf $(1); \
	$(PYTHON) -m venv $(1); \
	$(1)/bin/pip install -q --upgrade 'pip<27'; \
	$(if $(filter cpu,$(TORCH)),$(call cpu_torch,$(1),$(2))) \
	step "$$(grep -c '==' $(2)) pinned packages from $(2)"; \
	$(1)/bin/pip install -q -r $(2); \
	step "the movielens_fastai package, editable"; \
	$(1)/bin/pip install -qq --no-deps -e .; \
	$(1)/bin/python -m ipykernel install --sys-prefix --name $(3) --display-name "$(4)" >/dev/null; \
	touch $(1)/.installed-$(TORCH); \
	step "ready, kernel $(3)"
endef

# $(call cpu_torch,DIR,LOCK): the venv's step that installs the lock's torch from PyTorch's CPU index.
cpu_torch = step "torch from PyTorch's CPU index"; \
	$(1)/bin/pip install -q --no-deps --index-url $(TORCH_CPU_INDEX) $$(grep -E '^torch==' $(2));

# The original: fastai v1 as the article used it, and the tools that run the notebooks.
$(VENV)/.installed-$(TORCH): $(LOCK) pyproject.toml | check-python torch-build
	$(call venv,$(VENV),$(LOCK),movielens-fastai,Python 3.11 (movielens-fastai$(comma) fastai v1))

# The port: current fastai, in its own environment and kernel.
$(VENV2)/.installed-$(TORCH): $(LOCK2) pyproject.toml | check-python torch-build
	$(call venv,$(VENV2),$(LOCK2),movielens-fastai2,Python 3.11 (movielens-fastai2$(comma) fastai 2.8))

run: setup
	@$(RUNNER) $(NOTEBOOKS)

# Every notebook, 01 onwards: about 45 minutes on 2 cores, most of it 07_benchmark.
lessons: setup
	@$(RUNNER) $(LESSONS)

# The peer benchmark on the canonical u1-u5 folds (about half an hour on 2 cores): the executed
# notebook in output/, and its tables and plot in benchmarks/results/; then 08_beyond, which
# reads them (our models past the article, and the article's split).
benchmark: setup
	@$(RUNNER) -p results_dir ../benchmarks/results 07_benchmark
	@$(VENV)/bin/python benchmarks/run.py folds --table-only
	@$(RUNNER) 08_beyond

# Maintainers: commit the outputs of a real run of every notebook, normalised (see
# movielens_fastai/reporting/publish.py). 07 and 08 run as `make benchmark` runs them.
publish: setup
	@$(RUNNER) $(filter-out $(BENCHMARK_NOTEBOOKS),$(LESSONS))
	@$(MAKE) --no-print-directory benchmark
	@for nb in $(LESSONS); do \
		$(VENV)/bin/python -m movielens_fastai.reporting.publish output/$$nb.ipynb notebooks/$$nb.ipynb || exit 1; \
	done

# Every "Open in Colab / Kaggle / Binder" badge (README and each notebook's top) and each lesson's
# hosted-setup or python-check cell, written from pyproject.toml's Repository URL.
badges: $(VENV)/.installed-$(TORCH)
	@$(VENV)/bin/python -m movielens_fastai.reporting.hosted

# The fast tier, for after every change: lint, then in each environment every test that runs no
# notebook, builds no wheel, starts no server and trains nothing for long (tests/conftest.py and the
# markers in pyproject.toml say which). `make test` runs everything.
FAST_TIER := not (notebook or wheel or server or training or slow or browser or hosted)
check: setup
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m "$(FAST_TIER)"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; [ $$rc -eq 0 ] || exit $$rc
	$(VENV2)/bin/python -m pytest -q -p no:cacheprovider tests/fastai2 -m "$(FAST_TIER)"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# Each environment runs its own tests (tests/conftest.py): .venv's pytest the files in tests/,
# .venv-fastai2's those in tests/fastai2/. PYTEST_ARGS narrows both runs, e.g.
# make test PYTEST_ARGS='-m "not slow"'. pytest's exit 5 (no test collected) is a failure.
test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; [ $$rc -eq 0 ] || exit $$rc
	$(VENV2)/bin/python -m pytest tests/fastai2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

jupyter: setup
	$(VENV)/bin/jupyter notebook notebooks/

# The app (issue #17): "How's that movie?" on http://127.0.0.1:7860/, serving the model saved in
# output/app/ (trained there first, each step printed, when there is none). It needs only the
# fastai 2 environment. APP_ARGS passes options, e.g. APP_ARGS='--port 8000' or a model trained on
# your own table: APP_ARGS='--ratings mine.csv --titles titles.csv --user-column userId ...'.
APP_ARGS ?=
app: $(VENV2)/.installed-$(TORCH)
	GRADIO_ANALYTICS_ENABLED=False $(VENV2)/bin/python -m movielens_fastai.serving.app $(APP_ARGS)

# A Hugging Face Space laid out in output/space/ (app.py, requirements.txt, README.md, the model);
# nothing is deployed.
space: $(VENV2)/.installed-$(TORCH)
	GRADIO_ANALYTICS_ENABLED=False $(VENV2)/bin/python -m movielens_fastai.serving.app --space output/space \
		$(APP_ARGS)

# Recompile the locks from the short input lists (needs the package registry). The CPU locks
# are the default locks with torch's CUDA packages left out and torch's CPU build pinned, so
# both routes install the same versions of everything else; `pip check` proves they fit.
# Each lock is installed into a fresh venv with the pip the environments use; `make lock` stops
# if a package's Requires-Python leaves out PYTHON_FLOOR (bound it in the .in file instead).
LOCK_VENV ?= /tmp/movielens-lock
define FLOOR_CHECK
import sys
from importlib.metadata import distributions
from pip._vendor.packaging.specifiers import SpecifierSet
floor = sys.argv[1]
needs = {f"{d.metadata['Name']}=={d.version}": d.metadata["Requires-Python"] for d in distributions()}
bad = sorted(f"{pin} (Requires-Python {spec})" for pin, spec in needs.items()
             if spec and floor not in SpecifierSet(spec))
sys.exit(f"Not installable on Python {floor}: {', '.join(bad)}" if bad else 0)
endef
export FLOOR_CHECK

# A fresh $(LOCK_VENV) with the pip the environments use.
define new_lock_venv
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade 'pip<27'
endef

# What $(LOCK_VENV) holds fits together and installs on PYTHON_FLOOR.
define check_lock_venv
	$(LOCK_VENV)/bin/pip check
	$(LOCK_VENV)/bin/python -c "$$FLOOR_CHECK" $(PYTHON_FLOOR)
endef

# $(call freeze,IN,TXT): IN's newest versions (the seed venv's setuptools too), frozen into TXT.
define freeze
	$(new_lock_venv)
	$(LOCK_VENV)/bin/pip install -q --upgrade -r $(1)
	$(check_lock_venv)
	{ echo '# Locked from $(1) by `make lock`. Python $(PYTHON_FLOOR) or a newer 3.11.'; \
	  $(LOCK_VENV)/bin/pip freeze --all | grep -v '^pip=='; } > $(2)
endef

# $(call install_cpu_lock,TXT): TXT installed the way `make setup TORCH=cpu` does, and checked.
define install_cpu_lock
	$(new_lock_venv)
	$(LOCK_VENV)/bin/pip install -q --no-deps --index-url $(TORCH_CPU_INDEX) $$(grep -E '^torch==' $(1))
	$(LOCK_VENV)/bin/pip install -q -r $(1)
	$(check_lock_venv)
endef

# Whether a pip report (--dry-run --report) installs exactly a lock's pins.
define SAME_AS_LOCK
import json, re, sys
report, lock = sys.argv[1:]
key = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wanted = {key(n): v for n, _, v in (l.partition("==") for l in open(lock).read().splitlines()
                                     if l and not l.startswith("#"))}
got = {key(p["metadata"]["name"]): p["metadata"]["version"] for p in json.load(open(report))["install"]}
diff = sorted(f"{n}: lock {wanted.get(n)}, resolved {got.get(n)}" for n in set(wanted) | set(got)
              if wanted.get(n) != got.get(n))
sys.exit(f"{lock} does not install as pinned: {'; '.join(diff)}" if diff else 0)
endef
export SAME_AS_LOCK

# The CUDA locks still resolve for this Python: in a fresh venv, pip resolves each as an install
# would and installs nothing; what it would install must be exactly the lock's pins. CI runs it:
# its machine has no NVIDIA GPU, so `make test` there builds the CPU locks.
check-cuda-locks: check-python
	$(new_lock_venv)
	for lock in requirements.txt requirements-fastai2.txt; do \
		$(LOCK_VENV)/bin/pip install -q --dry-run --ignore-installed --report $(LOCK_VENV)/report.json \
			-r $$lock || exit 1; \
		$(LOCK_VENV)/bin/python -c "$$SAME_AS_LOCK" $(LOCK_VENV)/report.json $$lock || exit 1; \
		echo "$$lock: resolves to its $$(grep -c '==' $$lock) pins"; \
	done
	rm -rf $(LOCK_VENV)

lock: check-python
	$(call freeze,requirements.in,requirements.txt)
	$(call freeze,requirements-fastai2.in,requirements-fastai2.txt)
	rm -rf $(LOCK_VENV)
	$(MAKE) lock-cpu

# Writes the CPU locks from the default locks (cpu-lock-files, no network), then installs each.
lock-cpu: check-python cpu-lock-files
	$(call install_cpu_lock,requirements-cpu.txt)
	$(call install_cpu_lock,requirements-fastai2-cpu.txt)
	rm -rf $(LOCK_VENV)

cpu-lock-files:
	for lock in requirements requirements-fastai2; do \
		{ echo "# $$lock.txt with PyTorch's CPU-only build, made by \`make lock\`. Python $(PYTHON_FLOOR) or a newer 3.11."; \
		  grep -vE '$(CUDA_ONLY)' $$lock.txt | sed -e 1d -e 's/^torch==.*/torch==$(TORCH_CPU)/' \
			-e 's/^torchvision==.*/torchvision==$(TORCHVISION_CPU)/'; } > $$lock-cpu.txt || exit 1; \
	done

# Everything make and the tests build: the environments (and the Colab-like one of
# tests/test_hosted.py), the notebooks' outputs; never ml-100k/ or data/, the downloaded data.
clean:
	rm -rf $(VENV) $(VENV2) .venv-colab output notebooks/models
