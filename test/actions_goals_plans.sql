-- Goals and win-back plans: attainment against the straight line to the due date, the goal_off_track flag
-- and the goals component (weight 0: no score moves); plan steps with due dates, progress, and a support
-- commitment checked against the sources at each refresh, whose breach raises plan_breach with a task.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SELECT plan(36);

CREATE TABLE public.g_accounts (id uuid PRIMARY KEY, name text, owner text, started_at timestamptz);
CREATE TABLE public.g_metrics (account_id uuid, metric text, value float8, measured_at timestamptz);
CREATE TABLE public.g_cases (account_id uuid, opened_at timestamptz, closed_at timestamptz);
INSERT INTO public.g_accounts VALUES
	('00000000-0000-0000-0000-00000000000a', 'Alpha', 'ann', '2024-01-01'),
	('00000000-0000-0000-0000-00000000000b', 'Bravo', 'bob', '2024-01-01');
-- hours saved a week: Alpha 30 (on track for 10 -> 50), Bravo 14 (behind)
INSERT INTO public.g_metrics VALUES ('00000000-0000-0000-0000-00000000000a', 'hours_saved', 30, now() - interval '1 day'),
	('00000000-0000-0000-0000-00000000000b', 'hours_saved', 14, now() - interval '1 day');
-- Bravo has a support case open for five days
INSERT INTO public.g_cases VALUES ('00000000-0000-0000-0000-00000000000b', now() - interval '5 days', NULL),
	('00000000-0000-0000-0000-00000000000a', now() - interval '20 days', now() - interval '19 days');
SELECT health_score.add_source('accounts', 'public.g_accounts', '{"account_id": "id"}');
SELECT health_score.add_source('metrics', 'public.g_metrics');
SELECT health_score.add_source('support_cases', 'public.g_cases');
UPDATE health_score.rule SET enabled = false WHERE seeded AND code NOT IN ('goal_off_track', 'plan_breach');

-- Goals: bad input
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', 'Save time', 'hours_saved', 0, CURRENT_DATE + 50)$$,
	'22023', 'target must be a finite number other than the baseline (0), not 0', 'a target of zero (the baseline)');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', 'Save time', 'hours_saved', 'Infinity', CURRENT_DATE + 50)$$,
	'22023', 'target must be a finite number other than the baseline (0), not Infinity', 'an infinite target');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', 'Save time', 'hours_saved', 50, CURRENT_DATE - 1)$$,
	'22023', format('due_on must be a date after today, not %s', CURRENT_DATE - 1), 'a due date in the past');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', 'Save time', 'hours_wasted', 50, CURRENT_DATE + 50)$$,
	'22023', 'measure ''hours_wasted'' does not exist', 'an unknown measure');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', 'Be good', 'band', 50, CURRENT_DATE + 50)$$,
	'22023', 'a goal cannot track measure band', 'the composite''s measures cannot be goals');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-0000000000ff', 'Save time', 'hours_saved', 50, CURRENT_DATE + 50)$$,
	'22023', 'account_id ''00000000-0000-0000-0000-0000000000ff'' is not in the accounts source', 'an unknown account');
SELECT throws_ok($$SELECT health_score.add_goal('00000000-0000-0000-0000-00000000000a', ' ', 'hours_saved', 50, CURRENT_DATE + 50)$$,
	'22023', 'name must say what the customer wants to achieve', 'a blank name');

-- Scores before any goal, to compare.
SELECT health_score.refresh();
CREATE TEMP TABLE no_goals AS SELECT account_id, score, computed_score FROM health_score.account_health;

-- Both accounts: from 10 to 50 hours, set 50 days ago, due in 50 days: the line stands at 0.5 today.
SELECT lives_ok($$SELECT health_score.add_goal(a::text, 'Save 50 hours a week', 'hours_saved', 50, CURRENT_DATE + 50, baseline => 10)
                    FROM unnest(ARRAY['00000000-0000-0000-0000-00000000000A', '00000000-0000-0000-0000-00000000000b']) a$$,
	'add_goal takes the account key in any spelling of its type');
UPDATE health_score.goal SET starts_on = CURRENT_DATE - 50, set_at = now() - interval '50 days';
SELECT health_score.refresh();
SELECT results_eq(
	$$SELECT g.account_id, p.day, p.value, p.attainment, p.expected, round(p.shortfall::numeric, 4)
	    FROM health_score.goal_progress p JOIN health_score.goal g ON g.id = p.goal_id ORDER BY g.account_id$$,
	$$VALUES ('00000000-0000-0000-0000-00000000000a', CURRENT_DATE, 30::float8, 0.5::float8, 0.5::float8, 0.0000),
	         ('00000000-0000-0000-0000-00000000000b', CURRENT_DATE, 14::float8, 0.1::float8, 0.5::float8, 0.4000)$$,
	'goal_progress: attainment (value - baseline) / (target - baseline) against the line from 0 to 1 (0.5 today)');
SELECT results_eq(
	$$SELECT account_id, rule, evidence ->> 'goal_shortfall', evidence ->> 'max_shortfall' FROM health_score.flag WHERE cleared_at IS NULL$$,
	$$VALUES ('00000000-0000-0000-0000-00000000000b', 'goal_off_track', '0.4', '0.2')$$,
	'goal_off_track: Bravo is 0.4 behind the line, more than 0.2; Alpha is on it');
SELECT results_eq(
	$$SELECT account_id, components -> 'goals' FROM health_score.account_health ORDER BY account_id$$,
	$$VALUES ('00000000-0000-0000-0000-00000000000a', '50'::jsonb), ('00000000-0000-0000-0000-00000000000b', '10'::jsonb)$$,
	'the goals component: 100 x the attainment');
SELECT set_eq($$SELECT account_id, score, computed_score FROM health_score.account_health$$, $$SELECT * FROM no_goals$$,
	'weighed 0 by default, it moves no score');
SELECT results_eq(
	$$SELECT goal, attainment, expected, shortfall, reached, status FROM health_score.goal_status$$,
	$$VALUES ('Save 50 hours a week', 0.1000, 0.5000, 0.4000, false, 'open'), ('Save 50 hours a week', 0.5000, 0.5000, 0.0000, false, 'open')$$,
	'goal_status: furthest behind first');
SELECT col_type_is('health_score', 'goal_status', 'account_id', 'uuid', 'goal_status.account_id has the accounts source''s type');
-- past the target: attainment over 1, capped at 1 in the measure
UPDATE public.g_metrics SET value = 70 WHERE account_id = '00000000-0000-0000-0000-00000000000a';
SELECT health_score.refresh();
SELECT results_eq(
	$$SELECT p.attainment, g.reached, (h.components ->> 'goals')::float8 FROM health_score.goal_progress p
	    JOIN health_score.goal_status g ON g.goal_id = p.goal_id JOIN health_score.account_health h ON h.account_id = g.account_id::text
	   WHERE g.account_id = '00000000-0000-0000-0000-00000000000a' AND p.day = CURRENT_DATE$$,
	$$VALUES (1.5::float8, true, 100::float8)$$, 'past the target: attainment 1.5, reached; the component caps at 100');
SELECT is((SELECT count(*) FROM health_score.goal_progress), 2::bigint, 'a later refresh the same day rewrites the day''s row');
-- closing a goal stops it being tracked
SELECT is((SELECT outcome FROM health_score.close_goal((SELECT id FROM health_score.goal WHERE account_id = '00000000-0000-0000-0000-00000000000b'), 'Changed priorities')),
	'Changed priorities', 'close_goal records how it ended');
SELECT health_score.refresh();
SELECT is_empty($$SELECT FROM health_score.flag WHERE rule = 'goal_off_track' AND cleared_at IS NULL$$,
	'a closed goal is no longer off track');
SELECT throws_ok(format('SELECT health_score.close_goal(%s, %L)', (SELECT id FROM health_score.goal WHERE account_id = '00000000-0000-0000-0000-00000000000b'), 'x'),
	'22023', format('goal %s is already closed', (SELECT id FROM health_score.goal WHERE account_id = '00000000-0000-0000-0000-00000000000b')),
	'a closed goal cannot be closed again');
SELECT throws_ok($$SELECT health_score.close_goal(424242, 'x')$$, '22023', 'goal 424242 does not exist', 'an unknown goal');

-- Plans
SELECT throws_ok($$SELECT health_score.start_plan('00000000-0000-0000-0000-00000000000b', 'save_the_day')$$,
	'22023', 'unknown plan kind ''save_the_day''', 'an unknown kind of plan');
SELECT lives_ok($$SELECT health_score.start_plan('00000000-0000-0000-0000-00000000000b')$$, 'start_plan opens a win-back plan');
SELECT results_eq(
	$$SELECT s.step_no, s.step, s.due_on FROM health_score.plan_step s ORDER BY s.step_no$$,
	$$VALUES (1, 'team review', CURRENT_DATE + 2), (2, 'follow-up call', CURRENT_DATE + 5), (3, 'meeting', CURRENT_DATE + 14),
	         (4, 'proposal', CURRENT_DATE + 21), (5, 'implementation', CURRENT_DATE + 60)$$,
	'its five steps, each due as plan_template says');
SELECT is((SELECT owner FROM health_score.plan), 'bob', 'the owner is the account''s by default');
SELECT throws_ok($$SELECT health_score.start_plan('00000000-0000-0000-0000-00000000000b')$$,
	'22023', 'account ''00000000-0000-0000-0000-00000000000b'' already has an open win_back plan', 'one open plan of a kind per account');
SELECT throws_ok(format('SELECT health_score.complete_step(%s, %L)', (SELECT id FROM health_score.plan), 'party'),
	'22023', format('plan %s has no step ''party''', (SELECT id FROM health_score.plan)), 'an unknown step');
SELECT throws_ok($$SELECT health_score.complete_step(424242, 'meeting')$$, '22023', 'plan 424242 does not exist', 'an unknown plan');
SELECT throws_ok(format('SELECT health_score.add_commitment(%s, %L, %L)', (SELECT id FROM health_score.plan), 'Fast support', 'oldest_open_case_days'),
	'22023', 'a commitment needs a finite at_most, at_least or both (at_least <= at_most), not at_most NULL and at_least NULL',
	'a commitment without a limit');
SELECT lives_ok(format('SELECT health_score.add_commitment(%s, %L, %L, at_most => 2)', (SELECT id FROM health_score.plan),
	'Support cases resolved within 2 days', 'oldest_open_case_days'), 'add_commitment: no case open longer than 2 days');
SELECT lives_ok(format('SELECT health_score.complete_step(%s, %L, %L)', (SELECT id FROM health_score.plan), 'team review', 'Done with support'),
	'complete_step');
SELECT throws_ok(format('SELECT health_score.complete_step(%s, %L)', (SELECT id FROM health_score.plan), 'team review'),
	'22023', format('step team review of plan %s is already done', (SELECT id FROM health_score.plan)), 'a step done twice');

-- The refresh checks the commitment: Bravo's case has been open 5 days.
SELECT health_score.refresh();
SELECT results_eq(
	$$SELECT steps, steps_done, progress, next_step, next_due_on, commitments, breached_commitments, breaches, status FROM health_score.plans$$,
	$$VALUES (5::bigint, 1::bigint, 0.2000, 'follow-up call', CURRENT_DATE + 5, 1::bigint, 1::bigint,
	          '{"Support cases resolved within 2 days: oldest_open_case_days is 5 (at most 2)"}'::text[], 'open')$$,
	'plans: progress, the next step, and the breached commitment in words');
SELECT results_eq(
	$$SELECT f.rule, f.severity, f.evidence ->> 'plan_breaches', t.due_on - CURRENT_DATE FROM health_score.flag f
	    LEFT JOIN health_score.task t ON t.flag_id = f.id WHERE f.cleared_at IS NULL$$,
	$$VALUES ('plan_breach', 'red', '1', 7)$$, 'the breach raises plan_breach, which opens a task due in 7 days');
-- The case is closed: the commitment holds again, the flag clears.
UPDATE public.g_cases SET closed_at = now() WHERE closed_at IS NULL;
SELECT health_score.refresh();
SELECT results_eq($$SELECT breached, breached_since, value FROM health_score.plan_commitment$$,
	$$VALUES (false, NULL::timestamptz, NULL::float8)$$, 'the commitment holds again once no case is open');
SELECT is_empty($$SELECT FROM health_score.flag WHERE cleared_at IS NULL$$, 'and plan_breach clears');
-- every step done: the plan is complete
SELECT health_score.complete_step(p.id, s.step) FROM health_score.plan p, health_score.plan_step s WHERE s.plan_id = p.id AND s.done_at IS NULL;
SELECT results_eq($$SELECT status, progress, next_step FROM health_score.plans$$,
	$$VALUES ('complete', 1.0000, NULL::text)$$, 'once every step is done, the plan is complete');

SELECT * FROM finish();
ROLLBACK;
