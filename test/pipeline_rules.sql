-- Every early-warning rule fires for exactly the account built to trip it and nowhere else; a healthy
-- control account raises nothing; each flag carries its evidence and the rule's action.
--
-- One account per rule, all on one day T = 2026-03-01 12:00 UTC. The baseline account: users 1..8 each
-- active every day of the last 100 days, alternating the key features report and dashboard; 10 seats; an
-- inbound call 10 days ago. Each rule's account differs from it in one respect. A refresh at T - 30 days
-- comes first, so that score_drop has history and flags raised then can clear.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(34);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 12:00+00'::timestamptz $$;

CREATE TABLE public.r_accounts (id bigint PRIMARY KEY, name text, segment text, seats integer, renewal_date date,
	started_at timestamptz, cancelled_at timestamptz);
CREATE TABLE public.r_events (account_id bigint, user_id bigint, occurred_at timestamptz, feature text);
CREATE TABLE public.r_cases (account_id bigint, opened_at timestamptz, closed_at timestamptz);
CREATE TABLE public.r_surveys (account_id bigint, responded_at timestamptz, rating integer, category text);
CREATE TABLE public.r_touches (account_id bigint, occurred_at timestamptz, direction text, answered boolean);

INSERT INTO public.r_accounts (id, name, segment, seats, renewal_date, started_at, cancelled_at) VALUES
	(1, 'control', 'smb', 10, NULL, '2025-01-01', NULL),
	(2, 'inactive', 'smb', NULL, NULL, '2025-01-01', NULL),
	(3, 'infrequent_logins', 'smb', 10, NULL, '2025-01-01', NULL),
	(4, 'licence_gap', 'smb', 20, NULL, '2025-01-01', NULL),
	(5, 'over_licensed', 'smb', 6, NULL, '2025-01-01', NULL),
	(6, 'key_features_unused', 'smb', 10, NULL, '2025-01-01', NULL),
	(7, 'active_users_decline', 'smb', 10, NULL, '2025-01-01', NULL),
	(8, 'support_spike', 'smb', 10, NULL, '2025-01-01', NULL),
	(9, 'long_open_case', 'smb', 10, NULL, '2025-01-01', NULL),
	(10, 'silent_account', 'smb', 10, NULL, '2025-01-01', NULL),
	(11, 'unreturned_contact', 'smb', 10, NULL, '2025-01-01', NULL),
	(12, 'detractor', 'smb', 10, NULL, '2025-01-01', NULL),
	(13, 'observation', 'smb', 10, NULL, '2025-01-01', NULL),
	(14, 'renewal_risk', 'enterprise', 10, (pg_temp.t() + interval '30 days')::date, '2025-01-01', NULL),
	(15, 'score_drop', 'smb', 10, NULL, '2025-01-01', NULL),
	(16, 'new_users', 'smb', 20, NULL, '2025-01-01', NULL),
	(17, 'feature_adopted', 'smb', 10, NULL, '2025-01-01', NULL),
	(18, 'cancelled', 'smb', 10, NULL, '2025-01-01', pg_temp.t() - interval '5 days'),
	(19, 'not started', 'smb', 10, NULL, pg_temp.t() + interval '5 days', NULL);

-- Baseline activity: every day d of the last 100 days (d = 0 is T itself) for users 1..8.
INSERT INTO public.r_events
SELECT a, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM unnest(ARRAY[1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 16, 18]) a, generate_series(1, 8) u, generate_series(0, 99) d;
-- inactive: the same, but from 200 to 101 days ago
INSERT INTO public.r_events
SELECT 2, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(1, 8) u, generate_series(101, 200) d;
-- infrequent_logins: every 10 days only: 3 events per user in the last 30 days
INSERT INTO public.r_events
SELECT 3, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 20 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(1, 8) u, generate_series(0, 99, 10) d;
-- key_features_unused: only logins in the last 30 days, key features before
INSERT INTO public.r_events
SELECT 6, u, pg_temp.t() - d * interval '1 day',
       CASE WHEN d < 30 THEN 'login' WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(1, 8) u, generate_series(0, 99) d;
-- active_users_decline: 10 users until 31 days ago, then users 1..7 only (10 -> 7, down 30%)
INSERT INTO public.r_events
SELECT 7, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(1, 10) u, generate_series(0, 99) d
 WHERE u <= 7 OR d >= 31;
-- score_drop: daily until 30 days ago, then once a week (5 events per user in 30 days)
INSERT INTO public.r_events
SELECT 15, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(1, 8) u, generate_series(0, 99) d
 WHERE d >= 30 OR d % 7 = 0;
-- new_users: ten more users, first seen 10 days ago
INSERT INTO public.r_events
SELECT 16, u, pg_temp.t() - d * interval '1 day', CASE WHEN d % 2 = 0 THEN 'report' ELSE 'dashboard' END
  FROM generate_series(101, 110) u, generate_series(0, 10) d;
-- feature_adopted: reports all along, the dashboard for the first time 3 days ago
INSERT INTO public.r_events
SELECT 17, u, pg_temp.t() - d * interval '1 day', CASE WHEN d <= 3 AND d % 2 = 1 THEN 'dashboard' ELSE 'report' END
  FROM generate_series(1, 8) u, generate_series(0, 99) d;

-- Support: a spike (4 cases in 30 days against 1 in the 90 days before, all closed) and a case open 20 days.
INSERT INTO public.r_cases VALUES
	(8, pg_temp.t() - interval '100 days', pg_temp.t() - interval '99 days'),
	(8, pg_temp.t() - interval '25 days', pg_temp.t() - interval '24 days'),
	(8, pg_temp.t() - interval '20 days', pg_temp.t() - interval '19 days'),
	(8, pg_temp.t() - interval '15 days', pg_temp.t() - interval '14 days'),
	(8, pg_temp.t() - interval '5 days', pg_temp.t() - interval '4 days'),
	(9, pg_temp.t() - interval '20 days', NULL);

-- Surveys: the control is a promoter; the detractor rates the product 9 overall but Accuracy 5.
INSERT INTO public.r_surveys VALUES
	(1, pg_temp.t() - interval '20 days', 9, NULL),
	(12, pg_temp.t() - interval '20 days', 9, NULL),
	(12, pg_temp.t() - interval '20 days', 5, 'Accuracy');

-- Touchpoints: an inbound call 10 days ago for everyone but the silent account; the unreturned-contact
-- account last called in 40 days ago and has not answered three calls since. Directions are in any case.
INSERT INTO public.r_touches
SELECT a, pg_temp.t() - interval '10 days', (ARRAY['inbound', 'Inbound', 'INBOUND'])[1 + a % 3], NULL
  FROM generate_series(1, 19) a WHERE a NOT IN (10, 11);
INSERT INTO public.r_touches VALUES
	(11, pg_temp.t() - interval '40 days', 'inbound', NULL),
	(11, pg_temp.t() - interval '20 days', 'outbound', false),
	(11, pg_temp.t() - interval '15 days', 'Outbound', false),
	(11, pg_temp.t() - interval '5 days', 'OUTBOUND', false);

-- Observations: one open; on the control, one resolved before T.
INSERT INTO health_score.observation (account_id, indicator, note, observed_at, resolved_at) VALUES
	('13', 'no_exec_sponsor', 'Sponsor left in January', pg_temp.t() - interval '5 days', NULL),
	('1', 'no_trained_admin', 'Admin trained since', pg_temp.t() - interval '50 days', pg_temp.t() - interval '40 days');

DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.r_accounts', '{"account_id": "id"}');
	PERFORM health_score.add_source('activity', 'public.r_events');
	PERFORM health_score.add_source('support_cases', 'public.r_cases');
	PERFORM health_score.add_source('surveys', 'public.r_surveys');
	PERFORM health_score.add_source('touchpoints', 'public.r_touches');
END
$$;
UPDATE health_score.profile SET key_features = '{report,dashboard}' WHERE name = 'default';
-- Enterprise accounts expect ten times the activity and are judged on engagement alone.
INSERT INTO health_score.profile (name, segment, expected_events_per_user_day, key_features, weights)
VALUES ('enterprise', 'enterprise', 10, '{report,dashboard}', '{"engagement": 1}');

SELECT ok((SELECT accounts = 18 FROM health_score.refresh(pg_temp.t() - interval '30 days')),
	'the refresh 30 days earlier scores the 18 accounts started by then');
SELECT ok((SELECT accounts = 17 FROM health_score.refresh(pg_temp.t())),
	'the refresh at T scores 17 accounts: not the cancelled one, not the one yet to start');

CREATE TEMP VIEW open_flags AS
SELECT account_id::integer AS account, rule FROM health_score.flag WHERE cleared_at IS NULL;

SELECT is_empty('SELECT * FROM open_flags WHERE account = 1', 'the healthy control account raises nothing');
SELECT set_eq(format('SELECT account FROM open_flags WHERE rule = %L', code), ARRAY[account],
              format('%s fires for its account only', code))
  FROM (VALUES ('inactive', 2), ('infrequent_logins', 3), ('licence_gap', 4), ('over_licensed', 5),
               ('key_features_unused', 6), ('active_users_decline', 7), ('support_spike', 8),
               ('long_open_case', 9), ('silent_account', 10), ('unreturned_contact', 11), ('detractor', 12),
               ('observation', 13), ('renewal_risk', 14), ('score_drop', 15), ('new_users', 16),
               ('feature_adopted', 17)) AS x (code, account)
 ORDER BY account;
SELECT bag_eq('SELECT account, rule FROM open_flags',
              $$SELECT x.a, r.code FROM health_score.rule r
                  JOIN (VALUES (2, 'inactive'), (3, 'infrequent_logins'), (4, 'licence_gap'), (5, 'over_licensed'),
                               (6, 'key_features_unused'), (7, 'active_users_decline'), (8, 'support_spike'),
                               (9, 'long_open_case'), (10, 'silent_account'), (11, 'unreturned_contact'),
                               (12, 'detractor'), (13, 'observation'), (14, 'renewal_risk'), (15, 'score_drop'),
                               (16, 'new_users'), (17, 'feature_adopted')) x (a, c) ON x.c = r.code$$,
              'exactly one open flag per rule account, nothing else');

-- Evidence: the numbers that tripped the rule and the thresholds.
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'licence_gap' AND cleared_at IS NULL),
          '{"below": 0.5, "utilisation": 0.400}'::jsonb,
          'licence_gap evidence: 8 active users on 20 seats against 0.5');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'support_spike' AND cleared_at IS NULL),
          '{"factor": 2, "cases_30d": 4, "min_cases": 3, "cases_prev_90d": 1}'::jsonb,
          'support_spike evidence: 4 cases in 30 days against 1 in the 90 days before');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'active_users_decline' AND cleared_at IS NULL),
          '{"min_decline": 0.2, "min_previous_users": 3, "active_users_decline": 0.300, "active_users_prev_30d": 10}'::jsonb,
          'active_users_decline evidence: active users down 30% (10 -> 7)');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'new_users' AND cleared_at IS NULL),
          '{"days": 30, "new_users": 10, "min_new_users": 10}'::jsonb,
          'new_users evidence: 10 users first seen in 30 days, the window coming from the measure');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'feature_adopted' AND cleared_at IS NULL),
          '{"days": 7, "key_features_adopted": 1}'::jsonb, 'feature_adopted evidence: one key feature newly used in 7 days');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'detractor' AND cleared_at IS NULL),
          '{"days": 90, "max_rating": 6, "detractor_responses": 1}'::jsonb, 'detractor evidence: one rating of 6 or less in 90 days');
SELECT ok((SELECT (evidence ->> 'score_earlier')::float8 - (evidence ->> 'score')::float8 >= 15
                  AND evidence @> '{"days": 30, "min_drop": 15, "tolerance_days": 7}'
             FROM health_score.flag WHERE rule = 'score_drop' AND cleared_at IS NULL),
          'score_drop evidence: a drop of 15 points or more against the score 30 days earlier');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'unreturned_contact' AND cleared_at IS NULL),
          '{"days": 30, "min_unanswered": 3, "unanswered_outreach": 3}'::jsonb,
          'unreturned_contact evidence: three unanswered calls since the customer last responded');
SELECT is((SELECT evidence FROM health_score.flag WHERE rule = 'silent_account' AND cleared_at IS NULL),
          '{"days": 90, "open_cases": 0, "account_age_days": 424.500, "days_since_contact": "Infinity"}'::jsonb,
          'silent_account evidence: never in contact (days since: Infinity), no open case');
SELECT is_empty($$SELECT FROM health_score.flag f JOIN health_score.rule r ON r.code = f.rule
                  WHERE f.cleared_at IS NULL AND (f.action IS DISTINCT FROM r.action OR f.severity <> r.severity
                                                  OR f.raised_at IS NULL)$$,
                'every open flag carries its rule''s action and severity');
SELECT is((SELECT profile FROM health_score.account_health WHERE account_id = '14'), 'enterprise',
          'the segment''s profile wins over the catch-all default');

-- Flags raised 30 days earlier whose cause went away are cleared as of T.
SELECT ok((SELECT count(*) > 0 AND bool_and(cleared_at = pg_temp.t())
             FROM health_score.flag WHERE rule = 'silent_account' AND account_id <> '10' AND raised_at < pg_temp.t()),
          'silent_account flags raised 30 days ago (the inbound calls were still to come) are cleared at T');
SELECT ok((SELECT cleared_at = pg_temp.t() FROM health_score.flag WHERE account_id = '18' AND rule = 'silent_account'),
          'a cancelled account''s flags are cleared');
SELECT is_empty($$SELECT FROM health_score.account_health WHERE account_id IN ('18', '19')$$,
                'cancelled and not yet started accounts have no current score');

SELECT * FROM finish();
ROLLBACK;
