# sahid — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck unit bench lock clean sysdeps benchdeps

# Debian packages the tests and benchmarks use: age (blob interop), exiftool (clean copies),
# chromium (web capture; Playwright drives it and never downloads a browser).
DEB_PACKAGES := age libimage-exiftool-perl chromium
DEB_COMMANDS := age exiftool chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The install also builds sahid's one C file (src/sahid/records/fts5tf.c, an FTS5 function
# for search), with gcc and SQLite's extension header from Debian's libsqlite3-dev. The
# build is optional: without them search counts in Python, with the same results.
$(STAMP): $(BIN)/python requirements.lock pyproject.toml src/sahid/records/fts5tf.c
	$(call install_debs,/usr/include/sqlite3ext.h gcc,libsqlite3-dev gcc,optional)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

lock: $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --extra dev --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		-o requirements.lock pyproject.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

# $(call install_debs,COMMANDS-OR-FILES,PACKAGES[,optional]): install PACKAGES as root when
# one is missing; a user who is not root is told which, and stopped unless optional.
define install_debs
	@missing=""; for c in $(1); do command -v $$c >/dev/null || [ -e $$c ] || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages: $(2)"; \
			apt-get -o DPkg::Lock::Timeout=600 update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $(2) >/dev/null; \
		else \
			echo "missing:$$missing - install the Debian packages: $(2)"; [ "$(3)" = optional ] || exit 1; \
		fi; \
	fi
endef

sysdeps:
	$(call install_debs,$(DEB_COMMANDS),$(DEB_PACKAGES))

# hugo: the peer of the publishing benchmark.
benchdeps:
	$(call install_debs,hugo,hugo)

unit: $(STAMP) sysdeps
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP) sysdeps benchdeps
	$(BIN)/python -m bench.run

# The demo archive uses a throwaway passphrase kept beside it: never do this with real evidence.
DEMO_DIR  := demo-archive
DEMO_SITE := demo-site
DEMO_PASS := $(DEMO_DIR).passphrase
demo: $(STAMP)
	rm -rf $(DEMO_DIR) $(DEMO_SITE) $(DEMO_PASS)
	printf 'demo passphrase - not for real evidence\n' > $(DEMO_PASS)
	$(BIN)/sahid demo $(DEMO_DIR) --passphrase-file $(DEMO_PASS)
	$(BIN)/sahid search Imishli --archive $(DEMO_DIR) --passphrase-file $(DEMO_PASS)
	$(BIN)/sahid verify --archive $(DEMO_DIR) --passphrase-file $(DEMO_PASS)
	$(BIN)/sahid publish $(DEMO_SITE) --include unverified --archive $(DEMO_DIR) --passphrase-file $(DEMO_PASS)
	$(BIN)/sahid verify-site $(DEMO_SITE)
	@if [ -z "$$SAHID_DEMO_NO_SERVE" ]; then \
		echo "serving $(DEMO_SITE) on http://127.0.0.1:8000 (Ctrl-C to stop)"; \
		$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory $(DEMO_SITE); \
	fi

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -f src/sahid/records/_fts5tf*.so
