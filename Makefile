# health_score: customer health scoring inside PostgreSQL (PGXS build).
#
#   make test    install missing packages, build, install, run both test suites on a throwaway cluster
#   make demo    the whole job on a synthetic company, left running (make demo-stop removes it)
#   make bench   benchmarks against same-run baselines (not part of make test)
#   make dashboard  the static executive dashboard (dashboard/dist) from the make demo cluster; needs Node.js

EXTENSION  = health_score
# The one version source is health_score.control.
EXTVERSION = $(shell sed -n "s/^default_version = '\\(.*\\)'/\\1/p" $(EXTENSION).control)

MODULE_big = health_score
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the current version is assembled from schema/*.sql in name order, one topic per
# file. Released versions' install scripts and the upgrade scripts between versions are frozen files.
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard $(EXTENSION)--*.sql))

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)
# concurrency: specs/*.spec run by pg_isolation_regress, expected output in expected/
ISOLATION      = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=$(EXTENSION)

# -Wextra less unused parameters, which PostgreSQL's own headers have (storage/bufpage.h)
PG_CFLAGS = -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.DEFAULT_GOAL := all

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL server headers are missing: run 'make deps' (or 'make test', which installs them)" >&2
	@exit 1
endif

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard schema/*/*.sql))
	cat $^ > $@

.PHONY: deps test bench demo demo-stop dashboard
deps:
	PG_CONFIG=$(PG_CONFIG) tools/deps.sh

test:
	PG_CONFIG=$(PG_CONFIG) tools/test.sh

bench:
	PG_CONFIG=$(PG_CONFIG) tools/bench.sh

demo:
	PG_CONFIG=$(PG_CONFIG) tools/demo.sh start

demo-stop:
	PG_CONFIG=$(PG_CONFIG) tools/demo.sh stop

dashboard:
	PG_CONFIG=$(PG_CONFIG) tools/dashboard.sh
