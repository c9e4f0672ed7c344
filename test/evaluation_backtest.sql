-- backtest() on hand-built data with answers worked out by hand: the AUC of the score (from health_history),
-- of a component and of the baselines, churn per band, rule lift, accounts without an outcome left out,
-- windows without churn; a day without history recomputed point in time exactly as refresh() would score
-- it; outcome inactive; bad arguments. explain() and score_changes: contributions that add up to the change.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SELECT plan(51);

CREATE FUNCTION pg_temp.t0() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-01-01 12:00+00'::timestamptz $$;

-- Eight accounts; 1 cancels 10 days after T0, 2 after 50 days, 3 after 120 days (outside a 90-day horizon).
CREATE TABLE public.b_accounts (account_id bigint PRIMARY KEY, seats integer, started_at timestamptz, cancelled_at timestamptz);
INSERT INTO public.b_accounts
SELECT a, 2, '2025-01-01', CASE a WHEN 1 THEN pg_temp.t0() + interval '10 days' WHEN 2 THEN pg_temp.t0() + interval '50 days'
                                  WHEN 3 THEN pg_temp.t0() + interval '120 days' END
  FROM generate_series(1, 8) a;
-- Activity: accounts 1 and 2 last active 40 and 5 days before T0 (once in 90 days); the others three times,
-- the last a day before T0; after T0 only accounts 4 to 8 are active (for outcome inactive).
CREATE TABLE public.b_events (account_id bigint, user_id text, occurred_at timestamptz);
INSERT INTO public.b_events VALUES (1, 'u', pg_temp.t0() - interval '40 days'), (2, 'u', pg_temp.t0() - interval '5 days');
INSERT INTO public.b_events SELECT a, 'u', pg_temp.t0() - d * interval '1 day' FROM generate_series(3, 8) a, unnest(ARRAY[1, 20, 60]) d;
INSERT INTO public.b_events SELECT a, 'u', pg_temp.t0() + d * interval '1 day' FROM generate_series(4, 8) a, generate_series(1, 400, 3) d;
DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.b_accounts');
	PERFORM health_score.add_source('activity', 'public.b_events');
END
$$;

-- The history of day T0, as a refresh would have stored it, with scores chosen by hand (engagement equal to
-- the score), and the inactive flag open on accounts 1 and 3.
INSERT INTO health_score.health_history (account_id, day, as_of, profile, score, band, engagement, computed_score, profile_version)
SELECT a::text, pg_temp.t0()::date, pg_temp.t0(), 'default', s, health_score.band(s), s, s, 1
  FROM unnest(ARRAY[1, 2, 3, 4, 5, 6, 7, 8], ARRAY[10, 50, 20, 80, 90, 30, 60, 75]::float8[]) AS x (a, s);
INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at)
VALUES ('1', 'inactive', 'red', pg_temp.t0() - interval '1 day', pg_temp.t0() - interval '1 day'),
       ('3', 'inactive', 'red', pg_temp.t0() - interval '1 day', pg_temp.t0() - interval '1 day');

CREATE TEMP TABLE bt AS SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0() + interval '7 days');
-- churned {1: 10, 2: 50}, retained {20, 80, 90, 30, 60, 75}: 6 + 4 of 12 pairs ranked right
SELECT results_eq($$SELECT scores_from, accounts, left_out, churned, round(churn_rate::numeric, 4), round(auc::numeric, 4)
                      FROM bt WHERE as_of = pg_temp.t0()$$,
                  $$VALUES ('history', 8, 0, 2, 0.25, 0.8333)$$,
                  'the day with history: 8 accounts, 2 cancelled within 90 days, AUC 10/12');
SELECT is((SELECT component_auc FROM bt WHERE as_of = pg_temp.t0()), '{"engagement": 0.8333}'::jsonb,
          'the AUC of each component present');
SELECT is((SELECT churn_by_band FROM bt WHERE as_of = pg_temp.t0()),
          '{"poor": {"accounts": 3, "churned": 1, "churn_rate": 0.3333}, "average": {"accounts": 2, "churned": 1, "churn_rate": 0.5},
            "good": {"accounts": 3, "churned": 0, "churn_rate": 0}}'::jsonb,
          'churn per band: poor 1 of 3, average 1 of 2, good none of 3');
SELECT is((SELECT rule_lift -> 'inactive' FROM bt WHERE as_of = pg_temp.t0()),
          '{"flagged": 2, "churn_flagged": 0.5, "churn_unflagged": 0.1667, "lift": 3}'::jsonb,
          'rule lift: the flagged churn at 1/2, the others at 1/6, three times as often');
SELECT is((SELECT rule_lift -> 'licence_gap' FROM bt WHERE as_of = pg_temp.t0()),
          '{"flagged": 0, "churn_flagged": null, "churn_unflagged": 0.25, "lift": null}'::jsonb,
          'a rule that flagged nobody has no churn rate or lift, not an error');
SELECT is((SELECT baseline_auc FROM bt WHERE as_of = pg_temp.t0()),
          '{"days_since_activity": 1, "events_90d": 1, "decayed_events": 1}'::jsonb,
          'the baselines, measured at T0 in the same run: the churned were the least active');

-- T0 + 7 days has no history: recomputed point in time, as refresh() at that time scores it.
SELECT is((SELECT scores_from FROM bt WHERE as_of = pg_temp.t0() + interval '7 days'), 'recomputed',
          'a day without history is recomputed');
SELECT is_empty($$SELECT FROM health_score.health_history WHERE day = (pg_temp.t0() + interval '7 days')::date$$,
                'and nothing is written');
SELECT is((SELECT array[accounts, churned] FROM bt WHERE as_of = pg_temp.t0() + interval '7 days'), ARRAY[8, 2],
          'the same eight accounts, two cancelled within the horizon');
SELECT results_eq($$SELECT scores_from, accounts, left_out, churned FROM bt WHERE as_of IS NULL$$,
                  $$VALUES ('history and recomputed', 16, 0, 4)$$, 'the overall row pools both days');
CREATE TEMP TABLE recomputed AS SELECT * FROM bt WHERE as_of = pg_temp.t0() + interval '7 days';
SELECT ok((SELECT accounts = 8 FROM health_score.refresh(pg_temp.t0() + interval '7 days')), 'refresh() then stores that day');
SELECT results_eq($$SELECT auc, component_auc, baseline_auc, churn_by_band, rule_lift
                      FROM health_score.backtest(pg_temp.t0() + interval '7 days', pg_temp.t0() + interval '7 days') WHERE as_of IS NOT NULL$$,
                  $$SELECT auc, component_auc, baseline_auc, churn_by_band, rule_lift FROM recomputed$$,
                  'read back from history, the day has the very figures the recomputation gave');
SELECT is((SELECT scores_from FROM health_score.backtest(pg_temp.t0() + interval '7 days', pg_temp.t0() + interval '7 days') LIMIT 1),
          'history', 'and says it read them from history');

-- No churn within the horizon, and no outcome yet.
SELECT results_eq($$SELECT accounts, churned, auc, auc_note
                      FROM health_score.backtest(pg_temp.t0() + interval '200 days', pg_temp.t0() + interval '200 days') WHERE as_of IS NOT NULL$$,
                  $$VALUES (5, 0, NULL::float8, 'no churned accounts: nothing to rank')$$,
                  'a window without churn: AUC NULL, and why');
SELECT results_eq($$SELECT accounts, left_out, churned, auc, auc_note
                      FROM health_score.backtest(now() - interval '30 days', now() - interval '30 days') WHERE as_of IS NOT NULL$$,
                  $$VALUES (0, 5, 0, NULL::float8, 'no outcome yet: as_of + horizon is after the data')$$,
                  'a horizon reaching past today: every account left out, and counted');
SELECT results_eq($$SELECT accounts, left_out, churned, auc IS NOT NULL FROM health_score.backtest(pg_temp.t0(), pg_temp.t0() + interval '200 days', '100 days')
                     WHERE as_of IS NULL$$,
                  $$VALUES (19, 0, 3, true)$$,
                  'pooled over days with and without churn: 8 + 6 + 5 accounts, 2 + 1 + 0 churned');

-- Outcome inactive: no activity within the horizon (accounts 1, 2 and 3 have none after T0).
SELECT results_eq($$SELECT accounts, churned, round(auc::numeric, 4) FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), outcome => 'inactive')
                     WHERE as_of IS NOT NULL$$,
                  $$VALUES (8, 3, 0.9333)$$,
                  'outcome inactive: 3 of 8 without activity after T0 (churned 10, 50, 20 against 80, 90, 30, 60, 75: 14 of 15 pairs)');

-- Bad arguments.
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0() - interval '1 day')$$, '22023',
                 'from_date (2026-01-01 12:00:00+00) must not be after to_date (2025-12-31 12:00:00+00)', 'a reversed range');
SELECT throws_ok($$SELECT * FROM health_score.backtest(NULL, pg_temp.t0())$$, '22004',
                 'from_date and to_date must not be null', 'a missing date');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), every => '0 days')$$, '22023',
                 'every must be a positive interval, not 00:00:00', 'every of zero');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), horizon => '-1 day')$$, '22023',
                 'horizon must be a positive interval, not -1 days', 'a negative horizon');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), horizon => '0')$$, '22023',
                 'horizon must be a positive interval, not 00:00:00', 'a horizon of zero');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), outcome => 'churned')$$, '22023',
                 'outcome must be cancelled or inactive, not ''churned''', 'an unknown outcome');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), version => 999)$$, '22023',
                 'profile version 999 does not exist', 'an unknown profile version');
SELECT throws_ok($$SELECT * FROM health_score.backtest('2000-01-01', '2026-01-01', '1 day')$$, '22023',
                 'from 2000-01-01 00:00:00+00 to 2026-01-01 00:00:00+00 every 1 day makes more than 1000 as_of dates', 'too many dates');

-- explain(): two days of history with components chosen by hand; sentiment is gone on the second day.
INSERT INTO health_score.health_history (account_id, day, as_of, profile, score, band, engagement, utilisation, adoption,
	support, sentiment, relationship, computed_score, profile_version)
VALUES ('6', '2025-06-01', '2025-06-01 12:00+00', 'default', 71.5, 'good', 80, 60, 50, 100, 40, 90, 71.5, 1),
       ('6', '2025-07-01', '2025-07-01 12:00+00', 'default', 5550 / 90.0, 'average', 40, 60, 50, 100, NULL, 90, 5550 / 90.0, 1);
SELECT results_eq($$SELECT component, round(weight_from::numeric, 4), round(weight_to::numeric, 4), value_from, value_to,
                           round(contribution::numeric, 4)
                      FROM health_score.explain('6', '2025-06-01', '2025-07-01')$$,
                  $$VALUES ('engagement', 0.3, 0.3333, 80::float8, 40::float8, -10.6667),
                           ('sentiment', 0.1, NULL, 40, NULL, -4),
                           ('support', 0.15, 0.1667, 100, 100, 1.6667),
                           ('utilisation', 0.2, 0.2222, 60, 60, 1.3333),
                           ('relationship', 0.1, 0.1111, 90, 90, 1),
                           ('adoption', 0.15, 0.1667, 50, 50, 0.8333)$$,
                  'explain: weights re-normalised over the components present each day; the one that disappears is its own row');
SELECT ok((SELECT abs(sum(contribution) - (5550 / 90.0 - 71.5)) < 1e-9 FROM health_score.explain('6', '2025-06-01', '2025-07-01')),
          'the contributions add up to the change in the score');
UPDATE health_score.health_history SET score = 30, band = 'poor' WHERE account_id = '6' AND day = '2025-07-01';
SELECT results_eq($$SELECT value_from, round(value_to::numeric, 4), round(contribution::numeric, 4) FROM health_score.explain('6', '2025-06-01', '2025-07-01')
                     WHERE component = 'override'$$,
                  $$VALUES (0::float8, -31.6667, -31.6667)$$, 'an override is a row of its own: its lift over the computed score');
SELECT ok((SELECT abs(sum(contribution) - (30 - 71.5)) < 1e-9 FROM health_score.explain('6', '2025-06-01', '2025-07-01')),
          'and the contributions still add up to the change');
SELECT throws_ok($$SELECT * FROM health_score.explain('6', '2025-07-01', '2025-06-01')$$, '22023',
                 'from_date (2025-07-01) must be a day before to_date (2025-06-01)', 'explain: a reversed range');
SELECT throws_ok($$SELECT * FROM health_score.explain('6', '2025-06-02', '2025-07-01')$$, '22023',
                 'account ''6'' has no health_history row on 2025-06-02 (from_date)', 'explain: a day without history');
SELECT throws_ok($$SELECT * FROM health_score.explain('x', '2025-06-01', '2025-07-01')$$, '22023',
                 'account_id ''x'' is not a valid bigint account key', 'explain: a key of the wrong type');

-- Refreshed days: for every account the contributions add up to its change, and score_changes names the
-- component that moved most.
SELECT ok((SELECT accounts > 0 FROM health_score.refresh(pg_temp.t0() + interval '60 days')), 'a refresh 60 days after T0');
SELECT is_empty($$SELECT h.account_id FROM health_score.health_history h
                   WHERE h.day = (pg_temp.t0() + interval '60 days')::date
                     AND abs((SELECT sum(e.contribution) FROM health_score.explain(h.account_id, pg_temp.t0() + interval '7 days', pg_temp.t0() + interval '60 days') e)
                             - (h.score - (SELECT p.score FROM health_score.health_history p WHERE p.account_id = h.account_id
                                            AND p.day = (pg_temp.t0() + interval '7 days')::date))) > 1e-9$$,
                'for every account refreshed on both days, explain''s contributions add up to the change');
SELECT results_eq($$SELECT account_id, from_day, driver
                      FROM health_score.score_changes ORDER BY abs(change) DESC, account_id LIMIT 1$$,
                  $$SELECT h.account_id::bigint, (pg_temp.t0() + interval '7 days')::date,
                           (SELECT e.component FROM health_score.explain(h.account_id, pg_temp.t0() + interval '7 days', pg_temp.t0() + interval '60 days') e
                             ORDER BY abs(e.contribution) DESC, e.component LIMIT 1)
                      FROM health_score.health_history h JOIN health_score.health_history p ON p.account_id = h.account_id
                                                         AND p.day = (pg_temp.t0() + interval '7 days')::date
                     WHERE h.day = (pg_temp.t0() + interval '60 days')::date
                     ORDER BY abs(h.score - p.score) DESC, h.account_id LIMIT 1$$,
                  'score_changes: the largest move first, against the latest day 30 days back, with the component behind it');

-- events_90d is counted by a refresh whose rules use it (and by every evaluation, as the baselines above show).
SELECT lives_ok($$SELECT health_score.add_rule('busy_quarter', 'events_90d >= {min}', 'info', 'Thank them.', '{"min": 30}')$$,
                'a rule over events_90d');
SELECT ok((SELECT accounts > 0 FROM health_score.refresh(pg_temp.t0() + interval '60 days')), 'a refresh with it');
-- accounts 4 to 8: active every third day from T0 + 1 day, and at T0 - 1 and T0 - 20 days: 20 + 2 in 90 days
SELECT results_eq($$SELECT account_id, evidence FROM health_score.flag WHERE rule = 'busy_quarter' ORDER BY account_id$$,
                  $$SELECT a::text, '{"min": 30, "events_90d": 22}'::jsonb FROM generate_series(4, 8) a WHERE false$$,
                  'none reaches 30 events');
UPDATE health_score.rule SET params = '{"min": 22}' WHERE code = 'busy_quarter';
SELECT ok((SELECT accounts > 0 FROM health_score.refresh(pg_temp.t0() + interval '60 days')), 'and again with a lower bar');
SELECT results_eq($$SELECT account_id, evidence FROM health_score.flag WHERE rule = 'busy_quarter' ORDER BY account_id$$,
                  $$SELECT a::text, '{"min": 22, "events_90d": 22}'::jsonb FROM generate_series(4, 8) a$$,
                  'its evidence counts each account''s 22 events of the last 90 days');
DELETE FROM health_score.flag WHERE rule = 'busy_quarter';
DELETE FROM health_score.rule WHERE code = 'busy_quarter';

-- score_drop compares with the score the model computed 30 days earlier, not an override in force then.
INSERT INTO health_score.health_history (account_id, day, as_of, profile, score, band, computed_score, profile_version)
SELECT h.account_id, (pg_temp.t0() + interval '30 days')::date, pg_temp.t0() + interval '30 days', 'default', 100, 'good',
       h.computed_score, 1
  FROM health_score.account_health h WHERE h.computed_score <= 80;
SELECT ok((SELECT count(*) > 0 FROM health_score.health_history WHERE day = (pg_temp.t0() + interval '30 days')::date),
          'history 30 days back: an override of 100 over the model''s score, for the accounts scoring 80 or less');
SELECT ok((SELECT accounts > 0 FROM health_score.refresh(pg_temp.t0() + interval '60 days')), 'the refresh again');
SELECT is_empty($$SELECT FROM health_score.flag WHERE rule = 'score_drop'$$,
                'no score_drop: the model''s score did not move, whatever the override said');

-- A history row scored before versions were kept (no profile_version) is weighed with its profile's weights.
INSERT INTO health_score.health_history (account_id, day, as_of, profile, score, band, engagement, support)
VALUES ('7', '2025-06-01', '2025-06-01 12:00+00', 'default', 50, 'average', 50, 50),
       ('7', '2025-07-01', '2025-07-01 12:00+00', 'default', 60, 'average', 60, 60);
SELECT results_eq($$SELECT component, round(weight_from::numeric, 4), round(weight_to::numeric, 4), round(contribution::numeric, 4)
                      FROM health_score.explain('7', '2025-06-01', '2025-07-01')$$,
                  $$VALUES ('engagement', 0.6667, 0.6667, 6.6667), ('support', 0.3333, 0.3333, 3.3333)$$,
                  'explain: a row without a profile version takes the profile''s weights (engagement 30, support 15)');

-- A window where every account scored churns: nothing to rank either.
UPDATE public.b_accounts SET cancelled_at = pg_temp.t0() + interval '250 days' WHERE cancelled_at IS NULL;
SELECT results_eq($$SELECT accounts, churned, auc, auc_note,
                           (SELECT bool_and((b.value ->> 'churn_rate')::numeric = 1) FROM jsonb_each(churn_by_band) b)
                      FROM health_score.backtest(pg_temp.t0() + interval '200 days', pg_temp.t0() + interval '200 days') WHERE as_of IS NOT NULL$$,
                  $$VALUES (5, 5, NULL::float8, 'no retained accounts: nothing to rank', true)$$,
                  'a window where all churn: AUC NULL, and why; every band churns entirely');

-- What the outcomes need.
SELECT lives_ok($$SELECT health_score.drop_source('activity', 'public.b_events')$$, 'without an activity source');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0(), outcome => 'inactive')$$, '22023',
                 'outcome inactive needs an activity source', 'outcome inactive is refused');
CREATE VIEW public.b_accounts_open AS SELECT account_id, seats, started_at FROM public.b_accounts;
SELECT lives_ok($$SELECT health_score.drop_source('accounts', 'public.b_accounts'); SELECT health_score.add_source('accounts', 'public.b_accounts_open')$$,
                'an accounts source without cancelled_at');
SELECT throws_ok($$SELECT * FROM health_score.backtest(pg_temp.t0(), pg_temp.t0())$$, '22023',
                 'outcome cancelled needs the accounts source''s cancelled_at column', 'outcome cancelled is refused');
SELECT lives_ok($$SELECT health_score.drop_source('accounts', 'public.b_accounts_open')$$, 'without an accounts source');
SELECT throws_ok($$SELECT * FROM health_score.explain('1', '2025-06-01', '2025-07-01')$$, '55000',
                 'no accounts source is registered', 'explain cannot read an account key without an accounts source');

SELECT * FROM finish();
ROLLBACK;
