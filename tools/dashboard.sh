#!/usr/bin/env bash
# make dashboard (tools/dashboard.sh): build the static executive dashboard (dashboard/, Observable Framework
# with Observable Plot) from the executive views of a running database, into dashboard/dist/. Only this and
# its test (tools/dashboard_test.sh) need Node.js and npm; the extension does not.
#
# The data comes from the make demo cluster (HS_DEMO_DIR, HS_DEMO_PORT as in tools/demo.sh, database
# health_score_demo), or with HS_DASHBOARD_DB=env from the database that PGHOST, PGPORT, PGDATABASE, PGUSER
# (and PGPASSWORD) name. npm ci runs when dashboard/node_modules is missing or older than the lock file. The
# build needs no network (dashboard/build.js); as root with a socket-directory PGHOST it runs in a network
# namespace of its own (unshare -n), which proves it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "$*" >&2; exit 1; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
	(($(node -p 'process.versions.node.split(".")[0]') < 18)); then
	die "make dashboard needs Node.js 18+ and npm: apt-get install nodejs npm"
fi

case ${HS_DASHBOARD_DB:-demo} in
demo)
	export PGHOST=${HS_DEMO_DIR:-/tmp/health_score_demo} PGPORT=${HS_DEMO_PORT:-55439}
	export PGDATABASE=health_score_demo PGUSER=postgres
	psql -X -q -c 'SELECT' >/dev/null 2>&1 ||
		die "the make demo cluster is not running (host=$PGHOST port=$PGPORT): run 'make demo' first," \
			"or set HS_DASHBOARD_DB=env and PGHOST, PGPORT, PGDATABASE, PGUSER"
	;;
env)
	psql -X -q -c 'SELECT' >/dev/null ||
		die "cannot connect to the database that PGHOST, PGPORT, PGDATABASE and PGUSER name"
	;;
*) die "HS_DASHBOARD_DB must be demo (the default) or env, not '$HS_DASHBOARD_DB'" ;;
esac
db="host=${PGHOST:-} port=${PGPORT:-} dbname=${PGDATABASE:-} user=${PGUSER:-}"

# The views appear when the accounts source is registered; name the missing ones rather than let a loader fail.
missing=$(psql -X -At -c "SELECT string_agg(v, ', ') FROM unnest(ARRAY['band_breakdown', 'health_trend',
	'health_trend_by', 'cancellation_trend', 'owner_workload', 'at_risk_flags']) v
	WHERE to_regclass('health_score.' || v) IS NULL")
[[ -z $missing ]] ||
	die "$db lacks the views $missing of health_score: CREATE EXTENSION health_score and register the accounts source"

if [[ ! -f dashboard/node_modules/.package-lock.json ||
	dashboard/package-lock.json -nt dashboard/node_modules/.package-lock.json ]]; then
	echo "installing the dashboard's npm packages (npm ci in dashboard/)"
	(cd dashboard && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in dashboard/"
fi

echo "building the dashboard from $db"
offline=()
if [[ $(id -u) -eq 0 && ${PGHOST:-} == /* ]] && unshare -n true 2>/dev/null; then
	offline=(unshare -n)
fi
log=$(mktemp "${TMPDIR:-/tmp}/health_score_dashboard.XXXXXX.log")
# a data loader that fails (its message starts with "dashboard data:") fails the build
"${offline[@]}" node dashboard/build.js >"$log" 2>&1 || {
	grep -o 'dashboard data:.*' "$log" >&2 || tail -n 30 "$log" >&2
	die "the dashboard build failed (all of its output: $log)"
}
rm -f "$log"

echo "built ${offline:+without network access }into dashboard/dist/index.html; to view it, run"
echo
echo "    node dashboard/serve.js        # then open http://127.0.0.1:3000/"
