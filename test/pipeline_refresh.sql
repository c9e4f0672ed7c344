-- refresh(): its return row, point-in-time as_of, idempotence, history, flags clearing and re-raising,
-- disabled rules, the run log and NOTIFY payload, failures that leave previous results intact, the lock.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(40);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 12:00+00'::timestamptz $$;

CREATE TABLE public.f_accounts (account_id text PRIMARY KEY, seats integer, segment text);
CREATE TABLE public.f_events (account_id text, user_id text, ts timestamptz, feature text, weight numeric);
CREATE TABLE public.f_cases (account_id text, opened_at timestamptz, closed_at timestamptz);
CREATE TABLE public.f_surveys (account_id text, responded_at timestamptz, rating integer);
INSERT INTO public.f_accounts VALUES ('a', 4, 'smb'), ('b', 4, 'smb'), ('c', NULL, 'smb');
-- a: 4 users daily for 60 days; b: 2 users daily; c: nothing for 40 days
INSERT INTO public.f_events
SELECT 'a', 'u' || u, pg_temp.t() - d * interval '1 day', 'report', 1 FROM generate_series(1, 4) u, generate_series(0, 59) d;
INSERT INTO public.f_events
SELECT 'b', 'u' || u, pg_temp.t() - d * interval '1 day', 'report', 1 FROM generate_series(1, 2) u, generate_series(0, 59) d;
INSERT INTO public.f_events
SELECT 'c', 'u1', pg_temp.t() - d * interval '1 day', 'login', 1 FROM generate_series(40, 59) d;
INSERT INTO public.f_cases VALUES ('b', pg_temp.t() - interval '20 days', NULL);
INSERT INTO public.f_surveys VALUES ('a', pg_temp.t() - interval '3 days', 10);

-- The refresh lock across sessions is tested by specs/refresh_lock.spec.

DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.f_accounts');
	PERFORM health_score.add_source('activity', 'public.f_events', '{"occurred_at": "ts"}');
	PERFORM health_score.add_source('support_cases', 'public.f_cases');
	PERFORM health_score.add_source('surveys', 'public.f_surveys');
END
$$;
UPDATE health_score.profile SET key_features = '{report}' WHERE name = 'default';

-- The return row.
CREATE TEMP TABLE r1 AS SELECT * FROM health_score.refresh(pg_temp.t());
SELECT results_eq('SELECT accounts, flags_raised, flags_cleared FROM r1',
                  $$VALUES (3, (SELECT count(*)::integer FROM health_score.flag), 0)$$,
                  'refresh returns the accounts scored, the flags raised and cleared');
SELECT ok((SELECT elapsed > interval '0' FROM r1), 'and how long it took');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag$$,
              ARRAY['b:long_open_case', 'c:inactive'], 'the expected flags are raised');
SELECT is((SELECT band::text FROM health_score.account_health WHERE account_id = 'a'), 'good', 'account a is good');
SELECT is((SELECT inputs #>> '{utilisation,active_users_30d}' FROM health_score.account_health WHERE account_id = 'a'), '4',
          'inputs explain the utilisation: active users');
SELECT is((SELECT inputs #>> '{sentiment,nps_90d}' FROM health_score.account_health WHERE account_id = 'a'), '100.0',
          'inputs explain the sentiment: the NPS of the last 90 days');
SELECT ok((SELECT jsonb_typeof(inputs -> 'support') = 'object' AND jsonb_typeof(inputs -> 'relationship') = 'null'
             FROM health_score.account_health WHERE account_id = 'a'),
          'inputs hold the measures of each component, null where its data is absent');
SELECT is((SELECT relationship FROM health_score.account_health WHERE account_id = 'a'), NULL,
          'without touchpoints or observations the relationship component is NULL');
SELECT is((SELECT sentiment FROM health_score.account_health WHERE account_id = 'b'), NULL,
          'without ratings the sentiment component is NULL');

-- The run log and the NOTIFY payload.
SELECT results_eq($$SELECT status, as_of, accounts, flags_raised, flags_cleared FROM health_score.refresh_log$$,
                  $$VALUES ('ok', pg_temp.t(), 3, 2, 0)$$, 'the run is logged with its counts');
SELECT set_eq($$SELECT e ->> 'account_id' || ':' || (e ->> 'rule')
                  FROM health_score.refresh_log, jsonb_array_elements(details #> '{notify,flags}') e$$,
              $$SELECT account_id || ':' || rule FROM health_score.flag$$,
              'the NOTIFY payload lists the newly raised flags');
SELECT is((SELECT details #>> '{notify,flags,0,severity}' FROM health_score.refresh_log), 'red',
          'most severe first');
SELECT is((SELECT details -> 'analyzed' FROM health_score.refresh_log),
          '["health_score.account_health", "health_score.health_history", "health_score.flag"]'::jsonb,
          'the first refresh analyzes the result tables, which had no statistics');
SELECT results_eq($$SELECT relname::text COLLATE "default", reltuples FROM pg_class WHERE oid IN ('health_score.account_health'::regclass,
                      'health_score.health_history'::regclass, 'health_score.flag'::regclass) ORDER BY 1$$,
                  $$VALUES ('account_health', 3::real), ('flag', 2::real), ('health_history', 3::real)$$,
                  'so a query on them right after it plans with their real sizes');
SELECT set_eq($$SELECT jsonb_object_keys(details -> 'timings_ms') FROM health_score.refresh_log$$,
              ARRAY['setup', 'accounts', 'activity', 'other_sources', 'measures', 'components',
                    'rules', 'results', 'flags', 'actions', 'analyze'],
              'each stage is timed');
SELECT results_eq($$SELECT relname::text COLLATE "default", reloptions::text COLLATE "default" FROM pg_class
                     WHERE oid IN ('health_score.account_health'::regclass, 'health_score.flag'::regclass) ORDER BY 1$$,
                  $$VALUES ('account_health', '{fillfactor=70}'), ('flag', '{fillfactor=70}')$$,
                  'the tables every refresh rewrites keep room on their pages (fillfactor 70, set in one place)');

-- Re-running is idempotent.
CREATE TEMP TABLE snap AS SELECT account_id, score, band, inputs FROM health_score.account_health;
CREATE TEMP TABLE flags_before AS SELECT id, account_id, rule, raised_at, evidence FROM health_score.flag;
SELECT results_eq('SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t())',
                  $$VALUES (3, 0, 0)$$, 'a second refresh at the same as_of raises and clears nothing');
SELECT bag_eq('SELECT account_id, score, band, inputs FROM health_score.account_health', 'SELECT * FROM snap',
              'and computes the same scores and inputs');
SELECT bag_eq('SELECT id, account_id, rule, raised_at, evidence FROM health_score.flag WHERE cleared_at IS NULL',
              'SELECT * FROM flags_before', 'the open flags are the same rows, not duplicates');
SELECT is((SELECT count(*)::integer FROM health_score.health_history), 3, 'one history row per account and day');

-- History: one row a day; later the same day replaces it.
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '1 day')$$, 'refresh the next day');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '1 day 6 hours')$$, 'and later that day');
SELECT results_eq($$SELECT day, count(*)::integer, max(as_of) FROM health_score.health_history GROUP BY day ORDER BY day$$,
                  $$VALUES ((pg_temp.t())::date, 3, pg_temp.t()),
                           ((pg_temp.t() + interval '1 day')::date, 3, pg_temp.t() + interval '1 day 6 hours')$$,
                  'history keeps a row per account per as_of day, the latest run of the day');

-- Point in time: data after as_of is ignored, so recomputing T gives the scores of T.
INSERT INTO public.f_events
SELECT 'c', 'u' || u, pg_temp.t() + interval '1 hour', 'report', 1 FROM generate_series(1, 5) u;
INSERT INTO public.f_cases VALUES ('a', pg_temp.t() + interval '1 hour', NULL);
INSERT INTO public.f_surveys VALUES ('a', pg_temp.t() + interval '1 hour', 0);
INSERT INTO health_score.observation (account_id, indicator, observed_at) VALUES ('a', 'no_process_owner', pg_temp.t() + interval '1 hour');
UPDATE public.f_cases SET closed_at = pg_temp.t() + interval '2 hours' WHERE account_id = 'b';
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t())$$, 'recompute as of T after later data arrived');
SELECT bag_eq('SELECT account_id, score, band, inputs FROM health_score.account_health', 'SELECT * FROM snap',
              'scores and inputs as of T ignore everything that happened after T');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag WHERE cleared_at IS NULL$$,
              ARRAY['b:long_open_case', 'c:inactive'], 'and so do the flags');

-- Flags clear when their cause goes away, and a recurrence raises a new flag.
SELECT results_eq($$SELECT flags_cleared FROM health_score.refresh(pg_temp.t() + interval '3 hours')$$,
                  ARRAY[2], 'three hours later: b''s case is closed and c is active again');
SELECT results_eq($$SELECT account_id, rule, cleared_at FROM health_score.flag WHERE cleared_at IS NOT NULL ORDER BY rule$$,
                  $$VALUES ('c', 'inactive', pg_temp.t() + interval '3 hours'),
                           ('b', 'long_open_case', pg_temp.t() + interval '3 hours')$$,
                  'so their flags are cleared as of that refresh');
UPDATE public.f_cases SET closed_at = NULL WHERE account_id = 'b';
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '4 hours')$$, 'the case is reopened');
SELECT is((SELECT count(*)::integer FROM health_score.flag WHERE account_id = 'b' AND rule = 'long_open_case'), 2,
          'a recurrence raises a new flag and keeps the cleared one');

-- A flag that still holds is updated in place: its new evidence, and its rule's current severity and action.
CREATE TEMP TABLE open_b AS
SELECT id, raised_at FROM health_score.flag WHERE account_id = 'b' AND rule = 'long_open_case' AND cleared_at IS NULL;
UPDATE health_score.rule SET severity = 'red', action = 'Call the customer today.', params = params || '{"days": 10}'
 WHERE code = 'long_open_case';
SELECT results_eq($$SELECT flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t() + interval '4 hours 30 minutes')$$,
                  $$VALUES (0, 0)$$, 'a refresh after the rule changed raises and clears nothing');
SELECT results_eq($$SELECT f.id, f.raised_at, f.updated_at, f.severity, f.action, f.evidence ->> 'days'
                      FROM health_score.flag f WHERE f.account_id = 'b' AND f.rule = 'long_open_case' AND f.cleared_at IS NULL$$,
                  $$SELECT id, raised_at, pg_temp.t() + interval '4 hours 30 minutes', 'red', 'Call the customer today.', '10'
                      FROM open_b$$,
                  'the same flag now carries the new evidence, severity and action, updated as of that refresh');

-- A disabled rule raises nothing and its open flags are cleared.
UPDATE health_score.rule SET enabled = false WHERE code = 'long_open_case';
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '5 hours')$$, 'refresh with the rule disabled');
SELECT is_empty($$SELECT FROM health_score.flag WHERE rule = 'long_open_case' AND cleared_at IS NULL$$,
                'a disabled rule''s flags are cleared');

-- Past NOTIFY's 8000-byte limit the payload lists as many flags as fit, most severe first, and still
-- counts them all: 400 new accounts without activity raise several flags each.
INSERT INTO public.f_accounts SELECT 'n' || n, 4, 'smb' FROM generate_series(1, 400) n;
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '5 hours 30 minutes')$$, 'refresh raising many flags');
SELECT results_eq($$SELECT octet_length(details ->> 'notify') < 8000, octet_length(details ->> 'notify') > 7500,
                           (details #>> '{notify,truncated}')::boolean,
                           (details #>> '{notify,raised}')::integer = flags_raised,
                           jsonb_array_length(details #> '{notify,flags}') BETWEEN 50 AND flags_raised - 1
                      FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES (true, true, true, true, true)$$,
                  'the payload fits, as full as it can be, says it is truncated, counts every flag and lists a prefix of them');
SELECT is((SELECT bool_and(r.rank >= coalesce(r.previous, r.rank))
             FROM (SELECT rank, lag(rank) OVER (ORDER BY o) AS previous
                     FROM (SELECT id FROM health_score.refresh_log ORDER BY id DESC LIMIT 1) l,
                          health_score.refresh_log g,
                          jsonb_array_elements(g.details #> '{notify,flags}') WITH ORDINALITY e(f, o),
                          array_position(ARRAY['red', 'amber', 'opportunity', 'info'], f ->> 'severity') rank
                    WHERE g.id = l.id) r),
          true, 'the listed flags are the most severe first');
DELETE FROM public.f_accounts WHERE account_id LIKE 'n%';

-- A failure names the source and leaves the previous results intact.
CREATE TEMP TABLE snap2 AS SELECT account_id, score, as_of FROM health_score.account_health;
CREATE VIEW public.f_bad_events AS
SELECT account_id, user_id, ts + (1 / (length(account_id) - 1)) * interval '1 day' AS occurred_at FROM public.f_events;
SELECT lives_ok($$SELECT health_score.add_source('activity', 'public.f_bad_events')$$, 'a second activity source: a view');
SELECT throws_ok($$SELECT health_score.refresh(pg_temp.t() + interval '6 hours', force => true)$$, '22012',
                 'refresh failed reading activity source public.f_bad_events: division by zero',
                 'a failing source is named in the error');
SELECT bag_eq('SELECT account_id, score, as_of FROM health_score.account_health', 'SELECT * FROM snap2',
              'and the previous results are intact');

SELECT * FROM finish();
ROLLBACK;
