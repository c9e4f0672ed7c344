-- Measures: the named per-account figures at as_of that components and rules are written over.
--
-- kind builtin: computed by the pipeline's source stages (40_pipeline/40_measures.sql holds each one's
-- expression; source says which stage). params holds the windows a built-in measure is counted over.
-- kind query: a user's SQL, added with add_measure: two columns, account_id and value, $1 = as_of. It runs
-- with search_path = pg_catalog, pg_temp, as every function of the extension does: it names tables and
-- functions with their schema.
-- kind metric: a metric name of a metrics source: its latest value at or before as_of.
-- kind touchpoint: days since the last touchpoint of one kind (params.kind), +Infinity when there was none.
--
-- Every measure is a column of the same name when a rule's condition is evaluated: a measure whose source
-- is not registered is NULL; a count whose source is registered is 0 where nothing was counted; "days
-- since" figures are +Infinity when the event never happened.

CREATE TABLE health_score.measure (
	name text PRIMARY KEY
		CHECK (pg_catalog.octet_length(name) BETWEEN 1 AND 63 AND name !~ '^_' AND name <> 'account_id'),
	kind text NOT NULL CHECK (kind IN ('builtin', 'query', 'metric', 'touchpoint')),
	-- the source kind it comes from (builtin), or the pipeline stage: observations, overrides, composite
	source text,
	type text NOT NULL DEFAULT 'float8' CHECK (type IN ('float8', 'bigint', 'integer', 'numeric', 'text')),
	unit text,
	description text,
	params jsonb NOT NULL DEFAULT '{}',
	query text,
	-- who wrote the query (set by the validation trigger): a refresh run by a superuser runs only queries a
	-- superuser wrote (05_trust.sql)
	owner regrole NOT NULL DEFAULT current_user::regrole,
	seeded boolean NOT NULL DEFAULT false,
	CHECK ((kind = 'query') = (query IS NOT NULL))
);
COMMENT ON TABLE health_score.measure IS
	'the per-account figures at as_of that components and rules use, built-in and added with add_measure';
SELECT pg_catalog.pg_extension_config_dump('health_score.measure', '');

INSERT INTO health_score.measure (name, kind, source, type, unit, params, description, seeded) VALUES
('seats', 'builtin', 'accounts', 'integer', 'seats', '{}', 'Seats (licences) of the account, from the accounts source', true),
('arr', 'builtin', 'accounts', 'numeric', 'currency', '{}', 'Annual recurring revenue, from the accounts source', true),
('days_to_renewal', 'builtin', 'accounts', 'integer', 'days', '{}',
 'Days from the as_of date to the renewal date (negative once it has passed)', true),
('account_age_days', 'builtin', 'accounts', 'float8', 'days', '{}',
 'Days since the account started (NULL when started_at is unknown)', true),
('events_total', 'builtin', 'activity', 'bigint', 'events', '{}', 'Activity events at or before as_of', true),
('events_30d', 'builtin', 'activity', 'bigint', 'events', '{}', 'Activity events in the 30 days before as_of', true),
('events_90d', 'builtin', 'activity', 'bigint', 'events', '{}', 'Activity events in the 90 days before as_of', true),
('days_since_activity', 'builtin', 'activity', 'float8', 'days', '{}',
 'Days since the last activity event (+Infinity when there was none)', true),
('decayed_events', 'builtin', 'activity', 'float8', 'events', '{}',
 'Activity events times their weight, each decayed by the profile''s half-life: an event half_life old counts half', true),
('active_users_30d', 'builtin', 'activity', 'bigint', 'users', '{}',
 'Distinct users active in the 30 days before as_of (needs the user_id column)', true),
('active_users_prev_30d', 'builtin', 'activity', 'bigint', 'users', '{}',
 'Distinct users active in the 30 days before those (days 31-60 before as_of)', true),
('active_users_decline', 'builtin', 'activity', 'float8', 'ratio', '{}',
 '(active_users_prev_30d - active_users_30d) / active_users_prev_30d; NULL when active_users_prev_30d is 0', true),
('new_users', 'builtin', 'activity', 'bigint', 'users', '{"days": 30}',
 'Users first seen in the last `days` days', true),
('events_per_active_user_30d', 'builtin', 'activity', 'float8', 'events', '{}',
 'events_30d / active_users_30d; NULL when active_users_30d is 0', true),
('utilisation', 'builtin', 'activity', 'float8', 'ratio', '{}',
 'active_users_30d / seats; NULL without seats', true),
('key_features_used_30d', 'builtin', 'activity', 'integer', 'features', '{}',
 'Key features of the account''s profile used in the 30 days before as_of (NULL when the profile names none or activity has no feature column)', true),
('key_features_adopted', 'builtin', 'activity', 'integer', 'features', '{"days": 7}',
 'Key features of the profile used for the first time in the last `days` days', true),
('cases_30d', 'builtin', 'support_cases', 'bigint', 'cases', '{}', 'Support cases opened in the 30 days before as_of', true),
('cases_prev_90d', 'builtin', 'support_cases', 'bigint', 'cases', '{}',
 'Support cases opened in the 90 days before those (days 31-120 before as_of)', true),
('open_cases', 'builtin', 'support_cases', 'bigint', 'cases', '{}', 'Support cases open at as_of', true),
('aged_open_cases', 'builtin', 'support_cases', 'bigint', 'cases', '{"days": 14}',
 'Support cases open at as_of that were opened more than `days` days before it', true),
('oldest_open_case_days', 'builtin', 'support_cases', 'float8', 'days', '{}',
 'Age in days of the oldest case open at as_of (NULL when none is open)', true),
('days_since_last_case', 'builtin', 'support_cases', 'float8', 'days', '{}',
 'Days since the last support case was opened (+Infinity when there was none)', true),
('open_high_priority_cases', 'builtin', 'support_cases', 'bigint', 'cases', '{}',
 'Support cases open at as_of whose priority is high, urgent, critical, p0 or p1 (in any case)', true),
('responses_90d', 'builtin', 'surveys', 'bigint', 'responses', '{}', 'Survey ratings given in the 90 days before as_of', true),
('nps_90d', 'builtin', 'surveys', 'float8', 'points', '{}',
 'Net promoter score of the ratings of the last 90 days (-100 to 100; NULL without any)', true),
('average_rating_90d', 'builtin', 'surveys', 'float8', 'rating', '{}', 'Average rating of the last 90 days', true),
('promoters_90d', 'builtin', 'surveys', 'bigint', 'responses', '{}', 'Ratings of 9 or 10 in the last 90 days', true),
('detractors_90d', 'builtin', 'surveys', 'bigint', 'responses', '{}', 'Ratings of 6 or less in the last 90 days', true),
('lowest_rating_90d', 'builtin', 'surveys', 'float8', 'rating', '{}', 'The lowest rating of the last 90 days', true),
('detractor_responses', 'builtin', 'surveys', 'bigint', 'responses', '{"days": 90, "max_rating": 6}',
 'Ratings of `max_rating` or less, overall or in any category, in the last `days` days', true),
('days_since_response', 'builtin', 'touchpoints', 'float8', 'days', '{}',
 'Days since the customer last contacted the team or answered outreach (+Infinity when never)', true),
('days_since_contact', 'builtin', 'touchpoints', 'float8', 'days', '{}',
 'Days since the customer last opened a support case, contacted the team or answered outreach (+Infinity when never)', true),
('unanswered_outreach_30d', 'builtin', 'touchpoints', 'bigint', 'touchpoints', '{}',
 'Outbound touchpoints of the last 30 days not answered, made after the customer last responded', true),
('unanswered_outreach', 'builtin', 'touchpoints', 'bigint', 'touchpoints', '{"days": 30}',
 'Outbound touchpoints of the last `days` days not answered, made after the customer last responded', true),
('days_since_business_review', 'touchpoint', 'touchpoints', 'float8', 'days', '{"kind": "business_review"}',
 'Days since the last touchpoint of kind business_review (+Infinity when there was none)', true),
('days_since_training', 'touchpoint', 'touchpoints', 'float8', 'days', '{"kind": "training"}',
 'Days since the last touchpoint of kind training (+Infinity when there was none)', true),
('open_observations', 'builtin', 'observations', 'bigint', 'observations', '{}',
 'Qualitative observations (health_score.observation) open at as_of', true),
('override_days_left', 'builtin', 'overrides', 'float8', 'days', '{}',
 'Days until the account''s score override expires (NULL when none is in force; set_override)', true),
('goal_attainment', 'builtin', 'goals', 'float8', 'ratio', '{}',
 'Mean attainment of the account''s open goals (health_score.goal), each capped at 1: 0 at the baseline, 1 at the target (NULL without goals)', true),
('goal_shortfall', 'builtin', 'goals', 'float8', 'ratio', '{}',
 'How far the account''s furthest-behind open goal is below the straight line from its start (0) to its due date (1), 0 when none is behind (NULL without goals)', true),
('plan_breaches', 'builtin', 'plans', 'bigint', 'commitments', '{}',
 'Commitments of the account''s open plans (health_score.plan_commitment) breached at as_of (NULL without any)', true),
('score', 'builtin', 'composite', 'float8', 'points', '{}', 'The composite score, 0-100 (for rules only)', true),
('band', 'builtin', 'composite', 'text', NULL, '{}', 'The band of the score: poor, average or good (for rules only)', true),
('score_earlier', 'builtin', 'composite', 'float8', 'points', '{"days": 30, "tolerance_days": 7}',
 'The score the model computed `days` days before as_of, from health_history (up to `tolerance_days` older; an override then is left out; for rules only)', true);

-- A touchpoint kind as the word its measure is named after: lower case, runs of other characters as _.
-- The touchpoints stage calls it on every row: without a SET clause the planner inlines it, and its body
-- names everything with its schema, so no search_path can capture it.
CREATE FUNCTION health_score._touchpoint_kind(kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower($1), '[^a-z0-9]+', '_', 'g'), '_') $$;

-- Validation: a built-in measure's windows stay the ones it has, as numbers of days from 0 to 36500
-- (max_rating: 0 to 10); the other kinds carry no windows a user could set.
CREATE FUNCTION health_score._measure_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
BEGIN
	IF TG_OP = 'UPDATE' AND (NEW.name, NEW.kind, NEW.source, NEW.type) IS DISTINCT FROM (OLD.name, OLD.kind, OLD.source, OLD.type) THEN
		RAISE EXCEPTION 'the name, kind, source and type of measure % cannot change', OLD.name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Add a measure under a new name: SELECT health_score.add_measure(name, query);';
	END IF;
	-- the trust rule reads owner (05_trust.sql): it is whoever wrote the query, never what the row says
	IF NEW.kind = 'query' AND (TG_OP = 'INSERT' OR NEW.query IS DISTINCT FROM OLD.query) THEN
		NEW.owner := current_user::regrole;
	END IF;
	IF NEW.params IS NULL OR pg_catalog.jsonb_typeof(NEW.params) <> 'object' THEN
		RAISE EXCEPTION 'params of measure % must be a JSON object', NEW.name USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.kind = 'builtin' THEN
		FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(NEW.params) e LOOP
			IF NOT OLD.params ? k THEN
				RAISE EXCEPTION 'measure % has no parameter %', NEW.name, health_score._q(k)
					USING ERRCODE = 'invalid_parameter_value',
					      HINT = coalesce('Its parameters are: ' || (SELECT pg_catalog.string_agg(d, ', ' ORDER BY d)
					                                                     FROM pg_catalog.jsonb_object_keys(OLD.params) d) || '.',
					                      'It has none.');
			END IF;
			IF pg_catalog.jsonb_typeof(v) <> 'number'
			   OR NOT (v::text::numeric >= 0 AND v::text::numeric <= CASE k WHEN 'max_rating' THEN 10 ELSE 36500 END) THEN
				RAISE EXCEPTION 'parameter % of measure % must be a number from 0 to %, not %',
					k, NEW.name, CASE k WHEN 'max_rating' THEN 10 ELSE 36500 END, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
		IF EXISTS (SELECT FROM pg_catalog.jsonb_object_keys(OLD.params) d WHERE NOT NEW.params ? d) THEN
			RAISE EXCEPTION 'params of measure % must keep every parameter it has', NEW.name
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = pg_catalog.format('Its parameters are %s.', OLD.params);
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER measure_validate BEFORE INSERT OR UPDATE ON health_score.measure
	FOR EACH ROW EXECUTE FUNCTION health_score._measure_validate();

-- Restore merge (as for rules, 50_rule.sql): a dumped seeded row updates the freshly seeded one.
CREATE FUNCTION health_score._measure_merge_seeded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.seeded THEN
		UPDATE health_score.measure m SET params = NEW.params, description = NEW.description, unit = NEW.unit
		 WHERE m.name = NEW.name AND m.seeded;
		IF FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER measure_merge_seeded BEFORE INSERT ON health_score.measure
	FOR EACH ROW EXECUTE FUNCTION health_score._measure_merge_seeded();

-- Every measure as a typed NULL column, for checking an expression over measures without data.
CREATE FUNCTION health_score._measure_shape()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.string_agg(pg_catalog.format('NULL::%s AS %I', m.type, m.name), ', ' ORDER BY m.name)
	  FROM health_score.measure m
$$;

-- Checks a measure's query without running it: it is prepared with $1 a timestamptz, then planned and read
-- with LIMIT 0; it must return account_id, of the accounts source's key type, and value, of a numeric type.
CREATE FUNCTION health_score._check_measure_query(name text, query text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key_t regtype;
	value_t regtype;
	keytype text := health_score._accounts_key_type();
	msg text; det text; hnt text; st text;
BEGIN
	BEGIN
		-- parsed alone first, so that an error points into the query as written
		EXECUTE pg_catalog.format('PREPARE health_score_measure_check (timestamptz) AS %s', query);
		DEALLOCATE health_score_measure_check;
		EXECUTE pg_catalog.format('SELECT pg_catalog.pg_typeof(q.account_id), pg_catalog.pg_typeof(q.value) '
		                          || E'FROM (SELECT 1) one LEFT JOIN (SELECT * FROM (%s\n) q LIMIT 0) q ON true', query)
		   INTO key_t, value_t USING now();
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
		IF st = '42703' AND msg ~ '^column q\.(account_id|value) does not exist' THEN
			RAISE EXCEPTION 'the query of measure % must return the columns account_id and value', name
				USING ERRCODE = 'undefined_column',
				      HINT = 'Name them: SELECT i.account_id, count(*) AS value FROM invoices i WHERE i.due_date < $1 GROUP BY i.account_id';
		END IF;
		PERFORM health_score._reraise(pg_catalog.format('the query of measure %s is not valid: %s', name, msg), st, det,
			coalesce(nullif(hnt, ''), CASE WHEN st IN ('42P01', '42883', '42704')
			    THEN 'Measure queries run with search_path = pg_catalog, pg_temp: qualify names with their schema, such as public.invoices.'
			    ELSE 'Write one SELECT returning account_id and value; $1 is as_of (timestamptz).' END));
	END;
	IF keytype IS NOT NULL AND health_score._key_type(key_t) IS DISTINCT FROM keytype THEN
		RAISE EXCEPTION 'the query of measure % returns account_id of type %, but the accounts source''s keys are %',
			name, key_t, keytype
			USING ERRCODE = 'datatype_mismatch',
			      HINT = pg_catalog.format('Cast it: SELECT account_id::%s AS account_id, ...', keytype);
	END IF;
	IF keytype IS NULL AND health_score._key_type(key_t) IS NULL THEN
		RAISE EXCEPTION 'the query of measure % returns account_id of type %, which is no account key type', name, key_t
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'Account keys are bigint, integer, text, varchar or uuid.';
	END IF;
	IF health_score._type_family(value_t) NOT IN ('integer', 'numeric') THEN
		RAISE EXCEPTION 'the query of measure % returns value of type %, not a number', name, value_t
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'Return a count, a sum or another number: count(*) AS value, or value::numeric.';
	END IF;
END
$$;

CREATE FUNCTION health_score.add_measure(name text, query text, description text DEFAULT NULL, unit text DEFAULT NULL)
RETURNS health_score.measure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result health_score.measure;
	q text := pg_catalog.rtrim(pg_catalog.btrim(add_measure.query), '; ' || E'\n\t\r');
BEGIN
	PERFORM health_score._check_new_name('measure name', name,
		EXISTS (SELECT FROM health_score.measure m WHERE m.name = add_measure.name),
		'Rules and components name measures as bare words, such as overdue_invoices.',
		'Choose another name, or drop it first: SELECT health_score.drop_measure(' || pg_catalog.quote_literal(name) || ');');
	IF coalesce(q, '') = '' THEN
		RAISE EXCEPTION 'the query of measure % must not be empty', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Write one SELECT returning account_id and value; $1 is as_of (timestamptz).';
	END IF;
	PERFORM health_score._check_measure_query(name, q);
	INSERT INTO health_score.measure AS m (name, kind, type, unit, description, query)
	VALUES (name, 'query', 'float8', unit, description, q)
	RETURNING m.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_measure(text, text, text, text) IS
	'add a measure computed by a query returning account_id and value, with $1 = as_of';

CREATE FUNCTION health_score.drop_measure(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m health_score.measure;
	users text;
BEGIN
	SELECT * INTO m FROM health_score.measure x WHERE x.name = drop_measure.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'measure % does not exist', coalesce(pg_catalog.quote_literal(name), 'NULL')
			USING ERRCODE = 'undefined_object',
			      HINT = 'SELECT name, kind FROM health_score.measure; lists them.';
	END IF;
	IF m.kind <> 'query' THEN
		RAISE EXCEPTION 'measure % is not one added with add_measure (it is of kind %)', name, m.kind
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Only measures added with add_measure can be dropped.';
	END IF;
	SELECT pg_catalog.string_agg(u, ', ' ORDER BY u) INTO users
	  FROM (SELECT 'component ' || c.name AS u FROM health_score.component c WHERE c.measure = drop_measure.name
	        UNION ALL
	        SELECT 'rule ' || r.code FROM health_score.rule r WHERE drop_measure.name = ANY (r.measures)
	        UNION ALL
	        SELECT 'goal ' || g.id FROM health_score.goal g WHERE g.measure = drop_measure.name
	        UNION ALL
	        SELECT 'commitment ' || c.id FROM health_score.plan_commitment c WHERE c.measure = drop_measure.name) x;
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop measure % because % uses it', name, users
			USING ERRCODE = 'dependent_objects_still_exist',
			      HINT = 'Drop the components (drop_component), delete or rewrite the rules, and delete the goals and commitments first.';
	END IF;
	DELETE FROM health_score.measure x WHERE x.name = drop_measure.name;
END
$$;
COMMENT ON FUNCTION health_score.drop_measure(text) IS
	'drop a measure added with add_measure; refused while a component or rule uses it';

-- Metric names of the metrics sources, and touchpoint kinds of the touchpoints sources, become measures
-- (all sources, or the one given). A name that another measure already has is left out with a warning.
CREATE FUNCTION health_score._discover_measures(only_relation regclass DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	found_names text[];
	taken text;
BEGIN
	FOR src IN SELECT s.kind, s.relation, s.columns FROM health_score.sources s
	            WHERE (s.kind = 'metrics' OR (s.kind = 'touchpoints' AND s.columns ? 'kind'))
	              AND (only_relation IS NULL OR s.relation = only_relation)
	            ORDER BY s.relation::oid LOOP
		-- as a refresh would, a superuser reads only what no less trusted role can change (05_trust.sql)
		PERFORM health_score._check_source_trust(src.kind, src.relation);
		IF src.kind = 'metrics' THEN
			EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT s.%1$I::text) FROM %2$s s WHERE s.%1$I IS NOT NULL',
			                          src.columns ->> 'metric', src.relation) INTO found_names;
		ELSE
			-- (the kinds normalised once each, not once per row)
			EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT ''days_since_'' || health_score._touchpoint_kind(k.kind)) '
			                          'FROM (SELECT DISTINCT s.%1$I::text AS kind FROM %2$s s) k WHERE health_score._touchpoint_kind(k.kind) <> ''''',
			                          src.columns ->> 'kind', src.relation) INTO found_names;
		END IF;
		SELECT pg_catalog.string_agg(pg_catalog.quote_literal(n), ', ' ORDER BY n) INTO taken
		  FROM pg_catalog.unnest(found_names) n
		 WHERE EXISTS (SELECT FROM health_score.measure m WHERE m.name = n AND m.kind <> CASE src.kind WHEN 'metrics' THEN 'metric' ELSE 'touchpoint' END)
		    OR pg_catalog.octet_length(n) > 63 OR n ~ '^_' OR n = 'account_id';
		IF taken IS NOT NULL THEN
			RAISE WARNING 'the % source % has names that cannot become measures: %', src.kind, src.relation, taken
				USING DETAIL = 'Another measure has the name, or it is longer than 63 bytes, starts with _ or is account_id.',
				      HINT = 'Rename them in the source (a view can map them).';
		END IF;
		INSERT INTO health_score.measure (name, kind, source, type, unit, params, description)
		SELECT n, CASE src.kind WHEN 'metrics' THEN 'metric' ELSE 'touchpoint' END, src.kind, 'float8',
		       CASE src.kind WHEN 'metrics' THEN NULL ELSE 'days' END,
		       CASE src.kind WHEN 'metrics' THEN '{}' ELSE pg_catalog.jsonb_build_object('kind', pg_catalog.substr(n, 12)) END,
		       CASE src.kind WHEN 'metrics' THEN pg_catalog.format('The latest value of metric %s at or before as_of', n)
		            ELSE pg_catalog.format('Days since the last touchpoint of kind %s (+Infinity when there was none)', pg_catalog.substr(n, 12)) END
		  FROM pg_catalog.unnest(found_names) n
		 WHERE pg_catalog.octet_length(n) <= 63 AND n !~ '^_' AND n <> 'account_id'
		ON CONFLICT (name) DO NOTHING;
	END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION health_score.add_measure(text, text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION health_score.drop_measure(text) FROM PUBLIC;
