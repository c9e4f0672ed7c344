-- The executive views. They cast account keys back to the accounts source's type, so they are (re)built
-- by rebuild_views() whenever the accounts source is registered or dropped.

CREATE FUNCTION health_score.rebuild_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- placeholder until the views land
END
$$;
