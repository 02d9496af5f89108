# The README's two commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test lint bench catalog clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/portwatch

# Installs missing system packages first when run as root (it says which), then lints and runs
# the whole suite: core, GUI offscreen, and end-to-end under Xvfb. Exit status 5 (no tests
# collected) is an error here: the suite always has tests.
test: $(VENV)/.installed
	bash .ci/system-packages
	$(VENV)/bin/ruff check portwatch tests data
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check portwatch tests data

bench: $(VENV)/.installed
	$(PY) tests/perf/bench.py

catalog: $(VENV)/.installed
	$(PY) data/build_catalog.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

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
