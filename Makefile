# Two commands a reader needs (see README.md):
#   make run    set up, then execute every notebook into output/ (results JSON, plots, executed notebooks)
#   make test   set up, then run the test suite
# `make setup TORCH=cpu` (or `make run TORCH=cpu`, `make test TORCH=cpu`) builds both environments
# with PyTorch's CPU-only wheels instead of PyPI's: no GPU support, about a quarter of the disk.

# fastai v1 needs Python 3.11: the one on PATH, else a uv-managed one (`uv python install 3.11`).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || { command -v uv >/dev/null 2>&1 && uv python find 3.11 2>/dev/null; })
GET_PYTHON := get it with uv (uv python install 3.11), your system's package manager (apt install python3.11, brew install python@3.11), or conda (conda env create -f environment.yml), or name one: make PYTHON=/path/to/python3.11
comma := ,
VENV := .venv
VENV2 := .venv-fastai2
NOTEBOOKS ?= 01_article 02_port 03_under_the_hood 04_interpretation 05_fast_fastai 06_recommending
# A notebook that runs longer than this (seconds per cell) has hung: fail instead of waiting.
CELL_TIMEOUT ?= 1200
# Kernels are installed inside each venv; this lets Jupyter and papermill find both.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter:$(CURDIR)/$(VENV2)/share/jupyter

# TORCH=default: torch from PyPI (CUDA libraries included, uses a GPU when there is one).
# TORCH=cpu: torch from PyTorch's CPU wheel index; every other pin is the default lock's.
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifeq ($(TORCH),default)
LOCK := requirements.txt
LOCK2 := requirements-fastai2.txt
else ifeq ($(TORCH),cpu)
LOCK := requirements-cpu.txt
LOCK2 := requirements-fastai2-cpu.txt
else
$(error TORCH must be 'default' or 'cpu', got '$(TORCH)')
endif
# The CPU locks: torch's own CUDA dependencies left out (nvidia-ml-py3 is fastai v1's, not torch's),
# torch and torchvision swapped for PyTorch's CPU build and the torchvision made for it.
CUDA_ONLY := ^(triton|cuda-[a-z]+|nvidia-(cu|nv|nccl)[a-z0-9-]*)==
TORCH_CPU := 2.13.0+cpu
TORCHVISION_CPU := 0.28.0

.PHONY: setup check-python run benchmark publish test jupyter app space lock lock-cpu clean

setup: $(VENV)/.installed-$(TORCH) $(VENV2)/.installed-$(TORCH)

# Stops make with one line (make's own "Makefile:N: *** ... Stop.") before anything is built.
check-python:
	$(if $(PYTHON),,$(error Python 3.11 is needed but python3.11 is not on PATH; $(GET_PYTHON)))
	$(if $(filter 3.11,$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)),,\
		$(error $(PYTHON) is not Python 3.11; $(GET_PYTHON)))

# $(call venv,DIR,LOCK,KERNEL,DISPLAY NAME): a fresh venv with LOCK installed and its kernel registered.
# For the CPU build, torch comes first from PyTorch's CPU index (only torch: every other package
# keeps coming from PyPI), then the lock finds it already satisfied.
define venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install -q --upgrade 'pip<27'
	$(if $(filter cpu,$(TORCH)),$(1)/bin/pip install -q --no-deps --index-url $(TORCH_CPU_INDEX) \
		$$(grep -E '^torch==' $(2)))
	$(1)/bin/pip install -q -r $(2)
	$(1)/bin/pip install -q --no-deps -e .
	$(1)/bin/python -m ipykernel install --sys-prefix --name $(3) --display-name "$(4)"
	touch $(1)/.installed-$(TORCH)
endef

# The original: fastai v1 as the article used it, and the tools that run the notebooks.
$(VENV)/.installed-$(TORCH): $(LOCK) pyproject.toml | check-python
	$(call venv,$(VENV),$(LOCK),movielens-fastai,Python 3.11 (movielens-fastai$(comma) fastai v1))

# The port: current fastai, in its own environment and kernel.
$(VENV2)/.installed-$(TORCH): $(LOCK2) pyproject.toml | check-python
	$(call venv,$(VENV2),$(LOCK2),movielens-fastai2,Python 3.11 (movielens-fastai2$(comma) fastai 2.8))

run: setup
	mkdir -p output
	for nb in $(NOTEBOOKS); do \
		$(VENV)/bin/papermill notebooks/$$nb.ipynb output/$$nb.ipynb --cwd notebooks \
			--execution-timeout $(CELL_TIMEOUT) || exit 1; \
	done
	@echo "Executed notebooks, results (*.json) and plots are in output/"

# The peer benchmark on the canonical u1-u5 folds (about half an hour on 2 cores): the executed
# notebook in output/, and its tables and plot in benchmarks/results/; then beyond.ipynb, which
# reads them (our models past the article, and the article's split).
benchmark: setup
	mkdir -p output
	$(VENV)/bin/papermill notebooks/07_benchmark.ipynb output/07_benchmark.ipynb --cwd notebooks \
		--execution-timeout 7200 -p results_dir ../benchmarks/results
	$(VENV)/bin/papermill notebooks/08_beyond.ipynb output/08_beyond.ipynb --cwd notebooks \
		--execution-timeout 7200

# Maintainers: commit the outputs of a real run, normalised (see movielens_fastai/reporting/publish.py).
publish: run benchmark
	for nb in $(NOTEBOOKS) 07_benchmark 08_beyond; do \
		$(VENV)/bin/python -m movielens_fastai.reporting.publish output/$$nb.ipynb notebooks/$$nb.ipynb || exit 1; \
	done

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
lock: check-python
	rm -rf /tmp/movielens-lock && $(PYTHON) -m venv /tmp/movielens-lock
	/tmp/movielens-lock/bin/pip install -q -r requirements.in
	{ echo '# Locked from requirements.in by `make lock`. Python 3.11.'; \
	  /tmp/movielens-lock/bin/pip freeze --all | grep -v '^pip=='; } > requirements.txt
	rm -rf /tmp/movielens-lock && $(PYTHON) -m venv /tmp/movielens-lock
	/tmp/movielens-lock/bin/pip install -q -r requirements-fastai2.in
	{ echo '# Locked from requirements-fastai2.in by `make lock`. Python 3.11.'; \
	  /tmp/movielens-lock/bin/pip freeze --all | grep -v '^pip=='; } > requirements-fastai2.txt
	rm -rf /tmp/movielens-lock
	$(MAKE) lock-cpu

lock-cpu: check-python
	for lock in requirements requirements-fastai2; do \
		{ echo "# $$lock.txt with PyTorch's CPU-only build, made by \`make lock\`. Python 3.11."; \
		  grep -vE '$(CUDA_ONLY)' $$lock.txt | sed -e 1d -e 's/^torch==.*/torch==$(TORCH_CPU)/' \
			-e 's/^torchvision==.*/torchvision==$(TORCHVISION_CPU)/'; } > $$lock-cpu.txt; \
		rm -rf /tmp/movielens-lock && $(PYTHON) -m venv /tmp/movielens-lock && \
		/tmp/movielens-lock/bin/pip install -q --no-deps --index-url $(TORCH_CPU_INDEX) \
			$$(grep -E '^torch==' $$lock-cpu.txt) && \
		/tmp/movielens-lock/bin/pip install -q -r $$lock-cpu.txt && \
		/tmp/movielens-lock/bin/pip check || exit 1; \
	done
	rm -rf /tmp/movielens-lock

clean:
	rm -rf $(VENV) $(VENV2) output notebooks/models
