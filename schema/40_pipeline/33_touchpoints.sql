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
	-- $1..$3 = as_of, -30d, unanswered from
	PERFORM health_score._run_stage('touchpoints', 'touchpoints', pg_catalog.format($q$
		SELECT r.*,
		       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
		         WHERE o > $3 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered,
		       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
		         WHERE o > $2 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered_30
		  FROM (SELECT s.account_id::text AS account_id,
		               max(s.occurred_at) FILTER (WHERE s.direction = 'inbound'
		                                             OR (s.direction = 'outbound' AND s.answered))
		                   AS last_response_at,
		               -- outreach not answered, within the longer of the two windows: kept per account (a few
		               -- rows) so that one scan serves both, and compared with the last response above
		               pg_catalog.array_agg(s.occurred_at) FILTER (WHERE s.direction = 'outbound'
		                   AND s.answered IS FALSE AND s.occurred_at > least($3, $2)) AS outreach
		               %1$s
		          -- (OFFSET 0 keeps the subquery, so that the direction is lowered once per row, not per use,
		          -- and only when it is not in lower case already; the directions are ASCII words, which the
		          -- "C" collation lowers byte by byte)
		          FROM (SELECT s.account_id, s.occurred_at,
		                       CASE WHEN s.direction IN ('inbound', 'outbound') THEN s.direction
		                            ELSE pg_catalog.lower(s.direction COLLATE "C") END AS direction,
		                       s.answered, %2$s AS kind
		                  FROM (%%s) s OFFSET 0) s
		         GROUP BY s.account_id) r
		$q$, pg_catalog.replace(kinds, '%', '%%'),
		     CASE WHEN kinds = '' THEN 'NULL::text' ELSE 'health_score._touchpoint_kind(s.kind)' END),
		run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of, run.w30, run.unanswered_from], creates => 'hs_tp');
END
$$;
