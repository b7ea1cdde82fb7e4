# Two commands: `make serve` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install vendor browser jdbc serve test test-long fuzz durability bench bench-memory bench-department bench-scaling bench-spark bench-probe train evaluate mlflow-ui clean

install: $(STAMP) vendor

# The page's plotting library (Chart.js), fetched from npm at a pinned version and checked against its sha512: the
# service never loads a script from a CDN. Without npm the analytics page shows its tables only.
VENDORED := api/static/vendor/manifest.json
vendor: $(VENDORED)

$(VENDORED): api/vendor.py | $(STAMP)
	@$(BIN)/python -m api.vendor || echo "make: could not vendor Chart.js (is npm installed?); the analytics page will show tables without plots"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,spark]'
	@touch $(STAMP)

# Debian's Chromium for the browser tests (playwright's own browser download cannot run here).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "make: could not install chromium; browser tests will be skipped"; \
	  else echo "make: chromium missing and not root; run 'sudo apt-get install chromium' for the browser tests"; fi; \
	fi

# Debian's JDBC drivers, for Spark jobs that read the chart store (no Maven repository is reachable).
JDBC_JARS := /usr/share/java/xerial-sqlite-jdbc.jar /usr/share/java/postgresql.jar
jdbc:
	@if ! ls $(JDBC_JARS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxerial-sqlite-jdbc-java \
	      libpostgresql-jdbc-java >/dev/null) || echo "make: could not install the JDBC drivers; JDBC tests will be skipped"; \
	  else echo "make: JDBC drivers missing and not root; run 'sudo apt-get install libxerial-sqlite-jdbc-java libpostgresql-jdbc-java'"; fi; \
	fi

serve: install
	$(BIN)/suggest serve --host $(HOST) --port $(PORT)

test: install browser jdbc
	$(BIN)/python -m pytest -q

# The slow suites at full size (Spark restart on 240 charts, schemathesis with 25 examples per operation); `make test`
# and CI run their short variants.
test-long: install browser jdbc
	SUGGEST_TEST_LONG=1 $(BIN)/python -m pytest -q

# Schemathesis against the real server, 50,000 requests and more (SUGGEST_FUZZ_EXAMPLES per operation and token);
# on PostgreSQL too when SUGGEST_FUZZ_POSTGRES_URL names a throw-away database.
fuzz: install
	$(BIN)/python -m bench.fuzz

# The server killed with SIGKILL (master and workers) 5 times while 8 clients save 10,000 charts with Idempotency-Keys:
# nothing acknowledged may be lost, changed or saved twice. On SQLite, then on PostgreSQL: the database named by
# SUGGEST_DURABILITY_POSTGRES_URL, else a throw-away server of .ci/postgres (stopped afterwards) when one can be had.
durability: install
	@url="$${SUGGEST_DURABILITY_POSTGRES_URL:-}"; dir=""; \
	if [ -z "$$url" ]; then set -- $$(bash .ci/postgres start); url="$${1:-}"; dir="$${2:-}"; fi; \
	SUGGEST_DURABILITY_POSTGRES_URL="$$url" $(BIN)/python -m bench.durability; status=$$?; \
	if [ -n "$$dir" ]; then bash .ci/postgres stop "$$dir"; fi; exit $$status

bench: install
	$(BIN)/python -m bench

# suggest serve with 2 and 4 workers: PSS/USS/RSS of master and workers after 1,000 and 10,000 suggest requests.
bench-memory: install
	$(BIN)/python -m bench.serving_memory

# 1,000,000 seeded charts: the analytics figures (p95 <= 300 ms) and 20 coders taking the next chart at once (p95 <= 20 ms),
# on SQLite (seeded once, cached in bench/results/) and PostgreSQL: the database named by SUGGEST_BENCH_POSTGRES_URL,
# else a throw-away server of .ci/postgres (stopped afterwards) when one can be had.
bench-department: install
	@url="$${SUGGEST_BENCH_POSTGRES_URL:-}"; dir=""; \
	if [ -z "$$url" ]; then set -- $$(bash .ci/postgres start); url="$${1:-}"; dir="$${2:-}"; fi; \
	SUGGEST_BENCH_POSTGRES_URL="$$url" $(BIN)/python -m bench.department; status=$$?; \
	if [ -n "$$dir" ]; then bash .ci/postgres stop "$$dir"; fi; exit $$status

bench-scaling: install
	$(BIN)/python -m bench.scaling

# 100,000 synthetic charts through suggest predict --jobs 2 and through the Spark job on local[2]: charts/s, peak memory.
bench-spark: install
	$(BIN)/python -m bench.spark

bench-probe: install
	$(BIN)/python -m bench.lexicon
	$(BIN)/python -m bench.probe
	$(BIN)/python -m bench.aci_compare

train: install
	$(BIN)/suggest train --default

evaluate: install
	@test -n "$(DATA)" || (echo "usage: make evaluate DATA=gold.jsonl [MODEL=default]"; exit 2)
	$(BIN)/suggest evaluate --model $(or $(MODEL),default) --data $(DATA) --output $(or $(OUT),models/evaluation)

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///models/mlflow.db} --host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) build *.egg-info
