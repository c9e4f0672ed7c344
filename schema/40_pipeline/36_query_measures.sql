-- Stage query measures: each measure added with add_measure, its query run once with $1 = as_of, with the
-- rights of the role refreshing (a superuser runs only queries a superuser added: 05_trust.sql).
--   reads   hs_measure (kind query) and whatever their queries read
--   writes  hs_qm (account_id, and a float8 column per query measure, named after it; NaN read as NULL;
--           accounts a query does not return are absent)
-- Errors: the measure's name and the query's own error; 21000 when a query returns an account twice.
CREATE FUNCTION health_score._stage_query_measures(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m record;
	cols text := '';
	dup text;
	msg text; det text; hnt text; st text;
BEGIN
	CREATE TEMP TABLE hs_qm_rows (account_id text NOT NULL, measure text NOT NULL, value float8) ON COMMIT DROP;
	FOR m IN SELECT x.name, x.query, x.owner FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		PERFORM health_score._check_measure_trust(m.name, m.owner, m.query);
		BEGIN
			EXECUTE pg_catalog.format('INSERT INTO pg_temp.hs_qm_rows SELECT q.account_id::text, %L, NULLIF(q.value::float8, ''NaN'') '
			                          'FROM (%s) q WHERE q.account_id IS NOT NULL', m.name, m.query)
			  USING run.as_of;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
			                        st = RETURNED_SQLSTATE;
			PERFORM health_score._reraise(pg_catalog.format('refresh failed computing measure %s: %s', m.name, msg), st, det, hnt);
		END;
		cols := cols || pg_catalog.format(', max(r.value) FILTER (WHERE r.measure = %L) AS %I', m.name, m.name);
	END LOOP;
	SELECT r.measure || ' returned account ' || r.account_id INTO dup
	  FROM pg_temp.hs_qm_rows r GROUP BY r.measure, r.account_id HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed computing measure %', pg_catalog.replace(dup, ' returned', ': it returned') || ' more than once'
			USING ERRCODE = 'cardinality_violation',
			      HINT = 'A measure''s query returns one row per account: GROUP BY account_id.';
	END IF;
	EXECUTE 'CREATE TEMP TABLE hs_qm ON COMMIT DROP AS SELECT r.account_id' || cols
	        || ' FROM pg_temp.hs_qm_rows r GROUP BY r.account_id';
	DROP TABLE pg_temp.hs_qm_rows;
END
$$;
