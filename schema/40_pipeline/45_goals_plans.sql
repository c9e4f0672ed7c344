-- Stage goals and plans: the goals open at as_of against the measures they track, and the commitments of the
-- plans open at as_of against theirs; the measures goal_attainment, goal_shortfall and plan_breaches of the
-- accounts that have any. Goals and commitments track measures of hs_m, so this runs after the measures
-- stage and fills in the columns it left NULL.
--   reads   health_score.goal, health_score.plan, health_score.plan_commitment, hs_m; run
--   writes  hs_goal (goal_id, account_id, value, attainment, expected, shortfall: one row per open goal of a
--           scored account), hs_breach (commitment_id, account_id, value, breached: one row per commitment
--           of an open plan of a scored account), and hs_m's goal_attainment, goal_shortfall, plan_breaches
-- A goal's attainment is NULL when its measure is; a commitment whose measure is NULL is not breached
-- (nothing says it is), and counts in plan_breaches as 0.
CREATE FUNCTION health_score._stage_goals_plans(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	goal_values text;
	commitment_values text;
BEGIN
	-- the value of each tracked measure, a branch per measure (a column of hs_m named after it)
	SELECT pg_catalog.string_agg(pg_catalog.format(
	           'SELECT g.id, g.account_id, m.%1$I::float8 AS value FROM health_score.goal g JOIN pg_temp.hs_m m ON m.account_id = g.account_id '
	           'WHERE g.measure = %2$L AND g.set_at <= ($1).as_of AND (g.closed_at IS NULL OR g.closed_at > ($1).as_of)',
	           x.measure, x.measure), ' UNION ALL ' ORDER BY x.measure)
	  INTO goal_values
	  FROM (SELECT DISTINCT g.measure FROM health_score.goal g WHERE g.closed_at IS NULL OR g.closed_at > run.as_of) x;
	SELECT pg_catalog.string_agg(pg_catalog.format(
	           'SELECT c.id, p.account_id, m.%1$I::float8 AS value FROM health_score.plan_commitment c '
	           'JOIN health_score.plan p ON p.id = c.plan_id JOIN pg_temp.hs_m m ON m.account_id = p.account_id '
	           'WHERE c.measure = %2$L AND p.started_at <= ($1).as_of AND (p.completed_at IS NULL OR p.completed_at > ($1).as_of)',
	           x.measure, x.measure), ' UNION ALL ' ORDER BY x.measure)
	  INTO commitment_values
	  FROM (SELECT DISTINCT c.measure FROM health_score.plan_commitment c
	          JOIN health_score.plan p ON p.id = c.plan_id
	         WHERE p.completed_at IS NULL OR p.completed_at > run.as_of) x;

	PERFORM health_score._work_create('hs_goal', CASE WHEN goal_values IS NULL
		THEN '(goal_id bigint, account_id text, value float8, attainment float8, expected float8, shortfall float8)'
		ELSE pg_catalog.format($q$AS
	SELECT v.id AS goal_id, v.account_id, v.value, a.attainment, e.expected,
	       CASE WHEN a.attainment IS NOT NULL THEN greatest(0, e.expected - least(a.attainment, 1)) END AS shortfall
	  FROM (%s) v
	  JOIN health_score.goal g ON g.id = v.id,
	       LATERAL (SELECT NULLIF(v.value, 'NaN') AS value) n,
	       LATERAL (SELECT (n.value - g.baseline) / (g.target - g.baseline) AS attainment) a,
	       LATERAL (SELECT least(1, greatest(0, ((($1).as_of)::date - g.starts_on)::float8 / (g.due_on - g.starts_on))) AS expected) e$q$,
		goal_values) END, run);
	PERFORM health_score._work_create('hs_breach', CASE WHEN commitment_values IS NULL
		THEN '(commitment_id bigint, account_id text, value float8, breached boolean)'
		ELSE pg_catalog.format($q$AS
	SELECT v.id AS commitment_id, v.account_id, NULLIF(v.value, 'NaN') AS value,
	       coalesce(NULLIF(v.value, 'NaN') > c.at_most OR NULLIF(v.value, 'NaN') < c.at_least, false) AS breached
	  FROM (%s) v
	  JOIN health_score.plan_commitment c ON c.id = v.id$q$, commitment_values) END, run);

	UPDATE pg_temp.hs_m m
	   SET goal_attainment = x.goal_attainment, goal_shortfall = x.goal_shortfall, plan_breaches = x.plan_breaches
	  FROM (SELECT coalesce(g.account_id, b.account_id) AS account_id, g.goal_attainment, g.goal_shortfall, b.plan_breaches
	          FROM (SELECT g.account_id, pg_catalog.avg(greatest(0, least(g.attainment, 1))) AS goal_attainment,
	                       pg_catalog.max(g.shortfall) AS goal_shortfall
	                  FROM pg_temp.hs_goal g GROUP BY g.account_id) g
	          FULL JOIN (SELECT b.account_id, pg_catalog.count(*) FILTER (WHERE b.breached) AS plan_breaches
	                       FROM pg_temp.hs_breach b GROUP BY b.account_id) b ON b.account_id = g.account_id) x
	 WHERE m.account_id = x.account_id;
END
$$;
