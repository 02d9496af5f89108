# The README's two commands: `make run` and `make test`. Both create .venv when it is missing and
# install exactly what requirements/test.txt locks (every package, with its hashes).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/test.txt
# packaging/*.sh build with this venv's python (make test-latest points it at .venv-latest)
export PORTWATCH_VENV := $(abspath $(VENV))

.PHONY: run test quick lint bench bench-history catalog registry clean lock test-latest

$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/portwatch

# Installs missing system packages first when run as root (it says which), then lints and runs
# the whole suite: core, GUI offscreen, end-to-end under Xvfb, packaging, the reliability suites
# with the 120 s soak. Exit status 5 (no tests collected) is an error here: the suite always has
# tests.
test: $(VENV)/.installed
	bash .ci/system-packages
	$(VENV)/bin/ruff check portwatch tests data
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# The inner loop: core and GUI unit tests only (no end-to-end, no packaging, no reliability
# suites, no soak, no bundle). `make test` is still what CI runs.
quick: $(VENV)/.installed
	$(VENV)/bin/ruff check portwatch tests data
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not e2e and not slow" tests/core tests/gui

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check portwatch tests data

# Refreshes the lock from pyproject.toml's ranges: the newest releases they allow, for every
# platform, with hashes. Review the diff, run `make test`, commit requirements/.
UV_VERSION := 0.13.9
lock:
	test -x build/uv/bin/uv || { $(PYTHON) -m venv build/uv && build/uv/bin/pip install -q uv==$(UV_VERSION); }
	build/uv/bin/uv pip compile -q --upgrade --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml requirements/build.in --extra test --extra bundle -o requirements/test.txt
	build/uv/bin/uv pip compile -q --upgrade --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml -o requirements/run.txt

# The whole suite against the newest releases pyproject.toml allows (not the lock), in its own
# .venv-latest: how a maintainer finds drift on purpose before a newcomer does.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade '.[test,bundle]' setuptools wheel
	.venv-latest/bin/python -m pip uninstall -q -y portwatch
	.venv-latest/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch .venv-latest/.installed
	PORTWATCH_REQUIREMENTS=latest $(MAKE) test VENV=.venv-latest

bench: $(VENV)/.installed
	$(PY) tests/perf/bench.py
	$(PY) tests/perf/bench.py --history --churn --runs 5

bench-history: $(VENV)/.installed
	$(PY) tests/perf/bench.py --history --churn --runs 5

catalog: $(VENV)/.installed  # data/curated.json from data/curated/*.yaml (no network)
	$(PY) data/build_catalog.py --curated-only

registry: $(VENV)/.installed  # also data/registry.json and data/SOURCES from IANA's list (npm)
	$(PY) data/build_catalog.py

clean:
	rm -rf $(VENV) .venv-latest build dist *.egg-info .pytest_cache .ruff_cache

# Packaging (packaging/, README "Install"). The icon PNGs are committed; `make icons` redraws
# them from resources/icons/*.svg (needs rsvg-convert).
.PHONY: icons
icons:
	bash packaging/linux/build-icons.sh

# Desktop menu entry, AppStream metainfo and icons under PREFIX (default ~/.local); the entry
# starts EXEC, else `portwatch` from PATH, else this checkout's .venv/bin/portwatch.
.PHONY: install-desktop
install-desktop:
	bash packaging/linux/install.sh $(if $(PREFIX),--prefix "$(PREFIX)") \
	  --exec "$${EXEC:-$$(command -v portwatch || echo "$(CURDIR)/$(VENV)/bin/portwatch")}"

# One-dir PyInstaller bundle: dist/portwatch/portwatch (≈70 s on 2 cores). `make test` builds
# its own copy under build/test-bundle/ when the sources changed (PORTWATCH_BUNDLE=skip: not).
.PHONY: bundle
bundle: $(VENV)/.installed
	bash packaging/pyinstaller/build.sh
