# Video Storyteller: `make run` starts the service, `make test` checks it.
# Everything installs into .venv at the repo root, pinned by constraints.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser run test test-all bench screenshots lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The page's tests drive Debian's Chromium (never a downloaded browser), and the PDF's
# first page is looked at with poppler-utils' pdftoppm: install them when missing (as
# root, as CI runs).
browser:
	@command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null || \
	  (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)
	@command -v pdftoppm >/dev/null || apt-get install -y -q poppler-utils >/dev/null || \
	  (apt-get update -q >/dev/null && apt-get install -y -q poppler-utils >/dev/null)

run: install
	$(BIN)/storyteller serve

# pytest exits 5 when it collects nothing: that means the suite is broken, so say so.
test: install browser
	@$(BIN)/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-all: install browser
	@$(BIN)/pytest -q -m "slow or not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-all: pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: install
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/people.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/tellers.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/admin.py
	$(BIN)/python bench/notifications.py
	$(BIN)/python bench/media.py
	$(BIN)/python bench/overview.py
	$(BIN)/python bench/page.py

# The README's screenshots, taken by the page's tests in Chromium, and the first page of
# an exported PDF (poppler-utils' pdftoppm), that first: async tests cannot follow the
# browser tests in one run (Playwright leaves its event loop running).
screenshots: install browser
	STORYTELLER_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/export/test_pdf_page.py tests/web

lint: install
	$(BIN)/ruff check storyteller tests bench
	$(BIN)/ruff format --check storyteller tests bench
	$(BIN)/mypy storyteller

format: install
	$(BIN)/ruff format storyteller tests bench
	$(BIN)/ruff check --fix storyteller tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
