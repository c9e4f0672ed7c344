-- Stage surveys: the ratings of the last 90 days, and of the detractor window.
--   reads   the surveys sources (rows responded within the longer of the two windows)
--   writes  hs_srv (account_id, responses_90, nps_90, avg_rating_90, promoters_90, detractors_90,
--           min_rating_90, detractor_responses); empty without a surveys source
CREATE FUNCTION health_score._stage_surveys(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT run.has_surveys THEN
		PERFORM health_score._work_create('hs_srv', '(account_id text, responses_90 bigint, nps_90 float8, avg_rating_90 float8,
			promoters_90 bigint, detractors_90 bigint, min_rating_90 float8, detractor_responses bigint)');
		RETURN;
	END IF;
	-- $1..$4 = as_of, -90d, detractor window start, scan start; the detractor max rating is a literal
	PERFORM health_score._run_stage('surveys', 'surveys', pg_catalog.format($q$
		SELECT s.account_id::text AS account_id,
		       count(s.rating) FILTER (WHERE s.responded_at > $2) AS responses_90,
		       health_score.nps(pg_catalog.round(s.rating)::integer) FILTER (WHERE s.responded_at > $2) AS nps_90,
		       avg(s.rating) FILTER (WHERE s.responded_at > $2) AS avg_rating_90,
		       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating >= 9) AS promoters_90,
		       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating <= 6) AS detractors_90,
		       min(s.rating) FILTER (WHERE s.responded_at > $2) AS min_rating_90,
		       count(*) FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$L::float8) AS detractor_responses
		  FROM (%%s) s
		 WHERE s.rating IS NOT NULL
		 GROUP BY s.account_id
		$q$, run.detractor_max_rating),
		run.keytype, NULL, '%1$s <= $1 AND %1$s > $4', ARRAY[run.as_of, run.w90, run.detractor_from, least(run.w90, run.detractor_from)],
		creates => 'hs_srv');
END
$$;
