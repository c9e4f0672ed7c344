-- Stage activity: one pass over every activity row up to as_of, with two aggregates: _activity_measures
-- for the counts, the decayed sums of every profile's half-life and the key features used (bits of a
-- bigint, by position in run.key_features), user_windows for the users.
--   reads   the activity sources (rows with occurred_at <= as_of)
--   writes  hs_act (account_id, events, events_30, events_90 (NULL unless run.count_events_90d), last_activity_at, decayed (one per run.halflives),
--           users_30, users_prev_30, new_users, kf_used_30, kf_before_adopt, kf_since_adopt); empty without
--           an activity source
CREATE FUNCTION health_score._stage_activity(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT run.has_activity THEN
		CREATE TEMP TABLE hs_act (account_id text, events bigint, events_30 bigint, events_90 bigint, last_activity_at timestamptz,
			decayed float8[], users_30 bigint, users_prev_30 bigint, new_users bigint,
			kf_used_30 bigint, kf_before_adopt bigint, kf_since_adopt bigint) ON COMMIT DROP;
		RETURN;
	END IF;
	-- $1..$5 = as_of, -30d, -60d, new users from, adopted from; $6 the key features, $7 the half-lives
	PERFORM health_score._run_stage('activity', 'activity', pg_catalog.format(
		'CREATE TEMP TABLE hs_act ON COMMIT DROP AS SELECT a.account_id::text AS account_id, (a.m).events, '
		'(a.m).recent_events AS events_30, a.events_90, (a.m).last_at AS last_activity_at, (a.m).decayed, '
		'a.users[1] AS users_30, a.users[2] AS users_prev_30, a.users[3] AS new_users, '
		'(a.m).recent_features AS kf_used_30, (a.m).features_before_adopt AS kf_before_adopt, '
		'(a.m).features_since_adopt AS kf_since_adopt '
		'FROM (SELECT s.account_id, health_score._activity_measures(s.occurred_at, s.feature, s.weight, $1, $2, $5, '
		'$7, $6) AS m, %s AS events_90, '
		'%s AS users FROM (%%s) s GROUP BY s.account_id) a',
		CASE WHEN run.count_events_90d THEN 'count(*) FILTER (WHERE s.occurred_at > $1 - interval ''90 days'')'
		     ELSE 'NULL::bigint' END,
		CASE WHEN run.has_users THEN 'health_score.user_windows(s.user_id, s.occurred_at, $1, $2, $3, $4)'
		     ELSE 'NULL::bigint[]' END),
		run.keytype, run.usertype, '%1$s <= $1',
		ARRAY[run.as_of, run.w30, run.w60, run.new_users_from, run.adopted_from],
		CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END, run.halflives);
END
$$;
