#!/usr/bin/env bash
# make bench: times the primitives and the refresh on a throwaway cluster against baselines measured in
# the same run, and prints medians and ratios. Sizes: HS_BENCH_EVENTS (3,000,000), HS_BENCH_ACCOUNTS
# (50,000), HS_BENCH_RUNS (5 timed runs per query, after one warm-up; 3 for the refresh; 1 at 200,000
# accounts).
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

events=${HS_BENCH_EVENTS:-3000000}
accounts=${HS_BENCH_ACCOUNTS:-50000}
runs=${HS_BENCH_RUNS:-5}

build_and_install || exit 1
work=$(mktemp -d /tmp/health_score_bench.XXXXXX)
# Everything printed also goes to docs/benchmarks.md, written when the run completes.
exec > >(tee "$work/bench.out") 2>&1
trap 'cluster_stop "$work" >/dev/null; rm -rf "$work"' EXIT
cluster_start "$work" 54330 "shared_buffers = '1GB'" "work_mem = '64MB'" || exit 1
cluster_env "$work" 54330
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# bulk_load TABLE SQL...: runs the statements with TABLE's indexes dropped, then builds them again (maintaining
# them row by row would take most of the load's time).
bulk_load() {
	local table=$1
	shift
	sql -c "CREATE TEMP TABLE bulk_indexes AS SELECT format('%I.%I', schemaname, indexname) AS name, indexdef
	        FROM pg_indexes WHERE format('%I.%I', schemaname, tablename)::regclass = '$table'::regclass" \
		-c 'DO $$ DECLARE i record; BEGIN FOR i IN SELECT name FROM bulk_indexes LOOP EXECUTE $q$DROP INDEX $q$ || i.name; END LOOP; END $$' \
		"$@" \
		-c 'DO $$ DECLARE i record; BEGIN FOR i IN SELECT indexdef FROM bulk_indexes LOOP EXECUTE i.indexdef; END LOOP; END $$'
}

# medians LABEL=QUERY...: one warm-up of each query, then $runs rounds running every query once, in one
# session. Interleaving spreads the machine's slow drifts in load over all queries alike. Prints
# "label median_ms" lines, each followed by the rounds' times in order (for paired_ratio).
medians() {
	local pair round
	{
		echo '\o /dev/null'
		for pair in "$@"; do echo "${pair#*=};"; done
		echo '\timing on'
		for ((round = 0; round < runs; round++)); do
			for pair in "$@"; do
				echo "\\echo label ${pair%%=*}"
				echo "${pair#*=};"
			done
		done
	} | sql 2>&1 | awk '
		/^label / { label = $2; next }
		/^Time:/ { t[label] = t[label] " " $2 }
		END {
			for (l in t) {
				n = split(substr(t[l], 2), v, " ")
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { x = v[i]; v[i] = v[j]; v[j] = x }
				printf "%s %.1f%s\n", l, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, t[l]
			}
		}'
}

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

report() {
	printf '  %-58s %9.1f ms\n' "$1" "$2"
}

# paired_ratio LABEL "A times" "B times" TARGET: the median over rounds of A's time / B's in the same round.
# Each round runs both queries back to back, so a drift of the machine's load between rounds, which can move
# a ratio of medians by 10% here, mostly cancels.
paired_ratio() {
	awk -v a="$2" -v b="$3" -v label="$1" -v target="$4" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) r[i] = x[i] / y[i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
		printf "  %-58s %8.2fx  (target %s)\n", label, (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2, target
	}'
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
SELECT setseed(0.42) \g /dev/null
-- the bench's shape: about 20 users per account, weights from 1 to 2
CREATE TABLE bench_events (account_id bigint, user_id bigint, occurred_at timestamptz, weight float8, rating integer);
INSERT INTO bench_events
SELECT a, a * 100 + (random() * 20)::int, timestamptz '2026-01-01' - random() * interval '365 days', 1 + random(),
       (random() * 10)::int
  FROM (SELECT 1 + (random() * ($accounts - 1))::bigint AS a FROM generate_series(1, $events)) s;
-- the second shape: 60 users per account, weight 1
CREATE TABLE bench_events60 (LIKE bench_events);
INSERT INTO bench_events60
SELECT a, a * 100 + (random() * 59)::int, timestamptz '2026-01-01' - random() * interval '365 days', 1,
       (random() * 10)::int
  FROM (SELECT 1 + (random() * ($accounts - 1))::bigint AS a FROM generate_series(1, $events)) s;
VACUUM ANALYZE bench_events;
VACUUM ANALYZE bench_events60;
SQL

as_of="timestamptz '2026-01-01'"
declare -A ms rounds
# primitives TABLE LABEL...: the queries of those labels over TABLE, serially (one process) and in parallel
# (two workers), into ms[label.serial] and ms[label.parallel]
primitives() {
	local table=$1 mode label value
	shift
	local wanted=" $* "
	local all=(
		"floor=SELECT account_id, count(*) FROM $table GROUP BY account_id"
		"sum=SELECT account_id, sum(weight) FROM $table GROUP BY account_id"
		"decayed=SELECT account_id, health_score.decayed_sum(occurred_at, weight, $as_of, interval '14 days') FROM $table GROUP BY account_id"
		"naive=SELECT account_id, sum(weight * power(2::float8, -extract(epoch FROM $as_of - occurred_at) / extract(epoch FROM interval '14 days'))) FROM $table WHERE occurred_at <= $as_of GROUP BY account_id"
		"tuned=SELECT account_id, sum(weight * power(2::float8, -date_part('epoch', $as_of - occurred_at) / 1209600.0)) FROM $table WHERE occurred_at <= $as_of GROUP BY account_id"
		"distinct=SELECT account_id, count(DISTINCT user_id) FILTER (WHERE occurred_at > $as_of - interval '30 days') FROM $table GROUP BY account_id"
		"active=SELECT account_id, health_score.active_users(user_id) FILTER (WHERE occurred_at > $as_of - interval '30 days') FROM $table GROUP BY account_id"
		"filtered=SELECT account_id, count(*) FILTER (WHERE occurred_at > $as_of - interval '30 days') FROM $table GROUP BY account_id"
		"nps=SELECT account_id, health_score.nps(rating) FROM $table GROUP BY account_id"
		"nps_sql=SELECT account_id, 100.0 * (count(*) FILTER (WHERE rating >= 9) - count(*) FILTER (WHERE rating <= 6)) / count(rating) FROM $table GROUP BY account_id")
	local queries=() q
	for q in "${all[@]}"; do
		[[ $wanted == *" ${q%%=*} "* ]] && queries+=("$q")
	done
	for mode in serial parallel; do
		while read -r label value times; do ms[$label.$mode]=$value rounds[$label.$mode]=$times; done < <(
			PGOPTIONS="-c max_parallel_workers_per_gather=$([[ $mode == serial ]] && echo 0 || echo 2)" medians "${queries[@]}")
		for label in "$@"; do
			[[ -n ${ms[$label.$mode]:-} ]] || { echo "no timing for $label ($mode, $table)" >&2; exit 1; }
		done
	done
}

# (seven rounds on the bench's shape, five on the second, which times only what the targets compare: the
# targets' ratios are medians of paired ratios, steadier with more rounds, and make bench stays under 20
# minutes)
for shape in bench_events bench_events60; do
	if [[ $shape == bench_events ]]; then
		runs=7 primitives "$shape" floor sum decayed naive tuned distinct active filtered nps nps_sql
		echo "== primitives: the bench's shape (about 20 users per account, weights 1 to 2), serial | parallel (7 runs)"
	else
		runs=5 primitives "$shape" sum decayed tuned active filtered nps nps_sql
		echo "== primitives: 60 users per account, weight 1, serial | parallel (5 runs)"
	fi
	for mode in serial parallel; do
		[[ -n ${ms[floor.$mode]:-} ]] && report "count(*) GROUP BY account (floor), $mode" "${ms[floor.$mode]}"
		report "sum(weight) GROUP BY account, $mode" "${ms[sum.$mode]}"
		report "decayed_sum GROUP BY account, $mode" "${ms[decayed.$mode]}"
		[[ -n ${ms[naive.$mode]:-} ]] && report "plain SQL: sum(weight * power(2, -extract(epoch ...)/h)), $mode" "${ms[naive.$mode]}"
		report "plain SQL with float8 date_part instead of extract, $mode" "${ms[tuned.$mode]}"
		[[ -n ${ms[distinct.$mode]:-} ]] && report "count(DISTINCT user) FILTER (last 30 days), $mode" "${ms[distinct.$mode]}"
		report "active_users(user) FILTER (last 30 days), $mode" "${ms[active.$mode]}"
		report "count(*) FILTER (last 30 days): same scan and grouping, $mode" "${ms[filtered.$mode]}"
		report "nps(rating) GROUP BY account, $mode" "${ms[nps.$mode]}"
		report "the SQL nps replaces: two count(*) FILTER and a count, $mode" "${ms[nps_sql.$mode]}"
	done
	for mode in serial parallel; do
		paired_ratio "decayed_sum / sum(weight), $mode" "${rounds[decayed.$mode]}" "${rounds[sum.$mode]}" "<= 1.2"
		paired_ratio "plain SQL (date_part) / decayed_sum, $mode" "${rounds[tuned.$mode]}" "${rounds[decayed.$mode]}" ">= 1.15"
		paired_ratio "  its ceiling: plain SQL (date_part) / sum(weight), $mode" "${rounds[tuned.$mode]}" "${rounds[sum.$mode]}" \
			"none; no float8 aggregate beats sum(weight)"
		[[ -n ${ms[naive.$mode]:-} ]] && ratio "plain SQL (extract) / decayed_sum, $mode" "${ms[naive.$mode]}" "${ms[decayed.$mode]}" ">= 1.5"
		[[ -n ${ms[floor.$mode]:-} ]] && ratio "decayed_sum / count(*) floor, $mode" "${ms[decayed.$mode]}" "${ms[floor.$mode]}" "none; for reference"
		paired_ratio "active_users FILTER / count(*) FILTER, $mode" "${rounds[active.$mode]}" "${rounds[filtered.$mode]}" "<= 1.25"
		[[ -n ${ms[distinct.$mode]:-} ]] && ratio "count(DISTINCT) / active_users, $mode" "${ms[distinct.$mode]}" "${ms[active.$mode]}" "none; for reference"
		paired_ratio "nps / the SQL it replaces, $mode" "${rounds[nps.$mode]}" "${rounds[nps_sql.$mode]}" "<= 1.0"
	done
	unset 'ms[floor.serial]' 'ms[floor.parallel]' 'ms[naive.serial]' 'ms[naive.parallel]' 'ms[distinct.serial]' 'ms[distinct.parallel]'
done

echo "== refresh: the demo company at $accounts accounts and about $events activity events over 12 months"
per_month=$(awk -v e="$events" -v a="$accounts" 'BEGIN { printf "%.4f", e / a / 12 }')
sql -f demo/company.sql -c "SELECT relation, rows_written FROM demo.generate_company(1, $accounts, 12, $per_month)" || exit 1
sql -c 'VACUUM ANALYZE' -f demo/sources.sql >/dev/null || exit 1
# The first refresh fills the empty result tables and raises every flag: timed once, on its own.
first=$(sql -At -c '\timing on' -c "SELECT count(*) FROM health_score.refresh(timestamptz 'today')" | awk '/^Time:/ { print $2 }')
runs=$(( runs < 3 ? runs : 3 ))
# The part of a full refresh no implementation can skip: the activity pass with what every score needs (a
# decayed sum and the users of each account, first seen included), one counting pass over the other sources,
# and one rewrite of every account's row. Bounds as literals, as refresh() passes them: per row, `now() -
# interval` would be evaluated again.
read -r t t30 t60 t90 < <(sql -At -F ' ' -c "SELECT extract(epoch FROM d), extract(epoch FROM d - interval '30 days'),
	extract(epoch FROM d - interval '60 days'), extract(epoch FROM d - interval '90 days') FROM (SELECT timestamptz 'today' AS d) s")
at() { echo "to_timestamp($1)"; }
ms=()
while read -r label value _; do ms[$label]=$value; done < <(medians \
	"floor=SELECT account_id, count(*) FROM demo.events GROUP BY account_id" \
	"refresh=SELECT * FROM health_score.refresh(timestamptz 'today', mode => 'full')" \
	"activity=SELECT account_id, health_score.decayed_sum(occurred_at, $(at "$t"), interval '14 days'), health_score.user_windows(user_id, occurred_at, $(at "$t"), $(at "$t30"), $(at "$t60"), $(at "$t30")) FROM demo.events WHERE occurred_at <= $(at "$t") GROUP BY account_id" \
	"sources=SELECT account_id, count(*) FROM (SELECT account_id FROM demo.touchpoints WHERE occurred_at <= $(at "$t") AND occurred_at > $(at "$t90") UNION ALL SELECT account_id FROM demo.support_cases WHERE opened_at <= $(at "$t") UNION ALL SELECT account_id FROM demo.surveys WHERE responded_at <= $(at "$t") AND responded_at > $(at "$t90")) s GROUP BY account_id" \
	"rewrite=UPDATE health_score.account_health SET refreshed_at = refreshed_at")
refresh_floor=${ms[floor]:?no timing for the floor} refresh=${ms[refresh]:?no timing for refresh}
for label in activity sources rewrite; do
	[[ -n ${ms[$label]:-} ]] || { echo "no timing for $label" >&2; exit 1; }
done
unavoidable=$(awk -v a="${ms[activity]}" -v s="${ms[sources]}" -v r="${ms[rewrite]}" 'BEGIN { printf "%.1f", a + s + r }')
report "count(*) GROUP BY account over the activity table (floor)" "$refresh_floor"
report "first refresh(): empty results, every flag new (one run)" "${first:?no timing for the first refresh}"
report "refresh(mode => 'full'): every row read, the state rebuilt" "$refresh"
report "unavoidable: decayed_sum and user_windows over the activity" "${ms[activity]}"
report "unavoidable: count(*) over cases, surveys, touchpoints" "${ms[sources]}"
report "unavoidable: rewrite every account_health row once" "${ms[rewrite]}"
ratio "first refresh / count(*) floor" "$first" "$refresh_floor" "none; for reference"
ratio "full refresh / count(*) floor" "$refresh" "$refresh_floor" "none here; <= 4 at 200,000 accounts below"
ratio "unavoidable part / count(*) floor" "$unavoidable" "$refresh_floor" "none; the share of 4x no design avoids"

# The full refresh of this version (a pipeline of stages over the catalog, the incremental state rebuilt)
# against 0.1.0's single function, on the same company: this database and one at 0.1.0 on the same cluster,
# alternating runs, one session each.
echo "== refresh: this version against 0.1.0, the same company"
# (a copy of this database, the extension replaced by 0.1.0: the same rows, without generating them again;
# a session in it, such as an autovacuum worker, would hold the copy up, so those are stopped first)
copy_ok=
for attempt in 1 2 3 4 5; do
	sql -d template1 -At -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	                         WHERE datname = '$PGDATABASE'" >/dev/null
	sql -d template1 -c "CREATE DATABASE hs_bench_old TEMPLATE $PGDATABASE" 2>/dev/null &&
		sql -d template1 -c "CREATE DATABASE hs_bench_large TEMPLATE $PGDATABASE" 2>/dev/null && { copy_ok=1; break; }
	sql -d template1 -c "DROP DATABASE IF EXISTS hs_bench_old" 2>/dev/null
	sleep 2
done
[[ -n $copy_ok ]] || { echo "cannot copy $PGDATABASE for the 0.1.0 comparison" >&2; exit 1; }
sql -d hs_bench_old -c "SET client_min_messages = warning" -c "DROP EXTENSION health_score CASCADE" \
		-c "CREATE EXTENSION health_score VERSION '0.1.0'" >/dev/null &&
	sql -d hs_bench_old -c 'VACUUM ANALYZE' -f demo/sources.sql -c "SELECT count(*) FROM health_score.refresh(timestamptz 'today')" >/dev/null ||
	exit 1
# both databases vacuumed, so that neither carries more dead rows from earlier refreshes than the other
sql -d hs_bench_old -c 'VACUUM ANALYZE' && sql -c 'VACUUM ANALYZE' || exit 1
declare -A ab
for ((round = 0; round <= 2; round++)); do
	for db in hs_bench_old "$PGDATABASE"; do
		t=$(sql -d "$db" -At -c '\timing on' -c "SELECT count(*) FROM health_score.refresh(timestamptz 'today'$([[ $db != hs_bench_old ]] && echo ", mode => 'full'"))" | awk '/^Time:/ { print $2 }')
		((round > 0)) && ab[$db]="${ab[$db]:-} $t"
	done
done
old=$(median "${ab[hs_bench_old]}") new=$(median "${ab[$PGDATABASE]}")
report "refresh() of 0.1.0 (every row, every time)" "$old"
report "refresh(mode => 'full') of this version" "$new"
ratio "this version / 0.1.0" "$new" "$old" "<= 1.10"

# A measure of the user's own (add_measure), its query one grouped pass over a 1,000,000-row table, with a
# component and a rule over it: what it adds to a refresh, against the time of that pass alone.
echo "== a user's measure: overdue invoices, one grouped pass over 1,000,000 invoices"
sql <<SQL || exit 1
CREATE TABLE public.bench_invoices (account_id bigint, due_on date, paid_on date);
INSERT INTO public.bench_invoices
SELECT 1 + (g % $accounts), date 'today' - (g % 400), CASE WHEN g % 7 = 0 THEN NULL ELSE date 'today' - (g % 400) + 20 END
  FROM generate_series(1, 1000000) g;
VACUUM ANALYZE public.bench_invoices;
SQL
today="timestamptz 'today'"
query="SELECT i.account_id, count(*) FILTER (WHERE i.due_on < \$1::date AND (i.paid_on IS NULL OR i.paid_on > \$1::date)) AS value FROM public.bench_invoices i GROUP BY i.account_id"
ms=()
while read -r label value _; do ms[$label]=$value; done < <(medians \
	"without=SELECT * FROM health_score.refresh(timestamptz 'today')" \
	"pass=${query//\$1/$today}" \
	"joined=SELECT count(q.value) FROM demo.accounts a LEFT JOIN (${query//\$1/$today}) q ON q.account_id::text = a.account_id::text")
sql -c "SELECT health_score.add_measure('overdue_invoices', \$q\$$query\$q\$)" >/dev/null || exit 1
while read -r label value _; do ms[$label]=$value; done < <(medians \
	"measure=SELECT * FROM health_score.refresh(timestamptz 'today')")
sql -c "SELECT health_score.add_component('billing', 'overdue_invoices', 5, 0)" \
	-c "UPDATE health_score.profile SET weights = weights || '{\"billing\": 10}'" \
	-c "SELECT health_score.add_rule('invoices_overdue', 'overdue_invoices >= {min}', 'amber', 'Call finance.', '{\"min\": 3}')" \
	-c "SELECT count(*) FROM health_score.refresh(timestamptz 'today')" >/dev/null || exit 1
while read -r label value _; do ms[$label]=$value; done < <(medians \
	"with=SELECT * FROM health_score.refresh(timestamptz 'today')")
added=$(awk -v w="${ms[measure]:?}" -v o="${ms[without]:?}" 'BEGIN { printf "%.1f", w - o }')
report "refresh() without the measure" "${ms[without]}"
report "refresh() with the measure" "${ms[measure]}"
report "refresh() with the measure, a component and a rule over it" "${ms[with]:?}"
report "the measure's query alone (one grouped pass)" "${ms[pass]:?}"
report "added by the measure" "$added"
report "the measure's query joined to the accounts by their text keys (the ceiling)" "${ms[joined]:?}"
ratio "added by the measure / its query alone" "$added" "${ms[pass]}" "<= 1.1"
ratio "the query joined to the accounts / its query alone" "${ms[joined]}" "${ms[pass]}" "none; what any design adds"
# the demo company's own model again for the sections after this one
sql -c "DELETE FROM health_score.flag WHERE rule = 'invoices_overdue'" -c "DELETE FROM health_score.rule WHERE code = 'invoices_overdue'" \
	-c "UPDATE health_score.profile SET weights = weights - 'billing'" \
	-c "SELECT health_score.drop_component('billing')" -c "SELECT health_score.drop_measure('overdue_invoices')" >/dev/null || exit 1

# A refresh 30 minutes after the previous one, with 30 minutes' worth of new events (the year's rate) in
# the half hour before it: timed $runs times, each after its own new events; prints the median (ms).
as_of_sql="(SELECT max(as_of) FROM health_score.refresh_log WHERE status IN ('ok', 'stale'))"
per_half_hour=$(awk -v e="$events" 'BEGIN { printf "%d", e / 365 / 48 + 0.5 }')
incremental_runs() {
	local k times=() t
	sql -c "SELECT count(*) FROM health_score.refresh($as_of_sql + interval '30 minutes')" >/dev/null || return 1
	for ((k = 0; k < runs; k++)); do
		sql -c "INSERT INTO demo.events (account_id, user_id, occurred_at, feature)
		        SELECT a.account_id, a.account_id * 1000 + (random() * 20)::int, $as_of_sql + random() * interval '30 minutes',
		               (ARRAY['report', 'dashboard', 'api', 'export'])[1 + (random() * 3)::int]
		          FROM (SELECT 1 + (random() * ($accounts - 1))::bigint AS account_id FROM generate_series(1, $per_half_hour)) a" || return 1
		t=$(sql -At -c '\timing on' -c "SELECT count(*) FROM health_score.refresh($as_of_sql + interval '30 minutes')" |
			awk '/^Time:/ { print $2 }')
		[[ $(sql -At -c "SELECT mode FROM health_score.refresh_log ORDER BY id DESC LIMIT 1") == incremental ]] ||
			{ echo "the refresh 30 minutes later was not incremental" >&2; return 1; }
		times+=("$t")
		activity_ms+=("$(sql -At -c "SELECT details #>> '{timings_ms,activity}' FROM health_score.refresh_log ORDER BY id DESC LIMIT 1")")
	done
	median "${times[*]}"
}
# The activity stage's part of the last incremental_runs (from refresh_log's timings): what reading only what
# changed costs; the rest is the per-account stages, whose cost does not depend on the events.
activity_part() {
	median "${activity_ms[*]}"
}
echo "== incremental: a refresh 30 minutes after the previous one, $per_half_hour new events in between"
activity_ms=()
incremental_runs >"$work/inc" || exit 1
inc_small=$(cat "$work/inc") act_small=$(activity_part)
report "refresh() 30 minutes later, $events events" "$inc_small"
report "  of which the activity stage (only what changed)" "$act_small"
ratio "incremental refresh / count(*) floor, $events events" "$inc_small" "$refresh_floor" "none here; <= 1 at 10x the events"

# History grows tenfold: nine more years of the same events, older (registered again afterwards, which
# makes the next refresh full: the bulk load is not logged).
echo "== incremental as history grows: 10x the events, older"
sql -c "SELECT health_score.drop_source('activity', 'demo.events')" >/dev/null || exit 1
bulk_load demo.events -c "INSERT INTO demo.events (account_id, user_id, occurred_at, feature)
	    SELECT e.account_id, e.user_id, e.occurred_at - y * interval '365 days', e.feature
	      FROM demo.events e, generate_series(1, 9) y WHERE e.occurred_at <= timestamptz 'today'" >/dev/null || exit 1
sql -c 'ANALYZE demo.events' -c "SELECT health_score.add_source('activity', 'demo.events')" >/dev/null || exit 1
big_events=$(sql -At -c "SELECT count(*) FROM demo.events")
big_full=$(sql -At -c '\timing on' -c "SELECT count(*) FROM health_score.refresh($as_of_sql + interval '30 minutes')" | awk '/^Time:/ { print $2 }')
ms=()
while read -r label value _; do ms[$label]=$value; done < <(medians "floor=SELECT account_id, count(*) FROM demo.events GROUP BY account_id")
big_floor=${ms[floor]:?no timing for the floor}
activity_ms=()
incremental_runs >"$work/inc" || exit 1
inc_big=$(cat "$work/inc") act_big=$(activity_part)
rest_big=$(awk -v a="$inc_big" -v b="$act_big" 'BEGIN { printf "%.1f", a - b }')
report "count(*) GROUP BY account over $big_events events (floor)" "$big_floor"
report "full refresh() over $big_events events (one run)" "${big_full:?no timing}"
report "refresh() 30 minutes later, $big_events events" "$inc_big"
report "  of which the activity stage (only what changed)" "$act_big"
report "  of which the other stages (per-account work, other sources)" "$rest_big"
sql -At -c "SELECT format('  %-58s %9s ms', '    ' || t.key, t.value) FROM health_score.refresh_log l, jsonb_each_text(l.details -> 'timings_ms') t
            WHERE l.id = (SELECT max(id) FROM health_score.refresh_log) AND t.key NOT IN ('activity', 'setup', 'analyze')
            ORDER BY t.value::numeric DESC" || exit 1
ratio "incremental refresh / count(*) floor, $big_events events" "$inc_big" "$big_floor" "<= 1"
ratio "incremental refresh, $big_events / $events events" "$inc_big" "$inc_small" "<= 1.3"
ratio "its activity stage / count(*) floor" "$act_big" "$big_floor" "none; what the incremental read costs"
ratio "its other stages / count(*) floor" "$rest_big" "$big_floor" "none; the ceiling: no refresh costs less"
ratio "full refresh / count(*) floor, $big_events events" "$big_full" "$big_floor" "none; for reference"

# What the capture triggers add to the application's writes: a bulk insert of 1,000,000 rows into a copy of
# the activity table with them and into one without, alternating, each emptied before.
echo "== change capture: a bulk INSERT of 1,000,000 rows, with and without the capture triggers"
sql -c "CREATE TABLE public.bench_plain (LIKE demo.events)" -c "CREATE TABLE public.bench_captured (LIKE demo.events)" \
	-c "SELECT health_score._capture_install('public.bench_captured', '{\"account_id\": \"account_id\", \"occurred_at\": \"occurred_at\", \"user_id\": \"user_id\", \"feature\": \"feature\"}')" \
	>/dev/null || exit 1
plain=() captured=()
for ((k = 0; k <= runs; k++)); do
	for table in bench_plain bench_captured; do
		sql -c "TRUNCATE public.$table" -c "DELETE FROM health_score.activity_inserted" -c "DELETE FROM health_score.activity_changed" \
			-c 'CHECKPOINT' >/dev/null || exit 1
		t=$(sql -At -c '\timing on' -c "INSERT INTO public.$table SELECT * FROM demo.events LIMIT 1000000" | awk '/^Time:/ { print $2 }')
		((k > 0)) || continue
		if [[ $table == bench_plain ]]; then plain+=("$t"); else captured+=("$t"); fi
	done
done
plain=$(median "${plain[*]}") captured=$(median "${captured[*]}")
report "INSERT of 1,000,000 rows without the triggers" "$plain"
report "INSERT of 1,000,000 rows with the capture triggers" "$captured"
ratio "with the triggers / without" "$captured" "$plain" "none; what change capture costs the writer"

# 200,000 accounts and about 10,000,000 events: the full refresh against the floor. The company is the demo
# company of the copy made above four times over, under new keys (generating one that size takes 8 minutes
# here); the last copy keeps a third of its events (those whose time in seconds is a multiple of 3). Where a full refresh's time goes: its activity pass
# (which no full refresh skips: the floor of this design) and the per-account stages after it.
echo "== full refresh at 200,000 accounts and about 10,000,000 events"
PGDATABASE=hs_bench_large sql <<'SQL' >/dev/null || exit 1
SET client_min_messages = warning;
-- (the bulk copy is not logged: the source is registered again afterwards, and the next refresh is full)
SELECT health_score.drop_source('activity', 'demo.events');
INSERT INTO demo.accounts
SELECT a.account_id + k * 10000000, a.name || ' ' || k, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr,
       a.renewal_date, a.started_at, a.cancelled_at, a.product, a.parent_account_id + k * 10000000
  FROM demo.accounts a, generate_series(1::bigint, 3) k;
INSERT INTO demo.support_cases (case_id, account_id, opened_at, closed_at, priority)
SELECT c.case_id + k * 1000000000, c.account_id + k * 10000000, c.opened_at, c.closed_at, c.priority
  FROM demo.support_cases c, generate_series(1::bigint, 3) k;
INSERT INTO demo.surveys (account_id, user_id, responded_at, rating, category)
SELECT s.account_id + k * 10000000, s.user_id + k * 10000000000, s.responded_at, s.rating, s.category
  FROM demo.surveys s, generate_series(1::bigint, 3) k;
INSERT INTO demo.touchpoints (account_id, occurred_at, direction, answered, channel)
SELECT t.account_id + k * 10000000, t.occurred_at, t.direction, t.answered, t.channel
  FROM demo.touchpoints t, generate_series(1::bigint, 3) k;
SQL
PGDATABASE=hs_bench_large bulk_load demo.events -c "INSERT INTO demo.events (account_id, user_id, occurred_at, feature)
	SELECT e.account_id + k * 10000000, e.user_id + k * 10000000000, e.occurred_at, e.feature
	  FROM demo.events e, generate_series(1::bigint, 3) k WHERE k < 3 OR extract(epoch FROM e.occurred_at)::bigint % 3 = 0" >/dev/null || exit 1
# (the README's advice for more than 50,000 accounts: the activity pass's hash table holds them all)
PGDATABASE=hs_bench_large sql -c "SELECT health_score.add_source('activity', 'demo.events')" -c 'VACUUM ANALYZE' \
	-c "ALTER FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) SET work_mem = '1GB'" >/dev/null || exit 1
large_accounts=$(PGDATABASE=hs_bench_large sql -At -c "SELECT count(*) FROM demo.accounts")
large_events=$(PGDATABASE=hs_bench_large sql -At -c "SELECT count(*) FROM demo.events")
ms=()
while read -r label value _; do ms[$label]=$value; done < <(PGDATABASE=hs_bench_large runs=1 medians \
	"floor=SELECT account_id, count(*) FROM demo.events GROUP BY account_id" \
	"refresh=SELECT * FROM health_score.refresh(timestamptz 'today', mode => 'full')")
large_activity=$(PGDATABASE=hs_bench_large sql -At -c "SELECT details #>> '{timings_ms,activity}' FROM health_score.refresh_log ORDER BY id DESC LIMIT 1")
large_rest=$(awk -v a="${ms[refresh]:?no timing for the refresh}" -v b="${large_activity:?}" 'BEGIN { printf "%.1f", a - b }')
report "count(*) GROUP BY account over $large_events events (floor)" "${ms[floor]:?no timing for the floor}"
report "refresh(mode => 'full') at $large_accounts accounts, work_mem 1GB" "${ms[refresh]}"
report "  of which the activity pass (every row, the state rebuilt)" "$large_activity"
report "  of which the other stages (per-account work, other sources)" "$large_rest"
ratio "full refresh / count(*) floor, $large_accounts accounts" "${ms[refresh]}" "${ms[floor]}" "<= 4"
ratio "its activity pass alone / count(*) floor" "$large_activity" "${ms[floor]}" "none; the ceiling: no full refresh skips it"
ratio "its other stages / count(*) floor" "$large_rest" "${ms[floor]}" "none; per-account work"

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` on $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_CONFIG" --version | awk '{ print $2 }'):"
	echo "medians of same-run timings; read the ratios, not the milliseconds (the machines are shared). The"
	echo "primitives' ratios are medians of the ratios within each round, where both queries ran back to back."
	echo
	echo '```'
	grep -v '^PG_CONFIG=' "$work/bench.out" | sed -n '/^== /,$p'
	echo '```'
} >docs/benchmarks.md
