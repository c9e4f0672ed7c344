-- backtest(): how well the scores of past days ranked what happened after them. Each as_of from from_date
-- to to_date, every apart, is judged against the horizon after it. Its scores, bands and flags come from
-- health_history and the flag table when a refresh stored that day (scores_from 'history'), else they are
-- recomputed point in time (scores_from 'recomputed'); with version, every day is recomputed with that
-- profile_version's settings. The baselines (days since the last activity, events in 90 days, the
-- decayed activity sum) are measured at each as_of in the same run. Nothing stored is written.

-- One as_of's rows of hs_eval from health_history and the flags open then, for the accounts the history
-- row of that day holds (the measures just recomputed give the baselines and hs_outcome the outcome).
CREATE FUNCTION health_score._eval_from_history(model text, day date)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO pg_temp.hs_eval (model, as_of, scores_from, account_id, churned, score, band, components, rules,
		days_since_activity, events_90d, decayed_events)
	SELECT model, h.as_of, 'history', h.account_id, o.churned, coalesce(h.computed_score, h.score),
	       CASE WHEN h.computed_score IS DISTINCT FROM h.score AND v.settings IS NOT NULL
	            THEN health_score.band(h.computed_score, (v.settings ->> 'poor_below')::float8,
	                                   (v.settings ->> 'good_from')::float8)::text
	            ELSE h.band::text END,
	       health_score._component_values(h.engagement, h.utilisation, h.adoption, h.support, h.sentiment,
	           h.relationship, h.components),
	       ARRAY(SELECT f.rule FROM health_score.flag f
	              WHERE f.account_id = h.account_id AND f.raised_at <= h.as_of
	                AND (f.cleared_at IS NULL OR f.cleared_at > h.as_of) ORDER BY f.rule),
	       m.days_since_activity, m.events_90d, m.decayed_events
	  FROM health_score.health_history h
	  LEFT JOIN health_score.profile_version v ON v.version = h.profile_version
	  LEFT JOIN pg_temp.hs_outcome o ON o.account_id = h.account_id
	  LEFT JOIN pg_temp.hs_m m ON m.account_id = h.account_id
	 WHERE h.day = _eval_from_history.day;
END
$$;

-- One as_of's rows of hs_eval from the work tables of _compute_scores.
CREATE FUNCTION health_score._eval_from_run(model text, as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO pg_temp.hs_eval (model, as_of, scores_from, account_id, churned, score, band, components, rules,
		days_since_activity, events_90d, decayed_events)
	SELECT model, as_of, 'recomputed', s.account_id, o.churned, s.score, s.band::text,
	       health_score._component_values(s.engagement, s.utilisation, s.adoption, s.support, s.sentiment,
	           s.relationship, s.components),
	       ARRAY(SELECT x.rule FROM pg_temp.hs_hits x WHERE x.account_id = s.account_id ORDER BY x.rule),
	       m.days_since_activity, m.events_90d, m.decayed_events
	  FROM pg_temp.hs_score s
	  JOIN pg_temp.hs_m m ON m.account_id = s.account_id
	  LEFT JOIN pg_temp.hs_outcome o ON o.account_id = s.account_id;
END
$$;

CREATE FUNCTION health_score.backtest(from_date timestamptz, to_date timestamptz, every interval DEFAULT '7 days',
									  horizon interval DEFAULT '90 days', outcome text DEFAULT 'cancelled',
									  version bigint DEFAULT NULL)
RETURNS TABLE (as_of timestamptz, scores_from text, accounts integer, left_out integer, churned integer,
			   churn_rate float8, auc float8, auc_note text, component_auc jsonb, baseline_auc jsonb,
			   churn_by_band jsonb, rule_lift jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '256MB'
-- (as refresh(): its per-account statements may run in parallel)
SET parallel_setup_cost = 100
SET parallel_tuple_cost = 0.01
AS $$
#variable_conflict use_column
DECLARE
	known_until timestamptz;
	profiles jsonb;
	t timestamptz;
	history_as_of timestamptz;
	dates timestamptz[] := '{}';
	froms text[] := '{}';
	i integer;
	sc record;
	sm record;
BEGIN
	PERFORM health_score._check_evaluation_args(from_date, to_date, every, horizon, outcome, 'from_date', 'to_date');
	IF version IS NOT NULL THEN
		SELECT pg_catalog.jsonb_build_object(v.profile, v.settings || pg_catalog.jsonb_build_object('version', v.version))
		  INTO profiles FROM health_score.profile_version v WHERE v.version = backtest.version;
		IF profiles IS NULL THEN
			RAISE EXCEPTION 'profile version % does not exist', version
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'SELECT version, profile, created_at, note FROM health_score.profile_version; lists them.';
		END IF;
	END IF;
	known_until := health_score._outcome_known_until(outcome);

	PERFORM health_score._create_eval_table();
	FOR t IN SELECT d FROM pg_catalog.generate_series(from_date, to_date, every) d LOOP
		history_as_of := NULL;
		IF version IS NULL THEN
			SELECT pg_catalog.max(h.as_of) INTO history_as_of FROM health_score.health_history h WHERE h.day = t::date;
		END IF;
		sc := health_score._compute_scores(coalesce(history_as_of, t), true, 1, profiles, every_measure => true);
		PERFORM health_score._stage_outcomes(sc.run, horizon, outcome, known_until);
		IF history_as_of IS NOT NULL THEN
			PERFORM health_score._eval_from_history('score', t::date);
		ELSE
			PERFORM health_score._eval_from_run('score', t);
		END IF;
		dates := dates || coalesce(history_as_of, t);
		froms := froms || CASE WHEN history_as_of IS NOT NULL THEN 'history' ELSE 'recomputed' END;
	END LOOP;

	FOR i IN 1 .. pg_catalog.cardinality(dates) + 1 LOOP
		as_of := dates[i];
		scores_from := CASE WHEN i <= pg_catalog.cardinality(dates) THEN froms[i]
		                    WHEN 'history' = ALL (froms) THEN 'history'
		                    WHEN 'recomputed' = ALL (froms) THEN 'recomputed' ELSE 'history and recomputed' END;
		sm := health_score._evaluation_summary('score', as_of);
		accounts := sm.accounts; left_out := sm.left_out; churned := sm.churned; churn_rate := sm.churn_rate;
		auc := sm.auc; auc_note := sm.auc_note; component_auc := sm.component_auc; baseline_auc := sm.baseline_auc;
		churn_by_band := sm.churn_by_band; rule_lift := sm.rule_lift;
		RETURN NEXT;
	END LOOP;
	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());
END
$$;
COMMENT ON FUNCTION health_score.backtest(timestamptz, timestamptz, interval, interval, text, bigint) IS
	'how well past scores ranked churn within horizon: one row per as_of and one over all (as_of NULL); AUC of the score, its components and simple baselines, churn per band, rule lift';
REVOKE EXECUTE ON FUNCTION health_score.backtest(timestamptz, timestamptz, interval, interval, text, bigint) FROM PUBLIC;
