-- refresh(): from the registered sources to scores, bands, history and flags, in one transaction.
--
-- Set-based: one aggregate pass per source kind (GROUP BY account over the rows up to as_of), joined to the
-- accounts and their profile into one measures row per account (pg_temp.hs_m), from which the components,
-- the composite, the band and every rule are computed in SQL. Nothing loops over accounts.

-- The rows of every source of one kind under the canonical column names, as a UNION ALL query text.
-- keytype is the type account keys are read as (bigint, text or uuid), usertype the same for user_id;
-- where_fmt, if given, is a WHERE clause in which %1$s stands for the kind's quoted time column.
-- only_relation, if given, restricts the query to that one relation.
CREATE FUNCTION health_score._source_sql(kind text, keytype text, usertype text, where_fmt text,
										 only_relation regclass DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	col record;
	cols text[];
	timecol text;
	parts text[] := '{}';
	expr text;
	typ text;
BEGIN
	FOR src IN
		SELECT s.relation, s.columns FROM health_score.sources s
		 WHERE s.kind = _source_sql.kind AND (only_relation IS NULL OR s.relation = only_relation)
		 ORDER BY s.relation::oid
	LOOP
		cols := '{}';
		timecol := NULL;
		FOR col IN SELECT * FROM health_score._source_columns(kind) LOOP
			typ := CASE col.class
				WHEN 'key' THEN keytype WHEN 'user' THEN coalesce(usertype, 'text')
				WHEN 'time' THEN CASE WHEN col.canonical = 'renewal_date' THEN 'date' ELSE 'timestamptz' END
				WHEN 'count' THEN 'integer' WHEN 'flag' THEN 'boolean'
				WHEN 'number' THEN CASE WHEN col.canonical = 'arr' THEN 'numeric' ELSE 'float8' END
				ELSE 'text' END;
			IF src.columns ? col.canonical THEN
				expr := pg_catalog.format('%I::%s', src.columns ->> col.canonical, typ);
				IF col.class = 'time' AND timecol IS NULL AND col.required THEN
					timecol := pg_catalog.quote_ident(src.columns ->> col.canonical);
				END IF;
			ELSE
				expr := pg_catalog.format('NULL::%s', typ);
			END IF;
			cols := cols || (expr || ' AS ' || pg_catalog.quote_ident(col.canonical));
		END LOOP;
		parts := parts || pg_catalog.format('SELECT %s FROM %s%s', pg_catalog.array_to_string(cols, ', '), src.relation,
			CASE WHEN where_fmt IS NULL THEN '' ELSE ' WHERE ' || pg_catalog.format(where_fmt, timecol) END);
	END LOOP;
	IF pg_catalog.cardinality(parts) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Raises message with the given SQLSTATE, keeping the original error's detail and hint when it had them.
CREATE FUNCTION health_score._reraise(message text, state text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF coalesce(detail, '') <> '' AND coalesce(hint, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, DETAIL = detail, HINT = hint;
	ELSIF coalesce(detail, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, DETAIL = detail;
	ELSIF coalesce(hint, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, HINT = hint;
	ELSE
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state;
	END IF;
END
$$;

-- Runs one stage's query; on failure re-raises with the stage named, and for a source stage finds which
-- relation fails by running the stage once per source (only on the failure path). sql_fmt is a format()
-- string whose %s is the sources' query: values never go into it, they are parameters ($1..$5 the
-- timestamps of args, $6 extra, $7 intervals).
CREATE FUNCTION health_score._run_stage(stage text, kind text, sql_fmt text, keytype text, usertype text,
										where_fmt text, args timestamptz[], extra text[] DEFAULT NULL,
										intervals interval[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
	src record;
	culprit text;
	rels text;
BEGIN
	BEGIN
		-- scalar parameters: an array element would be fetched again for every row and aggregate
		EXECUTE pg_catalog.format(sql_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt))
			USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	SELECT pg_catalog.string_agg(s.relation::text, ', ' ORDER BY s.relation::oid) INTO rels
	  FROM health_score.sources s WHERE s.kind = _run_stage.kind;
	IF (SELECT count(*) FROM health_score.sources s WHERE s.kind = _run_stage.kind) = 1 THEN
		culprit := rels;
	ELSE
		FOR src IN SELECT s.relation FROM health_score.sources s WHERE s.kind = _run_stage.kind ORDER BY s.relation::oid LOOP
			BEGIN
				EXECUTE pg_catalog.format(sql_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt, src.relation))
					USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
				-- the stage creates a temp table: undo it so the next probe can too
				RAISE EXCEPTION USING ERRCODE = 'HS000';
			EXCEPTION
				WHEN SQLSTATE 'HS000' THEN NULL;
				WHEN OTHERS THEN culprit := src.relation::text; EXIT;
			END;
		END LOOP;
	END IF;
	PERFORM health_score._reraise(CASE WHEN culprit IS NOT NULL
			THEN pg_catalog.format('refresh failed reading %s source %s: %s', kind, culprit, msg)
			ELSE pg_catalog.format('refresh failed reading %s sources %s: %s', kind, rels, msg) END, st, det, hnt);
END
$$;

-- The refresh lock: one refresh at a time per database, and sources and rules change only between
-- refreshes. A lock on the extension's own table refresh_lock (30_tables.sql), held until the transaction
-- ends: only roles allowed to refresh can take it. With wait, waits for it (lock_timeout applies); without,
-- returns whether it was free.
CREATE FUNCTION health_score._refresh_lock(wait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF wait THEN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE;
		RETURN true;
	END IF;
	BEGIN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		RETURN false;
	END;
	RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'permission denied to take the health_score refresh lock'
		USING ERRCODE = 'insufficient_privilege',
		      DETAIL = 'Refreshing, changing sources and renaming or deleting rules take the refresh lock, a lock on table health_score.refresh_lock.',
		      HINT = pg_catalog.format('A superuser runs: SELECT health_score.grant_refresh(%L);', current_user);
END
$$;

-- The setting health_score.max_unscored_share: the largest share of the accounts scored now that one refresh
-- may stop scoring (cancelled, gone from the accounts source) without force. 0.5 unless set, e.g. with
-- ALTER DATABASE ... SET health_score.max_unscored_share = 0.2 (or ALTER ROLE, or SET).
CREATE FUNCTION health_score._max_unscored_share()
RETURNS float8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	setting text := pg_catalog.current_setting('health_score.max_unscored_share', true);
	share float8;
BEGIN
	IF coalesce(setting, '') = '' THEN
		RETURN 0.5;
	END IF;
	BEGIN
		share := setting::float8;
	EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
		share := NULL;
	END;
	IF share IS NULL OR NOT (share >= 0 AND share <= 1) THEN
		RAISE EXCEPTION 'health_score.max_unscored_share must be a number from 0 to 1, not %', pg_catalog.quote_literal(setting)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SET health_score.max_unscored_share = 0.5; (the default) or RESET health_score.max_unscored_share;';
	END IF;
	RETURN share;
END
$$;

CREATE FUNCTION health_score.refresh(as_of timestamptz DEFAULT now(), wait boolean DEFAULT true,
									 force boolean DEFAULT false)
RETURNS TABLE (accounts integer, flags_raised integer, flags_cleared integer, elapsed interval)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Short set-based statements: compiling them costs more than it saves. The activity pass keeps a few
-- hash sets per account; 256MB keeps 50,000 accounts in memory (ALTER FUNCTION ... SET work_mem to change).
SET jit = off
SET work_mem = '256MB'
AS $$
#variable_conflict use_column
DECLARE
	t constant timestamptz := refresh.as_of;
	t0 constant timestamptz := pg_catalog.clock_timestamp();
	lap timestamptz := t0;
	timings jsonb := '{}';
	acc_src record;
	keytype text;
	usertype text;
	has_activity boolean; has_users boolean; has_feature boolean;
	has_support boolean; has_surveys boolean; has_touch boolean;
	halflives interval[];
	halflife_seconds float8[];
	kfeatures text[];
	rp jsonb;              -- rule code -> effective params
	enabled_rules text[];
	w30 timestamptz; w60 timestamptz; w90 timestamptz; w120 timestamptz;
	w_new timestamptz; w_long timestamptz; w_silent timestamptz; w_unret timestamptz; w_det timestamptz;
	w_tp timestamptz; w_srv timestamptz; w_adopt timestamptz;
	sql text;
	drop_days float8;
	drop_tolerance float8;
	act_fmt text;
	n_accounts integer;
	n_raised integer := 0;
	n_cleared integer := 0;
	payload jsonb;
	r record;
	msg text; det text; hnt text; st text;
	dup text;
	n_scored_before integer;
	n_unscored integer;
	max_unscored_share float8;
BEGIN
	IF t IS NULL THEN
		RAISE EXCEPTION 'as_of must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Windows reach back up to years before as_of and history is kept by day: only real calendar times.
	IF NOT pg_catalog.isfinite(t) OR t < '1900-01-01' OR t >= '10000-01-01' THEN
		RAISE EXCEPTION 'as_of must be a time from 1900-01-01 to 9999-12-31, not %', t
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the point in time to score, such as now() or ''2026-03-01''.';
	END IF;
	max_unscored_share := health_score._max_unscored_share();

	IF NOT health_score._refresh_lock(wait) THEN
		RAISE NOTICE 'health_score refresh skipped: another refresh is running';
		INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, status, message)
		VALUES (t0, pg_catalog.clock_timestamp(), t, 'skipped', 'another refresh held the lock');
		RETURN QUERY SELECT NULL::integer, NULL::integer, NULL::integer, pg_catalog.clock_timestamp() - t0;
		RETURN;
	END IF;

	-- A run_refresh() whose session ended before it finished (terminated, crashed, disconnected) left its
	-- 'running' row: the lock is ours now, so that run is over.
	UPDATE health_score.refresh_log l
	   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
	       message = 'interrupted: the session running this refresh ended before it finished (terminated, crashed or disconnected)'
	 WHERE l.status = 'running'
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start);

	-- a second refresh in the same transaction starts afresh
	FOR r IN SELECT x FROM pg_catalog.unnest(ARRAY['hs_profile', 'hs_rule', 'hs_acc', 'hs_act', 'hs_flag_changes', 'hs_prev',
	                                               'hs_sup', 'hs_srv', 'hs_tp', 'hs_obs', 'hs_kf', 'hs_m', 'hs_hits']) x
	          WHERE pg_catalog.to_regclass('pg_temp.' || x) IS NOT NULL LOOP
		EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', r.x);
	END LOOP;

	-- Sources --------------------------------------------------------------------------------------------
	SELECT s.* INTO acc_src FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'refresh failed: no accounts source is registered'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register one: SELECT health_score.add_source(''accounts'', ''public.accounts'');';
	END IF;
	keytype := health_score._key_type(acc_src.key_type::regtype);
	FOR r IN SELECT s.kind, s.relation, s.key_type, s.columns FROM health_score.sources s ORDER BY s.kind, s.relation::oid LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.relation) THEN
			RAISE EXCEPTION 'refresh failed: the % source with OID % no longer exists', r.kind, r.relation::oid
				USING ERRCODE = 'undefined_table',
				      HINT = pg_catalog.format('Unregister it: SELECT health_score.drop_source(%L, %s);', r.kind, r.relation::oid);
		END IF;
		IF health_score._key_type(r.key_type::regtype) IS DISTINCT FROM keytype THEN
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
	SELECT bool_or(s.kind = 'activity'), bool_or(s.kind = 'activity' AND s.columns ? 'user_id'),
	       bool_or(s.kind = 'activity' AND s.columns ? 'feature'), bool_or(s.kind = 'support_cases'),
	       bool_or(s.kind = 'surveys'), bool_or(s.kind = 'touchpoints')
	  INTO has_activity, has_users, has_feature, has_support, has_surveys, has_touch
	  FROM health_score.sources s;
	has_activity := coalesce(has_activity, false); has_users := coalesce(has_users, false);
	has_feature := coalesce(has_feature, false);
	has_support := coalesce(has_support, false); has_surveys := coalesce(has_surveys, false);
	has_touch := coalesce(has_touch, false);
	-- user keys keep their type when every activity source agrees on one, else they are compared as text
	SELECT CASE WHEN count(DISTINCT f) = 1 THEN min(f) ELSE 'text' END INTO usertype
	  FROM (SELECT health_score._key_type(a.atttypid::regtype) AS f
	          FROM health_score.sources s
	          JOIN pg_catalog.pg_attribute a ON a.attrelid = s.relation AND a.attname = s.columns ->> 'user_id'
	         WHERE s.kind = 'activity' AND s.columns ? 'user_id') u;

	-- Configuration ----------------------------------------------------------------------------------------
	-- Read once: each statement below sees the same profiles and rules, and an edit made while the refresh
	-- runs takes effect at the next one.
	CREATE TEMP TABLE hs_profile ON COMMIT DROP AS SELECT * FROM health_score.profile;
	CREATE TEMP TABLE hs_rule ON COMMIT DROP AS SELECT * FROM health_score.rule;
	SELECT pg_catalog.jsonb_object_agg(r2.code, coalesce(health_score._rule_defaults(r2.code), '{}') || r2.params),
	       coalesce(pg_catalog.array_agg(r2.code) FILTER (WHERE r2.enabled), '{}')
	  INTO rp, enabled_rules
	  FROM pg_temp.hs_rule r2;
	rp := coalesce(rp, '{}');
	-- One decayed sum per half-life, told apart by its length in seconds as the decay counts it: intervals
	-- compare '1 year' equal to '360 days', which decay at different rates.
	SELECT coalesce(pg_catalog.array_agg(h.half_life ORDER BY h.seconds), '{}'),
	       coalesce(pg_catalog.array_agg(h.seconds ORDER BY h.seconds), '{}')
	  INTO halflives, halflife_seconds
	  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', p.half_life)) p.half_life,
	               pg_catalog.date_part('epoch', p.half_life) AS seconds
	          FROM pg_temp.hs_profile p ORDER BY 2) h;
	SELECT coalesce(pg_catalog.array_agg(DISTINCT f ORDER BY f), '{}') INTO kfeatures
	  FROM pg_temp.hs_profile p, pg_catalog.unnest(p.key_features) f;

	w30 := t - interval '30 days'; w60 := t - interval '60 days';
	w90 := t - interval '90 days'; w120 := t - interval '120 days';
	w_new := t - coalesce((rp #>> '{new_users,days}')::float8, 30) * interval '1 day';
	w_long := t - coalesce((rp #>> '{long_open_case,days}')::float8, 14) * interval '1 day';
	w_silent := t - coalesce((rp #>> '{silent_account,days}')::float8, 90) * interval '1 day';
	w_unret := t - coalesce((rp #>> '{unreturned_contact,days}')::float8, 30) * interval '1 day';
	w_det := t - coalesce((rp #>> '{detractor,days}')::float8, 90) * interval '1 day';
	w_adopt := t - coalesce((rp #>> '{feature_adopted,days}')::float8, 7) * interval '1 day';
	drop_days := coalesce((rp #>> '{score_drop,days}')::float8, 30);
	drop_tolerance := coalesce((rp #>> '{score_drop,tolerance_days}')::float8, 7);
	w_tp := least(w90, w_silent, w_unret);
	w_srv := least(w90, w_det);
	timings := timings || pg_catalog.jsonb_build_object('setup', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Accounts, each with its profile: the most specific match, then the highest priority, then by name.
	PERFORM health_score._run_stage('accounts', 'accounts', $q$
		CREATE TEMP TABLE hs_acc ON COMMIT DROP AS
		-- (read twice, so that the planner sees how few pairs there are and hashes them)
		WITH s AS NOT MATERIALIZED (
		     SELECT s.* FROM (%s) s
		      WHERE s.account_id IS NOT NULL
		        AND (s.started_at IS NULL OR s.started_at <= $1)
		        AND (s.cancelled_at IS NULL OR s.cancelled_at > $1)),
		-- the profile of each (segment, lifecycle stage) pair present, matched once
		pairs AS (
		     SELECT x.segment, x.lifecycle_stage, p.*
		       FROM (SELECT DISTINCT s.segment, s.lifecycle_stage FROM s) x
		       LEFT JOIN LATERAL (
		            SELECT p.name AS profile, p.half_life, p.expected_events_per_user_day, p.target_utilisation,
		                   p.key_features, p.poor_below, p.good_from,
		                   ARRAY[coalesce((p.weights ->> 'engagement')::float8, 0), coalesce((p.weights ->> 'utilisation')::float8, 0),
		                         coalesce((p.weights ->> 'adoption')::float8, 0), coalesce((p.weights ->> 'support')::float8, 0),
		                         coalesce((p.weights ->> 'sentiment')::float8, 0), coalesce((p.weights ->> 'relationship')::float8, 0)]
		                       AS weight_array
		              FROM pg_temp.hs_profile p
		             WHERE (p.segment IS NULL OR p.segment = x.segment)
		               AND (p.lifecycle_stage IS NULL OR p.lifecycle_stage = x.lifecycle_stage)
		             ORDER BY (p.segment IS NOT NULL)::integer + (p.lifecycle_stage IS NOT NULL)::integer DESC,
		                      p.priority DESC, p.name
		             LIMIT 1) p ON true)
		SELECT s.account_id::text AS account_id, s.name, s.segment, s.lifecycle_stage, s.plan, s.owner, s.seats,
		       s.arr, s.renewal_date, s.started_at, s.cancelled_at,
		       p.profile, p.half_life, p.expected_events_per_user_day, p.target_utilisation, p.key_features,
		       p.weight_array, p.poor_below, p.good_from
		  FROM s
		  -- NULL-safe and hashable: 'v' || value, or 'n' for NULL
		  JOIN pairs p ON coalesce('v' || p.segment, 'n') = coalesce('v' || s.segment, 'n')
		              AND coalesce('v' || p.lifecycle_stage, 'n') = coalesce('v' || s.lifecycle_stage, 'n')
		$q$, keytype, NULL, NULL, ARRAY[t]);
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a GROUP BY a.account_id HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed reading accounts source %: account_id % appears more than once', acc_src.relation, dup
			USING ERRCODE = 'cardinality_violation';
	END IF;
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a WHERE a.profile IS NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed: no profile matches account %', dup
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Keep a catch-all profile (segment and lifecycle_stage NULL), such as the seeded ''default''.';
	END IF;
	SELECT count(*) INTO n_accounts FROM pg_temp.hs_acc;

	-- An accounts source emptied or cut short (mid-ETL, a broken view) would clear the flags of every account
	-- it lost, and raise them again as new, their history gone, once it is back: stop instead, unless forced.
	SELECT count(*), count(*) FILTER (WHERE h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a))
	  INTO n_scored_before, n_unscored
	  FROM health_score.account_health h;
	IF NOT force AND n_unscored > 0 AND n_unscored > max_unscored_share * n_scored_before THEN
		RAISE EXCEPTION 'refresh would stop scoring % of the % accounts scored now (% %%), more than health_score.max_unscored_share (%)',
			n_unscored, n_scored_before, pg_catalog.round(100.0 * n_unscored / n_scored_before, 1), max_unscored_share
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('The accounts source %s gives %s accounts started and not cancelled by as_of %s. Nothing was changed.',
			                                 acc_src.relation, n_accounts, t),
			      HINT = 'If the accounts are really gone (cancelled, removed from the source), refresh with force => true: '
			             'SELECT * FROM health_score.refresh(force => true); if the source is being reloaded, refresh once it is complete.';
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('accounts', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Activity: one pass over every activity row up to as_of, with two aggregates: _activity_measures for
	-- the counts, the decayed sums of every profile's half-life and the key features used (bits of a bigint,
	-- by position in kfeatures), user_windows for the users. $1..$5 = as_of, -30d, -60d, new-users cut,
	-- feature-adopted cut.
	IF has_activity THEN
		IF pg_catalog.cardinality(kfeatures) > 62 THEN
			RAISE EXCEPTION 'refresh failed: profiles name % distinct key features, at most 62 are supported',
				pg_catalog.cardinality(kfeatures) USING ERRCODE = 'program_limit_exceeded';
		END IF;
		act_fmt := pg_catalog.format(
			'CREATE TEMP TABLE hs_act ON COMMIT DROP AS SELECT a.account_id::text AS account_id, (a.m).events, '
			'(a.m).recent_events AS events_30, (a.m).last_at AS last_activity_at, (a.m).decayed, '
			'a.users[1] AS users_30, a.users[2] AS users_prev_30, a.users[3] AS new_users, '
			'(a.m).recent_features AS kf_used_30, (a.m).features_before_adopt AS kf_before_adopt, '
			'(a.m).features_since_adopt AS kf_since_adopt '
			'FROM (SELECT s.account_id, health_score._activity_measures(s.occurred_at, s.feature, s.weight, $1, $2, $5, '
			'$7, $6) AS m, %s AS users FROM (%%s) s GROUP BY s.account_id) a',
			CASE WHEN has_users THEN 'health_score.user_windows(s.user_id, s.occurred_at, $1, $2, $3, $4)'
			     ELSE 'NULL::bigint[]' END);
		PERFORM health_score._run_stage('activity', 'activity', act_fmt, keytype, usertype, '%1$s <= $1',
			ARRAY[t, w30, w60, w_new, w_adopt], CASE WHEN has_feature THEN kfeatures ELSE '{}' END, halflives);

	ELSE
		CREATE TEMP TABLE hs_act (account_id text, events bigint, events_30 bigint, last_activity_at timestamptz,
			decayed float8[], users_30 bigint, users_prev_30 bigint, new_users bigint,
			kf_used_30 bigint, kf_before_adopt bigint, kf_since_adopt bigint) ON COMMIT DROP;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('activity', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Support cases. $1..$5 = as_of, -30d, -120d, silent cut, long-open cut.
	IF has_support THEN
		PERFORM health_score._run_stage('support_cases', 'support_cases', $q$
			CREATE TEMP TABLE hs_sup ON COMMIT DROP AS
			SELECT s.account_id::text AS account_id,
			       count(*) FILTER (WHERE s.opened_at > $2) AS cases_30,
			       count(*) FILTER (WHERE s.opened_at > $3 AND s.opened_at <= $2) AS cases_prev_90,
			       count(*) FILTER (WHERE s.opened_at > $4) AS cases_silent,
			       count(*) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS open_cases,
			       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1) AND s.opened_at < $5) AS aged_open_cases,
			       min(s.opened_at) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS oldest_open_at,
			       max(s.opened_at) AS last_case_at
			  FROM (%s) s
			 GROUP BY s.account_id
			$q$, keytype, NULL, '%1$s <= $1', ARRAY[t, w30, w120, w_silent, w_long]);
	ELSE
		CREATE TEMP TABLE hs_sup (account_id text, cases_30 bigint, cases_prev_90 bigint, cases_silent bigint,
			open_cases bigint, aged_open_cases bigint, oldest_open_at timestamptz, last_case_at timestamptz) ON COMMIT DROP;
	END IF;

	-- Surveys: ratings of the last 90 days (and of the detractor window). $1..$4 = as_of, -90d, detractor cut,
	-- scan start; the detractor max rating is a literal.
	IF has_surveys THEN
		PERFORM health_score._run_stage('surveys', 'surveys', pg_catalog.format($q$
			CREATE TEMP TABLE hs_srv ON COMMIT DROP AS
			SELECT s.account_id::text AS account_id,
			       count(s.rating) FILTER (WHERE s.responded_at > $2) AS responses_90,
			       health_score.nps(pg_catalog.round(s.rating)::integer) FILTER (WHERE s.responded_at > $2) AS nps_90,
			       avg(s.rating) FILTER (WHERE s.responded_at > $2) AS avg_rating_90,
			       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating >= 9) AS promoters_90,
			       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating <= 6) AS detractors_90,
			       count(*) FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$s) AS detractor_responses,
			       min(s.rating) FILTER (WHERE s.responded_at > $3) AS min_rating,
			       pg_catalog.array_agg(DISTINCT coalesce(s.category, 'overall'))
			           FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$s) AS detractor_categories,
			       max(s.responded_at) FILTER (WHERE s.rating <= %1$s) AS last_detractor_at
			  FROM (%%s) s
			 WHERE s.rating IS NOT NULL
			 GROUP BY s.account_id
			$q$, coalesce((rp #>> '{detractor,max_rating}')::float8, 6)),
			keytype, NULL, '%1$s <= $1 AND %1$s > $4', ARRAY[t, w90, w_det, w_srv]);
	ELSE
		CREATE TEMP TABLE hs_srv (account_id text, responses_90 bigint, nps_90 float8, avg_rating_90 float8,
			promoters_90 bigint, detractors_90 bigint, detractor_responses bigint, min_rating float8,
			detractor_categories text[], last_detractor_at timestamptz) ON COMMIT DROP;
	END IF;

	-- Touchpoints of the longest window needed, in one scan. $1..$5 = as_of, -30d, silent cut, unreturned cut,
	-- scan start.
	IF has_touch THEN
		PERFORM health_score._run_stage('touchpoints', 'touchpoints', $q$
			CREATE TEMP TABLE hs_tp ON COMMIT DROP AS
			SELECT r.account_id::text AS account_id, r.last_response_at, r.inbound_silent, r.answered_silent,
			       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
			         WHERE o > $4 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered,
			       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
			         WHERE o > $2 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered_30
			  FROM (SELECT s.account_id,
			               max(s.occurred_at) FILTER (WHERE s.direction = 'inbound'
			                                             OR (s.direction = 'outbound' AND s.answered))
			                   AS last_response_at,
			               count(*) FILTER (WHERE s.direction = 'inbound' AND s.occurred_at > $3) AS inbound_silent,
			               count(*) FILTER (WHERE s.direction = 'outbound' AND s.answered AND s.occurred_at > $3)
			                   AS answered_silent,
			               -- outreach not answered, within the longer of the two windows: kept per account (a few
			               -- rows) so that one scan serves both, and compared with the last response above
			               pg_catalog.array_agg(s.occurred_at) FILTER (WHERE s.direction = 'outbound'
			                   AND s.answered IS FALSE AND s.occurred_at > least($4, $2)) AS outreach
			          -- (OFFSET 0 keeps the subquery, so that the direction is lowered once per row, not per use;
			          -- the directions are ASCII words, which the "C" collation lowers byte by byte)
			          FROM (SELECT s.account_id, s.occurred_at, pg_catalog.lower(s.direction COLLATE "C") AS direction,
			                       s.answered
			                  FROM (%s) s OFFSET 0) s
			         GROUP BY s.account_id) r
			$q$, keytype, NULL, '%1$s <= $1 AND %1$s > $5', ARRAY[t, w30, w_silent, w_unret, w_tp]);
	ELSE
		CREATE TEMP TABLE hs_tp (account_id text, last_response_at timestamptz, inbound_silent bigint,
			answered_silent bigint, unanswered bigint, unanswered_30 bigint) ON COMMIT DROP;
	END IF;

	-- Observations open at as_of.
	CREATE TEMP TABLE hs_obs ON COMMIT DROP AS
	SELECT o.account_id, count(*) AS open_observations,
	       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('indicator', o.indicator, 'note', o.note,
	           'observed_by', o.observed_by, 'observed_at', o.observed_at) ORDER BY o.observed_at, o.id) AS observations
	  FROM health_score.observation o
	 WHERE o.observed_at <= t AND (o.resolved_at IS NULL OR o.resolved_at > t)
	 GROUP BY o.account_id;
	timings := timings || pg_catalog.jsonb_build_object('other_sources', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Measures and components ---------------------------------------------------------------------------
	-- temp tables have no statistics until analyzed; without them the joins below plan badly
	-- (the join key is all the planner needs: analyzing only it skips the wide columns)
	ANALYZE pg_temp.hs_acc (account_id), pg_temp.hs_act (account_id),
		pg_temp.hs_sup (account_id), pg_temp.hs_srv (account_id), pg_temp.hs_tp (account_id),
		pg_temp.hs_obs (account_id);
	BEGIN
		-- The names of the key features in a bitmask, in the profile's order: built once for each profile and
		-- bitmask that occurs, not once for each account.
		CREATE TEMP TABLE hs_kf ON COMMIT DROP AS
		SELECT x.profile, x.bits,
		       ARRAY(SELECT f FROM pg_catalog.unnest(p.key_features) f
		              WHERE (x.bits >> (pg_catalog.array_position(kfeatures, f) - 1)) & 1 = 1) AS features
		  FROM (SELECT DISTINCT a.profile, b.bits
		          FROM pg_temp.hs_acc a
		          JOIN pg_temp.hs_act act ON act.account_id = a.account_id,
		               LATERAL (VALUES (act.kf_used_30), (act.kf_since_adopt & ~act.kf_before_adopt)) b (bits)) x
		  JOIN pg_temp.hs_profile p ON p.name = x.profile;
		ANALYZE pg_temp.hs_kf;
		CREATE TEMP TABLE hs_m ON COMMIT DROP AS
		WITH j AS (
			SELECT a.*,
			       coalesce(act.events, 0) AS events, coalesce(act.events_30, 0) AS events_30, act.last_activity_at,
			       coalesce(act.decayed[pg_catalog.array_position(halflife_seconds, pg_catalog.date_part('epoch', a.half_life))], 0)
			           AS decayed,
			       CASE WHEN has_users THEN coalesce(act.users_30, 0) END AS users_30,
			       CASE WHEN has_users THEN coalesce(act.users_prev_30, 0) END AS users_prev_30,
			       CASE WHEN has_users THEN coalesce(act.new_users, 0) END AS new_users,
			       CASE WHEN has_feature AND pg_catalog.cardinality(a.key_features) > 0
			            THEN coalesce(used.features, '{}') END AS features_used,
			       CASE WHEN has_feature AND pg_catalog.cardinality(a.key_features) > 0
			            THEN coalesce(adopted.features, '{}') END AS features_new,
			       sup.cases_30, sup.cases_prev_90, sup.cases_silent, sup.open_cases, sup.aged_open_cases, sup.oldest_open_at,
			       sup.last_case_at,
			       srv.responses_90, srv.nps_90, srv.avg_rating_90, srv.promoters_90, srv.detractors_90,
			       srv.detractor_responses, srv.min_rating, srv.detractor_categories, srv.last_detractor_at,
			       tp.last_response_at, tp.inbound_silent, tp.answered_silent, tp.unanswered,
			       tp.unanswered_30,
			       coalesce(obs.open_observations, 0) AS open_observations, obs.observations,
			       health_score.utilisation(CASE WHEN has_users THEN coalesce(act.users_30, 0) END, a.seats) AS utilisation_ratio,
			       a.expected_events_per_user_day
			           * CASE WHEN a.seats > 0 THEN a.seats * a.target_utilisation
			                  ELSE greatest(coalesce(act.users_30, 0), 1) END AS expected_per_day
			  FROM pg_temp.hs_acc a
			  LEFT JOIN pg_temp.hs_act act ON act.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_sup sup ON sup.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_srv srv ON srv.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_tp tp ON tp.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_obs obs ON obs.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_kf used ON used.profile = a.profile AND used.bits = act.kf_used_30
			  LEFT JOIN pg_temp.hs_kf adopted ON adopted.profile = a.profile
			                      AND adopted.bits = act.kf_since_adopt & ~act.kf_before_adopt),
		c AS (
			SELECT j.*,
			       CASE WHEN has_activity THEN health_score.engagement_score(j.decayed, j.expected_per_day, j.half_life) END
			           AS engagement,
			       CASE WHEN j.utilisation_ratio IS NOT NULL
			            THEN least(100, 100 * j.utilisation_ratio / j.target_utilisation) END AS utilisation,
			       CASE WHEN j.features_used IS NOT NULL
			            THEN 100.0 * pg_catalog.cardinality(j.features_used) / pg_catalog.cardinality(j.key_features) END
			           AS adoption,
			       CASE WHEN has_support THEN greatest(0, 100
			            - 20 * coalesce(j.aged_open_cases, 0)
			            - 5 * (coalesce(j.open_cases, 0) - coalesce(j.aged_open_cases, 0))
			            - 10 * greatest(0, coalesce(j.cases_30, 0)
			                   - greatest(2 * coalesce(j.cases_prev_90, 0) / 3.0, 2)))::float8 END AS support,
			       CASE WHEN j.responses_90 > 0 THEN (j.nps_90 + 100) / 2 END AS sentiment,
			       CASE WHEN has_touch OR j.open_observations > 0 THEN greatest(0, 100
			            - 25 * j.open_observations
			            - 10 * coalesce(j.unanswered_30, 0)
			            - CASE WHEN has_touch AND (j.last_response_at IS NULL OR j.last_response_at <= w90) THEN 30 ELSE 0 END
			            )::float8 END AS relationship
			  FROM j)
		SELECT c.*, s.score, health_score.band(s.score, c.poor_below, c.good_from) AS band
		  FROM c,
		       LATERAL (SELECT health_score.composite(ARRAY[c.engagement, c.utilisation, c.adoption, c.support,
		                                                     c.sentiment, c.relationship], c.weight_array) AS score) s;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		PERFORM health_score._reraise('refresh failed computing the components: ' || msg, st, det, hnt);
	END;
	timings := timings || pg_catalog.jsonb_build_object('components', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Rules ------------------------------------------------------------------------------------------------
	CREATE TEMP TABLE hs_hits (account_id text NOT NULL, rule text NOT NULL, evidence jsonb NOT NULL) ON COMMIT DROP;
	-- score_drop compares with the latest history row between days + tolerance_days and days before as_of
	CREATE TEMP TABLE hs_prev ON COMMIT DROP AS
	SELECT DISTINCT ON (hh.account_id) hh.account_id, hh.score, hh.as_of
	  FROM health_score.health_history hh
	 WHERE 'score_drop' = ANY (enabled_rules)
	   AND hh.day BETWEEN (t - (drop_days + drop_tolerance + 1) * interval '1 day')::date
	                  AND (t - drop_days * interval '1 day')::date
	   AND hh.as_of <= t - drop_days * interval '1 day'
	   AND hh.as_of >= t - (drop_days + drop_tolerance) * interval '1 day'
	 ORDER BY hh.account_id, hh.as_of DESC;
	ANALYZE pg_temp.hs_prev (account_id);
	-- every enabled rule in one pass; on failure, find the rule that fails by evaluating each alone
	sql := health_score._rules_sql(enabled_rules, rp, has_activity, has_users, has_feature, has_support, has_touch);
	IF sql IS NOT NULL THEN
		BEGIN
			EXECUTE sql USING t;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
			dup := NULL;
			FOR r IN SELECT x AS code FROM pg_catalog.unnest(enabled_rules) x ORDER BY x LOOP
				BEGIN
					EXECUTE health_score._rules_sql(ARRAY[r.code], rp, has_activity, has_users, has_feature, has_support,
					                                has_touch) USING t;
					RAISE EXCEPTION USING ERRCODE = 'HS000';
				EXCEPTION
					WHEN SQLSTATE 'HS000' THEN NULL;
					WHEN OTHERS THEN dup := r.code; EXIT;
				END;
			END LOOP;
			PERFORM health_score._reraise(CASE WHEN dup IS NULL THEN 'refresh failed evaluating the rules: ' || msg
			                                   ELSE pg_catalog.format('refresh failed evaluating rule %s: %s', dup, msg) END,
			                              st, det, hnt);
		END;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('rules', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Results ----------------------------------------------------------------------------------------------
	-- Current state: update the accounts already there, add the new ones, remove the ones no longer scored
	-- (cancelled, not started yet, gone from the source).
	INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
		renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship,
		inputs, as_of, refreshed_at)
	SELECT m.account_id, m.name, m.segment, m.lifecycle_stage, m.plan, m.owner, m.seats, m.arr, m.renewal_date,
	       m.profile, m.score, m.band, m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship,
	       -- the raw measures behind each component, so every score says why (null: no data for it)
	       pg_catalog.jsonb_build_object(
	           'engagement', CASE WHEN has_activity THEN pg_catalog.jsonb_build_object(
	               'decayed_events', pg_catalog.round(m.decayed::numeric, 3),
	               'expected_per_day', m.expected_per_day,
	               'events_30d', m.events_30, 'last_activity_at', m.last_activity_at) END,
	           'utilisation', CASE WHEN m.utilisation IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'active_users_30d', m.users_30, 'seats', m.seats,
	               'ratio', pg_catalog.round(m.utilisation_ratio::numeric, 3)) END,
	           'adoption', CASE WHEN m.adoption IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'key_features', m.key_features, 'used_30d', m.features_used) END,
	           'support', CASE WHEN m.support IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'open_cases', coalesce(m.open_cases, 0), 'aged_open_cases', coalesce(m.aged_open_cases, 0),
	               'cases_30d', coalesce(m.cases_30, 0), 'cases_previous_90d', coalesce(m.cases_prev_90, 0)) END,
	           'sentiment', CASE WHEN m.sentiment IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'responses_90d', m.responses_90, 'nps_90d', pg_catalog.round(m.nps_90::numeric, 1),
	               'average_rating_90d', pg_catalog.round(m.avg_rating_90::numeric, 2),
	               'promoters_90d', m.promoters_90, 'detractors_90d', m.detractors_90) END,
	           'relationship', CASE WHEN m.relationship IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'open_observations', coalesce(m.observations, '[]'), 'unanswered_outbound_30d', coalesce(m.unanswered_30, 0),
	               'last_response_at', m.last_response_at) END) AS inputs,
	       t AS as_of, pg_catalog.now() AS refreshed_at
	  FROM pg_temp.hs_m m
	ON CONFLICT (account_id) DO UPDATE
	   SET name = excluded.name, segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,
	       plan = excluded.plan, owner = excluded.owner, seats = excluded.seats, arr = excluded.arr,
	       renewal_date = excluded.renewal_date, profile = excluded.profile, score = excluded.score,
	       band = excluded.band, engagement = excluded.engagement, utilisation = excluded.utilisation,
	       adoption = excluded.adoption, support = excluded.support, sentiment = excluded.sentiment,
	       relationship = excluded.relationship, inputs = excluded.inputs, as_of = excluded.as_of,
	       refreshed_at = excluded.refreshed_at;
	-- (NOT IN: one hashed pass over the scored keys, which are NOT NULL, rather than sorting both sides; the
	-- accounts stage counted them, so without any the pass is skipped)
	IF n_unscored > 0 THEN
		DELETE FROM health_score.account_health h
		 WHERE h.account_id NOT IN (SELECT m.account_id FROM pg_temp.hs_m m);
	END IF;

	-- One history row per account and as_of day (in the session's time zone); a rerun that day replaces it.
	-- A row the rerun would leave as it is (arr compared as text: 1.0 and 1.00 differ) is not rewritten: new
	-- row versions and their index entries are most of the cost of a same-day rerun.
	UPDATE health_score.health_history h
	   SET as_of = t, profile = m.profile, segment = m.segment, plan = m.plan, lifecycle_stage = m.lifecycle_stage,
	       owner = m.owner, arr = m.arr, score = m.score, band = m.band, engagement = m.engagement,
	       utilisation = m.utilisation, adoption = m.adoption, support = m.support, sentiment = m.sentiment,
	       relationship = m.relationship
	  FROM pg_temp.hs_m m
	 WHERE h.day = t::date AND h.account_id = m.account_id
	   AND (h.as_of, h.profile, h.segment, h.plan, h.lifecycle_stage, h.owner, h.arr::text, h.score, h.band, h.engagement,
	        h.utilisation, h.adoption, h.support, h.sentiment, h.relationship)
	       IS DISTINCT FROM (t, m.profile, m.segment, m.plan, m.lifecycle_stage, m.owner, m.arr::text, m.score, m.band,
	        m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship);
	INSERT INTO health_score.health_history (account_id, day, as_of, profile, segment, plan, lifecycle_stage,
		owner, arr, score, band, engagement, utilisation, adoption, support, sentiment, relationship)
	SELECT m.account_id, t::date, t, m.profile, m.segment, m.plan, m.lifecycle_stage, m.owner, m.arr, m.score,
	       m.band, m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship
	  FROM pg_temp.hs_m m
	 -- NOT IN reads the day's keys once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	 -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	 WHERE m.account_id NOT IN (SELECT h.account_id FROM health_score.health_history h WHERE h.day = t::date);
	DELETE FROM health_score.health_history h
	 WHERE h.day = t::date AND h.account_id NOT IN (SELECT m.account_id FROM pg_temp.hs_m m);
	timings := timings || pg_catalog.jsonb_build_object('results', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	ANALYZE pg_temp.hs_hits (account_id, rule);
	-- Flags: the open flags against the hits, in one join. An open flag without a hit is cleared (disabled
	-- rules and unscored accounts included), one whose evidence, severity or action changed is updated
	-- (updated_at records the last refresh that changed it; an open flag holds as of the latest refresh in
	-- any case), a hit without an open flag is raised.
	CREATE TEMP TABLE hs_flag_changes ON COMMIT DROP AS
	SELECT f.id, x.account_id, x.rule, x.evidence, r3.severity, r3.action
	  FROM (SELECT f.id, f.account_id, f.rule, f.evidence, f.severity, f.action
	          FROM health_score.flag f WHERE f.cleared_at IS NULL) f
	  FULL JOIN pg_temp.hs_hits x ON x.account_id = f.account_id AND x.rule = f.rule
	  LEFT JOIN pg_temp.hs_rule r3 ON r3.code = x.rule
	 WHERE f.id IS NULL OR x.rule IS NULL
	    OR (f.evidence, f.severity, f.action) IS DISTINCT FROM (x.evidence, r3.severity, r3.action);

	UPDATE health_score.flag f
	   SET cleared_at = t, updated_at = t
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NULL AND f.id = c.id;
	GET DIAGNOSTICS n_cleared = ROW_COUNT;

	UPDATE health_score.flag f
	   SET updated_at = t, evidence = c.evidence, severity = c.severity, action = c.action
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NOT NULL AND f.id = c.id;

	-- NOTIFY payloads are limited to 8000 bytes: the payload lists as many new flags as fit, most severe
	-- first, measured once each as a running total of their text (each followed by ", "). An entry takes at
	-- least 60 bytes ({"id": 1, "rule": "", "severity": "red", "account_id": ""} and the separator), so no
	-- more than 128 fit in 7,700: only the first 130 are built.
	WITH ins AS (
		INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, evidence, action)
		SELECT c.account_id, c.rule, c.severity, t, t, c.evidence, c.action
		  FROM pg_temp.hs_flag_changes c
		 WHERE c.id IS NULL
		RETURNING id, account_id, rule, severity),
	ranked AS (
		SELECT ins.*, pg_catalog.row_number() OVER (ORDER BY pg_catalog.array_position(ARRAY['red', 'amber', 'opportunity', 'info'],
		                                                                              ins.severity), ins.id) AS o
		  FROM ins),
	listed AS (
		SELECT l.e, l.o, pg_catalog.sum(pg_catalog.octet_length(l.e::text) + 2) OVER (ORDER BY l.o) AS running
		  FROM (SELECT pg_catalog.jsonb_build_object('id', r.id, 'account_id', r.account_id, 'rule', r.rule,
		                                             'severity', r.severity) AS e, r.o
		          FROM ranked r WHERE r.o <= 130) l)
	SELECT c.n::integer,
	       pg_catalog.jsonb_build_object('as_of', t, 'raised', c.n,
	           'truncated', (SELECT count(*) FROM listed WHERE listed.running <= 7700) < c.n,
	           'flags', coalesce((SELECT pg_catalog.jsonb_agg(listed.e ORDER BY listed.o) FROM listed
	                               WHERE listed.running <= 7700), '[]'))
	  INTO n_raised, payload
	  FROM (SELECT count(*) AS n FROM ranked) c;
	IF n_raised > 0 THEN
		PERFORM pg_catalog.pg_notify('health_score_flags', payload::text);
	ELSE
		payload := NULL;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('flags', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));

	INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, accounts, flags_raised, flags_cleared,
		status, details)
	VALUES (t0, pg_catalog.clock_timestamp(), t, n_accounts, n_raised, n_cleared, 'ok',
		pg_catalog.jsonb_build_object('timings_ms', timings) || coalesce(pg_catalog.jsonb_build_object('notify', payload), '{}'));

	RETURN QUERY SELECT n_accounts, n_raised, n_cleared, pg_catalog.clock_timestamp() - t0;
END
$$;
COMMENT ON FUNCTION health_score.refresh(timestamptz, boolean, boolean) IS
	'score every account as of as_of, write account_health, health_history and flags; one refresh at a time; force lets it stop scoring more than health_score.max_unscored_share of the accounts';
REVOKE EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean) FROM PUBLIC;
