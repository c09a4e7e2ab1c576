# Two commands a reader needs (see README.md):
#   make run    set up, then execute every notebook into output/ (results JSON, plots, executed notebooks)
#   make test   set up, then run the test suite
PYTHON ?= python3.11
VENV := .venv
VENV2 := .venv-fastai2
NOTEBOOKS ?= movielens-fastai movielens-fastai2 under-the-hood interpretation recommending
# A notebook that runs longer than this (seconds per cell) has hung: fail instead of waiting.
CELL_TIMEOUT ?= 1200
# Kernels are installed inside each venv; this lets Jupyter and papermill find both.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter:$(CURDIR)/$(VENV2)/share/jupyter

.PHONY: setup run benchmark publish test jupyter lock clean

setup: $(VENV)/.installed $(VENV2)/.installed

# The original: fastai v1 as the article used it, and the tools that run the notebooks.
$(VENV)/.installed: requirements.txt pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade 'pip<27'
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	$(VENV)/bin/python -m ipykernel install --sys-prefix --name movielens-fastai \
		--display-name "Python 3.11 (movielens-fastai, fastai v1)"
	touch $@

# The port: current fastai, in its own environment and kernel.
$(VENV2)/.installed: requirements-fastai2.txt pyproject.toml
	rm -rf $(VENV2)
	$(PYTHON) -m venv $(VENV2)
	$(VENV2)/bin/pip install -q --upgrade 'pip<27'
	$(VENV2)/bin/pip install -q -r requirements-fastai2.txt
	$(VENV2)/bin/pip install -q --no-deps -e .
	$(VENV2)/bin/python -m ipykernel install --sys-prefix --name movielens-fastai2 \
		--display-name "Python 3.11 (movielens-fastai2, fastai 2.8)"
	touch $@

run: setup
	mkdir -p output
	for nb in $(NOTEBOOKS); do \
		$(VENV)/bin/papermill notebooks/$$nb.ipynb output/$$nb.ipynb --cwd notebooks \
			--execution-timeout $(CELL_TIMEOUT) || exit 1; \
	done
	@echo "Executed notebooks, results (*.json) and plots are in output/"

# The peer benchmark on the canonical u1-u5 folds (about 15 minutes on 2 cores): the executed
# notebook in output/, and its tables and plot in benchmarks/results/.
benchmark: setup
	mkdir -p output
	$(VENV)/bin/papermill notebooks/benchmark.ipynb output/benchmark.ipynb --cwd notebooks \
		--execution-timeout 7200 -p results_dir ../benchmarks/results

# Maintainers: commit the outputs of a real run, normalised (see movielens_fastai/publish.py).
publish: run benchmark
	for nb in $(NOTEBOOKS) benchmark; do \
		$(VENV)/bin/python -m movielens_fastai.publish output/$$nb.ipynb notebooks/$$nb.ipynb || exit 1; \
	done

test: setup
	$(VENV)/bin/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

jupyter: setup
	$(VENV)/bin/jupyter notebook notebooks/

# Recompile the locks from the short input lists (needs the package registry).
lock:
	rm -rf /tmp/movielens-lock && $(PYTHON) -m venv /tmp/movielens-lock
	/tmp/movielens-lock/bin/pip install -q -r requirements.in
	{ echo '# Locked from requirements.in by `make lock`. Python 3.11.'; \
	  /tmp/movielens-lock/bin/pip freeze --all | grep -v '^pip=='; } > requirements.txt
	rm -rf /tmp/movielens-lock && $(PYTHON) -m venv /tmp/movielens-lock
	/tmp/movielens-lock/bin/pip install -q -r requirements-fastai2.in
	{ echo '# Locked from requirements-fastai2.in by `make lock`. Python 3.11.'; \
	  /tmp/movielens-lock/bin/pip freeze --all | grep -v '^pip=='; } > requirements-fastai2.txt
	rm -rf /tmp/movielens-lock

clean:
	rm -rf $(VENV) $(VENV2) output notebooks/models
