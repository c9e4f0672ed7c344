#!/usr/bin/env bash
# The upgrade test, run by tools/test.sh against its cluster (libpq environment set): for every released
# version (a frozen health_score--X.sql), a database installed at X and used (sources, profiles, rules,
# observations, refreshes with history and flags) is updated with ALTER EXTENSION ... UPDATE and must then
#   - be at the current version and equal a fresh install of it, object by object (tools/catalog.sql),
#   - keep every row of the user's sources, configuration, history, flags and log as it was,
#   - refresh again at the same as_of without raising or clearing a flag,
#   - dump with pg_dump and restore into a new database with the same objects and rows.
# Prints TAP-style "ok N - ..." lines and "upgrade: N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

work=${1:?usage: upgrade_test.sh WORKDIR}
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" health_score.control)
# demo/sources.sql measures usage over the last 90 days, so the company ends today
as_of=$(date -u +%Y-%m-%d)
tables="sources profile rule observation account_health health_history flag refresh_log"
passed=0 failed=0 n=0

check() {	# check DESCRIPTION COMMAND...: one numbered result
	local what=$1
	shift
	n=$((n + 1))
	if "$@" >"$work/check.out" 2>&1; then
		echo "ok $n - $what"
		passed=$((passed + 1))
	else
		echo "not ok $n - $what"
		sed 's/^/#   /' "$work/check.out" | head -n 60
		failed=$((failed + 1))
		return 1
	fi
}

psql_db() {	# psql_db DB [psql args...]
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

set_up_at() {	# set_up_at DB VERSION
	psql_db postgres -c "CREATE DATABASE $1" && psql_db "$1" -c "CREATE EXTENSION health_score VERSION '$2'"
}

# A small synthetic company from the demo's generator, registered as the demo registers it, with a
# customised rule, a disabled one, a custom one and open observations, refreshed twice.
use_database() {	# use_database DB
	psql_db "$1" -f demo/company.sql >/dev/null &&
		psql_db "$1" -c "SELECT demo.generate_company(11, 300, 4, 30, '$as_of')" >/dev/null &&
		psql_db "$1" -f demo/sources.sql >/dev/null &&
		psql_db "$1" -v as_of="$as_of" >/dev/null <<-'SQL'
			UPDATE health_score.rule SET params = '{"days": 21}' WHERE code = 'inactive';
			UPDATE health_score.rule SET enabled = false WHERE code = 'silent_account';
			INSERT INTO health_score.rule (code, description, severity, params, action)
			VALUES ('qbr_due', 'No business review for `days` days', 'amber', '{"days": 90}', 'Book the review.');
			INSERT INTO health_score.observation (account_id, indicator, note, observed_at)
			SELECT a.account_id::text, 'no_admin', 'the admin left', :'as_of'::timestamptz - interval '30 days'
			  FROM demo.accounts a ORDER BY a.account_id LIMIT 3;
			SELECT health_score.refresh(:'as_of'::timestamptz - interval '14 days');
			SELECT health_score.refresh(:'as_of');
		SQL
}

# The rows of every table of the extension, in the columns the old version had, sorted.
snapshot() {	# snapshot DB DIR/NAME
	local db=$1 out=$2 t cols
	mkdir -p "$out"
	for t in $tables; do
		if [[ ! -f $out/../columns.$t ]]; then
			psql_db "$db" -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			                       WHERE attrelid = 'health_score.$t'::regclass AND attnum > 0 AND NOT attisdropped" \
				>"$out/../columns.$t" || return 1
		fi
		cols=$(cat "$out/../columns.$t")
		psql_db "$db" -At -c "SELECT $cols FROM health_score.$t" | sort >"$out/$t" || return 1
	done
}

kept() {	# kept DB DIR: the rows read before the update are there after it, and there are some
	local t status=0
	snapshot "$1" "$2/after" || return 1
	for t in $tables; do
		diff -u "$2/before/$t" "$2/after/$t" | head -n 20 || status=1
		[[ -s $2/before/$t ]] || { echo "$t is empty: nothing was compared"; status=1; }
	done
	return $status
}

catalog() {	# catalog DB FILE
	psql_db "$1" -f tools/catalog.sql >"$2"
}

equals_fresh() {	# equals_fresh DB FILE
	catalog "$1" "$2" && diff -u "$work/catalog.fresh" "$2"
}

refresh_changes_nothing() {	# refresh_changes_nothing DB: at the latest as_of again, no flag raised or cleared
	local out
	out=$(psql_db "$1" -At -c "SELECT flags_raised, flags_cleared FROM health_score.refresh('$as_of', force => true)") ||
		return 1
	echo "flags raised|cleared: $out"
	[[ $out == "0|0" ]]
}

dump_restores() {	# dump_restores DB DIR: a pg_dump of DB restores into a new database with the same objects and rows
	local copy=${1}_restored t
	snapshot "$1" "$2/dumped" &&
		pg_dump --format=custom --dbname="$1" --file="$2/dump" &&
		psql_db postgres -c "CREATE DATABASE $copy" &&
		pg_restore --exit-on-error --dbname="$copy" "$2/dump" &&
		catalog "$copy" "$2/catalog.restored" && diff -u "$2/catalog" "$2/catalog.restored" &&
		snapshot "$copy" "$2/restored" || return 1
	for t in $tables; do
		cmp "$2/dumped/$t" "$2/restored/$t" || return 1
	done
}

fresh=hs_upgrade_fresh
set_up_at $fresh "$current" >/dev/null && use_database $fresh && catalog $fresh "$work/catalog.fresh" ||
	{ echo "upgrade: cannot set up a fresh install of $current" >&2; echo "upgrade: 0 passed, 1 failed"; exit 1; }

for script in health_score--*.sql; do
	from=${script#health_score--}
	from=${from%.sql}
	[[ $from == *--* || $from == "$current" ]] && continue
	db=hs_upgrade_from_${from//./_}
	dir=$work/upgrade_$from
	mkdir -p "$dir"
	check "a database at $from is set up" set_up_at "$db" "$from" &&
		check "its sources, configuration, history and flags are filled" use_database "$db" &&
		check "their rows are read" snapshot "$db" "$dir/before" || continue
	check "ALTER EXTENSION health_score UPDATE from $from to $current" \
		psql_db "$db" -c 'ALTER EXTENSION health_score UPDATE' || continue
	check "the updated database equals a fresh install of $current" equals_fresh "$db" "$dir/catalog"
	check "every row of every table is kept" kept "$db" "$dir"
	check "a refresh at the same as_of raises and clears no flag" refresh_changes_nothing "$db"
	check "its pg_dump restores into a new database with the same objects and rows" dump_restores "$db" "$dir"
done

echo "upgrade: $passed passed, $failed failed"
((failed == 0 && passed > 0))
