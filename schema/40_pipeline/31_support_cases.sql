-- Stage support cases: the counts the support measures need, per account, over every case opened up to
-- as_of.
--   reads   the support_cases sources
--   writes  hs_sup (account_id, cases_30, cases_prev_90, open_cases, aged_open_cases, open_high,
--           oldest_open_at, last_case_at); empty without a support_cases source
CREATE FUNCTION health_score._stage_support_cases(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT run.has_support THEN
		PERFORM health_score._work_create('hs_sup', '(account_id text, cases_30 bigint, cases_prev_90 bigint, open_cases bigint,
			aged_open_cases bigint, open_high bigint, oldest_open_at timestamptz, last_case_at timestamptz)');
		RETURN;
	END IF;
	-- $1..$4 = as_of, -30d, -120d, aged before
	PERFORM health_score._run_stage('support_cases', 'support_cases', $q$
		SELECT s.account_id::text AS account_id,
		       count(*) FILTER (WHERE s.opened_at > $2) AS cases_30,
		       count(*) FILTER (WHERE s.opened_at > $3 AND s.opened_at <= $2) AS cases_prev_90,
		       count(*) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS open_cases,
		       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1) AND s.opened_at < $4) AS aged_open_cases,
		       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1)
		                          AND pg_catalog.lower(s.priority) IN ('high', 'urgent', 'critical', 'p0', 'p1')) AS open_high,
		       min(s.opened_at) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS oldest_open_at,
		       max(s.opened_at) AS last_case_at
		  FROM (%s) s
		 GROUP BY s.account_id
		$q$, run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of, run.w30, run.w120, run.aged_before], creates => 'hs_sup');
END
$$;
