-- The executive views on hand-built data whose answers are worked out by hand: account_overview,
-- band_breakdown, health_trend, at_risk_accounts, revenue_at_risk and plays.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL timezone = 'UTC';
SELECT plan(57);

-- The accounts source: a bigint-keyed table. The views read the scores from account_health; rows are put
-- there by hand so every expected number below follows from this file alone.
CREATE TABLE public.crm_accounts (account_id bigint PRIMARY KEY, name text, segment text, lifecycle_stage text,
	plan text, owner text, seats integer, arr numeric, renewal_date date, started_at timestamptz,
	cancelled_at timestamptz);
SELECT lives_ok($$SELECT health_score.add_source('accounts', 'public.crm_accounts')$$,
	'registering the accounts source creates the views');
-- The views show the accounts the querying role may read in the accounts source: all of them here.
INSERT INTO public.crm_accounts (account_id) SELECT g FROM generate_series(1, 9) g;

--  id  segment     stage      plan        owner  arr    score band
--   1  SMB         adoption   Starter     ann     1000   80   good     open red detractor flag
--   2  SMB         mature     Starter     ann     2000   55   average  open amber licence_gap, a cleared red flag
--   3  SMB         mature     Growth      bob     3000   30   poor     no flags
--   4  Enterprise  mature     Enterprise  bob    50000   75   good     open opportunity + info flags
--   5  Enterprise  renewal    Enterprise  cat    40000   35   poor     open red inactive + amber licence_gap
--   6  Mid-Market  mature     Growth      cat    10000   65   average  open info flag
--   7  Mid-Market  NULL       Growth      NULL    5000   90   good
--   8  SMB         mature     Starter     ann     3000   20   poor     (ties account 3 on ARR)
INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
	renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship, as_of)
VALUES
	('1', 'Alpha', 'SMB', 'adoption', 'Starter', 'ann', 10, 1000, '2026-07-30', 'default', 80, 'good', 90, 80, 70, 100, 50, 100, '2026-06-30 12:00+00'),
	('2', 'Bravo', 'SMB', 'mature', 'Starter', 'ann', 10, 2000, '2026-12-31', 'default', 55, 'average', 60, 40, 50, 100, 50, 80, '2026-06-30 12:00+00'),
	('3', 'Charlie', 'SMB', 'mature', 'Growth', 'bob', 10, 3000, '2026-08-01', 'default', 30, 'poor', 20, 30, 0, 60, 50, 50, '2026-06-30 12:00+00'),
	('4', 'Delta', 'Enterprise', 'mature', 'Enterprise', 'bob', 100, 50000, '2026-08-15', 'default', 75, 'good', 80, 100, 50, 100, 60, 90, '2026-06-30 12:00+00'),
	('5', 'Echo', 'Enterprise', 'renewal', 'Enterprise', 'cat', 100, 40000, '2026-07-10', 'default', 35, 'poor', 0, 20, 0, 100, 50, 70, '2026-06-30 12:00+00'),
	('6', 'Foxtrot', 'Mid-Market', 'mature', 'Growth', 'cat', 20, 10000, '2027-01-01', 'default', 65, 'average', 70, 60, 50, 90, 60, 70, '2026-06-30 12:00+00'),
	('7', 'Golf', 'Mid-Market', NULL, 'Growth', NULL, 20, 5000, '2027-02-01', 'default', 90, 'good', 100, 90, 100, 100, 70, 80, '2026-06-30 12:00+00'),
	('8', 'Hotel', 'SMB', 'mature', 'Starter', 'ann', 5, 3000, '2026-09-01', 'default', 20, 'poor', 10, 20, 0, 40, 30, 20, '2026-06-30 12:00+00');

INSERT INTO health_score.health_history (account_id, day, as_of, profile, score, band, arr) VALUES
	('1', '2026-05-30', '2026-05-30 12:00+00', 'default', 60, 'average', 1000),
	('1', '2026-05-31', '2026-05-31 12:00+00', 'default', 70, 'good', 1000),
	('1', '2026-06-01', '2026-06-01 12:00+00', 'default', 75, 'good', 1000),
	('2', '2026-06-15', '2026-06-15 12:00+00', 'default', 55, 'average', 2000),
	('3', '2026-04-01', '2026-04-01 12:00+00', 'default', 50, 'average', 3000),
	('3', '2026-05-31', '2026-05-31 12:00+00', 'default', 45, 'average', 3000),
	('4', '2026-05-31', '2026-05-31 12:00+00', 'default', 30, 'poor', 50000);

INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, cleared_at, evidence, action) VALUES
	('1', 'detractor', 'red', '2026-06-20', '2026-06-30', NULL, '{"lowest_rating": 3, "max_rating": 6, "days": 90}', NULL),
	('2', 'licence_gap', 'amber', '2026-06-01', '2026-06-30', NULL, '{"utilisation": 0.4, "below": 0.5}', 'Push adoption'),
	('2', 'inactive', 'red', '2026-05-01', '2026-06-01', '2026-06-01', '{}', NULL),
	('4', 'over_licensed', 'opportunity', '2026-06-10', '2026-06-30', NULL, '{"utilisation": 1.2, "above": 1}', 'Sell seats'),
	('4', 'new_users', 'info', '2026-06-25', '2026-06-30', NULL, '{"new_users": 12, "min_new_users": 10, "days": 30}', NULL),
	('5', 'licence_gap', 'amber', '2026-06-01', '2026-06-30', NULL, '{"utilisation": 0.2, "below": 0.5}', NULL),
	('5', 'inactive', 'red', '2026-06-15', '2026-06-30', NULL, '{"days_since_activity": 45, "days": 30}', 'Call them'),
	('6', 'feature_adopted', 'info', '2026-06-29', '2026-06-30', NULL, '{"features": ["report"], "days": 7}', NULL),
	-- a cancelled account (not in account_health): its open flag shows nowhere
	('99', 'detractor', 'red', '2026-06-20', '2026-06-30', NULL, '{}', NULL);

-- account_overview ---------------------------------------------------------------------------------------------
SELECT col_type_is('health_score', 'account_overview', 'account_id', 'bigint',
	'account_overview.account_id has the accounts source''s type');
SELECT is((SELECT count(*) FROM health_score.account_overview), 8::bigint, 'one row per scored account');
SELECT results_eq(
	$$SELECT account_id, open_flags FROM health_score.account_overview ORDER BY account_id$$,
	$$VALUES (1::bigint, '{detractor}'::text[]), (2, '{licence_gap}'), (3, '{}'), (4, '{over_licensed,new_users}'),
	         (5, '{inactive,licence_gap}'), (6, '{feature_adopted}'), (7, '{}'), (8, '{}')$$,
	'open flags as arrays of codes, red first, then amber, opportunity, info; cleared flags left out');
SELECT results_eq(
	$$SELECT account_id FROM health_score.account_overview WHERE at_risk ORDER BY account_id$$,
	$$VALUES (1::bigint), (3), (5), (8)$$,
	'at risk: band poor (3, 5, 8) or an open red flag (1); a cleared red flag (2) does not count');
SELECT results_eq(
	$$SELECT open_red_flags, open_amber_flags FROM health_score.account_overview WHERE account_id = 5$$,
	$$VALUES (1::bigint, 1::bigint)$$, 'red and amber flags counted');
SELECT results_eq(
	$$SELECT score_30d_ago, score_30d_ago_day, score_change_30d FROM health_score.account_overview WHERE account_id = 1$$,
	$$VALUES (70.0, '2026-05-31'::date, 10.0)$$,
	'score change: against the latest history day on or before as_of - 30 days (2026-05-31, not 06-01 or 05-30)');
SELECT results_eq(
	$$SELECT score_30d_ago, score_change_30d FROM health_score.account_overview WHERE account_id = 3$$,
	$$VALUES (45.0, -15.0)$$, 'a falling score gives a negative change');
SELECT results_eq(
	$$SELECT score_30d_ago, score_change_30d FROM health_score.account_overview WHERE account_id = 2$$,
	$$VALUES (NULL::numeric, NULL::numeric)$$, 'no history that old: no change');
SELECT is((SELECT days_to_renewal FROM health_score.account_overview WHERE account_id = 5), 10,
	'days_to_renewal counts from the as_of date');
SELECT results_eq(
	$$SELECT name, segment, lifecycle_stage, plan, owner, arr, engagement, utilisation, adoption, support, sentiment, relationship
	    FROM health_score.account_overview WHERE account_id = 6$$,
	$$VALUES ('Foxtrot', 'Mid-Market', 'mature', 'Growth', 'cat', 10000::numeric, 70.0, 60.0, 50.0, 90.0, 60.0, 70.0)$$,
	'descriptive columns and every component carried through');

-- band_breakdown -----------------------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT accounts, good, average, poor, good_pct, average_pct, poor_pct, arr, arr_good, arr_average, arr_poor
	    FROM health_score.band_breakdown_wide WHERE dimension = 'all'$$,
	$$VALUES (8::bigint, 3::bigint, 2::bigint, 3::bigint, 37.5, 25.0, 37.5, 114000::numeric, 56000::numeric,
	          12000::numeric, 46000::numeric)$$,
	'overall: 3 good, 2 average, 3 poor of 8, with their ARR');
SELECT is((SELECT value FROM health_score.band_breakdown_wide WHERE is_total), 'all', 'the overall row''s value is all');
SELECT results_eq(
	$$SELECT value, accounts, good, average, poor, good_pct, average_pct, poor_pct
	    FROM health_score.band_breakdown_wide WHERE dimension = 'segment' ORDER BY value$$,
	$$VALUES ('Enterprise', 2::bigint, 1::bigint, 0::bigint, 1::bigint, 50.0, 0.0, 50.0),
	         ('Mid-Market', 2, 1, 1, 0, 50.0, 50.0, 0.0),
	         ('SMB', 4, 1, 1, 2, 25.0, 25.0, 50.0)$$,
	'by segment');
SELECT results_eq(
	$$SELECT value, good, average, poor, good_pct, average_pct, poor_pct, arr_good, arr_average, arr_poor
	    FROM health_score.band_breakdown_wide WHERE dimension = 'owner' ORDER BY value NULLS LAST$$,
	$$VALUES ('ann', 1::bigint, 1::bigint, 1::bigint, 33.4, 33.3, 33.3, 1000::numeric, 2000::numeric, 3000::numeric),
	         ('bob', 1, 0, 1, 50.0, 0.0, 50.0, 50000, 0, 3000),
	         ('cat', 0, 1, 1, 0.0, 50.0, 50.0, 0, 10000, 40000),
	         (NULL, 1, 0, 0, 100.0, 0.0, 0.0, 5000, 0, 0)$$,
	'by owner: thirds round to 33.4 + 33.3 + 33.3; accounts without an owner are the NULL value');
SELECT results_eq(
	$$SELECT value, accounts FROM health_score.band_breakdown_wide WHERE dimension = 'plan' ORDER BY value$$,
	$$VALUES ('Enterprise', 2::bigint), ('Growth', 3), ('Starter', 3)$$, 'by plan');
SELECT results_eq(
	$$SELECT value, accounts FROM health_score.band_breakdown_wide WHERE dimension = 'lifecycle_stage' ORDER BY value NULLS LAST$$,
	$$VALUES ('adoption', 1::bigint), ('mature', 5), ('renewal', 1), (NULL, 1)$$, 'by lifecycle stage');
SELECT is(
	(SELECT count(*) FROM health_score.band_breakdown_wide
	  WHERE good + average + poor <> accounts OR good_pct + average_pct + poor_pct <> 100
	     OR arr_good + arr_average + arr_poor <> arr),
	0::bigint, 'every row: bands add up to accounts, percentages to exactly 100, band ARR to the ARR');
SELECT results_eq(
	$$SELECT dimension, sum(accounts), sum(good), sum(average), sum(poor), sum(arr_poor)
	    FROM health_score.band_breakdown_wide GROUP BY dimension ORDER BY dimension$$,
	$$VALUES ('all', 8::numeric, 3::numeric, 2::numeric, 3::numeric, 46000::numeric),
	         ('lifecycle_stage', 8, 3, 2, 3, 46000), ('owner', 8, 3, 2, 3, 46000),
	         ('plan', 8, 3, 2, 3, 46000), ('segment', 8, 3, 2, 3, 46000)$$,
	'each dimension partitions all the accounts');

-- percentages(): the rounding behind every *_pct column
SELECT is(health_score.percentages(ARRAY[1, 1, 1]::bigint[]), '{33.4,33.3,33.3}'::numeric[], 'thirds');
SELECT is(health_score.percentages(ARRAY[1, 1, 1, 1, 1, 1, 1]::bigint[]),
	'{14.3,14.3,14.3,14.3,14.3,14.3,14.2}'::numeric[], 'sevenths: the remainder goes to the first ones on a tie');
SELECT is(health_score.percentages(ARRAY[2, 0, 1]::bigint[], 2), '{66.67,0.00,33.33}'::numeric[], 'two decimals');
SELECT is(health_score.percentages(ARRAY[1, 998, 1]::bigint[]), '{0.1,99.8,0.1}'::numeric[], 'no rounding needed');
SELECT is(health_score.percentages(ARRAY[1, 2, 3, 1000]::bigint[]), '{0.1,0.2,0.3,99.4}'::numeric[],
	'largest remainders first: 0.099, 0.199 and 0.298 round up, 99.40 keeps the rest');
SELECT is(health_score.percentages(ARRAY[0, 0]::bigint[]), '{NULL,NULL}'::numeric[], 'nothing to share: NULL');
SELECT is(health_score.percentages(ARRAY[NULL, 3]::bigint[]), '{0.0,100.0}'::numeric[], 'NULL counts as 0');

-- health_trend -------------------------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT day, accounts, average_score, good, average, poor, good_pct, average_pct, poor_pct, arr, arr_poor
	    FROM health_score.health_trend ORDER BY day$$,
	$$VALUES ('2026-04-01'::date, 1::bigint, 50.0, 0::bigint, 1::bigint, 0::bigint, 0.0, 100.0, 0.0, 3000::numeric, 0::numeric),
	         ('2026-05-30', 1, 60.0, 0, 1, 0, 0.0, 100.0, 0.0, 1000, 0),
	         ('2026-05-31', 3, 48.3, 1, 1, 1, 33.4, 33.3, 33.3, 54000, 50000),
	         ('2026-06-01', 1, 75.0, 1, 0, 0, 100.0, 0.0, 0.0, 1000, 0),
	         ('2026-06-15', 1, 55.0, 0, 1, 0, 0.0, 100.0, 0.0, 2000, 0)$$,
	'one row per history day: accounts, mean score (145 / 3 = 48.3), band counts and ARR');

-- at_risk_accounts ---------------------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT rank, account_id, worst_severity, band, arr, score FROM health_score.at_risk_accounts$$,
	$$VALUES (1::bigint, 5::bigint, 'red', 'poor'::health_score.health_band, 40000::numeric, 35.0), (2, 1, 'red', 'good', 1000, 80.0),
	         (3, 8, 'none', 'poor', 3000, 20.0), (4, 3, 'none', 'poor', 3000, 30.0)$$,
	'worst open flag first (red before none), then the poor band, then largest ARR; equal ARR: lowest score first; only accounts at risk');
SELECT col_type_is('health_score', 'at_risk_accounts', 'account_id', 'bigint', 'at_risk_accounts.account_id is bigint');
SELECT results_eq(
	$$SELECT flags, red_flags, amber_flags, actions FROM health_score.at_risk_accounts WHERE account_id = 5$$,
	$$VALUES ('{inactive,licence_gap}'::text[], 1::bigint, 1::bigint,
	          ARRAY['Call them', (SELECT action FROM health_score.rule WHERE code = 'licence_gap')])$$,
	'red then amber flags; each action is the flag''s own, else its rule''s');
SELECT is((SELECT reasons[1] FROM health_score.at_risk_accounts WHERE account_id = 5),
	'score 35.0 is in the poor band (below 40)', 'a poor band is the first reason');
SELECT is((SELECT reasons[2] FROM health_score.at_risk_accounts WHERE account_id = 5),
	'No activity for 30 days (accounts younger than that are not judged)',
	'then each flag''s rule description, its thresholds filled in from the evidence');
SELECT is((SELECT reasons FROM health_score.at_risk_accounts WHERE account_id = 1),
	'{"A survey rating of 6 or less in 90 days, overall or in any category"}'::text[],
	'a good account with a red flag: the flag is the reason');
UPDATE health_score.flag SET evidence = evidence || '{"days": 45}' WHERE account_id = '5' AND rule = 'inactive';
SELECT is((SELECT reasons[2] FROM health_score.at_risk_accounts WHERE account_id = 5),
	'No activity for 45 days (accounts younger than that are not judged)',
	'reasons give the thresholds that applied to the flag (its profile''s, in its evidence)');
UPDATE health_score.flag SET evidence = evidence - 'days' WHERE account_id = '5' AND rule = 'inactive';
UPDATE health_score.rule SET params = '{"days": 60}' WHERE code = 'inactive';
SELECT is((SELECT reasons[2] FROM health_score.at_risk_accounts WHERE account_id = 5),
	'No activity for 60 days (accounts younger than that are not judged)',
	'a threshold the evidence lacks is the rule''s current one');
SELECT is((SELECT evidence -> 'inactive' ->> 'days_since_activity' FROM health_score.at_risk_accounts WHERE account_id = 5),
	'45', 'evidence keyed by rule code');
SELECT is((SELECT evidence ? 'licence_gap' FROM health_score.at_risk_accounts WHERE account_id = 5), true,
	'evidence of every risk flag');
SELECT results_eq(
	$$SELECT flags, reasons, actions, evidence FROM health_score.at_risk_accounts WHERE account_id = 3$$,
	$$VALUES ('{}'::text[], '{"score 30.0 is in the poor band (below 40)"}'::text[], '{}'::text[], '{}'::jsonb)$$,
	'poor without flags: the band is the only reason');
SELECT results_eq(
	$$SELECT name, owner, renewal_date, days_to_renewal, score_change_30d FROM health_score.at_risk_accounts WHERE account_id = 3$$,
	$$VALUES ('Charlie', 'bob', '2026-08-01'::date, 32, -15.0)$$, 'renewal date and score change carried');
SELECT is((SELECT count(*) FROM health_score.at_risk_accounts WHERE 'over_licensed' = ANY (flags) OR 'new_users' = ANY (flags)),
	0::bigint, 'info and opportunity flags are not risks');

-- revenue_at_risk ----------------------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT band, open_flag_severity, accounts, arr, at_risk FROM health_score.revenue_at_risk
	   ORDER BY array_position(ARRAY['good', 'average', 'poor', 'all'], band),
	            array_position(ARRAY['red', 'amber', 'none', 'all'], open_flag_severity)$$,
	$$VALUES ('good', 'red', 1::bigint, 1000::numeric, true), ('good', 'none', 2, 55000, false),
	         ('good', 'all', 3, 56000, false),
	         ('average', 'amber', 1, 2000, false), ('average', 'none', 1, 10000, false), ('average', 'all', 2, 12000, false),
	         ('poor', 'red', 1, 40000, true), ('poor', 'none', 2, 6000, true), ('poor', 'all', 3, 46000, true),
	         ('all', 'red', 2, 41000, true), ('all', 'amber', 1, 2000, false), ('all', 'none', 5, 71000, false),
	         ('all', 'all', 8, 114000, false)$$,
	'each account in its band and its worst open red/amber flag (info and opportunity count as none), with totals');
SELECT results_eq(
	$$SELECT accounts_pct, arr_pct FROM health_score.revenue_at_risk WHERE band = 'poor' AND open_flag_severity = 'all'$$,
	$$VALUES (37.5, 40.4)$$, 'shares of all accounts and of all ARR (46,000 / 114,000 = 40.35%)');

-- plays --------------------------------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT account_id, rule, severity, action FROM health_score.plays ORDER BY account_id, rule$$,
	$$VALUES (4::bigint, 'new_users', 'info', (SELECT action FROM health_score.rule WHERE code = 'new_users')),
	         (4, 'over_licensed', 'opportunity', 'Sell seats'),
	         (6, 'feature_adopted', 'info', (SELECT action FROM health_score.rule WHERE code = 'feature_adopted'))$$,
	'open info and opportunity flags of scored accounts, with their actions');
SELECT is((SELECT description FROM health_score.plays WHERE rule = 'new_users'),
	'10 or more users first seen in the last 30 days', 'the play described with its thresholds');
SELECT results_eq(
	$$SELECT name, arr, score, evidence ->> 'new_users' FROM health_score.plays WHERE rule = 'new_users'$$,
	$$VALUES ('Delta', 50000::numeric, 75.0, '12')$$, 'the account and the evidence come along');
SELECT col_type_is('health_score', 'plays', 'account_id', 'bigint', 'plays.account_id is bigint');

-- rule_text: descriptions with their placeholders filled in
SELECT is(health_score.rule_text('At least `n` in `days` days', '{"n": 3, "days": 30}'), 'At least 3 in 30 days',
	'placeholders replaced by values');
SELECT is(health_score.rule_text('Band is `band`', '{"band": "poor"}'), 'Band is poor', 'string values unquoted');
SELECT is(health_score.rule_text('Over `limit` now', '{}'), 'Over limit now', 'a missing value leaves the name');
SELECT is(health_score.rule_text('Over `x`', '{"x": [1, 2]}'), 'Over x', 'non-scalar values are not spliced in');
SELECT is(health_score.rule_text('Plain text', NULL), 'Plain text', 'no placeholders, nothing to do');

-- Scores whose band is NULL (no inputs yet) are counted nowhere in the bands but are listed in the overview.
INSERT INTO health_score.account_health (account_id, name, profile, score, band, arr, as_of)
VALUES ('9', 'India', 'default', NULL, NULL, 700, '2026-06-30 12:00+00');
SELECT results_eq(
	$$SELECT sum(accounts), sum(arr) FROM health_score.band_breakdown WHERE dimension = 'all'$$,
	$$VALUES (8::numeric, 114000::numeric)$$, 'an unscored account is left out of the breakdown');
SELECT results_eq(
	$$SELECT at_risk, open_flags FROM health_score.account_overview WHERE account_id = 9$$,
	$$VALUES (false, '{}'::text[])$$, 'an unscored account is in the overview, not at risk');
SELECT results_eq(
	$$SELECT accounts, arr FROM health_score.revenue_at_risk WHERE band = 'unscored' AND open_flag_severity = 'all'$$,
	$$VALUES (1::bigint, 700::numeric)$$, 'revenue_at_risk shows it as unscored');

-- Every view and every column is documented; views respect the caller's row-level security.
SELECT is(
	(SELECT count(*) FROM pg_catalog.pg_class c
	  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v'
	    AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''),
	0::bigint, 'every view has a comment');
SELECT is(
	(SELECT string_agg(c.relname || '.' || a.attname, ', ')
	   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
	  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v'
	    AND coalesce(col_description(c.oid, a.attnum), '') = ''),
	NULL::text, 'every view column has a comment');
SELECT is(
	(SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_catalog.pg_class c
	  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v'
	    AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)),
	NULL::text, 'every view runs with the caller''s rights (security_invoker)');

SELECT * FROM finish();
ROLLBACK;
