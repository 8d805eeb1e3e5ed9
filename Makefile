# One entry point for every task. The first target that needs them creates .venv, installs the project
# and generates the protobuf code, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PROTOS := $(shell find protos -name '*.proto' | sort)
# Contracts only the tests use (the transcoder's AIP-127 cases).
TEST_PROTOS := $(shell find tests/protos -name '*.proto' | sort)
ROLE   ?= stock_keeper
USER_ID ?= dev-user

.PHONY: install proto run wipe test bench trace token dead-letters replay events roles migration clean

install: $(VENV)/.installed gen/.generated

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# Generated contracts live in gen/, outside the source tree; put it on the venv's path.
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "shop_contracts.pth").write_text("$(CURDIR)/gen\n")'
	touch $@

## Generate Python code and .pyi stubs from protos/ into the git-ignored gen/ package.
proto: gen/.generated

gen/.generated: $(PROTOS) $(TEST_PROTOS) $(VENV)/.installed
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -I protos -I tests/protos -I third_party/googleapis \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--python_out=gen --grpc_python_out=gen --mypy_out=gen --mypy_grpc_out=gen \
		--include_source_info --include_imports --descriptor_set_out=gen/descriptors.binpb $(PROTOS) $(TEST_PROTOS)
	find gen -type d -exec touch {}/__init__.py \;
	rm -f gen/__init__.py
	touch $@

## Start the whole suite on this machine: PostgreSQL and NATS (data kept in var/), five services, the
## gateway on :8080, every process supervised. Ctrl-C stops it; the next run resumes with the same data.
run: install
	SHOP_TRACE_SAMPLE_RATIO=$${SHOP_TRACE_SAMPLE_RATIO:-1} $(PY) -m libs.suite

## Delete the embedded run's data (databases, event streams, spans, logs) under var/. Refused while it runs.
wipe: install
	$(PY) -m libs.suite wipe

## Lint, type-check and run every test against a real PostgreSQL the harness starts itself.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

## Print the span tree of a trace from the local span store: make trace [TRACE=<trace id>] (default: latest),
## or every trace of one order as a timeline: make trace ORDER=<order id>.
trace: install
	$(PY) -m libs.traces $(if $(ORDER),--order $(ORDER),$(TRACE))

## The event catalogue: who publishes what, who consumes it.
events: install
	@$(PY) -m libs.events

## List the events consumers gave up on: make dead-letters [SERVICE=orders]
dead-letters: install
	$(PY) -m libs.dead_letters list $(if $(SERVICE),--service $(SERVICE),)

## Apply one dead letter again through its consumer: make replay SERVICE=orders SEQ=12
replay: install
	$(PY) -m libs.dead_letters replay $(SERVICE) $(SEQ)

## Which roles may call each RPC, and how its retries are answered, from the contracts.
roles: install
	@$(PY) -m libs.contracts roles

## Mint a development token: make token ROLE=stock_keeper USER_ID=alice
## (an integrator names its shops: make token ROLE=integrator USER_ID=tmall SHOPS=tmall-flagship)
token: install
	@$(PY) -m libs.identity mint --role $(ROLE) --user $(USER_ID) $(if $(SHOPS),--shops '$(SHOPS)',) $(if $(CHANNELS),--channels '$(CHANNELS)',)

## The order-flow benchmark against the suite as separate processes; writes bench-results/order-flow.json.
bench: install
	$(PY) -m tests.bench

## Write a service's next migration from its tables: make migration SERVICE=inventory MESSAGE="what changed"
migration: install
	$(PY) -m libs.new_migration $(SERVICE) "$(MESSAGE)"
	.venv/bin/ruff format services/$(SERVICE)/store/migrations/versions

clean:
	rm -rf $(VENV) gen var .mypy_cache .ruff_cache .pytest_cache
