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

.PHONY: install node-harness browser run chat test lint bench clean

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

# The web console's browser tests drive Debian's Chromium through its ChromeDriver (and need CJK fonts to
# render Chinese in their screenshots). Installed with apt-get when missing; skipped only where that fails.
BROWSER_PKGS := chromium chromium-driver fonts-noto-cjk
browser:
	@if command -v dpkg >/dev/null 2>&1 && dpkg -s $(BROWSER_PKGS) >/dev/null 2>&1; then :; \
	elif ! command -v dpkg >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(BROWSER_PKGS) for the web console's browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PKGS) >/dev/null \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PKGS) >/dev/null; } \
		|| echo "could not install $(BROWSER_PKGS): the browser tests will be skipped"; \
	else echo "no apt-get: install chromium and chromedriver for the browser tests"; fi

run: install
	$(VENV)/bin/linju run

chat: install
	$(VENV)/bin/linju chat

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install node-harness browser lint
	$(VENV)/bin/pytest

bench: install
	$(PY) -m bench --month
	$(PY) -m bench.readme_table

clean:
	rm -rf $(VENV) $(HARNESS)/node_modules $(WECOM_HARNESS)/node_modules .pytest_cache .ruff_cache
