-- Plays: a rule with task_due_in opens one task per flag, for the account's owner at that moment, due on the
-- as_of date plus task_due_in; the task outlives its flag; a flag raised again while its task is open opens
-- no second one; complete_task and dismiss_task close it and change no score or flag; open_tasks,
-- owner_workload and play_outcomes count them.
--
-- The flags come from one rule of our own over a measure we set by hand (knob > 5), the seeded rules off.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';
SELECT plan(30);

CREATE TABLE public.t_accounts (account_id bigint PRIMARY KEY, name text, owner text, arr numeric,
	started_at timestamptz, cancelled_at timestamptz);
CREATE TABLE public.t_knobs (account_id bigint PRIMARY KEY, value float8);
INSERT INTO public.t_accounts VALUES (1, 'Alpha', 'ann', 1000, '2024-01-01', NULL), (2, 'Bravo', 'bob', 2000, '2024-01-01', NULL),
	(3, 'Charlie', 'cat', 3000, '2024-01-01', '2025-02-01');
INSERT INTO public.t_knobs VALUES (1, 10), (2, 1), (3, 10);
SELECT health_score.add_source('accounts', 'public.t_accounts');
UPDATE health_score.rule SET enabled = false WHERE seeded;
SELECT health_score.add_measure('knob', 'SELECT account_id, value FROM public.t_knobs');
SELECT health_score.add_rule('knob_high', 'knob > {max}', 'red', 'Call them about the knob.', '{"max": 5}',
	task_due_in => '3 days');

-- Bad task_due_in: not whole days, or out of range.
SELECT throws_ok($$SELECT health_score.add_rule('knob_low', 'knob < 1', 'amber', 'x', task_due_in => '2 hours')$$,
	'22023', 'task_due_in of rule knob_low must be whole days from 1 day to 3650 days, not 02:00:00',
	'a task is due on a date: task_due_in of hours is refused');
SELECT throws_ok($$UPDATE health_score.rule SET task_due_in = '0 days' WHERE code = 'knob_high'$$,
	'22023', 'task_due_in of rule knob_high must be whole days from 1 day to 3650 days, not 00:00:00',
	'so is one of no time, however it is written');

-- 2025-01-10: accounts 1 and 3 trip the rule.
SELECT health_score.refresh('2025-01-10 12:00+00');
SELECT results_eq(
	$$SELECT t.account_id, t.rule, t.title, t.owner, t.due_on, t.status, t.flag_id = f.id, t.created_at
	    FROM health_score.task t JOIN health_score.flag f ON f.account_id = t.account_id AND f.rule = t.rule
	   ORDER BY t.account_id$$,
	$$VALUES ('1', 'knob_high', 'Call them about the knob.', 'ann', '2025-01-13'::date, 'open', true, '2025-01-10 12:00+00'::timestamptz),
	         ('3', 'knob_high', 'Call them about the knob.', 'cat', '2025-01-13', 'open', true, '2025-01-10 12:00+00')$$,
	'a task per raised flag: the rule''s action, the account''s owner, due 3 days after the as_of date');
SELECT is((SELECT details -> 'tasks_opened' FROM health_score.refresh_log ORDER BY id DESC LIMIT 1), '2'::jsonb,
	'refresh_log counts the tasks opened');

-- A refresh while the flag stays open opens no second task; the owner changing later does not move the task.
UPDATE public.t_accounts SET owner = 'ada' WHERE account_id = 1;
SELECT health_score.refresh('2025-01-11 12:00+00');
SELECT is((SELECT count(*) FROM health_score.task), 2::bigint, 'a flag still open opens no second task');
SELECT is((SELECT owner FROM health_score.task WHERE account_id = '1'), 'ann', 'the task keeps the owner it was opened for');

-- The task is done; the flag stays open: nothing new.
SELECT results_eq(
	$$SELECT status, outcome, closed_by, closed_at IS NOT NULL
	    FROM health_score.complete_task((SELECT id FROM health_score.task WHERE account_id = '3'), 'Called; they left anyway.')$$,
	$$VALUES ('done', 'Called; they left anyway.', current_user::name, true)$$,
	'complete_task marks it done with its outcome, who and when');
SELECT throws_ok(format('SELECT health_score.complete_task(%s, %L)', (SELECT id FROM health_score.task WHERE account_id = '3'), 'again'),
	'22023', format('task %s is already done', (SELECT id FROM health_score.task WHERE account_id = '3')),
	'a closed task cannot be completed again');
SELECT throws_ok(format('SELECT health_score.dismiss_task(%s, %L)', (SELECT id FROM health_score.task WHERE account_id = '3'), 'no'),
	'22023', format('task %s is already done', (SELECT id FROM health_score.task WHERE account_id = '3')),
	'nor dismissed');
SELECT throws_ok($$SELECT health_score.complete_task(999999, 'done')$$, '22023', 'task 999999 does not exist',
	'an unknown task');
SELECT throws_ok($$SELECT health_score.dismiss_task(NULL, 'done')$$, '22023', 'task NULL does not exist', 'a NULL task');
SELECT throws_ok(format('SELECT health_score.dismiss_task(%s, %L)', (SELECT id FROM health_score.task WHERE account_id = '1'), '  '),
	'22023', 'reason must say why the task is dismissed', 'a blank reason');
SELECT throws_ok(format('SELECT health_score.complete_task(%s, NULL)', (SELECT id FROM health_score.task WHERE account_id = '1')),
	'22023', 'outcome must say what came of the task', 'no outcome');

-- Nothing done to a task changes a score or a flag: the same refresh again gives the same rows.
CREATE TEMP TABLE before_h AS SELECT account_id, score, band, components FROM health_score.account_health;
CREATE TEMP TABLE before_f AS SELECT id, account_id, rule, severity, raised_at, cleared_at, evidence FROM health_score.flag;
SELECT health_score.refresh('2025-01-11 12:00+00');
SELECT set_eq($$SELECT account_id, score, band, components FROM health_score.account_health$$,
	$$SELECT * FROM before_h$$, 'completing a task changes no score');
SELECT set_eq($$SELECT id, account_id, rule, severity, raised_at, cleared_at, evidence FROM health_score.flag$$,
	$$SELECT * FROM before_f$$, 'nor any flag');
SELECT is((SELECT count(*) FROM health_score.task), 2::bigint, 'and the done task''s flag, still open, opens no new one');

-- open_tasks: the open task of account 1, overdue (due 2025-01-13), its flag open.
SELECT results_eq(
	$$SELECT account_id, name, owner, rule, severity, due_on, overdue, days_overdue, flag_open FROM health_score.open_tasks$$,
	$$VALUES (1::bigint, 'Alpha', 'ann', 'knob_high', 'red', '2025-01-13'::date, true, CURRENT_DATE - date '2025-01-13', true)$$,
	'open_tasks: the open task, overdue, its flag open');

-- 2025-01-12: the knob drops, the flag clears; the task stays, and says so.
UPDATE public.t_knobs SET value = 0 WHERE account_id = 1;
SELECT health_score.refresh('2025-01-12 12:00+00');
SELECT results_eq(
	$$SELECT status, flag_open, flag_cleared_at FROM health_score.open_tasks o JOIN health_score.task t ON t.id = o.task_id$$,
	$$VALUES ('open', false, '2025-01-12 12:00+00'::timestamptz)$$,
	'a flag that clears leaves its task open, and open_tasks says the flag cleared');
-- 2025-01-13: raised again while the task is open: the task answers the new flag, no second task.
UPDATE public.t_knobs SET value = 10 WHERE account_id = 1;
SELECT health_score.refresh('2025-01-13 12:00+00');
SELECT is((SELECT count(*) FROM health_score.task WHERE account_id = '1'), 1::bigint,
	'a flag raised again while its task is open opens no second task');
SELECT results_eq(
	$$SELECT t.flag_id = f.id, o.flag_open FROM health_score.task t
	    JOIN health_score.flag f ON f.account_id = t.account_id AND f.rule = t.rule AND f.cleared_at IS NULL
	    JOIN health_score.open_tasks o ON o.task_id = t.id$$,
	$$VALUES (true, true)$$, 'the open task answers the new flag');

-- Dismissed; then the flag clears and is raised again: a new flag with no open task opens a new task.
SELECT is((SELECT status FROM health_score.dismiss_task((SELECT id FROM health_score.task WHERE account_id = '1'), 'Knob is fine.')),
	'dismissed', 'dismiss_task closes it as dismissed');
UPDATE public.t_knobs SET value = 0 WHERE account_id = 1;
SELECT health_score.refresh('2025-01-14 12:00+00');
UPDATE public.t_knobs SET value = 10 WHERE account_id = 1;
SELECT health_score.refresh('2025-01-20 12:00+00');
SELECT results_eq(
	$$SELECT status, due_on, owner FROM health_score.task WHERE account_id = '1' ORDER BY id$$,
	$$VALUES ('dismissed', '2025-01-13'::date, 'ann'), ('open', '2025-01-23', 'ada')$$,
	'a new flag without an open task opens a new task, for the owner now');

-- owner_workload: open and overdue tasks per owner (today is long past 2025-01-23).
SELECT results_eq(
	$$SELECT owner, open_tasks, overdue_tasks FROM health_score.owner_workload ORDER BY owner$$,
	$$VALUES ('ada', 1::bigint, 1::bigint), ('bob', 0, 0), ('cat', 0, 0)$$,
	'owner_workload: open and overdue tasks of each owner');
-- a task due in the future is open, not overdue
UPDATE health_score.task SET due_on = CURRENT_DATE + 1 WHERE status = 'open';
SELECT results_eq($$SELECT open_tasks, overdue_tasks FROM health_score.owner_workload WHERE owner = 'ada'$$,
	$$VALUES (1::bigint, 0::bigint)$$, 'not overdue before its due date');
SELECT results_eq($$SELECT overdue, days_overdue FROM health_score.open_tasks$$, $$VALUES (false, 0)$$,
	'open_tasks: not overdue, 0 days');

-- Overdue first in open_tasks.
INSERT INTO health_score.task (account_id, rule, title, owner, due_on, created_at)
VALUES ('2', 'knob_high', 'Late one', 'bob', CURRENT_DATE - 3, '2025-01-01');
SELECT results_eq($$SELECT title, overdue FROM health_score.open_tasks$$,
	$$VALUES ('Late one', true), ('Call them about the knob.', false)$$, 'open_tasks lists overdue tasks first');
DELETE FROM health_score.task WHERE title = 'Late one';

-- play_outcomes: in January 2025 the rule raised four flags: on 3 (01-10, task done; the account cancels on
-- 2025-02-01, within 90 days), and on 1 three times: 01-10 (its task moved on to the next flag), 01-13 (the
-- task, dismissed) and 01-20 (a task open).
SELECT results_eq(
	$$SELECT rule, month, flags_raised, tasks, tasks_done, tasks_not_done, done_outcome_known, done_churned,
	         not_done_outcome_known, not_done_churned, done_churn_rate, not_done_churn_rate
	    FROM health_score.play_outcomes$$,
	$$VALUES ('knob_high', '2025-01-01'::date, 4::bigint, 3::bigint, 1::bigint, 2::bigint, 1::bigint, 1::bigint,
	          2::bigint, 0::bigint, 1.0000, 0.0000)$$,
	'play_outcomes: 4 flags, 3 with a task; the done task''s account churned within 90 days, the others'' did not');
SELECT is((SELECT sum(flags_raised) FROM health_score.play_outcomes), (SELECT count(*) FROM health_score.flag)::numeric,
	'every flag counted once over the months');

-- A rule given task_due_in later opens tasks for the flags it raises from then on, not for those open already.
SELECT health_score.add_rule('knob_set', 'knob > 0', 'info', 'Say thanks.');
UPDATE public.t_knobs SET value = 0 WHERE account_id = 2;
SELECT health_score.refresh('2025-01-21 12:00+00');
UPDATE health_score.rule SET task_due_in = '5 days' WHERE code = 'knob_set';
SELECT health_score.refresh('2025-01-22 12:00+00');
SELECT is((SELECT count(*) FROM health_score.task WHERE rule = 'knob_set'), 0::bigint,
	'a flag open before its rule had task_due_in opens no task');
UPDATE public.t_knobs SET value = 7 WHERE account_id = 2;
SELECT health_score.refresh('2025-01-23 12:00+00');
SELECT results_eq($$SELECT account_id, due_on FROM health_score.task WHERE rule = 'knob_set'$$,
	$$VALUES ('2', '2025-01-28'::date)$$, 'one it raises afterwards does');

SELECT * FROM finish();
ROLLBACK;
