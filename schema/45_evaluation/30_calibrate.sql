-- calibrate(): settings for one profile fitted on the company's own history, judged on later dates.
--
-- On the training dates only (every as_of from train_from to train_to, each judged on the horizon after it;
-- train_to + horizon must not pass validate_from, so no training outcome reaches into the validation dates):
--   half-life             the one of 7, 14, 30, 60, 90 and 180 days (and the profile's own) whose engagement
--                         ranks churn best (AUC)
--   expected activity     expected_events_per_user_day such that the busiest 5% of the accounts reach 100: the
--                         cap no longer ties the many accounts above the old expectation
--   measures              the catalog's numeric measures that rank churn by themselves (but the accounts
--                         source's: seats, ARR, renewal and age describe the contract, not how it is used;
--                         with outcome cancelled, days to renewal mostly says when a cancellation can happen),
--                         as linear components
--                         from their 5th to their 95th percentile (the healthy direction first); each is added
--                         if it raises the training AUC of the score by 0.002 or more (three at most)
--   weights               non-negative, by coordinate ascent on the training AUC of the composite exactly as the
--                         refresh computes it (missing components re-normalised), from the current weights;
--                         a weight whose removal costs less than 0.0001 of AUC is removed; scaled to sum to 100
--   band cut-offs         poor below the first score from which the churn rate of the next 10 points falls
--                         under twice the overall rate; good from the first score from which the churn rate
--                         of all higher scores is at most half of it
-- Then the current and the proposed settings are scored on the validation dates (as_of from validate_from
-- to validate_to), side by side with each component and baseline. apply => true writes the proposed settings
-- as a new profile version (and adds the chosen measures' components); otherwise nothing is written.
--
-- calibrate() runs these steps, each a function below:
--   _calibrate_rows         every date scored point in time, the profile's accounts with a known outcome -> hs_cal
--   _calibrate_engagement   the half-life and the expected activity
--   _calibrate_candidates   the measures that may become components, with their worst and best
--   _calibrate_features     each row's component values under the proposal's engagement  -> hs_fit
--   _calibrate_weights      the weights, with the candidates added while they help (_fit_weights, _fit_auc)
--   _calibrate_bands        the band cut-offs
--   _calibrate_apply        (apply => true) the components and the new profile version

-- The composite of hs_fit's feature arrays under weights, and its AUC over one phase. (Dynamic: hs_fit is
-- created anew by each calibrate(), and a cached plan would still name the table of the call before.)
CREATE FUNCTION health_score._fit_auc(weights float8[], phase text)
RETURNS float8
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a float8;
BEGIN
	EXECUTE 'SELECT health_score.auc(health_score.composite(f.x, $1), NOT f.churned) FROM pg_temp.hs_fit f WHERE f.phase = $2'
	   INTO a USING weights, phase;
	RETURN a;
END
$$;

-- Coordinate ascent of the training AUC over the weights of the active features (a weight outside active
-- stays as it is), each step multiplying or dividing one weight by a factor, or zeroing it; then the
-- weights whose removal costs less than 0.0001 of AUC are removed, smallest first.
CREATE FUNCTION health_score._fit_weights(weights float8[], active integer[], OUT fitted float8[], OUT auc float8)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f float8;
	i integer;
	trial float8[];
	a float8;
	improved boolean;
	sweeps integer;
	candidate float8;
	mean_weight float8;
BEGIN
	fitted := weights;
	auc := health_score._fit_auc(fitted, 'train');
	FOREACH f IN ARRAY ARRAY[4, 2, 1.41, 1.19]::float8[] LOOP
		sweeps := 0;
		LOOP
			improved := false;
			sweeps := sweeps + 1;
			FOREACH i IN ARRAY active LOOP
				SELECT pg_catalog.avg(w) INTO mean_weight FROM pg_catalog.unnest(fitted) w WHERE w > 0;
				FOREACH candidate IN ARRAY CASE WHEN fitted[i] > 0 THEN ARRAY[fitted[i] * f, fitted[i] / f, 0]
				                                ELSE ARRAY[coalesce(mean_weight, 1) / f] END LOOP
					trial := fitted;
					trial[i] := candidate;
					a := health_score._fit_auc(trial, 'train');
					IF a > auc + 1e-5 THEN
						fitted := trial;
						auc := a;
						improved := true;
					END IF;
				END LOOP;
			END LOOP;
			EXIT WHEN NOT improved OR sweeps >= 4;
		END LOOP;
	END LOOP;
	FOR i IN SELECT x.i FROM pg_catalog.unnest(active) x (i) WHERE fitted[x.i] > 0 ORDER BY fitted[x.i], x.i LOOP
		trial := fitted;
		trial[i] := 0;
		IF (SELECT pg_catalog.bool_or(w > 0) FROM pg_catalog.unnest(trial) w) THEN
			a := health_score._fit_auc(trial, 'train');
			IF a >= auc - 1e-4 THEN
				fitted := trial;
				auc := a;
			END IF;
		END IF;
	END LOOP;
END
$$;

-- Step rows: every date from train_from to train_to and from validate_from to validate_to, every apart,
-- scored point in time with the half-lives to try; for each of the profile's accounts with a known outcome, a
-- row of hs_cal (phase, as_of, account_id, churned, the current score, band, components and flags, the decayed
-- sums of each half-life, the expected activity without the profile's factor, every component but engagement
-- (fixed), every candidate measure's value (cand), the baselines). Returns the components in composite order
-- and the candidate measures: the numeric ones that are no component's yet, but the accounts source's and the
-- composite's, and decayed_events (engagement is fitted itself).
CREATE FUNCTION health_score._calibrate_rows(profile text, train_from timestamptz, train_to timestamptz,
											 validate_from timestamptz, validate_to timestamptz, every interval,
											 horizon interval, outcome text, known_until timestamptz,
											 half_lives interval[], OUT components text[], OUT candidates text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ph text;
	t timestamptz;
	run health_score._run;
	positions integer[];        -- the half-lives' positions in hs_act.decayed
	fixed_sql text;
	cand_sql text;
BEGIN
	PERFORM health_score._drop_work_tables(ARRAY['hs_cal', 'hs_fit']);
	CREATE TEMP TABLE hs_cal (phase text, as_of timestamptz, account_id text, churned boolean, score float8,
		band text, components jsonb, rules text[], decayed float8[], base_per_day float8, fixed float8[],
		cand float8[], days_since_activity float8, events_90d float8, decayed_events float8) ON COMMIT DROP;
	FOR ph, t IN
		SELECT 'train', d FROM pg_catalog.generate_series(train_from, train_to, every) d
		UNION ALL SELECT 'validate', d FROM pg_catalog.generate_series(validate_from, validate_to, every) d
		ORDER BY 2
	LOOP
		run := (health_score._compute_scores(t, true, 1, NULL, half_lives, every_measure => true)).run;
		IF components IS NULL THEN
			SELECT pg_catalog.array_agg(c.name ORDER BY c.ord) INTO components FROM pg_temp.hs_component c;
			SELECT pg_catalog.string_agg(CASE c.kind WHEN 'builtin' THEN pg_catalog.format('s.%I', c.name)
			                                  ELSE pg_catalog.format('(s.components ->> %L)::float8', c.name) END, ', ' ORDER BY c.ord)
			  INTO fixed_sql FROM pg_temp.hs_component c WHERE c.name <> 'engagement';
			SELECT pg_catalog.array_agg(m.name ORDER BY m.name),
			       pg_catalog.string_agg(pg_catalog.format('m.%I::float8', m.name), ', ' ORDER BY m.name)
			  INTO candidates, cand_sql
			  FROM pg_temp.hs_measure m
			 WHERE m.type <> 'text' AND coalesce(m.source, '') NOT IN ('accounts', 'composite', 'overrides')
			   AND m.name <> 'decayed_events'
			   AND NOT EXISTS (SELECT FROM pg_temp.hs_component c WHERE c.measure = m.name);
			SELECT pg_catalog.array_agg(pg_catalog.array_position(run.halflife_seconds, pg_catalog.date_part('epoch', h)) ORDER BY o)
			  INTO positions FROM pg_catalog.unnest(half_lives) WITH ORDINALITY AS u (h, o);
		END IF;
		PERFORM health_score._stage_outcomes(run, horizon, outcome, known_until);
		EXECUTE pg_catalog.format($q$
			INSERT INTO pg_temp.hs_cal
			SELECT $1, $2, s.account_id, o.churned, s.score, s.band::text,
			       health_score._component_values(s.engagement, s.utilisation, s.adoption, s.support, s.sentiment,
			           s.relationship, s.components),
			       ARRAY(SELECT x.rule FROM pg_temp.hs_hits x WHERE x.account_id = s.account_id ORDER BY x.rule),
			       CASE WHEN $4 THEN ARRAY(SELECT coalesce(act.decayed[p], 0) FROM pg_catalog.unnest($5::integer[]) p) END,
			       m._expected_per_day / a.expected_events_per_user_day,
			       ARRAY[%s]::float8[], ARRAY[%s]::float8[],
			       m.days_since_activity, m.events_90d, m.decayed_events
			  FROM pg_temp.hs_score s
			  JOIN pg_temp.hs_m m ON m.account_id = s.account_id
			  JOIN pg_temp.hs_acc a ON a.account_id = s.account_id
			  JOIN pg_temp.hs_outcome o ON o.account_id = s.account_id
			  LEFT JOIN pg_temp.hs_act act ON act.account_id = s.account_id
			 WHERE a.profile = $3 AND o.churned IS NOT NULL$q$,
			coalesce(fixed_sql, ''), coalesce(cand_sql, ''))
			USING ph, t, profile, run.has_activity, positions;
	END LOOP;
END
$$;

-- Step engagement: for each half-life of half_lives (hs_cal.decayed in the same order), the expected
-- activity at which the busiest 5% of the training rows reach 100 (expected_events_per_user_day, scaled from
-- the profile's current one), and the training AUC of the engagement under both; returns the best half-life's
-- position (choice) and expectation (NULL without activity).
CREATE FUNCTION health_score._calibrate_engagement(half_lives interval[], current_expected float8,
												   OUT choice integer, OUT expected float8)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p95 float8;
	e float8;
	a float8;
	best_auc float8;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_temp.hs_cal c WHERE c.decayed IS NOT NULL) THEN
		RETURN;
	END IF;
	FOR i IN 1 .. pg_catalog.cardinality(half_lives) LOOP
		-- the uncapped engagement: against an expectation a million times higher, times a million
		SELECT pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY
		           health_score.engagement_score(c.decayed[i], c.base_per_day * 1e6, half_lives[i]) * 1e6)
		  INTO p95 FROM pg_temp.hs_cal c WHERE c.phase = 'train' AND c.decayed IS NOT NULL AND c.base_per_day > 0;
		CONTINUE WHEN NOT p95 > 0;
		e := greatest(pg_catalog.round((current_expected * p95 / 100)::numeric, 4), 0.0001);
		SELECT health_score.auc(health_score.engagement_score(c.decayed[i], e * c.base_per_day, half_lives[i]), NOT c.churned)
		  INTO a FROM pg_temp.hs_cal c WHERE c.phase = 'train' AND c.decayed IS NOT NULL AND c.base_per_day > 0;
		IF best_auc IS NULL OR a > best_auc THEN
			best_auc := a; choice := i; expected := e;
		END IF;
	END LOOP;
END
$$;

-- Step candidates: the candidate measures (hs_cal.cand in the order of names) that rank churn by themselves
-- on the training rows (an AUC at least 0.02 away from 0.5), as linear components from their 5th to their 95th
-- percentile of finite values (to 3 decimals), oriented healthy side up: [{measure, j (position), worst, best, strength}], the
-- 8 strongest, strongest first.
CREATE FUNCTION health_score._calibrate_candidates(names text[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x record;
	found jsonb := '[]';
BEGIN
	FOR j IN 1 .. coalesce(pg_catalog.cardinality(names), 0) LOOP
		SELECT health_score.auc(c.cand[j], NOT c.churned) AS auc,
		       pg_catalog.percentile_cont(0.05) WITHIN GROUP (ORDER BY c.cand[j])
		           FILTER (WHERE c.cand[j] NOT IN ('Infinity', '-Infinity')) AS p05,
		       pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY c.cand[j])
		           FILTER (WHERE c.cand[j] NOT IN ('Infinity', '-Infinity')) AS p95
		  INTO x FROM pg_temp.hs_cal c WHERE c.phase = 'train' AND c.cand[j] <> 'NaN';
		CONTINUE WHEN x.auc IS NULL OR x.p05 IS NULL OR x.p05 = x.p95 OR pg_catalog.abs(x.auc - 0.5) < 0.02;
		found := found || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('measure', names[j], 'j', j,
			'worst', pg_catalog.round((CASE WHEN x.auc >= 0.5 THEN x.p05 ELSE x.p95 END)::numeric, 3)::float8,
			'best', pg_catalog.round((CASE WHEN x.auc >= 0.5 THEN x.p95 ELSE x.p05 END)::numeric, 3)::float8,
			'strength', pg_catalog.abs(x.auc - 0.5)));
	END LOOP;
	RETURN (SELECT coalesce(pg_catalog.jsonb_agg(c.value ORDER BY (c.value ->> 'strength')::float8 DESC, c.value ->> 'measure'), '[]')
	          FROM (SELECT v.value FROM pg_catalog.jsonb_array_elements(found) v
	                 ORDER BY (v.value ->> 'strength')::float8 DESC, v.value ->> 'measure' LIMIT 8) c);
END
$$;

-- Step features: hs_fit, one row per row of hs_cal with x, its feature array: the engagement under the chosen
-- half-life (hs_cal.decayed[choice]) and expectation, the other components, then each candidate's component.
CREATE FUNCTION health_score._calibrate_features(candidates jsonb, choice integer, expected float8, half_life interval)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cand_sql text;
BEGIN
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           'greatest(0::float8, least(100::float8, 100 * (c.cand[%s] - %L::float8) / (%L::float8 - %L::float8)))',
	           v.value ->> 'j', v.value ->> 'worst', v.value ->> 'best', v.value ->> 'worst'), ', ' ORDER BY v.o), '')
	  INTO cand_sql FROM pg_catalog.jsonb_array_elements(candidates) WITH ORDINALITY AS v (value, o);
	EXECUTE pg_catalog.format($q$
		CREATE TEMP TABLE hs_fit ON COMMIT DROP AS
		SELECT c.phase, c.as_of, c.account_id, c.churned, c.rules, c.days_since_activity, c.events_90d, c.decayed_events,
		       ARRAY[CASE WHEN c.decayed IS NOT NULL AND c.base_per_day > 0
		                  THEN health_score.engagement_score(c.decayed[$1], $2 * c.base_per_day, $3) END]
		       || c.fixed || ARRAY[%s]::float8[] AS x
		  FROM pg_temp.hs_cal c$q$, cand_sql)
		USING choice, expected, half_life;
END
$$;

-- Step weights: from the current weights of the n_fixed components (the candidates' at 0), the fitted ones;
-- then, three times at most, the candidate (at a quarter, half, once or twice the mean weight) that raises
-- the training AUC most, by 0.002 or more, is added and the weights fitted again. Scaled to sum to 100, one
-- decimal.
CREATE FUNCTION health_score._calibrate_weights(current float8[], n_candidates integer)
RETURNS float8[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n_fixed constant integer := pg_catalog.cardinality(current);
	weights float8[] := current || pg_catalog.array_fill(0::float8, ARRAY[n_candidates]);
	active integer[] := ARRAY(SELECT pg_catalog.generate_series(1, n_fixed));
	fit record;
	a float8;
	best_auc float8;
	best_j integer;
	best_w float8;
	w float8;
	mean_weight float8;
	total float8;
BEGIN
	fit := health_score._fit_weights(weights, active);
	weights := fit.fitted;
	FOR i IN 1 .. 3 LOOP
		best_j := NULL;
		best_auc := fit.auc + 0.002;
		SELECT pg_catalog.avg(v) INTO mean_weight FROM pg_catalog.unnest(weights) v WHERE v > 0;
		FOR j IN n_fixed + 1 .. n_fixed + n_candidates LOOP
			CONTINUE WHEN j = ANY (active);
			FOREACH w IN ARRAY ARRAY[0.25, 0.5, 1, 2]::float8[] LOOP
				weights[j] := w * mean_weight;
				a := health_score._fit_auc(weights, 'train');
				IF a >= best_auc THEN
					best_auc := a; best_j := j; best_w := weights[j];
				END IF;
			END LOOP;
			weights[j] := 0;
		END LOOP;
		EXIT WHEN best_j IS NULL;
		weights[best_j] := best_w;
		active := active || best_j;
		fit := health_score._fit_weights(weights, active);
		weights := fit.fitted;
	END LOOP;
	SELECT pg_catalog.sum(v) INTO total FROM pg_catalog.unnest(weights) v;
	RETURN ARRAY(SELECT pg_catalog.round((v * 100 / total)::numeric, 1)::float8
	               FROM pg_catalog.unnest(weights) WITH ORDINALITY AS u (v, o) ORDER BY o);
END
$$;

-- Step bands: on the training rows scored under weights, poor below the first score from which the churn
-- rate of the next 10 points (with 20 rows or more) falls under twice the overall rate; good from the first
-- score, not below that, from which the churn rate of all higher scores is at most half of it (the current
-- cut-off where none is).
CREATE FUNCTION health_score._calibrate_bands(weights float8[], current_poor float8, current_good float8,
											  OUT poor_below float8, OUT good_from float8)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rate float8;
BEGIN
	CREATE TEMP TABLE hs_fit_scores ON COMMIT DROP AS
	SELECT health_score.composite(f.x, weights) AS score, f.churned FROM pg_temp.hs_fit f WHERE f.phase = 'train';
	SELECT pg_catalog.avg(s.churned::integer) INTO rate FROM pg_temp.hs_fit_scores s;
	SELECT pg_catalog.min(c) INTO poor_below
	  FROM pg_catalog.generate_series(1, 99) c
	 WHERE (SELECT CASE WHEN pg_catalog.count(*) >= 20 THEN pg_catalog.avg(s.churned::integer) END
	          FROM pg_temp.hs_fit_scores s WHERE s.score >= c AND s.score < c + 10) < 2 * rate;
	poor_below := coalesce(poor_below, current_poor);
	SELECT pg_catalog.min(c) INTO good_from
	  FROM pg_catalog.generate_series(poor_below::integer, 99) c
	 WHERE (SELECT pg_catalog.avg(s.churned::integer) FROM pg_temp.hs_fit_scores s WHERE s.score >= c) <= rate / 2;
	good_from := greatest(coalesce(good_from, current_good), poor_below);
	DROP TABLE pg_temp.hs_fit_scores;
END
$$;

-- Step apply: the proposal's new components (a name taken by a component that measures something else gets
-- the number of the version to come), then the profile's settings: a new profile version, its fit the
-- proposal (with the validation AUC), its note how it was fitted.
CREATE FUNCTION health_score._calibrate_apply(profile text, proposed jsonb, note text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x record;
	component_name text;
	new_weights jsonb := proposed -> 'weights';
	new_version bigint;
BEGIN
	FOR x IN SELECT v.value FROM pg_catalog.jsonb_array_elements(proposed -> 'new_components') v LOOP
		component_name := x.value ->> 'component';
		IF EXISTS (SELECT FROM health_score.component c WHERE c.name = component_name
		            AND (c.measure, c.worst, c.best) IS DISTINCT FROM (x.value ->> 'measure', (x.value ->> 'worst')::float8, (x.value ->> 'best')::float8)) THEN
			component_name := component_name || '_' || (SELECT pg_catalog.max(v.version) + 1 FROM health_score.profile_version v);
			new_weights := (new_weights - (x.value ->> 'component')) || pg_catalog.jsonb_build_object(component_name, x.value -> 'weight');
		END IF;
		IF NOT EXISTS (SELECT FROM health_score.component c WHERE c.name = component_name) THEN
			PERFORM health_score.add_component(component_name, x.value ->> 'measure', (x.value ->> 'worst')::float8,
				(x.value ->> 'best')::float8, pg_catalog.format('%s, from %s (worst) to %s (best): fitted by calibrate() for profile %s',
				x.value ->> 'measure', x.value ->> 'worst', x.value ->> 'best', profile));
		END IF;
	END LOOP;
	UPDATE health_score.profile p
	   SET half_life = (proposed ->> 'half_life')::interval,
	       expected_events_per_user_day = (proposed ->> 'expected_events_per_user_day')::float8,
	       weights = new_weights, poor_below = (proposed ->> 'poor_below')::float8,
	       good_from = (proposed ->> 'good_from')::float8
	 WHERE p.name = _calibrate_apply.profile
	RETURNING p.version INTO new_version;
	UPDATE health_score.profile_version v
	   SET note = _calibrate_apply.note, fit = proposed || pg_catalog.jsonb_build_object('weights', new_weights)
	 WHERE v.version = new_version;
	RETURN new_version;
END
$$;

CREATE FUNCTION health_score.calibrate(profile text DEFAULT 'default', train_from timestamptz DEFAULT NULL,
									   train_to timestamptz DEFAULT NULL, validate_from timestamptz DEFAULT NULL,
									   validate_to timestamptz DEFAULT NULL, horizon interval DEFAULT '90 days',
									   outcome text DEFAULT 'cancelled', every interval DEFAULT '7 days',
									   apply boolean DEFAULT false)
RETURNS TABLE (model text, auc_training float8, auc_validation float8, churn_by_band jsonb, settings jsonb, note text)
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
	grid constant interval[] := ARRAY['7 days', '14 days', '30 days', '60 days', '90 days', '180 days']::interval[];
	prof health_score.profile;
	known_until timestamptz;
	hl interval[];              -- the half-lives tried: the grid and the profile's own
	collected record;
	eng record;
	cands jsonb;
	weights float8[];
	bands record;
	weights_json jsonb;
	chosen jsonb := '[]';
	proposed jsonb;
	n_fixed integer;
	n_churned integer;
	n_churned_accounts integer;
	trust_note text;
	new_version bigint;
	sm_train record;
	sm_val record;
	current_val_auc float8;
	best_single text;
	best_single_auc float8;
	x record;
BEGIN
	PERFORM health_score._check_evaluation_args(train_from, train_to, every, horizon, outcome, 'train_from', 'train_to');
	PERFORM health_score._check_evaluation_args(validate_from, validate_to, every, horizon, outcome, 'validate_from', 'validate_to');
	IF train_to + horizon > validate_from THEN
		RAISE EXCEPTION 'train_to + horizon (%) must not be after validate_from (%)', train_to + horizon, validate_from
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'The outcomes of the last training dates would reach into the validation dates: the fit would see their future.',
			      HINT = 'End the training dates at least one horizon before validate_from.';
	END IF;
	SELECT * INTO prof FROM health_score.profile p WHERE p.name = calibrate.profile;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'profile % does not exist', coalesce(pg_catalog.quote_literal(calibrate.profile), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SELECT name FROM health_score.profile; lists the profiles.';
	END IF;
	known_until := health_score._outcome_known_until(outcome);
	IF known_until IS NULL OR validate_to + horizon > known_until THEN
		RAISE EXCEPTION 'validate_to + horizon (%) is after the data (outcomes known until %)', validate_to + horizon,
			coalesce(known_until::text, 'never')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'End the validation dates at least one horizon before the newest data.';
	END IF;
	hl := grid || prof.half_life;

	collected := health_score._calibrate_rows(calibrate.profile, train_from, train_to, validate_from, validate_to, every,
	                                     horizon, outcome, known_until, hl);
	SELECT pg_catalog.count(*) FILTER (WHERE c.churned), pg_catalog.count(DISTINCT c.account_id) FILTER (WHERE c.churned)
	  INTO n_churned, n_churned_accounts FROM pg_temp.hs_cal c WHERE c.phase = 'train';
	IF n_churned = 0 OR n_churned = (SELECT pg_catalog.count(*) FROM pg_temp.hs_cal c WHERE c.phase = 'train') THEN
		RAISE EXCEPTION 'the training dates (train_from % to train_to %) have % of profile %''s accounts churned within the horizon: nothing to fit',
			train_from, train_to, CASE WHEN n_churned = 0 THEN 'none' ELSE 'all' END, calibrate.profile
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Widen the training dates, or use another outcome or horizon.';
	END IF;

	eng := health_score._calibrate_engagement(hl, prof.expected_events_per_user_day);
	cands := health_score._calibrate_candidates(collected.candidates);
	PERFORM health_score._calibrate_features(cands, eng.choice, coalesce(eng.expected, prof.expected_events_per_user_day),
	                                         hl[coalesce(eng.choice, 1)]);
	n_fixed := pg_catalog.cardinality(collected.components);
	weights := health_score._calibrate_weights(
		ARRAY(SELECT coalesce((prof.weights ->> n)::float8, 0) FROM pg_catalog.unnest(collected.components) WITH ORDINALITY AS u (n, o) ORDER BY o),
		pg_catalog.jsonb_array_length(cands));
	bands := health_score._calibrate_bands(weights, prof.poor_below, prof.good_from);

	-- the proposal
	SELECT pg_catalog.jsonb_object_agg(n, weights[o]) INTO weights_json
	  FROM pg_catalog.unnest(collected.components) WITH ORDINALITY AS u (n, o) WHERE weights[o] > 0;
	FOR j IN 1 .. pg_catalog.jsonb_array_length(cands) LOOP
		CONTINUE WHEN NOT weights[n_fixed + j] > 0;
		chosen := chosen || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'component', (cands -> (j - 1)) ->> 'measure' || '_score', 'measure', (cands -> (j - 1)) ->> 'measure',
			'worst', ((cands -> (j - 1)) ->> 'worst')::float8, 'best', ((cands -> (j - 1)) ->> 'best')::float8,
			'weight', weights[n_fixed + j]));
		weights_json := weights_json || pg_catalog.jsonb_build_object((cands -> (j - 1)) ->> 'measure' || '_score', weights[n_fixed + j]);
	END LOOP;
	proposed := pg_catalog.jsonb_build_object('half_life', coalesce(hl[eng.choice], prof.half_life),
		'expected_events_per_user_day', coalesce(eng.expected, prof.expected_events_per_user_day), 'weights', weights_json,
		'poor_below', bands.poor_below, 'good_from', bands.good_from, 'new_components', chosen);

	-- both settings on both phases, in hs_eval
	PERFORM health_score._create_eval_table();
	INSERT INTO pg_temp.hs_eval (model, as_of, scores_from, account_id, churned, score, band, components, rules,
		days_since_activity, events_90d, decayed_events)
	SELECT 'current ' || c.phase, c.as_of, 'recomputed', c.account_id, c.churned, c.score, c.band, c.components, c.rules,
	       c.days_since_activity, c.events_90d, c.decayed_events
	  FROM pg_temp.hs_cal c;
	INSERT INTO pg_temp.hs_eval (model, as_of, scores_from, account_id, churned, score, band, components, rules,
		days_since_activity, events_90d, decayed_events)
	SELECT 'proposed ' || f.phase, f.as_of, 'recomputed', f.account_id, f.churned, s.score,
	       health_score.band(s.score, bands.poor_below, bands.good_from)::text, '{}', f.rules, f.days_since_activity,
	       f.events_90d, f.decayed_events
	  FROM pg_temp.hs_fit f, LATERAL (SELECT health_score.composite(f.x, weights) AS score) s;

	-- the report: current and proposed, then each component and baseline alone
	sm_train := health_score._evaluation_summary('current train', NULL);
	sm_val := health_score._evaluation_summary('current validate', NULL);
	current_val_auc := sm_val.auc;
	SELECT k.key, (k.value #>> '{}')::float8 INTO best_single, best_single_auc
	  FROM pg_catalog.jsonb_each(sm_val.component_auc || sm_val.baseline_auc) k
	 WHERE k.value <> 'null' ORDER BY (k.value #>> '{}')::float8 DESC, k.key LIMIT 1;
	model := 'current';
	auc_training := sm_train.auc; auc_validation := sm_val.auc; churn_by_band := sm_val.churn_by_band;
	settings := pg_catalog.jsonb_build_object('half_life', prof.half_life,
		'expected_events_per_user_day', prof.expected_events_per_user_day, 'weights', prof.weights,
		'poor_below', prof.poor_below, 'good_from', prof.good_from);
	note := NULL;
	RETURN NEXT;

	model := 'proposed';
	auc_training := (health_score._evaluation_summary('proposed train', NULL)).auc;
	x := health_score._evaluation_summary('proposed validate', NULL);
	auc_validation := x.auc; churn_by_band := x.churn_by_band;
	trust_note := NULLIF(pg_catalog.concat_ws('; ',
		CASE WHEN n_churned_accounts < 50 THEN pg_catalog.format(
		     'only %s accounts churned in the training dates: the fit is noisy, do not apply it on this alone', n_churned_accounts) END,
		CASE WHEN train_to - train_from < interval '180 days' THEN
		     'the training dates span less than 6 months: seasonal patterns are not seen' END), '');
	IF apply THEN
		new_version := health_score._calibrate_apply(calibrate.profile,
			proposed || pg_catalog.jsonb_build_object('auc_validation', health_score._r4(auc_validation)),
			pg_catalog.format('calibrate(): trained %s to %s, validated %s to %s, horizon %s, outcome %s',
			                  train_from, train_to, validate_from, validate_to, horizon, outcome));
		proposed := proposed || pg_catalog.jsonb_build_object('weights',
			(SELECT p.weights FROM health_score.profile p WHERE p.name = calibrate.profile));
	END IF;
	settings := proposed;
	note := pg_catalog.concat_ws('; ',
		pg_catalog.format('validation AUC %s against %s for the current settings and %s for the best single figure (%s)',
		                  pg_catalog.round(auc_validation::numeric, 3), pg_catalog.round(current_val_auc::numeric, 3),
		                  pg_catalog.round(best_single_auc::numeric, 3), best_single),
		trust_note,
		CASE WHEN apply THEN pg_catalog.format('applied: profile %s is now version %s', calibrate.profile, new_version)
		     ELSE 'not applied: calibrate(..., apply => true) writes it as a new profile version' END);
	RETURN NEXT;

	FOR x IN
		SELECT 'component ' || k.key AS m, (sm_train.component_auc ->> k.key)::float8 AS tr, (k.value #>> '{}')::float8 AS va
		  FROM pg_catalog.jsonb_each(sm_val.component_auc) k
		UNION ALL
		SELECT 'baseline ' || k.key, (sm_train.baseline_auc ->> k.key)::float8, (k.value #>> '{}')::float8
		  FROM pg_catalog.jsonb_each(sm_val.baseline_auc) k
		ORDER BY 3 DESC NULLS LAST, 1
	LOOP
		model := x.m; auc_training := x.tr; auc_validation := x.va; churn_by_band := NULL; settings := NULL;
		note := CASE WHEN x.m LIKE '% ' || best_single THEN 'the best single component or baseline' END;
		RETURN NEXT;
	END LOOP;
	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());
END
$$;
COMMENT ON FUNCTION health_score.calibrate(text, timestamptz, timestamptz, timestamptz, timestamptz, interval, text, interval, boolean) IS
	'fit a profile''s half-life, expected activity, weights, band cut-offs and extra components on the training dates; report them against the current settings on the validation dates; apply => true writes them as a new profile version';
REVOKE EXECUTE ON FUNCTION health_score.calibrate(text, timestamptz, timestamptz, timestamptz, timestamptz, interval, text, interval, boolean) FROM PUBLIC;
