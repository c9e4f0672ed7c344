-- Stage measures: one row per scored account, a column per measure of the catalog (hs_measure) except the
-- composite's own (score, band, score_earlier: the rules stage adds them). This SELECT list is the one
-- definition of each built-in measure but the goals' and plans' (45_goals_plans.sql); measure.description
-- says the same in words.
--   reads   hs_acc, hs_act, hs_sup, hs_srv, hs_tp, hs_obs, hs_met, hs_profile, hs_measure,
--           health_score.override (override_days_left); run; and runs
--           each query measure (kind query) once, with $1 = as_of and the rights of the role refreshing (a
--           superuser runs only queries a superuser wrote: 05_trust.sql)
--   writes  hs_m: account_id, every measure by name, and what the components need besides, in columns
--           whose names start with _ (no measure's can): _profile, _half_life, _expected_per_day,
--           _target_utilisation, _key_features, _features_used, _last_activity_at, _weights, _poor_below,
--           _good_from, _observations, _last_response_at
-- A measure whose source kind is not registered is NULL; a count whose source is, 0 where nothing was
-- counted; days since something that never happened, +Infinity; a query measure's value (NaN read as NULL)
-- where the query returns the account, else NULL. events_90d is NULL in a refresh whose rules and components
-- do not use it (run.count_events_90d): nothing reads it there.
-- Errors: a failing query measure is named with its own error; one returning an account twice, 21000.

-- A query measure as a common table expression of the measures statement, named q<i>: run once, by the
-- process that leads the statement (a subquery joined in a parallel plan would run in every worker).
CREATE FUNCTION health_score._query_measure_cte(query text, i bigint)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- (a new line after the query: a trailing -- comment in it comments out nothing of ours)
	SELECT pg_catalog.format('q%s AS MATERIALIZED (SELECT q.account_id::text AS account_id, NULLIF(q.value::float8, ''NaN'') AS value '
	                         || E'FROM (%s\n) q WHERE q.account_id IS NOT NULL)', $2, $1)
$$;

-- The query measure that fails when run alone, or NULL.
CREATE FUNCTION health_score._failing_query_measure(as_of timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q record;
BEGIN
	FOR q IN SELECT x.name, x.query FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		BEGIN
			-- (both columns used, so that neither is planned away)
			EXECUTE pg_catalog.format(E'SELECT count(q.account_id::text), count(q.value::float8) FROM (%s\n) q', q.query)
			  USING as_of;
		EXCEPTION WHEN OTHERS THEN
			RETURN q.name;
		END;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE FUNCTION health_score._stage_measures(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	extra text;
	query_ctes text;
	query_joins text;
	q record;
	failing text;
	dup text;
	msg text; det text; hnt text; st text;
BEGIN
	-- work tables have no statistics until analyzed; without them the joins below plan badly (the join
	-- key is all the planner needs: analyzing only it skips the wide columns)
	PERFORM health_score._work_analyze('{hs_act,hs_sup,hs_srv,hs_tp,hs_obs,hs_met}', 'account_id');
	-- The names of the key features in a bitmask, in the profile's order: built once for each profile and
	-- bitmask that occurs, not once for each account.
	PERFORM health_score._work_create('hs_kf', $q$AS
	SELECT x.profile, x.bits,
	       ARRAY(SELECT f FROM pg_catalog.unnest(p.key_features) f
	              WHERE (x.bits >> (pg_catalog.array_position(($1).key_features, f) - 1)) & 1 = 1) AS features
	  FROM (SELECT DISTINCT a.profile, b.bits
	          FROM pg_temp.hs_acc a
	          JOIN pg_temp.hs_act act ON act.account_id = a.account_id,
	               LATERAL (VALUES (act.kf_used_30), (act.kf_since_adopt & ~act.kf_before_adopt)) b (bits)) x
	  JOIN pg_temp.hs_profile p ON p.name = x.profile$q$, run, '*');

	-- the measures of the other kinds: the last touchpoint of a kind, a metric, a query's value; a query is
	-- a common table expression of this statement, so that its rows are never written anywhere but in hs_m
	FOR q IN SELECT x.name, x.query, x.owner FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		PERFORM health_score._check_measure_trust(q.name, q.owner, q.query);
	END LOOP;
	SELECT coalesce(pg_catalog.string_agg(CASE m.kind
	           WHEN 'touchpoint' THEN CASE WHEN run.has_touch_kind
	                THEN pg_catalog.format(', coalesce(pg_catalog.date_part(''epoch'', $1 - tp.%1$I) / 86400, ''Infinity'') AS %1$I', m.name)
	                ELSE pg_catalog.format(', NULL::float8 AS %I', m.name) END
	           WHEN 'metric' THEN pg_catalog.format(', met.%1$I AS %1$I', m.name)
	           WHEN 'query' THEN pg_catalog.format(', q%s.value AS %I', m.i, m.name) END, '' ORDER BY m.name), ''),
	       coalesce('WITH ' || pg_catalog.string_agg(health_score._query_measure_cte(m.query, m.i), ', ' ORDER BY m.name)
	                    FILTER (WHERE m.kind = 'query'), ''),
	       coalesce(pg_catalog.string_agg(pg_catalog.format(' LEFT JOIN q%s ON q%s.account_id = a.account_id', m.i, m.i), '' ORDER BY m.name)
	                    FILTER (WHERE m.kind = 'query'), '')
	  INTO extra, query_ctes, query_joins
	  FROM (SELECT x.*, pg_catalog.row_number() OVER (PARTITION BY x.kind = 'query' ORDER BY x.name) AS i
	          FROM pg_temp.hs_measure x WHERE x.kind <> 'builtin') m;

	BEGIN
		EXECUTE pg_catalog.format($q$
		CREATE UNLOGGED TABLE %s AS
		%s
		SELECT a.account_id,
		       -- accounts
		       a.seats,
		       a.arr,
		       a.renewal_date - $1::date AS days_to_renewal,
		       pg_catalog.date_part('epoch', $1 - a.started_at) / 86400 AS account_age_days,
		       -- activity
		       CASE WHEN $2 THEN coalesce(act.events, 0) END AS events_total,
		       CASE WHEN $2 THEN coalesce(act.events_30, 0) END AS events_30d,
		       CASE WHEN $2 AND $9 THEN coalesce(act.events_90, 0) END AS events_90d,
		       CASE WHEN $2 THEN coalesce(pg_catalog.date_part('epoch', $1 - act.last_activity_at) / 86400, 'Infinity') END
		           AS days_since_activity,
		       CASE WHEN $2 THEN coalesce(act.decayed[pg_catalog.array_position($8, pg_catalog.date_part('epoch', a.half_life))], 0) END
		           AS decayed_events,
		       CASE WHEN $3 THEN coalesce(act.users_30, 0) END AS active_users_30d,
		       CASE WHEN $3 THEN coalesce(act.users_prev_30, 0) END AS active_users_prev_30d,
		       CASE WHEN $3 AND act.users_prev_30 > 0
		            THEN (act.users_prev_30 - coalesce(act.users_30, 0))::float8 / act.users_prev_30 END AS active_users_decline,
		       CASE WHEN $3 THEN coalesce(act.new_users, 0) END AS new_users,
		       CASE WHEN $3 AND act.users_30 > 0 THEN act.events_30::float8 / act.users_30 END AS events_per_active_user_30d,
		       health_score.utilisation(CASE WHEN $3 THEN coalesce(act.users_30, 0) END, a.seats) AS utilisation,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0
		            THEN pg_catalog.cardinality(coalesce(used.features, '{}')) END AS key_features_used_30d,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0
		            THEN pg_catalog.cardinality(coalesce(adopted.features, '{}')) END AS key_features_adopted,
		       -- support cases
		       CASE WHEN $5 THEN coalesce(sup.cases_30, 0) END AS cases_30d,
		       CASE WHEN $5 THEN coalesce(sup.cases_prev_90, 0) END AS cases_prev_90d,
		       CASE WHEN $5 THEN coalesce(sup.open_cases, 0) END AS open_cases,
		       CASE WHEN $5 THEN coalesce(sup.aged_open_cases, 0) END AS aged_open_cases,
		       pg_catalog.date_part('epoch', $1 - sup.oldest_open_at) / 86400 AS oldest_open_case_days,
		       CASE WHEN $5 THEN coalesce(pg_catalog.date_part('epoch', $1 - sup.last_case_at) / 86400, 'Infinity') END
		           AS days_since_last_case,
		       CASE WHEN $5 THEN coalesce(sup.open_high, 0) END AS open_high_priority_cases,
		       -- surveys
		       CASE WHEN $6 THEN coalesce(srv.responses_90, 0) END AS responses_90d,
		       srv.nps_90 AS nps_90d,
		       srv.avg_rating_90 AS average_rating_90d,
		       CASE WHEN $6 THEN coalesce(srv.promoters_90, 0) END AS promoters_90d,
		       CASE WHEN $6 THEN coalesce(srv.detractors_90, 0) END AS detractors_90d,
		       srv.min_rating_90 AS lowest_rating_90d,
		       CASE WHEN $6 THEN coalesce(srv.detractor_responses, 0) END AS detractor_responses,
		       -- touchpoints
		       CASE WHEN $7 THEN coalesce(pg_catalog.date_part('epoch', $1 - tp.last_response_at) / 86400, 'Infinity') END
		           AS days_since_response,
		       CASE WHEN $7 THEN coalesce(pg_catalog.date_part('epoch', $1 - greatest(tp.last_response_at, sup.last_case_at)) / 86400,
		                                  'Infinity') END AS days_since_contact,
		       CASE WHEN $7 THEN coalesce(tp.unanswered_30, 0) END AS unanswered_outreach_30d,
		       CASE WHEN $7 THEN coalesce(tp.unanswered, 0) END AS unanswered_outreach,
		       -- observations
		       coalesce(obs.open_observations, 0) AS open_observations,
		       -- overrides (set_override): in force from when set until it expires
		       CASE WHEN ov.set_at <= $1 AND ov.expires_at > $1
		            THEN pg_catalog.date_part('epoch', ov.expires_at - $1) / 86400 END AS override_days_left,
		       -- goals and plans: the next stage (45_goals_plans.sql) fills them in for the accounts with any
		       NULL::float8 AS goal_attainment, NULL::float8 AS goal_shortfall, NULL::bigint AS plan_breaches
		       %s,
		       -- for the components
		       a.profile AS _profile, a.half_life AS _half_life, a.target_utilisation AS _target_utilisation,
		       a.expected_events_per_user_day
		           * CASE WHEN a.seats > 0 THEN a.seats * a.target_utilisation
		                  ELSE greatest(coalesce(act.users_30, 0), 1) END AS _expected_per_day,
		       a.key_features AS _key_features,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0 THEN coalesce(used.features, '{}') END AS _features_used,
		       act.last_activity_at AS _last_activity_at, a.weight_array AS _weights, a.poor_below AS _poor_below,
		       a.good_from AS _good_from, obs.observations AS _observations, tp.last_response_at AS _last_response_at
		  FROM pg_temp.hs_acc a
		  LEFT JOIN pg_temp.hs_act act ON act.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_sup sup ON sup.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_srv srv ON srv.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_tp tp ON tp.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_obs obs ON obs.account_id = a.account_id
		  LEFT JOIN health_score.override ov ON ov.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_met met ON met.account_id = a.account_id
		  %s
		  LEFT JOIN pg_temp.hs_kf used ON used.profile = a.profile AND used.bits = act.kf_used_30
		  LEFT JOIN pg_temp.hs_kf adopted ON adopted.profile = a.profile
		                      AND adopted.bits = act.kf_since_adopt & ~act.kf_before_adopt
		$q$, health_score._work_table('hs_m'), query_ctes, extra, query_joins)
		USING run.as_of, run.has_activity, run.has_users, run.has_feature, run.has_support, run.has_surveys,
		      run.has_touch, run.halflife_seconds, run.count_events_90d;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		failing := health_score._failing_query_measure(run.as_of);
		PERFORM health_score._reraise(CASE WHEN failing IS NULL THEN 'refresh failed computing the measures: ' || msg
		                                   ELSE pg_catalog.format('refresh failed computing measure %s: %s', failing, msg) END,
		                              st, det, hnt);
	END;
	PERFORM health_score._work_publish('hs_m');
	-- one row per account, unless a query measure returned an account twice
	IF (SELECT count(*) FROM pg_temp.hs_m) <> (SELECT count(*) FROM pg_temp.hs_acc) THEN
		FOR q IN SELECT x.name, x.query FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
			EXECUTE pg_catalog.format(E'SELECT q.account_id::text FROM (%s\n) q GROUP BY q.account_id HAVING count(*) > 1 LIMIT 1', q.query)
			   INTO dup USING run.as_of;
			IF dup IS NOT NULL THEN
				RAISE EXCEPTION 'refresh failed computing measure %: it returned account % more than once', q.name, dup
					USING ERRCODE = 'cardinality_violation',
					      HINT = 'A measure''s query returns one row per account: GROUP BY account_id.';
			END IF;
		END LOOP;
	END IF;
	PERFORM health_score._work_analyze('{hs_m}', 'account_id');
END
$$;
