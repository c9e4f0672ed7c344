-- Stage freshness: how recent each source is at as_of, so that a stalled feed is not read as churn.
--   reads   every registered source's newest time at or before as_of (its first required time column:
--           occurred_at, opened_at, responded_at, measured_at; an index on it makes this a single probe)
--   returns run with stale_sources (the relations whose newest row is older than their max_lag) and
--           stale_kinds (their kinds)
-- The rules stage still evaluates every rule; the flags stage holds the flags of the rules that name a
-- measure of a stale kind (or the composite's score, band or score_earlier, which every kind feeds).

-- Each source's freshness at as_of: newest is its latest time at or before as_of (NULL when it holds none),
-- lag is as_of - newest, stale whether lag exceeds max_lag. A source that holds nothing yet is not stale
-- (a feed not started has no rows to be late with), nor is one without max_lag, such as the accounts source.
CREATE FUNCTION health_score._source_freshness(as_of timestamptz)
RETURNS TABLE (kind text, relation regclass, time_column text, newest timestamptz, max_lag interval, lag interval,
			   stale boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	msg text; det text; hnt text; st text;
BEGIN
	FOR src IN
		SELECT s.kind, s.relation, s.max_lag,
		       (SELECT s.columns ->> c.canonical FROM health_score._source_columns(s.kind) c
		         WHERE c.class = 'time' AND c.required ORDER BY c.ord LIMIT 1) AS time_column
		  FROM health_score.sources s
		 ORDER BY s.kind, s.relation::oid
	LOOP
		kind := src.kind;
		relation := src.relation;
		time_column := src.time_column;
		max_lag := src.max_lag;
		newest := NULL;
		IF src.time_column IS NOT NULL THEN
			BEGIN
				EXECUTE pg_catalog.format('SELECT pg_catalog.max(%1$I)::timestamptz FROM %2$s WHERE %1$I <= $1',
				                          src.time_column, src.relation)
				   INTO newest USING as_of;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
				                        st = RETURNED_SQLSTATE;
				PERFORM health_score._reraise(pg_catalog.format('failed reading %s source %s: %s',
				                                                src.kind, src.relation, msg), st, det, hnt);
			END;
		END IF;
		lag := as_of - newest;
		stale := coalesce(lag > src.max_lag, false);
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE FUNCTION health_score._stage_freshness(run health_score._run)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
BEGIN
	SELECT coalesce(pg_catalog.array_agg(f.relation::text ORDER BY f.kind, f.relation::text), '{}'),
	       coalesce(pg_catalog.array_agg(DISTINCT f.kind), '{}')
	  INTO run.stale_sources, run.stale_kinds
	  FROM health_score._source_freshness(run.as_of) f
	 WHERE f.stale;
	RETURN run;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
	PERFORM health_score._reraise('refresh ' || msg, st, det, hnt);
END
$$;
