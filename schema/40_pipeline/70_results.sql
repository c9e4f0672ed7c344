-- Stage results: the current state in account_health and the day's row in health_history.
--   reads   hs_acc, hs_score; run; n_unscored from the accounts stage
--   writes  health_score.account_health: each scored account's row updated or added, the accounts no
--           longer scored (cancelled, not started yet, gone from the source) removed;
--           health_score.health_history: one row per account and as_of day (in the session's time zone),
--           replaced by a rerun that day
CREATE FUNCTION health_score._stage_results(run health_score._run, n_unscored integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
BEGIN
	INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
		renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship,
		inputs, as_of, refreshed_at, components)
	SELECT a.account_id, a.name, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr, a.renewal_date,
	       a.profile, s.score, s.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship,
	       s.inputs, t, pg_catalog.now(), s.components
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	ON CONFLICT (account_id) DO UPDATE
	   SET name = excluded.name, segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,
	       plan = excluded.plan, owner = excluded.owner, seats = excluded.seats, arr = excluded.arr,
	       renewal_date = excluded.renewal_date, profile = excluded.profile, score = excluded.score,
	       band = excluded.band, engagement = excluded.engagement, utilisation = excluded.utilisation,
	       adoption = excluded.adoption, support = excluded.support, sentiment = excluded.sentiment,
	       relationship = excluded.relationship, inputs = excluded.inputs, as_of = excluded.as_of,
	       refreshed_at = excluded.refreshed_at, components = excluded.components;
	-- (NOT IN: one hashed pass over the scored keys, which are NOT NULL, rather than sorting both sides; the
	-- accounts stage counted them, so without any the pass is skipped)
	IF n_unscored > 0 THEN
		DELETE FROM health_score.account_health h
		 WHERE h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
	END IF;

	-- A row the rerun would leave as it is (arr compared as text: 1.0 and 1.00 differ) is not rewritten: new
	-- row versions and their index entries are most of the cost of a same-day rerun.
	UPDATE health_score.health_history h
	   SET as_of = t, profile = a.profile, segment = a.segment, plan = a.plan, lifecycle_stage = a.lifecycle_stage,
	       owner = a.owner, arr = a.arr, score = s.score, band = s.band, engagement = s.engagement,
	       utilisation = s.utilisation, adoption = s.adoption, support = s.support, sentiment = s.sentiment,
	       relationship = s.relationship, components = s.components
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	 WHERE h.day = t::date AND h.account_id = a.account_id
	   AND (h.as_of, h.profile, h.segment, h.plan, h.lifecycle_stage, h.owner, h.arr::text, h.score, h.band, h.engagement,
	        h.utilisation, h.adoption, h.support, h.sentiment, h.relationship, h.components)
	       IS DISTINCT FROM (t, a.profile, a.segment, a.plan, a.lifecycle_stage, a.owner, a.arr::text, s.score, s.band,
	        s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship, s.components);
	INSERT INTO health_score.health_history (account_id, day, as_of, profile, segment, plan, lifecycle_stage,
		owner, arr, score, band, engagement, utilisation, adoption, support, sentiment, relationship, components)
	SELECT a.account_id, t::date, t, a.profile, a.segment, a.plan, a.lifecycle_stage, a.owner, a.arr, s.score,
	       s.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship, s.components
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	 -- NOT IN reads the day's keys once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	 -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	 WHERE a.account_id NOT IN (SELECT h.account_id FROM health_score.health_history h WHERE h.day = t::date);
	DELETE FROM health_score.health_history h
	 WHERE h.day = t::date AND h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
END
$$;
