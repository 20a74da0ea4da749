# BoxOffice developer entry points. See Docs/operations.md ("Local stack").
#
#   make run          deps, build, PG+Redis (run stack), migrate, seed,
#                     INSTANCES API instances behind haproxy on LB_PORT
#                     (REDIS_MODE=cluster: a local Redis Cluster instead of one Redis;
#                     PG_MODE=ha: PostgreSQL under Patroni, three nodes, instead of one)
#   make stop         stop haproxy, the instances, Redis and PostgreSQL (run stack)
#   make status       what the run stack is running
#   make logs         follow the API instance logs
#   make test         deps, PG+Redis+Redis Cluster (test stack), swift test, the Redis
#                     suites again on the cluster, the hold and money suites again on
#                     PostgreSQL under Patroni with the failover suite, schemathesis fuzz run
#                     against Docs/openapi.yaml (FUZZ=0 skips), browser tests, stop test stack
#                     (REDIS_MODE=cluster: only the Redis suites, on the cluster;
#                     PG_MODE=ha: only the PostgreSQL HA pass)
#   make stop-test    stop the test stack
#   make clean-data   stop every stack and delete .data/
#   make k6 SCRIPT=rush  one k6 scenario (rush, hot-seat, polling) + boxoffice check
#   make chaos        release build, stack, k6 rush while Redis is killed, PostgreSQL
#                     restarted and an instance killed; per-second table + boxoffice check
#   make bench        release build, stack, baselines + scenarios, bench/results.json
#                     (BENCH_INSTANCES=1,2,3 for the scaling series; PG_MODE=ha adds holds,
#                     payments and pgbench on PostgreSQL under Patroni)
#   make rehearsal    the whole on-sale: REHEARSAL_FANS (100,000) fans on the page's rules
#                     around a scheduled opening, on the run stack; table + bench/rehearsal.json
#   make pow          the run stack, then proof-of-work costs: solve times in chromium and a
#                     one-core bot farm's tokens/s at difficulties 14..22; table + bench/pow.json
#
# Variables (make VAR=... or environment): SWIFT_CONFIG (release), SKIP_BUILD=1,
# INSTANCES (2), LB_PORT (8080), SWIFT_TEST_FLAGS, PG_PORT / REDIS_PORT. Any
# other environment variable (HOLD_SECONDS, LOG_LEVEL, ...) reaches the instances.

ROOT := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

SWIFT_CONFIG ?= release
SKIP_BUILD ?=
INSTANCES ?= 2
LB_PORT ?= 8080
# Tests run one at a time: each races hundreds of requests itself, and timing-sensitive ones
# (admission rate, expiry windows) must not be starved by other tests on two cores.
SWIFT_TEST_FLAGS ?= --no-parallel
export SWIFT_CONFIG SKIP_BUILD INSTANCES LB_PORT SWIFT_TEST_FLAGS

.DEFAULT_GOAL := help
.PHONY: help deps build run stop status logs test stop-test clean-data bench chaos k6 rehearsal pow

help:
	@awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' $(ROOT)/Makefile

deps:
	@$(ROOT)/scripts/deps.sh

build: deps
ifeq ($(SKIP_BUILD),1)
	@echo "[make] SKIP_BUILD=1: not building"
else
	cd $(ROOT) && swift build -c $(SWIFT_CONFIG) --product boxoffice
endif

run: deps build
	@$(ROOT)/scripts/run.sh start

stop:
	@$(ROOT)/scripts/run.sh stop

status:
	@$(ROOT)/scripts/run.sh status

logs:
	@$(ROOT)/scripts/run.sh logs

test: deps
	@$(ROOT)/scripts/test.sh

stop-test:
	@$(ROOT)/scripts/services.sh test stop
	@$(ROOT)/scripts/cluster.sh test stop
	@$(ROOT)/scripts/patroni.sh test stop

clean-data:
	@$(ROOT)/scripts/run.sh stop
	@$(ROOT)/scripts/services.sh test stop
	@$(ROOT)/scripts/services.sh bench stop
	@$(ROOT)/scripts/cluster.sh test stop
	@$(ROOT)/scripts/patroni.sh test stop
	@$(ROOT)/scripts/clean-data.sh

bench: deps
	@$(ROOT)/scripts/bench.sh

chaos: deps
	@$(ROOT)/scripts/bench.sh chaos

rehearsal: deps
	@cd $(ROOT) && python3 bench/rehearsal.py

pow: run
	@cd $(ROOT) && python3 -c "import selenium" 2>/dev/null || python3 -m pip install --quiet selenium
	@cd $(ROOT) && python3 bench/pow.py

SCRIPT ?= rush
k6:
	@$(ROOT)/scripts/k6.sh $(SCRIPT)
