-- The early-warning rules, evaluated by refresh() over the per-account measures in pg_temp.hs_m (m) and
-- the score of days earlier in pg_temp.hs_prev (h). Each rule is a condition and its evidence: the
-- numbers that tripped it and the thresholds they were compared with. All enabled rules are evaluated in
-- one pass over the measures. A custom rule code (not seeded) has no evaluation here and raises nothing.

-- A numeric rule parameter as SQL text: validated as a number whatever the table holds.
CREATE FUNCTION health_score._num(p jsonb, key text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ((p ->> key)::float8)::text $$;

-- The SQL condition and evidence of one rule, its effective params p inlined as literals; $1 is as_of.
-- has_* say which source kinds are registered: a rule whose data is absent never trips.
CREATE FUNCTION health_score._rule_sql(code text, p jsonb, has_activity boolean, has_users boolean,
									   has_feature boolean, has_support boolean, has_touch boolean,
									   OUT cond text, OUT evidence text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- a parameter as a SQL literal: numbers as float8, band as text
	n text;
	d text;
BEGIN
	IF health_score._rule_defaults(code) IS NULL THEN
		RETURN;  -- a custom rule: nothing evaluates it, and its parameters are not read
	END IF;
	d := pg_catalog.format('(%s::float8 * interval ''1 day'')', coalesce(health_score._num(p, 'days'), '0'));
	CASE code
	WHEN 'inactive' THEN
		cond := CASE WHEN has_activity THEN pg_catalog.format(
			'(m.last_activity_at IS NULL OR m.last_activity_at <= $1 - %1$s) AND (m.started_at IS NULL OR m.started_at <= $1 - %1$s)', d)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('last_activity_at', m.last_activity_at,
			'days_since_activity', pg_catalog.round((EXTRACT(epoch FROM $1 - m.last_activity_at) / 86400)::numeric, 1),
			'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'infrequent_logins' THEN
		n := health_score._num(p, 'min_events_per_user');
		cond := CASE WHEN has_users THEN pg_catalog.format('m.users_30 > 0 AND m.events_30::float8 / m.users_30 < %s', n)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('events_30d', m.events_30, 'active_users_30d', m.users_30,
			'events_per_active_user', pg_catalog.round(m.events_30::numeric / m.users_30, 2), 'min_events_per_user', %s)$e$, n);
	WHEN 'licence_gap' THEN
		n := health_score._num(p, 'below');
		cond := pg_catalog.format('m.utilisation_ratio < %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30, 'seats', m.seats,
			'utilisation', pg_catalog.round(m.utilisation_ratio::numeric, 3), 'below', %s)$e$, n);
	WHEN 'over_licensed' THEN
		n := health_score._num(p, 'above');
		cond := pg_catalog.format('m.utilisation_ratio > %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30, 'seats', m.seats,
			'utilisation', pg_catalog.round(m.utilisation_ratio::numeric, 3), 'above', %s,
			'extra_users', m.users_30 - m.seats)$e$, n);
	WHEN 'key_features_unused' THEN
		n := health_score._num(p, 'min_used');
		cond := CASE WHEN has_feature THEN pg_catalog.format(
			'm.features_used IS NOT NULL AND m.events_30 > 0 AND pg_catalog.cardinality(m.features_used) < %s', n)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('key_features', m.key_features, 'used_30d', m.features_used,
			'events_30d', m.events_30, 'min_used', %s)$e$, n);
	WHEN 'active_users_decline' THEN
		cond := CASE WHEN has_users THEN pg_catalog.format(
			'm.users_prev_30 > 0 AND m.users_prev_30 >= %s AND (m.users_prev_30 - m.users_30)::float8 / m.users_prev_30 >= %s - 1e-9',
			health_score._num(p, 'min_previous_users'), health_score._num(p, 'min_decline'))
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30,
			'active_users_previous_30d', m.users_prev_30, 'decline', pg_catalog.round(1 - m.users_30::numeric / m.users_prev_30, 3),
			'min_decline', %s, 'min_previous_users', %s)$e$, health_score._num(p, 'min_decline'), health_score._num(p, 'min_previous_users'));
	WHEN 'support_spike' THEN
		cond := CASE WHEN has_support THEN pg_catalog.format(
			'm.cases_30 >= %s AND m.cases_30 >= %s * m.cases_prev_90 / 3.0', health_score._num(p, 'min_cases'), health_score._num(p, 'factor'))
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('cases_30d', m.cases_30, 'cases_previous_90d', m.cases_prev_90,
			'monthly_average_previous_90d', pg_catalog.round(m.cases_prev_90::numeric / 3, 2),
			'factor', %s, 'min_cases', %s)$e$, health_score._num(p, 'factor'), health_score._num(p, 'min_cases'));
	WHEN 'long_open_case' THEN
		cond := CASE WHEN has_support THEN 'm.aged_open_cases > 0' ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('open_cases_over_days', m.aged_open_cases,
			'open_cases', m.open_cases, 'oldest_opened_at', m.oldest_open_at,
			'oldest_age_days', pg_catalog.round((EXTRACT(epoch FROM $1 - m.oldest_open_at) / 86400)::numeric, 1),
			'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'silent_account' THEN
		-- without touchpoints, silence cannot be told
		cond := CASE WHEN has_touch THEN pg_catalog.format(
			'coalesce(m.cases_silent, 0) = 0 AND coalesce(m.open_cases, 0) = 0 AND coalesce(m.inbound_silent, 0) = 0
			 AND coalesce(m.answered_silent, 0) = 0 AND (m.started_at IS NULL OR m.started_at <= $1 - %s)', d)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('cases_opened', coalesce(m.cases_silent, 0),
			'open_cases', coalesce(m.open_cases, 0), 'inbound_contacts', coalesce(m.inbound_silent, 0),
			'answered_outreach', coalesce(m.answered_silent, 0), 'last_case_at', m.last_case_at,
			'last_response_at', m.last_response_at, 'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'unreturned_contact' THEN
		n := health_score._num(p, 'min_unanswered');
		cond := CASE WHEN has_touch THEN pg_catalog.format('m.unanswered >= %s', n) ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('unanswered_outbound', m.unanswered,
			'last_response_at', m.last_response_at, 'min_unanswered', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'detractor' THEN
		cond := 'm.detractor_responses > 0';
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('detractor_responses', m.detractor_responses,
			'lowest_rating', m.min_rating, 'categories', m.detractor_categories, 'last_detractor_at', m.last_detractor_at,
			'max_rating', %s, 'days', %s)$e$, health_score._num(p, 'max_rating'), health_score._num(p, 'days'));
	WHEN 'observation' THEN
		n := health_score._num(p, 'min_open');
		cond := pg_catalog.format('m.open_observations > 0 AND m.open_observations >= %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('open_observations', m.open_observations,
			'observations', m.observations, 'min_open', %s)$e$, n);
	WHEN 'renewal_risk' THEN
		cond := pg_catalog.format('m.renewal_date >= $1::date AND m.renewal_date <= ($1 + %s)::date AND m.band = %L',
			d, p ->> 'band');
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('renewal_date', m.renewal_date,
			'days_to_renewal', m.renewal_date - $1::date, 'score', pg_catalog.round(m.score::numeric, 1), 'band', m.band,
			'days', %s, 'band_at_risk', %L)$e$, health_score._num(p, 'days'), p ->> 'band');
	WHEN 'score_drop' THEN
		n := health_score._num(p, 'min_drop');
		cond := pg_catalog.format('h.score - m.score >= %s - 1e-9', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('score', pg_catalog.round(m.score::numeric, 1),
			'previous_score', pg_catalog.round(h.score::numeric, 1), 'previous_as_of', h.as_of,
			'drop', pg_catalog.round((h.score - m.score)::numeric, 1), 'min_drop', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'new_users' THEN
		n := health_score._num(p, 'min_new_users');
		cond := CASE WHEN has_users THEN pg_catalog.format('m.new_users >= %s', n) ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('new_users', m.new_users, 'active_users_30d', m.users_30,
			'min_new_users', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'feature_adopted' THEN
		cond := CASE WHEN has_feature THEN 'pg_catalog.cardinality(m.features_new) > 0' ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('features', m.features_new, 'days', %s)$e$, health_score._num(p, 'days'));
	END CASE;
END
$$;

-- One statement inserting the hits of the given rules into pg_temp.hs_hits.
CREATE FUNCTION health_score._rules_sql(codes text[], rp jsonb, has_activity boolean, has_users boolean,
										has_feature boolean, has_support boolean, has_touch boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'INSERT INTO pg_temp.hs_hits (account_id, rule, evidence) '
	    || 'SELECT v.account_id, v.rule, v.evidence FROM (SELECT m.account_id, '
	    -- two arrays unnested side by side in the select list rather than a VALUES list, which compiles its
	    -- expressions again for every account (and the evidence expressions are large), or a function
	    -- scan, which stores each account's rows before reading them back
	    || pg_catalog.format('pg_catalog.unnest(%L::text[]) AS rule, ', pg_catalog.array_agg(x.code ORDER BY x.code))
	    || 'pg_catalog.unnest(ARRAY['
	    || pg_catalog.string_agg(pg_catalog.format('CASE WHEN %s THEN %s END', r.cond, r.evidence), ', '
	                             ORDER BY x.code)
	    || ']::jsonb[]) AS evidence FROM pg_temp.hs_m m '
	    || 'LEFT JOIN pg_temp.hs_prev h ON h.account_id = m.account_id) v WHERE v.evidence IS NOT NULL'
	  FROM pg_catalog.unnest($1) AS x (code),
	       LATERAL health_score._rule_sql(x.code, $2 -> x.code, $3, $4, $5, $6, $7) r
	 WHERE r.cond IS NOT NULL
$$;
