-- Stage config: the configuration, read once. Each later statement of the refresh sees the same profiles,
-- rules and components (and measures: the sources stage reads them), and an edit made while the refresh runs
-- takes effect at the next one.
--   reads   health_score.profile, rule, component
--   writes  hs_profile, hs_rule (the enabled rules), hs_component (in composite order, column ord)
CREATE FUNCTION health_score._stage_config()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_profile', 'AS SELECT * FROM health_score.profile');
	PERFORM health_score._work_create('hs_rule', 'AS SELECT * FROM health_score.rule r WHERE r.enabled');
	PERFORM health_score._work_create('hs_component', $q$AS
	SELECT c.*, x.ord
	  FROM health_score.component c
	  JOIN pg_catalog.unnest(health_score._component_names()) WITH ORDINALITY AS x (name, ord) ON x.name = c.name$q$);
END
$$;
