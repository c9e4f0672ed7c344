#!/usr/bin/env bash
# make bench: times the primitives and the refresh on a throwaway cluster against baselines measured in
# the same run, and prints medians and ratios. Sizes: HS_BENCH_EVENTS (3,000,000), HS_BENCH_ACCOUNTS
# (50,000), HS_BENCH_RUNS (5 timed runs per query, after one warm-up; 3 for the refresh).
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

events=${HS_BENCH_EVENTS:-3000000}
accounts=${HS_BENCH_ACCOUNTS:-50000}
runs=${HS_BENCH_RUNS:-5}

build_and_install || exit 1
work=$(mktemp -d /tmp/health_score_bench.XXXXXX)
trap 'cluster_stop "$work"; rm -rf "$work"' EXIT
cluster_start "$work" 54330 "shared_buffers = '1GB'" "work_mem = '64MB'" || exit 1
cluster_env "$work" 54330
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# median_ms LABEL QUERY: one warm-up, then $runs timed runs in one session; prints the median in ms.
median_ms() {
	local label=$1 query=$2
	{
		echo '\o /dev/null'
		echo "$query;"
		echo '\timing on'
		for ((i = 0; i < runs; i++)); do echo "$query;"; done
	} | sql 2>&1 | awk '/^Time:/ { print $2 }' | sort -n | awk -v label="$label" '
		{ t[NR] = $1 }
		END {
			if (NR == 0) { print "no timing for " label > "/dev/stderr"; exit 1 }
			m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
			printf "%.1f\n", m
		}'
}

report() {
	printf '  %-58s %9.1f ms\n' "$1" "$2"
}

ratio() {
	awk -v a="$2" -v b="$3" -v label="$1" -v target="$4" 'BEGIN {
		r = a / b
		printf "  %-58s %8.2fx  (target %s)\n", label, r, target
	}'
}

echo "== setup: $events events over a year, $accounts accounts, $runs timed runs per query (median)"
sql <<SQL || exit 1
CREATE EXTENSION health_score;
CREATE TABLE bench_events (account_id bigint, user_id bigint, occurred_at timestamptz, weight float8);
SELECT setseed(0.42) \g /dev/null
INSERT INTO bench_events
SELECT a, a * 100 + (random() * 20)::int, timestamptz '2026-01-01' - random() * interval '365 days', 1 + random()
  FROM (SELECT 1 + (random() * ($accounts - 1))::bigint AS a FROM generate_series(1, $events)) s;
VACUUM ANALYZE bench_events;
SQL

as_of="timestamptz '2026-01-01'"
floor=$(median_ms floor "SELECT account_id, count(*) FROM bench_events GROUP BY account_id")
decayed=$(median_ms decayed "SELECT account_id, health_score.decayed_sum(occurred_at, weight, $as_of, interval '14 days') FROM bench_events GROUP BY account_id")
naive=$(median_ms naive "SELECT account_id, sum(weight * power(2::float8, -extract(epoch FROM $as_of - occurred_at) / extract(epoch FROM interval '14 days'))) FROM bench_events WHERE occurred_at <= $as_of GROUP BY account_id")
tuned=$(median_ms tuned "SELECT account_id, sum(weight * power(2::float8, -date_part('epoch', $as_of - occurred_at) / 1209600.0)) FROM bench_events WHERE occurred_at <= $as_of GROUP BY account_id")
distinct=$(median_ms distinct "SELECT account_id, count(DISTINCT user_id) FILTER (WHERE occurred_at > $as_of - interval '30 days') FROM bench_events GROUP BY account_id")
active=$(median_ms active "SELECT account_id, health_score.active_users(user_id) FILTER (WHERE occurred_at > $as_of - interval '30 days') FROM bench_events GROUP BY account_id")

echo "== primitives"
report "count(*) GROUP BY account (floor)" "$floor"
report "decayed_sum GROUP BY account" "$decayed"
report "plain SQL: sum(weight * power(2, -extract(epoch ...)/h))" "$naive"
report "plain SQL with float8 date_part instead of extract" "$tuned"
report "count(DISTINCT user) FILTER (last 30 days)" "$distinct"
report "active_users(user) FILTER (last 30 days)" "$active"
echo "== ratios"
ratio "decayed_sum / count(*) floor" "$decayed" "$floor" "<= 1.3"
ratio "plain SQL (extract) / decayed_sum" "$naive" "$decayed" ">= 1.5"
ratio "plain SQL (date_part) / decayed_sum" "$tuned" "$decayed" "none; for reference"
ratio "count(DISTINCT) / active_users" "$distinct" "$active" ">= 3"

echo "== refresh: the demo company at $accounts accounts and about $events activity events over 12 months"
per_month=$(awk -v e="$events" -v a="$accounts" 'BEGIN { printf "%.4f", e / a / 12 }')
sql -f demo/company.sql -c "SELECT relation, rows_written FROM demo.generate_company(1, $accounts, 12, $per_month)" || exit 1
sql -c 'VACUUM ANALYZE' -f demo/sources.sql >/dev/null || exit 1
refresh_floor=$(median_ms floor "SELECT account_id, count(*) FROM demo.events GROUP BY account_id")
runs=$(( runs < 3 ? runs : 3 ))
refresh=$(median_ms refresh "SELECT * FROM health_score.refresh(timestamptz 'today')")
report "count(*) GROUP BY account over the activity table (floor)" "$refresh_floor"
report "refresh(): every component, score, band, history and flag" "$refresh"
ratio "refresh / count(*) floor" "$refresh" "$refresh_floor" "<= 4"
