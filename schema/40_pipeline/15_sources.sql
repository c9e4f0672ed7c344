-- Stage sources: checks every registered source before any row is read, adds the metric names and
-- touchpoint kinds the sources now hold to the measures, and decides the run.
--   reads   health_score.sources, health_score.measure, hs_profile
--   writes  hs_measure (the measures, read once)
--   returns the run (00_stage.sql): key types, the source kinds present, half-lives, key features and
--           every window bound of this as_of
-- Errors: 42P01-style (undefined_table) for a dropped source, 42804 for mismatched keys, 42501 for a source
-- the role may not read or, for a superuser, one a less trusted role could change (05_trust.sql).
CREATE FUNCTION health_score._stage_sources(as_of timestamptz)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run health_score._run;
	acc_src record;
	r record;
	mp jsonb;
BEGIN
	SELECT s.* INTO acc_src FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'refresh failed: no accounts source is registered'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register one: SELECT health_score.add_source(''accounts'', ''public.accounts'');';
	END IF;
	run.as_of := as_of;
	run.keytype := health_score._key_type(acc_src.key_type::regtype);
	FOR r IN SELECT s.kind, s.relation, s.key_type, s.columns || s.dimensions AS columns FROM health_score.sources s ORDER BY s.kind, s.relation::oid LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.relation) THEN
			RAISE EXCEPTION 'refresh failed: the % source with OID % no longer exists', r.kind, r.relation::oid
				USING ERRCODE = 'undefined_table',
				      HINT = pg_catalog.format('Unregister it: SELECT health_score.drop_source(%L, %s);', r.kind, r.relation::oid);
		END IF;
		IF health_score._key_type(r.key_type::regtype) IS DISTINCT FROM run.keytype THEN
			RAISE EXCEPTION 'refresh failed reading % source %: its account keys are %, the accounts source''s are %',
				r.kind, r.relation, r.key_type, acc_src.key_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		PERFORM health_score._check_source_trust(r.kind, r.relation);
		IF EXISTS (SELECT FROM pg_catalog.jsonb_each_text(r.columns) c
		            WHERE NOT pg_catalog.has_column_privilege(r.relation, c.value, 'SELECT')) THEN
			RAISE EXCEPTION 'refresh failed: permission denied to read % source %', r.kind, r.relation
				USING ERRCODE = 'insufficient_privilege',
				      HINT = pg_catalog.format('GRANT SELECT ON %s TO %I; or, as a superuser, SELECT health_score.grant_refresh(%L);',
				                               r.relation, current_user, current_user);
		END IF;
	END LOOP;
	SELECT coalesce(bool_or(s.kind = 'activity'), false),
	       coalesce(bool_or(s.kind = 'activity' AND s.columns ? 'user_id'), false),
	       coalesce(bool_or(s.kind = 'activity' AND s.columns ? 'feature'), false),
	       coalesce(bool_or(s.kind = 'support_cases'), false), coalesce(bool_or(s.kind = 'surveys'), false),
	       coalesce(bool_or(s.kind = 'touchpoints'), false),
	       coalesce(bool_or(s.kind = 'touchpoints' AND s.columns ? 'kind'), false),
	       coalesce(bool_or(s.kind = 'metrics'), false)
	  INTO run.has_activity, run.has_users, run.has_feature, run.has_support, run.has_surveys, run.has_touch,
	       run.has_touch_kind, run.has_metrics
	  FROM health_score.sources s;
	-- only now that every source is checked may one be read
	PERFORM health_score._discover_measures();
	PERFORM health_score._work_create('hs_measure', 'AS SELECT * FROM health_score.measure');
	-- user keys keep their type when every activity source agrees on one, else they are compared as text
	SELECT CASE WHEN count(DISTINCT f) = 1 THEN min(f) ELSE 'text' END INTO run.usertype
	  FROM (SELECT health_score._key_type(a.atttypid::regtype) AS f
	          FROM health_score.sources s
	          JOIN pg_catalog.pg_attribute a ON a.attrelid = s.relation AND a.attname = s.columns ->> 'user_id'
	         WHERE s.kind = 'activity' AND s.columns ? 'user_id') u;

	-- One decayed sum per half-life, told apart by its length in seconds as the decay counts it: intervals
	-- compare '1 year' equal to '360 days', which decay at different rates.
	SELECT coalesce(pg_catalog.array_agg(h.half_life ORDER BY h.seconds), '{}'),
	       coalesce(pg_catalog.array_agg(h.seconds ORDER BY h.seconds), '{}')
	  INTO run.halflives, run.halflife_seconds
	  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', p.half_life)) p.half_life,
	               pg_catalog.date_part('epoch', p.half_life) AS seconds
	          FROM pg_temp.hs_profile p ORDER BY 2) h;
	SELECT coalesce(pg_catalog.array_agg(DISTINCT f ORDER BY f), '{}') INTO run.key_features
	  FROM pg_temp.hs_profile p, pg_catalog.unnest(p.key_features) f;
	IF run.has_feature AND pg_catalog.cardinality(run.key_features) > 62 THEN
		RAISE EXCEPTION 'refresh failed: profiles name % distinct key features, at most 62 are supported',
			pg_catalog.cardinality(run.key_features) USING ERRCODE = 'program_limit_exceeded';
	END IF;

	-- The windows: fixed ones, and those the built-in measures' params set.
	SELECT pg_catalog.jsonb_object_agg(m.name, m.params) INTO mp FROM pg_temp.hs_measure m WHERE m.kind = 'builtin';
	run.w30 := as_of - interval '30 days';
	run.w60 := as_of - interval '60 days';
	run.w90 := as_of - interval '90 days';
	run.w120 := as_of - interval '120 days';
	run.new_users_from := as_of - (mp #>> '{new_users,days}')::float8 * interval '1 day';
	run.adopted_from := as_of - (mp #>> '{key_features_adopted,days}')::float8 * interval '1 day';
	run.aged_before := as_of - (mp #>> '{aged_open_cases,days}')::float8 * interval '1 day';
	run.unanswered_from := as_of - (mp #>> '{unanswered_outreach,days}')::float8 * interval '1 day';
	run.detractor_from := as_of - (mp #>> '{detractor_responses,days}')::float8 * interval '1 day';
	run.detractor_max_rating := (mp #>> '{detractor_responses,max_rating}')::float8;
	-- score_earlier: the latest history row between days + tolerance_days and days before as_of
	run.earlier_to := as_of - (mp #>> '{score_earlier,days}')::float8 * interval '1 day';
	run.earlier_from := run.earlier_to - (mp #>> '{score_earlier,tolerance_days}')::float8 * interval '1 day';
	RETURN run;
END
$$;
