-- Rules: early-warning conditions over measures. A rule's condition is a SQL boolean expression over
-- measures written by name, with parameters written {name} and taken from params (or, for the accounts of
-- a profile, from that profile's rule_params). The seeded rules are written the same way a user writes
-- one. A flag's evidence is the values of the measures its condition names, the windows those measures
-- are counted over (their params), and the rule's parameters; a description's `name` is filled in from it.
--
-- Validation on write (a trigger, and add_rule): every {parameter} is in params, every name a measure, the
-- expression boolean; nothing is stored otherwise. Dumps keep every row; on restore the merge trigger turns
-- the dump's INSERT of a seeded rule into an UPDATE of the freshly seeded one.

CREATE TABLE health_score.rule (
	code text PRIMARY KEY,
	description text NOT NULL,
	severity text NOT NULL CHECK (severity IN ('red', 'amber', 'info', 'opportunity')),
	params jsonb NOT NULL DEFAULT '{}',
	action text,
	enabled boolean NOT NULL DEFAULT true,
	-- True for the rows the install script seeds: pg_dump merges them on restore.
	seeded boolean NOT NULL DEFAULT false,
	condition text NOT NULL,
	-- the measures the condition names, kept by the validation trigger: the flag's evidence, and what
	-- drop_measure checks
	measures text[] NOT NULL DEFAULT '{}',
	-- a raised flag opens a task (a play) due this long after the as_of date; NULL: no task
	-- (whole days from 1 to 3650: the validation trigger)
	task_due_in interval
);
-- every refresh may rewrite each open flag; the flag table is in 30_results
SELECT pg_catalog.pg_extension_config_dump('health_score.rule', '');

-- One parameter value, wherever it is set (a rule's params, a profile's rule_params): a number is finite,
-- and a number of days (a parameter named days or ending in _days) is from 0 to 36500, so that no window
-- reaches outside the calendar; band is a band; the seeded rules' numbers are not negative.
CREATE FUNCTION health_score._check_rule_param(code text, k text, v jsonb, seeded boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n float8;
	is_days boolean := k = 'days' OR k LIKE '%\_days';
BEGIN
	IF pg_catalog.jsonb_typeof(v) NOT IN ('number', 'string', 'boolean') THEN
		RAISE EXCEPTION 'parameter % of rule % must be a number, a string or a boolean, not %', k, code, v
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF k = 'band' THEN
		IF pg_catalog.jsonb_typeof(v) <> 'string'
		   OR NOT (v #>> '{}') = ANY (pg_catalog.enum_range(NULL::health_score.health_band)::text[]) THEN
			RAISE EXCEPTION 'parameter band of rule % must be one of poor, average, good', code
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RETURN;
	END IF;
	IF is_days AND pg_catalog.jsonb_typeof(v) <> 'number' THEN
		RAISE EXCEPTION 'parameter % of rule % must be a number, not %', k, code, v
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.jsonb_typeof(v) <> 'number' THEN
		RETURN;
	END IF;
	BEGIN
		n := (v #>> '{}')::float8;
	EXCEPTION WHEN numeric_value_out_of_range THEN
		RAISE EXCEPTION 'parameter % of rule % is out of range for a float8', k, code
			USING ERRCODE = 'numeric_value_out_of_range';
	END;
	IF seeded AND n < 0 THEN
		RAISE EXCEPTION 'parameter % of rule % must be a non-negative number, not %', k, code, v
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF is_days AND NOT (n >= 0 AND n <= 36500) THEN
		RAISE EXCEPTION 'parameter % of rule % must be a number of days from 0 to 36500, not %', k, code, v
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

-- A parameter value as a SQL literal: numbers as float8, strings as text, booleans as they are.
CREATE FUNCTION health_score._param_literal(v jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE pg_catalog.jsonb_typeof($1)
		WHEN 'number' THEN pg_catalog.format('%L::float8', ($1 #>> '{}')::float8)
		WHEN 'string' THEN pg_catalog.format('%L::text', $1 #>> '{}')
		WHEN 'boolean' THEN ($1 #>> '{}')::boolean::text END
$$;

-- The {parameters} a condition names, in order of first use.
CREATE FUNCTION health_score._condition_params(condition text)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(pg_catalog.array_agg(x.name ORDER BY x.first), '{}')
	  FROM (SELECT m[1] AS name, min(o) AS first
	          FROM pg_catalog.regexp_matches($1, '\{([A-Za-z_][A-Za-z0-9_]*)\}', 'g') WITH ORDINALITY AS r (m, o)
	         GROUP BY m[1]) x
$$;

-- A condition with each {parameter} replaced by its value; a parameter overridden by profiles becomes a
-- CASE over the account's profile (column _profile). overrides: {"profile": {"parameter": value}}.
CREATE FUNCTION health_score._condition_sql(condition text, params jsonb, overrides jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p text;
BEGIN
	FOREACH p IN ARRAY health_score._condition_params(condition) LOOP
		condition := pg_catalog.replace(condition, '{' || p || '}', '(' || health_score._param_value_sql(p, params, overrides) || ')');
	END LOOP;
	RETURN condition;
END
$$;

-- One parameter's value as SQL: a literal, or a CASE over the account's profile when profiles override it.
CREATE FUNCTION health_score._param_value_sql(p text, params jsonb, overrides jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce('CASE m._profile ' || pg_catalog.string_agg(pg_catalog.format('WHEN %L THEN %s', o.key,
	                                                                  health_score._param_literal(o.value -> $1)), ' ' ORDER BY o.key)
	                || ' ELSE ' || health_score._param_literal($2 -> $1) || ' END',
	                health_score._param_literal($2 -> $1))
	  FROM pg_catalog.jsonb_each(coalesce($3, '{}')) o
	 WHERE o.value ? $1
$$;

-- Checks a rule's condition against the measure catalog without data and returns the measures it names.
CREATE FUNCTION health_score._check_condition(code text, condition text, params jsonb)
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p text;
	typ regtype;
	msg text; det text; hnt text; st text;
	named text[];
BEGIN
	IF coalesce(pg_catalog.btrim(condition), '') = '' THEN
		RAISE EXCEPTION 'the condition of rule % must not be empty', code
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Write a boolean expression over measures, such as utilisation < {below}.';
	END IF;
	FOREACH p IN ARRAY health_score._condition_params(condition) LOOP
		IF NOT params ? p THEN
			RAISE EXCEPTION 'the condition of rule % uses parameter {%}, which its params do not set', code, p
				USING ERRCODE = 'undefined_parameter',
				      HINT = pg_catalog.format('Set it in params, such as {"%s": 1}.', p);
		END IF;
	END LOOP;
	BEGIN
		EXECUTE pg_catalog.format('SELECT pg_catalog.pg_typeof((%s)) FROM (SELECT %s, NULL::text AS _profile) m',
		                          health_score._condition_sql(condition, params), health_score._measure_shape())
		   INTO typ;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
		IF st = '42703' THEN
			RAISE EXCEPTION 'the condition of rule % names an unknown measure %', code,
				coalesce(pg_catalog.substring(msg, '^column (.*) does not exist'), msg)
				USING ERRCODE = 'undefined_column',
				      HINT = 'SELECT name, description FROM health_score.measure; lists the measures; add_measure adds one.';
		END IF;
		PERFORM health_score._reraise(pg_catalog.format('the condition of rule %s is not valid: %s', code, msg), st, det,
			coalesce(nullif(hnt, ''), 'Write a boolean expression over measures, such as utilisation < {below}.'));
	END;
	IF typ <> 'boolean'::regtype THEN
		RAISE EXCEPTION 'the condition of rule % must be a boolean expression, not one of type %', code, typ
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'Compare the measure with a parameter, such as overdue_invoices > {max}.';
	END IF;
	-- the words of the condition that are measure names (outside {parameters})
	SELECT coalesce(pg_catalog.array_agg(DISTINCT m.name ORDER BY m.name), '{}') INTO named
	  FROM health_score.measure m
	 WHERE m.name IN (SELECT w[1] FROM pg_catalog.regexp_matches(
	                      pg_catalog.regexp_replace(condition, '\{[A-Za-z_][A-Za-z0-9_]*\}', ' ', 'g'),
	                      '"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)', 'g') AS r (w0),
	                      LATERAL (SELECT ARRAY[coalesce(pg_catalog.replace(w0[1], '""', '"'), pg_catalog.lower(w0[2]))]) x (w));
	RETURN named;
END
$$;

-- A rule's task_due_in: whole days from 1 to 3650 (a task is due on a date), or NULL for no task.
CREATE FUNCTION health_score._check_task_due_in(code text, task_due_in interval)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF task_due_in IS NOT NULL AND (pg_catalog.date_part('epoch', task_due_in) < 86400
	                                OR pg_catalog.date_part('epoch', task_due_in) > 3650 * 86400
	                                OR pg_catalog.justify_hours(task_due_in) <> pg_catalog.date_trunc('day', pg_catalog.justify_hours(task_due_in))) THEN
		RAISE EXCEPTION 'task_due_in of rule % must be whole days from 1 day to 3650 days, not %', code, task_due_in
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'A task is due on a date: give days, such as ''7 days'', or NULL for no task.';
	END IF;
END
$$;

CREATE FUNCTION health_score._rule_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
	used constant text[] := health_score._condition_params(NEW.condition);
BEGIN
	IF NEW.params IS NULL OR pg_catalog.jsonb_typeof(NEW.params) <> 'object' THEN
		RAISE EXCEPTION 'params of rule % must be a JSON object', NEW.code
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(NEW.params) e LOOP
		IF NOT k = ANY (used) THEN
			RAISE EXCEPTION 'rule % has no parameter %', NEW.code, health_score._q(k)
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = coalesce('Its parameters are: ' || NULLIF(pg_catalog.array_to_string(used, ', '), '')
				                      || '.', 'Its condition uses none.')
				             || ' Write parameters in the condition as {name}.';
		END IF;
		PERFORM health_score._check_rule_param(NEW.code, k, v, NEW.seeded);
	END LOOP;
	PERFORM health_score._check_task_due_in(NEW.code, NEW.task_due_in);
	NEW.measures := health_score._check_condition(NEW.code, NEW.condition, NEW.params);
	RETURN NEW;
END
$$;
CREATE TRIGGER rule_validate BEFORE INSERT OR UPDATE ON health_score.rule
	FOR EACH ROW EXECUTE FUNCTION health_score._rule_validate();

INSERT INTO health_score.rule (code, description, severity, condition, params, action, seeded) VALUES
('inactive', 'No activity for `days` days (accounts younger than that are not judged)', 'red',
 'days_since_activity >= {days} AND coalesce(account_age_days >= {days}, true)',
 '{"days": 30}', 'Call the main contact this week: find out why usage stopped and agree a re-launch plan.', true),
('infrequent_logins', 'Fewer than `min_events_per_user` events per active user in the last 30 days', 'amber',
 'events_per_active_user_30d < {min_events_per_user}',
 '{"min_events_per_user": 4}', 'Review how the product fits the team''s routine; propose a workflow session.', true),
('licence_gap', 'Active users in 30 days per seat below `below`: more licences than users', 'amber',
 'utilisation < {below}',
 '{"below": 0.5}', 'Run an adoption push for the unused seats before the renewal conversation.', true),
('over_licensed', 'Active users in 30 days per seat above `above`: more users than licences', 'opportunity',
 'utilisation > {above}',
 '{"above": 1}', 'Upsell: propose a seat expansion sized to the active users.', true),
('key_features_unused', 'Active in the last 30 days but fewer than `min_used` of the profile''s key features used', 'amber',
 'key_features_used_30d < {min_used} AND events_30d > 0',
 '{"min_used": 1}', 'Show the key features: book a best-practice demo with the main users.', true),
('active_users_decline', 'Active users in the last 30 days down by `min_decline` or more against the 30 days before (from at least `min_previous_users`)', 'amber',
 'active_users_prev_30d >= {min_previous_users} AND active_users_decline >= {min_decline}',
 '{"min_decline": 0.2, "min_previous_users": 3}', 'Ask the champion what changed (team changes, a competitor, a problem) and re-onboard the lapsed users.', true),
('support_spike', 'At least `min_cases` cases opened in 30 days and at least `factor` times the monthly average of the 90 days before', 'amber',
 'cases_30d >= {min_cases} AND cases_30d >= {factor} * cases_prev_90d / 3.0',
 '{"factor": 2, "min_cases": 3}', 'Review the new cases with support; call the customer about the underlying problem.', true),
('long_open_case', 'A support case open for more than `days` days', 'amber',
 'oldest_open_case_days > {days}',
 '{"days": 14}', 'Escalate the case with support and tell the customer the plan to close it.', true),
('silent_account', 'No support case, no inbound contact and no answered outreach for `days` days', 'amber',
 'days_since_contact >= {days} AND coalesce(open_cases, 0) = 0 AND coalesce(account_age_days >= {days}, true)',
 '{"days": 90}', 'Reach out with a check-in or a business review: a silent account is an unknown risk.', true),
('unreturned_contact', '`min_unanswered` or more outbound touchpoints in `days` days unanswered since the customer last responded', 'amber',
 'unanswered_outreach >= {min_unanswered}',
 '{"min_unanswered": 3}', 'Try another contact or channel; ask the executive sponsor for an introduction.', true),
('detractor', 'A survey rating of `max_rating` or less in `days` days, overall or in any category', 'red',
 'detractor_responses > 0',
 '{}', 'Call the respondent within 48 hours, close the loop on their feedback.', true),
('observation', 'At least `min_open` open qualitative observations (no trained admin, no process owner, ...)', 'amber',
 'open_observations > 0 AND open_observations >= {min_open}',
 '{"min_open": 1}', 'Resolve the observed gap: train an admin, name a process owner, re-engage the sponsor.', true),
('renewal_risk', 'Renewal within `days` days and the band is `band`', 'red',
 'days_to_renewal BETWEEN 0 AND {days} AND band = {band}',
 '{"days": 90, "band": "poor"}', 'Build a save plan with the account owner and an executive before the renewal.', true),
-- (1e-9: scores are sums of floating-point terms, so an exact drop of min_drop may come out a hair under it)
('score_drop', 'Score down `min_drop` points or more against the score `days` days earlier (history up to `tolerance_days` older)', 'amber',
 'score_earlier - score >= {min_drop} - 1e-9',
 '{"min_drop": 15}', 'Look at which component fell (account_health.inputs) and address its cause.', true),
('new_users', '`min_new_users` or more users first seen in the last `days` days', 'info',
 'new_users >= {min_new_users}',
 '{"min_new_users": 10}', 'Schedule a training session for the new users.', true),
('feature_adopted', 'A key feature used for the first time in the last `days` days', 'info',
 'key_features_adopted > 0',
 '{}', 'Send best practices for the newly adopted feature.', true),
('override_expiring', 'The score override (set_override) expires within `days` days', 'info',
 'override_days_left <= {days}',
 '{"days": 7}', 'Review the override: renew it with set_override if it still holds, or let the computed score return.', true),
('business_review_due', 'No business review touchpoint for more than `days` days (accounts younger than that are not judged)', 'amber',
 'days_since_business_review > {days} AND coalesce(account_age_days > {days}, true)',
 '{"days": 90}', 'Schedule a business review with the sponsor: results so far, goals for the next quarter.', true),
('renewal_approaching', 'Renewal within `days` days, whatever the band', 'info',
 'days_to_renewal BETWEEN 0 AND {days}',
 '{"days": 120}', 'Start the renewal conversation: confirm the value delivered and the plan for next year.', true),
('goal_off_track', 'A goal of the customer''s is more than `max_shortfall` behind the straight line to its due date', 'amber',
 'goal_shortfall > {max_shortfall}',
 '{"max_shortfall": 0.2}', 'Review the goal with the customer: what blocks it, and the steps to get back on track.', true),
('plan_breach', 'A commitment of an open plan is breached', 'red',
 'plan_breaches > 0',
 '{}', 'Fix the breach today and tell the customer what was done: the plan''s credibility is at stake.', true);
UPDATE health_score.rule SET enabled = false WHERE code IN ('business_review_due', 'renewal_approaching');
-- The seeded plays: a red flag is worked within a week, an opportunity to train or share practices within two.
UPDATE health_score.rule SET task_due_in = CASE WHEN severity = 'red' THEN interval '7 days' ELSE interval '14 days' END
 WHERE severity = 'red' OR code IN ('new_users', 'feature_adopted');

CREATE FUNCTION health_score.add_rule(code text, condition text, severity text, action text, params jsonb DEFAULT '{}',
									  description text DEFAULT NULL, task_due_in interval DEFAULT NULL)
RETURNS health_score.rule
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result health_score.rule;
BEGIN
	PERFORM health_score._check_new_name('rule code', code,
		EXISTS (SELECT FROM health_score.rule r WHERE r.code = add_rule.code),
		'Flags, profiles'' rule_params and the views name rules by their code, such as invoices_overdue.',
		'Choose another code, or edit it: UPDATE health_score.rule SET condition = ... WHERE code = ' || pg_catalog.quote_literal(code) || ';');
	IF severity IS NULL OR severity NOT IN ('red', 'amber', 'info', 'opportunity') THEN
		RAISE EXCEPTION 'severity of rule % must be red, amber, info or opportunity, not %', code,
			coalesce(pg_catalog.quote_literal(severity), 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM health_score._check_task_due_in(code, task_due_in);
	INSERT INTO health_score.rule AS r (code, description, severity, condition, params, action, task_due_in)
	VALUES (code, coalesce(description, condition), severity, condition, coalesce(params, '{}'), action, task_due_in)
	RETURNING r.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_rule(text, text, text, text, jsonb, text, interval) IS
	'add a rule: a boolean condition over measures with {parameters} from params; its flags carry the measures it names; with task_due_in, each flag it raises opens a task due that long after';

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
		       action = NEW.action, enabled = NEW.enabled, condition = NEW.condition, task_due_in = NEW.task_due_in
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

REVOKE EXECUTE ON FUNCTION health_score.add_rule(text, text, text, text, jsonb, text, interval) FROM PUBLIC;
