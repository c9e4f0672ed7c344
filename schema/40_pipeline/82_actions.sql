-- Stage actions: what the flags and the goals and plans call for, once the flags are written.
--   reads   hs_raised (the flags this refresh raised), hs_rule (task_due_in, action),
--           hs_acc (owner), hs_goal, hs_breach; run
--   writes  health_score.task: a flag this refresh raised, of a rule with task_due_in, opens a task (title the
--           flag's action, owner the account's owner now, due on the as_of date + task_due_in), unless its
--           account and rule have an open task already, which then answers the new flag instead; so a flag
--           that clears leaves its task as it is, and a flag raised again while its task is open opens no
--           second; health_score.goal_progress: the day's row of each open goal (rewritten by a later refresh
--           that day); health_score.plan_commitment: the check of each commitment of an open plan
--   returns the number of tasks opened
-- Only the flags raised now are read: a 30-minute refresh raises few, whatever the number open. (A rule given
-- a task_due_in opens tasks for the flags it raises from then on.) Evaluations (backtest, calibrate) do not
-- run it: they write nothing.
CREATE FUNCTION health_score._stage_actions(run health_score._run)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	n_opened integer;
BEGIN
	PERFORM health_score._work_analyze('{hs_raised}', 'account_id, rule');
	-- the open task of an account and rule answers the flag raised again while it is open
	UPDATE health_score.task k
	   SET flag_id = f.id
	  FROM pg_temp.hs_raised f
	 WHERE k.status = 'open' AND k.account_id = f.account_id AND k.rule = f.rule;

	INSERT INTO health_score.task (account_id, flag_id, rule, title, owner, due_on, created_at)
	SELECT f.account_id, f.id, f.rule, coalesce(f.action, r.action, r.code), a.owner, (t::date + r.task_due_in)::date, t
	  FROM pg_temp.hs_raised f
	  JOIN pg_temp.hs_rule r ON r.code = f.rule
	  JOIN pg_temp.hs_acc a ON a.account_id = f.account_id
	 WHERE r.task_due_in IS NOT NULL
	   -- NOT IN reads the open tasks once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	   -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	   AND (f.account_id, f.rule) NOT IN (SELECT k.account_id, k.rule FROM health_score.task k WHERE k.status = 'open');
	GET DIAGNOSTICS n_opened = ROW_COUNT;

	INSERT INTO health_score.goal_progress AS p (goal_id, day, as_of, value, attainment, expected, shortfall)
	SELECT g.goal_id, t::date, t, g.value, g.attainment, g.expected, g.shortfall
	  FROM pg_temp.hs_goal g
	ON CONFLICT (goal_id, day) DO UPDATE
	   SET as_of = excluded.as_of, value = excluded.value, attainment = excluded.attainment,
	       expected = excluded.expected, shortfall = excluded.shortfall;

	UPDATE health_score.plan_commitment c
	   SET checked_at = t, value = b.value, breached = b.breached,
	       breached_since = CASE WHEN b.breached THEN CASE WHEN c.breached THEN c.breached_since ELSE t END END
	  FROM pg_temp.hs_breach b
	 WHERE c.id = b.commitment_id;
	RETURN n_opened;
END
$$;
