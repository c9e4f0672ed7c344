-- calibrate() on a synthetic company whose cancellations are driven by one thing only, the survey ratings
-- (the sentiment component): the fit gives that component the weight, never reads the future of its
-- training dates, changes nothing unless applied, and applied writes a profile version that history records
-- and a backtest can compare with the previous one. Bad arguments.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SELECT plan(22);

-- 80 accounts, every one equally active (one user every other day) until it cancels, with 1 to 4 seats
-- (so utilisation varies, but not with churn). Ten rate the product 2 (the others 9) and cancel in April;
-- ten more rate it 9 until June, then 2, and cancel in August. So at every as_of, the accounts that cancel
-- within 60 days are exactly those whose ratings of the last 90 days include a 2.
CREATE TABLE public.c_accounts (account_id integer PRIMARY KEY, seats integer, started_at timestamptz, cancelled_at timestamptz);
INSERT INTO public.c_accounts
SELECT a, 1 + (a / 3) % 4, '2024-06-01',
       CASE a % 8 WHEN 0 THEN '2025-04-01'::timestamptz + (a / 8) * interval '2 days'
                  WHEN 4 THEN '2025-08-02'::timestamptz + (a / 8) * interval '2 days' END
  FROM generate_series(1, 80) a;
CREATE TABLE public.c_events (account_id integer, user_id text, occurred_at timestamptz);
INSERT INTO public.c_events
SELECT a.account_id, 'u', d FROM public.c_accounts a,
       generate_series('2024-10-01'::timestamptz, '2026-01-01', interval '2 days') d
 WHERE a.cancelled_at IS NULL OR d < a.cancelled_at;
CREATE TABLE public.c_surveys (account_id integer, responded_at timestamptz, rating integer);
INSERT INTO public.c_surveys
SELECT a.account_id, d, CASE WHEN a.account_id % 8 = 0 OR (a.account_id % 8 = 4 AND d >= '2025-06-01') THEN 2 ELSE 9 END
  FROM public.c_accounts a, generate_series('2024-10-05'::timestamptz, '2026-01-01', interval '20 days') d
 WHERE a.cancelled_at IS NULL OR d < a.cancelled_at;
DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.c_accounts');
	PERFORM health_score.add_source('activity', 'public.c_events');
	PERFORM health_score.add_source('surveys', 'public.c_surveys');
END
$$;

CREATE TEMP TABLE fit1 AS SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', '2025-07-01', '2025-08-01',
                                                                horizon => '60 days', every => '15 days');
SELECT is((SELECT (settings -> 'weights') FROM fit1 WHERE model = 'proposed'), '{"sentiment": 100}'::jsonb,
          'churn driven by the survey ratings alone: the sentiment component gets all the weight');
SELECT ok((SELECT auc_validation = 1 FROM fit1 WHERE model = 'proposed'), 'and ranks the validation dates perfectly');
SELECT ok((SELECT auc_validation < 1 FROM fit1 WHERE model = 'current'), 'which the default weights do not');
SELECT is((SELECT note FROM fit1 WHERE model = 'component sentiment'), 'the best single component or baseline',
          'each component and baseline is reported, the best marked');
SELECT ok((SELECT (settings ->> 'poor_below')::float8 > 0 AND (settings ->> 'good_from')::float8 BETWEEN (settings ->> 'poor_below')::float8 AND 100
             FROM fit1 WHERE model = 'proposed'),
          'the band cut-offs separate the accounts rated 2 (sentiment 0) from those rated 9 (sentiment 100)');
SELECT alike((SELECT note FROM fit1 WHERE model = 'proposed'), '%only % accounts churned in the training dates: the fit is noisy%',
            'few churned accounts: the note says not to trust it alone');
SELECT alike((SELECT note FROM fit1 WHERE model = 'proposed'), '%the training dates span less than 6 months%',
             'a month of training dates: the note says seasons are not seen');
SELECT is((SELECT count(*)::integer FROM health_score.profile_version), 1, 'not applied: no new profile version');

-- The training dates' future: nothing after train_to + horizon (2025-05-30) changes the fit.
UPDATE public.c_surveys SET rating = 10 - rating WHERE responded_at >= '2025-06-01';
DELETE FROM public.c_events WHERE occurred_at >= '2025-06-01' AND account_id % 3 = 0;
CREATE TEMP TABLE fit2 AS SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', '2025-07-01', '2025-08-01',
                                                                horizon => '60 days', every => '15 days');
SELECT results_eq($$SELECT settings, auc_training FROM fit2 WHERE model = 'proposed'$$,
                  $$SELECT settings, auc_training FROM fit1 WHERE model = 'proposed'$$,
                  'changing ratings and activity after the training outcomes leaves the fit as it was');
SELECT ok((SELECT f2.auc_validation <> f1.auc_validation FROM fit1 f1, fit2 f2 WHERE f1.model = 'current' AND f2.model = 'current'),
          'while the validation figures, which read them, change');

-- Applied: a new profile version, recorded by history, comparable with the previous one in a backtest.
CREATE TEMP TABLE fit3 AS SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', '2025-07-01', '2025-08-01',
                                                                horizon => '60 days', every => '15 days', apply => true);
SELECT results_eq($$SELECT version, weights, half_life = ((SELECT settings ->> 'half_life' FROM fit3 WHERE model = 'proposed')::interval)
                      FROM health_score.profile WHERE name = 'default'$$,
                  $$VALUES (2::bigint, '{"sentiment": 100}'::jsonb, true)$$, 'apply => true writes the proposal as version 2');
SELECT alike((SELECT note FROM health_score.profile_version WHERE version = 2), 'calibrate(): trained 2025-03-01 %',
            'the version says calibrate() made it');
SELECT alike((SELECT note FROM fit3 WHERE model = 'proposed'), '%applied: profile default is now version 2%', 'and the report says so');
SELECT ok((SELECT accounts > 0 FROM health_score.refresh('2025-09-01')), 'a refresh with it');
SELECT is((SELECT array_agg(DISTINCT profile_version) FROM health_score.health_history), ARRAY[2::bigint],
          'health_history records the version that scored each row');
SELECT ok((SELECT b2.auc > b1.auc
             FROM health_score.backtest('2025-03-01', '2025-03-31', '15 days', '60 days', version => 1) b1,
                  health_score.backtest('2025-03-01', '2025-03-31', '15 days', '60 days', version => 2) b2
            WHERE b1.as_of IS NULL AND b2.as_of IS NULL),
          'a backtest compares the two versions on the same days (the training ones: the later data were changed)');

-- Bad arguments.
SELECT throws_ok($$SELECT * FROM health_score.calibrate('nope', '2025-03-01', '2025-03-31', '2025-07-01', '2025-08-01')$$, '22023',
                 'profile ''nope'' does not exist', 'an unknown profile');
SELECT throws_ok($$SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', '2025-06-01', '2025-08-01')$$, '22023',
                 'train_to + horizon (2025-06-29 00:00:00+00) must not be after validate_from (2025-06-01 00:00:00+00)',
                 'training outcomes that would reach into the validation dates');

SELECT throws_ok($$SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', now() - interval '30 days', now())$$, '22023',
                 format('validate_to + horizon (%s) is after the data (outcomes known until %s)', now() + interval '90 days', now()),
                 'validation dates whose outcomes are not known yet');
SELECT throws_ok($$SELECT * FROM health_score.calibrate('default', '2025-09-01', '2025-09-02', '2025-12-01', '2025-12-02')$$, '22023',
                 'the training dates (train_from 2025-09-01 00:00:00+00 to train_to 2025-09-02 00:00:00+00) have none of profile default''s accounts churned within the horizon: nothing to fit',
                 'training dates without churn: nothing to fit');
SELECT throws_ok($$SELECT * FROM health_score.calibrate('default', NULL, '2025-03-31', '2025-06-01', '2025-08-01')$$, '22004',
                 'train_from and train_to must not be null', 'missing training dates');
SELECT throws_ok($$SELECT * FROM health_score.calibrate('default', '2025-03-01', '2025-03-31', '2025-07-01', '2025-08-01', outcome => 'lost')$$, '22023',
                 'outcome must be cancelled or inactive, not ''lost''', 'an unknown outcome');

SELECT * FROM finish();
ROLLBACK;
