-- Stage config: the configuration, read once. Each later statement of the refresh sees the same profiles,
-- rules, measures and components, and an edit made while the refresh runs takes effect at the next one.
--   reads   health_score.profile, rule, measure, component (after discovering metric and touchpoint
--           measures the sources now hold)
--   writes  hs_profile, hs_rule (enabled rules), hs_measure, hs_component (the latter in composite order,
--           column ord)
CREATE FUNCTION health_score._stage_config()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._discover_measures();
	CREATE TEMP TABLE hs_profile ON COMMIT DROP AS SELECT * FROM health_score.profile;
	CREATE TEMP TABLE hs_rule ON COMMIT DROP AS SELECT * FROM health_score.rule r WHERE r.enabled;
	CREATE TEMP TABLE hs_measure ON COMMIT DROP AS SELECT * FROM health_score.measure;
	CREATE TEMP TABLE hs_component ON COMMIT DROP AS
	SELECT c.*, x.ord
	  FROM health_score.component c
	  JOIN pg_catalog.unnest(health_score._component_names()) WITH ORDINALITY AS x (name, ord) ON x.name = c.name;
END
$$;
