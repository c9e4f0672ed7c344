-- Stage activity: each account's activity measures at as_of. refresh() keeps a state between runs
-- (30_results/20_activity_state.sql) and reads only what changed since the last one; the evaluations,
-- which score past days and write nothing, read the rows up to as_of directly.
--   reads   the activity sources; for refresh() also the state and the change logs (20_catalog/15_capture.sql)
--   writes  hs_act (account_id, events, events_30, events_90 (NULL unless run.count_events_90d),
--           last_activity_at, decayed (one per run.halflives), users_30, users_prev_30, new_users,
--           kf_used_30, kf_before_adopt, kf_since_adopt: the key features used, bits by position in
--           run.key_features); empty without an activity source. For refresh(): the state at as_of, the
--           logs consumed
--   returns the run with activity_mode set to what ran ('point_in_time', 'full' or 'incremental') and
--           activity_reason to why a refresh did not read incrementally
-- Modes (run.activity_mode as asked):
--   point_in_time  one pass over the rows up to as_of (_activity_measures, user_windows); no state
--   full           the state rebuilt from every row, the logs cleared
--   incremental    the state carried to as_of: the rows inserted since (the log), the rows that leave the
--                  30 and 90-day windows (read by time, an index on the time column serves it), and the
--                  accounts whose rows were updated or deleted recomputed from their own rows; refused
--                  (55000) when the state cannot be carried (_incremental_obstacle says why)
--   auto           incremental when it can be, else full
-- Both refresh modes build the state's rows the same way (_state_rows_sql: _activity_measures and
-- _key_times in one pass per account), derive hs_act from the state the same way (_activity_from_state),
-- and give the same figures as point_in_time up to the roundings of the decayed sums' additions.
-- Consistency: an incremental pass reads the sources and consumes the logs in one statement, under one
-- snapshot; a full pass deletes the logged rows its snapshot saw. Either way a row written while a refresh
-- runs is either in its figures and gone from the log, or in neither.

-- What the state depends on besides the rows: a state built under another signature is rebuilt.
CREATE FUNCTION health_score._activity_signature(run health_score._run)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_build_object(
	       'account key type', run.keytype, 'user key type', run.usertype,
	       'half-lives', run.halflife_seconds, 'key features', CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END,
	       'events_90d counted', run.count_events_90d,
	       'activity sources', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
	                                'relation', s.relation::oid, 'columns', s.columns,
	                                -- (registered again: the capture triggers may have been missing meanwhile)
	                                'registered', s.added_at,
	                                'types', (SELECT pg_catalog.jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
	                                            FROM pg_catalog.pg_attribute a
	                                           WHERE a.attrelid = s.relation AND a.attnum > 0 AND NOT a.attisdropped
	                                             AND a.attname IN (SELECT c.value FROM pg_catalog.jsonb_each_text(s.columns) c)))
	                                ORDER BY s.relation::oid)
	                              FROM health_score.sources s WHERE s.kind = 'activity'))
$$;

-- Why the state cannot be carried to run.as_of, or NULL when it can. Takes ACCESS SHARE locks on the
-- activity sources first, held to the end of the refresh: a TRUNCATE or a change of a column's type
-- (which take ACCESS EXCLUSIVE) is either seen here or waits until the refresh is over.
CREATE FUNCTION health_score._incremental_obstacle(run health_score._run, signature jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	state health_score.activity_state;
	src record;
	changed text[];
BEGIN
	FOR src IN SELECT s.relation FROM health_score.sources s JOIN pg_catalog.pg_class c ON c.oid = s.relation
	            WHERE s.kind = 'activity' AND c.relkind IN ('r', 'p') ORDER BY s.relation::oid LOOP
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS SHARE MODE', src.relation);
	END LOOP;
	FOR src IN SELECT c.relation, c.why_not FROM health_score.source_capture c WHERE NOT c.incremental ORDER BY c.relation::oid LOOP
		RETURN pg_catalog.format('activity source %s is read in full: %s', src.relation, src.why_not);
	END LOOP;
	SELECT * INTO state FROM health_score.activity_state;
	IF NOT FOUND THEN
		RETURN 'no incremental state yet (a first refresh, or the state was lost in a crash or a restore)';
	END IF;
	IF state.as_of > run.as_of THEN
		RETURN pg_catalog.format('as_of %s is before the state''s as_of %s', run.as_of, state.as_of);
	END IF;
	SELECT pg_catalog.array_agg(k ORDER BY k) INTO changed
	  FROM (SELECT k FROM pg_catalog.jsonb_object_keys(signature) k
	         WHERE (signature -> k) IS DISTINCT FROM (state.signature -> k)
	        UNION SELECT k FROM pg_catalog.jsonb_object_keys(state.signature) k WHERE NOT signature ? k) x;
	IF changed IS NOT NULL THEN
		RETURN 'changed since the state was built: ' || pg_catalog.array_to_string(changed, ', ');
	END IF;
	FOR src IN SELECT DISTINCT c.source FROM health_score.activity_changed c
	            WHERE c.account_id IS NULL AND c.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
	            ORDER BY 1 LOOP
		RETURN pg_catalog.format('activity source %s was truncated', src.source);
	END LOOP;
	RETURN NULL;
END
$$;

-- point_in_time: one pass over the rows up to as_of.
CREATE FUNCTION health_score._activity_point_in_time(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- $1..$5 = as_of, -30d, -60d, new users from, adopted from; $6 the key features, $7 the half-lives
	PERFORM health_score._run_stage('activity', 'activity', pg_catalog.format(
		'SELECT a.account_id::text AS account_id, (a.m).events, '
		'(a.m).recent_events AS events_30, a.events_90, (a.m).last_at AS last_activity_at, (a.m).decayed, '
		'a.users[1] AS users_30, a.users[2] AS users_prev_30, a.users[3] AS new_users, '
		'(a.m).recent_features AS kf_used_30, (a.m).features_before_adopt AS kf_before_adopt, '
		'(a.m).features_since_adopt AS kf_since_adopt '
		'FROM (SELECT s.account_id, health_score._activity_measures(s.occurred_at, s.feature, s.weight, $1, $2, $5, '
		'$7, $6) AS m, %s AS events_90, '
		'%s AS users FROM (%%s) s GROUP BY s.account_id) a',
		CASE WHEN run.count_events_90d THEN 'count(*) FILTER (WHERE s.occurred_at > $1 - interval ''90 days'')'
		     ELSE 'NULL::bigint' END,
		CASE WHEN run.has_users THEN 'health_score.user_windows(s.user_id, s.occurred_at, $1, $2, $3, $4)'
		     ELSE 'NULL::bigint[]' END),
		run.keytype, run.usertype, '%1$s <= $1',
		ARRAY[run.as_of, run.w30, run.w60, run.new_users_from, run.adopted_from],
		CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END, run.halflives, creates => 'hs_act');
END
$$;

-- The state's rows from the rows of the query rows_sql (columns account_id, user_id, feature, weight,
-- occurred_at), one pass: for the full refresh over the sources, for the accounts recomputed over their rows.
-- A SELECT of activity_state_account's columns in order. Parameters: $1 = as_of, $2 = -30d, $3 = -90d, $5 =
-- adopted from, $6 the key features, $7 the half-lives. Rows dated after as_of count only for recheck_after.
CREATE FUNCTION health_score._state_rows_sql(run health_score._run, rows_sql text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.format($q$
		SELECT a.account_id::text AS account_id, $1 AS ref_at, (a.m).events, (a.m).recent_events AS events_30, a.events_90,
		       (a.m).last_at, health_score._carry_decayed(NULL, NULL, $1, $7, (a.m).decayed) AS decayed, a.recheck_after,
		       coalesce((a.u).keys, '{}') AS users, coalesce((a.u).first_at, '{}') AS user_first,
		       coalesce((a.u).last_at, '{}') AS user_last, coalesce((a.u).last_before, '{}') AS user_last_before,
		       coalesce((a.f).keys, '{}') AS features, coalesce((a.f).first_at, '{}') AS feature_first,
		       coalesce((a.f).last_at, '{}') AS feature_last
		  FROM (SELECT s.account_id,
		               health_score._activity_measures(s.occurred_at, NULL, s.weight, $1, $2, $5, $7, '{}') AS m,
		               %s AS events_90, min(s.occurred_at) FILTER (WHERE s.occurred_at > $1) AS recheck_after,
		               health_score._key_times(s.user_id::text, s.occurred_at, $1, $2) AS u,
		               health_score._key_times(s.feature, s.occurred_at, $1, $2) FILTER (WHERE s.feature = ANY ($6)) AS f
		          FROM (%s) s WHERE s.account_id IS NOT NULL GROUP BY s.account_id) a
		 WHERE (a.m).events > 0 OR a.recheck_after IS NOT NULL
		$q$,
		CASE WHEN run.count_events_90d THEN 'count(*) FILTER (WHERE s.occurred_at > $3 AND s.occurred_at <= $1)'
		     ELSE 'NULL::bigint' END,
		rows_sql)
$$;

-- full: the state rebuilt from every row of the sources, in one statement that parallel workers may share
-- (a work table, not the state table: a data-modifying statement runs in one process), which also takes its
-- snapshot; then the logged rows that snapshot saw (their transactions had committed) are deleted, the others
-- left for the next refresh.
CREATE FUNCTION health_score._activity_full(run health_score._run, signature jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	seen pg_snapshot;
BEGIN
	-- (the snapshot in a row of its own, there even when no account is)
	PERFORM health_score._run_stage('activity', 'activity',
		'SELECT f.*, s.seen FROM (SELECT pg_catalog.pg_current_snapshot() AS seen) s '
		|| 'LEFT JOIN (' || health_score._state_rows_sql(run, '%s') || ') f ON true',
		run.keytype, run.usertype, NULL,
		ARRAY[run.as_of, run.w30, run.w90, NULL, run.adopted_from],
		CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END, run.halflives, creates => 'hs_full');
	SELECT f.seen INTO seen FROM pg_temp.hs_full f LIMIT 1;
	TRUNCATE health_score.activity_state, health_score.activity_state_account;
	INSERT INTO health_score.activity_state_account
	SELECT f.account_id, f.ref_at, f.events, f.events_30, f.events_90, f.last_at, f.decayed, f.recheck_after, f.users,
	       f.user_first, f.user_last, f.user_last_before, f.features, f.feature_first, f.feature_last
	  FROM pg_temp.hs_full f WHERE f.account_id IS NOT NULL;
	DELETE FROM health_score.activity_inserted l WHERE pg_catalog.pg_visible_in_snapshot(l.xact, seen);
	DELETE FROM health_score.activity_changed l WHERE pg_catalog.pg_visible_in_snapshot(l.xact, seen);
	INSERT INTO health_score.activity_state (as_of, signature, built_at, built_as_of)
	VALUES (run.as_of, signature, pg_catalog.now(), run.as_of);
END
$$;

-- incremental: the state carried from its as_of to run.as_of. Returns the number of accounts recomputed
-- from their own rows, or NULL when there were so many that it rebuilt the state instead.
CREATE FUNCTION health_score._activity_incremental(run health_score._run, signature jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	was constant timestamptz := (SELECT s.as_of FROM health_score.activity_state s);
	kf constant text[] := CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END;
	n_recomputed bigint;
BEGIN
	PERFORM health_score._work_create('hs_delta', '(part "char", account_id text, user_id text, feature text,
		weight float8, occurred_at timestamptz)');
	-- One statement, one snapshot: the logs consumed and the sources read together. Parts: n the rows
	-- inserted (from the log, up to as_of), e and q the rows leaving the 30 and 90-day windows, d every row
	-- of an account to recompute, p the earliest row still ahead in the log of such an account, x the
	-- accounts to recompute: updated or deleted rows, or rows dated after the state's as_of now due.
	-- $1 = as_of, $2/$3 = the 30-day window's start then and now, $4/$5 the 90-day window's
	PERFORM health_score._run_stage('activity', 'activity', pg_catalog.format($q$
		WITH changed AS (DELETE FROM health_score.activity_changed c
		                  WHERE c.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
		                  RETURNING c.account_id),
		     dirty AS (SELECT c.account_id FROM changed c WHERE c.account_id IS NOT NULL
		               UNION SELECT st.account_id FROM health_score.activity_state_account st WHERE st.recheck_after <= $1),
		     consumed AS (DELETE FROM health_score.activity_inserted l
		                   WHERE l.occurred_at <= $1
		                     AND l.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
		                  RETURNING l.account_id, l.user_id, l.feature, l.weight, l.occurred_at),
		     dirty_keys AS (SELECT pg_catalog.array_agg(d.account_id)::%1$s[] AS k FROM dirty d)
		INSERT INTO pg_temp.hs_delta (part, account_id, user_id, feature, weight, occurred_at)
		SELECT 'n', c.account_id, c.user_id, c.feature, c.weight, c.occurred_at
		  FROM consumed c WHERE NOT EXISTS (SELECT FROM dirty d WHERE d.account_id = c.account_id)
		UNION ALL
		SELECT 'e', s.account_id::text, s.user_id::text, NULL, NULL, s.occurred_at
		  FROM (%%1$s) s WHERE s.occurred_at > $2 AND s.occurred_at <= $3 AND s.account_id IS NOT NULL
		%2$s
		UNION ALL
		SELECT 'd', s.account_id::text, s.user_id::text, s.feature, s.weight, s.occurred_at
		  FROM (%%1$s) s WHERE (SELECT k.k FROM dirty_keys k) IS NOT NULL AND s.account_id = ANY ((SELECT k.k FROM dirty_keys k)::%1$s[])
		UNION ALL
		SELECT 'p', l.account_id, NULL, NULL, NULL, min(l.occurred_at)
		  FROM health_score.activity_inserted l
		 WHERE l.occurred_at > $1 AND l.account_id IN (SELECT d.account_id FROM dirty d) GROUP BY l.account_id
		UNION ALL
		SELECT 'x', d.account_id, NULL, NULL, NULL, NULL FROM dirty d
		$q$, run.keytype,
		CASE WHEN run.count_events_90d THEN
		     'UNION ALL SELECT ''q'', s.account_id::text, NULL, NULL, NULL, s.occurred_at '
		     'FROM (%1$s) s WHERE s.occurred_at > $4 AND s.occurred_at <= $5 AND s.account_id IS NOT NULL' ELSE '' END),
		run.keytype, run.usertype, NULL,
		ARRAY[t, was - interval '30 days', run.w30, was - interval '90 days', run.w90]);
	EXECUTE pg_catalog.format('CREATE INDEX ON %s (account_id)', health_score._work_table('hs_delta'));
	PERFORM health_score._work_analyze('{hs_delta}', '*');

	SELECT count(*) INTO n_recomputed FROM pg_temp.hs_delta d WHERE d.part = 'x';
	-- recomputing more than half the accounts one by one costs more than one pass over everything
	IF n_recomputed > 1000 AND n_recomputed > (SELECT count(*) FROM health_score.activity_state_account) / 2 THEN
		RETURN NULL;
	END IF;

	-- the accounts recomputed from their own rows, as the full pass computes them, and those with no row
	-- left but rows ahead in the log
	IF n_recomputed > 0 THEN
		DELETE FROM health_score.activity_state_account st USING pg_temp.hs_delta x
		 WHERE x.part = 'x' AND st.account_id = x.account_id;
		EXECUTE 'INSERT INTO health_score.activity_state_account '
		        || health_score._state_rows_sql(run, 'SELECT * FROM pg_temp.hs_delta WHERE part = ''d''')
		  USING t, run.w30, run.w90, NULL::timestamptz, run.adopted_from, kf, run.halflives;
		INSERT INTO health_score.activity_state_account AS st (account_id, ref_at, events, events_30, events_90, last_at,
			decayed, recheck_after)
		SELECT p.account_id, t, 0, 0, CASE WHEN run.count_events_90d THEN 0 END, NULL,
		       health_score._carry_decayed(NULL, NULL, t, run.halflives, NULL), p.occurred_at
		  FROM pg_temp.hs_delta p WHERE p.part = 'p'
		ON CONFLICT (account_id) DO UPDATE SET recheck_after = least(st.recheck_after, excluded.recheck_after);
	END IF;

	-- the other accounts: their inserted rows added, the rows leaving the windows taken off (those of
	-- them inserted since the last refresh were never in the state's counts)
	INSERT INTO health_score.activity_state_account AS st (account_id, ref_at, events, events_30, events_90, last_at,
		decayed, recheck_after)
	SELECT n.account_id, t, coalesce((n.m).events, 0), coalesce((n.m).recent_events, 0) - n.left_30,
	       CASE WHEN run.count_events_90d THEN n.in_90 - n.left_90 END, (n.m).last_at,
	       health_score._carry_decayed(NULL, NULL, t, run.halflives, (n.m).decayed), NULL
	  FROM (SELECT r.account_id,
	               health_score._activity_measures(r.occurred_at, NULL, r.weight, t, run.w30, run.adopted_from,
	                                               run.halflives, '{}') FILTER (WHERE r.part = 'n') AS m,
	               count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > run.w90) AS in_90,
	               count(*) FILTER (WHERE r.part = 'e')
	               - count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > was - interval '30 days' AND r.occurred_at <= run.w30) AS left_30,
	               count(*) FILTER (WHERE r.part = 'q')
	               - count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > was - interval '90 days' AND r.occurred_at <= run.w90) AS left_90
	          FROM pg_temp.hs_delta r
	         WHERE r.part IN ('n', 'e', 'q')
	           AND NOT EXISTS (SELECT FROM pg_temp.hs_delta x WHERE x.part = 'x' AND x.account_id = r.account_id)
	         GROUP BY r.account_id) n
	ON CONFLICT (account_id) DO UPDATE
	   SET ref_at = excluded.ref_at, events = st.events + excluded.events, events_30 = st.events_30 + excluded.events_30,
	       events_90 = st.events_90 + excluded.events_90, last_at = greatest(st.last_at, excluded.last_at),
	       decayed = health_score._carry_decayed(st.decayed, st.ref_at, excluded.ref_at, run.halflives, excluded.decayed);
	-- Their users and key features: the stored times and the new rows' aggregated again. A stored time is
	-- one of the account's rows, so it is a candidate for each time kept (the rows now at or before as_of -
	-- 30 days but after the state's as_of - 30 days are the e part).
	UPDATE health_score.activity_state_account st
	   SET (users, user_first, user_last, user_last_before) =
	       (SELECT coalesce((x.u).keys, '{}'), coalesce((x.u).first_at, '{}'), coalesce((x.u).last_at, '{}'),
	               coalesce((x.u).last_before, '{}')
	          FROM (SELECT health_score._key_times(k.key, k.at, t, run.w30) AS u
	                  FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_first))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_last))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_last_before))
	                        UNION ALL SELECT r.user_id, r.occurred_at FROM pg_temp.hs_delta r
	                                   WHERE r.account_id = st.account_id AND r.part IN ('n', 'e')) k (key, at)) x),
	       (features, feature_first, feature_last) =
	       (SELECT coalesce((x.f).keys, '{}'), coalesce((x.f).first_at, '{}'), coalesce((x.f).last_at, '{}')
	          FROM (SELECT health_score._key_times(k.key, k.at, t, run.w30) AS f
	                  FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest(st.features), pg_catalog.unnest(st.feature_first))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.features), pg_catalog.unnest(st.feature_last))
	                        UNION ALL SELECT r.feature, r.occurred_at FROM pg_temp.hs_delta r
	                                   WHERE r.account_id = st.account_id AND r.part = 'n' AND r.feature = ANY (kf)) k (key, at)) x)
	 WHERE st.account_id IN (SELECT r.account_id FROM pg_temp.hs_delta r WHERE r.part IN ('n', 'e'))
	   AND NOT EXISTS (SELECT FROM pg_temp.hs_delta x WHERE x.part = 'x' AND x.account_id = st.account_id);

	UPDATE health_score.activity_state SET as_of = t;
	RETURN n_recomputed;
END
$$;

-- hs_act from the state: the decayed sums carried to as_of, the users and key features of each window.
CREATE FUNCTION health_score._activity_from_state(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_act', $q$AS
	SELECT a.account_id, a.events, a.events_30, a.events_90, a.last_at AS last_activity_at,
	       health_score._carry_decayed(a.decayed, a.ref_at, ($1).as_of, ($1).halflives, NULL) AS decayed,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_last, ($1).w30) END AS users_30,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_last_before, ($1).w60) END AS users_prev_30,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_first, ($1).new_users_from) END AS new_users,
	       f.bits[1] AS kf_used_30, f.bits[2] AS kf_before_adopt, f.bits[3] AS kf_since_adopt
	  FROM health_score.activity_state_account a,
	       LATERAL (SELECT health_score._feature_bits(a.features, a.feature_first, a.feature_last,
	                                                  coalesce(($1).key_features, '{}'), ($1).w30, ($1).adopted_from) AS bits) f
	 WHERE a.events > 0$q$, run);
END
$$;

CREATE FUNCTION health_score._stage_activity(run health_score._run)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	signature jsonb;
	asked constant text := run.activity_mode;
BEGIN
	run.activity_reason := NULL;
	IF NOT run.has_activity THEN
		PERFORM health_score._work_create('hs_act', '(account_id text, events bigint, events_30 bigint, events_90 bigint,
			last_activity_at timestamptz, decayed float8[], users_30 bigint, users_prev_30 bigint, new_users bigint,
			kf_used_30 bigint, kf_before_adopt bigint, kf_since_adopt bigint)');
		run.activity_mode := CASE WHEN asked = 'point_in_time' THEN asked ELSE 'full' END;
		run.activity_reason := CASE WHEN asked <> 'point_in_time' THEN 'no activity source' END;
		RETURN run;
	END IF;
	IF asked = 'point_in_time' THEN
		PERFORM health_score._activity_point_in_time(run);
		RETURN run;
	END IF;

	signature := health_score._activity_signature(run);
	run.activity_reason := CASE WHEN asked = 'full' THEN 'a full refresh was asked for'
	                            ELSE health_score._incremental_obstacle(run, signature) END;
	IF asked = 'incremental' AND run.activity_reason IS NOT NULL THEN
		RAISE EXCEPTION 'refresh cannot read the activity incrementally: %', run.activity_reason
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Refresh with mode => ''auto'' (a full pass when needed) or mode => ''full''.';
	END IF;
	IF run.activity_reason IS NULL THEN
		IF health_score._activity_incremental(run, signature) IS NULL THEN
			run.activity_reason := 'more than half the accounts had rows updated, deleted or due: one pass over every row costs less';
		END IF;
	END IF;
	IF run.activity_reason IS NULL THEN
		run.activity_mode := 'incremental';
	ELSE
		PERFORM health_score._activity_full(run, signature);
		run.activity_mode := 'full';
	END IF;
	PERFORM health_score._activity_from_state(run);
	RETURN run;
END
$$;
