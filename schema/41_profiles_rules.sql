-- Profiles and rules: the seeded configuration, its validation, and what pg_dump keeps.
--
-- Both tables are edited with plain SQL. Triggers validate what refresh() would otherwise trip over
-- (unknown weight names, negative weights, unknown or non-numeric rule parameters) with class 22 errors.
--
-- Dumps: every row of both tables is dumped, seeded ones included, so an edited seeded row survives
-- pg_dump/pg_restore. On restore CREATE EXTENSION seeds the rows first; the merge triggers then turn the
-- dump's INSERT of a seeded row into an UPDATE of the freshly seeded one instead of a duplicate key error.

-- The parameters each seeded rule understands, with their defaults. params holds overrides of these.
CREATE FUNCTION health_score._rule_defaults(code text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $1
		WHEN 'inactive' THEN '{"days": 30}'
		WHEN 'infrequent_logins' THEN '{"min_events_per_user": 4}'
		WHEN 'licence_gap' THEN '{"below": 0.5}'
		WHEN 'over_licensed' THEN '{"above": 1}'
		WHEN 'key_features_unused' THEN '{"min_used": 1}'
		WHEN 'active_users_decline' THEN '{"min_decline": 0.2, "min_previous_users": 3}'
		WHEN 'support_spike' THEN '{"factor": 2, "min_cases": 3}'
		WHEN 'long_open_case' THEN '{"days": 14}'
		WHEN 'silent_account' THEN '{"days": 90}'
		WHEN 'unreturned_contact' THEN '{"min_unanswered": 3, "days": 30}'
		WHEN 'detractor' THEN '{"max_rating": 6, "days": 90}'
		WHEN 'observation' THEN '{"min_open": 1}'
		WHEN 'renewal_risk' THEN '{"days": 90, "band": "poor"}'
		WHEN 'score_drop' THEN '{"min_drop": 15, "days": 30, "tolerance_days": 7}'
		WHEN 'new_users' THEN '{"min_new_users": 10, "days": 30}'
		WHEN 'feature_adopted' THEN '{"days": 7}'
	END::jsonb
$$;

INSERT INTO health_score.rule (code, description, severity, params, action, seeded) VALUES
('inactive', 'No activity for `days` days (accounts younger than that are not judged)', 'red',
 '{"days": 30}', 'Call the main contact this week: find out why usage stopped and agree a re-launch plan.', true),
('infrequent_logins', 'Fewer than `min_events_per_user` events per active user in the last 30 days', 'amber',
 '{"min_events_per_user": 4}', 'Review how the product fits the team''s routine; propose a workflow session.', true),
('licence_gap', 'Active users in 30 days per seat below `below`: more licences than users', 'amber',
 '{"below": 0.5}', 'Run an adoption push for the unused seats before the renewal conversation.', true),
('over_licensed', 'Active users in 30 days per seat above `above`: more users than licences', 'opportunity',
 '{"above": 1}', 'Upsell: propose a seat expansion sized to the active users.', true),
('key_features_unused', 'Active in the last 30 days but fewer than `min_used` of the profile''s key features used', 'amber',
 '{"min_used": 1}', 'Show the key features: book a best-practice demo with the main users.', true),
('active_users_decline', 'Active users in the last 30 days down by `min_decline` or more against the 30 days before (from at least `min_previous_users`)', 'amber',
 '{"min_decline": 0.2, "min_previous_users": 3}', 'Ask the champion what changed (team changes, a competitor, a problem) and re-onboard the lapsed users.', true),
('support_spike', 'At least `min_cases` cases opened in 30 days and at least `factor` times the monthly average of the 90 days before', 'amber',
 '{"factor": 2, "min_cases": 3}', 'Review the new cases with support; call the customer about the underlying problem.', true),
('long_open_case', 'A support case open for more than `days` days', 'amber',
 '{"days": 14}', 'Escalate the case with support and tell the customer the plan to close it.', true),
('silent_account', 'No support case, no inbound contact and no answered outreach for `days` days', 'amber',
 '{"days": 90}', 'Reach out with a check-in or a business review: a silent account is an unknown risk.', true),
('unreturned_contact', '`min_unanswered` or more outbound touchpoints in `days` days unanswered since the customer last responded', 'amber',
 '{"min_unanswered": 3, "days": 30}', 'Try another contact or channel; ask the executive sponsor for an introduction.', true),
('detractor', 'A survey rating of `max_rating` or less in `days` days, overall or in any category', 'red',
 '{"max_rating": 6, "days": 90}', 'Call the respondent within 48 hours, close the loop on their feedback.', true),
('observation', 'At least `min_open` open qualitative observations (no trained admin, no process owner, ...)', 'amber',
 '{"min_open": 1}', 'Resolve the observed gap: train an admin, name a process owner, re-engage the sponsor.', true),
('renewal_risk', 'Renewal within `days` days and the band is `band`', 'red',
 '{"days": 90, "band": "poor"}', 'Build a save plan with the account owner and an executive before the renewal.', true),
('score_drop', 'Score down `min_drop` points or more against the score `days` days earlier (history up to `tolerance_days` older)', 'amber',
 '{"min_drop": 15, "days": 30, "tolerance_days": 7}', 'Look at which component fell (account_health.inputs) and address its cause.', true),
('new_users', '`min_new_users` or more users first seen in the last `days` days', 'info',
 '{"min_new_users": 10, "days": 30}', 'Schedule a training session for the new users.', true),
('feature_adopted', 'A key feature used for the first time in the last `days` days', 'info',
 '{"days": 7}', 'Send best practices for the newly adopted feature.', true);

INSERT INTO health_score.profile (name, seeded) VALUES ('default', true);

-- Validation of rule parameters. Every rule's params is an object of numbers, strings and booleans; a
-- number is finite, and a number of days (a parameter named days or ending in _days) is between 0 and
-- 36500, so that no window reaches outside the calendar. Seeded codes accept only their own parameters, as
-- non-negative numbers (band: a band).
CREATE FUNCTION health_score._rule_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	defaults jsonb := health_score._rule_defaults(NEW.code);
	k text;
	v jsonb;
	n float8;
	is_days boolean;
BEGIN
	IF NEW.params IS NULL OR pg_catalog.jsonb_typeof(NEW.params) <> 'object' THEN
		RAISE EXCEPTION 'params of rule % must be a JSON object', NEW.code
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(NEW.params) e LOOP
		IF defaults IS NOT NULL AND NOT defaults ? k THEN
			RAISE EXCEPTION 'rule % has no parameter %', NEW.code, health_score._q(k)
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Its parameters are: ' ||
				             (SELECT pg_catalog.string_agg(d, ', ' ORDER BY d) FROM pg_catalog.jsonb_object_keys(defaults) d) || '.';
		END IF;
		IF pg_catalog.jsonb_typeof(v) NOT IN ('number', 'string', 'boolean') THEN
			RAISE EXCEPTION 'parameter % of rule % must be a number, a string or a boolean, not %', k, NEW.code, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF k = 'band' AND defaults IS NOT NULL THEN
			IF NOT (v #>> '{}') = ANY (pg_catalog.enum_range(NULL::health_score.health_band)::text[])
			   OR pg_catalog.jsonb_typeof(v) <> 'string' THEN
				RAISE EXCEPTION 'parameter band of rule % must be one of poor, average, good', NEW.code
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			CONTINUE;
		END IF;
		is_days := k = 'days' OR k LIKE '%\_days';
		IF (defaults IS NOT NULL OR is_days) AND pg_catalog.jsonb_typeof(v) <> 'number' THEN
			RAISE EXCEPTION 'parameter % of rule % must be a number, not %', k, NEW.code, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		CONTINUE WHEN pg_catalog.jsonb_typeof(v) <> 'number';
		BEGIN
			n := (v #>> '{}')::float8;
		EXCEPTION WHEN numeric_value_out_of_range THEN
			RAISE EXCEPTION 'parameter % of rule % is out of range for a float8', k, NEW.code
				USING ERRCODE = 'numeric_value_out_of_range';
		END;
		IF defaults IS NOT NULL AND n < 0 THEN
			RAISE EXCEPTION 'parameter % of rule % must be a non-negative number, not %', k, NEW.code, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF is_days AND NOT (n >= 0 AND n <= 36500) THEN
			RAISE EXCEPTION 'parameter % of rule % must be a number of days from 0 to 36500, not %', k, NEW.code, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;
CREATE TRIGGER rule_validate BEFORE INSERT OR UPDATE ON health_score.rule
	FOR EACH ROW EXECUTE FUNCTION health_score._rule_validate();

-- A flag names its rule, and a refresh raises flags for the rules it read when it started: renaming or
-- deleting a rule waits for a running refresh (and a refresh started meanwhile waits for the edit to end).
-- Other edits need not wait: a running refresh has read the rules already, the next one sees them.
CREATE FUNCTION health_score._rule_wait_for_refresh()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._refresh_lock(true);
	RETURN NULL;
END
$$;
CREATE TRIGGER rule_wait_for_refresh BEFORE UPDATE OF code OR DELETE ON health_score.rule
	FOR EACH STATEMENT EXECUTE FUNCTION health_score._rule_wait_for_refresh();

-- Validation of profiles: weights name components and are non-negative numbers up to 1,000,000 (they are
-- relative), at least one positive; the figures a score divides by or compares with are finite; the band
-- thresholds lie on the 0-100 scale.
CREATE FUNCTION health_score._profile_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	total float8 := 0;
BEGIN
	IF NEW.weights IS NULL OR pg_catalog.jsonb_typeof(NEW.weights) <> 'object' THEN
		RAISE EXCEPTION 'weights of profile % must be a JSON object', NEW.name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(NEW.weights) LOOP
		IF k NOT IN ('engagement', 'utilisation', 'adoption', 'support', 'sentiment', 'relationship') THEN
			RAISE EXCEPTION 'weights of profile % name an unknown component %', NEW.name, health_score._q(k)
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'The components are engagement, utilisation, adoption, support, sentiment and relationship.';
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
	RETURN NEW;
END
$$;
CREATE TRIGGER profile_validate BEFORE INSERT OR UPDATE ON health_score.profile
	FOR EACH ROW EXECUTE FUNCTION health_score._profile_validate();

-- Restore merge: a dumped seeded row replaces the freshly seeded one instead of colliding with it.
CREATE FUNCTION health_score._rule_merge_seeded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.seeded THEN
		UPDATE health_score.rule r
		   SET description = NEW.description, severity = NEW.severity, params = NEW.params,
		       action = NEW.action, enabled = NEW.enabled
		 WHERE r.code = NEW.code AND r.seeded;
		IF FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER rule_merge_seeded BEFORE INSERT ON health_score.rule
	FOR EACH ROW EXECUTE FUNCTION health_score._rule_merge_seeded();

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
		       weights = NEW.weights, poor_below = NEW.poor_below, good_from = NEW.good_from
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

-- Observations name accounts by the text form of their key: normalise it through the accounts source's
-- key type (so ' 42' or an upper-case uuid still match), and reject what is not a key of that type.
CREATE FUNCTION health_score._observation_normalise()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keytype text;
BEGIN
	SELECT health_score._key_type(s.key_type::regtype) INTO keytype
	  FROM health_score.sources s WHERE s.kind = 'accounts';
	IF keytype = 'bigint' THEN
		NEW.account_id := NEW.account_id::bigint::text;
	ELSIF keytype = 'uuid' THEN
		NEW.account_id := NEW.account_id::uuid::text;
	END IF;
	RETURN NEW;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
	RAISE EXCEPTION 'observation account_id % is not a % account key', pg_catalog.quote_literal(NEW.account_id), keytype
		USING ERRCODE = 'invalid_text_representation';
END
$$;
CREATE TRIGGER observation_normalise BEFORE INSERT OR UPDATE OF account_id ON health_score.observation
	FOR EACH ROW EXECUTE FUNCTION health_score._observation_normalise();

-- Every refresh rewrites each account's current row and each open flag: room on the page lets those
-- updates stay HOT (no index churn).
ALTER TABLE health_score.account_health SET (fillfactor = 70);
ALTER TABLE health_score.flag SET (fillfactor = 70);

-- pg_dump keeps configuration and results (see the header for the seeded rows).
SELECT pg_catalog.pg_extension_config_dump('health_score.sources', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.profile', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.rule', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.observation', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.account_health', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.health_history', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.flag', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.refresh_log', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.observation', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.flag', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.refresh_log', 'id'), '');
