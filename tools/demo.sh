#!/usr/bin/env bash
# make demo (tools/demo.sh start): install what is missing, build, install, start a throwaway cluster, create
# a synthetic company, run the real pipeline on it (weekly point-in-time refreshes over six months, then
# today), schedule the pg_cron job, print the executive summary and leave the cluster running.
# make demo-stop (tools/demo.sh stop): stop that cluster and remove its folder.
#
# HS_DEMO_DIR (/tmp/health_score_demo), HS_DEMO_PORT (55439), HS_DEMO_SEED (42), HS_DEMO_ACCOUNTS (2000),
# HS_DEMO_MONTHS (18) and HS_DEMO_EVENTS (40 events per account and month) change it.
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

dir=${HS_DEMO_DIR:-/tmp/health_score_demo}
port=${HS_DEMO_PORT:-55439}
seed=${HS_DEMO_SEED:-42}
accounts=${HS_DEMO_ACCOUNTS:-2000}
months=${HS_DEMO_MONTHS:-18}
events=${HS_DEMO_EVENTS:-40}
db=health_score_demo
conn="host=$dir port=$port dbname=$db user=postgres"

started=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - started)) "$*"; }
sql() { psql -X -q -v ON_ERROR_STOP=1 "$conn" "$@"; }

stop() {
	if [[ -f $dir/data/postmaster.pid ]]; then
		cluster_stop "$dir" || return 1
	fi
	rm -rf "$dir"
	echo "demo cluster stopped; $dir removed"
}

start() {
	for v in "$seed" "$accounts" "$months" "$port"; do
		[[ $v =~ ^[0-9]+$ ]] || { echo "HS_DEMO_SEED, HS_DEMO_ACCOUNTS, HS_DEMO_MONTHS and HS_DEMO_PORT must be integers" >&2; exit 1; }
	done
	[[ $events =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "HS_DEMO_EVENTS must be a number" >&2; exit 1; }

	say "installing missing packages, building and installing health_score"
	build_and_install || exit 1

	if [[ -e $dir ]]; then
		say "removing the previous demo cluster in $dir"
		stop >/dev/null || exit 1
	fi
	say "starting a throwaway cluster in $dir (port $port)"
	cluster_start "$dir" "$port" "cron.database_name = '$db'" "shared_buffers = '256MB'" "work_mem = '32MB'" \
		"maintenance_work_mem = '128MB'" "max_parallel_workers_per_gather = 2" || exit 1
	psql -X -q -v ON_ERROR_STOP=1 "host=$dir port=$port dbname=postgres user=postgres" \
		-c "CREATE DATABASE $db" || exit 1
	sql -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION health_score' -f demo/company.sql || exit 1

	say "generating the company: $accounts accounts, $months months, about $events events per account and month (seed $seed)"
	sql -v seed="$seed" -v accounts="$accounts" -v months="$months" -v events="$events" <<-'SQL' || exit 1
		\pset footer off
		SELECT relation, to_char(rows_written, 'FM999,999,999') AS rows
		  FROM demo.generate_company(:seed, :accounts, :months, :events);
	SQL

	say "registering the five sources and the profiles"
	sql -f demo/sources.sql || exit 1

	say "refreshing weekly over the past six months (point in time), then for today"
	local k as_of line
	for ((k = 26; k >= 0; k--)); do
		if ((k > 0)); then
			as_of="date_trunc('day', now()) - interval '$k weeks'"
		else
			as_of="now()"
		fi
		line=$(sql -At -F ' ' -c "SELECT to_char(($as_of)::date, 'YYYY-MM-DD'), r.accounts, r.flags_raised, r.flags_cleared,
		                                   round(extract(epoch FROM r.elapsed)::numeric, 1)
		                              FROM health_score.refresh($as_of) r") || exit 1
		read -r d n raised cleared secs <<<"$line"
		say "$(printf 'refresh %2d/27 as of %s: %5d accounts, %4d flags raised, %4d cleared (%4ss)' \
			$((27 - k)) "$d" "$n" "$raised" "$cleared" "$secs")"
	done

	say "the team at work: tasks done and dismissed, win-back plans, customer goals"
	sql -f demo/plays.sql || exit 1

	local job
	job=$(sql -At -c "SELECT health_score.schedule_refresh()") || exit 1
	say "scheduled the refresh with pg_cron every 30 minutes (job $job; see cron.job_run_details)"

	say "executive summary"
	psql -X -v ON_ERROR_STOP=1 -f demo/summary.sql "$conn" || exit 1

	# the executive dashboard: the views charted (tools/dashboard.sh), where Node.js is installed
	if command -v node >/dev/null && command -v npm >/dev/null; then
		say "building the executive dashboard (make dashboard)"
		if HS_DEMO_DIR=$dir HS_DEMO_PORT=$port tools/dashboard.sh >"$dir/dashboard.log" 2>&1; then
			say "the executive dashboard is in $PWD/dashboard/dist: view it with"
			echo
			echo "    node dashboard/serve.js    # then open the address it prints"
		else
			say "the dashboard did not build (see $dir/dashboard.log); the demo itself is complete"
		fi
	else
		say "the executive dashboard needs Node.js 18+ and npm: install them and run 'make dashboard'"
	fi

	echo
	say "done: the demo cluster keeps running. Connect with"
	echo
	echo "    psql \"$conn\""
	echo
	echo "  and try: SELECT * FROM health_score.account_overview ORDER BY arr DESC LIMIT 10;"
	echo "           SELECT * FROM health_score.at_risk_accounts LIMIT 10;"
	echo "  'make demo-stop' stops it and removes $dir."
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
