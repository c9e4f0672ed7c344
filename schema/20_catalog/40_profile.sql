-- Profiles: how the accounts of a segment and lifecycle stage are scored (half-life, expectations, key
-- features, component weights, band cut-offs) and judged (rule_params: per-rule parameter overrides).
-- Each account takes the most specific matching profile, then the highest priority, then by name.
--
-- Edited with plain SQL; a trigger validates what refresh() would otherwise trip over, with class 22
-- errors. Dumps keep every row, seeded ones included; on restore the merge trigger turns the dump's
-- INSERT of the seeded row into an UPDATE of the freshly seeded one.

CREATE TABLE health_score.profile (
	name text PRIMARY KEY,
	segment text,
	lifecycle_stage text,
	priority integer NOT NULL DEFAULT 0,
	half_life interval NOT NULL DEFAULT '14 days',
	expected_events_per_user_day float8 NOT NULL DEFAULT 1,
	target_utilisation float8 NOT NULL DEFAULT 0.8,
	key_features text[] NOT NULL DEFAULT '{}',
	weights jsonb NOT NULL DEFAULT '{"engagement": 30, "utilisation": 20, "adoption": 15, "support": 15, "sentiment": 10, "relationship": 10}',
	poor_below float8 NOT NULL DEFAULT 40,
	good_from float8 NOT NULL DEFAULT 70,
	CHECK (half_life > interval '0'),
	CHECK (expected_events_per_user_day > 0),
	CHECK (target_utilisation > 0),
	CHECK (poor_below <= good_from),
	-- True for the rows the install script seeds: pg_dump merges them on restore.
	seeded boolean NOT NULL DEFAULT false,
	-- {"rule code": {"parameter": value}}: overrides of the rules' params for this profile's accounts
	rule_params jsonb NOT NULL DEFAULT '{}'
);
SELECT pg_catalog.pg_extension_config_dump('health_score.profile', '');

INSERT INTO health_score.profile (name, seeded) VALUES ('default', true);

-- Validation of profiles: weights name components and are non-negative numbers up to 1,000,000 (they are
-- relative), at least one positive; the figures a score divides by or compares with are finite; the band
-- thresholds lie on the 0-100 scale; rule_params override parameters the rules have, with values of the
-- same kind (a rule that does not exist yet draws a warning).
CREATE FUNCTION health_score._profile_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	pk text;
	pv jsonb;
	r health_score.rule;
	total float8 := 0;
BEGIN
	IF NEW.weights IS NULL OR pg_catalog.jsonb_typeof(NEW.weights) <> 'object' THEN
		RAISE EXCEPTION 'weights of profile % must be a JSON object', NEW.name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(NEW.weights) LOOP
		IF NOT EXISTS (SELECT FROM health_score.component c WHERE c.name = k) THEN
			RAISE EXCEPTION 'weights of profile % name an unknown component %', NEW.name, health_score._q(k)
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'The components are ' || pg_catalog.array_to_string(health_score._component_names(), ', ')
				             || '; add_component adds one.';
		END IF;
		IF pg_catalog.jsonb_typeof(NEW.weights -> k) <> 'number'
		   OR (NEW.weights ->> k)::numeric < 0 OR (NEW.weights ->> k)::numeric > 1000000 THEN
			RAISE EXCEPTION 'weight % of profile % must be a number from 0 to 1000000, not %', k, NEW.name, NEW.weights -> k
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Weights are relative: {"engagement": 30, "support": 15} weighs engagement twice as much as support.';
		END IF;
		total := total + (NEW.weights ->> k)::float8;
	END LOOP;
	IF total <= 0 THEN
		RAISE EXCEPTION 'weights of profile % must give at least one component a positive weight', NEW.name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.array_position(NEW.key_features, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'key_features of profile % must not contain NULL', NEW.name
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NEW.expected_events_per_user_day IN ('Infinity', 'NaN') THEN
		RAISE EXCEPTION 'expected_events_per_user_day of profile % must be a finite positive number, not %',
			NEW.name, NEW.expected_events_per_user_day
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NEW.target_utilisation IN ('Infinity', 'NaN') THEN
		RAISE EXCEPTION 'target_utilisation of profile % must be a finite positive number, not %',
			NEW.name, NEW.target_utilisation
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT (NEW.poor_below >= 0 AND NEW.poor_below <= 100) THEN
		RAISE EXCEPTION 'poor_below of profile % must be a score from 0 to 100, not %', NEW.name, NEW.poor_below
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT (NEW.good_from >= 0 AND NEW.good_from <= 100) THEN
		RAISE EXCEPTION 'good_from of profile % must be a score from 0 to 100, not %', NEW.name, NEW.good_from
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NEW.rule_params IS NULL OR pg_catalog.jsonb_typeof(NEW.rule_params) <> 'object' THEN
		RAISE EXCEPTION 'rule_params of profile % must be a JSON object', NEW.name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example {"licence_gap": {"below": 0.3}}.';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(NEW.rule_params) LOOP
		SELECT * INTO r FROM health_score.rule x WHERE x.code = k;
		-- (a rule added later, as pg_restore adds the rules after the profiles, applies from then on)
		IF NOT FOUND THEN
			RAISE WARNING 'rule_params of profile % name rule %, which does not exist: they apply once it does', NEW.name, health_score._q(k)
				USING HINT = 'SELECT code, params FROM health_score.rule; lists the rules and their parameters.';
			CONTINUE;
		END IF;
		IF pg_catalog.jsonb_typeof(NEW.rule_params -> k) <> 'object' THEN
			RAISE EXCEPTION 'rule_params of profile % must map rule % to an object of parameters', NEW.name, k
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = pg_catalog.format('For example {"%s": %s}.', k, r.params);
		END IF;
		FOR pk, pv IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(NEW.rule_params -> k) e LOOP
			IF NOT r.params ? pk THEN
				RAISE EXCEPTION 'rule % has no parameter % (rule_params of profile %)', k, health_score._q(pk), NEW.name
					USING ERRCODE = 'invalid_parameter_value',
					      HINT = pg_catalog.format('Its parameters are %s.', r.params);
			END IF;
			IF pg_catalog.jsonb_typeof(pv) <> pg_catalog.jsonb_typeof(r.params -> pk) THEN
				RAISE EXCEPTION 'parameter % of rule % must be a %, not % (rule_params of profile %)',
					pk, k, pg_catalog.jsonb_typeof(r.params -> pk), pv, NEW.name
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			PERFORM health_score._check_rule_param(k, pk, pv, r.seeded);
		END LOOP;
	END LOOP;
	RETURN NEW;
END
$$;
CREATE TRIGGER profile_validate BEFORE INSERT OR UPDATE ON health_score.profile
	FOR EACH ROW EXECUTE FUNCTION health_score._profile_validate();

CREATE FUNCTION health_score._profile_merge_seeded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.seeded THEN
		UPDATE health_score.profile p
		   SET segment = NEW.segment, lifecycle_stage = NEW.lifecycle_stage, priority = NEW.priority,
		       half_life = NEW.half_life, expected_events_per_user_day = NEW.expected_events_per_user_day,
		       target_utilisation = NEW.target_utilisation, key_features = NEW.key_features,
		       weights = NEW.weights, poor_below = NEW.poor_below, good_from = NEW.good_from,
		       rule_params = NEW.rule_params
		 WHERE p.name = NEW.name AND p.seeded;
		IF FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER profile_merge_seeded BEFORE INSERT ON health_score.profile
	FOR EACH ROW EXECUTE FUNCTION health_score._profile_merge_seeded();
