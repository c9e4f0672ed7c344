-- owner_workload on a hand-built book of 30 accounts: counts, shares, red flags, ARR at risk and the
-- "notably more poor accounts" rule (poor share >= 1.5 x the team's, and at least 2 poor accounts).
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(9);

-- The views show the accounts the querying role may read in the accounts source: here a view of every
-- account put into account_health below.
CREATE VIEW public.book AS SELECT h.account_id, h.owner, h.arr FROM health_score.account_health h;
SELECT health_score.add_source('accounts', 'public.book');

-- owner  accounts  poor  share   notably more poor?  (team: 10 poor of 30 = 33.3%; 1.5 x = 50%)
-- ann        9      3    33.3%   no
-- bob       10      1    10.0%   no
-- cat        4      1    25.0%   no
-- dan        2      2   100.0%   yes
-- eve        4      2    50.0%   yes: exactly on the threshold
-- fay        1      1   100.0%   no: a single poor account is not a pattern
-- Every account has ARR 1,000 except where noted; the first `poor` accounts of each owner are poor, the rest good.
INSERT INTO health_score.account_health (account_id, owner, arr, profile, score, band, as_of)
SELECT o.owner || i, o.owner, 1000, 'default',
       CASE WHEN i <= o.poor THEN 20 ELSE 80 END,
       CASE WHEN i <= o.poor THEN 'poor' ELSE 'good' END::health_score.health_band,
       '2026-06-30'
  FROM (VALUES ('ann', 9, 3), ('bob', 10, 1), ('cat', 4, 1), ('dan', 2, 2), ('eve', 4, 2), ('fay', 1, 1)) o(owner, n, poor),
       generate_series(1, o.n) i;
UPDATE health_score.account_health SET arr = 5000 WHERE account_id = 'ann9';

-- ann: two red flags on a good account (ann9, ARR 5,000), an amber one on another, a cleared red one;
-- bob: a red flag on his poor account.
INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, cleared_at) VALUES
	('ann9', 'detractor', 'red', '2026-06-01', '2026-06-30', NULL),
	('ann9', 'inactive', 'red', '2026-06-01', '2026-06-30', NULL),
	('ann8', 'licence_gap', 'amber', '2026-06-01', '2026-06-30', NULL),
	('ann7', 'renewal_risk', 'red', '2026-05-01', '2026-06-01', '2026-06-01'),
	('bob1', 'renewal_risk', 'red', '2026-06-01', '2026-06-30', NULL);

SELECT results_eq(
	$$SELECT owner, accounts, poor, poor_pct, team_poor_pct FROM health_score.owner_workload ORDER BY owner$$,
	$$VALUES ('ann', 9::bigint, 3::bigint, 33.3, 33.3), ('bob', 10, 1, 10.0, 33.3), ('cat', 4, 1, 25.0, 33.3),
	         ('dan', 2, 2, 100.0, 33.3), ('eve', 4, 2, 50.0, 33.3), ('fay', 1, 1, 100.0, 33.3)$$,
	'accounts, poor accounts and their share against the team''s');
SELECT results_eq(
	$$SELECT owner FROM health_score.owner_workload WHERE notably_more_poor ORDER BY owner$$,
	$$VALUES ('dan'), ('eve')$$,
	'notably more poor: dan (100%) and eve (exactly 1.5 x the team''s 33.3%); not fay with a single poor account');
SELECT results_eq(
	$$SELECT open_red_flags, at_risk_accounts, arr, arr_at_risk FROM health_score.owner_workload WHERE owner = 'ann'$$,
	$$VALUES (2::bigint, 4::bigint, 13000::numeric, 8000::numeric)$$,
	'ann: 2 open red flags (one account), at risk = 3 poor + 1 good with a red flag, ARR at risk 3 x 1,000 + 5,000');
SELECT results_eq(
	$$SELECT open_red_flags, at_risk_accounts, arr_at_risk FROM health_score.owner_workload WHERE owner = 'bob'$$,
	$$VALUES (1::bigint, 1::bigint, 1000::numeric)$$,
	'bob: his red flag is on his poor account, so it is counted once as at risk');
SELECT results_eq(
	$$SELECT open_red_flags, at_risk_accounts, arr_at_risk FROM health_score.owner_workload WHERE owner = 'cat'$$,
	$$VALUES (0::bigint, 1::bigint, 1000::numeric)$$, 'cat: no flags, one poor account');
SELECT results_eq(
	$$SELECT average_score FROM health_score.owner_workload WHERE owner IN ('ann', 'eve') ORDER BY owner$$,
	$$VALUES (60.0), (50.0)$$, 'average score: (3 x 20 + 6 x 80) / 9 = 60, (2 x 20 + 2 x 80) / 4 = 50');
SELECT is((SELECT sum(accounts) FROM health_score.owner_workload), 30::numeric, 'every account in one owner''s row');

-- One more poor account for bob raises the team share to 11 / 31 = 35.5%: eve's 50% is no longer 1.5 x.
INSERT INTO health_score.account_health (account_id, owner, arr, profile, score, band, as_of)
VALUES ('bob11', 'bob', 1000, 'default', 10, 'poor', '2026-06-30');
SELECT results_eq(
	$$SELECT owner FROM health_score.owner_workload WHERE notably_more_poor ORDER BY owner$$,
	$$VALUES ('dan')$$, 'just past the threshold, eve is no longer flagged');

-- Accounts without an owner form their own row.
INSERT INTO health_score.account_health (account_id, owner, arr, profile, score, band, as_of)
VALUES ('x1', NULL, 1000, 'default', 90, 'good', '2026-06-30');
SELECT results_eq(
	$$SELECT accounts, poor, notably_more_poor FROM health_score.owner_workload WHERE owner IS NULL$$,
	$$VALUES (1::bigint, 0::bigint, false)$$, 'accounts without an owner: the NULL owner row');

SELECT * FROM finish();
ROLLBACK;
