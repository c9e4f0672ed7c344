-- explain(): why an account's score changed between two days of health_history, component by component.
-- A score is the weighted mean of the components present, the profile version's weights re-normalised over
-- them: score = sum of w_i * v_i over the present components, w_i = weight_i / sum of the present weights.
-- So each component's contribution to the change is w_i(to) * v_i(to) - w_i(from) * v_i(from) (a term is 0
-- on a day the component is absent), and the contributions add up to the change. An override is a row of
-- its own: its lift over the computed score on each day.

-- The weights a health_history row was scored with: its profile version's (the profile's current ones for a
-- row scored before versions were kept).
CREATE FUNCTION health_score._row_weights(profile_version bigint, profile text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce((SELECT v.settings -> 'weights' FROM health_score.profile_version v WHERE v.version = $1),
	                (SELECT p.weights FROM health_score.profile p WHERE p.name = $2))
$$;

-- The contribution of each component (and of an override) to the change from row f to row t.
CREATE FUNCTION health_score._score_contributions(f health_score.health_history, t health_score.health_history)
RETURNS TABLE (component text, weight_from float8, weight_to float8, value_from float8, value_to float8,
			   contribution float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH v AS (
		SELECT 'from' AS side, x.key AS name, (x.value #>> '{}')::float8 AS value,
		       coalesce((w.w ->> x.key)::float8, 0) AS weight
		  FROM pg_catalog.jsonb_each(health_score._component_values(f.engagement, f.utilisation, f.adoption, f.support,
		                                                            f.sentiment, f.relationship, f.components)) x,
		       (SELECT health_score._row_weights(f.profile_version, f.profile) AS w) w
		UNION ALL
		SELECT 'to', x.key, (x.value #>> '{}')::float8,
		       coalesce((w.w ->> x.key)::float8, 0)
		  FROM pg_catalog.jsonb_each(health_score._component_values(t.engagement, t.utilisation, t.adoption, t.support,
		                                                            t.sentiment, t.relationship, t.components)) x,
		       (SELECT health_score._row_weights(t.profile_version, t.profile) AS w) w),
	n AS (
		SELECT v.side, v.name, v.value,
		       v.weight / NULLIF(pg_catalog.sum(v.weight) OVER (PARTITION BY v.side), 0) AS w
		  FROM v)
	SELECT n.name, pg_catalog.max(n.w) FILTER (WHERE n.side = 'from'), pg_catalog.max(n.w) FILTER (WHERE n.side = 'to'),
	       pg_catalog.max(n.value) FILTER (WHERE n.side = 'from'), pg_catalog.max(n.value) FILTER (WHERE n.side = 'to'),
	       coalesce(pg_catalog.max(n.w * n.value) FILTER (WHERE n.side = 'to'), 0)
	       - coalesce(pg_catalog.max(n.w * n.value) FILTER (WHERE n.side = 'from'), 0)
	  FROM n GROUP BY n.name
	UNION ALL
	SELECT 'override', NULL, NULL, f.score - coalesce(f.computed_score, f.score), t.score - coalesce(t.computed_score, t.score),
	       (t.score - coalesce(t.computed_score, t.score)) - (f.score - coalesce(f.computed_score, f.score))
	 WHERE f.score IS DISTINCT FROM coalesce(f.computed_score, f.score) OR t.score IS DISTINCT FROM coalesce(t.computed_score, t.score)
$$;

-- One account's health_history row of a day (22023 naming the nearest days when there is none).
CREATE FUNCTION health_score._history_row(key text, account_id text, day date, arg text)
RETURNS health_score.health_history
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h health_score.health_history;
	near text;
BEGIN
	SELECT * INTO h FROM health_score.health_history x WHERE x.account_id = key AND x.day = _history_row.day;
	IF NOT FOUND THEN
		SELECT pg_catalog.string_agg(d.day::text, ', ' ORDER BY d.day) INTO near
		  FROM (SELECT x.day FROM health_score.health_history x WHERE x.account_id = key
		         ORDER BY pg_catalog.abs(x.day - _history_row.day), x.day LIMIT 3) d;
		RAISE EXCEPTION 'account % has no health_history row on % (%)', pg_catalog.quote_literal(account_id), day, arg
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = CASE WHEN near IS NULL THEN 'The account has no history: refresh() records a row per account and day.'
			                  ELSE 'Its nearest days are ' || near || '.' END;
	END IF;
	RETURN h;
END
$$;

CREATE FUNCTION health_score.explain(account_id text, from_date timestamptz, to_date timestamptz)
RETURNS TABLE (component text, weight_from float8, weight_to float8, value_from float8, value_to float8,
			   contribution float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
BEGIN
	IF from_date IS NULL OR to_date IS NULL THEN
		RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF from_date::date >= to_date::date THEN
		RAISE EXCEPTION 'from_date (%) must be a day before to_date (%)', from_date::date, to_date::date
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'explain compares the account''s health_history rows of two different days, the earlier first.';
	END IF;
	key := health_score._account_key(account_id);
	RETURN QUERY
	SELECT c.* FROM health_score._score_contributions(
	                    health_score._history_row(key, account_id, from_date::date, 'from_date'),
	                    health_score._history_row(key, account_id, to_date::date, 'to_date')) c
	 ORDER BY pg_catalog.abs(c.contribution) DESC NULLS LAST, c.component;
END
$$;
COMMENT ON FUNCTION health_score.explain(text, timestamptz, timestamptz) IS
	'why the account''s score changed between the health_history rows of two days: each component''s weights, values and contribution; the contributions add up to the change';
