-- Stage query measures: each measure added with add_measure, its query run once with $1 = as_of, with the
-- rights of the role refreshing (a superuser runs only queries a superuser wrote: 05_trust.sql).
--   reads   hs_measure (kind query, in name order) and whatever their queries read
--   writes  hs_q_1, hs_q_2, ...: one table per query measure, in name order (account_id, value: float8, NaN
--           read as NULL); accounts a query does not return are absent
-- Errors: the measure's name and the query's own error; 21000 when a query returns an account twice.
CREATE FUNCTION health_score._stage_query_measures(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m record;
	work_table text;
	dup text;
	msg text; det text; hnt text; st text;
BEGIN
	FOR m IN SELECT x.name, x.query, x.owner, pg_catalog.row_number() OVER (ORDER BY x.name) AS i
	           FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		PERFORM health_score._check_measure_trust(m.name, m.owner, m.query);
		work_table := 'hs_q_' || m.i;
		BEGIN
			EXECUTE pg_catalog.format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT q.account_id::text AS account_id, '
			                          'NULLIF(q.value::float8, ''NaN'') AS value FROM (%s) q WHERE q.account_id IS NOT NULL',
			                          work_table, m.query)
			  USING run.as_of;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
			                        st = RETURNED_SQLSTATE;
			PERFORM health_score._reraise(pg_catalog.format('refresh failed computing measure %s: %s', m.name, msg), st, det, hnt);
		END;
		EXECUTE pg_catalog.format('SELECT q.account_id FROM pg_temp.%I q GROUP BY q.account_id HAVING count(*) > 1 LIMIT 1', work_table)
		   INTO dup;
		IF dup IS NOT NULL THEN
			RAISE EXCEPTION 'refresh failed computing measure %: it returned account % more than once', m.name, dup
				USING ERRCODE = 'cardinality_violation',
				      HINT = 'A measure''s query returns one row per account: GROUP BY account_id.';
		END IF;
		EXECUTE pg_catalog.format('ANALYZE pg_temp.%I (account_id)', work_table);
	END LOOP;
END
$$;
