#!/usr/bin/env bash
# The upgrade test, run by tools/test.sh against its cluster (libpq environment set): for every released
# version (a frozen health_score--X.sql), a database installed at X and used (sources, profiles, rules,
# observations, refreshes with history and flags) refuses the update while a view of the user's own uses an
# aggregate it creates again, naming the view, and is then updated with ALTER EXTENSION ... UPDATE and must
#   - be at the current version and equal a fresh install of it, object by object (tools/catalog.sql),
#   - keep every row of the user's sources, configuration, history, flags and log as it was (a rule's
#     parameters in the rule, or in the measure its window moved to),
#   - give the results the primitives gave before (decayed_sum within its documented bound),
#     serially and in parallel,
#   - refresh again at the same as_of without raising or clearing a flag,
#   - take a measure, a component and a rule of the user's own, and dump with pg_dump and restore into a new
#     database with the same objects and rows;
# and the seeded model must score the demo company as X did, at three as_of dates: the same account_health,
# health_history and flags (the flags' evidence aside, whose form changed in 0.2.0).
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
		psql_db "$1" -v no_dimensions=1 -f demo/sources.sql >/dev/null &&
		psql_db "$1" -v as_of="$as_of" >/dev/null <<-'SQL'
			UPDATE health_score.rule SET params = '{"days": 21}' WHERE code = 'inactive';
			UPDATE health_score.rule SET enabled = false WHERE code = 'silent_account';
			UPDATE health_score.rule SET params = '{"days": 45, "max_rating": 5}' WHERE code = 'detractor' AND params ? 'days';
			DO $$
			BEGIN
				-- a rule of the user's own: before 0.2.0 nothing evaluated one
				IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'health_score.rule'::regclass AND attname = 'condition') THEN
					INSERT INTO health_score.rule (code, description, severity, condition, params, action)
					VALUES ('qbr_due', 'No business review for `days` days', 'amber', 'days_since_business_review > {days}',
					        '{"days": 90}', 'Book the review.');
				ELSE
					INSERT INTO health_score.rule (code, description, severity, params, action)
					VALUES ('qbr_due', 'No business review for `days` days', 'amber', '{"days": 90}', 'Book the review.');
				END IF;
			END
			$$;
			INSERT INTO health_score.observation (account_id, indicator, note, observed_at)
			SELECT a.account_id::text, 'no_admin', 'the admin left', :'as_of'::timestamptz - interval '30 days'
			  FROM demo.accounts a ORDER BY a.account_id LIMIT 3;
			SELECT health_score.refresh(:'as_of'::timestamptz - interval '14 days');
			SELECT health_score.refresh(:'as_of');
		SQL
}

# The rows of every table of the extension, in the columns the old version had, sorted; a rule's params
# are checked apart (rule_params_kept), since a window parameter moves to its measure.
snapshot() {	# snapshot DB DIR/NAME [TABLES]
	local db=$1 out=$2 t cols
	mkdir -p "$out"
	for t in ${3:-$tables}; do
		if [[ ! -f $out/../columns.$t ]]; then
			psql_db "$db" -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			                       WHERE attrelid = 'health_score.$t'::regclass AND attnum > 0 AND NOT attisdropped
			                         AND NOT (attrelid = 'health_score.rule'::regclass AND attname IN ('params', 'description'))" \
				>"$out/../columns.$t" || return 1
		fi
		cols=$(cat "$out/../columns.$t")
		psql_db "$db" -At -c "SELECT $cols FROM health_score.$t" | sort >"$out/$t" || return 1
	done
}

kept() {	# kept DB DIR: the rows read before the update are there after it (new seeded rows may join them)
	local t status=0 lost
	snapshot "$1" "$2/after" || return 1
	for t in $tables; do
		lost=$(comm -23 "$2/before/$t" "$2/after/$t")
		[[ -z $lost ]] || { echo "$t lost rows:"; echo "$lost" | head -n 20; status=1; }
		[[ -s $2/before/$t ]] || { echo "$t is empty: nothing was compared"; status=1; }
	done
	return $status
}

# Every parameter of every rule before the update is, after it, the rule's, or its window's measure's, or
# (a rule 0.1.0 evaluated nothing for) written in its description.
rule_params_kept() {	# rule_params_kept DB DIR
	local missing
	psql_db "$1" -At -c "SELECT code, params, description FROM health_score.rule" >"$2/rule_params.after" || return 1
	missing=$(psql_db "$1" -At -v before="$(cat "$2/rule_params.before")" <<-'SQL'
		SELECT b.code || '.' || k.key
		  FROM (SELECT split_part(l, '|', 1) AS code, split_part(l, '|', 2)::jsonb AS params
		          FROM unnest(string_to_array(:'before', E'\n')) l WHERE l <> '') b,
		       jsonb_each(b.params) k
		 WHERE NOT EXISTS (SELECT FROM health_score.rule r WHERE r.code = b.code
		                      AND (r.params -> k.key = k.value OR r.description LIKE '%' || b.params::text || '%'))
		   AND NOT EXISTS (SELECT FROM health_score.measure m
		                    WHERE m.name = CASE b.code || '.' || k.key
		                                   WHEN 'new_users.days' THEN 'new_users' WHEN 'feature_adopted.days' THEN 'key_features_adopted'
		                                   WHEN 'long_open_case.days' THEN 'aged_open_cases'
		                                   WHEN 'unreturned_contact.days' THEN 'unanswered_outreach'
		                                   WHEN 'detractor.days' THEN 'detractor_responses' WHEN 'detractor.max_rating' THEN 'detractor_responses'
		                                   WHEN 'score_drop.days' THEN 'score_earlier' WHEN 'score_drop.tolerance_days' THEN 'score_earlier' END
		                      AND m.params -> k.key = k.value)
		SQL
	) || return 1
	[[ -z $missing ]] || { echo "parameters lost: $missing"; return 1; }
}

# The seeded model scores the demo company as version X did: at three as_of dates, account_health (inputs
# aside from the last response, now read from all history), health_history and the flags (evidence aside).
# The current version reads every row at each date (mode full), as X did: an incremental refresh's decayed
# sums differ from those in their last bits (test/pipeline_incremental.sql bounds that).
scored_at() {	# scored_at DB VERSION FILE
	psql_db postgres -c "CREATE DATABASE $1" && psql_db "$1" -c "CREATE EXTENSION health_score VERSION '$2'" &&
		psql_db "$1" -f demo/company.sql >/dev/null &&
		psql_db "$1" -c "SELECT demo.generate_company(11, 300, 4, 30, '$as_of')" >/dev/null &&
		psql_db "$1" -f demo/sources.sql >/dev/null &&
		for d in 60 30 0; do
			psql_db "$1" -c "SELECT health_score.refresh('$as_of'::timestamptz - interval '$d days'$([[ $2 == "$current" ]] && echo ", mode => 'full'"))" >/dev/null || return 1
		done &&
		psql_db "$1" -At >"$3" <<-'SQL'
			SELECT 'account_health', account_id, name, segment, lifecycle_stage, plan, owner, seats, arr, renewal_date, profile,
			       score, band, engagement, utilisation, adoption, support, sentiment, relationship,
			       inputs #- '{relationship,last_response_at}', as_of
			  FROM health_score.account_health ORDER BY account_id;
			SELECT 'health_history', account_id, day, as_of, profile, segment, plan, lifecycle_stage, owner, arr, score, band,
			       engagement, utilisation, adoption, support, sentiment, relationship
			  FROM health_score.health_history ORDER BY account_id, day;
			SELECT 'flag', account_id, rule, severity, raised_at, cleared_at, action
			  FROM health_score.flag ORDER BY account_id, rule, raised_at;
		SQL
}

same_scores() {	# same_scores VERSION: the seeded model of the current version scores as VERSION did
	local v=${1//./_}
	scored_at "hs_model_$v" "$1" "$work/model.$1" && scored_at hs_model_current "$current" "$work/model.current" &&
		[[ -s $work/model.current ]] && diff -u "$work/model.$1" "$work/model.current" | head -n 40 &&
		cmp -s "$work/model.$1" "$work/model.current" &&
		echo "$(grep -c '^account_health' "$work/model.current") accounts, $(grep -c '^health_history' "$work/model.current") history rows, $(grep -c '^flag' "$work/model.current") flags: identical"
}

# The model extended after the update, as a user would: a measure, a component and a rule of their own, and a
# profile's override of a rule's parameters (a new profile version); then a refresh, and a manager's override
# of a score. (dump_restores then restores them too.)
extend_model() {	# extend_model DB
	psql_db "$1" -v as_of="$as_of" >/dev/null <<-'SQL'
		SELECT health_score.add_measure('observations_open',
		       'SELECT o.account_id::bigint AS account_id, count(*) AS value FROM health_score.observation o
		         WHERE o.observed_at <= $1 AND (o.resolved_at IS NULL OR o.resolved_at > $1) GROUP BY 1');
		SELECT health_score.add_component('observed', 'observations_open', 3, 0);
		SELECT health_score.add_rule('observed_gaps', 'observations_open >= {min}', 'amber', 'Close the gaps.', '{"min": 1}');
		UPDATE health_score.profile SET weights = weights || '{"observed": 5}', rule_params = '{"observed_gaps": {"min": 2}, "inactive": {"days": 25}}';
		SELECT health_score.refresh(:'as_of');
		SELECT health_score.set_override(min(account_id), 12, 'upgrade test', now() + interval '30 days')
		  FROM health_score.account_health;
	SQL
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

# The activity source registered before the update carries the capture triggers after it, and a refresh
# after new events reads incrementally, counting them.
reads_incrementally() {	# reads_incrementally DB
	local out
	out=$(psql_db "$1" -At -v as_of="$as_of" <<-'SQL'
		SELECT string_agg(relation::text || ' ' || incremental, ', ') FROM health_score.source_capture;
		INSERT INTO demo.events (account_id, user_id, occurred_at, feature)
		SELECT account_id, 1, :'as_of'::timestamptz + interval '10 minutes', 'report' FROM demo.accounts ORDER BY account_id LIMIT 3;
		SELECT count(*) FROM health_score.refresh(:'as_of'::timestamptz + interval '30 minutes');
		SELECT mode FROM health_score.refresh_log ORDER BY id DESC LIMIT 1;
		SELECT count(*) FROM health_score.activity_state_account s
		 WHERE s.events <> (SELECT count(*) FROM demo.events e WHERE e.account_id::text = s.account_id
		                       AND e.occurred_at <= :'as_of'::timestamptz + interval '30 minutes');
	SQL
	) || return 1
	echo "$out" | tr '\n' '|'
	[[ $out == $'demo.events true\n1\nincremental\n0' ]]
}

dump_restores() {	# dump_restores DB DIR: a pg_dump of DB restores into a new database with the same objects and rows
	local copy=${1}_restored t all="$tables measure component profile_version override override_audit"
	snapshot "$1" "$2/dumped" "$all" &&
		pg_dump --format=custom --dbname="$1" --file="$2/dump" &&
		psql_db postgres -c "CREATE DATABASE $copy" &&
		pg_restore --exit-on-error --dbname="$copy" "$2/dump" &&
		catalog "$copy" "$2/catalog.restored" && diff -u "$2/catalog" "$2/catalog.restored" &&
		snapshot "$copy" "$2/restored" "$all" || return 1
	for t in $all; do
		cmp "$2/dumped/$t" "$2/restored/$t" || return 1
	done
}

# The primitives' results over the demo company's rows, per account, serially and through parallel workers (which
# pass the partial states of 0.1.0's declarations through its serialize functions, of 0.2.0's as flat bytea).
# After the update they must be what they were: decayed_sum within its documented bound, (n - 1) x 2^-53
# relative (0.2.0 sums plainly where 0.1.0 compensated; the row count follows it), the others exactly.
primitives() {	# primitives DB FILE
	local plan
	for plan in "SET max_parallel_workers_per_gather = 0" \
		"SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2"; do
		psql_db "$1" -At -F ' ' <<-SQL || return 1
			$plan;
			SELECT 'decayed', account_id, health_score.decayed_sum(occurred_at, '$as_of'::timestamptz, '14 days'), count(*)
			  FROM demo.events GROUP BY account_id ORDER BY account_id;
			SELECT 'nps', account_id, health_score.nps(round(rating)::integer) FROM demo.surveys GROUP BY account_id ORDER BY account_id;
			SELECT 'users', e.account_id, health_score.active_users(e.user_id) FILTER (WHERE e.occurred_at > '$as_of'::timestamptz - interval '30 days'),
			       health_score.licence_utilisation(e.user_id, a.seats), health_score.user_windows(e.user_id, e.occurred_at,
			       '$as_of'::timestamptz, '$as_of'::timestamptz - interval '30 days', '$as_of'::timestamptz - interval '60 days',
			       '$as_of'::timestamptz - interval '30 days'), health_score.active_users(e.feature)
			  FROM demo.events e JOIN demo.accounts a USING (account_id) GROUP BY e.account_id ORDER BY e.account_id;
			SELECT 'auc', a.segment, health_score.auc(a.seats, a.cancelled_at IS NOT NULL)
			  FROM demo.accounts a GROUP BY a.segment ORDER BY a.segment;
		SQL
	done >"$2"
}
same_primitives() {	# same_primitives DB DIR
	primitives "$1" "$2/primitives.after" || return 1
	awk 'NR == FNR { before[FNR] = $0; next }
	     { seen++; split(before[FNR], w, " "); b = w[3]
	       if ($1 != "decayed" && before[FNR] != $0) { print $1 " of " $2 ": " before[FNR] " before, " $0 " after"; bad++ }
	       if ($1 == "decayed" && (b - $3 > ($4 - 1) * 2^-53 * b || $3 - b > ($4 - 1) * 2^-53 * b)) {
	           print "decayed_sum of account " $2 ": " b " before, " $3 " after"; bad++ } }
	     END { if (!seen) { print "nothing compared"; bad++ } exit bad > 0 }' "$2/primitives.before" "$2/primitives.after"
}

# A view of the user's own over an aggregate the update creates again stops the update, which says what to do and
# changes nothing; without the view the update goes through.
refuses_over_users_view() {	# refuses_over_users_view DB FROM
	psql_db "$1" -c "CREATE VIEW public.users_per_account AS
	                 SELECT account_id, health_score.active_users(user_id) AS users FROM demo.events GROUP BY account_id" &&
		! psql_db "$1" -v VERBOSITY=verbose -c 'ALTER EXTENSION health_score UPDATE' 2>"$work/refused" &&
		grep -q '2BP01' "$work/refused" && grep -q 'view public.users_per_account' "$work/refused" &&
		grep -q 'HINT:  Save their definitions' "$work/refused" &&
		[[ $(psql_db "$1" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'") == "$2" ]] &&
		psql_db "$1" -c 'DROP VIEW public.users_per_account' || { cat "$work/refused"; return 1; }
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
		check "their rows are read" snapshot "$db" "$dir/before" &&
		check "the primitives are computed over the demo company, serially and in parallel" primitives "$db" "$dir/primitives.before" &&
		psql_db "$db" -At -c "SELECT code, params FROM health_score.rule" >"$dir/rule_params.before" || continue
	check "a view of the user's own over a recreated aggregate stops the update, naming it (2BP01)" \
		refuses_over_users_view "$db" "$from"
	check "ALTER EXTENSION health_score UPDATE from $from to $current" \
		psql_db "$db" -c 'ALTER EXTENSION health_score UPDATE' || continue
	check "the updated database equals a fresh install of $current" equals_fresh "$db" "$dir/catalog"
	check "every row of every table is kept" kept "$db" "$dir"
	check "every rule parameter is kept, in its rule or in the measure of its window" rule_params_kept "$db" "$dir"
	check "the primitives give what they gave before: decayed_sum within (n - 1) x 2^-53, the others exactly" \
		same_primitives "$db" "$dir"
	check "a refresh at the same as_of raises and clears no flag" refresh_changes_nothing "$db"
	check "its activity source is captured, and a refresh after new events reads incrementally" reads_incrementally "$db"
	check "a measure, a component and a rule of the user's own, and per-profile parameters, work after it" extend_model "$db"
	check "its pg_dump restores into a new database with the same objects and rows" dump_restores "$db" "$dir"
	check "the seeded model scores the demo company as $from did, at three dates" same_scores "$from"
done

echo "upgrade: $passed passed, $failed failed"
((failed == 0 && passed > 0))
