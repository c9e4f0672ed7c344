-- Stage results: the current state in account_health, with the measures behind each component (inputs),
-- and the day's row in health_history.
--   reads   hs_acc, hs_score, hs_m (inputs), hs_component, health_score.override; run; n_unscored from the
--           accounts stage
--   score and band are the override's while one is in force at as_of (set before it, expiring after it),
--   else the computed ones; computed_score is always the model's
--   writes  health_score.account_health: the row of each scored account whose figures changed (at the
--           precision shown: scores and components to 0.1; band, profile and its version, the accounts
--           source's columns and dimensions, stale sources exactly) or whose last write was on an earlier day (in the
--           session's time zone), updated or added, with its inputs; the other rows are left as they are,
--           with the as_of and refreshed_at of their last write. The accounts no longer scored
--           (cancelled, not started yet, gone from the source) removed;
--           health_score.health_history: one row per account and as_of day (in the session's time zone),
--           rewritten by a later refresh that day when it rewrites the account's account_health row
CREATE FUNCTION health_score._stage_results(run health_score._run, n_unscored integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	added_inputs text;
BEGIN
	PERFORM health_score._work_create('hs_final', $q$AS
	SELECT s.account_id, coalesce(o.score, s.score) AS score,
	       CASE WHEN o.score IS NOT NULL THEN health_score.band(o.score, a.poor_below, a.good_from) ELSE s.band END AS band,
	       s.score AS computed_score
	  FROM pg_temp.hs_score s
	  JOIN pg_temp.hs_acc a ON a.account_id = s.account_id
	  LEFT JOIN health_score.override o ON o.account_id = s.account_id AND o.set_at <= ($1).as_of AND o.expires_at > ($1).as_of$q$,
	  run, 'account_id');
	-- the measures behind each component, beside the score (null for a built-in component without data); for
	-- each linear component with data (goals, the user's), its measure's value, worst and best
	SELECT coalesce(' || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format(
	           '%1$L, CASE WHEN s.components ? %1$L THEN pg_catalog.jsonb_build_object(%2$L, '
	           'pg_catalog.trim_scale(pg_catalog.round(m.%2$I::numeric, 3)), ''worst'', %3$L::float8, ''best'', %4$L::float8) END',
	           c.name, c.measure, c.worst, c.best), ', ' ORDER BY c.ord) || '))', '')
	  INTO added_inputs
	  FROM pg_temp.hs_component c WHERE c.kind = 'linear';
	-- A 30-minute refresh moves few figures by as much as they are shown with: writing only those rows, and
	-- building their inputs only (here, where parallel workers may share the work), keeps its cost to what
	-- changed.
	PERFORM health_score._work_create('hs_changed', pg_catalog.format($q$AS
	SELECT a.account_id,
	       health_score._inputs(
	           s.engagement IS NOT NULL, m.decayed_events, m._expected_per_day, m.events_30d, m._last_activity_at,
	           s.utilisation IS NOT NULL, m.active_users_30d, m.seats, m.utilisation,
	           s.adoption IS NOT NULL, m._key_features, m._features_used,
	           s.support IS NOT NULL, m.open_cases, m.aged_open_cases, m.cases_30d, m.cases_prev_90d,
	           s.sentiment IS NOT NULL, m.responses_90d, m.nps_90d, m.average_rating_90d, m.promoters_90d, m.detractors_90d,
	           s.relationship IS NOT NULL, coalesce(m._observations, '[]'), coalesce(m.unanswered_outreach_30d, 0),
	           m._last_response_at)%s AS inputs
	  FROM pg_temp.hs_acc a
	  JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_m m ON m.account_id = a.account_id
	  LEFT JOIN health_score.account_health h ON h.account_id = a.account_id
	 WHERE h.account_id IS NULL OR (h.as_of)::date <> (($1).as_of)::date
	    OR (h.name, h.segment, h.lifecycle_stage, h.plan, h.owner, h.seats, h.arr::text, h.renewal_date, h.profile,
	        h.parent_account_id, h.dimensions,
	        h.profile_version, h.band, h.stale_sources, health_score._shown(h.score), health_score._shown(h.computed_score),
	        health_score._shown(h.engagement), health_score._shown(h.utilisation), health_score._shown(h.adoption),
	        health_score._shown(h.support), health_score._shown(h.sentiment), health_score._shown(h.relationship))
	       IS DISTINCT FROM
	       (a.name, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr::text, a.renewal_date, a.profile,
	        a.parent_account_id, a.dimensions,
	        a.profile_version, f.band, coalesce(($1).stale_sources, '{}'), health_score._shown(f.score), health_score._shown(f.computed_score),
	        health_score._shown(s.engagement), health_score._shown(s.utilisation), health_score._shown(s.adoption),
	        health_score._shown(s.support), health_score._shown(s.sentiment), health_score._shown(s.relationship))
	    -- (rounded only when they differ: most accounts have no added component)
	    OR (h.components <> s.components AND health_score._shown(h.components) <> health_score._shown(s.components))$q$,
	  added_inputs), run);
	INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
		renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship,
		inputs, as_of, refreshed_at, components, computed_score, profile_version, stale_sources, parent_account_id,
		dimensions)
	SELECT a.account_id, a.name, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr, a.renewal_date,
	       a.profile, f.score, f.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship,
	       c.inputs, t, pg_catalog.now(), s.components, f.computed_score, a.profile_version, run.stale_sources,
	       a.parent_account_id, a.dimensions
	  FROM pg_temp.hs_acc a
	  JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_changed c ON c.account_id = a.account_id
	ON CONFLICT (account_id) DO UPDATE
	   SET name = excluded.name, segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,
	       plan = excluded.plan, owner = excluded.owner, seats = excluded.seats, arr = excluded.arr,
	       renewal_date = excluded.renewal_date, profile = excluded.profile, score = excluded.score,
	       band = excluded.band, engagement = excluded.engagement, utilisation = excluded.utilisation,
	       adoption = excluded.adoption, support = excluded.support, sentiment = excluded.sentiment,
	       relationship = excluded.relationship, inputs = excluded.inputs, as_of = excluded.as_of,
	       refreshed_at = excluded.refreshed_at, components = excluded.components,
	       computed_score = excluded.computed_score, profile_version = excluded.profile_version,
	       stale_sources = excluded.stale_sources, parent_account_id = excluded.parent_account_id,
	       dimensions = excluded.dimensions;
	-- (NOT IN: one hashed pass over the scored keys, which are NOT NULL, rather than sorting both sides; the
	-- accounts stage counted them, so without any the pass is skipped)
	IF n_unscored > 0 THEN
		DELETE FROM health_score.account_health h
		 WHERE h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
	END IF;

	-- The day's row of each account whose account_health row was rewritten (hs_changed: what is shown
	-- changed), so that, like account_health, it holds the figures of that last write, and a refresh every
	-- 30 minutes rewrites few rows.
	UPDATE health_score.health_history h
	   SET as_of = t, profile = a.profile, segment = a.segment, plan = a.plan, lifecycle_stage = a.lifecycle_stage,
	       owner = a.owner, arr = a.arr, score = f.score, band = f.band, engagement = s.engagement,
	       utilisation = s.utilisation, adoption = s.adoption, support = s.support, sentiment = s.sentiment,
	       relationship = s.relationship, components = s.components, computed_score = f.computed_score,
	       profile_version = a.profile_version, dimensions = a.dimensions
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_changed c ON c.account_id = a.account_id
	 WHERE h.day = t::date AND h.account_id = a.account_id;
	INSERT INTO health_score.health_history (account_id, day, as_of, profile, segment, plan, lifecycle_stage,
		owner, arr, score, band, engagement, utilisation, adoption, support, sentiment, relationship, components,
		computed_score, profile_version, dimensions)
	SELECT a.account_id, t::date, t, a.profile, a.segment, a.plan, a.lifecycle_stage, a.owner, a.arr, f.score,
	       f.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship, s.components,
	       f.computed_score, a.profile_version, a.dimensions
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	 -- NOT IN reads the day's keys once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	 -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	 WHERE a.account_id NOT IN (SELECT h.account_id FROM health_score.health_history h WHERE h.day = t::date);
	DELETE FROM health_score.health_history h
	 WHERE h.day = t::date AND h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
END
$$;
