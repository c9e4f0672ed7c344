-- cancellation_trend on a hand-built accounts table: counts, rates, directions and the edge cases of dates.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL timezone = 'UTC';
SELECT plan(15);

CREATE TABLE public.subs (id bigint PRIMARY KEY, segment text, arr numeric, started_at timestamptz,
	cancelled_at timestamptz);
SELECT health_score.add_source('accounts', 'public.subs', '{"account_id": "id"}');

--  id  started              cancelled            arr   counts as
--   1  2020-01-15           -                    100   active from February on
--   2  2020-01-20           2020-03-10           200   a March cancellation
--   3  2020-02-05           2020-02-25           300   started and cancelled in February: a February cancellation
--   4  (none)               2020-04-01 00:00     400   active from the start; an April cancellation (on the boundary)
--   5  2020-03-31 23:00     -                    500   active from April on
--   6  2020-02-10           2020-03-20           600   a March cancellation
--   7  2020-05-01           2020-04-15           700   cancelled before it started: counts when it started (May)
INSERT INTO public.subs VALUES
	(1, 'SMB', 100, '2020-01-15', NULL),
	(2, 'SMB', 200, '2020-01-20', '2020-03-10'),
	(3, 'Enterprise', 300, '2020-02-05', '2020-02-25'),
	(4, 'SMB', 400, NULL, '2020-04-01 00:00+00'),
	(5, 'Enterprise', 500, '2020-03-31 23:00+00', NULL),
	(6, 'SMB', 600, '2020-02-10', '2020-03-20'),
	(7, 'SMB', 700, '2020-05-01', '2020-04-15');

SELECT col_type_is('health_score', 'cancellation_trend', 'month', 'date', 'month is a date');
SELECT results_eq(
	$$SELECT month, active_at_start, cancellations, cancellation_rate, arr_cancelled
	    FROM health_score.cancellation_trend WHERE month < '2020-08-01' ORDER BY month$$,
	$$VALUES ('2020-01-01'::date, 1::bigint, 0::bigint, 0.00, 0::numeric),
	         ('2020-02-01', 3, 1, 33.33, 300),
	         ('2020-03-01', 4, 2, 50.00, 800),
	         ('2020-04-01', 3, 1, 33.33, 400),
	         ('2020-05-01', 2, 1, 50.00, 700),
	         ('2020-06-01', 2, 0, 0.00, 0),
	         ('2020-07-01', 2, 0, 0.00, 0)$$,
	'active at the start of each month, cancellations in it, their rate (percent) and ARR');
SELECT results_eq(
	$$SELECT month, cancellations_change, rate_change, direction
	    FROM health_score.cancellation_trend WHERE month < '2020-08-01' ORDER BY month$$,
	$$VALUES ('2020-01-01'::date, NULL::bigint, NULL::numeric, NULL::text),
	         ('2020-02-01', 1, 33.33, 'up'),
	         ('2020-03-01', 1, 16.67, 'up'),
	         ('2020-04-01', -1, -16.67, 'down'),
	         ('2020-05-01', 0, 16.67, 'up'),
	         ('2020-06-01', -1, -50.00, 'down'),
	         ('2020-07-01', 0, 0.00, 'flat')$$,
	'change against the previous month; the direction follows the rate, not the count (May: same count, higher rate)');
SELECT is((SELECT min(month) FROM health_score.cancellation_trend), '2020-01-01'::date,
	'months start with the first month an account started or cancelled');
SELECT is((SELECT max(month) FROM health_score.cancellation_trend), date_trunc('month', now())::date,
	'and run to the current month');
SELECT is((SELECT count(*) FROM health_score.cancellation_trend),
	(SELECT count(*) FROM generate_series(date '2020-01-01', date_trunc('month', now()), interval '1 month')),
	'one row per month, months without cancellations included');
SELECT results_eq(
	$$SELECT complete FROM health_score.cancellation_trend ORDER BY month DESC LIMIT 2$$,
	$$VALUES (false), (true)$$, 'the running month is not complete, the one before is');
SELECT is((SELECT sum(cancellations) FROM health_score.cancellation_trend), 5::numeric, 'all five cancellations (2, 3, 4, 6, 7) counted once');
SELECT is((SELECT active_at_start FROM health_score.cancellation_trend WHERE month = date_trunc('month', now())::date),
	2::bigint, 'accounts 1 and 5 are still active');

-- Rows hidden by the caller's row-level security are left out: the view runs with the caller's rights.
CREATE ROLE hs_test_smb_analyst;
GRANT USAGE ON SCHEMA health_score TO hs_test_smb_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO hs_test_smb_analyst;
GRANT SELECT ON public.subs TO hs_test_smb_analyst;
ALTER TABLE public.subs ENABLE ROW LEVEL SECURITY;
CREATE POLICY smb_only ON public.subs FOR SELECT TO hs_test_smb_analyst USING (segment = 'SMB');
SET LOCAL ROLE hs_test_smb_analyst;
SELECT results_eq(
	$$SELECT month, active_at_start, cancellations FROM health_score.cancellation_trend
	   WHERE month IN ('2020-02-01', '2020-03-01') ORDER BY month$$,
	$$VALUES ('2020-02-01'::date, 3::bigint, 0::bigint), ('2020-03-01', 4, 2)$$,
	'an analyst limited to SMB rows sees SMB numbers only (row-level security applies through the view)');
RESET ROLE;

-- An accounts source without cancelled_at (or started_at, or arr): the view still exists.
SELECT health_score.drop_source('accounts', 'public.subs');
SELECT hasnt_view('health_score', 'cancellation_trend', 'no accounts source: no views');
CREATE TABLE public.subs_min (id bigint PRIMARY KEY, started_at date);
INSERT INTO public.subs_min VALUES (1, '2020-01-15'), (2, '2020-03-02'), (3, NULL);
SELECT health_score.add_source('accounts', 'public.subs_min', '{"account_id": "id"}');
SELECT has_view('health_score', 'cancellation_trend', 'the view comes back with the new accounts source');
SELECT is((SELECT sum(cancellations) FROM health_score.cancellation_trend), 0::numeric, 'without cancelled_at: no cancellations');
SELECT results_eq(
	$$SELECT month, active_at_start, cancellation_rate, arr_cancelled FROM health_score.cancellation_trend
	   WHERE month <= '2020-04-01' ORDER BY month$$,
	$$VALUES ('2020-01-01'::date, 1::bigint, 0.00, NULL::numeric), ('2020-02-01', 2, 0.00, NULL), ('2020-03-01', 2, 0.00, NULL),
	         ('2020-04-01', 3, 0.00, NULL)$$,
	'active counts from started_at alone (a date column), no ARR column: ARR cancelled is NULL, not 0');
CREATE TABLE public.subs_bare (id bigint PRIMARY KEY);
INSERT INTO public.subs_bare VALUES (1), (2);
SELECT health_score.drop_source('accounts', 'public.subs_min');
SELECT health_score.add_source('accounts', 'public.subs_bare', '{"account_id": "id"}');
SELECT results_eq(
	$$SELECT month, active_at_start, cancellations, direction FROM health_score.cancellation_trend$$,
	$$VALUES (date_trunc('month', now())::date, 2::bigint, 0::bigint, NULL::text)$$,
	'with neither date: just the current month, every account active');

SELECT * FROM finish();
ROLLBACK;
