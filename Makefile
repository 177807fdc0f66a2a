# The two set-up commands a new user types: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck chromium mosquitto bench reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# The Compose Specification's JSON schema ships in this wheel; tests validate docker-compose.yml with it.
	$(BIN)/pip download --quiet --no-deps -d $(VENV) docker-compose==1.29.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gridmon demo --size small --report .gridmon/demo-report.json

test: $(STAMP) lint typecheck chromium mosquitto
	$(BIN)/pytest

# The dashboard preview is tested in a real headless browser (Debian's chromium).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The MQTT 5 adapter test runs a real broker (Debian's mosquitto; it installs to /usr/sbin).
mosquitto:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || (apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null)

lint: $(STAMP)
	$(BIN)/ruff check streams tests load_tests
	$(BIN)/ruff format --check streams tests load_tests

typecheck: $(STAMP)
	$(BIN)/mypy streams

bench: $(STAMP)
	$(BIN)/gridmon bench

reliability: $(STAMP)
	$(BIN)/python -m load_tests.reliability

clean:
	rm -rf $(VENV) .gridmon .pytest_cache .mypy_cache .ruff_cache
