-- Stage touchpoints: when the customer last responded, the outreach left unanswered since, and the last
-- touchpoint of each kind that has a measure.
--   reads   the touchpoints sources (every row up to as_of), hs_measure (the touchpoint kinds)
--   writes  hs_tp (account_id, last_response_at, unanswered, unanswered_30, and when the sources map kind,
--           for each touchpoint measure a column named after it: the time of the last touchpoint of its
--           kind); empty without a touchpoints source
CREATE FUNCTION health_score._stage_touchpoints(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kinds text;
BEGIN
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           ', max(s.occurred_at) FILTER (WHERE s.kind = %L) AS %I', m.params ->> 'kind', m.name), '' ORDER BY m.name), '')
	  INTO kinds FROM pg_temp.hs_measure m WHERE m.kind = 'touchpoint' AND run.has_touch_kind;
	IF NOT run.has_touch THEN
		PERFORM health_score._work_create('hs_tp', '(account_id text, last_response_at timestamptz, unanswered bigint, unanswered_30 bigint)');
		RETURN;
	END IF;
	-- $1..$3 = as_of, -30d, unanswered from. Every aggregate combines, so that parallel workers can share
	-- the scan. The direction in lower case, lowered only when it is not already (directions are ASCII
	-- words, which the "C" collation lowers byte by byte); the kind as the measures name it, once per row (a
	-- function scan: an expression would be evaluated again for each measure).
	PERFORM health_score._run_stage('touchpoints', 'touchpoints', pg_catalog.format($q$
		SELECT s.account_id::text AS account_id,
		       max(s.occurred_at) FILTER (WHERE s.response) AS last_response_at,
		       (health_score._unanswered(s.occurred_at, s.response, s.outreach, $3, $2))[1] AS unanswered,
		       (health_score._unanswered(s.occurred_at, s.response, s.outreach, $3, $2))[2] AS unanswered_30
		       %1$s
		  FROM (SELECT s.account_id, s.occurred_at, %2$s AS kind,
		               s.direction = 'inbound' OR (s.direction = 'outbound' AND s.answered) AS response,
		               s.direction = 'outbound' AND s.answered IS FALSE AS outreach
		          FROM (SELECT s.account_id, s.occurred_at, s.answered, s.kind,
		                       CASE WHEN s.direction IN ('inbound', 'outbound') THEN s.direction
		                            ELSE pg_catalog.lower(s.direction COLLATE "C") END AS direction
		                  FROM (%%s) s) s %3$s) s
		 GROUP BY s.account_id
		$q$, pg_catalog.replace(kinds, '%', '%%'),
		     CASE WHEN kinds = '' THEN 'NULL::text' ELSE 'k.kind' END,
		     CASE WHEN kinds = '' THEN '' ELSE ', LATERAL ROWS FROM (health_score._touchpoint_kind(s.kind)) k (kind)' END),
		run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of, run.w30, run.unanswered_from], creates => 'hs_tp');
END
$$;
