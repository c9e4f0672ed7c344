-- The incremental refresh gives the full refresh's results. For each account key type (bigint, text,
-- uuid): one series of refreshes reading incrementally and the same series reading every row (mode full),
-- with the same random inserts (late and future-dated ones included), updates and deletes applied between
-- them; account_health, health_history and flag rows must be equal, floats within 1e-9 relative. Then
-- what makes a refresh full, and the change capture's bookkeeping.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(60);

CREATE FUNCTION pg_temp.t0() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 09:00+00'::timestamptz $$;
-- the as_of of each refresh: two within a day, then days and weeks apart
CREATE FUNCTION pg_temp.as_of(step integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_temp.t0() + (ARRAY[interval '0', '30 minutes', '5 hours', '1 day 2 hours', '9 days', '40 days'])[step + 1] $$;

-- Each step's changes, drawn once so that both series apply the same: inserts (most of them in the
-- half hour before the step's as_of, some weeks late, some dated after it), then updates and deletes of
-- rows picked by id.
SELECT setseed(0.17);
CREATE TEMP TABLE ops AS
SELECT s.step, 'insert'::text AS op, 100000 * s.step + g AS id, 1 + (random() * 39)::int AS account,
       (random() * 12)::int AS user_no,
       pg_temp.as_of(s.step) - CASE WHEN g % 10 = 0 THEN random() * interval '80 days'
                                    WHEN g % 17 = 0 THEN - random() * interval '3 days'
                                    ELSE random() * interval '30 minutes' END AS occurred_at,
       (ARRAY['report', 'dashboard', 'api', 'export', NULL])[1 + (random() * 4)::int] AS feature,
       CASE WHEN g % 5 = 0 THEN NULL ELSE round((0.5 + random() * 2)::numeric, 2)::float8 END AS weight
  FROM generate_series(1, 5) s (step), generate_series(1, 60) g
UNION ALL
SELECT s.step, x.op, NULL, NULL, NULL, NULL, NULL, NULL
  FROM generate_series(2, 5) s (step), (VALUES ('update'), ('delete')) x (op);

CREATE FUNCTION pg_temp.setup(keytype text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE public.i_accounts (id %s PRIMARY KEY, seats integer, started_at timestamptz)', keytype);
	EXECUTE format('CREATE TABLE public.i_events (id bigint PRIMARY KEY, account_id %s, user_id text, occurred_at timestamptz, '
	               'feature text, weight float8)', keytype);
	CREATE INDEX ON public.i_events (occurred_at);
	CREATE INDEX ON public.i_events (account_id);
	EXECUTE format('INSERT INTO public.i_accounts SELECT pg_temp.key(%L, a)::%s, 5, %L::timestamptz - interval ''1 year'' '
	               'FROM generate_series(1, 40) a', keytype, keytype, pg_temp.t0());
	-- a history of 200 days
	INSERT INTO public.i_events
	SELECT g, NULL, 'u' || (g % 9), pg_temp.t0() - (g % 200) * interval '1 day' - (g % 7) * interval '1 hour',
	       (ARRAY['report', 'dashboard', 'api', NULL])[1 + g % 4], CASE WHEN g % 3 = 0 THEN 2 END
	  FROM generate_series(1, 4000) g;
	EXECUTE format('UPDATE public.i_events SET account_id = pg_temp.key(%L, (1 + id %% 37)::integer)::%s', keytype, keytype);
	PERFORM health_score.add_source('accounts', 'public.i_accounts', '{"account_id": "id"}');
	PERFORM health_score.add_source('activity', 'public.i_events');
	UPDATE health_score.profile SET key_features = '{report,api,export}' WHERE name = 'default';
END
$$;

CREATE FUNCTION pg_temp.key(keytype text, n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE keytype WHEN 'bigint' THEN (9000000000 + n)::text WHEN 'text' THEN 'acct-' || n
	                    ELSE format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0')) END
$$;

-- Applies a step's changes, then refreshes at its as_of in the given mode; returns the mode that ran.
CREATE FUNCTION pg_temp.step(keytype text, n integer, mode text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO public.i_events SELECT o.id, pg_temp.key(%L, o.account)::%s, ''u'' || o.user_no, '
	               'o.occurred_at, o.feature, o.weight FROM ops o WHERE o.step = $1 AND o.op = ''insert'' ORDER BY o.id',
	               keytype, keytype) USING n;
	IF EXISTS (SELECT FROM ops o WHERE o.step = n AND o.op = 'update') THEN
		-- a user renamed, a row moved to another account, a row moved back in time
		UPDATE public.i_events SET user_id = 'renamed' WHERE id % 251 = n;
		EXECUTE format('UPDATE public.i_events SET account_id = pg_temp.key(%L, 40)::%s WHERE id %% 307 = $1', keytype, keytype)
		  USING n;
		UPDATE public.i_events SET occurred_at = occurred_at - interval '45 days' WHERE id % 401 = n;
	END IF;
	IF EXISTS (SELECT FROM ops o WHERE o.step = n AND o.op = 'delete') THEN
		DELETE FROM public.i_events WHERE id % 199 = n;
	END IF;
	PERFORM health_score.refresh(pg_temp.as_of(n), mode => mode);
	RETURN (SELECT l.mode FROM health_score.refresh_log l ORDER BY l.id DESC LIMIT 1);
END
$$;

-- One series: the setup and the six steps in the given mode, its results (as JSON: values outlive the
-- subtransaction, which is rolled back so that the next series starts from the same database).
CREATE FUNCTION pg_temp.series(keytype text, mode text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	modes text[] := '{}';
	result jsonb;
BEGIN
	BEGIN
		PERFORM pg_temp.setup(keytype);
		FOR s IN 0..5 LOOP
			modes := modes || pg_temp.step(keytype, s, mode);
		END LOOP;
		result := jsonb_build_object('modes', modes,
			'health', (SELECT jsonb_agg(h) FROM (SELECT account_id, score, band, engagement, utilisation, adoption, support,
			               sentiment, relationship, computed_score, inputs, components, as_of, refreshed_at
			               FROM health_score.account_health) h),
			'history', (SELECT jsonb_agg(h) FROM (SELECT account_id, day, as_of, score, band, engagement, utilisation, adoption,
			                support, sentiment, relationship, computed_score FROM health_score.health_history) h),
			'flag', (SELECT jsonb_agg(f) FROM (SELECT account_id, rule, severity, raised_at, updated_at, cleared_at, evidence,
			             action FROM health_score.flag) f),
			'state_rows', (SELECT count(*) FROM health_score.activity_state_account));
		RAISE EXCEPTION USING ERRCODE = 'HS000';
	EXCEPTION WHEN SQLSTATE 'HS000' THEN NULL;
	END;
	RETURN result;
END
$$;

CREATE TEMP TABLE health_rows (account_id text, score float8, band text, engagement float8, utilisation float8,
	adoption float8, support float8, sentiment float8, relationship float8, computed_score float8, inputs jsonb,
	components jsonb, as_of timestamptz, refreshed_at timestamptz);
CREATE TEMP TABLE history_rows (account_id text, day date, as_of timestamptz, score float8, band text, engagement float8,
	utilisation float8, adoption float8, support float8, sentiment float8, relationship float8, computed_score float8);

-- Whether two floats agree within 1e-9 relative (NULLs agree with NULLs).
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b), 1)
$$;

-- The rows of the two series that differ: health and history rows column by column (floats within 1e-9
-- relative, the rest exactly), flags exactly.
CREATE FUNCTION pg_temp.differences(inc jsonb, full_ jsonb, what text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	IF what = 'health' THEN
		RETURN QUERY SELECT coalesce(i.account_id, f.account_id)
		  FROM jsonb_populate_recordset(NULL::health_rows, inc -> 'health') i
		  FULL JOIN jsonb_populate_recordset(NULL::health_rows, full_ -> 'health') f ON f.account_id = i.account_id
		 WHERE i.account_id IS NULL OR f.account_id IS NULL
		    OR NOT (pg_temp.close(i.score, f.score) AND i.band IS NOT DISTINCT FROM f.band
		            AND pg_temp.close(i.engagement, f.engagement) AND pg_temp.close(i.utilisation, f.utilisation)
		            AND pg_temp.close(i.adoption, f.adoption) AND pg_temp.close(i.support, f.support)
		            AND pg_temp.close(i.sentiment, f.sentiment) AND pg_temp.close(i.relationship, f.relationship)
		            AND pg_temp.close(i.computed_score, f.computed_score) AND i.inputs = f.inputs
		            AND i.components = f.components AND i.as_of = f.as_of AND i.refreshed_at = f.refreshed_at);
	ELSIF what = 'history' THEN
		RETURN QUERY SELECT coalesce(i.account_id, f.account_id) || ' ' || coalesce(i.day, f.day)
		  FROM jsonb_populate_recordset(NULL::history_rows, inc -> 'history') i
		  FULL JOIN jsonb_populate_recordset(NULL::history_rows, full_ -> 'history') f
		       ON f.account_id = i.account_id AND f.day = i.day
		 WHERE i.account_id IS NULL OR f.account_id IS NULL
		    OR NOT (pg_temp.close(i.score, f.score) AND i.band IS NOT DISTINCT FROM f.band AND i.as_of = f.as_of
		            AND pg_temp.close(i.engagement, f.engagement) AND pg_temp.close(i.utilisation, f.utilisation)
		            AND pg_temp.close(i.adoption, f.adoption) AND pg_temp.close(i.support, f.support)
		            AND pg_temp.close(i.sentiment, f.sentiment) AND pg_temp.close(i.relationship, f.relationship)
		            AND pg_temp.close(i.computed_score, f.computed_score));
	ELSE
		RETURN QUERY (SELECT x::text FROM jsonb_array_elements(inc -> 'flag') x
		              EXCEPT ALL SELECT y::text FROM jsonb_array_elements(full_ -> 'flag') y)
		       UNION ALL (SELECT y::text FROM jsonb_array_elements(full_ -> 'flag') y
		                  EXCEPT ALL SELECT x::text FROM jsonb_array_elements(inc -> 'flag') x);
	END IF;
END
$$;

CREATE TEMP TABLE series AS
SELECT k AS keytype, pg_temp.series(k, 'auto') AS inc, pg_temp.series(k, 'full') AS full_
  FROM unnest('{bigint,text,uuid}'::text[]) WITH ORDINALITY u (k, i) ORDER BY i;

SELECT is(s.inc -> 'modes', '["full", "incremental", "incremental", "incremental", "incremental", "incremental"]'::jsonb,
          s.keytype || ': the first refresh is full, the next five incremental')
  FROM series s ORDER BY s.keytype;
SELECT is(s.full_ -> 'modes', '["full", "full", "full", "full", "full", "full"]'::jsonb, s.keytype || ': mode full reads every row')
  FROM series s ORDER BY s.keytype;
SELECT is(ARRAY[jsonb_array_length(s.inc -> 'health'), jsonb_array_length(s.inc -> 'history'),
                (SELECT count(*) FROM jsonb_array_elements(s.inc -> 'flag') f WHERE f ->> 'cleared_at' IS NULL)::integer,
                (SELECT count(*) FROM jsonb_array_elements(s.inc -> 'flag') f WHERE f ->> 'cleared_at' IS NOT NULL)::integer],
          ARRAY[40, 160, 156, 87], s.keytype || ': 40 accounts scored, a history row each on 4 days, flags open and cleared')
  FROM series s ORDER BY s.keytype;
SELECT is_empty(format('SELECT * FROM pg_temp.differences(%L, %L, ''health'')', s.inc, s.full_),
                s.keytype || ': account_health rows are equal') FROM series s ORDER BY s.keytype;
SELECT is_empty(format('SELECT * FROM pg_temp.differences(%L, %L, ''history'')', s.inc, s.full_),
                s.keytype || ': health_history rows are equal') FROM series s ORDER BY s.keytype;
SELECT is_empty(format('SELECT * FROM pg_temp.differences(%L, %L, ''flag'')', s.inc, s.full_),
                s.keytype || ': flag rows are equal') FROM series s ORDER BY s.keytype;
-- the comparison can fail: a series whose figures differ in one account is told apart
SELECT is((SELECT count(*) FROM pg_temp.differences(s.inc,
               jsonb_set(s.full_, '{health,0,engagement}', to_jsonb((s.full_ #>> '{health,0,engagement}')::float8 * (1 + 1e-8))),
               'health')), 1::bigint, 'a difference of 1e-8 relative is one')
  FROM series s WHERE s.keytype = 'bigint';

-- What makes a refresh full, and what it says in refresh_log.
CREATE TABLE public.f_accounts (id bigint PRIMARY KEY);
CREATE TABLE public.f_events (account_id bigint, user_id bigint, occurred_at timestamptz, weight float8, feature text);
INSERT INTO public.f_accounts SELECT generate_series(1, 5);
INSERT INTO public.f_events SELECT 1 + g % 5, g % 3, pg_temp.t0() - g * interval '1 day', 1, 'api' FROM generate_series(1, 100) g;
SELECT health_score.add_source('accounts', 'public.f_accounts', '{"account_id": "id"}');
SELECT health_score.add_source('activity', 'public.f_events');
CREATE FUNCTION pg_temp.last_run() RETURNS text LANGUAGE sql AS $$
	SELECT l.mode || coalesce(': ' || (l.details ->> 'full_because'), '') FROM health_score.refresh_log l ORDER BY l.id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.events(account bigint) RETURNS bigint LANGUAGE sql AS $$
	SELECT s.events FROM health_score.activity_state_account s WHERE s.account_id = account::text
$$;

SELECT throws_ok($$SELECT health_score.refresh(pg_temp.t0(), mode => 'fast')$$, '22023',
                 'mode must be auto, full or incremental, not ''fast''', 'an unknown mode is refused');
SELECT throws_ok($$SELECT health_score.refresh(pg_temp.t0(), mode => NULL)$$, '22023',
                 'mode must be auto, full or incremental, not NULL', 'a NULL mode is refused');
SELECT throws_ok($$SELECT health_score.refresh(pg_temp.t0(), mode => 'incremental')$$, '55000',
                 'refresh cannot read the activity incrementally: no incremental state yet (a first refresh, or the state was lost in a crash or a restore)',
                 'mode incremental without a state is refused');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0())$$, 'the first refresh');
SELECT is(pg_temp.last_run(), 'full: no incremental state yet (a first refresh, or the state was lost in a crash or a restore)',
          'the first refresh is full, and says why');
SELECT is(pg_temp.events(1), 20::bigint, 'the state counts account 1''s rows');

INSERT INTO public.f_events VALUES (1, 7, pg_temp.t0() + interval '10 minutes', 1), (1, 7, pg_temp.t0() - interval '50 days', 1),
	(2, 7, pg_temp.t0() + interval '2 days', 1);
SELECT is((SELECT array_agg(account_id || '@' || (occurred_at - pg_temp.t0()) ORDER BY occurred_at) FROM health_score.activity_inserted),
          ARRAY['1@-50 days', '1@00:10:00', '2@2 days'], 'the insert trigger logs the rows, late and future ones too');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '30 minutes', mode => 'incremental')$$, 'mode incremental');
SELECT is(pg_temp.last_run(), 'incremental', 'refresh_log says it ran incrementally');
SELECT is(pg_temp.events(1), 22::bigint, 'the new and the late row are counted');
SELECT is((SELECT array_agg(account_id) FROM health_score.activity_inserted), ARRAY['2'],
          'the log keeps only the row dated after as_of');

UPDATE public.f_events SET account_id = 3 WHERE account_id = 2 AND occurred_at = pg_temp.t0() - interval '1 day';
DELETE FROM public.f_events WHERE account_id = 4 AND occurred_at = pg_temp.t0() - interval '3 days';
SELECT is((SELECT array_agg(DISTINCT account_id ORDER BY account_id) FROM health_score.activity_changed), ARRAY['2', '3', '4'],
          'updates and deletes mark the accounts before and after');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '3 days')$$, 'refresh after updates and deletes');
SELECT is(ARRAY[pg_temp.events(2), pg_temp.events(3), pg_temp.events(4)],
          ARRAY[(SELECT count(*) FROM public.f_events WHERE account_id = 2 AND occurred_at <= pg_temp.t0() + interval '3 days'),
                (SELECT count(*) FROM public.f_events WHERE account_id = 3), (SELECT count(*) FROM public.f_events WHERE account_id = 4)],
          'the marked accounts are recomputed from their rows, the future row of account 2 counted once due');
SELECT is(pg_temp.last_run(), 'incremental', 'still incremental');

SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '1 day')$$, 'a refresh of an earlier as_of');
SELECT alike(pg_temp.last_run(), 'full: as_of 2026-03-02 % is before the state''s as_of 2026-03-04 %', 'a backfill is full');
UPDATE health_score.profile SET half_life = '10 days' WHERE name = 'default';
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '4 days')$$, 'a refresh after a new half-life');
SELECT is(pg_temp.last_run(), 'full: changed since the state was built: half-lives', 'a new half-life makes it full');
UPDATE health_score.profile SET key_features = '{report}' WHERE name = 'default';
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '4 days')$$, 'a refresh after new key features');
SELECT is(pg_temp.last_run(), 'full: changed since the state was built: key features', 'new key features make it full');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '4 days', mode => 'full')$$, 'mode full');
SELECT is(pg_temp.last_run(), 'full: a full refresh was asked for', 'mode full is full');

-- A failed refresh leaves the state and the logs as they were.
INSERT INTO public.f_events VALUES (5, 1, pg_temp.t0() + interval '4 days 1 hour', 1);
-- (a division by zero at as_of 2026-03-06 09:00 only)
SELECT health_score.add_measure('broken', $$SELECT a.id AS account_id, 1 / extract(epoch FROM $1 - timestamptz '2026-03-06 09:00+00') AS value FROM public.f_accounts a$$);
SELECT health_score.add_rule('broken_rule', 'broken > {min}', 'amber', 'None.', '{"min": 1}');
SELECT throws_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '5 days')$$, '22012', NULL, 'a refresh that fails');
SELECT is(ARRAY[(SELECT (as_of - pg_temp.t0())::text FROM health_score.activity_state),
                pg_temp.events(5)::text, (SELECT count(*) FROM health_score.activity_inserted)::text],
          ARRAY['4 days', '20', '1'], 'its state and its log are as before');
DELETE FROM health_score.rule WHERE code = 'broken_rule';
SELECT health_score.drop_measure('broken');

TRUNCATE public.f_events;
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '5 days')$$, 'a refresh after a TRUNCATE');
SELECT is(pg_temp.last_run(), 'full: activity source public.f_events was truncated', 'a truncated source makes it full');
SELECT is((SELECT count(*) FROM health_score.activity_state_account), 0::bigint, 'and the state is rebuilt: empty');
ALTER TABLE public.f_events ALTER COLUMN weight TYPE numeric;
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '5 days')$$, 'a refresh after a column''s type changed');
SELECT is(pg_temp.last_run(), 'full: changed since the state was built: activity sources', 'a changed column type makes it full');

-- Sources that cannot be read incrementally, and the triggers' life cycle.
CREATE TABLE public.f_local (account_id bigint, occurred_at timestamp);
CREATE VIEW public.f_view AS SELECT account_id, occurred_at FROM public.f_events;
SELECT health_score.add_source('activity', 'public.f_local');
SELECT health_score.add_source('activity', 'public.f_view');
SELECT results_eq($$SELECT relation::text, incremental, why_not FROM health_score.source_capture ORDER BY 1$$,
                  $$VALUES ('f_events', true, NULL),
                           ('f_local', false, 'its occurred_at column occurred_at is timestamp without time zone, read in the refresh''s time zone'),
                           ('f_view', false, 'it is a view, which takes no statement triggers with transition tables')$$,
                  'source_capture says which sources are incremental and why not');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t0() + interval '5 days')$$, 'a refresh with a view among the sources');
SELECT is(pg_temp.last_run(), 'full: activity source public.f_local is read in full: its occurred_at column occurred_at is timestamp without time zone, read in the refresh''s time zone',
          'a source that cannot be captured makes every refresh full');
SELECT health_score.drop_source('activity', 'public.f_local');
SELECT health_score.drop_source('activity', 'public.f_view');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.f_events'::regclass AND tgname LIKE 'health_score_capture_%'),
          4::bigint, 'an activity table has four capture triggers');
-- Who may write the logs: a role that may write the source, through its triggers; not one that may not.
CREATE ROLE regress_hs_writer;
CREATE ROLE regress_hs_stranger;
GRANT USAGE ON SCHEMA health_score TO regress_hs_writer, regress_hs_stranger;
GRANT INSERT ON public.f_events TO regress_hs_writer;
SET LOCAL ROLE regress_hs_writer;
SELECT lives_ok($$INSERT INTO public.f_events VALUES (1, 1, '2026-03-07 09:00+00', 1, 'api')$$,
                'a role that may insert into the source, and nothing else of health_score, inserts');
RESET ROLE;
SELECT is((SELECT count(*) FROM health_score.activity_inserted WHERE occurred_at = '2026-03-07 09:00+00'), 1::bigint,
          'and its row is logged');
SET LOCAL ROLE regress_hs_stranger;
SELECT throws_ok($$INSERT INTO health_score.activity_inserted (source, account_id, occurred_at)
                   VALUES ('public.f_events', '1', '2026-03-07 10:00+00')$$, '42501',
                 'new row violates row-level security policy for table "activity_inserted"',
                 'a role that may not write the source cannot log a row for it');
RESET ROLE;
-- (a logical replication subscriber applies rows with session_replication_role = replica)
SET LOCAL session_replication_role = replica;
INSERT INTO public.f_events VALUES (2, 1, '2026-03-07 11:00+00', 1, 'api');
SET LOCAL session_replication_role = origin;
SELECT is((SELECT count(*) FROM health_score.activity_inserted WHERE occurred_at = '2026-03-07 11:00+00'), 1::bigint,
          'the triggers, enabled ALWAYS, fire for rows a replication subscriber applies');
SELECT health_score.drop_source('activity', 'public.f_events');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.f_events'::regclass), 0::bigint,
          'drop_source removes them');
SELECT is((SELECT count(*) FROM health_score.activity_inserted WHERE source = 'public.f_events'::regclass), 0::bigint,
          'and the source''s logged rows');
SELECT health_score.add_source('activity', 'public.f_events');
DROP EXTENSION health_score CASCADE;
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.f_events'::regclass), 0::bigint,
          'DROP EXTENSION removes them');

SELECT * FROM finish();
ROLLBACK;
