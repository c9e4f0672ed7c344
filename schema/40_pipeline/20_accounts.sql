-- Stage accounts: the accounts scored at as_of (started by then, not cancelled), each with its profile: the
-- most specific match of segment and lifecycle stage, then the highest priority, then by name.
--   reads   the accounts source, hs_profile, hs_component, health_score.account_health (to count the
--           accounts it would stop scoring)
--   writes  hs_acc: the accounts source's columns under canonical names (account_id and parent_account_id as
--           text; the pass-through dimensions as jsonb, dimensions), the profile
--           and its settings, weight_array (the profile's weights in hs_component's order)
--   returns how many accounts are scored, and how many scored now would no longer be
-- Refuses (55000) to stop scoring more than health_score.max_unscored_share of the accounts unless forced:
-- an accounts source emptied or cut short (mid-ETL, a broken view) would otherwise clear the flags of every
-- account it lost, and raise them again as new, their history gone, once it is back.
CREATE FUNCTION health_score._stage_accounts(run health_score._run, force boolean, max_unscored_share float8,
											 OUT n_accounts integer, OUT n_unscored integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	weights text;
	dup text;
	n_scored_before integer;
	acc regclass := (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'accounts');
BEGIN
	SELECT 'ARRAY[' || pg_catalog.string_agg(pg_catalog.format('coalesce((p.weights ->> %L)::float8, 0)', c.name), ', ' ORDER BY c.ord)
	       || ']::float8[]'
	  INTO weights FROM pg_temp.hs_component c;
	PERFORM health_score._run_stage('accounts', 'accounts', pg_catalog.replace($q$
		-- (read twice, so that the planner sees how few pairs there are and hashes them)
		WITH s AS NOT MATERIALIZED (
		     SELECT s.* FROM (%s) s
		      WHERE s.account_id IS NOT NULL
		        AND (s.started_at IS NULL OR s.started_at <= $1)
		        AND (s.cancelled_at IS NULL OR s.cancelled_at > $1)),
		-- the profile of each (segment, lifecycle stage) pair present, matched once
		pairs AS (
		     SELECT x.segment, x.lifecycle_stage, p.*
		       FROM (SELECT DISTINCT s.segment, s.lifecycle_stage FROM s) x
		       LEFT JOIN LATERAL (
		            SELECT p.name AS profile, p.version AS profile_version, p.half_life, p.expected_events_per_user_day, p.target_utilisation,
		                   p.key_features, p.poor_below, p.good_from, @weights@ AS weight_array
		              FROM pg_temp.hs_profile p
		             WHERE (p.segment IS NULL OR p.segment = x.segment)
		               AND (p.lifecycle_stage IS NULL OR p.lifecycle_stage = x.lifecycle_stage)
		             ORDER BY (p.segment IS NOT NULL)::integer + (p.lifecycle_stage IS NOT NULL)::integer DESC,
		                      p.priority DESC, p.name
		             LIMIT 1) p ON true)
		SELECT s.account_id::text AS account_id, s.name, s.segment, s.lifecycle_stage, s.plan, s.owner, s.seats,
		       s.arr, s.renewal_date, s.started_at, s.cancelled_at, s.parent_account_id::text AS parent_account_id, s.dimensions,
		       p.profile, p.profile_version, p.half_life, p.expected_events_per_user_day, p.target_utilisation, p.key_features,
		       p.weight_array, p.poor_below, p.good_from
		  FROM s
		  -- NULL-safe and hashable: 'v' || value, or 'n' for NULL
		  JOIN pairs p ON coalesce('v' || p.segment, 'n') = coalesce('v' || s.segment, 'n')
		              AND coalesce('v' || p.lifecycle_stage, 'n') = coalesce('v' || s.lifecycle_stage, 'n')
		$q$, '@weights@', weights), run.keytype, NULL, NULL, ARRAY[run.as_of], creates => 'hs_acc');
	-- (statistics before the checks below read it, and the stages after join it)
	PERFORM health_score._work_analyze('{hs_acc}', 'account_id');
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a GROUP BY a.account_id HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed reading accounts source %: account_id % appears more than once', acc, dup
			USING ERRCODE = 'cardinality_violation';
	END IF;
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a WHERE a.profile IS NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed: no profile matches account %', dup
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Keep a catch-all profile (segment and lifecycle_stage NULL), such as the seeded ''default''.';
	END IF;
	SELECT count(*) INTO n_accounts FROM pg_temp.hs_acc;

	SELECT count(*), count(*) FILTER (WHERE a.account_id IS NULL)
	  INTO n_scored_before, n_unscored
	  FROM health_score.account_health h LEFT JOIN pg_temp.hs_acc a ON a.account_id = h.account_id;
	IF NOT force AND n_unscored > 0 AND n_unscored > max_unscored_share * n_scored_before THEN
		RAISE EXCEPTION 'refresh would stop scoring % of the % accounts scored now (% %%), more than health_score.max_unscored_share (%)',
			n_unscored, n_scored_before, pg_catalog.round(100.0 * n_unscored / n_scored_before, 1), max_unscored_share
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('The accounts source %s gives %s accounts started and not cancelled by as_of %s. Nothing was changed.',
			                                 acc, n_accounts, run.as_of),
			      HINT = 'If the accounts are really gone (cancelled, removed from the source), refresh with force => true: '
			             'SELECT * FROM health_score.refresh(force => true); if the source is being reloaded, refresh once it is complete.';
	END IF;
END
$$;
