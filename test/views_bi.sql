-- The views as BI tools read them, through the real pipeline: scores rounded to numeric(5,1); band_breakdown
-- in long form that sums correctly; health_trend_by; cancellation_trend bounded by the latest as_of scored;
-- at_risk_accounts' order and its flattened at_risk_flags; parent_health's three roll-ups; pass-through
-- dimensions with bigint and uuid keys; ARR NULL, not 0, where none is mapped.
--
-- Scores come from one component of our own over a measure set by hand (knob, 0-100), the only weight.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SELECT plan(29);

--  id  product    region  parent  arr   started     cancelled   knob   band at 2025-03-15
--   1  Analytics  EU      -       5000  2024-12-01  -           60     average
--   2  Analytics  EU      1       1000  2024-12-01  -           80     good
--   3  Workflow   US      1       3000  2024-12-01  -           20     poor     red knob_low + amber knob_mid
--   4  Workflow   US      -       2000  2025-01-15  -           ~100   good     (99.99999999999997)
--   5  -          US      -       4000  2024-12-01  2025-02-10  50     not scored (cancelled)
--   6  Analytics  EU      -       1000  2024-12-01  2025-05-01  30     poor     amber knob_mid (cancels after as_of)
CREATE TABLE public.v_accounts (account_id bigint PRIMARY KEY, name text, owner text, product text, sales_region text,
	parent_account_id bigint, arr numeric, started_at timestamptz, cancelled_at timestamptz);
CREATE TABLE public.v_knobs (account_id bigint, value float8);
INSERT INTO public.v_accounts VALUES
	(1, 'P1', 'ann', 'Analytics', 'EU', NULL, 5000, '2024-12-01', NULL),
	(2, 'C2', 'ann', 'Analytics', 'EU', 1, 1000, '2024-12-01', NULL),
	(3, 'C3', 'bob', 'Workflow', 'US', 1, 3000, '2024-12-01', NULL),
	(4, 'D4', 'bob', 'Workflow', 'US', NULL, 2000, '2025-01-15', NULL),
	(5, 'E5', 'bob', NULL, 'US', NULL, 4000, '2024-12-01', '2025-02-10'),
	(6, 'F6', 'ann', 'Analytics', 'EU', NULL, 1000, '2024-12-01', '2025-05-01');
INSERT INTO public.v_knobs VALUES (1, 60), (2, 80), (3, 20), (4, 99.99999999999997), (5, 50), (6, 30);

-- Dimensions: bad mappings
SELECT throws_ok($$SELECT health_score.add_source('accounts', 'public.v_accounts', '{"dimensions": {"score": "product"}}')$$,
	'22023', 'dimension name "score" must be a lower-case word of letters, digits and _ that the views do not use',
	'a dimension may not take the name of a view column');
SELECT throws_ok($$SELECT health_score.add_source('accounts', 'public.v_accounts', '{"dimensions": ["region"]}')$$,
	'42703', 'column "region" of relation public.v_accounts does not exist', 'a dimension column must exist');
SELECT throws_ok($$SELECT health_score.add_source('accounts', 'public.v_accounts', '{"dimensions": "product"}')$$,
	'22023', 'dimensions must be a list of column names of public.v_accounts or an object of names to column names',
	'dimensions is a list or an object');
SELECT throws_ok($$SELECT health_score.add_source('activity', 'public.v_knobs', '{"occurred_at": "value", "dimensions": ["value"]}')$$,
	'22023', 'only an accounts source has dimensions, not one of kind activity', 'only the accounts source has dimensions');

SELECT health_score.add_source('accounts', 'public.v_accounts', '{"dimensions": {"product": "product", "region": "sales_region"}}');
SELECT health_score.add_measure('knob', 'SELECT account_id, value FROM public.v_knobs');
SELECT health_score.add_component('knob_c', 'knob', 0, 100);
UPDATE health_score.profile SET weights = '{"knob_c": 1}' WHERE name = 'default';
UPDATE health_score.rule SET enabled = false WHERE seeded;
SELECT health_score.add_rule('knob_low', 'knob < {max}', 'red', 'Call now.', '{"max": 25}', task_due_in => '7 days');
SELECT health_score.add_rule('knob_mid', 'knob < {max}', 'amber', 'Check in.', '{"max": 65}');
SELECT health_score.refresh('2025-03-14 12:00+00');
SELECT health_score.refresh('2025-03-15 12:00+00');

-- account_overview: rounded scores, band_rank, the dimensions and the parent
SELECT results_eq(
	$$SELECT account_id, score, band_rank, product, region, parent_account_id FROM health_score.account_overview ORDER BY account_id$$,
	$$VALUES (1::bigint, 60.0, 2, 'Analytics', 'EU', NULL::bigint), (2, 80.0, 3, 'Analytics', 'EU', 1), (3, 20.0, 1, 'Workflow', 'US', 1),
	         (4, 100.0, 3, 'Workflow', 'US', NULL), (6, 30.0, 1, 'Analytics', 'EU', NULL)$$,
	'scores as numeric(5,1) (99.99999999999997 shows as 100.0), band_rank, pass-through dimensions and the parent');
SELECT col_type_is('health_score', 'account_overview', 'score', 'numeric(5,1)', 'score is numeric(5,1)');
SELECT col_type_is('health_score', 'account_overview', 'product', 'text', 'a dimension is a text column');
SELECT is(col_description('health_score.account_overview'::regclass,
	(SELECT attnum FROM pg_attribute WHERE attrelid = 'health_score.account_overview'::regclass AND attname = 'region')),
	'pass-through dimension, from column sales_region of the accounts source, as text', 'and is documented');

-- band_breakdown, long form
SELECT results_eq(
	$$SELECT dimension, value, band, band_rank, accounts, arr, share, pct, is_total FROM health_score.band_breakdown WHERE dimension = 'all'$$,
	$$VALUES ('all', 'all', 'poor'::health_score.health_band, 1, 2::bigint, 4000::numeric, 0.4000, 40.0, true),
	         ('all', 'all', 'average', 2, 1, 5000, 0.2000, 20.0, true),
	         ('all', 'all', 'good', 3, 2, 3000, 0.4000, 40.0, true)$$,
	'overall: one row per band in band order, with shares (0-1), percentages and ARR, marked is_total');
SELECT results_eq(
	$$SELECT value, band::text, accounts, pct FROM health_score.band_breakdown WHERE dimension = 'product'$$,
	$$VALUES ('Analytics', 'poor', 1::bigint, 33.3), ('Analytics', 'average', 1, 33.3), ('Analytics', 'good', 1, 33.4),
	         ('Workflow', 'poor', 1, 50.0), ('Workflow', 'average', 0, 0.0), ('Workflow', 'good', 1, 50.0)$$,
	'by a pass-through dimension: every band of every value, an empty one as 0; a tie rounds up the better band');
SELECT results_eq(
	$$SELECT dimension, sum(accounts), sum(arr), round(sum(share), 2), sum(pct) FILTER (WHERE value = 'EU' OR dimension = 'all')
	    FROM health_score.band_breakdown WHERE dimension IN ('all', 'region', 'owner', 'segment') GROUP BY dimension ORDER BY dimension$$,
	$$VALUES ('all', 5::numeric, 12000::numeric, 1.00, 100.0), ('owner', 5, 12000, 2.00, NULL),
	         ('region', 5, 12000, 2.00, 100.0), ('segment', 5, 12000, 1.00, NULL)$$,
	'a plain SUM over one dimension gives every account and all the ARR once; shares add up to 1 per value');
SELECT is((SELECT sum(accounts) FROM health_score.band_breakdown WHERE NOT is_total AND dimension = 'lifecycle_stage'), 5::numeric,
	'accounts without a value are one group (NULL)');
SELECT results_eq(
	$$SELECT dimension, value, accounts, good, average, poor, is_total FROM health_score.band_breakdown_wide WHERE dimension IN ('all', 'region')$$,
	$$VALUES ('all', 'all', 5::bigint, 2::bigint, 1::bigint, 2::bigint, true), ('region', 'EU', 3, 1, 1, 1, false),
	         ('region', 'US', 2, 1, 0, 1, false)$$,
	'the wide form: the overall row first, marked is_total');

-- health_trend_by: per day and value, ordered by day
SELECT results_eq(
	$$SELECT day, value, accounts, average_score, good, average, poor, good_share FROM health_score.health_trend_by WHERE dimension = 'region'$$,
	$$VALUES ('2025-03-14'::date, 'EU', 3::bigint, 56.7, 1::bigint, 1::bigint, 1::bigint, 0.3333),
	         ('2025-03-14', 'US', 2, 60.0, 1, 0, 1, 0.5000),
	         ('2025-03-15', 'EU', 3, 56.7, 1, 1, 1, 0.3333),
	         ('2025-03-15', 'US', 2, 60.0, 1, 0, 1, 0.5000)$$,
	'health_trend_by: each day and region, mean (60 + 80 + 30) / 3 = 56.7, band counts and shares');
SELECT results_eq(
	$$SELECT DISTINCT dimension FROM health_score.health_trend_by ORDER BY 1$$,
	$$VALUES ('lifecycle_stage'), ('owner'), ('plan'), ('product'), ('region'), ('segment')$$,
	'health_trend_by: segment, plan, lifecycle stage, owner and every pass-through dimension');
SELECT results_eq($$SELECT day, average_score, good_share, poor_share FROM health_score.health_trend$$,
	$$VALUES ('2025-03-14'::date, 58.0, 0.4000, 0.4000), ('2025-03-15', 58.0, 0.4000, 0.4000)$$,
	'health_trend: the mean to 0.1 and the band shares as fractions');

-- cancellation_trend: to the month of the latest as_of (March 2025), counting what happened by then
SELECT results_eq(
	$$SELECT month, active_at_start, cancellations, cancellation_rate, cancellation_share, rolling_3m_rate, direction, complete
	    FROM health_score.cancellation_trend$$,
	$$VALUES ('2024-12-01'::date, 0::bigint, 0::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, true),
	         ('2025-01-01', 5, 0, 0.00, 0.0000, NULL, NULL, true),
	         ('2025-02-01', 6, 1, 16.67, 0.1667, 9.09, 'up', true),
	         ('2025-03-01', 5, 0, 0.00, 0.0000, 6.25, NULL, false)$$,
	'months up to the latest as_of, not today''s; a cancellation after it not counted; the incomplete month has no direction; a rolling three-month rate');

-- at_risk_accounts and at_risk_flags
SELECT results_eq(
	$$SELECT rank, account_id, worst_severity, band::text, score FROM health_score.at_risk_accounts$$,
	$$VALUES (1::bigint, 3::bigint, 'red', 'poor', 20.0), (2, 6, 'amber', 'poor', 30.0)$$,
	'the red flag first, then the amber one; an amber flag alone (account 1, average) is no risk');
SELECT results_eq(
	$$SELECT rank, account_id, rule, severity, reason, evidence, action, task_status, task_due_on FROM health_score.at_risk_flags$$,
	$$VALUES (1::bigint, 3::bigint, 'knob_low', 'red', 'knob < {max}', 'knob: 20; max: 25', 'Call now.', 'open', '2025-03-21'::date),
	         (1, 3, 'knob_mid', 'amber', 'knob < {max}', 'knob: 20; max: 65', 'Check in.', NULL, NULL),
	         (2, 6, 'knob_mid', 'amber', 'knob < {max}', 'knob: 30; max: 65', 'Check in.', NULL, NULL)$$,
	'at_risk_flags: a row per account and flag, evidence as text, the task that answers it');
UPDATE public.v_knobs SET value = 35 WHERE account_id = 6;
UPDATE health_score.rule SET params = '{"max": 30}' WHERE code = 'knob_mid';
SELECT health_score.refresh('2025-03-15 12:00+00');
SELECT results_eq(
	$$SELECT rank, account_id, flag_id IS NULL, reason FROM health_score.at_risk_flags WHERE account_id = 6$$,
	$$VALUES (2::bigint, 6::bigint, true, 'score 35.0 is in the poor band (below 40)')$$,
	'an account at risk by its band alone has one row, without a flag');

-- parent_health
SELECT results_eq(
	$$SELECT parent_account_id, parent_name, children, mean_score, arr_weighted_score, worst_score, worst_account_id,
	         worst_account_name, good, average, poor, arr FROM health_score.parent_health$$,
	$$VALUES (1::bigint, 'P1', 2::bigint, 50.0, 35.0, 20.0, 3::bigint, 'C3', 1::bigint, 0::bigint, 1::bigint, 4000::numeric)$$,
	'parent_health: the mean (80 + 20) / 2, the ARR-weighted mean (80 x 1000 + 20 x 3000) / 4000 and the worst child');
UPDATE public.v_accounts SET arr = NULL WHERE account_id = 3;
SELECT health_score.refresh('2025-03-15 12:00+00');
SELECT results_eq($$SELECT mean_score, arr_weighted_score, worst_score FROM health_score.parent_health$$,
	$$VALUES (50.0, 80.0, 20.0)$$, 'a child without ARR is left out of the ARR-weighted mean only');

-- A role that may not see the parent in the accounts source (row-level security) sees its children's
-- roll-up, not the parent's name.
CREATE ROLE regress_hs_v_reporter;
GRANT USAGE ON SCHEMA health_score TO regress_hs_v_reporter;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO regress_hs_v_reporter;
GRANT SELECT ON public.v_accounts TO regress_hs_v_reporter;
ALTER TABLE public.v_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY v_not_the_parent ON public.v_accounts TO regress_hs_v_reporter USING (account_id <> 1);
SET LOCAL ROLE regress_hs_v_reporter;
SELECT results_eq($$SELECT parent_name, children, mean_score FROM health_score.parent_health$$,
	$$VALUES (NULL::text, 2::bigint, 50.0)$$, 'a parent the role may not see: the children''s roll-up without its name');
RESET ROLE;
ALTER TABLE public.v_accounts DISABLE ROW LEVEL SECURITY;

-- uuid keys, no ARR mapped
TRUNCATE health_score.account_health, health_score.health_history, health_score.task, health_score.flag;
CREATE TABLE public.u_accounts (account_id uuid PRIMARY KEY, name text, owner text, product text, parent_account_id uuid,
	started_at timestamptz);
CREATE TABLE public.u_knobs (account_id uuid, value float8);
INSERT INTO public.u_accounts VALUES ('00000000-0000-0000-0000-0000000000a1', 'Group', 'ann', 'Platform', NULL, '2024-01-01'),
	('00000000-0000-0000-0000-0000000000a2', 'Sub', 'ann', 'Platform', '00000000-0000-0000-0000-0000000000a1', '2024-01-01');
INSERT INTO public.u_knobs VALUES ('00000000-0000-0000-0000-0000000000a1', 90), ('00000000-0000-0000-0000-0000000000a2', 10);
SELECT health_score.drop_source('accounts', 'public.v_accounts');
UPDATE health_score.measure SET query = 'SELECT account_id, value FROM public.u_knobs' WHERE name = 'knob';
SELECT throws_ok($$SELECT health_score.add_source('accounts', 'public.u_accounts', '{"parent_account_id": "name"}')$$,
	'42804', 'column "name" of relation public.u_accounts has type text, but its account_id is uuid',
	'parent_account_id holds keys of account_id''s type');
SELECT health_score.add_source('accounts', 'public.u_accounts', '{"dimensions": ["product"]}');
SELECT health_score.refresh('2025-03-15 12:00+00');
SELECT results_eq($$SELECT account_id, product, parent_account_id, arr FROM health_score.account_overview ORDER BY name$$,
	$$VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 'Platform', NULL::uuid, NULL::numeric),
	         ('00000000-0000-0000-0000-0000000000a2', 'Platform', '00000000-0000-0000-0000-0000000000a1', NULL)$$,
	'uuid keys: the dimension and the parent, of the key''s type');
SELECT col_type_is('health_score', 'parent_health', 'parent_account_id', 'uuid', 'parent_health.parent_account_id is uuid');
SELECT results_eq($$SELECT value, band::text, accounts, arr FROM health_score.band_breakdown WHERE dimension = 'product'$$,
	$$VALUES ('Platform', 'poor', 1::bigint, NULL::numeric), ('Platform', 'average', 0, NULL), ('Platform', 'good', 1, NULL)$$,
	'without ARR mapped, ARR is NULL, not 0, even where a band is empty');
SELECT results_eq($$SELECT (SELECT arr FROM health_score.owner_workload), (SELECT arr FROM health_score.health_trend),
	(SELECT arr FROM health_score.parent_health), (SELECT arr FROM health_score.revenue_at_risk WHERE is_total LIMIT 1)$$,
	$$VALUES (NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric)$$,
	'and in owner_workload, health_trend, parent_health and revenue_at_risk');
SELECT results_eq($$SELECT children, mean_score, arr_weighted_score, worst_account_id FROM health_score.parent_health$$,
	$$VALUES (1::bigint, 10.0, NULL::numeric, '00000000-0000-0000-0000-0000000000a2'::uuid)$$,
	'parent_health with uuid keys and no ARR');

SELECT * FROM finish();
ROLLBACK;
