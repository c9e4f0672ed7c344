-- Stage observations: the qualitative observations open at as_of.
--   reads   health_score.observation
--   writes  hs_obs (account_id, open_observations, observations: a JSON list of them, oldest first)
CREATE FUNCTION health_score._stage_observations(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_obs', $q$AS
	SELECT o.account_id, count(*) AS open_observations,
	       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('indicator', o.indicator, 'note', o.note,
	           'observed_by', o.observed_by, 'observed_at', o.observed_at) ORDER BY o.observed_at, o.id) AS observations
	  FROM health_score.observation o
	 WHERE o.observed_at <= ($1).as_of AND (o.resolved_at IS NULL OR o.resolved_at > ($1).as_of)
	 GROUP BY o.account_id$q$, run);
END
$$;
