# linju: `make run` starts the bot on the default config; `make test` runs every check.
# Both set up everything they need on a fresh clone (a .venv, the Node test harness).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HARNESS := tests/harness
NODE_STAMP := $(HARNESS)/node_modules/.installed-stamp
WECOM_HARNESS := tests/wecom/harness
WECOM_STAMP := $(WECOM_HARNESS)/node_modules/.installed-stamp

.PHONY: install run chat test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[wechat,dev]'
	@touch $(STAMP)

install: $(STAMP)

# The end-to-end WeChat tests run real Wechaty puppet software in Node; skipped only where Node is absent.
$(NODE_STAMP): $(HARNESS)/package.json $(HARNESS)/package-lock.json
	cd $(HARNESS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

# The WeCom conformance test runs WeCom's official smart-robot SDK (@wecom/aibot-node-sdk, pinned) against
# the protocol test server in tests/wecom/server.py.
$(WECOM_STAMP): $(WECOM_HARNESS)/package.json $(WECOM_HARNESS)/package-lock.json
	cd $(WECOM_HARNESS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(WECOM_STAMP)

node-harness:
	@if command -v npm >/dev/null 2>&1 && [ -f $(HARNESS)/package-lock.json ]; then \
		$(MAKE) --no-print-directory $(NODE_STAMP) $(WECOM_STAMP); \
	else echo "node/npm not found: the WeChat end-to-end and WeCom conformance tests will be skipped"; fi

run: install
	$(VENV)/bin/linju run

chat: install
	$(VENV)/bin/linju chat

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install node-harness lint
	$(VENV)/bin/pytest

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(HARNESS)/node_modules $(WECOM_HARNESS)/node_modules .pytest_cache .ruff_cache
