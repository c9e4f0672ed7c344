-- Stage analyze: statistics for the result tables that have none or whose row count has moved by more than
-- a tenth since they were taken, so that a user's query on them plans well right after a first refresh or a
-- backfill (autovacuum analyzes only after the transaction, and only when it gets to it).
--   reads   pg_class, pg_stat_user_tables, pg_stat_xact_user_tables of account_health, health_history and flag
--   writes  their statistics (ANALYZE), when the refreshing role owns them (ANALYZE needs that) or is a
--           superuser
--   returns the tables analyzed
CREATE FUNCTION health_score._stage_analyze()
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	done text[] := '{}';
BEGIN
	FOR r IN
		SELECT c.oid::regclass AS rel
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
		  -- (this transaction's own changes)
		  JOIN pg_catalog.pg_stat_xact_user_tables x ON x.relid = c.oid
		 WHERE c.oid IN ('health_score.account_health'::regclass, 'health_score.health_history'::regclass,
		                 'health_score.flag'::regclass)
		   AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
		   AND (c.reltuples < 0 OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL)
		        OR pg_catalog.abs(s.n_live_tup + x.n_tup_ins - x.n_tup_del - c.reltuples) > 0.1 * c.reltuples + 50)
		 ORDER BY 1
	LOOP
		EXECUTE pg_catalog.format('ANALYZE %s', r.rel);
		done := done || r.rel::text;
	END LOOP;
	RETURN done;
END
$$;
