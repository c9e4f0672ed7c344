-- What backtest() and calibrate() share: their arguments' checks, the as_of dates they evaluate, what happened
-- after each (the outcome), and the figures that say how well a score ranked it.
--
-- The evaluation rows live in the work table hs_eval, one per model, as_of and account:
--   model            'score' (backtest), or calibrate's 'current', 'proposed', a component's or a baseline's name
--   as_of, scores_from ('history' or 'recomputed'), account_id
--   churned          the outcome within the horizon; NULL when it is not known yet (the horizon reaches past
--                    the data)
--   score, band      the model's score (higher is healthier) and band
--   components       each component's value (name -> 0-100)
--   rules            the rules flagging the account at as_of
--   baselines        days_since_activity, events_90d, decayed_events at as_of

-- An empty hs_eval.
CREATE FUNCTION health_score._create_eval_table()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._drop_work_tables(ARRAY['hs_eval']);
	CREATE TEMP TABLE hs_eval (model text, as_of timestamptz, scores_from text, account_id text, churned boolean,
		score float8, band text, components jsonb, rules text[], days_since_activity float8, events_90d float8,
		decayed_events float8) ON COMMIT DROP;
END
$$;

-- The checks both functions make, with class 22 errors naming the argument.
CREATE FUNCTION health_score._check_evaluation_args(from_date timestamptz, to_date timestamptz, every interval,
													horizon interval, outcome text, from_name text, to_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF from_date IS NULL OR to_date IS NULL THEN
		RAISE EXCEPTION '% and % must not be null', from_name, to_name
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = pg_catalog.format('Pass the first and last as_of to evaluate, such as %s => now() - interval ''1 year'', %s => now() - interval ''90 days''.',
			                               from_name, to_name);
	END IF;
	IF NOT pg_catalog.isfinite(from_date) OR NOT pg_catalog.isfinite(to_date) THEN
		RAISE EXCEPTION '% and % must be finite times', from_name, to_name USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF from_date > to_date THEN
		RAISE EXCEPTION '% (%) must not be after % (%)', from_name, from_date, to_name, to_date
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('Swap them: %s is the first as_of evaluated.', from_name);
	END IF;
	IF every IS NULL OR every <= interval '0' THEN
		RAISE EXCEPTION 'every must be a positive interval, not %', coalesce(every::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example every => ''7 days''.';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM pg_catalog.generate_series(from_date, to_date, every)) > 1000 THEN
		RAISE EXCEPTION 'from % to % every % makes more than 1000 as_of dates', from_date, to_date, every
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Each date is scored point in time: use a longer interval (every) or a shorter range.';
	END IF;
	IF horizon IS NULL OR horizon <= interval '0' THEN
		RAISE EXCEPTION 'horizon must be a positive interval, not %', coalesce(horizon::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The time after each as_of in which churn counts, such as horizon => ''90 days''.';
	END IF;
	IF outcome IS NULL OR outcome NOT IN ('cancelled', 'inactive') THEN
		RAISE EXCEPTION 'outcome must be cancelled or inactive, not %', coalesce(pg_catalog.quote_literal(outcome), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'cancelled: the accounts source''s cancelled_at falls within the horizon; inactive: no activity event within it (for businesses without subscriptions).';
	END IF;
END
$$;

-- The last time an outcome is known for: cancellations are known up to now (the accounts source is the
-- present state), inactivity up to the newest activity event.
CREATE FUNCTION health_score._outcome_known_until(outcome text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	known timestamptz;
BEGIN
	IF outcome = 'cancelled' THEN
		IF NOT EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'accounts' AND s.columns ? 'cancelled_at') THEN
			RAISE EXCEPTION 'outcome cancelled needs the accounts source''s cancelled_at column'
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Map it with add_source(''accounts'', ..., ''{"cancelled_at": "..."}''), or use outcome => ''inactive''.';
		END IF;
		RETURN pg_catalog.now();
	END IF;
	IF NOT EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'activity') THEN
		RAISE EXCEPTION 'outcome inactive needs an activity source' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Register one with add_source(''activity'', ...), or use outcome => ''cancelled''.';
	END IF;
	SELECT pg_catalog.max(f.newest) INTO known FROM health_score._source_freshness(pg_catalog.now()) f WHERE f.kind = 'activity';
	RETURN known;
END
$$;

-- The accounts active (with an activity event) in (from_time, to_time], into hs_active_after.
CREATE FUNCTION health_score._active_between(run health_score._run, from_time timestamptz, to_time timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._run_stage('outcome', 'activity',
		'SELECT DISTINCT s.account_id::text AS account_id FROM (%s) s',
		run.keytype, run.usertype, '%1$s > $1 AND %1$s <= $2', ARRAY[from_time, to_time], creates => 'hs_active_after');
END
$$;

-- After _compute_scores at as_of: the scored accounts' outcomes, into hs_outcome (account_id, churned; NULL
-- when as_of + horizon is after known_until).
CREATE FUNCTION health_score._stage_outcomes(run health_score._run, horizon interval, outcome text,
											 known_until timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
BEGIN
	IF known_until IS NULL OR t + horizon > known_until THEN
		PERFORM health_score._work_create('hs_outcome', 'AS SELECT a.account_id, NULL::boolean AS churned FROM pg_temp.hs_acc a');
	ELSIF outcome = 'cancelled' THEN
		EXECUTE pg_catalog.format('CREATE UNLOGGED TABLE %s AS SELECT a.account_id, coalesce(a.cancelled_at <= $1, false) AS churned '
		                          'FROM pg_temp.hs_acc a', health_score._work_table('hs_outcome'))
		  USING t + horizon;
		PERFORM health_score._work_publish('hs_outcome');
	ELSE
		PERFORM health_score._active_between(run, t, t + horizon);
		PERFORM health_score._work_create('hs_outcome', $q$AS
		SELECT a.account_id, a.account_id NOT IN (SELECT x.account_id FROM pg_temp.hs_active_after x) AS churned
		  FROM pg_temp.hs_acc a$q$);
	END IF;
END
$$;

-- The values of the components of one result row: name -> 0-100, absent when NULL.
CREATE FUNCTION health_score._component_values(engagement float8, utilisation float8, adoption float8,
											   support float8, sentiment float8, relationship float8,
											   components jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('engagement', $1, 'utilisation', $2,
	           'adoption', $3, 'support', $4, 'sentiment', $5, 'relationship', $6)) || $7
$$;

-- A figure for jsonb output: 4 decimals, trailing zeros dropped.
CREATE FUNCTION health_score._r4(x float8)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.trim_scale(pg_catalog.round($1::numeric, 4)) $$;

-- How well one model of hs_eval ranked the outcome, at one as_of (or over all of them when as_of is NULL):
-- the accounts with a known outcome and those left out, churned and the churn rate, the AUC of the score
-- (NULL, with the reason in auc_note, unless both churned and retained accounts are present), the AUC of
-- each component and baseline, the churn per band, and each rule's lift (churn rate of the flagged over
-- that of the others).
CREATE FUNCTION health_score._evaluation_summary(model text, as_of timestamptz,
	OUT accounts integer, OUT left_out integer, OUT churned integer, OUT churn_rate float8, OUT auc float8,
	OUT auc_note text, OUT component_auc jsonb, OUT baseline_auc jsonb, OUT churn_by_band jsonb, OUT rule_lift jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._drop_work_tables(ARRAY['hs_eval_rows']);
	CREATE TEMP TABLE hs_eval_rows ON COMMIT DROP AS
	SELECT e.* FROM pg_temp.hs_eval e
	 WHERE e.model = _evaluation_summary.model AND (_evaluation_summary.as_of IS NULL OR e.as_of = _evaluation_summary.as_of);
	SELECT pg_catalog.count(*) FILTER (WHERE e.churned IS NOT NULL), pg_catalog.count(*) FILTER (WHERE e.churned IS NULL),
	       pg_catalog.count(*) FILTER (WHERE e.churned),
	       health_score.auc(e.score, NOT e.churned) FILTER (WHERE e.churned IS NOT NULL)
	  INTO accounts, left_out, churned, auc
	  FROM pg_temp.hs_eval_rows e;
	churn_rate := churned::float8 / NULLIF(accounts, 0);
	auc_note := CASE WHEN accounts = 0 AND left_out > 0 THEN 'no outcome yet: as_of + horizon is after the data'
	                 WHEN accounts = 0 THEN 'no accounts'
	                 WHEN churned = 0 THEN 'no churned accounts: nothing to rank'
	                 WHEN churned = accounts THEN 'no retained accounts: nothing to rank'
	                 WHEN auc IS NULL THEN 'no scores' END;
	SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, health_score._r4(c.auc)), '{}') INTO component_auc
	  FROM (SELECT x.key, health_score.auc(x.value::float8, NOT e.churned) AS auc
	          FROM pg_temp.hs_eval_rows e, pg_catalog.jsonb_each_text(e.components) x
	         WHERE e.churned IS NOT NULL GROUP BY x.key) c;
	SELECT pg_catalog.jsonb_build_object(
	           'days_since_activity', health_score._r4(health_score.auc(-e.days_since_activity, NOT e.churned)),
	           'events_90d', health_score._r4(health_score.auc(e.events_90d, NOT e.churned)),
	           'decayed_events', health_score._r4(health_score.auc(e.decayed_events, NOT e.churned)))
	  INTO baseline_auc
	  FROM pg_temp.hs_eval_rows e WHERE e.churned IS NOT NULL;
	SELECT coalesce(pg_catalog.jsonb_object_agg(b.band, pg_catalog.jsonb_build_object('accounts', b.n, 'churned', b.k,
	                   'churn_rate', health_score._r4(b.k::float8 / b.n))), '{}')
	  INTO churn_by_band
	  FROM (SELECT coalesce(e.band, 'unscored') AS band, pg_catalog.count(*) AS n, pg_catalog.count(*) FILTER (WHERE e.churned) AS k
	          FROM pg_temp.hs_eval_rows e WHERE e.churned IS NOT NULL GROUP BY e.band) b;
	SELECT coalesce(pg_catalog.jsonb_object_agg(l.rule, pg_catalog.jsonb_build_object(
	           'flagged', l.flagged, 'churn_flagged', health_score._r4(l.churn_flagged),
	           'churn_unflagged', health_score._r4(l.churn_unflagged),
	           'lift', health_score._r4(l.churn_flagged / NULLIF(l.churn_unflagged, 0)))), '{}')
	  INTO rule_lift
	  FROM (SELECT r.rule, pg_catalog.count(*) FILTER (WHERE r.rule = ANY (e.rules)) AS flagged,
	               (pg_catalog.count(*) FILTER (WHERE r.rule = ANY (e.rules) AND e.churned))::float8
	                   / NULLIF(pg_catalog.count(*) FILTER (WHERE r.rule = ANY (e.rules)), 0) AS churn_flagged,
	               (pg_catalog.count(*) FILTER (WHERE NOT r.rule = ANY (e.rules) AND e.churned))::float8
	                   / NULLIF(pg_catalog.count(*) FILTER (WHERE NOT r.rule = ANY (e.rules)), 0) AS churn_unflagged
	          FROM (SELECT DISTINCT u.rule FROM pg_temp.hs_eval_rows e, pg_catalog.unnest(e.rules) u (rule)
	                UNION SELECT x.code FROM pg_temp.hs_rule x) r
	          CROSS JOIN pg_temp.hs_eval_rows e
	         WHERE e.churned IS NOT NULL
	         GROUP BY r.rule) l;
END
$$;
