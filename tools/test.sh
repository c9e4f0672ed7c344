#!/usr/bin/env bash
# make test: install what is missing, build, install, run the pg_regress suite (sql/, expected/), the upgrade
# test (tools/upgrade_test.sh), the pgTAP suite (test/*.sql) and the dashboard's test (tools/dashboard_test.sh,
# skipped without Node.js) on a throwaway cluster, print "N passed, N failed" and stop the cluster.
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

build_and_install || exit 1

work=$(mktemp -d /tmp/health_score_test.XXXXXX)
port=${HS_TEST_PORT:-54329}
trap 'cluster_stop "$work"; rm -rf "$work"' EXIT
# pgTAP suites run in the database pg_cron lives in, so scheduling is tested for real; pg_regress runs
# in its own database, where pg_cron is absent, so the error path is tested there.
cluster_start "$work" "$port" "cron.database_name = 'health_score_tap'" || exit 1
cluster_env "$work" "$port"
psql -q -X -v ON_ERROR_STOP=1 -c 'CREATE DATABASE health_score_tap' >/dev/null || exit 1
psql -q -X -v ON_ERROR_STOP=1 -d health_score_tap \
	-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION pg_cron' >/dev/null || exit 1

# HS_REGRESS and HS_TAP narrow the run to some tests while working on them; output stays out of the tree.
regress_tests=${HS_REGRESS:-$(ls sql/*.sql 2>/dev/null | sed -E 's|sql/(.*)\.sql|\1|' | tr '\n' ' ')}
outdir=${HS_OUTPUT_DIR:-$work/regress}
mkdir -p "$outdir"
make -s installcheck REGRESS="$regress_tests" ISOLATION= \
	REGRESS_OPTS="--load-extension=health_score --outputdir=$outdir" 2>&1 | tee "$work/regress.out"
# the isolation specs (specs/, pg_isolation_regress), on their own so that they run whatever the above gave
isolation_tests=${HS_ISOLATION-$(ls specs/*.spec 2>/dev/null | sed -E 's|specs/(.*)\.spec|\1|' | tr '\n' ' ')}
if [[ -n ${isolation_tests// /} ]]; then
	make -s installcheck REGRESS= ISOLATION="$isolation_tests" \
		ISOLATION_OPTS="--load-extension=health_score --outputdir=$outdir/isolation" 2>&1 | tee -a "$work/regress.out"
fi
regress_passed=$(grep -cE '\.\.\. ok ' "$work/regress.out")
# Counted against the files in sql/ and specs/, so a test that never ran (a crash, a missing expected
# file) fails.
regress_total=$(($(wc -w <<<"$regress_tests") + $(wc -w <<<"$isolation_tests")))
regress_failed=$((regress_total - regress_passed))
[[ -s $outdir/regression.diffs ]] && head -n 300 "$outdir/regression.diffs"
[[ -s $outdir/isolation/regression.diffs ]] && head -n 300 "$outdir/isolation/regression.diffs"

# ALTER EXTENSION UPDATE from every released version against a fresh install (HS_UPGRADE=0 skips it).
upgrade_passed=0 upgrade_failed=0
if [[ ${HS_UPGRADE:-1} != 0 ]]; then
	tools/upgrade_test.sh "$work" 2>&1 | tee "$work/upgrade.out"
	upgrade_passed=$(sed -nE 's/^upgrade: ([0-9]+) passed, ([0-9]+) failed$/\1/p' "$work/upgrade.out")
	upgrade_failed=$(sed -nE 's/^upgrade: ([0-9]+) passed, ([0-9]+) failed$/\2/p' "$work/upgrade.out")
	# no closing line: it died
	[[ -n $upgrade_failed ]] || upgrade_passed=0 upgrade_failed=1
fi

tap_passed=0 tap_failed=0
shopt -s nullglob
tap_files=(${HS_TAP:-test/*.sql})
if ((${#tap_files[@]})); then
	pg_prove --dbname health_score_tap --shuffle "${tap_files[@]}" 2>&1 | tee "$work/tap.out"
	tap_total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' "$work/tap.out")
	tap_failed=$(awk '/Failed [0-9]+\/[0-9]+ subtests/ { sub(/.*Failed /, ""); sub(/\/.*/, ""); n += $0 } END { print n + 0 }' "$work/tap.out")
	tap_passed=$(( ${tap_total:-0} - tap_failed ))
	# A file that dies before its plan completes fails without a "Failed N/M" line.
	if grep -q '^Result: FAIL' "$work/tap.out" && ((tap_failed == 0)); then
		tap_failed=$(grep -cE '(Dubious|Parse errors|Bad plan|No plan found)' "$work/tap.out")
		((tap_failed)) || tap_failed=1
	fi
fi

# The executive dashboard (make dashboard): built from a small demo company and rendered in headless Chromium;
# skipped, with a message, where Node.js is absent (HS_DASHBOARD=0 skips it too).
dashboard_passed=0 dashboard_failed=0
if [[ ${HS_DASHBOARD:-1} != 0 ]]; then
	tools/dashboard_test.sh "$work/dashboard" 2>&1 | tee "$work/dashboard.out"
	dashboard_passed=$(sed -nE 's/^dashboard: ([0-9]+) passed, ([0-9]+) failed$/\1/p' "$work/dashboard.out")
	dashboard_failed=$(sed -nE 's/^dashboard: ([0-9]+) passed, ([0-9]+) failed$/\2/p' "$work/dashboard.out")
	[[ -n $dashboard_failed ]] || dashboard_passed=0 dashboard_failed=1
fi

echo "pg_regress: $regress_passed passed, $regress_failed failed; upgrade: $upgrade_passed passed," \
	"$upgrade_failed failed; pgTAP: $tap_passed passed, $tap_failed failed;" \
	"dashboard: $dashboard_passed passed, $dashboard_failed failed"
passed=$((regress_passed + upgrade_passed + tap_passed + dashboard_passed))
failed=$((regress_failed + upgrade_failed + tap_failed + dashboard_failed))
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
