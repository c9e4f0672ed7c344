-- Stage metrics: the latest value of each metric at or before as_of (rows without a value skipped).
--   reads   the metrics sources, hs_measure (the metric measures)
--   writes  hs_met (account_id, and a float8 column per metric measure, named after it; NaN read as NULL)
CREATE FUNCTION health_score._stage_metrics(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cols text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format(', max(x.value) FILTER (WHERE x.metric = %L) AS %I', m.name, m.name), '' ORDER BY m.name)
	  INTO cols FROM pg_temp.hs_measure m WHERE m.kind = 'metric';
	IF NOT run.has_metrics OR cols IS NULL THEN
		PERFORM health_score._work_create('hs_met', '(account_id text)');
		RETURN;
	END IF;
	PERFORM health_score._run_stage('metrics', 'metrics', pg_catalog.format($q$
		SELECT x.account_id %s
		  FROM (SELECT DISTINCT ON (s.account_id, s.metric) s.account_id::text AS account_id, s.metric,
		               NULLIF(s.value, 'NaN') AS value
		          FROM (%%s) s
		         WHERE s.value IS NOT NULL AND s.account_id IS NOT NULL
		         ORDER BY s.account_id, s.metric, s.measured_at DESC) x
		 GROUP BY x.account_id
		$q$, pg_catalog.replace(cols, '%', '%%')),
		run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of], creates => 'hs_met');
END
$$;
