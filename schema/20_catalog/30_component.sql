-- Components: 0-100 figures over measures, weighed into the composite by each profile's weights.
--
-- kind builtin: the six seeded components; their formulas live in 40_pipeline/50_components.sql and are
-- quoted in description. kind linear: added with add_component: 0 at worst, 100 at best, linear in
-- between and clamped (worst > best: lower is better); NULL when the measure is NULL, so that the
-- composite re-normalises over the components present.

CREATE TABLE health_score.component (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$' AND pg_catalog.octet_length(name) <= 63),
	kind text NOT NULL CHECK (kind IN ('builtin', 'linear')),
	measure text REFERENCES health_score.measure (name),
	worst float8,
	best float8,
	description text,
	seeded boolean NOT NULL DEFAULT false,
	CHECK ((kind = 'linear') = (measure IS NOT NULL AND worst IS NOT NULL AND best IS NOT NULL)),
	CHECK (worst <> best AND worst NOT IN ('Infinity', '-Infinity', 'NaN') AND best NOT IN ('Infinity', '-Infinity', 'NaN'))
);
COMMENT ON TABLE health_score.component IS
	'the 0-100 components the composite score weighs: six built in, others linear over a measure (add_component)';
SELECT pg_catalog.pg_extension_config_dump('health_score.component', '');

INSERT INTO health_score.component (name, kind, description, seeded) VALUES
('engagement', 'builtin',
 'engagement_score(decayed_events, expected events a day, half_life): decayed_events against the steady state of '
 'expected_events_per_user_day x seats x target_utilisation events a day (x max(active_users_30d, 1) without seats), capped at 100', true),
('utilisation', 'builtin', 'min(100, 100 x utilisation / target_utilisation)', true),
('adoption', 'builtin', '100 x key_features_used_30d / the number of the profile''s key features', true),
('support', 'builtin',
 'max(0, 100 - 20 x aged_open_cases - 5 x (open_cases - aged_open_cases) - 10 x max(0, cases_30d - max(2 x cases_prev_90d / 3, 2)))', true),
('sentiment', 'builtin', '(nps_90d + 100) / 2, when responses_90d > 0', true),
('relationship', 'builtin',
 'max(0, 100 - 25 x open_observations - 10 x unanswered_outreach_30d - 30 when days_since_response >= 90) (the last term with touchpoints only)', true);

-- Goal attainment scores 0 to 100 as a linear component, weighed 0 by every profile until one gives it a
-- weight: it shows beside the others without moving the score.
INSERT INTO health_score.component (name, kind, measure, worst, best, description, seeded) VALUES
('goals', 'linear', 'goal_attainment', 0, 1, '100 x goal_attainment: the mean attainment of the account''s open goals', true);

-- The components in the order the composite reads them: the built-in ones as seeded, then by name.
CREATE FUNCTION health_score._component_names()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.array_agg(c.name ORDER BY c.kind <> 'builtin',
	       pg_catalog.array_position(ARRAY['engagement', 'utilisation', 'adoption', 'support', 'sentiment', 'relationship'], c.name),
	       c.name)
	  FROM health_score.component c
$$;

CREATE FUNCTION health_score._component_merge_seeded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.seeded AND EXISTS (SELECT FROM health_score.component c WHERE c.name = NEW.name AND c.seeded) THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER component_merge_seeded BEFORE INSERT ON health_score.component
	FOR EACH ROW EXECUTE FUNCTION health_score._component_merge_seeded();

CREATE FUNCTION health_score.add_component(name text, measure text, worst float8, best float8, description text DEFAULT NULL)
RETURNS health_score.component
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m health_score.measure;
	result health_score.component;
BEGIN
	PERFORM health_score._check_new_name('component name', name,
		EXISTS (SELECT FROM health_score.component c WHERE c.name = add_component.name),
		'Profiles weigh components by name, such as {"billing": 10}.',
		'Choose another name, or drop it first: SELECT health_score.drop_component(' || pg_catalog.quote_literal(name) || ');');
	SELECT * INTO m FROM health_score.measure x WHERE x.name = add_component.measure;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'component % names an unknown measure %', name, coalesce(pg_catalog.quote_literal(measure), 'NULL')
			USING ERRCODE = 'undefined_object',
			      HINT = 'SELECT name, description FROM health_score.measure; lists them; add_measure adds one.';
	END IF;
	IF m.type = 'text' OR m.source = 'composite' THEN
		RAISE EXCEPTION 'component % cannot be computed from measure %', name, measure
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = CASE WHEN m.source = 'composite' THEN 'It is computed from the components.' ELSE 'It is not a number.' END;
	END IF;
	IF worst IS NULL OR best IS NULL OR worst IN ('Infinity', '-Infinity', 'NaN') OR best IN ('Infinity', '-Infinity', 'NaN') THEN
		RAISE EXCEPTION 'worst and best of component % must be finite numbers', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'worst is the value scored 0, best the value scored 100.';
	END IF;
	IF worst = best THEN
		RAISE EXCEPTION 'worst and best of component % must differ, both are %', name, worst
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'worst is the value scored 0, best the value scored 100; worst > best when lower is better.';
	END IF;
	INSERT INTO health_score.component AS c (name, kind, measure, worst, best, description)
	VALUES (name, 'linear', measure, worst, best, description)
	RETURNING c.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_component(text, text, float8, float8, text) IS
	'add a component scoring a measure 0 at worst and 100 at best, linear in between; give it a weight in profile.weights';

CREATE FUNCTION health_score.drop_component(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c health_score.component;
	users text;
BEGIN
	SELECT * INTO c FROM health_score.component x WHERE x.name = drop_component.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'component % does not exist', coalesce(pg_catalog.quote_literal(name), 'NULL')
			USING ERRCODE = 'undefined_object';
	END IF;
	IF c.kind = 'builtin' THEN
		RAISE EXCEPTION 'component % is built in', name
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Give it no weight instead: UPDATE health_score.profile SET weights = weights - ' || pg_catalog.quote_literal(name) || ';';
	END IF;
	SELECT pg_catalog.string_agg(p.name, ', ' ORDER BY p.name) INTO users
	  FROM health_score.profile p WHERE p.weights ? drop_component.name;
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop component % because profile % gives it a weight', name, users
			USING ERRCODE = 'dependent_objects_still_exist',
			      HINT = 'Remove the weight first: UPDATE health_score.profile SET weights = weights - ' || pg_catalog.quote_literal(name) || ';';
	END IF;
	DELETE FROM health_score.component x WHERE x.name = drop_component.name;
END
$$;
COMMENT ON FUNCTION health_score.drop_component(text) IS
	'drop a component added with add_component; refused while a profile gives it a weight';

REVOKE EXECUTE ON FUNCTION health_score.add_component(text, text, float8, float8, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION health_score.drop_component(text) FROM PUBLIC;
