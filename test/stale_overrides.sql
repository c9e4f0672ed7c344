-- Stale sources and score overrides.
--
-- Stale sources: max_lag per source (the defaults per kind, an explicit one, kept on re-registration, the
-- errors); a refresh while the activity feed has stalled logs status 'stale', holds the flags of the rules
-- over activity (and over the composite score) -- none raised, none cleared, the open ones untouched --
-- while a rule over a fresh source still raises and a cancelled account's flags still clear; account_overview
-- marks the scores stale; once activity arrives again the flags move. The source_freshness view at now().
--
-- Overrides: set_override's errors, its immediate effect on account_health, the refresh keeping it (score
-- and band the override's, computed_score the model's, in health_history too), the audit trail, the rule
-- override_expiring, expiry, clear_override and account_overview.
--
-- Everything runs in one transaction, so now() is constant. T is the next full hour after now(): every
-- refresh is at or after T, so an override set now is in force at it until it expires.
--
--  account  activity (daily)                         surveys              cancelled
--   1 a     T-59d .. T-1d, again T+11d .. T+40d      10 at T-3d           -
--   2 b     T-59d .. T-1d, again T+11d .. T+40d      3 at T+5d            -
--   3 c     T-59d .. T-40d                           -                    -
--   4 d     T-59d .. T-1d                            -                    T+8d
--   5 e     T-59d .. T-25d                           -                    -
--   6 f     the same as a (its twin: its score is the model's score of a)
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SET LOCAL datestyle = 'ISO, MDY';
SET LOCAL intervalstyle = 'postgres';
SELECT plan(81);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql STABLE
AS $$ SELECT date_trunc('hour', now()) + interval '1 hour' $$;

CREATE TABLE public.s_accounts (id bigint PRIMARY KEY, name text, started_at timestamptz, cancelled_at timestamptz);
CREATE TABLE public.s_events (account_id bigint, ts timestamptz);
CREATE TABLE public.s_surveys (account_id bigint, responded_at timestamptz, rating integer);
INSERT INTO public.s_accounts
SELECT id, name, pg_temp.t() - interval '400 days', CASE WHEN id = 4 THEN pg_temp.t() + interval '8 days' END
  FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f')) v (id, name);
INSERT INTO public.s_events
SELECT a, pg_temp.t() - k * interval '1 day' FROM unnest(ARRAY[1, 2, 4, 6]) a, generate_series(1, 59) k;
INSERT INTO public.s_events SELECT 3, pg_temp.t() - k * interval '1 day' FROM generate_series(40, 59) k;
INSERT INTO public.s_events SELECT 5, pg_temp.t() - k * interval '1 day' FROM generate_series(25, 59) k;
INSERT INTO public.s_surveys VALUES
	(1, pg_temp.t() - interval '3 days', 10), (6, pg_temp.t() - interval '3 days', 10),
	(2, pg_temp.t() + interval '5 days', 3);

DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.s_accounts', '{"account_id": "id"}');
	PERFORM health_score.add_source('activity', 'public.s_events', '{"occurred_at": "ts"}', interval '2 days');
	PERFORM health_score.add_source('surveys', 'public.s_surveys');
	-- an activity rule that clears as soon as an account has had no event for 30 days
	PERFORM health_score.add_rule('busy', 'events_30d > 0', 'info', 'Nothing to do.');
END
$$;

-- max_lag: defaults, explicit, kept, errors.
SELECT results_eq($$SELECT k, health_score._default_max_lag(k)::text
                      FROM unnest(ARRAY['accounts', 'activity', 'metrics', 'support_cases', 'surveys', 'touchpoints']) k$$,
                  $$VALUES ('accounts', NULL::text), ('activity', '3 days'), ('metrics', '35 days'),
                           ('support_cases', '90 days'), ('surveys', '180 days'), ('touchpoints', '60 days')$$,
                  'the default max_lag of each kind (the accounts source has none)');
SELECT results_eq($$SELECT kind, relation, max_lag::text FROM health_score.sources ORDER BY kind$$,
                  $$VALUES ('accounts', 'public.s_accounts'::regclass, NULL::text),
                           ('activity', 'public.s_events'::regclass, '2 days'),
                           ('surveys', 'public.s_surveys'::regclass, '180 days')$$,
                  'sources store the explicit max_lag, the default of the kind, or none for the accounts source');
SELECT is((SELECT max_lag::text FROM health_score.add_source('activity', 'public.s_events', '{"occurred_at": "ts"}')),
          '2 days', 'registered again without max_lag, a source keeps the one it had');
SELECT is((SELECT max_lag::text FROM health_score.sources WHERE relation = 'public.s_events'::regclass), '2 days',
          'and it is stored');
SELECT throws_ok($$SELECT health_score.add_source('activity', 'public.s_events', '{"occurred_at": "ts"}', interval '0')$$,
                 '22023', 'max_lag must be a positive interval for a source of kind activity, not 00:00:00',
                 'max_lag 0 is refused');
SELECT throws_ok($$SELECT health_score.add_source('surveys', 'public.s_surveys', '{}', interval '-1 day')$$,
                 '22023', 'max_lag must be a positive interval for a source of kind surveys, not -1 days',
                 'a negative max_lag is refused');
SELECT throws_ok($$SELECT health_score.add_source('accounts', 'public.s_accounts', '{"account_id": "id"}', interval '1 day')$$,
                 '22023', 'max_lag must be a positive interval for a source of kind accounts, not any (the accounts source is never stale)',
                 'the accounts source takes no max_lag');

-- At T every feed is fresh: c has had no activity for 40 days.
SELECT results_eq($$SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t())$$,
                  $$VALUES (6, 6, 0)$$, 'refresh at T: 6 accounts, 6 flags raised');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag WHERE cleared_at IS NULL$$,
              ARRAY['1:busy', '2:busy', '3:inactive', '4:busy', '5:busy', '6:busy'],
              'c is inactive, the others were active in the last 30 days');
SELECT results_eq($$SELECT status, message, details ? 'stale_sources', details ? 'held_rules', details #> '{notify,stale_sources}'
                      FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('ok', NULL::text, false, false, '[]'::jsonb)$$,
                  'with every source fresh the run is ok, holds nothing and names no stale source');
SELECT results_eq($$SELECT account_id, stale, stale_sources FROM health_score.account_overview ORDER BY account_id$$,
                  $$SELECT id, false, '{}'::text[] FROM generate_series(1::bigint, 6) id$$,
                  'account_overview: no score is stale');
CREATE TEMP TABLE flags_t AS SELECT id, account_id, rule, raised_at, updated_at, evidence FROM health_score.flag;

-- At T + 10 days nothing has arrived since T - 1 day: the activity feed (max_lag 2 days) is stale. d was
-- cancelled at T + 8 days; b's detractor rating of T + 5 days is in.
SELECT results_eq($$SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t() + interval '10 days')$$,
                  $$VALUES (5, 1, 1)$$, 'refresh at T + 10 days: one flag raised, one cleared');
SELECT results_eq($$SELECT status, message FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('stale', 'stale sources: public.s_events; the flags of rules active_users_decline, busy, '
                                     'feature_adopted, inactive, infrequent_logins, key_features_unused, licence_gap, '
                                     'new_users, over_licensed, renewal_risk, score_drop held (none raised, none cleared but those of accounts no longer scored)')$$,
                  'the run is logged as stale, naming the source and the rules held');
SELECT results_eq($$SELECT details -> 'stale_sources', details -> 'held_rules' FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('["public.s_events"]'::jsonb,
                            '["active_users_decline", "busy", "feature_adopted", "inactive", "infrequent_logins",
                              "key_features_unused", "licence_gap", "new_users", "over_licensed", "renewal_risk",
                              "score_drop"]'::jsonb)$$,
                  'details list the stale sources and the held rules: those over activity and over the composite score');
SELECT results_eq($$SELECT details #> '{notify,stale_sources}', details #> '{notify,raised}', (details #>> '{notify,as_of}')::timestamptz,
                           (SELECT jsonb_agg(e - 'id') FROM jsonb_array_elements(details #> '{notify,flags}') e)
                      FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('["public.s_events"]'::jsonb, '1'::jsonb, pg_temp.t() + interval '10 days',
                            '[{"rule": "detractor", "severity": "red", "account_id": "2"}]'::jsonb)$$,
                  'the NOTIFY payload names the stale source beside the new flag');
SELECT results_eq($$SELECT f.id, f.raised_at, f.updated_at, f.cleared_at, f.evidence FROM health_score.flag f
                     WHERE f.account_id = '3' AND f.rule = 'inactive'$$,
                  $$SELECT id, pg_temp.t(), pg_temp.t(), NULL::timestamptz,
                           '{"days": 30, "account_age_days": 400, "days_since_activity": 40}'::jsonb
                      FROM flags_t WHERE account_id = '3' AND rule = 'inactive'$$,
                  'c''s inactive flag is left as it was at T: still open, its evidence not updated');
SELECT is_empty($$SELECT FROM health_score.flag WHERE account_id = '5' AND rule = 'inactive'$$,
                'e, now 35 days without activity, is not flagged inactive: the rule is held');
SELECT results_eq($$SELECT updated_at, cleared_at, evidence FROM health_score.flag WHERE account_id = '5' AND rule = 'busy'$$,
                  $$VALUES (pg_temp.t(), NULL::timestamptz, '{"events_30d": 5}'::jsonb)$$,
                  'e''s busy flag, whose condition no longer holds, is not cleared: the rule is held');
SELECT results_eq($$SELECT raised_at, severity, evidence FROM health_score.flag
                     WHERE account_id = '2' AND rule = 'detractor' AND cleared_at IS NULL$$,
                  $$VALUES (pg_temp.t() + interval '10 days', 'red', '{"days": 90, "max_rating": 6, "detractor_responses": 1}'::jsonb)$$,
                  'a rule over the fresh surveys source still raises: b is a detractor');
SELECT results_eq($$SELECT cleared_at FROM health_score.flag WHERE account_id = '4'$$,
                  $$VALUES (pg_temp.t() + interval '10 days')$$,
                  'd, cancelled while the activity feed is stale, has its (held rule''s) flag cleared');
SELECT is_empty($$SELECT FROM health_score.account_health WHERE account_id = '4'$$, 'and is no longer scored');
SELECT results_eq($$SELECT account_id, stale, stale_sources FROM health_score.account_overview ORDER BY account_id$$,
                  $$SELECT id, true, '{public.s_events}'::text[] FROM unnest(ARRAY[1, 2, 3, 5, 6]::bigint[]) id$$,
                  'account_overview marks every score stale and names the stale source');
SELECT results_eq($$SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t() + interval '10 days 1 hour')$$,
                  $$VALUES (5, 0, 0)$$, 'an hour later, still stale: nothing raised or cleared');
SELECT is((SELECT (details -> 'notify') - 'as_of' FROM health_score.refresh_log ORDER BY id DESC LIMIT 1),
          '{"flags": [], "raised": 0, "truncated": false, "stale_sources": ["public.s_events"]}'::jsonb,
          'the NOTIFY is sent without new flags, for the stale source');

-- Activity arrives again (for a, b and f, daily from T + 11 days to T + 40 days): the flags move.
INSERT INTO public.s_events
SELECT a, pg_temp.t() + k * interval '1 day' FROM unnest(ARRAY[1, 2, 6]) a, generate_series(11, 40) k;
SELECT results_eq($$SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh(pg_temp.t() + interval '11 days 1 hour')$$,
                  $$VALUES (5, 1, 1)$$, 'refresh at T + 11 days 1 hour with fresh activity: one flag raised, one cleared');
SELECT results_eq($$SELECT status, message, details ? 'stale_sources', details ? 'held_rules', details #> '{notify,stale_sources}'
                      FROM health_score.refresh_log ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('ok', NULL::text, false, false, '[]'::jsonb)$$,
                  'the run is ok again');
SELECT results_eq($$SELECT raised_at, cleared_at, evidence ->> 'days_since_activity' FROM health_score.flag
                     WHERE account_id = '5' AND rule = 'inactive'$$,
                  $$VALUES (pg_temp.t() + interval '11 days 1 hour', NULL::timestamptz, '36.042')$$,
                  'e is flagged inactive now (36 days and 1 hour)');
SELECT results_eq($$SELECT cleared_at FROM health_score.flag WHERE account_id = '5' AND rule = 'busy'$$,
                  $$VALUES (pg_temp.t() + interval '11 days 1 hour')$$, 'and its busy flag is cleared');
SELECT results_eq($$SELECT f.id, f.updated_at, f.cleared_at, f.evidence ->> 'days_since_activity' FROM health_score.flag f
                     WHERE f.account_id = '3' AND f.rule = 'inactive'$$,
                  $$SELECT id, pg_temp.t() + interval '11 days 1 hour', NULL::timestamptz, '51.042'
                      FROM flags_t WHERE account_id = '3' AND rule = 'inactive'$$,
                  'c''s inactive flag is the same flag, its evidence updated (51 days and 1 hour)');
SELECT results_eq($$SELECT count(*)::integer, count(*) FILTER (WHERE stale)::integer,
                           count(*) FILTER (WHERE stale_sources = '{}')::integer FROM health_score.account_overview$$,
                  $$VALUES (5, 0, 5)$$, 'account_overview: no score is stale any more');

-- Overrides: errors first, none of which writes anything.
CREATE TEMP TABLE h_before AS SELECT account_id, score, band, computed_score, as_of FROM health_score.account_health;
SELECT throws_ok($$SELECT health_score.set_override('1', 101, 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'score must be a number from 0 to 100, not 101', 'score 101 is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', -1, 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'score must be a number from 0 to 100, not -1', 'score -1 is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 'NaN', 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'score must be a number from 0 to 100, not NaN', 'score NaN is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', NULL, 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'score must be a number from 0 to 100, not NULL', 'a NULL score is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, NULL, pg_temp.t() + interval '1 day')$$,
                 '22023', 'reason must say why the score is overridden', 'a NULL reason is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, '   ', pg_temp.t() + interval '1 day')$$,
                 '22023', 'reason must say why the score is overridden', 'a blank reason is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, E'\t\n\u00a0', now() + interval '1 day')$$,
                 '22023', 'reason must say why the score is overridden', 'so is one of tabs, line breaks and no-break spaces');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, 'x', '2020-01-01 00:00+00')$$,
                 '22023', 'expires_at must be a time in the future, not 2020-01-01 00:00:00+00', 'an expires_at in the past is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, 'x', now())$$,
                 '22023', 'expires_at must be a time in the future, not ' || now()::text, 'an expires_at of now is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, 'x', NULL)$$,
                 '22023', 'expires_at must be a time in the future, not NULL', 'a NULL expires_at is refused');
SELECT throws_ok($$SELECT health_score.set_override('1', 50, 'x', 'infinity')$$,
                 '22023', 'expires_at must be a time in the future, not infinity', 'an infinite expires_at is refused');
SELECT throws_ok($$SELECT health_score.set_override('999', 50, 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'account_id ''999'' is not in the accounts source', 'an unknown account is refused');
SELECT throws_ok($$SELECT health_score.set_override('abc', 50, 'x', pg_temp.t() + interval '1 day')$$,
                 '22023', 'account_id ''abc'' is not a valid bigint account key', 'a key that is no bigint is refused');
SELECT throws_ok($$SELECT health_score.set_override(NULL, 50, 'x', pg_temp.t() + interval '1 day')$$,
                 '22004', 'account_id must not be null', 'a NULL account is refused');
SELECT throws_ok($$SELECT health_score.clear_override('abc')$$,
                 '22023', 'account_id ''abc'' is not a valid bigint account key', 'clear_override refuses a key that is no bigint');
SELECT results_eq($$SELECT (SELECT count(*)::integer FROM health_score.override), (SELECT count(*)::integer FROM health_score.override_audit)$$,
                  $$VALUES (0, 0)$$, 'the refused calls wrote no override and no audit row');

-- set_override applies at once to account_health: score and band, not computed_score.
SELECT results_eq($$SELECT account_id, score, reason, expires_at, set_by, set_at
                      FROM health_score.set_override('1', 25, 'Champion left', pg_temp.t() + interval '40 days')$$,
                  $$VALUES ('1', 25::float8, 'Champion left', pg_temp.t() + interval '40 days', current_user::name, now())$$,
                  'set_override returns the override, set by the caller now');
SELECT results_eq($$SELECT h.score, h.band::text, h.computed_score, h.as_of FROM health_score.account_health h WHERE h.account_id = '1'$$,
                  $$SELECT 25::float8, 'poor', b.computed_score, pg_temp.t() + interval '11 days 1 hour' FROM h_before b WHERE b.account_id = '1'$$,
                  'account_health at once: score 25, band poor, computed_score unchanged');
SELECT ok((SELECT band::text = 'average' AND computed_score > 40 FROM h_before WHERE account_id = '1'),
          '(the model scores a as average, above 40)');
SELECT results_eq($$SELECT account_id, score, computed_score, overridden, overridden_by, override_reason, override_expires_at
                      FROM health_score.account_overview WHERE account_id IN (1, 6) ORDER BY account_id$$,
                  $$SELECT b.account_id::bigint, (CASE b.account_id WHEN '1' THEN 25 ELSE b.score END)::numeric(5,1), b.computed_score::numeric(5,1),
                           b.account_id = '1', CASE b.account_id WHEN '1' THEN current_user::name END,
                           CASE b.account_id WHEN '1' THEN 'Champion left' END,
                           CASE b.account_id WHEN '1' THEN pg_temp.t() + interval '40 days' END
                      FROM h_before b WHERE b.account_id IN ('1', '6') ORDER BY b.account_id$$,
                  'account_overview shows the override, who set it and why; f is not overridden');
-- a second set_override (the key written '001') replaces it
SELECT lives_ok($$SELECT health_score.set_override('001', 40, 'Champion left; budget cut', pg_temp.t() + interval '32 days')$$,
                'set_override again, the key written 001');
SELECT results_eq($$SELECT account_id, score, reason, expires_at FROM health_score.override$$,
                  $$VALUES ('1', 40::float8, 'Champion left; budget cut', pg_temp.t() + interval '32 days')$$,
                  'it replaces the override of account 1');
SELECT results_eq($$SELECT score, band::text FROM health_score.account_health WHERE account_id = '1'$$,
                  $$VALUES (40::float8, 'average')$$, 'score 40: band average (poor is below 40)');
SELECT results_eq($$SELECT action, changed_by, old_score, new_score, old_reason, new_reason, old_expires_at, new_expires_at
                      FROM health_score.override_audit WHERE account_id = '1' ORDER BY id$$,
                  $$VALUES ('set', current_user::name, NULL::float8, 25::float8, NULL::text, 'Champion left',
                            NULL::timestamptz, pg_temp.t() + interval '40 days'),
                           ('changed', current_user::name, 25, 40, 'Champion left', 'Champion left; budget cut',
                            pg_temp.t() + interval '40 days', pg_temp.t() + interval '32 days')$$,
                  'the audit holds the set and the change, with old and new values');

-- A refresh keeps the override: 20 days before it expires.
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '12 days')$$, 'refresh at T + 12 days');
SELECT results_eq($$SELECT h.score, h.band::text, h.computed_score FROM health_score.account_health h WHERE h.account_id = '1'$$,
                  $$SELECT 40::float8, 'average', f.score FROM health_score.account_health f WHERE f.account_id = '6'$$,
                  'the refresh writes the override''s score and band, and the model''s computed_score (that of a''s twin f)');
SELECT ok((SELECT score = computed_score AND score > 70 FROM health_score.account_health WHERE account_id = '6'),
          'f, not overridden, scores what the model computes (good, unlike the override)');
SELECT results_eq($$SELECT h.score, h.band::text, h.computed_score FROM health_score.health_history h
                     WHERE h.account_id = '1' AND h.day = (pg_temp.t() + interval '12 days')::date$$,
                  $$SELECT 40::float8, 'average', f.score FROM health_score.account_health f WHERE f.account_id = '6'$$,
                  'health_history records the same');
SELECT is_empty($$SELECT FROM health_score.flag WHERE rule = 'override_expiring'$$,
                'override_expiring: no flag 20 days before expiry');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '24 days')$$, 'refresh at T + 24 days');
SELECT is_empty($$SELECT FROM health_score.flag WHERE rule = 'override_expiring'$$,
                'no flag 8 days before expiry');
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '25 days')$$, 'refresh at T + 25 days');
SELECT results_eq($$SELECT account_id, severity, raised_at, cleared_at, evidence FROM health_score.flag WHERE rule = 'override_expiring'$$,
                  $$VALUES ('1', 'info', pg_temp.t() + interval '25 days', NULL::timestamptz,
                            '{"days": 7, "override_days_left": 7}'::jsonb)$$,
                  'an info flag 7 days before expiry, with the days left as evidence');

-- At expires_at the computed score is back.
SELECT lives_ok($$SELECT health_score.refresh(pg_temp.t() + interval '32 days')$$, 'refresh at T + 32 days, when it expires');
SELECT results_eq($$SELECT h.score, h.band, h.computed_score FROM health_score.account_health h WHERE h.account_id = '1'$$,
                  $$SELECT f.score, f.band, f.score FROM health_score.account_health f WHERE f.account_id = '6'$$,
                  'the score and band are the computed ones again');
SELECT ok((SELECT score > 40 FROM health_score.account_health WHERE account_id = '1'), '(not the override''s 40)');
SELECT results_eq($$SELECT h.score, h.computed_score FROM health_score.health_history h
                     WHERE h.account_id = '1' AND h.day = (pg_temp.t() + interval '32 days')::date$$,
                  $$SELECT f.score, f.score FROM health_score.account_health f WHERE f.account_id = '6'$$,
                  'and in health_history');
SELECT results_eq($$SELECT cleared_at FROM health_score.flag WHERE rule = 'override_expiring'$$,
                  $$VALUES (pg_temp.t() + interval '32 days')$$, 'the override_expiring flag is cleared');

-- clear_override.
SELECT is(health_score.clear_override('1'), true, 'clear_override removes the (expired) override: true');
SELECT is(health_score.clear_override('1'), false, 'a second time there is none: false');
SELECT results_eq($$SELECT action, old_score, new_score, old_reason, new_reason, old_expires_at, new_expires_at
                      FROM health_score.override_audit WHERE account_id = '1' ORDER BY id$$,
                  $$VALUES ('set', NULL::float8, 25::float8, NULL::text, 'Champion left', NULL::timestamptz, pg_temp.t() + interval '40 days'),
                           ('changed', 25, 40, 'Champion left', 'Champion left; budget cut', pg_temp.t() + interval '40 days', pg_temp.t() + interval '32 days'),
                           ('cleared', 40, NULL, 'Champion left; budget cut', NULL, pg_temp.t() + interval '32 days', NULL)$$,
                  'the audit adds the clearing, and nothing for the call that found none');
-- clearing one in force restores the computed score at once
CREATE TEMP TABLE h2 AS SELECT score, band, computed_score FROM health_score.account_health WHERE account_id = '2';
SELECT lives_ok($$SELECT health_score.set_override('2', 95, 'Renewal signed', pg_temp.t() + interval '60 days')$$,
                'an override of b');
SELECT results_eq($$SELECT h.score, h.band::text, h.computed_score FROM health_score.account_health h WHERE h.account_id = '2'$$,
                  $$SELECT 95::float8, 'good', computed_score FROM h2$$, 'in force at once: score 95, band good');
SELECT is(health_score.clear_override('2'), true, 'clear_override of an override in force: true');
SELECT results_eq($$SELECT h.score, h.band, h.computed_score FROM health_score.account_health h WHERE h.account_id = '2'$$,
                  $$SELECT score, band, computed_score FROM h2$$,
                  'clearing it restores the computed score and band at once');
SELECT ok((SELECT score < 70 FROM h2), '(b''s computed score is not good)');

-- Defaults of the other kinds, and the source_freshness view at now().
CREATE TABLE public.s_events2 (account_id bigint, occurred_at timestamptz);
CREATE TABLE public.s_cases (account_id bigint, opened_at timestamptz);
CREATE TABLE public.s_touches (account_id bigint, occurred_at timestamptz);
CREATE TABLE public.s_metrics (account_id bigint, metric text, value numeric, measured_at timestamptz);
INSERT INTO public.s_cases VALUES (1, date_trunc('hour', now()) - interval '30 days'),
	(2, date_trunc('hour', now()) - interval '12 days'), (3, date_trunc('hour', now()) + interval '2 days');
DO $$
BEGIN
	PERFORM health_score.add_source('activity', 'public.s_events2');
	PERFORM health_score.add_source('support_cases', 'public.s_cases');
	PERFORM health_score.add_source('touchpoints', 'public.s_touches');
	PERFORM health_score.add_source('metrics', 'public.s_metrics');
END
$$;
SELECT results_eq($$SELECT kind, relation, max_lag::text FROM health_score.sources ORDER BY kind, relation::text$$,
                  $$VALUES ('accounts', 'public.s_accounts'::regclass, NULL::text),
                           ('activity', 'public.s_events'::regclass, '2 days'),
                           ('activity', 'public.s_events2'::regclass, '3 days'),
                           ('metrics', 'public.s_metrics'::regclass, '35 days'),
                           ('support_cases', 'public.s_cases'::regclass, '90 days'),
                           ('surveys', 'public.s_surveys'::regclass, '180 days'),
                           ('touchpoints', 'public.s_touches'::regclass, '60 days')$$,
                  'each kind''s default max_lag is stored');
SELECT is((SELECT max_lag::text FROM health_score.add_source('support_cases', 'public.s_cases', '{}', interval '10 days')),
          '10 days', 'registered again with a max_lag, a source takes the new one');
SELECT results_eq($$SELECT kind, relation, time_column, newest, max_lag::text, lag, stale
                      FROM health_score.source_freshness ORDER BY kind, relation::text$$,
                  $$VALUES ('accounts', 'public.s_accounts'::regclass, NULL::text, NULL::timestamptz, NULL::text, NULL::interval, false),
                           ('activity', 'public.s_events'::regclass, 'ts', pg_temp.t() - interval '1 day', '2 days',
                            now() - (pg_temp.t() - interval '1 day'), false),
                           ('activity', 'public.s_events2'::regclass, 'occurred_at', NULL, '3 days', NULL, false),
                           ('metrics', 'public.s_metrics'::regclass, 'measured_at', NULL, '35 days', NULL, false),
                           ('support_cases', 'public.s_cases'::regclass, 'opened_at', date_trunc('hour', now()) - interval '12 days',
                            '10 days', now() - (date_trunc('hour', now()) - interval '12 days'), true),
                           ('surveys', 'public.s_surveys'::regclass, 'responded_at', pg_temp.t() - interval '3 days', '180 days',
                            now() - (pg_temp.t() - interval '3 days'), false),
                           ('touchpoints', 'public.s_touches'::regclass, 'occurred_at', NULL, '60 days', NULL, false)$$,
                  'source_freshness: each source''s newest row up to now, its lag and whether it is stale (an empty source is not)');
SELECT results_eq($$SELECT relation, newest, lag, stale FROM health_score._source_freshness(pg_temp.t() + interval '10 days')
                     WHERE relation = 'public.s_events'::regclass$$,
                  $$VALUES ('public.s_events'::regclass, pg_temp.t() - interval '1 day', interval '11 days', true)$$,
                  'freshness is point in time: at T + 10 days activity is 11 days old, later rows not counted');

-- An override written with SQL, naming an audit row that does not record it, is audited all the same.
INSERT INTO health_score.override (account_id, score, reason, expires_at, audit_id)
VALUES ('5', 10, 'forged', now() + interval '1 day', (SELECT max(id) FROM health_score.override_audit));
SELECT results_eq($$SELECT a.action, a.new_score, a.new_reason FROM health_score.override o
                      JOIN health_score.override_audit a ON a.id = o.audit_id WHERE o.account_id = '5'$$,
                  $$VALUES ('set', 10::float8, 'forged')$$,
                  'an INSERT that names another audit row still gets its own');

SELECT * FROM finish();
ROLLBACK;
