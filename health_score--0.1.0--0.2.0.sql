-- health_score 0.1.0 to 0.2.0 (ALTER EXTENSION health_score UPDATE TO '0.2.0').
-- See CHANGELOG.md. tools/upgrade_test.sh checks that the result equals a fresh install of 0.2.0, keeps
-- every row of the user's sources, configuration, history and flags (a rule's window parameters move to the
-- measure they are counted over), and scores as a fresh install does.

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit

-- The views (created by add_source, not members of the extension) use functions this update replaces:
-- dropped here, rebuilt at the end.
DO $$
DECLARE
	v record;
BEGIN
	FOR v IN SELECT c.relname FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v' LOOP
		EXECUTE pg_catalog.format('DROP VIEW health_score.%I', v.relname);
	END LOOP;
END
$$;

-- Results and the refresh lock ----------------------------------------------------------------------------------
ALTER TABLE health_score.refresh_log DROP CONSTRAINT refresh_log_status_check;
ALTER TABLE health_score.refresh_log
	ADD CONSTRAINT refresh_log_status_check CHECK (status IN ('ok', 'stale', 'failed', 'skipped', 'running')),
	ADD COLUMN pid integer,
	ADD COLUMN backend_start timestamptz,
	ADD COLUMN mode text;
ALTER TABLE health_score.account_health ADD COLUMN components jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN computed_score float8, ADD COLUMN profile_version bigint,
	ADD COLUMN stale_sources text[] NOT NULL DEFAULT '{}';
-- (rows scored before 0.2.0 keep computed_score and profile_version NULL: backtest() reads score for them,
-- explain() the profile's weights)
ALTER TABLE health_score.health_history ADD COLUMN components jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN computed_score float8, ADD COLUMN profile_version bigint;
ALTER TABLE health_score.sources ADD COLUMN max_lag interval CHECK (max_lag > interval '0');
CREATE TABLE health_score.refresh_lock ();
COMMENT ON TABLE health_score.refresh_lock IS
	'always empty: a refresh holds it in SHARE UPDATE EXCLUSIVE mode, so one refresh runs at a time and sources and rules change only between refreshes';

-- The schema of the work tables -------------------------------------------------------------------------------
CREATE SCHEMA health_score_work;
COMMENT ON SCHEMA health_score_work IS
	'the work tables of the refreshes and evaluations running now, one set per session; internal to health_score';

-- Change capture and the incremental state -------------------------------------------------------------------
CREATE TABLE health_score.activity_inserted (
	source regclass NOT NULL,
	account_id text NOT NULL,
	user_id text,
	feature text,
	weight float8,
	occurred_at timestamptz NOT NULL,
	-- the writing transaction: a full refresh deletes the rows its snapshot saw
	xact xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);
COMMENT ON TABLE health_score.activity_inserted IS
	'rows inserted into the activity sources since the last refresh (or later than its as_of): the incremental refresh folds them in and deletes them';
CREATE TABLE health_score.activity_changed (
	source regclass NOT NULL,
	account_id text,
	xact xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);
COMMENT ON TABLE health_score.activity_changed IS
	'accounts whose activity rows were updated or deleted since the last refresh (recomputed from their rows); account_id NULL: the source was truncated (the state is rebuilt)';
ALTER TABLE health_score.activity_inserted ENABLE ROW LEVEL SECURITY;
ALTER TABLE health_score.activity_changed ENABLE ROW LEVEL SECURITY;
CREATE POLICY writers_of_the_source ON health_score.activity_inserted FOR INSERT
	WITH CHECK (pg_catalog.has_table_privilege(source, 'INSERT'));
CREATE POLICY writers_of_the_source ON health_score.activity_changed FOR INSERT
	WITH CHECK (pg_catalog.has_table_privilege(source, 'UPDATE, DELETE, TRUNCATE'));
CREATE POLICY refresh_reads ON health_score.activity_inserted FOR SELECT USING (true);
CREATE POLICY refresh_reads ON health_score.activity_changed FOR SELECT USING (true);
CREATE POLICY refresh_consumes ON health_score.activity_inserted FOR DELETE USING (true);
CREATE POLICY refresh_consumes ON health_score.activity_changed FOR DELETE USING (true);
GRANT INSERT ON health_score.activity_inserted, health_score.activity_changed TO PUBLIC;
CREATE UNLOGGED TABLE health_score.activity_state (
	as_of timestamptz NOT NULL,
	signature jsonb NOT NULL,
	built_at timestamptz NOT NULL,
	built_as_of timestamptz NOT NULL
);
CREATE UNLOGGED TABLE health_score.activity_state_account (
	account_id text PRIMARY KEY,
	ref_at timestamptz NOT NULL,
	events bigint NOT NULL,
	events_30 bigint NOT NULL,
	events_90 bigint,
	last_at timestamptz,
	decayed float8[] NOT NULL,
	recheck_after timestamptz,
	users text[] NOT NULL DEFAULT '{}',
	user_first timestamptz[] NOT NULL DEFAULT '{}',
	user_last timestamptz[] NOT NULL DEFAULT '{}',
	user_last_before timestamptz[] NOT NULL DEFAULT '{}',
	features text[] NOT NULL DEFAULT '{}',
	feature_first timestamptz[] NOT NULL DEFAULT '{}',
	feature_last timestamptz[] NOT NULL DEFAULT '{}'
) WITH (fillfactor = 70);

-- The run passed from stage to stage --------------------------------------------------------------------------
CREATE TYPE health_score._run AS (
	as_of timestamptz,
	keytype text,
	usertype text,
	has_activity boolean,
	has_users boolean,
	has_feature boolean,
	has_support boolean,
	has_surveys boolean,
	has_touch boolean,
	has_touch_kind boolean,
	has_metrics boolean,
	halflives interval[],
	halflife_seconds float8[],
	key_features text[],
	w30 timestamptz,
	w60 timestamptz,
	w90 timestamptz,
	w120 timestamptz,
	new_users_from timestamptz,
	adopted_from timestamptz,
	aged_before timestamptz,
	unanswered_from timestamptz,
	detractor_from timestamptz,
	detractor_max_rating float8,
	earlier_to timestamptz,
	earlier_from timestamptz,
	-- the sources stale at as_of (source_freshness), and their kinds: rules over those kinds' measures hold
	stale_sources text[],
	stale_kinds text[],
	-- whether the activity pass counts events_90d: only when a rule or component uses it, or an evaluation
	-- (backtest, calibrate) reads every measure; it costs a third of that pass
	count_events_90d boolean,
	-- how the activity stage reads the activity (30_activity.sql): asked 'auto', 'full' or 'incremental' by
	-- refresh(), or 'point_in_time' by the evaluations (no state read or written); then what it did, and why
	-- it did not read incrementally
	activity_mode text,
	activity_reason text
);
CREATE TYPE health_score._key_times AS (
	keys text[],
	first_at timestamptz[],
	last_at timestamptz[],
	last_before timestamptz[]
);

-- Source kinds: metrics, and touchpoints' kind -------------------------------------------------------------
CREATE OR REPLACE FUNCTION health_score._source_catalog()
RETURNS TABLE (kind text, canonical text, class text, required boolean, ord integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.kind, c.canonical, c.class, c.required, c.ord::integer
	  FROM (VALUES
		('accounts', 'account_id', 'key', true, 1), ('accounts', 'name', 'label', false, 2),
		('accounts', 'segment', 'label', false, 3), ('accounts', 'lifecycle_stage', 'label', false, 4),
		('accounts', 'plan', 'label', false, 5), ('accounts', 'owner', 'label', false, 6),
		('accounts', 'seats', 'count', false, 7), ('accounts', 'arr', 'number', false, 8),
		('accounts', 'renewal_date', 'time', false, 9), ('accounts', 'started_at', 'time', false, 10),
		('accounts', 'cancelled_at', 'time', false, 11), ('accounts', 'parent_account_id', 'key', false, 12),
		('activity', 'account_id', 'key', true, 1), ('activity', 'user_id', 'user', false, 2),
		('activity', 'occurred_at', 'time', true, 3), ('activity', 'feature', 'label', false, 4),
		('activity', 'weight', 'number', false, 5),
		('support_cases', 'account_id', 'key', true, 1), ('support_cases', 'opened_at', 'time', true, 2),
		('support_cases', 'closed_at', 'time', false, 3), ('support_cases', 'priority', 'label', false, 4),
		('surveys', 'account_id', 'key', true, 1), ('surveys', 'responded_at', 'time', true, 2),
		('surveys', 'rating', 'number', false, 3), ('surveys', 'category', 'label', false, 4),
		('touchpoints', 'account_id', 'key', true, 1), ('touchpoints', 'occurred_at', 'time', true, 2),
		('touchpoints', 'direction', 'label', false, 3), ('touchpoints', 'answered', 'flag', false, 4),
		('touchpoints', 'kind', 'label', false, 5),
		('metrics', 'account_id', 'key', true, 1), ('metrics', 'metric', 'label', true, 2),
		('metrics', 'value', 'number', true, 3), ('metrics', 'measured_at', 'time', true, 4)
	  ) AS c (kind, canonical, class, required, ord)
$$;
CREATE OR REPLACE FUNCTION health_score._source_kinds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.array_agg(DISTINCT c.kind ORDER BY c.kind) FROM health_score._source_catalog() c $$;
ALTER TABLE health_score.sources DROP CONSTRAINT sources_kind_check,
	ADD CONSTRAINT sources_kind_check CHECK (kind = ANY (health_score._source_kinds()));

-- The catalog: measures, components, rule conditions, per-profile rule parameters -----------------------------
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
CREATE TABLE health_score.profile_version (
	version bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	profile text NOT NULL,
	-- the profile's row without name and version: segment, lifecycle_stage, priority, half_life, ...
	settings jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by name NOT NULL DEFAULT current_user,
	-- what made it: an edit, or calibrate() with what it fitted and measured
	note text,
	fit jsonb
);
CREATE INDEX profile_version_profile ON health_score.profile_version (profile, version);
SELECT pg_catalog.pg_extension_config_dump('health_score.profile_version', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.profile_version', 'version'), '');
CREATE TABLE health_score.override_audit (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id text NOT NULL,
	action text NOT NULL CHECK (action IN ('set', 'changed', 'cleared')),
	changed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	changed_by name NOT NULL DEFAULT current_user,
	old_score float8,
	new_score float8,
	old_reason text,
	new_reason text,
	old_expires_at timestamptz,
	new_expires_at timestamptz
);
CREATE INDEX override_audit_account ON health_score.override_audit (account_id, changed_at);
COMMENT ON TABLE health_score.override_audit IS 'every change to health_score.override: who, when, old and new';
SELECT pg_catalog.pg_extension_config_dump('health_score.override_audit', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.override_audit', 'id'), '');
CREATE TABLE health_score.override (
	account_id text PRIMARY KEY,
	score float8 NOT NULL CHECK (score >= 0 AND score <= 100),
	-- (a character other than white space and the no-break spaces: blanks of any kind are no reason)
	reason text NOT NULL CHECK (reason ~ '[^[:space:]\u00a0\u2007\u202f\ufeff]'),
	expires_at timestamptz NOT NULL,
	set_by name NOT NULL DEFAULT current_user,
	set_at timestamptz NOT NULL DEFAULT now(),
	CHECK (expires_at > set_at),
	-- the audit row of its last change (so a restore, which brings both, records no change)
	audit_id bigint REFERENCES health_score.override_audit (id)
);
COMMENT ON TABLE health_score.override IS
	'a manager''s score per account, in force from set_at until expires_at (set_override, clear_override)';
SELECT pg_catalog.pg_extension_config_dump('health_score.override', '');
ALTER TABLE health_score.profile ADD COLUMN rule_params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE health_score.profile ADD COLUMN version bigint REFERENCES health_score.profile_version (version);
ALTER TABLE health_score.rule ADD COLUMN condition text, ADD COLUMN measures text[] NOT NULL DEFAULT '{}';

-- Plays, goals and plans; parent accounts and pass-through dimensions -------------------------------------
ALTER TABLE health_score.rule ADD COLUMN task_due_in interval;
ALTER TABLE health_score.sources ADD COLUMN dimensions jsonb NOT NULL DEFAULT '{}';
ALTER TABLE health_score.account_health ADD COLUMN parent_account_id text, ADD COLUMN dimensions jsonb NOT NULL DEFAULT '{}';
ALTER TABLE health_score.health_history ADD COLUMN dimensions jsonb NOT NULL DEFAULT '{}';
CREATE TABLE health_score.task (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id text NOT NULL,
	-- the flag the task answers: the latest one of its account and rule raised while it was open
	flag_id bigint REFERENCES health_score.flag (id) ON DELETE SET NULL,
	rule text NOT NULL REFERENCES health_score.rule (code) ON UPDATE CASCADE,
	title text NOT NULL,
	owner text,
	due_on date NOT NULL,
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'dismissed')),
	-- what came of it (complete_task) or why it was dismissed (dismiss_task)
	outcome text,
	created_at timestamptz NOT NULL,
	closed_at timestamptz,
	closed_by name,
	CHECK ((status = 'open') = (closed_at IS NULL))
);
COMMENT ON TABLE health_score.task IS
	'plays: a task opened by a flag of a rule with task_due_in, owned by the account''s owner, due on a date, done or dismissed by the team';
CREATE UNIQUE INDEX task_open ON health_score.task (account_id, rule) WHERE status = 'open';
CREATE INDEX task_flag ON health_score.task (flag_id);
SELECT pg_catalog.pg_extension_config_dump('health_score.task', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.task', 'id'), '');
CREATE TABLE health_score.goal (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id text NOT NULL,
	name text NOT NULL CHECK (name ~ '[^[:space:]]'),
	measure text NOT NULL REFERENCES health_score.measure (name),
	-- the measure's value when the goal was set (attainment 0) and the value to reach (attainment 1)
	baseline float8 NOT NULL DEFAULT 0,
	target float8 NOT NULL,
	starts_on date NOT NULL,
	due_on date NOT NULL,
	set_by name NOT NULL DEFAULT current_user,
	set_at timestamptz NOT NULL DEFAULT now(),
	-- closed goals are no longer tracked (close_goal)
	closed_at timestamptz,
	outcome text,
	CHECK (target <> baseline AND due_on > starts_on)
);
COMMENT ON TABLE health_score.goal IS
	'customers'' desired outcomes: a measure to move from baseline to target by due_on (add_goal, close_goal)';
CREATE INDEX goal_account ON health_score.goal (account_id);
SELECT pg_catalog.pg_extension_config_dump('health_score.goal', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.goal', 'id'), '');
CREATE TABLE health_score.goal_progress (
	goal_id bigint NOT NULL REFERENCES health_score.goal (id) ON DELETE CASCADE,
	day date NOT NULL,
	as_of timestamptz NOT NULL,
	-- the measure at as_of (NULL when the account has no value for it)
	value float8,
	-- (value - baseline) / (target - baseline): 0 at the baseline, 1 at the target, past 1 beyond it
	attainment float8,
	-- where the straight line from starts_on (0) to due_on (1) stands at as_of
	expected float8 NOT NULL,
	-- expected - attainment (attainment capped at 1), when positive: how far behind the line the goal is
	shortfall float8,
	PRIMARY KEY (goal_id, day)
);
COMMENT ON TABLE health_score.goal_progress IS
	'each open goal''s value, attainment and shortfall against the straight line to its due date, per day of refresh';
SELECT pg_catalog.pg_extension_config_dump('health_score.goal_progress', '');
CREATE TABLE health_score.plan_template (
	kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
	step_no integer NOT NULL CHECK (step_no > 0),
	step text NOT NULL CHECK (step ~ '[^[:space:]]'),
	-- due this long after the plan starts
	due_after interval NOT NULL CHECK (due_after >= interval '0'),
	description text,
	seeded boolean NOT NULL DEFAULT false,
	PRIMARY KEY (kind, step_no),
	UNIQUE (kind, step)
);
COMMENT ON TABLE health_score.plan_template IS
	'the kinds of plan start_plan opens and their steps, each due a set time after the plan starts';
SELECT pg_catalog.pg_extension_config_dump('health_score.plan_template', '');
INSERT INTO health_score.plan_template (kind, step_no, step, due_after, description, seeded) VALUES
('win_back', 1, 'team review', '2 days', 'The account team reviews the account''s history, flags and contacts and agrees who leads.', true),
('win_back', 2, 'follow-up call', '5 days', 'Call the main contact: listen, acknowledge what went wrong, ask for a meeting.', true),
('win_back', 3, 'meeting', '14 days', 'Meet the sponsor and users: agree the problems to fix and what success looks like.', true),
('win_back', 4, 'proposal', '21 days', 'Send the plan: fixes, service commitments, training, and their dates.', true),
('win_back', 5, 'implementation', '60 days', 'Deliver the plan and keep the commitments; review the results with the sponsor.', true);
CREATE TABLE health_score.plan (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id text NOT NULL,
	kind text NOT NULL,
	owner text,
	started_at timestamptz NOT NULL DEFAULT now(),
	started_by name NOT NULL DEFAULT current_user,
	-- set when the last step is completed
	completed_at timestamptz
);
COMMENT ON TABLE health_score.plan IS 'plans started for accounts (start_plan), with their steps in plan_step';
CREATE INDEX plan_account ON health_score.plan (account_id);
SELECT pg_catalog.pg_extension_config_dump('health_score.plan', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.plan', 'id'), '');
CREATE TABLE health_score.plan_step (
	plan_id bigint NOT NULL REFERENCES health_score.plan (id) ON DELETE CASCADE,
	step_no integer NOT NULL,
	step text NOT NULL,
	due_on date NOT NULL,
	done_at timestamptz,
	done_by name,
	note text,
	PRIMARY KEY (plan_id, step_no),
	UNIQUE (plan_id, step)
);
COMMENT ON TABLE health_score.plan_step IS 'the steps of each plan, due dates and who completed them when (complete_step)';
SELECT pg_catalog.pg_extension_config_dump('health_score.plan_step', '');
CREATE TABLE health_score.plan_commitment (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	plan_id bigint NOT NULL REFERENCES health_score.plan (id) ON DELETE CASCADE,
	description text NOT NULL CHECK (description ~ '[^[:space:]]'),
	measure text NOT NULL REFERENCES health_score.measure (name),
	at_most float8,
	at_least float8,
	-- the last refresh's check: when, the measure's value, whether it breached, and since when it has
	checked_at timestamptz,
	value float8,
	breached boolean,
	breached_since timestamptz,
	CHECK (at_most IS NOT NULL OR at_least IS NOT NULL),
	CHECK (at_most IS NULL OR at_least IS NULL OR at_least <= at_most)
);
COMMENT ON TABLE health_score.plan_commitment IS
	'service levels a plan commits to: a measure kept at most or at least a value, checked by each refresh (add_commitment)';
CREATE INDEX plan_commitment_plan ON health_score.plan_commitment (plan_id);
SELECT pg_catalog.pg_extension_config_dump('health_score.plan_commitment', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('health_score.plan_commitment', 'id'), '');

-- Functions that are gone ----------------------------------------------------------------------------------
DROP FUNCTION health_score._num(jsonb, text);
DROP FUNCTION health_score._rule_defaults(text);
DROP FUNCTION health_score._rule_sql(text, jsonb, boolean, boolean, boolean, boolean, boolean);
DROP FUNCTION health_score._rules_sql(text[], jsonb, boolean, boolean, boolean, boolean, boolean);
DROP FUNCTION health_score._run_stage(text, text, text, text, text, text, timestamptz[], text[]);
DROP FUNCTION health_score.refresh(timestamptz, boolean);
DROP PROCEDURE health_score.run_refresh(timestamptz);
DROP FUNCTION health_score.schedule_refresh(text);
DROP FUNCTION health_score.add_source(text, regclass, jsonb);
-- The aggregates whose state type changes are dropped and created again: ALTER AGGREGATE cannot change a state
-- type. Objects of the user's own that use them would make the drop fail with a hint to cascade, which would
-- drop the user's objects: say instead which they are and what to do.
DO $$
DECLARE
	users_objects text;
BEGIN
	SELECT pg_catalog.string_agg(DISTINCT CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
	                                          THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0)
	                                          ELSE pg_catalog.pg_describe_object(d.classid, d.objid, 0) END, ', ')
	  INTO users_objects
	  FROM pg_catalog.pg_depend d
	  LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid
	 WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	   AND d.refobjid IN (SELECT p.oid FROM pg_catalog.pg_proc p
	                       WHERE p.prokind = 'a' AND p.pronamespace = 'health_score'::pg_catalog.regnamespace
	                         AND p.proname IN ('decayed_sum', 'nps', 'active_users', 'licence_utilisation',
	                                           'user_windows', 'auc', '_activity_measures'))
	   AND d.deptype = 'n'
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
	                    WHERE e.deptype = 'e'
	                      AND ((e.classid = d.classid AND e.objid = d.objid)
	                           OR (e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = r.ev_class)));
	IF users_objects IS NOT NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'dependent_objects_still_exist',
			MESSAGE = 'objects of your own use health_score aggregates that this update creates again: ' || users_objects,
			DETAIL = 'decayed_sum, nps, active_users, licence_utilisation, user_windows, auc and _activity_measures change their state types in 0.2.0, which needs them dropped and created again.',
			HINT = 'Save their definitions (pg_get_viewdef, pg_get_functiondef), drop them, run ALTER EXTENSION health_score UPDATE, and create them again.';
	END IF;
END
$$;
-- decayed_sum and nps keep their states by value now (src/decay.c, src/survey.c)
DROP AGGREGATE health_score.decayed_sum(timestamptz, float8, timestamptz, interval);
DROP AGGREGATE health_score.decayed_sum(timestamptz, timestamptz, interval);
DROP AGGREGATE health_score.nps(integer);
DROP FUNCTION health_score.decayed_sum_transition(internal, timestamptz, float8, timestamptz, interval),
	health_score.decayed_sum_transition(internal, timestamptz, timestamptz, interval),
	health_score.decayed_sum_combine(internal, internal), health_score.decayed_sum_serialize(internal),
	health_score.decayed_sum_deserialize(bytea, internal), health_score.decayed_sum_final(internal),
	health_score.nps_transition(internal, integer), health_score.nps_combine(internal, internal),
	health_score.nps_serialize(internal), health_score.nps_deserialize(bytea, internal),
	health_score.nps_final(internal);
-- active_users, licence_utilisation, user_windows, auc and _activity_measures keep bytea states now, which
-- parallel workers and other nodes pass as they are (src/state.c)
DROP AGGREGATE health_score.active_users(bigint);
DROP AGGREGATE health_score.active_users(text);
DROP AGGREGATE health_score.active_users(uuid);
DROP AGGREGATE health_score.licence_utilisation(bigint, integer);
DROP AGGREGATE health_score.licence_utilisation(text, integer);
DROP AGGREGATE health_score.licence_utilisation(uuid, integer);
DROP AGGREGATE health_score.user_windows(bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);
DROP AGGREGATE health_score.user_windows(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);
DROP AGGREGATE health_score.user_windows(uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);
DROP AGGREGATE health_score.auc(float8, boolean);
DROP AGGREGATE health_score._activity_measures(timestamptz, text, float8, timestamptz, timestamptz, timestamptz, interval[], text[]);
DROP FUNCTION health_score.active_users_transition(internal, bigint),
	health_score.active_users_transition(internal, text),
	health_score.active_users_transition(internal, uuid),
	health_score.licence_utilisation_transition(internal, bigint, integer),
	health_score.licence_utilisation_transition(internal, text, integer),
	health_score.licence_utilisation_transition(internal, uuid, integer),
	health_score.users_combine(internal, internal),
	health_score.users_serialize(internal),
	health_score.users_deserialize(bytea, internal),
	health_score.active_users_final(internal),
	health_score.licence_utilisation_final(internal),
	health_score.user_windows_transition(internal, bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
	health_score.user_windows_transition(internal, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
	health_score.user_windows_transition(internal, uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
	health_score.user_windows_combine(internal, internal),
	health_score.user_windows_serialize(internal),
	health_score.user_windows_deserialize(bytea, internal),
	health_score.user_windows_final(internal),
	health_score.auc_transition(internal, float8, boolean),
	health_score.auc_combine(internal, internal),
	health_score.auc_serialize(internal),
	health_score.auc_deserialize(bytea, internal),
	health_score.auc_final(internal),
	health_score._activity_measures_transition(internal, timestamptz, text, float8, timestamptz, timestamptz, timestamptz, interval[], text[]),
	health_score._activity_measures_combine(internal, internal),
	health_score._activity_measures_serialize(internal),
	health_score._activity_measures_deserialize(bytea, internal),
	health_score._activity_measures_final(internal);

-- Functions, new and changed, as in the install script ---------------------------------------------------------
-- Distinct users and licence utilisation: active_users, licence_utilisation and utilisation (src/users.c).
-- One hash-set state serves every key type and both aggregates; the transition picks the key type.

CREATE FUNCTION health_score.active_users_transition(bytea, bigint)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(bytea, text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(bytea, uuid)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, bigint, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, text, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, uuid, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.users_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_users_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: a group without keys has no state and counts 0, not NULL.
CREATE FUNCTION health_score.active_users_final(bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_active_users_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_final(bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- user_windows: recent, previous and new users of a group from one set (src/users.c).
CREATE FUNCTION health_score.user_windows_transition(bytea, bigint, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(bytea, text, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(bytea, uuid, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: a group without rows counts {0,0,0}, not NULL.
CREATE FUNCTION health_score.user_windows_final(bytea)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_user_windows_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- How well a score separates two outcomes: the auc aggregate (src/auc.c).

CREATE FUNCTION health_score.auc_transition(bytea, float8, boolean)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_auc_trans_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_auc_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_final(bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_auc_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._activity_measures_transition(bytea, timestamptz, text, float8, timestamptz,
														   timestamptz, timestamptz, interval[], text[])
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_activity_measures_transition_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._activity_measures_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_activity_measures_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._activity_measures_final(bytea)
RETURNS health_score._activity_measures
AS 'MODULE_PATHNAME', 'hs_activity_measures_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score.decayed_sum_step(float8, timestamptz, float8, timestamptz, interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_step'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score.decayed_sum_step(float8, timestamptz, timestamptz, interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_step_unweighted'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score.decayed_sum_value(float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score.nps_step(bigint, integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_nps_step'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score.nps_value(bigint)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_nps_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._carry_decayed(decayed float8[], ref_at timestamptz, as_of timestamptz,
											half_lives interval[], added float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'hs_carry_decayed'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._key_times_transition(bytea, text, timestamptz, timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_key_times_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._key_times_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_key_times_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._key_times_final(bytea)
RETURNS health_score._key_times
AS 'MODULE_PATHNAME', 'hs_key_times_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._count_after(times timestamptz[], after timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_count_after'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._feature_bits(features text[], first_at timestamptz[], last_at timestamptz[],
										   key_features text[], used_after timestamptz, adopted_at timestamptz)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_feature_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._unanswered_transition(bytea, timestamptz, boolean, boolean, timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_unanswered_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._unanswered_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_unanswered_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._unanswered_final(bytea)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_unanswered_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._inputs(
	engagement boolean, decayed_events float8, expected_per_day float8, events_30d bigint, last_activity_at timestamptz,
	utilisation boolean, active_users_30d bigint, seats integer, ratio float8,
	adoption boolean, key_features text[], used_30d text[],
	support boolean, open_cases bigint, aged_open_cases bigint, cases_30d bigint, cases_previous_90d bigint,
	sentiment boolean, responses_90d bigint, nps_90d float8, average_rating_90d float8, promoters_90d bigint,
	detractors_90d bigint,
	relationship boolean, open_observations jsonb, unanswered_outbound_30d bigint, last_response_at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'hs_inputs'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION health_score._source_columns(kind text)
RETURNS TABLE (canonical text, class text, required boolean, ord integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.canonical, c.class, c.required, c.ord FROM health_score._source_catalog() c WHERE c.kind = $1 ORDER BY c.ord
$$;

CREATE OR REPLACE FUNCTION health_score._default_max_lag(kind text)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $1 WHEN 'activity' THEN interval '3 days' WHEN 'metrics' THEN interval '35 days'
	               WHEN 'touchpoints' THEN interval '60 days' WHEN 'support_cases' THEN interval '90 days'
	               WHEN 'surveys' THEN interval '180 days' END
$$;

CREATE OR REPLACE FUNCTION health_score._accounts_key_type()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT health_score._key_type(s.key_type::regtype) FROM health_score.sources s WHERE s.kind = 'accounts' $$;

CREATE OR REPLACE FUNCTION health_score._key_text(key text, keytype text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $2 WHEN 'bigint' THEN $1::bigint::text WHEN 'uuid' THEN $1::uuid::text ELSE $1 END
$$;

CREATE OR REPLACE FUNCTION health_score._check_new_name(label text, name text, taken boolean, name_hint text, taken_hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.octet_length(name) > 63 THEN
		RAISE EXCEPTION '% % must be a lower-case word of letters, digits and _, starting with a letter (at most 63 bytes)',
			label, coalesce(pg_catalog.quote_literal(name), 'NULL')
			USING ERRCODE = 'invalid_name', HINT = name_hint;
	END IF;
	IF taken THEN
		RAISE EXCEPTION '% % already exists', pg_catalog.split_part(label, ' ', 1), name
			USING ERRCODE = 'duplicate_object', HINT = taken_hint;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score._view_column_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['account_id', 'name', 'segment', 'lifecycle_stage', 'plan', 'owner', 'seats', 'arr', 'renewal_date',
	             'days_to_renewal', 'profile', 'score', 'band', 'band_rank', 'engagement', 'utilisation', 'adoption',
	             'support', 'sentiment', 'relationship', 'components', 'score_30d_ago', 'score_30d_ago_day',
	             'score_change_30d', 'open_flags', 'open_red_flags', 'open_amber_flags', 'at_risk', 'as_of',
	             'refreshed_at', 'computed_score', 'overridden', 'overridden_by', 'override_reason',
	             'override_expires_at', 'stale_sources', 'stale', 'parent_account_id', 'open_tasks', 'dimension',
	             'value', 'all', 'started_at', 'cancelled_at']
$$;

CREATE OR REPLACE FUNCTION health_score._check_dimensions(kind text, relation regclass, dims jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result jsonb := '{}';
	d record;
BEGIN
	IF dims IS NULL THEN
		RETURN result;
	END IF;
	IF kind <> 'accounts' THEN
		RAISE EXCEPTION 'only an accounts source has dimensions, not one of kind %', kind
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Map dimensions such as product or region in the accounts source''s columns.';
	END IF;
	IF pg_catalog.jsonb_typeof(dims) = 'array'
	   AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(dims) e WHERE pg_catalog.jsonb_typeof(e) <> 'string') THEN
		SELECT coalesce(pg_catalog.jsonb_object_agg(e, e), '{}') INTO dims FROM pg_catalog.jsonb_array_elements_text(dims) e;
	END IF;
	IF pg_catalog.jsonb_typeof(dims) <> 'object'
	   OR EXISTS (SELECT FROM pg_catalog.jsonb_each(dims) e WHERE pg_catalog.jsonb_typeof(e.value) <> 'string') THEN
		RAISE EXCEPTION 'dimensions must be a list of column names of % or an object of names to column names', relation
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example ''{"dimensions": ["product", "region"]}'' or ''{"dimensions": {"region": "sales_region"}}''.';
	END IF;
	FOR d IN SELECT e.key, e.value FROM pg_catalog.jsonb_each_text(dims) e ORDER BY e.key LOOP
		IF d.key !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.octet_length(d.key) > 63 OR d.key = ANY (health_score._view_column_names()) THEN
			RAISE EXCEPTION 'dimension name % must be a lower-case word of letters, digits and _ that the views do not use', health_score._q(d.key)
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Name it with the object form, such as ''{"dimensions": {"sales_region": "region"}}''; the views use: '
				             || pg_catalog.array_to_string(health_score._view_column_names(), ', ') || '.';
		END IF;
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
		                WHERE a.attrelid = relation AND a.attname = d.value AND a.attnum > 0 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column % of relation % does not exist', health_score._q(d.value), relation
				USING ERRCODE = 'undefined_column',
				      DETAIL = pg_catalog.format('dimensions maps %s to it.', d.key);
		END IF;
		IF NOT pg_catalog.has_column_privilege(relation, d.value, 'SELECT') THEN
			RAISE EXCEPTION 'permission denied to read column % of relation %', health_score._q(d.value), relation
				USING ERRCODE = 'insufficient_privilege',
				      HINT = pg_catalog.format('GRANT SELECT (%I) ON %s TO %I;', d.value, relation, current_user);
		END IF;
		result := result || pg_catalog.jsonb_build_object(d.key, d.value);
	END LOOP;
	RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION health_score.add_source(kind text, relation regclass, columns jsonb DEFAULT '{}',
										 max_lag interval DEFAULT NULL)
RETURNS health_score.sources
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel_kind "char";
	rel_persistence "char";
	col record;
	mapped text;
	att record;
	resolved jsonb := '{}';
	keytype text;
	key_fam text;
	other record;
	dims jsonb;
	accounts_row health_score.sources;
	result health_score.sources;
	k text;
	dup text;
	obstacle text;
	kinds constant text[] := health_score._source_kinds();
BEGIN
	IF kind IS NULL OR NOT kind = ANY (kinds) THEN
		RAISE EXCEPTION 'unknown source kind %', coalesce(health_score._q(kind), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use one of: ' || pg_catalog.array_to_string(kinds, ', ') || '.';
	END IF;
	IF relation IS NULL THEN
		RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF max_lag <= interval '0' OR (max_lag IS NOT NULL AND kind = 'accounts') THEN
		RAISE EXCEPTION 'max_lag must be a positive interval for a source of kind %, not %', kind,
			CASE WHEN kind = 'accounts' THEN 'any (the accounts source is never stale)' ELSE max_lag::text END
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('Leave it out for the default of %s, or give the age after which the newest row means the feed stalled, such as ''2 days''.',
			                               coalesce(health_score._default_max_lag(kind)::text, 'none'));
	END IF;
	columns := coalesce(columns, '{}');
	IF pg_catalog.jsonb_typeof(columns) <> 'object' THEN
		RAISE EXCEPTION 'columns must be a JSON object mapping canonical names to column names of %', relation
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example ''{"occurred_at": "ts"}''.';
	END IF;

	SELECT c.relkind, c.relpersistence INTO rel_kind, rel_persistence FROM pg_catalog.pg_class c WHERE c.oid = relation;
	IF rel_kind IS NULL THEN
		RAISE EXCEPTION 'relation with OID % does not exist', relation::oid USING ERRCODE = 'undefined_table';
	END IF;
	IF rel_kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		RAISE EXCEPTION '% is not a table, view, materialized view or foreign table', relation
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF rel_persistence = 't' THEN
		RAISE EXCEPTION '% is temporary: other sessions, the scheduled refresh among them, cannot read it', relation
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Register a permanent table or view (an unlogged table will do).';
	END IF;
	IF NOT pg_catalog.has_any_column_privilege(relation, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied to read relation %', relation
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('GRANT SELECT ON %s TO %I;', relation, current_user);
	END IF;

	dims := health_score._check_dimensions(kind, relation, columns -> 'dimensions');
	columns := columns - 'dimensions';

	FOR k IN SELECT pg_catalog.jsonb_object_keys(columns) LOOP
		IF NOT EXISTS (SELECT FROM health_score._source_columns(kind) s WHERE s.canonical = k) THEN
			RAISE EXCEPTION '% is not a canonical column of source kind %', health_score._q(k), kind
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'The columns of ' || kind || ' are: ' ||
				             (SELECT pg_catalog.string_agg(s.canonical, ', ' ORDER BY s.ord)
				                FROM health_score._source_columns(kind) s) || '.';
		END IF;
		IF pg_catalog.jsonb_typeof(columns -> k) <> 'string' THEN
			RAISE EXCEPTION 'the mapping of % for % must be a column name (a JSON string)', k, relation
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;

	FOR col IN SELECT * FROM health_score._source_columns(kind) LOOP
		mapped := coalesce(columns ->> col.canonical, col.canonical);
		SELECT a.attname, a.atttypid::regtype AS typ INTO att
		  FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid = relation AND a.attname = mapped AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			IF columns ? col.canonical THEN
				RAISE EXCEPTION 'column % of relation % does not exist', health_score._q(mapped), relation
					USING ERRCODE = 'undefined_column',
					      DETAIL = pg_catalog.format('columns maps %s to it.', col.canonical);
			ELSIF col.required THEN
				RAISE EXCEPTION 'relation % has no column %', relation, health_score._q(col.canonical)
					USING ERRCODE = 'undefined_column',
					      DETAIL = pg_catalog.format('Sources of kind %s need %s.', kind, col.canonical),
					      HINT = pg_catalog.format('Map it to one of the columns of %s: SELECT health_score.add_source(%L, %L, %L);',
					                                relation, kind, relation::text,
					                                (columns || pg_catalog.jsonb_build_object(col.canonical, '<column>'))::text);
			END IF;
			CONTINUE;  -- an optional column the relation lacks reads as NULL
		END IF;
		IF NOT health_score._class_accepts_family(col.class, health_score._type_family(att.typ)) THEN
			RAISE EXCEPTION 'column % of relation % has type %, but % needs %',
				health_score._q(mapped), relation, att.typ, col.canonical, health_score._class_accepts(col.class)
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF NOT pg_catalog.has_column_privilege(relation, att.attname, 'SELECT') THEN
			RAISE EXCEPTION 'permission denied to read column % of relation %', health_score._q(mapped), relation
				USING ERRCODE = 'insufficient_privilege',
				      HINT = pg_catalog.format('GRANT SELECT (%I) ON %s TO %I;', mapped, relation, current_user);
		END IF;
		IF col.canonical = 'account_id' THEN
			keytype := pg_catalog.format_type(att.typ, NULL);
			key_fam := health_score._key_type(att.typ);
		ELSIF col.class = 'key' AND health_score._key_type(att.typ) IS DISTINCT FROM key_fam THEN
			RAISE EXCEPTION 'column % of relation % has type %, but its account_id is %', health_score._q(mapped), relation,
				att.typ, keytype
				USING ERRCODE = 'datatype_mismatch',
				      HINT = pg_catalog.format('%s holds account keys: of the type of account_id.', col.canonical);
		END IF;
		resolved := resolved || pg_catalog.jsonb_build_object(col.canonical, att.attname);
	END LOOP;

	-- Every source's keys must be of the accounts source's family (bigint, text or uuid).
	IF kind = 'accounts' THEN
		SELECT * INTO accounts_row FROM health_score.sources s WHERE s.kind = 'accounts';
		IF FOUND AND accounts_row.relation <> relation THEN
			RAISE EXCEPTION 'an accounts source is already registered: %', accounts_row.relation
				USING ERRCODE = 'unique_violation',
				      HINT = pg_catalog.format('Drop it first: SELECT health_score.drop_source(''accounts'', %L);',
				                                accounts_row.relation::text);
		END IF;
		FOR other IN SELECT s.* FROM health_score.sources s WHERE s.kind <> 'accounts' ORDER BY s.kind, s.relation::text LOOP
			IF health_score._key_type(other.key_type::regtype) IS DISTINCT FROM key_fam THEN
				RAISE EXCEPTION 'column % of relation % has type %, but the % source % has % account keys',
					health_score._q(resolved ->> 'account_id'), relation, keytype, other.kind, other.relation, other.key_type
					USING ERRCODE = 'datatype_mismatch',
					      HINT = 'Account keys must be of one type (bigint, text or uuid) in every source; cast them in a view.';
			END IF;
		END LOOP;
	ELSE
		SELECT * INTO accounts_row FROM health_score.sources s WHERE s.kind = 'accounts';
		IF FOUND AND health_score._key_type(accounts_row.key_type::regtype) IS DISTINCT FROM key_fam THEN
			RAISE EXCEPTION 'column % of relation % has type %, but the accounts source % has % account keys',
				health_score._q(resolved ->> 'account_id'), relation, keytype, accounts_row.relation,
				accounts_row.key_type
				USING ERRCODE = 'datatype_mismatch',
				      HINT = pg_catalog.format('Register a relation whose account_id is %s; cast it in a view if needed.',
				                                accounts_row.key_type);
		END IF;
	END IF;

	-- One row per account: a unique index on the key says so; otherwise the current rows must (refresh
	-- checks again, since a view or a table without the index may change).
	IF kind = 'accounts' AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_index i
			  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			 WHERE i.indrelid = relation AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
			   AND i.indexprs IS NULL AND a.attname = resolved ->> 'account_id') THEN
		-- reading it: as a refresh would, a superuser reads only what no less trusted role can change
		PERFORM health_score._check_source_trust(kind, relation);
		EXECUTE pg_catalog.format('SELECT s.%1$I::text FROM %2$s s WHERE s.%1$I IS NOT NULL GROUP BY s.%1$I HAVING count(*) > 1 LIMIT 1',
		                          resolved ->> 'account_id', relation)
		   INTO dup;
		IF dup IS NOT NULL THEN
			RAISE EXCEPTION 'account_id % appears more than once in %', dup, relation
				USING ERRCODE = 'unique_violation',
				      DETAIL = 'An accounts source has one row per account.',
				      HINT = 'Register a relation with one row per account, such as a view with DISTINCT ON (account_id).';
		END IF;
	END IF;

	-- Sources change between refreshes, never during one: this waits for a running refresh(), and a
	-- refresh started meanwhile waits for this transaction.
	PERFORM health_score._refresh_lock(true);
	-- (registered again without max_lag, a source keeps the one it had)
	INSERT INTO health_score.sources AS s (kind, relation, columns, key_type, max_lag, dimensions)
	VALUES (kind, relation, resolved, keytype, coalesce(max_lag, health_score._default_max_lag(kind)), dims)
	ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
	   SET columns = EXCLUDED.columns, key_type = EXCLUDED.key_type, added_at = now(), dimensions = EXCLUDED.dimensions,
	       max_lag = coalesce(add_source.max_lag, s.max_lag)
	RETURNING s.* INTO result;

	IF kind = 'accounts' THEN
		PERFORM health_score.rebuild_views();
	END IF;
	-- an activity table gets the triggers that let a refresh read only what changed (15_capture.sql)
	IF kind = 'activity' THEN
		obstacle := health_score._capture_install(relation, resolved);
		IF obstacle IS NOT NULL THEN
			RAISE NOTICE 'every refresh reads activity source % in full: %', relation, obstacle
				USING HINT = 'An activity source is read incrementally when it is a table whose occurred_at is timestamptz, registered by its owner (or a member of the owning role).';
		END IF;
	END IF;
	-- the metric names and touchpoint kinds it holds become measures, so rules can use them at once
	IF kind IN ('metrics', 'touchpoints') THEN
		PERFORM health_score._discover_measures(relation);
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) IS
	'register a table or view as a source of the given kind; columns maps canonical names to its columns; max_lag: how old its newest row may get before it is stale';
REVOKE EXECUTE ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.drop_source(kind text, relation regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	removed boolean;
BEGIN
	IF kind IS NULL OR NOT kind = ANY (health_score._source_kinds()) THEN
		RAISE EXCEPTION 'unknown source kind %', coalesce(health_score._q(kind), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use one of: ' || pg_catalog.array_to_string(health_score._source_kinds(), ', ') || '.';
	END IF;
	-- as in add_source: never during a refresh
	PERFORM health_score._refresh_lock(true);
	DELETE FROM health_score.sources s WHERE s.kind = drop_source.kind AND s.relation = drop_source.relation;
	removed := FOUND;
	IF removed AND kind = 'accounts' THEN
		PERFORM health_score.rebuild_views();
	END IF;
	IF removed AND kind = 'activity' THEN
		PERFORM health_score._capture_remove(relation);
		DELETE FROM health_score.activity_inserted l WHERE l.source = drop_source.relation;
		DELETE FROM health_score.activity_changed l WHERE l.source = drop_source.relation;
	END IF;
	RETURN removed;
END
$$;
COMMENT ON FUNCTION health_score.drop_source(text, regclass) IS
	'unregister a source; true if it was registered';
REVOKE EXECUTE ON FUNCTION health_score.drop_source(text, regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._capture_inserted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format(
		'INSERT INTO health_score.activity_inserted (source, account_id, user_id, feature, weight, occurred_at) '
		'SELECT %s::regclass, n.%I::text, %s, %s, %s, n.%I FROM new_rows n WHERE n.%2$I IS NOT NULL AND n.%6$I IS NOT NULL',
		TG_RELID, TG_ARGV[0],
		CASE WHEN TG_ARGV[2] = '' THEN 'NULL' ELSE pg_catalog.format('n.%I::text', TG_ARGV[2]) END,
		CASE WHEN TG_ARGV[3] = '' THEN 'NULL' ELSE pg_catalog.format('n.%I::text', TG_ARGV[3]) END,
		CASE WHEN TG_ARGV[4] = '' THEN 'NULL' ELSE pg_catalog.format('n.%I::float8', TG_ARGV[4]) END,
		TG_ARGV[1]);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._capture_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		INSERT INTO health_score.activity_changed (source, account_id) VALUES (TG_RELID, NULL);
	ELSIF TG_OP = 'UPDATE' THEN
		EXECUTE pg_catalog.format(
			'INSERT INTO health_score.activity_changed (source, account_id) '
			'SELECT DISTINCT %s::regclass, k FROM (SELECT o.%I::text FROM old_rows o UNION SELECT n.%2$I::text FROM new_rows n) x (k) '
			'WHERE k IS NOT NULL', TG_RELID, TG_ARGV[0]);
	ELSE
		EXECUTE pg_catalog.format(
			'INSERT INTO health_score.activity_changed (source, account_id) '
			'SELECT DISTINCT %s::regclass, o.%I::text FROM old_rows o WHERE o.%2$I IS NOT NULL', TG_RELID, TG_ARGV[0]);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._capture_triggers()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['health_score_capture_insert', 'health_score_capture_update', 'health_score_capture_delete',
                   'health_score_capture_truncate'] $$;

CREATE OR REPLACE FUNCTION health_score._capture_obstacle(relation regclass, columns jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
	       WHEN c.relkind NOT IN ('r', 'p') THEN
	            pg_catalog.format('it is a %s, which takes no statement triggers with transition tables',
	                              CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
	                                             WHEN 'f' THEN 'foreign table' ELSE 'relation of kind ' || c.relkind::text END)
	       WHEN t.atttypid <> 'timestamptz'::regtype THEN
	            pg_catalog.format('its occurred_at column %I is %s, read in the refresh''s time zone', t.attname, t.atttypid::regtype)
	       END
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_attribute t ON t.attrelid = c.oid AND t.attname = columns ->> 'occurred_at'
	 WHERE c.oid = relation
$$;

CREATE OR REPLACE FUNCTION health_score._capture_install(relation regclass, columns jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	obstacle text := health_score._capture_obstacle(relation, columns);
	args text;
BEGIN
	IF obstacle IS NOT NULL THEN
		RETURN obstacle;
	END IF;
	-- (enabling a trigger ALWAYS takes the table's owner)
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = relation AND pg_catalog.pg_has_role(c.relowner, 'USAGE')) THEN
		RETURN pg_catalog.format('role %I does not own it, and only its owner may put the capture triggers on it', current_user);
	END IF;
	PERFORM health_score._capture_remove(relation);
	args := pg_catalog.format('%L, %L, %L, %L, %L', columns ->> 'account_id', columns ->> 'occurred_at',
	                          coalesce(columns ->> 'user_id', ''), coalesce(columns ->> 'feature', ''),
	                          coalesce(columns ->> 'weight', ''));
	EXECUTE pg_catalog.format('CREATE TRIGGER health_score_capture_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
	                          'FOR EACH STATEMENT EXECUTE FUNCTION health_score._capture_inserted(%s)', relation, args);
	EXECUTE pg_catalog.format('CREATE TRIGGER health_score_capture_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows '
	                          'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score._capture_changed(%s)', relation, args);
	EXECUTE pg_catalog.format('CREATE TRIGGER health_score_capture_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
	                          'FOR EACH STATEMENT EXECUTE FUNCTION health_score._capture_changed(%s)', relation, args);
	EXECUTE pg_catalog.format('CREATE TRIGGER health_score_capture_truncate AFTER TRUNCATE ON %s '
	                          'FOR EACH STATEMENT EXECUTE FUNCTION health_score._capture_changed(%s)', relation, args);
	-- a logical replication subscriber applies rows with session_replication_role = replica, which fires
	-- only the triggers enabled ALWAYS
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER health_score_capture_insert, '
	                          'ENABLE ALWAYS TRIGGER health_score_capture_update, ENABLE ALWAYS TRIGGER health_score_capture_delete, '
	                          'ENABLE ALWAYS TRIGGER health_score_capture_truncate', relation);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._capture_remove(relation regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tg text;
BEGIN
	FOR tg IN SELECT t.tgname FROM pg_catalog.pg_trigger t
	           WHERE t.tgrelid = relation AND t.tgname = ANY (health_score._capture_triggers()) ORDER BY t.tgname LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', tg, relation);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION health_score._capture_in_place(relation regclass, columns jsonb)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT count(*) = 4
	  FROM pg_catalog.pg_trigger t
	 WHERE t.tgrelid = relation AND t.tgname = ANY (health_score._capture_triggers()) AND t.tgenabled = 'A'
	   AND t.tgnargs = 5
	   AND pg_catalog.encode(t.tgargs, 'escape') = pg_catalog.concat_ws(E'\\000', columns ->> 'account_id',
	           columns ->> 'occurred_at', coalesce(columns ->> 'user_id', ''), coalesce(columns ->> 'feature', ''),
	           coalesce(columns ->> 'weight', '')) || E'\\000'
$$;

CREATE OR REPLACE FUNCTION health_score._touchpoint_kind(kind text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower($1), '[^a-z0-9]+', '_', 'g'), '_') $$;

CREATE OR REPLACE FUNCTION health_score._measure_validate()
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

CREATE OR REPLACE FUNCTION health_score._measure_merge_seeded()
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

CREATE OR REPLACE FUNCTION health_score._measure_shape()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.string_agg(pg_catalog.format('NULL::%s AS %I', m.type, m.name), ', ' ORDER BY m.name)
	  FROM health_score.measure m
$$;

CREATE OR REPLACE FUNCTION health_score._check_measure_query(name text, query text)
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

CREATE OR REPLACE FUNCTION health_score.add_measure(name text, query text, description text DEFAULT NULL, unit text DEFAULT NULL)
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
REVOKE EXECUTE ON FUNCTION health_score.add_measure(text, text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.drop_measure(name text)
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
REVOKE EXECUTE ON FUNCTION health_score.drop_measure(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._discover_measures(only_relation regclass DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION health_score._component_names()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.array_agg(c.name ORDER BY c.kind <> 'builtin',
	       pg_catalog.array_position(ARRAY['engagement', 'utilisation', 'adoption', 'support', 'sentiment', 'relationship'], c.name),
	       c.name)
	  FROM health_score.component c
$$;

CREATE OR REPLACE FUNCTION health_score._component_merge_seeded()
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

CREATE OR REPLACE FUNCTION health_score.add_component(name text, measure text, worst float8, best float8, description text DEFAULT NULL)
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
REVOKE EXECUTE ON FUNCTION health_score.add_component(text, text, float8, float8, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.drop_component(name text)
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
REVOKE EXECUTE ON FUNCTION health_score.drop_component(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._profile_version_merge()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE health_score.profile_version v
	   SET profile = NEW.profile, settings = NEW.settings, created_at = NEW.created_at,
	       created_by = NEW.created_by, note = NEW.note, fit = NEW.fit
	 WHERE v.version = NEW.version;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score._profile_settings(p health_score.profile)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.to_jsonb(p) - ARRAY['name', 'seeded', 'version']
$$;

CREATE OR REPLACE FUNCTION health_score._profile_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_settings constant jsonb := health_score._profile_settings(NEW);
BEGIN
	IF NOT EXISTS (SELECT FROM health_score.profile_version v
	                WHERE v.version = NEW.version AND v.profile = NEW.name AND v.settings = new_settings) THEN
		INSERT INTO health_score.profile_version (profile, settings, note)
		VALUES (NEW.name, new_settings, CASE WHEN TG_OP = 'INSERT' THEN 'created' ELSE 'edited' END)
		RETURNING version INTO NEW.version;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score._profile_validate()
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

CREATE OR REPLACE FUNCTION health_score._profile_merge_seeded()
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
		       rule_params = NEW.rule_params, version = NEW.version
		 WHERE p.name = NEW.name AND p.seeded;
		IF FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score._check_rule_param(code text, k text, v jsonb, seeded boolean)
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

CREATE OR REPLACE FUNCTION health_score._param_literal(v jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE pg_catalog.jsonb_typeof($1)
		WHEN 'number' THEN pg_catalog.format('%L::float8', ($1 #>> '{}')::float8)
		WHEN 'string' THEN pg_catalog.format('%L::text', $1 #>> '{}')
		WHEN 'boolean' THEN ($1 #>> '{}')::boolean::text END
$$;

CREATE OR REPLACE FUNCTION health_score._condition_params(condition text)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(pg_catalog.array_agg(x.name ORDER BY x.first), '{}')
	  FROM (SELECT m[1] AS name, min(o) AS first
	          FROM pg_catalog.regexp_matches($1, '\{([A-Za-z_][A-Za-z0-9_]*)\}', 'g') WITH ORDINALITY AS r (m, o)
	         GROUP BY m[1]) x
$$;

CREATE OR REPLACE FUNCTION health_score._condition_sql(condition text, params jsonb, overrides jsonb DEFAULT '{}')
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

CREATE OR REPLACE FUNCTION health_score._param_value_sql(p text, params jsonb, overrides jsonb)
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

CREATE OR REPLACE FUNCTION health_score._check_condition(code text, condition text, params jsonb)
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

CREATE OR REPLACE FUNCTION health_score._check_task_due_in(code text, task_due_in interval)
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

CREATE OR REPLACE FUNCTION health_score._rule_validate()
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

CREATE OR REPLACE FUNCTION health_score.add_rule(code text, condition text, severity text, action text, params jsonb DEFAULT '{}',
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
REVOKE EXECUTE ON FUNCTION health_score.add_rule(text, text, text, text, jsonb, text, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._rule_wait_for_refresh()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._refresh_lock(true);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._rule_merge_seeded()
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

CREATE OR REPLACE FUNCTION health_score._observation_normalise()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keytype text := health_score._accounts_key_type();
BEGIN
	NEW.account_id := health_score._key_text(NEW.account_id, keytype);
	RETURN NEW;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
	RAISE EXCEPTION 'observation account_id % is not a % account key', pg_catalog.quote_literal(NEW.account_id), keytype
		USING ERRCODE = 'invalid_text_representation';
END
$$;

CREATE OR REPLACE FUNCTION health_score._override_audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' AND EXISTS (
		SELECT FROM health_score.override_audit a
		 WHERE a.id = NEW.audit_id AND a.account_id = NEW.account_id AND a.action IN ('set', 'changed')
		   AND (a.new_score, a.new_reason, a.new_expires_at) = (NEW.score, NEW.reason, NEW.expires_at)) THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO health_score.override_audit (account_id, action, new_score, new_reason, new_expires_at)
		VALUES (NEW.account_id, 'set', NEW.score, NEW.reason, NEW.expires_at)
		RETURNING id INTO NEW.audit_id;
	ELSE
		INSERT INTO health_score.override_audit (account_id, action, old_score, new_score, old_reason, new_reason,
			old_expires_at, new_expires_at)
		VALUES (NEW.account_id, 'changed', OLD.score, NEW.score, OLD.reason, NEW.reason, OLD.expires_at, NEW.expires_at)
		RETURNING id INTO NEW.audit_id;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score._override_cleared()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO health_score.override_audit (account_id, action, old_score, old_reason, old_expires_at)
	VALUES (OLD.account_id, 'cleared', OLD.score, OLD.reason, OLD.expires_at);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._account_key(account_id text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keytype constant text := health_score._accounts_key_type();
BEGIN
	IF account_id IS NULL THEN
		RAISE EXCEPTION 'account_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF keytype IS NULL THEN
		RAISE EXCEPTION 'no accounts source is registered' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'SELECT health_score.add_source(''accounts'', ''my_accounts''); registers one.';
	END IF;
	RETURN health_score._key_text(account_id, keytype);
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
	RAISE EXCEPTION 'account_id % is not a valid % account key', pg_catalog.quote_literal(account_id), keytype
		USING ERRCODE = 'invalid_parameter_value';
END
$$;

CREATE OR REPLACE FUNCTION health_score._known_account(account_id text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key constant text := health_score._account_key(account_id);
	found boolean;
BEGIN
	EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM (%s) s WHERE s.account_id::text = $1)',
	                          health_score._source_sql('accounts', health_score._accounts_key_type(), NULL, NULL))
	   INTO found USING key;
	IF NOT found THEN
		RAISE EXCEPTION 'account_id % is not in the accounts source', pg_catalog.quote_literal(account_id)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SELECT account_id, name FROM health_score.account_overview; lists the accounts scored.';
	END IF;
	RETURN key;
END
$$;

CREATE OR REPLACE FUNCTION health_score._apply_override(account_id text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE health_score.account_health h
	   SET score = coalesce(o.score, h.computed_score),
	       band = health_score.band(coalesce(o.score, h.computed_score), p.poor_below, p.good_from)
	  FROM health_score.profile p
	  LEFT JOIN health_score.override o ON o.account_id = $1 AND o.set_at <= pg_catalog.now() AND o.expires_at > pg_catalog.now()
	 WHERE h.account_id = $1 AND p.name = h.profile
$$;

CREATE OR REPLACE FUNCTION health_score.set_override(account_id text, score float8, reason text, expires_at timestamptz)
RETURNS health_score.override
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
	result health_score.override;
BEGIN
	IF score IS NULL OR NOT (score >= 0 AND score <= 100) THEN
		RAISE EXCEPTION 'score must be a number from 0 to 100, not %', coalesce(score::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Give the score the account deserves on the 0-100 scale, such as 35.';
	END IF;
	IF reason IS NULL OR reason !~ '[^[:space:]\u00a0\u2007\u202f\ufeff]' THEN
		RAISE EXCEPTION 'reason must say why the score is overridden'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example ''CFO told us they are moving to a competitor''.';
	END IF;
	IF expires_at IS NULL OR NOT (expires_at > pg_catalog.now()) OR NOT pg_catalog.isfinite(expires_at) THEN
		RAISE EXCEPTION 'expires_at must be a time in the future, not %', coalesce(expires_at::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example now() + interval ''30 days''.';
	END IF;
	key := health_score._known_account(account_id);
	-- (not INSERT ... ON CONFLICT: its insert trigger would audit a 'set' before the update's 'changed')
	UPDATE health_score.override o
	   SET score = set_override.score, reason = set_override.reason, expires_at = set_override.expires_at,
	       set_by = current_user, set_at = pg_catalog.now()
	 WHERE o.account_id = key
	RETURNING o.* INTO result;
	IF NOT FOUND THEN
		INSERT INTO health_score.override AS o (account_id, score, reason, expires_at)
		VALUES (key, score, reason, expires_at)
		RETURNING o.* INTO result;
	END IF;
	PERFORM health_score._apply_override(key);
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.set_override(text, float8, text, timestamptz) IS
	'a manager''s score for the account, in force now until expires_at (replaces the account''s previous override)';
REVOKE EXECUTE ON FUNCTION health_score.set_override(text, float8, text, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.clear_override(account_id text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key constant text := health_score._known_account(account_id);
BEGIN
	DELETE FROM health_score.override o WHERE o.account_id = key;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM health_score._apply_override(key);
	RETURN true;
END
$$;
COMMENT ON FUNCTION health_score.clear_override(text) IS
	'removes the account''s override (the computed score applies again); false when it had none';
REVOKE EXECUTE ON FUNCTION health_score.clear_override(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._close_task(task_id bigint, status text, note text, note_name text)
RETURNS health_score.task
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t health_score.task;
BEGIN
	IF note IS NULL OR note !~ '[^[:space:]\u00a0\u2007\u202f\ufeff]' THEN
		RAISE EXCEPTION '% must say %', note_name,
			CASE status WHEN 'done' THEN 'what came of the task' ELSE 'why the task is dismissed' END
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = CASE status WHEN 'done' THEN 'For example ''Called the sponsor; re-launch planned for May''.'
			                         ELSE 'For example ''Duplicate of the renewal plan''.' END;
	END IF;
	SELECT * INTO t FROM health_score.task k WHERE k.id = task_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'task % does not exist', coalesce(task_id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SELECT task_id, account_id, title FROM health_score.open_tasks; lists the open tasks.';
	END IF;
	IF t.status <> 'open' THEN
		RAISE EXCEPTION 'task % is already %', task_id, t.status
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = pg_catalog.format('It was closed at %s by %s.', t.closed_at, t.closed_by),
			      HINT = 'Only an open task can be completed or dismissed.';
	END IF;
	UPDATE health_score.task k
	   SET status = _close_task.status, outcome = note, closed_at = pg_catalog.now(), closed_by = current_user
	 WHERE k.id = task_id
	RETURNING k.* INTO t;
	RETURN t;
END
$$;
REVOKE EXECUTE ON FUNCTION health_score._close_task(bigint, text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.complete_task(task_id bigint, outcome text)
RETURNS health_score.task
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM health_score._close_task($1, 'done', $2, 'outcome') $$;
COMMENT ON FUNCTION health_score.complete_task(bigint, text) IS
	'marks an open task done, with what came of it';
REVOKE EXECUTE ON FUNCTION health_score.complete_task(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.dismiss_task(task_id bigint, reason text)
RETURNS health_score.task
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM health_score._close_task($1, 'dismissed', $2, 'reason') $$;
COMMENT ON FUNCTION health_score.dismiss_task(bigint, text) IS
	'closes an open task without doing it, with the reason';
REVOKE EXECUTE ON FUNCTION health_score.dismiss_task(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._check_tracked_measure(measure text, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m health_score.measure;
BEGIN
	SELECT * INTO m FROM health_score.measure x WHERE x.name = measure;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'measure % does not exist', coalesce(pg_catalog.quote_literal(measure), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SELECT name, description FROM health_score.measure; lists the measures; add_measure adds one.';
	END IF;
	IF m.type = 'text' OR m.source IN ('composite', 'goals', 'plans') THEN
		RAISE EXCEPTION 'a % cannot track measure %', what, measure
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'It tracks a number computed per account before the score: not the score, the band, or the goals'' and plans'' own measures.',
			      HINT = 'Track a measure of the sources, such as a metric (SELECT name FROM health_score.measure WHERE kind = ''metric'';).';
	END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION health_score._check_tracked_measure(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.add_goal(account_id text, name text, measure text, target float8, due_on date,
									  baseline float8 DEFAULT 0)
RETURNS health_score.goal
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
	result health_score.goal;
BEGIN
	IF name IS NULL OR name !~ '[^[:space:]]' THEN
		RAISE EXCEPTION 'name must say what the customer wants to achieve'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''Cut report preparation to one hour''.';
	END IF;
	PERFORM health_score._check_tracked_measure(measure, 'goal');
	IF target IS NULL OR baseline IS NULL OR target IN ('Infinity', '-Infinity', 'NaN') OR baseline IN ('Infinity', '-Infinity', 'NaN')
	   OR target = baseline THEN
		RAISE EXCEPTION 'target must be a finite number other than the baseline (%), not %', coalesce(baseline::text, 'NULL'),
			coalesce(target::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The goal moves measure from baseline (default 0) to target: give both, such as target => 40, baseline => 10.';
	END IF;
	IF due_on IS NULL OR NOT pg_catalog.isfinite(due_on) OR due_on <= CURRENT_DATE THEN
		RAISE EXCEPTION 'due_on must be a date after today, not %', coalesce(due_on::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example CURRENT_DATE + 90.';
	END IF;
	key := health_score._known_account(account_id);
	INSERT INTO health_score.goal AS g (account_id, name, measure, baseline, target, starts_on, due_on)
	VALUES (key, name, measure, baseline, target, CURRENT_DATE, due_on)
	RETURNING g.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_goal(text, text, text, float8, date, float8) IS
	'records a customer''s desired outcome: measure to move from baseline to target by due_on, tracked from today';
REVOKE EXECUTE ON FUNCTION health_score.add_goal(text, text, text, float8, date, float8) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.close_goal(goal_id bigint, outcome text)
RETURNS health_score.goal
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result health_score.goal;
BEGIN
	IF outcome IS NULL OR outcome !~ '[^[:space:]]' THEN
		RAISE EXCEPTION 'outcome must say how the goal ended'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''Reached in March'' or ''Customer changed priorities''.';
	END IF;
	SELECT * INTO result FROM health_score.goal g WHERE g.id = goal_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'goal % does not exist', coalesce(goal_id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT id, account_id, name FROM health_score.goal WHERE closed_at IS NULL; lists the open goals.';
	END IF;
	IF result.closed_at IS NOT NULL THEN
		RAISE EXCEPTION 'goal % is already closed', goal_id
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It was closed at %s: %s', result.closed_at, result.outcome);
	END IF;
	UPDATE health_score.goal g SET closed_at = pg_catalog.now(), outcome = close_goal.outcome
	 WHERE g.id = goal_id RETURNING g.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.close_goal(bigint, text) IS
	'stops tracking a goal, with how it ended';
REVOKE EXECUTE ON FUNCTION health_score.close_goal(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._plan_template_merge_seeded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.seeded THEN
		UPDATE health_score.plan_template t
		   SET step = NEW.step, due_after = NEW.due_after, description = NEW.description
		 WHERE t.kind = NEW.kind AND t.step_no = NEW.step_no AND t.seeded;
		IF FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score._plan(plan_id bigint)
RETURNS health_score.plan
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p health_score.plan;
BEGIN
	SELECT * INTO p FROM health_score.plan x WHERE x.id = plan_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'plan % does not exist', coalesce(plan_id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SELECT plan_id, account_id, kind FROM health_score.plans; lists the plans.';
	END IF;
	RETURN p;
END
$$;
REVOKE EXECUTE ON FUNCTION health_score._plan(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.start_plan(account_id text, kind text DEFAULT 'win_back', owner text DEFAULT NULL)
RETURNS health_score.plan
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
	p health_score.plan;
BEGIN
	IF NOT EXISTS (SELECT FROM health_score.plan_template t WHERE t.kind = start_plan.kind) THEN
		RAISE EXCEPTION 'unknown plan kind %', coalesce(pg_catalog.quote_literal(kind), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(DISTINCT t.kind, ', ') FROM health_score.plan_template t)
			             || '; a new kind is rows in health_score.plan_template.';
	END IF;
	key := health_score._known_account(account_id);
	IF EXISTS (SELECT FROM health_score.plan x WHERE x.account_id = key AND x.kind = start_plan.kind AND x.completed_at IS NULL) THEN
		RAISE EXCEPTION 'account % already has an open % plan', pg_catalog.quote_literal(account_id), kind
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Complete its steps (complete_step) before starting another.';
	END IF;
	-- (the owner by default: the account's customer-success manager as last scored)
	INSERT INTO health_score.plan AS x (account_id, kind, owner)
	VALUES (key, kind, coalesce(owner, (SELECT h.owner FROM health_score.account_health h WHERE h.account_id = key)))
	RETURNING x.* INTO p;
	INSERT INTO health_score.plan_step (plan_id, step_no, step, due_on)
	SELECT p.id, t.step_no, t.step, (p.started_at + t.due_after)::date
	  FROM health_score.plan_template t WHERE t.kind = start_plan.kind;
	RETURN p;
END
$$;
COMMENT ON FUNCTION health_score.start_plan(text, text, text) IS
	'opens a plan of the kind (plan_template) for the account, with its steps due from today; owner defaults to the account''s';
REVOKE EXECUTE ON FUNCTION health_score.start_plan(text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.complete_step(plan_id bigint, step text, note text DEFAULT NULL)
RETURNS health_score.plan_step
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p constant health_score.plan := health_score._plan(plan_id);
	s health_score.plan_step;
BEGIN
	SELECT * INTO s FROM health_score.plan_step x WHERE x.plan_id = p.id AND x.step = complete_step.step;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'plan % has no step %', plan_id, coalesce(pg_catalog.quote_literal(step), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Its steps are: ' || (SELECT pg_catalog.string_agg(x.step, ', ' ORDER BY x.step_no)
			                                     FROM health_score.plan_step x WHERE x.plan_id = p.id) || '.';
	END IF;
	IF s.done_at IS NOT NULL THEN
		RAISE EXCEPTION 'step % of plan % is already done', step, plan_id
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = pg_catalog.format('%s completed it at %s.', s.done_by, s.done_at);
	END IF;
	UPDATE health_score.plan_step x SET done_at = pg_catalog.now(), done_by = current_user, note = complete_step.note
	 WHERE x.plan_id = p.id AND x.step_no = s.step_no
	RETURNING x.* INTO s;
	UPDATE health_score.plan x SET completed_at = pg_catalog.now()
	 WHERE x.id = p.id AND NOT EXISTS (SELECT FROM health_score.plan_step y WHERE y.plan_id = p.id AND y.done_at IS NULL);
	RETURN s;
END
$$;
COMMENT ON FUNCTION health_score.complete_step(bigint, text, text) IS
	'marks a step of a plan done (the plan is complete once every step is)';
REVOKE EXECUTE ON FUNCTION health_score.complete_step(bigint, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.add_commitment(plan_id bigint, description text, measure text,
											at_most float8 DEFAULT NULL, at_least float8 DEFAULT NULL)
RETURNS health_score.plan_commitment
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p constant health_score.plan := health_score._plan(plan_id);
	result health_score.plan_commitment;
BEGIN
	IF description IS NULL OR description !~ '[^[:space:]]' THEN
		RAISE EXCEPTION 'description must say what is committed'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''Support cases answered within 4 hours''.';
	END IF;
	PERFORM health_score._check_tracked_measure(measure, 'commitment');
	IF (at_most IS NULL AND at_least IS NULL) OR at_most IN ('Infinity', '-Infinity', 'NaN')
	   OR at_least IN ('Infinity', '-Infinity', 'NaN') OR at_least > at_most THEN
		RAISE EXCEPTION 'a commitment needs a finite at_most, at_least or both (at_least <= at_most), not at_most % and at_least %',
			coalesce(at_most::text, 'NULL'), coalesce(at_least::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'For example at_most => 0.167 for oldest_open_case_days: no case open longer than 4 hours.';
	END IF;
	IF p.completed_at IS NOT NULL THEN
		RAISE EXCEPTION 'plan % is complete', plan_id USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Start a new plan (start_plan) to commit to more.';
	END IF;
	INSERT INTO health_score.plan_commitment AS c (plan_id, description, measure, at_most, at_least)
	VALUES (p.id, description, measure, at_most, at_least)
	RETURNING c.* INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_commitment(bigint, text, text, float8, float8) IS
	'a service level the plan commits to: measure kept at most and/or at least a value, checked at each refresh; a breach raises plan_breach';
REVOKE EXECUTE ON FUNCTION health_score.add_commitment(bigint, text, text, float8, float8) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._work_table(name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format('health_score_work.%I', $1 || '_' || pg_catalog.pg_backend_pid()) $$;

CREATE OR REPLACE FUNCTION health_score._work_analyze(names text[], columns text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET default_statistics_target = 10
AS $$
DECLARE
	name text;
BEGIN
	FOREACH name IN ARRAY names LOOP
		EXECUTE pg_catalog.format('ANALYZE %s%s', health_score._work_table(name),
		                          CASE WHEN columns = '*' THEN '' ELSE ' (' || columns || ')' END);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION health_score._work_publish(name text, analyze_columns text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format('CREATE TEMP VIEW %I AS SELECT * FROM %s', name, health_score._work_table(name));
	IF analyze_columns IS NOT NULL THEN
		PERFORM health_score._work_analyze(ARRAY[name], analyze_columns);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score._work_create(name text, definition text, run health_score._run DEFAULT NULL,
										  analyze_columns text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format('CREATE UNLOGGED TABLE %s %s', health_score._work_table(name), definition) USING run;
	PERFORM health_score._work_publish(name, analyze_columns);
END
$$;

CREATE OR REPLACE FUNCTION health_score._drop_work_tables(names text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x record;
BEGIN
	FOR x IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'v') AND c.relname = ANY (names) LOOP
		EXECUTE pg_catalog.format(CASE WHEN x.relkind = 'v' THEN 'DROP VIEW pg_temp.%I' ELSE 'DROP TABLE pg_temp.%I' END, x.relname);
	END LOOP;
	FOR x IN SELECT c.relname FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = 'health_score_work'::regnamespace AND c.relkind = 'r'
	            AND c.relname = ANY (SELECT n || '_' || pg_catalog.pg_backend_pid() FROM pg_catalog.unnest(names) n) LOOP
		EXECUTE pg_catalog.format('DROP TABLE health_score_work.%I', x.relname);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION health_score._pipeline_work_tables()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['hs_profile', 'hs_rule', 'hs_measure', 'hs_component', 'hs_acc', 'hs_act', 'hs_sup', 'hs_srv',
	             'hs_tp', 'hs_obs', 'hs_met', 'hs_kf', 'hs_m', 'hs_goal', 'hs_breach', 'hs_score', 'hs_earlier', 'hs_hits', 'hs_final',
	             'hs_changed', 'hs_delta', 'hs_full', 'hs_flag_changes', 'hs_raised', 'hs_outcome', 'hs_active_after']
$$;

CREATE OR REPLACE FUNCTION health_score._shown(value float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.round($1 OPERATOR(pg_catalog.*) 10::float8) $$;

CREATE OR REPLACE FUNCTION health_score._shown(components jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN $1 OPERATOR(pg_catalog.=) '{}'::jsonb THEN $1
	            ELSE (SELECT pg_catalog.jsonb_object_agg(c.key, pg_catalog.round((c.value)::float8 OPERATOR(pg_catalog.*) 10::float8))
	                    FROM pg_catalog.jsonb_each_text($1) c) END
$$;

CREATE OR REPLACE FUNCTION health_score._timing(timings jsonb, stage text, since timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT $1 || pg_catalog.jsonb_build_object($2,
		pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - $3)::numeric * 1000, 1))
$$;

CREATE OR REPLACE FUNCTION health_score._source_sql(kind text, keytype text, usertype text, where_fmt text,
										 only_relation regclass DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	col record;
	cols text[];
	timecol text;
	parts text[] := '{}';
	expr text;
	typ text;
BEGIN
	FOR src IN
		SELECT s.relation, s.columns, s.dimensions FROM health_score.sources s
		 WHERE s.kind = _source_sql.kind AND (only_relation IS NULL OR s.relation = only_relation)
		 ORDER BY s.relation::oid
	LOOP
		cols := '{}';
		timecol := NULL;
		FOR col IN SELECT * FROM health_score._source_columns(kind) LOOP
			typ := CASE col.class
				WHEN 'key' THEN keytype WHEN 'user' THEN coalesce(usertype, 'text')
				WHEN 'time' THEN CASE WHEN col.canonical = 'renewal_date' THEN 'date' ELSE 'timestamptz' END
				WHEN 'count' THEN 'integer' WHEN 'flag' THEN 'boolean'
				WHEN 'number' THEN CASE WHEN col.canonical = 'arr' THEN 'numeric' ELSE 'float8' END
				ELSE 'text' END;
			IF src.columns ? col.canonical THEN
				expr := pg_catalog.format('%I::%s', src.columns ->> col.canonical, typ);
				IF col.class = 'time' AND timecol IS NULL AND col.required THEN
					timecol := pg_catalog.quote_ident(src.columns ->> col.canonical);
				END IF;
			ELSE
				expr := pg_catalog.format('NULL::%s', typ);
			END IF;
			cols := cols || (expr || ' AS ' || pg_catalog.quote_ident(col.canonical));
		END LOOP;
		-- the accounts source's pass-through dimensions, as text by name (absent when NULL)
		IF kind = 'accounts' THEN
			cols := cols || (coalesce((SELECT 'pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('
			                                  || pg_catalog.string_agg(pg_catalog.format('%L, %I::text', d.key, d.value), ', ' ORDER BY d.key) || '))'
			                             FROM pg_catalog.jsonb_each_text(src.dimensions) d), '''{}''::jsonb') || ' AS dimensions');
		END IF;
		parts := parts || pg_catalog.format('SELECT %s FROM %s%s', pg_catalog.array_to_string(cols, ', '), src.relation,
			CASE WHEN where_fmt IS NULL THEN '' ELSE ' WHERE ' || pg_catalog.format(where_fmt, timecol) END);
	END LOOP;
	IF pg_catalog.cardinality(parts) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

CREATE OR REPLACE FUNCTION health_score._run_stage(stage text, kind text, sql_fmt text, keytype text, usertype text,
										where_fmt text, args timestamptz[], extra text[] DEFAULT NULL,
										intervals interval[] DEFAULT NULL, creates text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
	src record;
	culprit text;
	rels text;
	statement_fmt constant text := CASE WHEN creates IS NULL THEN sql_fmt
	    ELSE pg_catalog.format('CREATE UNLOGGED TABLE %s AS ', health_score._work_table(creates)) || sql_fmt END;
BEGIN
	BEGIN
		-- scalar parameters: an array element would be fetched again for every row and aggregate
		EXECUTE pg_catalog.format(statement_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt))
			USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
		IF creates IS NOT NULL THEN
			PERFORM health_score._work_publish(creates);
		END IF;
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	SELECT pg_catalog.string_agg(s.relation::text, ', ' ORDER BY s.relation::oid) INTO rels
	  FROM health_score.sources s WHERE s.kind = _run_stage.kind;
	IF (SELECT count(*) FROM health_score.sources s WHERE s.kind = _run_stage.kind) = 1 THEN
		culprit := rels;
	ELSE
		FOR src IN SELECT s.relation FROM health_score.sources s WHERE s.kind = _run_stage.kind ORDER BY s.relation::oid LOOP
			BEGIN
				EXECUTE pg_catalog.format(statement_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt, src.relation))
					USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
				-- the stage creates a work table: undo it so the next probe can too
				RAISE EXCEPTION USING ERRCODE = 'HS000';
			EXCEPTION
				WHEN SQLSTATE 'HS000' THEN NULL;
				WHEN OTHERS THEN culprit := src.relation::text; EXIT;
			END;
		END LOOP;
	END IF;
	PERFORM health_score._reraise(CASE WHEN culprit IS NOT NULL
			THEN pg_catalog.format('refresh failed reading %s source %s: %s', kind, culprit, msg)
			ELSE pg_catalog.format('refresh failed reading %s sources %s: %s', kind, rels, msg) END, st, det, hnt);
END
$$;

CREATE OR REPLACE FUNCTION health_score._refresh_lock(wait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF wait THEN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE;
		RETURN true;
	END IF;
	BEGIN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		RETURN false;
	END;
	RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'permission denied to take the health_score refresh lock'
		USING ERRCODE = 'insufficient_privilege',
		      DETAIL = 'Refreshing, changing sources and renaming or deleting rules take the refresh lock, a lock on table health_score.refresh_lock.',
		      HINT = pg_catalog.format('A superuser runs: SELECT health_score.grant_refresh(%L);', current_user);
END
$$;

CREATE OR REPLACE FUNCTION health_score._max_unscored_share()
RETURNS float8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	setting text := pg_catalog.current_setting('health_score.max_unscored_share', true);
	share float8;
BEGIN
	IF coalesce(setting, '') = '' THEN
		RETURN 0.5;
	END IF;
	BEGIN
		share := setting::float8;
	EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
		share := NULL;
	END;
	IF share IS NULL OR NOT (share >= 0 AND share <= 1) THEN
		RAISE EXCEPTION 'health_score.max_unscored_share must be a number from 0 to 1, not %', pg_catalog.quote_literal(setting)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SET health_score.max_unscored_share = 0.5; (the default) or RESET health_score.max_unscored_share;';
	END IF;
	RETURN share;
END
$$;

CREATE OR REPLACE FUNCTION health_score._source_objects(relation regclass)
RETURNS TABLE (kind text, name text, owner oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE rels (relid) AS (
		SELECT $1::oid
		UNION
		SELECT d.refobjid
		  FROM rels r
		  JOIN pg_catalog.pg_class c ON c.oid = r.relid AND c.relkind = 'v'
		  JOIN pg_catalog.pg_rewrite w ON w.ev_class = c.oid
		  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
		                             AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> c.oid
	), named AS (
		SELECT d.refclassid, d.refobjid
		  FROM rels r
		  JOIN pg_catalog.pg_class c ON c.oid = r.relid AND c.relkind = 'v'
		  JOIN pg_catalog.pg_rewrite w ON w.ev_class = c.oid
		  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
		 WHERE d.refobjid >= 16384
	), types (typid) AS (
		SELECT a.atttypid FROM rels r
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.relid AND a.attnum > 0 AND NOT a.attisdropped
		UNION
		SELECT n.refobjid FROM named n WHERE n.refclassid = 'pg_catalog.pg_type'::regclass
		UNION
		SELECT t.typbasetype FROM types x JOIN pg_catalog.pg_type t ON t.oid = x.typid AND t.typbasetype <> 0
	), functions (procid) AS (
		SELECT n.refobjid FROM named n WHERE n.refclassid = 'pg_catalog.pg_proc'::regclass
		UNION
		SELECT o.oprcode::oid FROM named n
		  JOIN pg_catalog.pg_operator o ON n.refclassid = 'pg_catalog.pg_operator'::regclass AND o.oid = n.refobjid
		UNION
		SELECT f FROM types x JOIN pg_catalog.pg_type t ON t.oid = x.typid,
		       LATERAL (VALUES (t.typinput::oid), (t.typoutput::oid)) v (f)
	)
	SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
	            ELSE 'table' END, c.oid::regclass::text, c.relowner
	  FROM rels r JOIN pg_catalog.pg_class c ON c.oid = r.relid
	UNION ALL
	SELECT 'function', p.oid::regprocedure::text, p.proowner
	  FROM functions f JOIN pg_catalog.pg_proc p ON p.oid = f.procid WHERE p.oid >= 16384
	UNION ALL
	SELECT 'operator', o.oid::regoperator::text, o.oprowner
	  FROM named n
	  JOIN pg_catalog.pg_operator o ON n.refclassid = 'pg_catalog.pg_operator'::regclass AND o.oid = n.refobjid
	UNION ALL
	SELECT 'type', t.oid::regtype::text, t.typowner
	  FROM types x JOIN pg_catalog.pg_type t ON t.oid = x.typid WHERE t.oid >= 16384
$$;

CREATE OR REPLACE FUNCTION health_score._untrusted_object(relation regclass, OUT kind text, OUT name text, OUT rolname name)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT o.kind, o.name, r.rolname
	  FROM health_score._source_objects($1) o
	  JOIN pg_catalog.pg_roles r ON r.oid = o.owner
	 WHERE NOT r.rolsuper
	 ORDER BY o.kind, o.name
	 LIMIT 1
$$;

CREATE OR REPLACE FUNCTION health_score._check_source_trust(kind text, relation regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	untrusted record;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RETURN;
	END IF;
	SELECT * INTO untrusted FROM health_score._untrusted_object(relation) u WHERE u.kind IS NOT NULL;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh as superuser % refuses % source %: % % is owned by role %, which is not a superuser',
			health_score._q(current_user), kind, relation, untrusted.kind, untrusted.name, health_score._q(untrusted.rolname)
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'A refresh runs the code of its sources with the rights of the role that refreshes, and '
			               'code that a role without those rights can change must not run with a superuser''s.',
			      HINT = pg_catalog.format('Refresh as a role without superuser rights: SELECT health_score.grant_refresh(''health_score_refresher''); '
			                               'then refresh or schedule as it (README, Security). Or, once the code is trusted, make a superuser own it: ALTER %s OWNER TO %I;',
			                               pg_catalog.upper(untrusted.kind) || ' ' || untrusted.name, current_user);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score._check_measure_trust(name text, owner regrole, query text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	untrusted record;
	probe regclass;
	hint constant text := 'Refresh as a role without superuser rights: SELECT health_score.grant_refresh(''health_score_refresher''); '
	                      'then refresh or schedule as it (README, Security).';
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RETURN;
	END IF;
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = owner) THEN
		RAISE EXCEPTION 'refresh as superuser % refuses measure %: it was added by role %, which is not a superuser',
			health_score._q(current_user), name, health_score._q(owner::text)
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'A refresh runs measure queries with the rights of the role that refreshes.',
			      HINT = hint;
	END IF;
	BEGIN
		EXECUTE pg_catalog.format(E'CREATE TEMP VIEW hs_measure_probe AS SELECT * FROM (%s\n) q',
		                          pg_catalog.regexp_replace(query, '\$1(?![0-9])', '(NULL::timestamptz)', 'g'));
	EXCEPTION WHEN OTHERS THEN
		RAISE EXCEPTION 'refresh as superuser % refuses measure %: the objects its query reads cannot be listed', health_score._q(current_user), name
			USING ERRCODE = 'insufficient_privilege', DETAIL = SQLERRM, HINT = hint;
	END;
	probe := 'pg_temp.hs_measure_probe'::regclass;
	SELECT * INTO untrusted FROM health_score._untrusted_object(probe) u WHERE u.kind IS NOT NULL;
	DROP VIEW pg_temp.hs_measure_probe;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh as superuser % refuses measure %: % % is owned by role %, which is not a superuser',
			health_score._q(current_user), name, untrusted.kind, untrusted.name, health_score._q(untrusted.rolname)
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'A refresh runs measure queries with the rights of the role that refreshes, and '
			               'code that a role without those rights can change must not run with a superuser''s.',
			      HINT = hint;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score.grant_refresh(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA health_score TO %s', role);
	EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO %s', pg_catalog.current_database(), role);
	-- the work tables of a run (00_stage.sql)
	EXECUTE pg_catalog.format('GRANT USAGE, CREATE ON SCHEMA health_score_work TO %s', role);
	EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) TO %s', role);
	EXECUTE pg_catalog.format('GRANT EXECUTE ON PROCEDURE health_score.run_refresh(timestamptz, boolean) TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT ON health_score.sources, health_score.profile, health_score.rule, '
	                          'health_score.observation, health_score.component, health_score.profile_version, '
	                          'health_score.override, health_score.source_capture TO %s', role);
	-- INSERT: a refresh adds the metric names and touchpoint kinds the sources now hold as measures
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON health_score.measure TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON health_score.account_health, '
	                          'health_score.health_history TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON health_score.flag, health_score.refresh_log TO %s', role);
	EXECUTE pg_catalog.format('GRANT UPDATE ON health_score.refresh_lock TO %s', role);
	-- the actions stage: tasks opened (and re-linked to a flag raised again), goals measured, commitments checked
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON health_score.task, health_score.goal_progress TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT ON health_score.goal, health_score.plan TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, UPDATE ON health_score.plan_commitment TO %s', role);
	-- the incremental refresh: its state, and the change logs it consumes
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON health_score.activity_state, '
	                          'health_score.activity_state_account TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, DELETE ON health_score.activity_inserted, health_score.activity_changed TO %s', role);
	FOR src IN SELECT s.relation, c.relnamespace::regnamespace AS nsp
	             FROM health_score.sources s JOIN pg_catalog.pg_class c ON c.oid = s.relation
	            ORDER BY s.kind, s.relation::text LOOP
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %s TO %s', src.nsp, role);
		EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %s', src.relation, role);
	END LOOP;
END
$$;
COMMENT ON FUNCTION health_score.grant_refresh(regrole) IS
	'grant a role what refresh() and run_refresh() need: read the configuration and the registered sources (and use their schemas), make work tables, write the results, tasks, goal progress, commitment checks and the incremental state, consume the change logs, take the refresh lock';
REVOKE EXECUTE ON FUNCTION health_score.grant_refresh(regrole) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._stage_config()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_profile', 'AS SELECT * FROM health_score.profile');
	PERFORM health_score._work_create('hs_rule', 'AS SELECT * FROM health_score.rule r WHERE r.enabled');
	PERFORM health_score._work_create('hs_component', $q$AS
	SELECT c.*, x.ord
	  FROM health_score.component c
	  JOIN pg_catalog.unnest(health_score._component_names()) WITH ORDINALITY AS x (name, ord) ON x.name = c.name$q$);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_sources(as_of timestamptz)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run health_score._run;
	acc_src record;
	r record;
	mp jsonb;
BEGIN
	SELECT s.* INTO acc_src FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'refresh failed: no accounts source is registered'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register one: SELECT health_score.add_source(''accounts'', ''public.accounts'');';
	END IF;
	run.as_of := as_of;
	run.keytype := health_score._key_type(acc_src.key_type::regtype);
	FOR r IN SELECT s.kind, s.relation, s.key_type, s.columns || s.dimensions AS columns FROM health_score.sources s ORDER BY s.kind, s.relation::oid LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.relation) THEN
			RAISE EXCEPTION 'refresh failed: the % source with OID % no longer exists', r.kind, r.relation::oid
				USING ERRCODE = 'undefined_table',
				      HINT = pg_catalog.format('Unregister it: SELECT health_score.drop_source(%L, %s);', r.kind, r.relation::oid);
		END IF;
		IF health_score._key_type(r.key_type::regtype) IS DISTINCT FROM run.keytype THEN
			RAISE EXCEPTION 'refresh failed reading % source %: its account keys are %, the accounts source''s are %',
				r.kind, r.relation, r.key_type, acc_src.key_type
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		PERFORM health_score._check_source_trust(r.kind, r.relation);
		IF EXISTS (SELECT FROM pg_catalog.jsonb_each_text(r.columns) c
		            WHERE NOT pg_catalog.has_column_privilege(r.relation, c.value, 'SELECT')) THEN
			RAISE EXCEPTION 'refresh failed: permission denied to read % source %', r.kind, r.relation
				USING ERRCODE = 'insufficient_privilege',
				      HINT = pg_catalog.format('GRANT SELECT ON %s TO %I; or, as a superuser, SELECT health_score.grant_refresh(%L);',
				                               r.relation, current_user, current_user);
		END IF;
	END LOOP;
	SELECT coalesce(bool_or(s.kind = 'activity'), false),
	       coalesce(bool_or(s.kind = 'activity' AND s.columns ? 'user_id'), false),
	       coalesce(bool_or(s.kind = 'activity' AND s.columns ? 'feature'), false),
	       coalesce(bool_or(s.kind = 'support_cases'), false), coalesce(bool_or(s.kind = 'surveys'), false),
	       coalesce(bool_or(s.kind = 'touchpoints'), false),
	       coalesce(bool_or(s.kind = 'touchpoints' AND s.columns ? 'kind'), false),
	       coalesce(bool_or(s.kind = 'metrics'), false)
	  INTO run.has_activity, run.has_users, run.has_feature, run.has_support, run.has_surveys, run.has_touch,
	       run.has_touch_kind, run.has_metrics
	  FROM health_score.sources s;
	-- only now that every source is checked may one be read
	PERFORM health_score._discover_measures();
	PERFORM health_score._work_create('hs_measure', 'AS SELECT * FROM health_score.measure');
	-- user keys keep their type when every activity source agrees on one, else they are compared as text
	SELECT CASE WHEN count(DISTINCT f) = 1 THEN min(f) ELSE 'text' END INTO run.usertype
	  FROM (SELECT health_score._key_type(a.atttypid::regtype) AS f
	          FROM health_score.sources s
	          JOIN pg_catalog.pg_attribute a ON a.attrelid = s.relation AND a.attname = s.columns ->> 'user_id'
	         WHERE s.kind = 'activity' AND s.columns ? 'user_id') u;

	-- One decayed sum per half-life, told apart by its length in seconds as the decay counts it: intervals
	-- compare '1 year' equal to '360 days', which decay at different rates.
	SELECT coalesce(pg_catalog.array_agg(h.half_life ORDER BY h.seconds), '{}'),
	       coalesce(pg_catalog.array_agg(h.seconds ORDER BY h.seconds), '{}')
	  INTO run.halflives, run.halflife_seconds
	  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', p.half_life)) p.half_life,
	               pg_catalog.date_part('epoch', p.half_life) AS seconds
	          FROM pg_temp.hs_profile p ORDER BY 2) h;
	SELECT coalesce(pg_catalog.array_agg(DISTINCT f ORDER BY f), '{}') INTO run.key_features
	  FROM pg_temp.hs_profile p, pg_catalog.unnest(p.key_features) f;
	IF run.has_feature AND pg_catalog.cardinality(run.key_features) > 62 THEN
		RAISE EXCEPTION 'refresh failed: profiles name % distinct key features, at most 62 are supported',
			pg_catalog.cardinality(run.key_features) USING ERRCODE = 'program_limit_exceeded';
	END IF;

	-- The windows: fixed ones, and those the built-in measures' params set.
	SELECT pg_catalog.jsonb_object_agg(m.name, m.params) INTO mp FROM pg_temp.hs_measure m WHERE m.kind = 'builtin';
	run.w30 := as_of - interval '30 days';
	run.w60 := as_of - interval '60 days';
	run.w90 := as_of - interval '90 days';
	run.w120 := as_of - interval '120 days';
	run.new_users_from := as_of - (mp #>> '{new_users,days}')::float8 * interval '1 day';
	run.adopted_from := as_of - (mp #>> '{key_features_adopted,days}')::float8 * interval '1 day';
	run.aged_before := as_of - (mp #>> '{aged_open_cases,days}')::float8 * interval '1 day';
	run.unanswered_from := as_of - (mp #>> '{unanswered_outreach,days}')::float8 * interval '1 day';
	run.detractor_from := as_of - (mp #>> '{detractor_responses,days}')::float8 * interval '1 day';
	run.detractor_max_rating := (mp #>> '{detractor_responses,max_rating}')::float8;
	-- score_earlier: the latest history row between days + tolerance_days and days before as_of
	run.earlier_to := as_of - (mp #>> '{score_earlier,days}')::float8 * interval '1 day';
	run.earlier_from := run.earlier_to - (mp #>> '{score_earlier,tolerance_days}')::float8 * interval '1 day';
	RETURN run;
END
$$;

CREATE OR REPLACE FUNCTION health_score._source_freshness(as_of timestamptz)
RETURNS TABLE (kind text, relation regclass, time_column text, newest timestamptz, max_lag interval, lag interval,
			   stale boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	msg text; det text; hnt text; st text;
BEGIN
	FOR src IN
		SELECT s.kind, s.relation, s.max_lag,
		       (SELECT s.columns ->> c.canonical FROM health_score._source_columns(s.kind) c
		         WHERE c.class = 'time' AND c.required ORDER BY c.ord LIMIT 1) AS time_column
		  FROM health_score.sources s
		 ORDER BY s.kind, s.relation::oid
	LOOP
		kind := src.kind;
		relation := src.relation;
		time_column := src.time_column;
		max_lag := src.max_lag;
		newest := NULL;
		IF src.time_column IS NOT NULL THEN
			BEGIN
				EXECUTE pg_catalog.format('SELECT pg_catalog.max(%1$I)::timestamptz FROM %2$s WHERE %1$I <= $1',
				                          src.time_column, src.relation)
				   INTO newest USING as_of;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
				                        st = RETURNED_SQLSTATE;
				PERFORM health_score._reraise(pg_catalog.format('failed reading %s source %s: %s',
				                                                src.kind, src.relation, msg), st, det, hnt);
			END;
		END IF;
		lag := as_of - newest;
		stale := coalesce(lag > src.max_lag, false);
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_freshness(run health_score._run)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
BEGIN
	SELECT coalesce(pg_catalog.array_agg(f.relation::text ORDER BY f.kind, f.relation::text), '{}'),
	       coalesce(pg_catalog.array_agg(DISTINCT f.kind), '{}')
	  INTO run.stale_sources, run.stale_kinds
	  FROM health_score._source_freshness(run.as_of) f
	 WHERE f.stale;
	RETURN run;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
	PERFORM health_score._reraise('refresh ' || msg, st, det, hnt);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_accounts(run health_score._run, force boolean, max_unscored_share float8,
											 OUT n_accounts integer, OUT n_unscored integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	weights text;
	dup text;
	n_scored_before integer;
	acc regclass := (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'accounts');
BEGIN
	SELECT 'ARRAY[' || pg_catalog.string_agg(pg_catalog.format('coalesce((p.weights ->> %L)::float8, 0)', c.name), ', ' ORDER BY c.ord)
	       || ']::float8[]'
	  INTO weights FROM pg_temp.hs_component c;
	PERFORM health_score._run_stage('accounts', 'accounts', pg_catalog.replace($q$
		-- (read twice, so that the planner sees how few pairs there are and hashes them)
		WITH s AS NOT MATERIALIZED (
		     SELECT s.* FROM (%s) s
		      WHERE s.account_id IS NOT NULL
		        AND (s.started_at IS NULL OR s.started_at <= $1)
		        AND (s.cancelled_at IS NULL OR s.cancelled_at > $1)),
		-- the profile of each (segment, lifecycle stage) pair present, matched once
		pairs AS (
		     SELECT x.segment, x.lifecycle_stage, p.*
		       FROM (SELECT DISTINCT s.segment, s.lifecycle_stage FROM s) x
		       LEFT JOIN LATERAL (
		            SELECT p.name AS profile, p.version AS profile_version, p.half_life, p.expected_events_per_user_day, p.target_utilisation,
		                   p.key_features, p.poor_below, p.good_from, @weights@ AS weight_array
		              FROM pg_temp.hs_profile p
		             WHERE (p.segment IS NULL OR p.segment = x.segment)
		               AND (p.lifecycle_stage IS NULL OR p.lifecycle_stage = x.lifecycle_stage)
		             ORDER BY (p.segment IS NOT NULL)::integer + (p.lifecycle_stage IS NOT NULL)::integer DESC,
		                      p.priority DESC, p.name
		             LIMIT 1) p ON true)
		SELECT s.account_id::text AS account_id, s.name, s.segment, s.lifecycle_stage, s.plan, s.owner, s.seats,
		       s.arr, s.renewal_date, s.started_at, s.cancelled_at, s.parent_account_id::text AS parent_account_id, s.dimensions,
		       p.profile, p.profile_version, p.half_life, p.expected_events_per_user_day, p.target_utilisation, p.key_features,
		       p.weight_array, p.poor_below, p.good_from
		  FROM s
		  -- NULL-safe and hashable: 'v' || value, or 'n' for NULL
		  JOIN pairs p ON coalesce('v' || p.segment, 'n') = coalesce('v' || s.segment, 'n')
		              AND coalesce('v' || p.lifecycle_stage, 'n') = coalesce('v' || s.lifecycle_stage, 'n')
		$q$, '@weights@', weights), run.keytype, NULL, NULL, ARRAY[run.as_of], creates => 'hs_acc');
	-- (statistics before the checks below read it, and the stages after join it)
	PERFORM health_score._work_analyze('{hs_acc}', 'account_id');
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a GROUP BY a.account_id HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed reading accounts source %: account_id % appears more than once', acc, dup
			USING ERRCODE = 'cardinality_violation';
	END IF;
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a WHERE a.profile IS NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed: no profile matches account %', dup
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Keep a catch-all profile (segment and lifecycle_stage NULL), such as the seeded ''default''.';
	END IF;
	SELECT count(*) INTO n_accounts FROM pg_temp.hs_acc;

	SELECT count(*), count(*) FILTER (WHERE a.account_id IS NULL)
	  INTO n_scored_before, n_unscored
	  FROM health_score.account_health h LEFT JOIN pg_temp.hs_acc a ON a.account_id = h.account_id;
	IF NOT force AND n_unscored > 0 AND n_unscored > max_unscored_share * n_scored_before THEN
		RAISE EXCEPTION 'refresh would stop scoring % of the % accounts scored now (% %%), more than health_score.max_unscored_share (%)',
			n_unscored, n_scored_before, pg_catalog.round(100.0 * n_unscored / n_scored_before, 1), max_unscored_share
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('The accounts source %s gives %s accounts started and not cancelled by as_of %s. Nothing was changed.',
			                                 acc, n_accounts, run.as_of),
			      HINT = 'If the accounts are really gone (cancelled, removed from the source), refresh with force => true: '
			             'SELECT * FROM health_score.refresh(force => true); if the source is being reloaded, refresh once it is complete.';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score._activity_signature(run health_score._run)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_build_object(
	       'account key type', run.keytype, 'user key type', run.usertype,
	       'half-lives', run.halflife_seconds, 'key features', CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END,
	       'events_90d counted', run.count_events_90d,
	       'activity sources', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
	                                'relation', s.relation::oid, 'columns', s.columns,
	                                -- (registered again: the capture triggers may have been missing meanwhile)
	                                'registered', s.added_at,
	                                'types', (SELECT pg_catalog.jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
	                                            FROM pg_catalog.pg_attribute a
	                                           WHERE a.attrelid = s.relation AND a.attnum > 0 AND NOT a.attisdropped
	                                             AND a.attname IN (SELECT c.value FROM pg_catalog.jsonb_each_text(s.columns) c)))
	                                ORDER BY s.relation::oid)
	                              FROM health_score.sources s WHERE s.kind = 'activity'))
$$;

CREATE OR REPLACE FUNCTION health_score._incremental_obstacle(run health_score._run, signature jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	state health_score.activity_state;
	src record;
	changed text[];
BEGIN
	FOR src IN SELECT s.relation FROM health_score.sources s JOIN pg_catalog.pg_class c ON c.oid = s.relation
	            WHERE s.kind = 'activity' AND c.relkind IN ('r', 'p') ORDER BY s.relation::oid LOOP
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS SHARE MODE', src.relation);
	END LOOP;
	FOR src IN SELECT c.relation, c.why_not FROM health_score.source_capture c WHERE NOT c.incremental ORDER BY c.relation::oid LOOP
		RETURN pg_catalog.format('activity source %s is read in full: %s', src.relation, src.why_not);
	END LOOP;
	SELECT * INTO state FROM health_score.activity_state;
	IF NOT FOUND THEN
		RETURN 'no incremental state yet (a first refresh, or the state was lost in a crash or a restore)';
	END IF;
	IF state.as_of > run.as_of THEN
		RETURN pg_catalog.format('as_of %s is before the state''s as_of %s', run.as_of, state.as_of);
	END IF;
	SELECT pg_catalog.array_agg(k ORDER BY k) INTO changed
	  FROM (SELECT k FROM pg_catalog.jsonb_object_keys(signature) k
	         WHERE (signature -> k) IS DISTINCT FROM (state.signature -> k)
	        UNION SELECT k FROM pg_catalog.jsonb_object_keys(state.signature) k WHERE NOT signature ? k) x;
	IF changed IS NOT NULL THEN
		RETURN 'changed since the state was built: ' || pg_catalog.array_to_string(changed, ', ');
	END IF;
	FOR src IN SELECT DISTINCT c.source FROM health_score.activity_changed c
	            WHERE c.account_id IS NULL AND c.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
	            ORDER BY 1 LOOP
		RETURN pg_catalog.format('activity source %s was truncated', src.source);
	END LOOP;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._activity_point_in_time(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- $1..$5 = as_of, -30d, -60d, new users from, adopted from; $6 the key features, $7 the half-lives
	PERFORM health_score._run_stage('activity', 'activity', pg_catalog.format(
		'SELECT a.account_id::text AS account_id, (a.m).events, '
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
		CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END, run.halflives, creates => 'hs_act');
END
$$;

CREATE OR REPLACE FUNCTION health_score._state_rows_sql(run health_score._run, rows_sql text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.format($q$
		SELECT a.account_id::text AS account_id, $1 AS ref_at, (a.m).events, (a.m).recent_events AS events_30, a.events_90,
		       (a.m).last_at, health_score._carry_decayed(NULL, NULL, $1, $7, (a.m).decayed) AS decayed, a.recheck_after,
		       coalesce((a.u).keys, '{}') AS users, coalesce((a.u).first_at, '{}') AS user_first,
		       coalesce((a.u).last_at, '{}') AS user_last, coalesce((a.u).last_before, '{}') AS user_last_before,
		       coalesce((a.f).keys, '{}') AS features, coalesce((a.f).first_at, '{}') AS feature_first,
		       coalesce((a.f).last_at, '{}') AS feature_last
		  FROM (SELECT s.account_id,
		               health_score._activity_measures(s.occurred_at, NULL, s.weight, $1, $2, $5, $7, '{}') AS m,
		               %s AS events_90, min(s.occurred_at) FILTER (WHERE s.occurred_at > $1) AS recheck_after,
		               health_score._key_times(s.user_id::text, s.occurred_at, $1, $2) AS u,
		               health_score._key_times(s.feature, s.occurred_at, $1, $2) FILTER (WHERE s.feature = ANY ($6)) AS f
		          FROM (%s) s WHERE s.account_id IS NOT NULL GROUP BY s.account_id) a
		 WHERE (a.m).events > 0 OR a.recheck_after IS NOT NULL
		$q$,
		CASE WHEN run.count_events_90d THEN 'count(*) FILTER (WHERE s.occurred_at > $3 AND s.occurred_at <= $1)'
		     ELSE 'NULL::bigint' END,
		rows_sql)
$$;

CREATE OR REPLACE FUNCTION health_score._activity_full(run health_score._run, signature jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	seen pg_snapshot;
BEGIN
	-- (the snapshot in a row of its own, there even when no account is)
	PERFORM health_score._run_stage('activity', 'activity',
		'SELECT f.*, s.seen FROM (SELECT pg_catalog.pg_current_snapshot() AS seen) s '
		|| 'LEFT JOIN (' || health_score._state_rows_sql(run, '%s') || ') f ON true',
		run.keytype, run.usertype, NULL,
		ARRAY[run.as_of, run.w30, run.w90, NULL, run.adopted_from],
		CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END, run.halflives, creates => 'hs_full');
	SELECT f.seen INTO seen FROM pg_temp.hs_full f LIMIT 1;
	TRUNCATE health_score.activity_state, health_score.activity_state_account;
	INSERT INTO health_score.activity_state_account
	SELECT f.account_id, f.ref_at, f.events, f.events_30, f.events_90, f.last_at, f.decayed, f.recheck_after, f.users,
	       f.user_first, f.user_last, f.user_last_before, f.features, f.feature_first, f.feature_last
	  FROM pg_temp.hs_full f WHERE f.account_id IS NOT NULL;
	DELETE FROM health_score.activity_inserted l WHERE pg_catalog.pg_visible_in_snapshot(l.xact, seen);
	DELETE FROM health_score.activity_changed l WHERE pg_catalog.pg_visible_in_snapshot(l.xact, seen);
	INSERT INTO health_score.activity_state (as_of, signature, built_at, built_as_of)
	VALUES (run.as_of, signature, pg_catalog.now(), run.as_of);
END
$$;

CREATE OR REPLACE FUNCTION health_score._activity_incremental(run health_score._run, signature jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	was constant timestamptz := (SELECT s.as_of FROM health_score.activity_state s);
	kf constant text[] := CASE WHEN run.has_feature THEN run.key_features ELSE '{}' END;
	n_recomputed bigint;
BEGIN
	PERFORM health_score._work_create('hs_delta', '(part "char", account_id text, user_id text, feature text,
		weight float8, occurred_at timestamptz)');
	-- One statement, one snapshot: the logs consumed and the sources read together. Parts: n the rows
	-- inserted (from the log, up to as_of), e and q the rows leaving the 30 and 90-day windows, d every row
	-- of an account to recompute, p the earliest row still ahead in the log of such an account, x the
	-- accounts to recompute: updated or deleted rows, or rows dated after the state's as_of now due.
	-- $1 = as_of, $2/$3 = the 30-day window's start then and now, $4/$5 the 90-day window's
	PERFORM health_score._run_stage('activity', 'activity', pg_catalog.format($q$
		WITH changed AS (DELETE FROM health_score.activity_changed c
		                  WHERE c.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
		                  RETURNING c.account_id),
		     dirty AS (SELECT c.account_id FROM changed c WHERE c.account_id IS NOT NULL
		               UNION SELECT st.account_id FROM health_score.activity_state_account st WHERE st.recheck_after <= $1),
		     consumed AS (DELETE FROM health_score.activity_inserted l
		                   WHERE l.occurred_at <= $1
		                     AND l.source IN (SELECT s.relation FROM health_score.sources s WHERE s.kind = 'activity')
		                  RETURNING l.account_id, l.user_id, l.feature, l.weight, l.occurred_at),
		     dirty_keys AS (SELECT pg_catalog.array_agg(d.account_id)::%1$s[] AS k FROM dirty d)
		INSERT INTO pg_temp.hs_delta (part, account_id, user_id, feature, weight, occurred_at)
		SELECT 'n', c.account_id, c.user_id, c.feature, c.weight, c.occurred_at
		  FROM consumed c WHERE NOT EXISTS (SELECT FROM dirty d WHERE d.account_id = c.account_id)
		UNION ALL
		SELECT 'e', s.account_id::text, s.user_id::text, NULL, NULL, s.occurred_at
		  FROM (%%1$s) s WHERE s.occurred_at > $2 AND s.occurred_at <= $3 AND s.account_id IS NOT NULL
		%2$s
		UNION ALL
		SELECT 'd', s.account_id::text, s.user_id::text, s.feature, s.weight, s.occurred_at
		  FROM (%%1$s) s WHERE (SELECT k.k FROM dirty_keys k) IS NOT NULL AND s.account_id = ANY ((SELECT k.k FROM dirty_keys k)::%1$s[])
		UNION ALL
		SELECT 'p', l.account_id, NULL, NULL, NULL, min(l.occurred_at)
		  FROM health_score.activity_inserted l
		 WHERE l.occurred_at > $1 AND l.account_id IN (SELECT d.account_id FROM dirty d) GROUP BY l.account_id
		UNION ALL
		SELECT 'x', d.account_id, NULL, NULL, NULL, NULL FROM dirty d
		$q$, run.keytype,
		CASE WHEN run.count_events_90d THEN
		     'UNION ALL SELECT ''q'', s.account_id::text, NULL, NULL, NULL, s.occurred_at '
		     'FROM (%1$s) s WHERE s.occurred_at > $4 AND s.occurred_at <= $5 AND s.account_id IS NOT NULL' ELSE '' END),
		run.keytype, run.usertype, NULL,
		ARRAY[t, was - interval '30 days', run.w30, was - interval '90 days', run.w90]);
	EXECUTE pg_catalog.format('CREATE INDEX ON %s (account_id)', health_score._work_table('hs_delta'));
	PERFORM health_score._work_analyze('{hs_delta}', '*');

	SELECT count(*) INTO n_recomputed FROM pg_temp.hs_delta d WHERE d.part = 'x';
	-- recomputing more than half the accounts one by one costs more than one pass over everything
	IF n_recomputed > 1000 AND n_recomputed > (SELECT count(*) FROM health_score.activity_state_account) / 2 THEN
		RETURN NULL;
	END IF;

	-- the accounts recomputed from their own rows, as the full pass computes them, and those with no row
	-- left but rows ahead in the log
	IF n_recomputed > 0 THEN
		DELETE FROM health_score.activity_state_account st USING pg_temp.hs_delta x
		 WHERE x.part = 'x' AND st.account_id = x.account_id;
		EXECUTE 'INSERT INTO health_score.activity_state_account '
		        || health_score._state_rows_sql(run, 'SELECT * FROM pg_temp.hs_delta WHERE part = ''d''')
		  USING t, run.w30, run.w90, NULL::timestamptz, run.adopted_from, kf, run.halflives;
		INSERT INTO health_score.activity_state_account AS st (account_id, ref_at, events, events_30, events_90, last_at,
			decayed, recheck_after)
		SELECT p.account_id, t, 0, 0, CASE WHEN run.count_events_90d THEN 0 END, NULL,
		       health_score._carry_decayed(NULL, NULL, t, run.halflives, NULL), p.occurred_at
		  FROM pg_temp.hs_delta p WHERE p.part = 'p'
		ON CONFLICT (account_id) DO UPDATE SET recheck_after = least(st.recheck_after, excluded.recheck_after);
	END IF;

	-- the other accounts: their inserted rows added, the rows leaving the windows taken off (those of
	-- them inserted since the last refresh were never in the state's counts)
	INSERT INTO health_score.activity_state_account AS st (account_id, ref_at, events, events_30, events_90, last_at,
		decayed, recheck_after)
	SELECT n.account_id, t, coalesce((n.m).events, 0), coalesce((n.m).recent_events, 0) - n.left_30,
	       CASE WHEN run.count_events_90d THEN n.in_90 - n.left_90 END, (n.m).last_at,
	       health_score._carry_decayed(NULL, NULL, t, run.halflives, (n.m).decayed), NULL
	  FROM (SELECT r.account_id,
	               health_score._activity_measures(r.occurred_at, NULL, r.weight, t, run.w30, run.adopted_from,
	                                               run.halflives, '{}') FILTER (WHERE r.part = 'n') AS m,
	               count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > run.w90) AS in_90,
	               count(*) FILTER (WHERE r.part = 'e')
	               - count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > was - interval '30 days' AND r.occurred_at <= run.w30) AS left_30,
	               count(*) FILTER (WHERE r.part = 'q')
	               - count(*) FILTER (WHERE r.part = 'n' AND r.occurred_at > was - interval '90 days' AND r.occurred_at <= run.w90) AS left_90
	          FROM pg_temp.hs_delta r
	         WHERE r.part IN ('n', 'e', 'q')
	           AND NOT EXISTS (SELECT FROM pg_temp.hs_delta x WHERE x.part = 'x' AND x.account_id = r.account_id)
	         GROUP BY r.account_id) n
	ON CONFLICT (account_id) DO UPDATE
	   SET ref_at = excluded.ref_at, events = st.events + excluded.events, events_30 = st.events_30 + excluded.events_30,
	       events_90 = st.events_90 + excluded.events_90, last_at = greatest(st.last_at, excluded.last_at),
	       decayed = health_score._carry_decayed(st.decayed, st.ref_at, excluded.ref_at, run.halflives, excluded.decayed);
	-- Their users and key features: the stored times and the new rows' aggregated again. A stored time is
	-- one of the account's rows, so it is a candidate for each time kept (the rows now at or before as_of -
	-- 30 days but after the state's as_of - 30 days are the e part).
	UPDATE health_score.activity_state_account st
	   SET (users, user_first, user_last, user_last_before) =
	       (SELECT coalesce((x.u).keys, '{}'), coalesce((x.u).first_at, '{}'), coalesce((x.u).last_at, '{}'),
	               coalesce((x.u).last_before, '{}')
	          FROM (SELECT health_score._key_times(k.key, k.at, t, run.w30) AS u
	                  FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_first))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_last))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.users), pg_catalog.unnest(st.user_last_before))
	                        UNION ALL SELECT r.user_id, r.occurred_at FROM pg_temp.hs_delta r
	                                   WHERE r.account_id = st.account_id AND r.part IN ('n', 'e')) k (key, at)) x),
	       (features, feature_first, feature_last) =
	       (SELECT coalesce((x.f).keys, '{}'), coalesce((x.f).first_at, '{}'), coalesce((x.f).last_at, '{}')
	          FROM (SELECT health_score._key_times(k.key, k.at, t, run.w30) AS f
	                  FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest(st.features), pg_catalog.unnest(st.feature_first))
	                        UNION ALL SELECT * FROM ROWS FROM (pg_catalog.unnest(st.features), pg_catalog.unnest(st.feature_last))
	                        UNION ALL SELECT r.feature, r.occurred_at FROM pg_temp.hs_delta r
	                                   WHERE r.account_id = st.account_id AND r.part = 'n' AND r.feature = ANY (kf)) k (key, at)) x)
	 WHERE st.account_id IN (SELECT r.account_id FROM pg_temp.hs_delta r WHERE r.part IN ('n', 'e'))
	   AND NOT EXISTS (SELECT FROM pg_temp.hs_delta x WHERE x.part = 'x' AND x.account_id = st.account_id);

	UPDATE health_score.activity_state SET as_of = t;
	RETURN n_recomputed;
END
$$;

CREATE OR REPLACE FUNCTION health_score._activity_from_state(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_act', $q$AS
	SELECT a.account_id, a.events, a.events_30, a.events_90, a.last_at AS last_activity_at,
	       health_score._carry_decayed(a.decayed, a.ref_at, ($1).as_of, ($1).halflives, NULL) AS decayed,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_last, ($1).w30) END AS users_30,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_last_before, ($1).w60) END AS users_prev_30,
	       CASE WHEN ($1).has_users THEN health_score._count_after(a.user_first, ($1).new_users_from) END AS new_users,
	       f.bits[1] AS kf_used_30, f.bits[2] AS kf_before_adopt, f.bits[3] AS kf_since_adopt
	  FROM health_score.activity_state_account a,
	       LATERAL (SELECT health_score._feature_bits(a.features, a.feature_first, a.feature_last,
	                                                  coalesce(($1).key_features, '{}'), ($1).w30, ($1).adopted_from) AS bits) f
	 WHERE a.events > 0$q$, run);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_activity(run health_score._run)
RETURNS health_score._run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	signature jsonb;
	asked constant text := run.activity_mode;
BEGIN
	run.activity_reason := NULL;
	IF NOT run.has_activity THEN
		PERFORM health_score._work_create('hs_act', '(account_id text, events bigint, events_30 bigint, events_90 bigint,
			last_activity_at timestamptz, decayed float8[], users_30 bigint, users_prev_30 bigint, new_users bigint,
			kf_used_30 bigint, kf_before_adopt bigint, kf_since_adopt bigint)');
		run.activity_mode := CASE WHEN asked = 'point_in_time' THEN asked ELSE 'full' END;
		run.activity_reason := CASE WHEN asked <> 'point_in_time' THEN 'no activity source' END;
		RETURN run;
	END IF;
	IF asked = 'point_in_time' THEN
		PERFORM health_score._activity_point_in_time(run);
		RETURN run;
	END IF;

	signature := health_score._activity_signature(run);
	run.activity_reason := CASE WHEN asked = 'full' THEN 'a full refresh was asked for'
	                            ELSE health_score._incremental_obstacle(run, signature) END;
	IF asked = 'incremental' AND run.activity_reason IS NOT NULL THEN
		RAISE EXCEPTION 'refresh cannot read the activity incrementally: %', run.activity_reason
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Refresh with mode => ''auto'' (a full pass when needed) or mode => ''full''.';
	END IF;
	IF run.activity_reason IS NULL THEN
		IF health_score._activity_incremental(run, signature) IS NULL THEN
			run.activity_reason := 'more than half the accounts had rows updated, deleted or due: one pass over every row costs less';
		END IF;
	END IF;
	IF run.activity_reason IS NULL THEN
		run.activity_mode := 'incremental';
	ELSE
		PERFORM health_score._activity_full(run, signature);
		run.activity_mode := 'full';
	END IF;
	PERFORM health_score._activity_from_state(run);
	RETURN run;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_support_cases(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT run.has_support THEN
		PERFORM health_score._work_create('hs_sup', '(account_id text, cases_30 bigint, cases_prev_90 bigint, open_cases bigint,
			aged_open_cases bigint, open_high bigint, oldest_open_at timestamptz, last_case_at timestamptz)');
		RETURN;
	END IF;
	-- $1..$4 = as_of, -30d, -120d, aged before
	PERFORM health_score._run_stage('support_cases', 'support_cases', $q$
		SELECT s.account_id::text AS account_id,
		       count(*) FILTER (WHERE s.opened_at > $2) AS cases_30,
		       count(*) FILTER (WHERE s.opened_at > $3 AND s.opened_at <= $2) AS cases_prev_90,
		       count(*) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS open_cases,
		       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1) AND s.opened_at < $4) AS aged_open_cases,
		       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1)
		                          AND pg_catalog.lower(s.priority) IN ('high', 'urgent', 'critical', 'p0', 'p1')) AS open_high,
		       min(s.opened_at) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS oldest_open_at,
		       max(s.opened_at) AS last_case_at
		  FROM (%s) s
		 GROUP BY s.account_id
		$q$, run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of, run.w30, run.w120, run.aged_before], creates => 'hs_sup');
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_surveys(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT run.has_surveys THEN
		PERFORM health_score._work_create('hs_srv', '(account_id text, responses_90 bigint, nps_90 float8, avg_rating_90 float8,
			promoters_90 bigint, detractors_90 bigint, min_rating_90 float8, detractor_responses bigint)');
		RETURN;
	END IF;
	-- $1..$4 = as_of, -90d, detractor window start, scan start; the detractor max rating is a literal
	PERFORM health_score._run_stage('surveys', 'surveys', pg_catalog.format($q$
		SELECT s.account_id::text AS account_id,
		       count(s.rating) FILTER (WHERE s.responded_at > $2) AS responses_90,
		       health_score.nps(pg_catalog.round(s.rating)::integer) FILTER (WHERE s.responded_at > $2) AS nps_90,
		       avg(s.rating) FILTER (WHERE s.responded_at > $2) AS avg_rating_90,
		       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating >= 9) AS promoters_90,
		       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating <= 6) AS detractors_90,
		       min(s.rating) FILTER (WHERE s.responded_at > $2) AS min_rating_90,
		       count(*) FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$L::float8) AS detractor_responses
		  FROM (%%s) s
		 WHERE s.rating IS NOT NULL
		 GROUP BY s.account_id
		$q$, run.detractor_max_rating),
		run.keytype, NULL, '%1$s <= $1 AND %1$s > $4', ARRAY[run.as_of, run.w90, run.detractor_from, least(run.w90, run.detractor_from)],
		creates => 'hs_srv');
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_touchpoints(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kinds text;
BEGIN
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           ', max(s.occurred_at) FILTER (WHERE s.kind = %L) AS %I', m.params ->> 'kind', m.name), '' ORDER BY m.name), '')
	  INTO kinds FROM pg_temp.hs_measure m WHERE m.kind = 'touchpoint' AND run.has_touch_kind;
	IF NOT run.has_touch THEN
		PERFORM health_score._work_create('hs_tp', '(account_id text, last_response_at timestamptz, unanswered bigint, unanswered_30 bigint)');
		RETURN;
	END IF;
	-- $1..$3 = as_of, -30d, unanswered from. Every aggregate combines, so that parallel workers can share
	-- the scan. The direction in lower case, lowered only when it is not already (directions are ASCII
	-- words, which the "C" collation lowers byte by byte); the kind as the measures name it, once per row (a
	-- function scan: an expression would be evaluated again for each measure).
	PERFORM health_score._run_stage('touchpoints', 'touchpoints', pg_catalog.format($q$
		SELECT s.account_id::text AS account_id,
		       max(s.occurred_at) FILTER (WHERE s.response) AS last_response_at,
		       (health_score._unanswered(s.occurred_at, s.response, s.outreach, $3, $2))[1] AS unanswered,
		       (health_score._unanswered(s.occurred_at, s.response, s.outreach, $3, $2))[2] AS unanswered_30
		       %1$s
		  FROM (SELECT s.account_id, s.occurred_at, %2$s AS kind,
		               s.direction = 'inbound' OR (s.direction = 'outbound' AND s.answered) AS response,
		               s.direction = 'outbound' AND s.answered IS FALSE AS outreach
		          FROM (SELECT s.account_id, s.occurred_at, s.answered, s.kind,
		                       CASE WHEN s.direction IN ('inbound', 'outbound') THEN s.direction
		                            ELSE pg_catalog.lower(s.direction COLLATE "C") END AS direction
		                  FROM (%%s) s) s %3$s) s
		 GROUP BY s.account_id
		$q$, pg_catalog.replace(kinds, '%', '%%'),
		     CASE WHEN kinds = '' THEN 'NULL::text' ELSE 'k.kind' END,
		     CASE WHEN kinds = '' THEN '' ELSE ', LATERAL ROWS FROM (health_score._touchpoint_kind(s.kind)) k (kind)' END),
		run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of, run.w30, run.unanswered_from], creates => 'hs_tp');
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_observations(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM health_score._work_create('hs_obs', $q$AS
	SELECT o.account_id, count(*) AS open_observations,
	       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('indicator', o.indicator, 'note', o.note,
	           'observed_by', o.observed_by, 'observed_at', o.observed_at) ORDER BY o.observed_at, o.id) AS observations
	  FROM health_score.observation o
	 WHERE o.observed_at <= ($1).as_of AND (o.resolved_at IS NULL OR o.resolved_at > ($1).as_of)
	 GROUP BY o.account_id$q$, run);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_metrics(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cols text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format(', max(x.value) FILTER (WHERE x.metric = %L) AS %I', m.name, m.name), '' ORDER BY m.name)
	  INTO cols FROM pg_temp.hs_measure m WHERE m.kind = 'metric';
	IF NOT run.has_metrics OR cols IS NULL THEN
		PERFORM health_score._work_create('hs_met', '(account_id text)');
		RETURN;
	END IF;
	PERFORM health_score._run_stage('metrics', 'metrics', pg_catalog.format($q$
		SELECT x.account_id %s
		  FROM (SELECT DISTINCT ON (s.account_id, s.metric) s.account_id::text AS account_id, s.metric,
		               NULLIF(s.value, 'NaN') AS value
		          FROM (%%s) s
		         WHERE s.value IS NOT NULL AND s.account_id IS NOT NULL
		         ORDER BY s.account_id, s.metric, s.measured_at DESC) x
		 GROUP BY x.account_id
		$q$, pg_catalog.replace(cols, '%', '%%')),
		run.keytype, NULL, '%1$s <= $1', ARRAY[run.as_of], creates => 'hs_met');
END
$$;

CREATE OR REPLACE FUNCTION health_score._query_measure_cte(query text, i bigint)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- (a new line after the query: a trailing -- comment in it comments out nothing of ours)
	SELECT pg_catalog.format('q%s AS MATERIALIZED (SELECT q.account_id::text AS account_id, NULLIF(q.value::float8, ''NaN'') AS value '
	                         || E'FROM (%s\n) q WHERE q.account_id IS NOT NULL)', $2, $1)
$$;

CREATE OR REPLACE FUNCTION health_score._failing_query_measure(as_of timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q record;
BEGIN
	FOR q IN SELECT x.name, x.query FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		BEGIN
			-- (both columns used, so that neither is planned away)
			EXECUTE pg_catalog.format(E'SELECT count(q.account_id::text), count(q.value::float8) FROM (%s\n) q', q.query)
			  USING as_of;
		EXCEPTION WHEN OTHERS THEN
			RETURN q.name;
		END;
	END LOOP;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_measures(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	extra text;
	query_ctes text;
	query_joins text;
	q record;
	failing text;
	dup text;
	msg text; det text; hnt text; st text;
BEGIN
	-- work tables have no statistics until analyzed; without them the joins below plan badly (the join
	-- key is all the planner needs: analyzing only it skips the wide columns)
	PERFORM health_score._work_analyze('{hs_act,hs_sup,hs_srv,hs_tp,hs_obs,hs_met}', 'account_id');
	-- The names of the key features in a bitmask, in the profile's order: built once for each profile and
	-- bitmask that occurs, not once for each account.
	PERFORM health_score._work_create('hs_kf', $q$AS
	SELECT x.profile, x.bits,
	       ARRAY(SELECT f FROM pg_catalog.unnest(p.key_features) f
	              WHERE (x.bits >> (pg_catalog.array_position(($1).key_features, f) - 1)) & 1 = 1) AS features
	  FROM (SELECT DISTINCT a.profile, b.bits
	          FROM pg_temp.hs_acc a
	          JOIN pg_temp.hs_act act ON act.account_id = a.account_id,
	               LATERAL (VALUES (act.kf_used_30), (act.kf_since_adopt & ~act.kf_before_adopt)) b (bits)) x
	  JOIN pg_temp.hs_profile p ON p.name = x.profile$q$, run, '*');

	-- the measures of the other kinds: the last touchpoint of a kind, a metric, a query's value; a query is
	-- a common table expression of this statement, so that its rows are never written anywhere but in hs_m
	FOR q IN SELECT x.name, x.query, x.owner FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
		PERFORM health_score._check_measure_trust(q.name, q.owner, q.query);
	END LOOP;
	SELECT coalesce(pg_catalog.string_agg(CASE m.kind
	           WHEN 'touchpoint' THEN CASE WHEN run.has_touch_kind
	                THEN pg_catalog.format(', coalesce(pg_catalog.date_part(''epoch'', $1 - tp.%1$I) / 86400, ''Infinity'') AS %1$I', m.name)
	                ELSE pg_catalog.format(', NULL::float8 AS %I', m.name) END
	           WHEN 'metric' THEN pg_catalog.format(', met.%1$I AS %1$I', m.name)
	           WHEN 'query' THEN pg_catalog.format(', q%s.value AS %I', m.i, m.name) END, '' ORDER BY m.name), ''),
	       coalesce('WITH ' || pg_catalog.string_agg(health_score._query_measure_cte(m.query, m.i), ', ' ORDER BY m.name)
	                    FILTER (WHERE m.kind = 'query'), ''),
	       coalesce(pg_catalog.string_agg(pg_catalog.format(' LEFT JOIN q%s ON q%s.account_id = a.account_id', m.i, m.i), '' ORDER BY m.name)
	                    FILTER (WHERE m.kind = 'query'), '')
	  INTO extra, query_ctes, query_joins
	  FROM (SELECT x.*, pg_catalog.row_number() OVER (PARTITION BY x.kind = 'query' ORDER BY x.name) AS i
	          FROM pg_temp.hs_measure x WHERE x.kind <> 'builtin') m;

	BEGIN
		EXECUTE pg_catalog.format($q$
		CREATE UNLOGGED TABLE %s AS
		%s
		SELECT a.account_id,
		       -- accounts
		       a.seats,
		       a.arr,
		       a.renewal_date - $1::date AS days_to_renewal,
		       pg_catalog.date_part('epoch', $1 - a.started_at) / 86400 AS account_age_days,
		       -- activity
		       CASE WHEN $2 THEN coalesce(act.events, 0) END AS events_total,
		       CASE WHEN $2 THEN coalesce(act.events_30, 0) END AS events_30d,
		       CASE WHEN $2 AND $9 THEN coalesce(act.events_90, 0) END AS events_90d,
		       CASE WHEN $2 THEN coalesce(pg_catalog.date_part('epoch', $1 - act.last_activity_at) / 86400, 'Infinity') END
		           AS days_since_activity,
		       CASE WHEN $2 THEN coalesce(act.decayed[pg_catalog.array_position($8, pg_catalog.date_part('epoch', a.half_life))], 0) END
		           AS decayed_events,
		       CASE WHEN $3 THEN coalesce(act.users_30, 0) END AS active_users_30d,
		       CASE WHEN $3 THEN coalesce(act.users_prev_30, 0) END AS active_users_prev_30d,
		       CASE WHEN $3 AND act.users_prev_30 > 0
		            THEN (act.users_prev_30 - coalesce(act.users_30, 0))::float8 / act.users_prev_30 END AS active_users_decline,
		       CASE WHEN $3 THEN coalesce(act.new_users, 0) END AS new_users,
		       CASE WHEN $3 AND act.users_30 > 0 THEN act.events_30::float8 / act.users_30 END AS events_per_active_user_30d,
		       health_score.utilisation(CASE WHEN $3 THEN coalesce(act.users_30, 0) END, a.seats) AS utilisation,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0
		            THEN pg_catalog.cardinality(coalesce(used.features, '{}')) END AS key_features_used_30d,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0
		            THEN pg_catalog.cardinality(coalesce(adopted.features, '{}')) END AS key_features_adopted,
		       -- support cases
		       CASE WHEN $5 THEN coalesce(sup.cases_30, 0) END AS cases_30d,
		       CASE WHEN $5 THEN coalesce(sup.cases_prev_90, 0) END AS cases_prev_90d,
		       CASE WHEN $5 THEN coalesce(sup.open_cases, 0) END AS open_cases,
		       CASE WHEN $5 THEN coalesce(sup.aged_open_cases, 0) END AS aged_open_cases,
		       pg_catalog.date_part('epoch', $1 - sup.oldest_open_at) / 86400 AS oldest_open_case_days,
		       CASE WHEN $5 THEN coalesce(pg_catalog.date_part('epoch', $1 - sup.last_case_at) / 86400, 'Infinity') END
		           AS days_since_last_case,
		       CASE WHEN $5 THEN coalesce(sup.open_high, 0) END AS open_high_priority_cases,
		       -- surveys
		       CASE WHEN $6 THEN coalesce(srv.responses_90, 0) END AS responses_90d,
		       srv.nps_90 AS nps_90d,
		       srv.avg_rating_90 AS average_rating_90d,
		       CASE WHEN $6 THEN coalesce(srv.promoters_90, 0) END AS promoters_90d,
		       CASE WHEN $6 THEN coalesce(srv.detractors_90, 0) END AS detractors_90d,
		       srv.min_rating_90 AS lowest_rating_90d,
		       CASE WHEN $6 THEN coalesce(srv.detractor_responses, 0) END AS detractor_responses,
		       -- touchpoints
		       CASE WHEN $7 THEN coalesce(pg_catalog.date_part('epoch', $1 - tp.last_response_at) / 86400, 'Infinity') END
		           AS days_since_response,
		       CASE WHEN $7 THEN coalesce(pg_catalog.date_part('epoch', $1 - greatest(tp.last_response_at, sup.last_case_at)) / 86400,
		                                  'Infinity') END AS days_since_contact,
		       CASE WHEN $7 THEN coalesce(tp.unanswered_30, 0) END AS unanswered_outreach_30d,
		       CASE WHEN $7 THEN coalesce(tp.unanswered, 0) END AS unanswered_outreach,
		       -- observations
		       coalesce(obs.open_observations, 0) AS open_observations,
		       -- overrides (set_override): in force from when set until it expires
		       CASE WHEN ov.set_at <= $1 AND ov.expires_at > $1
		            THEN pg_catalog.date_part('epoch', ov.expires_at - $1) / 86400 END AS override_days_left,
		       -- goals and plans: the next stage (45_goals_plans.sql) fills them in for the accounts with any
		       NULL::float8 AS goal_attainment, NULL::float8 AS goal_shortfall, NULL::bigint AS plan_breaches
		       %s,
		       -- for the components
		       a.profile AS _profile, a.half_life AS _half_life, a.target_utilisation AS _target_utilisation,
		       a.expected_events_per_user_day
		           * CASE WHEN a.seats > 0 THEN a.seats * a.target_utilisation
		                  ELSE greatest(coalesce(act.users_30, 0), 1) END AS _expected_per_day,
		       a.key_features AS _key_features,
		       CASE WHEN $4 AND pg_catalog.cardinality(a.key_features) > 0 THEN coalesce(used.features, '{}') END AS _features_used,
		       act.last_activity_at AS _last_activity_at, a.weight_array AS _weights, a.poor_below AS _poor_below,
		       a.good_from AS _good_from, obs.observations AS _observations, tp.last_response_at AS _last_response_at
		  FROM pg_temp.hs_acc a
		  LEFT JOIN pg_temp.hs_act act ON act.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_sup sup ON sup.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_srv srv ON srv.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_tp tp ON tp.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_obs obs ON obs.account_id = a.account_id
		  LEFT JOIN health_score.override ov ON ov.account_id = a.account_id
		  LEFT JOIN pg_temp.hs_met met ON met.account_id = a.account_id
		  %s
		  LEFT JOIN pg_temp.hs_kf used ON used.profile = a.profile AND used.bits = act.kf_used_30
		  LEFT JOIN pg_temp.hs_kf adopted ON adopted.profile = a.profile
		                      AND adopted.bits = act.kf_since_adopt & ~act.kf_before_adopt
		$q$, health_score._work_table('hs_m'), query_ctes, extra, query_joins)
		USING run.as_of, run.has_activity, run.has_users, run.has_feature, run.has_support, run.has_surveys,
		      run.has_touch, run.halflife_seconds, run.count_events_90d;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		failing := health_score._failing_query_measure(run.as_of);
		PERFORM health_score._reraise(CASE WHEN failing IS NULL THEN 'refresh failed computing the measures: ' || msg
		                                   ELSE pg_catalog.format('refresh failed computing measure %s: %s', failing, msg) END,
		                              st, det, hnt);
	END;
	PERFORM health_score._work_publish('hs_m');
	-- one row per account, unless a query measure returned an account twice
	IF (SELECT count(*) FROM pg_temp.hs_m) <> (SELECT count(*) FROM pg_temp.hs_acc) THEN
		FOR q IN SELECT x.name, x.query FROM pg_temp.hs_measure x WHERE x.kind = 'query' ORDER BY x.name LOOP
			EXECUTE pg_catalog.format(E'SELECT q.account_id::text FROM (%s\n) q GROUP BY q.account_id HAVING count(*) > 1 LIMIT 1', q.query)
			   INTO dup USING run.as_of;
			IF dup IS NOT NULL THEN
				RAISE EXCEPTION 'refresh failed computing measure %: it returned account % more than once', q.name, dup
					USING ERRCODE = 'cardinality_violation',
					      HINT = 'A measure''s query returns one row per account: GROUP BY account_id.';
			END IF;
		END LOOP;
	END IF;
	PERFORM health_score._work_analyze('{hs_m}', 'account_id');
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_goals_plans(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	goal_values text;
	commitment_values text;
BEGIN
	-- the value of each tracked measure, a branch per measure (a column of hs_m named after it)
	SELECT pg_catalog.string_agg(pg_catalog.format(
	           'SELECT g.id, g.account_id, m.%1$I::float8 AS value FROM health_score.goal g JOIN pg_temp.hs_m m ON m.account_id = g.account_id '
	           'WHERE g.measure = %2$L AND g.set_at <= ($1).as_of AND (g.closed_at IS NULL OR g.closed_at > ($1).as_of)',
	           x.measure, x.measure), ' UNION ALL ' ORDER BY x.measure)
	  INTO goal_values
	  FROM (SELECT DISTINCT g.measure FROM health_score.goal g WHERE g.closed_at IS NULL OR g.closed_at > run.as_of) x;
	SELECT pg_catalog.string_agg(pg_catalog.format(
	           'SELECT c.id, p.account_id, m.%1$I::float8 AS value FROM health_score.plan_commitment c '
	           'JOIN health_score.plan p ON p.id = c.plan_id JOIN pg_temp.hs_m m ON m.account_id = p.account_id '
	           'WHERE c.measure = %2$L AND p.started_at <= ($1).as_of AND (p.completed_at IS NULL OR p.completed_at > ($1).as_of)',
	           x.measure, x.measure), ' UNION ALL ' ORDER BY x.measure)
	  INTO commitment_values
	  FROM (SELECT DISTINCT c.measure FROM health_score.plan_commitment c
	          JOIN health_score.plan p ON p.id = c.plan_id
	         WHERE p.completed_at IS NULL OR p.completed_at > run.as_of) x;

	PERFORM health_score._work_create('hs_goal', CASE WHEN goal_values IS NULL
		THEN '(goal_id bigint, account_id text, value float8, attainment float8, expected float8, shortfall float8)'
		ELSE pg_catalog.format($q$AS
	SELECT v.id AS goal_id, v.account_id, v.value, a.attainment, e.expected,
	       CASE WHEN a.attainment IS NOT NULL THEN greatest(0, e.expected - least(a.attainment, 1)) END AS shortfall
	  FROM (%s) v
	  JOIN health_score.goal g ON g.id = v.id,
	       LATERAL (SELECT NULLIF(v.value, 'NaN') AS value) n,
	       LATERAL (SELECT (n.value - g.baseline) / (g.target - g.baseline) AS attainment) a,
	       LATERAL (SELECT least(1, greatest(0, ((($1).as_of)::date - g.starts_on)::float8 / (g.due_on - g.starts_on))) AS expected) e$q$,
		goal_values) END, run);
	PERFORM health_score._work_create('hs_breach', CASE WHEN commitment_values IS NULL
		THEN '(commitment_id bigint, account_id text, value float8, breached boolean)'
		ELSE pg_catalog.format($q$AS
	SELECT v.id AS commitment_id, v.account_id, NULLIF(v.value, 'NaN') AS value,
	       coalesce(NULLIF(v.value, 'NaN') > c.at_most OR NULLIF(v.value, 'NaN') < c.at_least, false) AS breached
	  FROM (%s) v
	  JOIN health_score.plan_commitment c ON c.id = v.id$q$, commitment_values) END, run);

	UPDATE pg_temp.hs_m m
	   SET goal_attainment = x.goal_attainment, goal_shortfall = x.goal_shortfall, plan_breaches = x.plan_breaches
	  FROM (SELECT coalesce(g.account_id, b.account_id) AS account_id, g.goal_attainment, g.goal_shortfall, b.plan_breaches
	          FROM (SELECT g.account_id, pg_catalog.avg(greatest(0, least(g.attainment, 1))) AS goal_attainment,
	                       pg_catalog.max(g.shortfall) AS goal_shortfall
	                  FROM pg_temp.hs_goal g GROUP BY g.account_id) g
	          FULL JOIN (SELECT b.account_id, pg_catalog.count(*) FILTER (WHERE b.breached) AS plan_breaches
	                       FROM pg_temp.hs_breach b GROUP BY b.account_id) b ON b.account_id = g.account_id) x
	 WHERE m.account_id = x.account_id;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_components(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	added text;
	added_array text;
	added_json text;
	msg text; det text; hnt text; st text;
BEGIN
	-- components added with add_component: linear from worst (0) to best (100), clamped
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           ', CASE WHEN m.%1$I IS NOT NULL THEN greatest(0::float8, least(100::float8, 100 * (m.%1$I::float8 - %2$L::float8) / (%3$L::float8 - %2$L::float8))) END AS %4$I',
	           c.measure, c.worst, c.best, '_c_' || c.name), '' ORDER BY c.ord), ''),
	       coalesce(pg_catalog.string_agg(pg_catalog.format(', c.%I', '_c_' || c.name), '' ORDER BY c.ord), ''),
	       -- (built only for an account with a value: most have none of goals, say)
	       coalesce('CASE WHEN pg_catalog.num_nonnulls(' || pg_catalog.string_agg(pg_catalog.format('c.%I', '_c_' || c.name), ', ' ORDER BY c.ord)
	                || ') = 0 THEN ''{}''::jsonb ELSE pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('
	                || pg_catalog.string_agg(pg_catalog.format('%L, c.%I', c.name, '_c_' || c.name), ', ' ORDER BY c.ord) || ')) END', '''{}''::jsonb')
	  INTO added, added_array, added_json
	  FROM pg_temp.hs_component c WHERE c.kind = 'linear';
	BEGIN
		EXECUTE pg_catalog.format($q$
		CREATE UNLOGGED TABLE %4$s AS
		WITH c AS (
			SELECT m.*,
			       CASE WHEN $2 THEN health_score.engagement_score(m.decayed_events, m._expected_per_day, m._half_life) END
			           AS engagement,
			       CASE WHEN m.utilisation IS NOT NULL
			            THEN least(100, 100 * m.utilisation / m._target_utilisation) END AS utilisation_c,
			       CASE WHEN m.key_features_used_30d IS NOT NULL
			            THEN 100.0 * m.key_features_used_30d / pg_catalog.cardinality(m._key_features) END AS adoption,
			       CASE WHEN $3 THEN greatest(0, 100
			            - 20 * coalesce(m.aged_open_cases, 0)
			            - 5 * (coalesce(m.open_cases, 0) - coalesce(m.aged_open_cases, 0))
			            - 10 * greatest(0, coalesce(m.cases_30d, 0)
			                   - greatest(2 * coalesce(m.cases_prev_90d, 0) / 3.0, 2)))::float8 END AS support,
			       CASE WHEN m.responses_90d > 0 THEN (m.nps_90d + 100) / 2 END AS sentiment,
			       CASE WHEN $4 OR m.open_observations > 0 THEN greatest(0, 100
			            - 25 * m.open_observations
			            - 10 * coalesce(m.unanswered_outreach_30d, 0)
			            - CASE WHEN $4 AND m.days_since_response >= 90 THEN 30 ELSE 0 END
			            )::float8 END AS relationship
			       %1$s
			  FROM pg_temp.hs_m m)
		SELECT c.account_id, c.engagement, c.utilisation_c AS utilisation, c.adoption, c.support, c.sentiment,
		       c.relationship, s.score, health_score.band(s.score, c._poor_below, c._good_from) AS band,
		       %3$s AS components
		  FROM c,
		       LATERAL (SELECT health_score.composite(ARRAY[c.engagement, c.utilisation_c, c.adoption, c.support,
		                                                     c.sentiment, c.relationship %2$s], c._weights) AS score) s
		$q$, added, added_array, added_json, health_score._work_table('hs_score'))
		USING run.as_of, run.has_activity, run.has_support, run.has_touch;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		PERFORM health_score._reraise('refresh failed computing the components: ' || msg, st, det, hnt);
	END;
	PERFORM health_score._work_publish('hs_score', 'account_id');
END
$$;

CREATE OR REPLACE FUNCTION health_score._rules_sql(codes text[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'SELECT v.account_id, v.rule, v.evidence FROM (SELECT m.account_id, '
	    -- two arrays unnested side by side in the select list rather than a VALUES list, which compiles its
	    -- expressions again for every account (and the evidence expressions are large), or a function
	    -- scan, which stores each account's rows before reading them back
	    || pg_catalog.format('pg_catalog.unnest(%L::text[]) AS rule, ', pg_catalog.array_agg(r.code ORDER BY r.code))
	    || 'pg_catalog.unnest(ARRAY['
	    || pg_catalog.string_agg(pg_catalog.format('CASE WHEN %s THEN %s END',
	                                               health_score._condition_sql(r.condition, r.params, o.overrides),
	                                               health_score._evidence_sql(r.measures, r.params, o.overrides)), ', '
	                             ORDER BY r.code)
	    || ']::jsonb[]) AS evidence FROM ('
	    || 'SELECT m.*, s.score, s.band::text AS band, e.score AS score_earlier FROM pg_temp.hs_m m '
	    || 'JOIN pg_temp.hs_score s ON s.account_id = m.account_id '
	    || 'LEFT JOIN pg_temp.hs_earlier e ON e.account_id = m.account_id) m) v WHERE v.evidence IS NOT NULL'
	  FROM pg_temp.hs_rule r
	  -- the profiles that override this rule's params: {"profile": {"param": value}}
	  LEFT JOIN LATERAL (SELECT pg_catalog.jsonb_object_agg(p.name, p.rule_params -> r.code) AS overrides
	                       FROM pg_temp.hs_profile p WHERE p.rule_params ? r.code) o ON true
	 WHERE r.code = ANY ($1)
$$;

CREATE OR REPLACE FUNCTION health_score._evidence_sql(measures text[], params jsonb, overrides jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'pg_catalog.jsonb_build_object(' || coalesce(pg_catalog.string_agg(x.e, ', ' ORDER BY x.o, x.k), '') || ')'
	  FROM (SELECT 1 AS o, m.name AS k,
	               pg_catalog.format(CASE WHEN m.type = 'float8' THEN '%1$L, pg_catalog.trim_scale(pg_catalog.round(m.%1$I::numeric, 3))' ELSE '%1$L, m.%1$I' END,
	                                 m.name) AS e
	          FROM pg_temp.hs_measure m WHERE m.name = ANY ($1)
	        UNION ALL
	        SELECT 2, d.key, d.e
	          FROM (SELECT DISTINCT ON (w.key) w.key, pg_catalog.format('%L, %L::jsonb', w.key, w.value) AS e
	                  FROM pg_temp.hs_measure m, pg_catalog.jsonb_each(m.params) w
	                 WHERE m.name = ANY ($1) AND m.kind = 'builtin' AND NOT $2 ? w.key
	                 ORDER BY w.key, m.name) d
	        UNION ALL
	        SELECT 3, p.key, pg_catalog.format('%L, %s', p.key, health_score._param_value_sql(p.key, $2, $3))
	          FROM pg_catalog.jsonb_each($2) p) x
$$;

CREATE OR REPLACE FUNCTION health_score._stage_rules(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	codes text[];
	failing text;
	msg text; det text; hnt text; st text;
BEGIN
	-- score_earlier: the latest history row between earlier_from and earlier_to
	PERFORM health_score._work_create('hs_earlier', $q$AS
	-- (the model's score: an override in force then is a manager's view, not what the model saw)
	SELECT DISTINCT ON (hh.account_id) hh.account_id, coalesce(hh.computed_score, hh.score) AS score, hh.as_of
	  FROM health_score.health_history hh
	 WHERE EXISTS (SELECT FROM pg_temp.hs_rule x WHERE 'score_earlier' = ANY (x.measures))
	   AND hh.day BETWEEN (($1).earlier_from - interval '1 day')::date AND ($1).earlier_to::date
	   AND hh.as_of <= ($1).earlier_to
	   AND hh.as_of >= ($1).earlier_from
	 ORDER BY hh.account_id, hh.as_of DESC$q$, run, 'account_id');
	SELECT pg_catalog.array_agg(x.code ORDER BY x.code) INTO codes FROM pg_temp.hs_rule x;
	IF codes IS NULL THEN
		PERFORM health_score._work_create('hs_hits', '(account_id text, rule text, evidence jsonb)');
		RETURN;
	END IF;
	BEGIN
		PERFORM health_score._work_create('hs_hits', 'AS ' || health_score._rules_sql(codes));
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
	END;
	FOREACH failing IN ARRAY codes LOOP
		BEGIN
			PERFORM health_score._work_create('hs_hits', 'AS ' || health_score._rules_sql(ARRAY[failing]));
			RAISE EXCEPTION USING ERRCODE = 'HS000';
		EXCEPTION
			WHEN SQLSTATE 'HS000' THEN NULL;
			WHEN OTHERS THEN
				PERFORM health_score._reraise(pg_catalog.format('refresh failed evaluating rule %s: %s', failing, msg), st, det, hnt);
		END;
	END LOOP;
	PERFORM health_score._reraise('refresh failed evaluating the rules: ' || msg, st, det, hnt);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_results(run health_score._run, n_unscored integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	added_inputs text;
BEGIN
	PERFORM health_score._work_create('hs_final', $q$AS
	SELECT s.account_id, coalesce(o.score, s.score) AS score,
	       CASE WHEN o.score IS NOT NULL THEN health_score.band(o.score, a.poor_below, a.good_from) ELSE s.band END AS band,
	       s.score AS computed_score
	  FROM pg_temp.hs_score s
	  JOIN pg_temp.hs_acc a ON a.account_id = s.account_id
	  LEFT JOIN health_score.override o ON o.account_id = s.account_id AND o.set_at <= ($1).as_of AND o.expires_at > ($1).as_of$q$,
	  run, 'account_id');
	-- the measures behind each component, beside the score (null for a built-in component without data); for
	-- each linear component with data (goals, the user's), its measure's value, worst and best
	SELECT coalesce(' || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format(
	           '%1$L, CASE WHEN s.components ? %1$L THEN pg_catalog.jsonb_build_object(%2$L, '
	           'pg_catalog.trim_scale(pg_catalog.round(m.%2$I::numeric, 3)), ''worst'', %3$L::float8, ''best'', %4$L::float8) END',
	           c.name, c.measure, c.worst, c.best), ', ' ORDER BY c.ord) || '))', '')
	  INTO added_inputs
	  FROM pg_temp.hs_component c WHERE c.kind = 'linear';
	-- A 30-minute refresh moves few figures by as much as they are shown with: writing only those rows, and
	-- building their inputs only (here, where parallel workers may share the work), keeps its cost to what
	-- changed.
	PERFORM health_score._work_create('hs_changed', pg_catalog.format($q$AS
	SELECT a.account_id,
	       health_score._inputs(
	           s.engagement IS NOT NULL, m.decayed_events, m._expected_per_day, m.events_30d, m._last_activity_at,
	           s.utilisation IS NOT NULL, m.active_users_30d, m.seats, m.utilisation,
	           s.adoption IS NOT NULL, m._key_features, m._features_used,
	           s.support IS NOT NULL, m.open_cases, m.aged_open_cases, m.cases_30d, m.cases_prev_90d,
	           s.sentiment IS NOT NULL, m.responses_90d, m.nps_90d, m.average_rating_90d, m.promoters_90d, m.detractors_90d,
	           s.relationship IS NOT NULL, coalesce(m._observations, '[]'), coalesce(m.unanswered_outreach_30d, 0),
	           m._last_response_at)%s AS inputs
	  FROM pg_temp.hs_acc a
	  JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_m m ON m.account_id = a.account_id
	  LEFT JOIN health_score.account_health h ON h.account_id = a.account_id
	 WHERE h.account_id IS NULL OR (h.as_of)::date <> (($1).as_of)::date
	    OR (h.name, h.segment, h.lifecycle_stage, h.plan, h.owner, h.seats, h.arr::text, h.renewal_date, h.profile,
	        h.parent_account_id, h.dimensions,
	        h.profile_version, h.band, h.stale_sources, health_score._shown(h.score), health_score._shown(h.computed_score),
	        health_score._shown(h.engagement), health_score._shown(h.utilisation), health_score._shown(h.adoption),
	        health_score._shown(h.support), health_score._shown(h.sentiment), health_score._shown(h.relationship))
	       IS DISTINCT FROM
	       (a.name, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr::text, a.renewal_date, a.profile,
	        a.parent_account_id, a.dimensions,
	        a.profile_version, f.band, coalesce(($1).stale_sources, '{}'), health_score._shown(f.score), health_score._shown(f.computed_score),
	        health_score._shown(s.engagement), health_score._shown(s.utilisation), health_score._shown(s.adoption),
	        health_score._shown(s.support), health_score._shown(s.sentiment), health_score._shown(s.relationship))
	    -- (rounded only when they differ: most accounts have no added component)
	    OR (h.components <> s.components AND health_score._shown(h.components) <> health_score._shown(s.components))$q$,
	  added_inputs), run);
	INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
		renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship,
		inputs, as_of, refreshed_at, components, computed_score, profile_version, stale_sources, parent_account_id,
		dimensions)
	SELECT a.account_id, a.name, a.segment, a.lifecycle_stage, a.plan, a.owner, a.seats, a.arr, a.renewal_date,
	       a.profile, f.score, f.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship,
	       c.inputs, t, pg_catalog.now(), s.components, f.computed_score, a.profile_version, run.stale_sources,
	       a.parent_account_id, a.dimensions
	  FROM pg_temp.hs_acc a
	  JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_changed c ON c.account_id = a.account_id
	ON CONFLICT (account_id) DO UPDATE
	   SET name = excluded.name, segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,
	       plan = excluded.plan, owner = excluded.owner, seats = excluded.seats, arr = excluded.arr,
	       renewal_date = excluded.renewal_date, profile = excluded.profile, score = excluded.score,
	       band = excluded.band, engagement = excluded.engagement, utilisation = excluded.utilisation,
	       adoption = excluded.adoption, support = excluded.support, sentiment = excluded.sentiment,
	       relationship = excluded.relationship, inputs = excluded.inputs, as_of = excluded.as_of,
	       refreshed_at = excluded.refreshed_at, components = excluded.components,
	       computed_score = excluded.computed_score, profile_version = excluded.profile_version,
	       stale_sources = excluded.stale_sources, parent_account_id = excluded.parent_account_id,
	       dimensions = excluded.dimensions;
	-- (NOT IN: one hashed pass over the scored keys, which are NOT NULL, rather than sorting both sides; the
	-- accounts stage counted them, so without any the pass is skipped)
	IF n_unscored > 0 THEN
		DELETE FROM health_score.account_health h
		 WHERE h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
	END IF;

	-- The day's row of each account whose account_health row was rewritten (hs_changed: what is shown
	-- changed), so that, like account_health, it holds the figures of that last write, and a refresh every
	-- 30 minutes rewrites few rows.
	UPDATE health_score.health_history h
	   SET as_of = t, profile = a.profile, segment = a.segment, plan = a.plan, lifecycle_stage = a.lifecycle_stage,
	       owner = a.owner, arr = a.arr, score = f.score, band = f.band, engagement = s.engagement,
	       utilisation = s.utilisation, adoption = s.adoption, support = s.support, sentiment = s.sentiment,
	       relationship = s.relationship, components = s.components, computed_score = f.computed_score,
	       profile_version = a.profile_version, dimensions = a.dimensions
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	  JOIN pg_temp.hs_changed c ON c.account_id = a.account_id
	 WHERE h.day = t::date AND h.account_id = a.account_id;
	INSERT INTO health_score.health_history (account_id, day, as_of, profile, segment, plan, lifecycle_stage,
		owner, arr, score, band, engagement, utilisation, adoption, support, sentiment, relationship, components,
		computed_score, profile_version, dimensions)
	SELECT a.account_id, t::date, t, a.profile, a.segment, a.plan, a.lifecycle_stage, a.owner, a.arr, f.score,
	       f.band, s.engagement, s.utilisation, s.adoption, s.support, s.sentiment, s.relationship, s.components,
	       f.computed_score, a.profile_version, a.dimensions
	  FROM pg_temp.hs_acc a JOIN pg_temp.hs_score s ON s.account_id = a.account_id
	  JOIN pg_temp.hs_final f ON f.account_id = a.account_id
	 -- NOT IN reads the day's keys once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	 -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	 WHERE a.account_id NOT IN (SELECT h.account_id FROM health_score.health_history h WHERE h.day = t::date);
	DELETE FROM health_score.health_history h
	 WHERE h.day = t::date AND h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a);
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_flags(run health_score._run, OUT n_raised integer, OUT n_cleared integer,
										  OUT held text[], OUT payload jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
BEGIN
	SELECT coalesce(pg_catalog.array_agg(r.code ORDER BY r.code), '{}') INTO held
	  FROM pg_temp.hs_rule r
	 WHERE EXISTS (SELECT FROM pg_temp.hs_measure m
	                WHERE m.name = ANY (r.measures)
	                  AND (m.source = ANY (run.stale_kinds)
	                       OR (m.source = 'composite' AND pg_catalog.cardinality(run.stale_kinds) > 0)));
	PERFORM health_score._work_analyze('{hs_hits}', 'account_id, rule');
	EXECUTE pg_catalog.format($q$CREATE UNLOGGED TABLE %s AS
	SELECT f.id, x.account_id, x.rule, x.evidence, r3.severity, r3.action
	  FROM (SELECT f.id, f.account_id, f.rule, f.evidence, f.severity, f.action
	          FROM health_score.flag f WHERE f.cleared_at IS NULL) f
	  FULL JOIN pg_temp.hs_hits x ON x.account_id = f.account_id AND x.rule = f.rule
	  LEFT JOIN pg_temp.hs_rule r3 ON r3.code = x.rule
	 WHERE (f.id IS NULL OR x.rule IS NULL
	        OR (f.evidence, f.severity, f.action) IS DISTINCT FROM (x.evidence, r3.severity, r3.action))
	   AND NOT (coalesce(x.rule, f.rule) = ANY ($1)
	            AND EXISTS (SELECT FROM pg_temp.hs_acc a WHERE a.account_id = coalesce(x.account_id, f.account_id)))$q$,
	  health_score._work_table('hs_flag_changes')) USING held;
	PERFORM health_score._work_publish('hs_flag_changes');

	UPDATE health_score.flag f
	   SET cleared_at = t, updated_at = t
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NULL AND f.id = c.id;
	GET DIAGNOSTICS n_cleared = ROW_COUNT;

	UPDATE health_score.flag f
	   SET updated_at = t, evidence = c.evidence, severity = c.severity, action = c.action
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NOT NULL AND f.id = c.id;

	-- NOTIFY payloads are limited to 8000 bytes: the payload lists as many new flags as fit, most severe
	-- first, measured once each as a running total of their text (each followed by ", "). An entry takes at
	-- least 60 bytes ({"id": 1, "rule": "", "severity": "red", "account_id": ""} and the separator), so no
	-- more than 128 fit in 7,700: only the first 130 are built. The stale sources' names come off the 7,700.
	PERFORM health_score._work_create('hs_raised', '(id bigint, account_id text, rule text, action text)');
	WITH ins AS (
		INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, evidence, action)
		SELECT c.account_id, c.rule, c.severity, t, t, c.evidence, c.action
		  FROM pg_temp.hs_flag_changes c
		 WHERE c.id IS NULL
		RETURNING id, account_id, rule, severity, action),
	raised AS (
		INSERT INTO pg_temp.hs_raised SELECT ins.id, ins.account_id, ins.rule, ins.action FROM ins),
	ranked AS (
		SELECT ins.*, pg_catalog.row_number() OVER (ORDER BY pg_catalog.array_position(ARRAY['red', 'amber', 'opportunity', 'info'],
		                                                                              ins.severity), ins.id) AS o
		  FROM ins),
	listed AS (
		SELECT l.e, l.o, pg_catalog.sum(pg_catalog.octet_length(l.e::text) + 2) OVER (ORDER BY l.o) AS running
		  FROM (SELECT pg_catalog.jsonb_build_object('id', r.id, 'account_id', r.account_id, 'rule', r.rule,
		                                             'severity', r.severity) AS e, r.o
		          FROM ranked r WHERE r.o <= 130) l)
	SELECT c.n::integer,
	       pg_catalog.jsonb_build_object('as_of', t, 'raised', c.n, 'stale_sources', pg_catalog.to_jsonb(run.stale_sources),
	           'truncated', (SELECT count(*) FROM listed WHERE listed.running <= 7700 - pg_catalog.octet_length(pg_catalog.to_jsonb(run.stale_sources)::text)) < c.n,
	           'flags', coalesce((SELECT pg_catalog.jsonb_agg(listed.e ORDER BY listed.o) FROM listed
	                               WHERE listed.running <= 7700 - pg_catalog.octet_length(pg_catalog.to_jsonb(run.stale_sources)::text)), '[]'))
	  INTO n_raised, payload
	  FROM (SELECT count(*) AS n FROM ranked) c;
	IF n_raised > 0 OR pg_catalog.cardinality(run.stale_sources) > 0 THEN
		PERFORM pg_catalog.pg_notify('health_score_flags', payload::text);
	ELSE
		payload := NULL;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_actions(run health_score._run)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
	n_opened integer;
BEGIN
	PERFORM health_score._work_analyze('{hs_raised}', 'account_id, rule');
	-- the open task of an account and rule answers the flag raised again while it is open
	UPDATE health_score.task k
	   SET flag_id = f.id
	  FROM pg_temp.hs_raised f
	 WHERE k.status = 'open' AND k.account_id = f.account_id AND k.rule = f.rule;

	INSERT INTO health_score.task (account_id, flag_id, rule, title, owner, due_on, created_at)
	SELECT f.account_id, f.id, f.rule, coalesce(f.action, r.action, r.code), a.owner, (t::date + r.task_due_in)::date, t
	  FROM pg_temp.hs_raised f
	  JOIN pg_temp.hs_rule r ON r.code = f.rule
	  JOIN pg_temp.hs_acc a ON a.account_id = f.account_id
	 WHERE r.task_due_in IS NOT NULL
	   -- NOT IN reads the open tasks once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	   -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	   AND (f.account_id, f.rule) NOT IN (SELECT k.account_id, k.rule FROM health_score.task k WHERE k.status = 'open');
	GET DIAGNOSTICS n_opened = ROW_COUNT;

	INSERT INTO health_score.goal_progress AS p (goal_id, day, as_of, value, attainment, expected, shortfall)
	SELECT g.goal_id, t::date, t, g.value, g.attainment, g.expected, g.shortfall
	  FROM pg_temp.hs_goal g
	ON CONFLICT (goal_id, day) DO UPDATE
	   SET as_of = excluded.as_of, value = excluded.value, attainment = excluded.attainment,
	       expected = excluded.expected, shortfall = excluded.shortfall;

	UPDATE health_score.plan_commitment c
	   SET checked_at = t, value = b.value, breached = b.breached,
	       breached_since = CASE WHEN b.breached THEN CASE WHEN c.breached THEN c.breached_since ELSE t END END
	  FROM pg_temp.hs_breach b
	 WHERE c.id = b.commitment_id;
	RETURN n_opened;
END
$$;

CREATE OR REPLACE FUNCTION health_score._stage_analyze()
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	done text[] := '{}';
BEGIN
	FOR r IN
		SELECT c.oid::regclass AS rel
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
		  -- (this transaction's own changes)
		  JOIN pg_catalog.pg_stat_xact_user_tables x ON x.relid = c.oid
		 WHERE c.oid IN ('health_score.account_health'::regclass, 'health_score.health_history'::regclass,
		                 'health_score.flag'::regclass)
		   AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
		   AND (c.reltuples < 0 OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL)
		        OR pg_catalog.abs(s.n_live_tup + x.n_tup_ins - x.n_tup_del - c.reltuples) > 0.1 * c.reltuples + 50)
		 ORDER BY 1
	LOOP
		EXECUTE pg_catalog.format('ANALYZE %s', r.rel);
		done := done || r.rel::text;
	END LOOP;
	RETURN done;
END
$$;

CREATE OR REPLACE FUNCTION health_score._compute_scores(as_of timestamptz, force boolean, max_unscored_share float8,
											 profiles jsonb DEFAULT NULL, extra_halflives interval[] DEFAULT NULL,
											 every_measure boolean DEFAULT false,
											 activity_mode text DEFAULT 'point_in_time',
											 OUT run health_score._run, OUT n_accounts integer,
											 OUT n_unscored integer, OUT timings jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	lap timestamptz;
	acc record;
BEGIN
	timings := '{}';
	IF NOT pg_catalog.has_schema_privilege('health_score_work', 'CREATE') THEN
		RAISE EXCEPTION 'permission denied to make the work tables of a run in schema health_score_work'
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('A superuser runs: SELECT health_score.grant_refresh(%L);', current_user);
	END IF;
	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_config();
	IF profiles IS NOT NULL THEN
		DELETE FROM pg_temp.hs_profile p WHERE profiles ? p.name;
		INSERT INTO pg_temp.hs_profile
		SELECT (pg_catalog.jsonb_populate_record(NULL::health_score.profile, e.value || pg_catalog.jsonb_build_object('name', e.key))).*
		  FROM pg_catalog.jsonb_each(profiles) e;
	END IF;
	run := health_score._stage_sources(as_of);
	IF extra_halflives IS NOT NULL THEN
		SELECT pg_catalog.array_agg(h.half_life ORDER BY h.seconds), pg_catalog.array_agg(h.seconds ORDER BY h.seconds)
		  INTO run.halflives, run.halflife_seconds
		  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', x.h)) x.h AS half_life, pg_catalog.date_part('epoch', x.h) AS seconds
		          FROM pg_catalog.unnest(run.halflives || extra_halflives) x (h) ORDER BY 2) h;
	END IF;
	run := health_score._stage_freshness(run);
	run.count_events_90d := every_measure
		OR EXISTS (SELECT FROM pg_temp.hs_rule r WHERE 'events_90d' = ANY (r.measures))
		OR EXISTS (SELECT FROM pg_temp.hs_component c WHERE c.measure = 'events_90d')
		OR EXISTS (SELECT FROM health_score.goal g WHERE g.measure = 'events_90d')
		OR EXISTS (SELECT FROM health_score.plan_commitment c WHERE c.measure = 'events_90d');
	run.activity_mode := activity_mode;
	timings := health_score._timing(timings, 'setup', lap);

	lap := pg_catalog.clock_timestamp();
	acc := health_score._stage_accounts(run, force, max_unscored_share);
	n_accounts := acc.n_accounts;
	n_unscored := acc.n_unscored;
	timings := health_score._timing(timings, 'accounts', lap);

	lap := pg_catalog.clock_timestamp();
	run := health_score._stage_activity(run);
	timings := health_score._timing(timings, 'activity', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_support_cases(run);
	PERFORM health_score._stage_surveys(run);
	PERFORM health_score._stage_touchpoints(run);
	PERFORM health_score._stage_observations(run);
	PERFORM health_score._stage_metrics(run);
	timings := health_score._timing(timings, 'other_sources', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_measures(run);
	PERFORM health_score._stage_goals_plans(run);
	timings := health_score._timing(timings, 'measures', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_components(run);
	timings := health_score._timing(timings, 'components', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_rules(run);
	timings := health_score._timing(timings, 'rules', lap);
END
$$;

CREATE OR REPLACE FUNCTION health_score.refresh(as_of timestamptz DEFAULT now(), wait boolean DEFAULT true,
									 force boolean DEFAULT false, mode text DEFAULT 'auto')
RETURNS TABLE (accounts integer, flags_raised integer, flags_cleared integer, elapsed interval)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Short set-based statements: compiling them costs more than it saves. The activity pass keeps a few
-- hash sets per account; 256MB keeps 50,000 accounts in memory (ALTER FUNCTION ... SET work_mem to change).
-- The per-account statements compute far more per row than the planner's default costs assume, and every
-- row they read goes on: with those defaults a parallel plan never looks cheaper; with these it does from
-- tens of thousands of accounts (ALTER FUNCTION ... SET to change).
SET jit = off
SET work_mem = '256MB'
SET parallel_setup_cost = 100
SET parallel_tuple_cost = 0.01
AS $$
#variable_conflict use_column
DECLARE
	t constant timestamptz := refresh.as_of;
	t0 constant timestamptz := pg_catalog.clock_timestamp();
	lap timestamptz;
	timings jsonb := '{}';
	run health_score._run;
	max_unscored_share float8;
	sc record;
	fl record;
	n_tasks integer;
	analyzed text[];
BEGIN
	IF t IS NULL THEN
		RAISE EXCEPTION 'as_of must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Windows reach back up to years before as_of and history is kept by day: only real calendar times.
	IF NOT pg_catalog.isfinite(t) OR t < '1900-01-01' OR t >= '10000-01-01' THEN
		RAISE EXCEPTION 'as_of must be a time from 1900-01-01 to 9999-12-31, not %', t
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the point in time to score, such as now() or ''2026-03-01''.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('auto', 'full', 'incremental') THEN
		RAISE EXCEPTION 'mode must be auto, full or incremental, not %', coalesce(pg_catalog.quote_literal(mode), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'auto (the default) reads only what changed since the last refresh when it can; full reads every row.';
	END IF;
	max_unscored_share := health_score._max_unscored_share();

	IF NOT health_score._refresh_lock(wait) THEN
		RAISE NOTICE 'health_score refresh skipped: another refresh is running';
		INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, status, message)
		VALUES (t0, pg_catalog.clock_timestamp(), t, 'skipped', 'another refresh held the lock');
		RETURN QUERY SELECT NULL::integer, NULL::integer, NULL::integer, pg_catalog.clock_timestamp() - t0;
		RETURN;
	END IF;

	-- A run_refresh() whose session ended before it finished (terminated, crashed, disconnected) left its
	-- 'running' row: the lock is ours now, so that run is over.
	UPDATE health_score.refresh_log l
	   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
	       message = 'interrupted: the session running this refresh ended before it finished (terminated, crashed or disconnected)'
	 WHERE l.status = 'running'
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start);

	sc := health_score._compute_scores(t, force, max_unscored_share, activity_mode => mode);
	run := sc.run;
	timings := sc.timings;

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_results(run, sc.n_unscored);
	timings := health_score._timing(timings, 'results', lap);

	lap := pg_catalog.clock_timestamp();
	fl := health_score._stage_flags(run);
	timings := health_score._timing(timings, 'flags', lap);

	lap := pg_catalog.clock_timestamp();
	n_tasks := health_score._stage_actions(run);
	timings := health_score._timing(timings, 'actions', lap);

	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());

	lap := pg_catalog.clock_timestamp();
	analyzed := health_score._stage_analyze();
	timings := health_score._timing(timings, 'analyze', lap);

	INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, accounts, flags_raised, flags_cleared,
		status, message, details, mode)
	VALUES (t0, pg_catalog.clock_timestamp(), t, sc.n_accounts, fl.n_raised, fl.n_cleared,
		CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0 THEN 'stale' ELSE 'ok' END,
		CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0 THEN pg_catalog.format(
		     'stale sources: %s; the flags of %s held (none raised, none cleared but those of accounts no longer scored)',
		     pg_catalog.array_to_string(run.stale_sources, ', '),
		     CASE WHEN pg_catalog.cardinality(fl.held) > 0 THEN 'rules ' || pg_catalog.array_to_string(fl.held, ', ')
		          ELSE 'no rule' END) END,
		pg_catalog.jsonb_build_object('timings_ms', timings, 'tasks_opened', n_tasks)
		|| CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0
		        THEN pg_catalog.jsonb_build_object('stale_sources', run.stale_sources, 'held_rules', fl.held) ELSE '{}' END
		|| CASE WHEN fl.payload IS NOT NULL THEN pg_catalog.jsonb_build_object('notify', fl.payload) ELSE '{}' END
		|| CASE WHEN pg_catalog.cardinality(analyzed) > 0 THEN pg_catalog.jsonb_build_object('analyzed', analyzed) ELSE '{}' END
		|| CASE WHEN run.activity_reason IS NOT NULL THEN pg_catalog.jsonb_build_object('full_because', run.activity_reason) ELSE '{}' END,
		run.activity_mode);

	RETURN QUERY SELECT sc.n_accounts, fl.n_raised, fl.n_cleared, pg_catalog.clock_timestamp() - t0;
END
$$;
COMMENT ON FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) IS
	'score every account as of as_of, write account_health, health_history and flags; one refresh at a time; force lets it stop scoring more than health_score.max_unscored_share of the accounts; mode: auto (incremental when the state allows), full or incremental';
REVOKE EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) FROM PUBLIC;

CREATE OR REPLACE PROCEDURE health_score.run_refresh(as_of timestamptz DEFAULT NULL, force boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
	t timestamptz := coalesce(run_refresh.as_of, pg_catalog.now());
	run bigint;
	msg text; det text; hnt text; st text;
BEGIN
	IF health_score._outside_transaction_block() THEN
		run := health_score._log_run_start(t);
		COMMIT;
	END IF;
	BEGIN
		PERFORM health_score.refresh(t, true, coalesce(run_refresh.force, false));
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	IF run IS NOT NULL THEN
		PERFORM health_score._log_run_end(run, msg, st, det, hnt);
	END IF;
	IF st IS NULL THEN
		RETURN;
	END IF;
	IF run IS NOT NULL THEN
		COMMIT;
	END IF;
	PERFORM health_score._reraise(msg, st, det, hnt);
END
$$;
COMMENT ON PROCEDURE health_score.run_refresh(timestamptz, boolean) IS
	'refresh() for pg_cron: logs a running row first, and a failure (errors, statement_timeout, cancellation) in refresh_log, committed, before the error is raised again';
REVOKE EXECUTE ON PROCEDURE health_score.run_refresh(timestamptz, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._outside_transaction_block()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.statement_timestamp() = pg_catalog.transaction_timestamp() $$;

CREATE OR REPLACE FUNCTION health_score._log_run_start(as_of timestamptz)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO health_score.refresh_log (started_at, as_of, status, pid, backend_start)
	SELECT pg_catalog.clock_timestamp(), $1, 'running', a.pid, a.backend_start
	  FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()
	RETURNING id
$$;

CREATE OR REPLACE FUNCTION health_score._log_run_end(run bigint, message text, state text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF state IS NULL THEN
		DELETE FROM health_score.refresh_log l WHERE l.id = run;
		RETURN;
	END IF;
	UPDATE health_score.refresh_log l
	   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), message = _log_run_end.message,
	       details = pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('sqlstate', state,
	                     'detail', NULLIF(detail, ''), 'hint', NULLIF(hint, '')))
	 WHERE l.id = run;
END
$$;

CREATE OR REPLACE FUNCTION health_score._cron_database_name()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.current_setting('cron.database_name', true);
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.quote_ident(pg_catalog.current_database())
		USING ERRCODE = 'object_not_in_prerequisite_state',
		      HINT = pg_catalog.format('Ask a superuser to set up pg_cron for database %I (shared_preload_libraries, cron.database_name, CREATE EXTENSION pg_cron), or to schedule the refresh from the database pg_cron runs in (README, Scheduling).',
		                               pg_catalog.current_database());
END
$$;

CREATE OR REPLACE FUNCTION health_score._require_cron_usage(schedule text, unschedule boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
		PERFORM health_score._require_pg_cron(schedule, health_score._cron_database_name(), unschedule);
	END IF;
	IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
		RAISE EXCEPTION 'role % may not use pg_cron', health_score._q(current_user)
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Scheduling the refresh creates a pg_cron job, which needs USAGE on schema cron.',
			      HINT = pg_catalog.format('A superuser either grants it: GRANT USAGE ON SCHEMA cron TO %I; or schedules the refresh to run as this role: SELECT health_score.schedule_refresh(%L, run_as => %L);',
			                               current_user, coalesce(schedule, '*/30 * * * *'), current_user);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION health_score.schedule_refresh(schedule text DEFAULT '*/30 * * * *', run_as regrole DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
	runner pg_catalog.pg_roles;
	job record;
BEGIN
	IF schedule IS NULL OR pg_catalog.btrim(schedule) = '' THEN
		RAISE EXCEPTION 'schedule must be a cron expression such as ''*/30 * * * *'''
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT r.* INTO runner FROM pg_catalog.pg_roles r WHERE r.oid = coalesce(run_as, me);
	IF runner.oid <> me AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = me) THEN
		RAISE EXCEPTION 'only a superuser may schedule the refresh to run as another role'
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('Schedule it as %I itself, or ask a superuser to run: SELECT health_score.schedule_refresh(%L, run_as => %L);',
			                               runner.rolname, schedule, runner.rolname);
	END IF;
	PERFORM health_score._require_cron_usage(schedule);
	IF runner.oid = me THEN
		-- by name: scheduling again replaces the job; it runs as the current role, in this database
		RETURN cron.schedule(health_score._job_name(), schedule, 'CALL health_score.run_refresh()');
	END IF;
	IF NOT runner.rolcanlogin THEN
		RAISE EXCEPTION 'run_as role % cannot log in, so pg_cron cannot run the job as it', health_score._q(runner.rolname)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('ALTER ROLE %I LOGIN;', runner.rolname);
	END IF;
	IF NOT pg_catalog.has_function_privilege(run_as, 'health_score.run_refresh(timestamptz, boolean)', 'EXECUTE') THEN
		RAISE EXCEPTION 'run_as role % may not run health_score.run_refresh()', health_score._q(runner.rolname)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('SELECT health_score.grant_refresh(%L);', runner.rolname);
	END IF;
	-- one refresh job per database, whoever it runs as
	FOR job IN SELECT j.jobid FROM cron.job j
	            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database()
	              AND j.username <> runner.rolname LOOP
		PERFORM cron.unschedule(job.jobid);
	END LOOP;
	RETURN cron.schedule_in_database(health_score._job_name(), schedule, 'CALL health_score.run_refresh()',
	                                 pg_catalog.current_database(), runner.rolname);
END
$$;
COMMENT ON FUNCTION health_score.schedule_refresh(text, regrole) IS
	'create or replace the pg_cron job that calls health_score.run_refresh() on the given schedule, as run_as (a superuser may name another role) or the current role; returns its jobid';
REVOKE EXECUTE ON FUNCTION health_score.schedule_refresh(text, regrole) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
	removed boolean := false;
BEGIN
	PERFORM health_score._require_cron_usage(NULL, true);
	-- cron.job shows a role its own jobs, a superuser every job, including one scheduled to run as another role
	FOR job IN SELECT j.jobid FROM cron.job j
	            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database() LOOP
		removed := cron.unschedule(job.jobid) OR removed;
	END LOOP;
	RETURN removed;
END
$$;
COMMENT ON FUNCTION health_score.unschedule_refresh() IS
	'remove the pg_cron job created by schedule_refresh(); false if there was none';
REVOKE EXECUTE ON FUNCTION health_score.unschedule_refresh() FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._create_eval_table()
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

CREATE OR REPLACE FUNCTION health_score._check_evaluation_args(from_date timestamptz, to_date timestamptz, every interval,
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

CREATE OR REPLACE FUNCTION health_score._outcome_known_until(outcome text)
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

CREATE OR REPLACE FUNCTION health_score._active_between(run health_score._run, from_time timestamptz, to_time timestamptz)
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

CREATE OR REPLACE FUNCTION health_score._stage_outcomes(run health_score._run, horizon interval, outcome text,
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

CREATE OR REPLACE FUNCTION health_score._component_values(engagement float8, utilisation float8, adoption float8,
											   support float8, sentiment float8, relationship float8,
											   components jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('engagement', $1, 'utilisation', $2,
	           'adoption', $3, 'support', $4, 'sentiment', $5, 'relationship', $6)) || $7
$$;

CREATE OR REPLACE FUNCTION health_score._r4(x float8)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.trim_scale(pg_catalog.round($1::numeric, 4)) $$;

CREATE OR REPLACE FUNCTION health_score._evaluation_summary(model text, as_of timestamptz,
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

CREATE OR REPLACE FUNCTION health_score._eval_from_history(model text, day date)
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

CREATE OR REPLACE FUNCTION health_score._eval_from_run(model text, as_of timestamptz)
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

CREATE OR REPLACE FUNCTION health_score.backtest(from_date timestamptz, to_date timestamptz, every interval DEFAULT '7 days',
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

CREATE OR REPLACE FUNCTION health_score._fit_auc(weights float8[], phase text)
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

CREATE OR REPLACE FUNCTION health_score._fit_weights(weights float8[], active integer[], OUT fitted float8[], OUT auc float8)
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

CREATE OR REPLACE FUNCTION health_score._calibrate_rows(profile text, train_from timestamptz, train_to timestamptz,
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

CREATE OR REPLACE FUNCTION health_score._calibrate_engagement(half_lives interval[], current_expected float8,
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

CREATE OR REPLACE FUNCTION health_score._calibrate_candidates(names text[])
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

CREATE OR REPLACE FUNCTION health_score._calibrate_features(candidates jsonb, choice integer, expected float8, half_life interval)
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

CREATE OR REPLACE FUNCTION health_score._calibrate_weights(current float8[], n_candidates integer)
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

CREATE OR REPLACE FUNCTION health_score._calibrate_bands(weights float8[], current_poor float8, current_good float8,
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

CREATE OR REPLACE FUNCTION health_score._calibrate_apply(profile text, proposed jsonb, note text)
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

CREATE OR REPLACE FUNCTION health_score.calibrate(profile text DEFAULT 'default', train_from timestamptz DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION health_score._row_weights(profile_version bigint, profile text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce((SELECT v.settings -> 'weights' FROM health_score.profile_version v WHERE v.version = $1),
	                (SELECT p.weights FROM health_score.profile p WHERE p.name = $2))
$$;

CREATE OR REPLACE FUNCTION health_score._score_contributions(f health_score.health_history, t health_score.health_history)
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

CREATE OR REPLACE FUNCTION health_score._history_row(key text, account_id text, day date, arg text)
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

CREATE OR REPLACE FUNCTION health_score.explain(account_id text, from_date timestamptz, to_date timestamptz)
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

CREATE OR REPLACE FUNCTION health_score.percentages(counts bigint[], decimals integer DEFAULT 1) RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF decimals IS NULL OR decimals < 0 OR decimals > 15 THEN
		RAISE EXCEPTION 'decimals must be from 0 to 15, not %', coalesce(decimals::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the decimal places of the percentages: 1 gives 33.3.';
	END IF;
	IF 0 > ANY (counts) THEN
		RAISE EXCEPTION 'counts must not be negative: %', counts
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN (
		SELECT pg_catalog.array_agg(
		         CASE WHEN y.total > 0 THEN
		           pg_catalog.round((y.fl + CASE WHEN y.rk <= y.units - y.sum_fl THEN 1 ELSE 0 END) / y.scale, decimals)
		         END ORDER BY y.i)
		  FROM (SELECT x.i, x.fl, x.total, x.scale, x.units,
		               pg_catalog.row_number() OVER (ORDER BY x.t - x.fl DESC, x.i) AS rk,
		               pg_catalog.sum(x.fl) OVER () AS sum_fl
		          FROM (SELECT u.i, s.total, s.scale, 100 * s.scale AS units,
		                       100 * s.scale * coalesce(u.c, 0) / nullif(s.total, 0) AS t,
		                       pg_catalog.floor(100 * s.scale * coalesce(u.c, 0)
		                                        / nullif(s.total, 0)) AS fl
		                  FROM pg_catalog.unnest(counts) WITH ORDINALITY AS u(c, i),
		                       (SELECT pg_catalog.sum(coalesce(c, 0))::numeric AS total,
		                               pg_catalog.power(10::numeric, decimals) AS scale
		                          FROM pg_catalog.unnest(counts) AS c) s) x) y);
END
$$;
COMMENT ON FUNCTION health_score.percentages(bigint[], integer) IS
	'percentages of the counts rounded by the largest-remainder method so they add up to exactly 100';

CREATE OR REPLACE FUNCTION health_score.band_rank(band health_score.health_band) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.array_position(pg_catalog.enum_range(NULL::health_score.health_band), $1) $$;
COMMENT ON FUNCTION health_score.band_rank(health_score.health_band) IS
	'1 for poor, 2 for average, 3 for good: bands sort and chart in order';

CREATE OR REPLACE FUNCTION health_score.rebuild_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	src record;
	k text;             -- the accounts source's key type, validated through regtype
	c_started text;     -- expressions over the accounts relation (alias a), NULL when the column is absent
	c_cancelled text;
	c_arr text;
	arr_sum text;       -- format() of a sum of ARR (%1$s) with a filter (%2$s): 0 over no rows when ARR is mapped, else NULL
	dims text[];        -- the pass-through dimensions' names, in order
	dim_columns text;   -- , h.dimensions ->> 'product' AS product, ...
	dim_pairs text;     -- the (dimension, value) pairs of a row, for the long views (@ stands for its alias)
	open_flags text;    -- per-account summary of open flags, shared by several views
	history_30d text;   -- the lateral lookup of the score 30 days before as_of
	visible text;       -- the keys of the accounts the invoking role may see in the accounts source
	r record;
BEGIN
	-- Drop only what exists (no NOTICE per missing view); without CASCADE, so a user's own view built on one
	-- of these stops the rebuild with an error that names it instead of disappearing silently.
	FOR r IN
		SELECT v.name FROM pg_catalog.unnest(health_score._view_names()) AS v(name)
		 WHERE pg_catalog.to_regclass('health_score.' || pg_catalog.quote_ident(v.name)) IS NOT NULL
	LOOP
		EXECUTE format('DROP VIEW health_score.%I', r.name);
	END LOOP;

	SELECT s.relation, s.columns, s.key_type, s.dimensions INTO src
	  FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RETURN;
	END IF;

	k := src.key_type::regtype::text;
	c_started := CASE WHEN src.columns ? 'started_at'
		THEN format('(a.%I)::timestamptz', src.columns ->> 'started_at') ELSE 'NULL::timestamptz' END;
	c_cancelled := CASE WHEN src.columns ? 'cancelled_at'
		THEN format('(a.%I)::timestamptz', src.columns ->> 'cancelled_at') ELSE 'NULL::timestamptz' END;
	c_arr := CASE WHEN src.columns ? 'arr'
		THEN format('(a.%I)::numeric', src.columns ->> 'arr') ELSE 'NULL::numeric' END;
	arr_sum := CASE WHEN src.columns ? 'arr' THEN 'coalesce(pg_catalog.sum(%s) %s, 0)' ELSE 'NULL::numeric' END;
	SELECT coalesce(pg_catalog.array_agg(d ORDER BY d), '{}') INTO dims FROM pg_catalog.jsonb_object_keys(src.dimensions) d;
	SELECT coalesce(pg_catalog.string_agg(format(', h.dimensions ->> %L AS %I', d, d), '' ORDER BY o), ''),
	       $q$('segment', @.segment), ('plan', @.plan), ('lifecycle_stage', @.lifecycle_stage), ('owner', @.owner)$q$
	       || coalesce(pg_catalog.string_agg(format(', (%L, @.dimensions ->> %L)', d, d), '' ORDER BY o), '')
	  INTO dim_columns, dim_pairs
	  FROM pg_catalog.unnest(dims) WITH ORDINALITY AS x(d, o);

	-- Every view showing accounts, or figures over them, shows only those the role querying it may read in
	-- the accounts source (its privileges, row-level security, the source view's own filter): the views run
	-- with the invoker's rights (security_invoker), and the extension's own tables hold every account.
	visible := format('SELECT (v.%I)::%s::text FROM %s v', src.columns ->> 'account_id',
	                  health_score._key_type(src.key_type::regtype), src.relation);

	-- Open red and amber flags per account, for the views that aggregate over all accounts.
	open_flags := $q$
		SELECT f.account_id,
		       pg_catalog.count(*) FILTER (WHERE f.severity = 'red') AS red,
		       pg_catalog.count(*) FILTER (WHERE f.severity = 'amber') AS amber
		  FROM health_score.flag f
		 WHERE f.cleared_at IS NULL AND f.severity IN ('red', 'amber')
		 GROUP BY f.account_id$q$;
	history_30d := $q$
		LEFT JOIN LATERAL (
			SELECT hh.day, hh.score
			  FROM health_score.health_history hh
			 WHERE hh.account_id = h.account_id
			   AND hh.day <= (h.as_of - interval '30 days')::date
			 ORDER BY hh.day DESC
			 LIMIT 1) p ON true$q$;

	EXECUTE format($q$
CREATE VIEW health_score.account_overview WITH (security_invoker = true) AS
SELECT h.account_id::%1$s AS account_id,
       h.name, h.segment, h.lifecycle_stage, h.plan, h.owner, h.seats, h.arr, h.renewal_date,
       h.renewal_date - (h.as_of)::date AS days_to_renewal,
       h.parent_account_id::%1$s AS parent_account_id
       %4$s,
       h.profile, h.score::numeric(5,1) AS score, h.band, health_score.band_rank(h.band) AS band_rank,
       h.engagement::numeric(5,1) AS engagement, h.utilisation::numeric(5,1) AS utilisation,
       h.adoption::numeric(5,1) AS adoption, h.support::numeric(5,1) AS support,
       h.sentiment::numeric(5,1) AS sentiment, h.relationship::numeric(5,1) AS relationship,
       (SELECT pg_catalog.jsonb_object_agg(c.key, pg_catalog.round(c.value::numeric, 1))
          FROM pg_catalog.jsonb_each_text(h.components) c) AS components,
       p.score::numeric(5,1) AS score_30d_ago,
       p.day AS score_30d_ago_day,
       (h.score - p.score)::numeric(5,1) AS score_change_30d,
       coalesce(f.codes, '{}'::text[]) AS open_flags,
       coalesce(f.red, 0) AS open_red_flags,
       coalesce(f.amber, 0) AS open_amber_flags,
       (SELECT pg_catalog.count(*) FROM health_score.task t WHERE t.account_id = h.account_id AND t.status = 'open') AS open_tasks,
       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk,
       h.as_of, h.refreshed_at,
       h.computed_score::numeric(5,1) AS computed_score,
       o.score IS NOT NULL AS overridden,
       o.set_by AS overridden_by,
       o.reason AS override_reason,
       o.expires_at AS override_expires_at,
       h.stale_sources,
       pg_catalog.cardinality(h.stale_sources) > 0 AS stale
  FROM health_score.account_health h
  %2$s
  -- the override behind the row's score: refresh() applies one in force at as_of, set_override at once
  LEFT JOIN health_score.override o
         ON o.account_id = h.account_id AND o.expires_at > h.as_of AND o.score = h.score
  LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(x.rule ORDER BY pg_catalog.array_position(
	           ARRAY['red', 'amber', 'opportunity', 'info']::text[], x.severity), x.rule) AS codes,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'red') AS red,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'amber') AS amber
	  FROM health_score.flag x
	 WHERE x.account_id = h.account_id AND x.cleared_at IS NULL) f ON true
 WHERE h.account_id IN (%3$s)
$q$, k, history_30d, visible, dim_columns);

	-- The long form: one row per dimension, value and band, so SUM(accounts) over one dimension is the
	-- number of accounts; every account is in every dimension, so summing across dimensions counts it once
	-- per dimension: filter on one (dimension 'all', is_total, is the overall row set).
	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown WITH (security_invoker = true) AS
WITH g AS (
	SELECT d.dimension, d.value, h.band, pg_catalog.count(*) AS accounts, %3$s AS arr
	  FROM health_score.account_health h
	 CROSS JOIN LATERAL (VALUES ('all', 'all'), %2$s) d(dimension, value)
	 WHERE h.band IS NOT NULL AND h.account_id IN (%1$s)
	 GROUP BY d.dimension, d.value, h.band
), cells AS (
	-- every band of every group, a band without accounts as 0
	SELECT x.dimension, x.value, b.band, coalesce(g.accounts, 0) AS accounts,
	       coalesce(g.arr, CASE WHEN %4$L THEN 0 END) AS arr
	  FROM (SELECT DISTINCT g.dimension, g.value FROM g) x
	 CROSS JOIN pg_catalog.unnest(pg_catalog.enum_range(NULL::health_score.health_band)) b(band)
	  LEFT JOIN g ON g.dimension = x.dimension AND g.value IS NOT DISTINCT FROM x.value AND g.band = b.band
)
SELECT c.dimension, c.value, c.band, health_score.band_rank(c.band) AS band_rank, c.accounts, c.arr,
       pg_catalog.round(c.accounts / pg_catalog.sum(c.accounts) OVER w, 4) AS share,
       -- (good first: a tie in the rounding goes to the better band, as in band_breakdown_wide's order)
       (health_score.percentages(pg_catalog.array_agg(c.accounts) OVER w))[4 - health_score.band_rank(c.band)] AS pct,
       pg_catalog.round(c.arr / nullif(pg_catalog.sum(c.arr) OVER w, 0), 4) AS arr_share,
       c.dimension = 'all' AS is_total
  FROM cells c
WINDOW w AS (PARTITION BY c.dimension, c.value ORDER BY c.band DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
 ORDER BY c.dimension <> 'all', c.dimension, c.value NULLS LAST, c.band
$q$, visible, replace(dim_pairs, '@.', 'h.'), format(arr_sum, 'h.arr', ''), src.columns ? 'arr');

	-- The wide form: a row per dimension and value with the three bands side by side; the overall row
	-- (dimension 'all') is marked is_total.
	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown_wide WITH (security_invoker = true) AS
SELECT b.dimension, b.value, pg_catalog.sum(b.accounts)::bigint AS accounts,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'good')::bigint AS good,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'average')::bigint AS average,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'poor')::bigint AS poor,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'good') AS good_pct,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'average') AS average_pct,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'poor') AS poor_pct,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'good') AS good_share,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'average') AS average_share,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'poor') AS poor_share,
       pg_catalog.sum(b.arr) AS arr,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'good') AS arr_good,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'average') AS arr_average,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'poor') AS arr_poor,
       b.is_total
  FROM health_score.band_breakdown b
 GROUP BY b.dimension, b.value, b.is_total
 ORDER BY b.dimension <> 'all', b.dimension, b.value NULLS LAST
$q$);

	EXECUTE format($q$
CREATE VIEW health_score.health_trend WITH (security_invoker = true) AS
SELECT g.day, g.accounts, g.average_score, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       pg_catalog.round(g.good::numeric / nullif(g.accounts, 0), 4) AS good_share,
       pg_catalog.round(g.average::numeric / nullif(g.accounts, 0), 4) AS average_share,
       pg_catalog.round(g.poor::numeric / nullif(g.accounts, 0), 4) AS poor_share,
       g.arr, g.arr_poor
  FROM (SELECT hh.day,
               pg_catalog.count(hh.band) AS accounts,
               pg_catalog.avg(hh.score)::numeric(5,1) AS average_score,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
               %2$s AS arr,
               %3$s AS arr_poor
          FROM health_score.health_history hh
         WHERE hh.account_id IN (%1$s)
         GROUP BY hh.day) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
 ORDER BY g.day
$q$, visible, format(arr_sum, 'hh.arr', 'FILTER (WHERE hh.band IS NOT NULL)'),
	 format(arr_sum, 'hh.arr', 'FILTER (WHERE hh.band = ''poor'')'));

	-- As health_trend, per dimension value (the dimension as recorded in health_history that day).
	EXECUTE format($q$
CREATE VIEW health_score.health_trend_by WITH (security_invoker = true) AS
SELECT hh.day, d.dimension, d.value,
       pg_catalog.count(*) AS accounts,
       pg_catalog.avg(hh.score)::numeric(5,1) AS average_score,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'good')::numeric / pg_catalog.count(*), 4) AS good_share,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'average')::numeric / pg_catalog.count(*), 4) AS average_share,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'poor')::numeric / pg_catalog.count(*), 4) AS poor_share,
       %3$s AS arr
  FROM health_score.health_history hh
 CROSS JOIN LATERAL (VALUES %2$s) d(dimension, value)
 WHERE hh.band IS NOT NULL AND hh.account_id IN (%1$s)
 GROUP BY hh.day, d.dimension, d.value
 ORDER BY hh.day, d.dimension, d.value
$q$, visible, replace(dim_pairs, '@.', 'hh.'), format(arr_sum, 'hh.arr', ''));

	-- Months run from the first month any account started or cancelled to the month of the latest as_of
	-- scored (the current month before any refresh), counting only what happened up to that as_of. An
	-- account counts as active at the start of a month when it started before that month (or has no start
	-- date) and had not cancelled before it; a cancellation dated before its start counts at the start. The
	-- last month is incomplete until as_of reaches its end: it has no direction.
	EXECUTE format($q$
CREATE VIEW health_score.cancellation_trend WITH (security_invoker = true) AS
WITH bound AS (
	SELECT coalesce((SELECT pg_catalog.max(h.as_of) FROM health_score.account_health h), pg_catalog.now()) AS as_of
), a AS (
	SELECT x.started_at, CASE WHEN x.cancelled_at <= b.as_of THEN x.cancelled_at END AS cancelled_at, x.arr
	  FROM (SELECT %1$s AS started_at,
	               CASE WHEN %2$s IS NOT NULL THEN greatest(%2$s, %1$s) END AS cancelled_at,
	               %3$s AS arr
	          FROM %4$s a
	         -- also ties the view to the extension, so DROP EXTENSION ... CASCADE takes it along
	         WHERE EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'accounts')) x
	 CROSS JOIN bound b
	 WHERE x.started_at IS NULL OR x.started_at <= b.as_of
), months AS (
	SELECT m::date AS month, (m + interval '1 month') <= b.as_of AS complete
	  FROM bound b,
	       (SELECT pg_catalog.date_trunc('month', least(pg_catalog.min(a.started_at), pg_catalog.min(a.cancelled_at),
	                                                     (SELECT bound.as_of FROM bound))) AS first_month
	          FROM a) f,
	       pg_catalog.generate_series(f.first_month, pg_catalog.date_trunc('month', b.as_of), interval '1 month') m
), starts AS (
	SELECT pg_catalog.date_trunc('month', a.started_at)::date AS month, pg_catalog.count(*) AS n
	  FROM a WHERE a.started_at IS NOT NULL GROUP BY 1
), cancels AS (
	SELECT pg_catalog.date_trunc('month', a.cancelled_at)::date AS month, pg_catalog.count(*) AS n,
	       pg_catalog.sum(a.arr) AS arr
	  FROM a WHERE a.cancelled_at IS NOT NULL GROUP BY 1
), base AS (
	SELECT pg_catalog.count(*) AS n FROM a WHERE a.started_at IS NULL
), monthly AS (
	SELECT m.month, m.complete,
	       base.n
	       + coalesce(pg_catalog.sum(s.n) OVER w, 0)
	       - coalesce(pg_catalog.sum(c.n) OVER w, 0) AS active_at_start,
	       coalesce(c.n, 0) AS cancellations,
	       coalesce(c.arr, CASE WHEN %5$L THEN 0 END) AS arr_cancelled
	  FROM months m
	  CROSS JOIN base
	  LEFT JOIN starts s ON s.month = m.month
	  LEFT JOIN cancels c ON c.month = m.month
	WINDOW w AS (ORDER BY m.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), rated AS (
	SELECT mo.*,
	       pg_catalog.round(100.0 * mo.cancellations / nullif(mo.active_at_start, 0), 2) AS cancellation_rate,
	       pg_catalog.round(mo.cancellations::numeric / nullif(mo.active_at_start, 0), 4) AS cancellation_share,
	       CASE WHEN pg_catalog.count(*) OVER w3 = 3
	            THEN pg_catalog.round(100.0 * pg_catalog.sum(mo.cancellations) OVER w3
	                                  / nullif(pg_catalog.sum(mo.active_at_start) OVER w3, 0), 2) END AS rolling_3m_rate
	  FROM monthly mo
	WINDOW w3 AS (ORDER BY mo.month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
)
SELECT r.month, r.active_at_start::bigint AS active_at_start, r.cancellations, r.cancellation_rate,
       r.cancellation_share, r.rolling_3m_rate, r.arr_cancelled,
       r.cancellations - pg_catalog.lag(r.cancellations) OVER w AS cancellations_change,
       r.cancellation_rate - pg_catalog.lag(r.cancellation_rate) OVER w AS rate_change,
       CASE WHEN NOT r.complete THEN NULL
            WHEN r.cancellation_rate > pg_catalog.lag(r.cancellation_rate) OVER w THEN 'up'
            WHEN r.cancellation_rate < pg_catalog.lag(r.cancellation_rate) OVER w THEN 'down'
            WHEN r.cancellation_rate = pg_catalog.lag(r.cancellation_rate) OVER w THEN 'flat'
       END AS direction,
       r.complete
  FROM rated r
WINDOW w AS (ORDER BY r.month)
 ORDER BY r.month
$q$, c_started, c_cancelled, c_arr, src.relation, src.columns ? 'arr');

	-- "Notably more poor accounts": a poor share at least 1.5 times the team's, with at least 2 poor accounts.
	-- Compared in integers (2 · poor · team_accounts >= 3 · team_poor · accounts), so no rounding decides it.
	-- Tasks count for the owner they were opened for; overdue: open past their due date (today).
	EXECUTE format($q$
CREATE VIEW health_score.owner_workload WITH (security_invoker = true) AS
WITH a AS (
	SELECT h.owner, h.band, h.score, h.arr,
	       coalesce(f.red, 0) AS red,
	       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk
	  FROM health_score.account_health h
	  LEFT JOIN (%1$s) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%2$s)
), o AS (
	SELECT a.owner,
	       pg_catalog.count(*) AS accounts,
	       pg_catalog.count(*) FILTER (WHERE a.band = 'poor') AS poor,
	       pg_catalog.avg(a.score)::numeric(5,1) AS average_score,
	       pg_catalog.sum(a.red)::bigint AS open_red_flags,
	       pg_catalog.count(*) FILTER (WHERE a.at_risk) AS at_risk_accounts,
	       %3$s AS arr,
	       %4$s AS arr_at_risk
	  FROM a GROUP BY a.owner
), t AS (
	SELECT pg_catalog.sum(o.accounts) AS accounts, pg_catalog.sum(o.poor) AS poor FROM o
), k AS (
	SELECT x.owner, pg_catalog.count(*) AS open_tasks, pg_catalog.count(*) FILTER (WHERE x.due_on < CURRENT_DATE) AS overdue_tasks
	  FROM health_score.task x
	 WHERE x.status = 'open' AND x.account_id IN (%2$s)
	 GROUP BY x.owner
)
SELECT o.owner, o.accounts, o.poor,
       pg_catalog.round(100.0 * o.poor / o.accounts, 1) AS poor_pct,
       pg_catalog.round(o.poor::numeric / o.accounts, 4) AS poor_share,
       pg_catalog.round(100.0 * t.poor / t.accounts, 1) AS team_poor_pct,
       o.average_score, o.open_red_flags, o.at_risk_accounts, o.arr, o.arr_at_risk,
       (o.poor >= 2 AND 2 * o.poor * t.accounts >= 3 * t.poor * o.accounts) AS notably_more_poor,
       coalesce(k.open_tasks, 0) AS open_tasks, coalesce(k.overdue_tasks, 0) AS overdue_tasks
  FROM o CROSS JOIN t
  LEFT JOIN k ON k.owner IS NOT DISTINCT FROM o.owner
 ORDER BY o.poor DESC, coalesce(k.overdue_tasks, 0) DESC, o.owner
$q$, open_flags, visible, format(arr_sum, 'a.arr', ''), format(arr_sum, 'a.arr', 'FILTER (WHERE a.at_risk)'));

	-- The weekly review list: red and amber flags explain the risk; info and opportunity flags are plays.
	-- The accounts at risk are picked first (band poor, or an open red flag through the flag_open index), and
	-- each flag's reason is its rule's description with the thresholds that applied to it (its evidence).
	-- Most urgent first: the worst open flag (red, amber, none), then the poor band, then the largest ARR.
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_accounts WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
), x AS (
	SELECT h.*, p.score AS score_30d_ago, pr.poor_below, f.*,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS worst_severity
	  FROM health_score.account_health h
	  LEFT JOIN health_score.profile pr ON pr.name = h.profile
	  LEFT JOIN LATERAL (
		SELECT pg_catalog.array_agg(fl.rule ORDER BY fl.ord, fl.rule) AS codes,
		       pg_catalog.count(*) FILTER (WHERE fl.severity = 'red') AS red,
		       pg_catalog.count(*) FILTER (WHERE fl.severity = 'amber') AS amber,
		       -- the thresholds as they applied to the account (its profile's), from the evidence
		       pg_catalog.array_agg(coalesce(health_score.rule_text(ru.description, ru.params || fl.evidence), fl.rule)
		                            ORDER BY fl.ord, fl.rule) AS flag_reasons,
		       pg_catalog.array_agg(coalesce(fl.action, ru.action) ORDER BY fl.ord, fl.rule)
		           FILTER (WHERE coalesce(fl.action, ru.action) IS NOT NULL) AS flag_actions,
		       pg_catalog.jsonb_object_agg(fl.rule, fl.evidence) AS flag_evidence
		  FROM (SELECT y.rule, y.severity, y.action, y.evidence,
		               pg_catalog.array_position(ARRAY['red', 'amber']::text[], y.severity) AS ord
		          FROM health_score.flag y
		         WHERE y.account_id = h.account_id AND y.cleared_at IS NULL
		           AND y.severity IN ('red', 'amber')) fl
		  LEFT JOIN ru ON ru.code = fl.rule
	  ) f ON true
	  %2$s
	 WHERE (h.band = 'poor'
	        OR EXISTS (SELECT FROM health_score.flag y
	                    WHERE y.account_id = h.account_id AND y.cleared_at IS NULL AND y.severity = 'red'))
	   AND h.account_id IN (%3$s)
)
SELECT pg_catalog.row_number() OVER (ORDER BY pg_catalog.array_position(ARRAY['red', 'amber', 'none'], x.worst_severity),
                                              x.band = 'poor' DESC, x.arr DESC NULLS LAST, x.score NULLS FIRST, x.account_id)
           AS rank,
       x.account_id::%1$s AS account_id,
       x.name, x.segment, x.plan, x.owner, x.arr, x.renewal_date,
       x.renewal_date - (x.as_of)::date AS days_to_renewal,
       x.score::numeric(5,1) AS score, x.band, health_score.band_rank(x.band) AS band_rank,
       (x.score - x.score_30d_ago)::numeric(5,1) AS score_change_30d,
       x.worst_severity,
       coalesce(x.red, 0) AS red_flags,
       coalesce(x.amber, 0) AS amber_flags,
       coalesce(x.codes, '{}'::text[]) AS flags,
       CASE WHEN x.band = 'poor'
            THEN ARRAY[pg_catalog.format('score %%s is in the poor band (below %%s)',
                                         pg_catalog.round(x.score::numeric, 1), x.poor_below)]
            ELSE '{}'::text[] END
       || coalesce(x.flag_reasons, '{}'::text[]) AS reasons,
       coalesce(x.flag_actions, '{}'::text[]) AS actions,
       coalesce(x.flag_evidence, '{}'::jsonb) AS evidence,
       (SELECT pg_catalog.count(*) FROM health_score.task t WHERE t.account_id = x.account_id AND t.status = 'open') AS open_tasks,
       x.as_of
  FROM x
 ORDER BY rank
$q$, k, history_30d, visible);

	-- For tools that read neither arrays nor JSON: a row per at-risk account and open red or amber flag, in
	-- the order of at_risk_accounts (an account at risk by its poor band alone has one row, without a flag),
	-- with the task that answers the flag.
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_flags WITH (security_invoker = true) AS
SELECT a.rank, a.account_id, a.name, a.owner, a.arr, a.score, a.band, a.band_rank,
       f.id AS flag_id, f.rule, f.severity,
       coalesce(health_score.rule_text(r.description, r.params || f.evidence), f.rule, a.reasons[1]) AS reason,
       (SELECT pg_catalog.string_agg(e.key || ': ' || (e.value #>> '{}'), '; ' ORDER BY e.key)
          FROM pg_catalog.jsonb_each(f.evidence) e) AS evidence,
       coalesce(f.action, r.action) AS action,
       t.id AS task_id, t.status AS task_status, t.due_on AS task_due_on,
       (t.status = 'open' AND t.due_on < CURRENT_DATE) AS task_overdue
  FROM health_score.at_risk_accounts a
  LEFT JOIN health_score.flag f
         ON f.account_id = a.account_id::text AND f.cleared_at IS NULL AND f.severity IN ('red', 'amber')
  LEFT JOIN health_score.rule r ON r.code = f.rule
  LEFT JOIN LATERAL (SELECT k.id, k.status, k.due_on FROM health_score.task k
                      WHERE k.flag_id = f.id ORDER BY k.id DESC LIMIT 1) t ON true
 ORDER BY a.rank, pg_catalog.array_position(ARRAY['red', 'amber'], f.severity), f.rule
$q$);

	-- Each scored account in exactly one band (or 'unscored') and one open-flag severity (its worst red or
	-- amber flag, else 'none'); 'all' rows are the totals, so the view is a pivotable cube: summing it counts
	-- each account up to four times (is_total marks the rows with an 'all').
	EXECUTE format($q$
CREATE VIEW health_score.revenue_at_risk WITH (security_invoker = true) AS
WITH a AS (
	SELECT coalesce(h.band::text, 'unscored') AS band,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS severity,
	       h.arr
	  FROM health_score.account_health h
	  LEFT JOIN (%2$s) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%1$s)
), c AS (
	SELECT CASE WHEN grouping(a.band) = 0 THEN a.band ELSE 'all' END AS band,
	       CASE WHEN grouping(a.severity) = 0 THEN a.severity ELSE 'all' END AS open_flag_severity,
	       pg_catalog.count(*) AS accounts,
	       %3$s AS arr
	  FROM a
	 GROUP BY CUBE (a.band, a.severity)
)
SELECT c.band, c.open_flag_severity, c.accounts, c.arr,
       pg_catalog.round(100.0 * c.accounts / nullif(t.accounts, 0), 1) AS accounts_pct,
       pg_catalog.round(100.0 * c.arr / nullif(t.arr, 0), 1) AS arr_pct,
       (c.band = 'poor' OR c.open_flag_severity = 'red') AS at_risk,
       (c.band = 'all' OR c.open_flag_severity = 'all') AS is_total
  FROM c
  CROSS JOIN (SELECT c2.accounts, c2.arr FROM c c2 WHERE c2.band = 'all' AND c2.open_flag_severity = 'all') t
$q$, visible, open_flags, format(arr_sum, 'a.arr', ''));

	EXECUTE format($q$
CREATE VIEW health_score.plays WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
)
SELECT f.id AS flag_id,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date, h.score::numeric(5,1) AS score, h.band,
       health_score.band_rank(h.band) AS band_rank,
       f.rule, f.severity, coalesce(health_score.rule_text(ru.description, ru.params || f.evidence), f.rule) AS description,
       f.raised_at, f.updated_at, f.evidence,
       coalesce(f.action, ru.action) AS action,
       t.id AS task_id, t.status AS task_status, t.due_on AS task_due_on
  FROM health_score.flag f
  JOIN health_score.account_health h ON h.account_id = f.account_id
  LEFT JOIN ru ON ru.code = f.rule
  LEFT JOIN LATERAL (SELECT k.id, k.status, k.due_on FROM health_score.task k
                      WHERE k.flag_id = f.id ORDER BY k.id DESC LIMIT 1) t ON true
 WHERE f.cleared_at IS NULL AND f.severity IN ('info', 'opportunity')
   AND h.account_id IN (%2$s)
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.score_changes WITH (security_invoker = true) AS
SELECT h.account_id::%1$s AS account_id, h.name, h.owner,
       p.day AS from_day, c.day AS to_day, p.score::numeric(5,1) AS score_from, c.score::numeric(5,1) AS score_to,
       (c.score - p.score)::numeric(5,1) AS change,
       d.component AS driver, d.contribution::numeric(5,1) AS driver_contribution,
       h.inputs -> d.component AS driver_measures
  FROM health_score.account_health h
  JOIN health_score.health_history c ON c.account_id = h.account_id AND c.day = (h.as_of)::date
  JOIN LATERAL (
	SELECT hh.day, hh.score, hh AS r FROM health_score.health_history hh
	 WHERE hh.account_id = h.account_id AND hh.day <= (h.as_of - interval '30 days')::date
	 ORDER BY hh.day DESC LIMIT 1) p ON true
  LEFT JOIN LATERAL (
	SELECT x.component, x.contribution FROM health_score._score_contributions(p.r, c) x
	 ORDER BY pg_catalog.abs(x.contribution) DESC NULLS LAST, x.component LIMIT 1) d ON true
 WHERE h.account_id IN (%2$s) AND c.score IS DISTINCT FROM p.score
 ORDER BY pg_catalog.abs(c.score - p.score) DESC NULLS LAST, h.account_id
$q$, k, visible);

	-- The team's list: overdue first (most overdue first), then by due date.
	EXECUTE format($q$
CREATE VIEW health_score.open_tasks WITH (security_invoker = true) AS
SELECT t.id AS task_id, t.account_id::%1$s AS account_id, h.name, t.owner, t.rule, r.severity, t.title, t.due_on,
       t.due_on < CURRENT_DATE AS overdue,
       greatest(CURRENT_DATE - t.due_on, 0) AS days_overdue,
       t.created_at, t.flag_id,
       f.cleared_at IS NULL AND f.id IS NOT NULL AS flag_open,
       f.cleared_at AS flag_cleared_at,
       h.score::numeric(5,1) AS score, h.band, health_score.band_rank(h.band) AS band_rank, h.arr
  FROM health_score.task t
  LEFT JOIN health_score.flag f ON f.id = t.flag_id
  LEFT JOIN health_score.rule r ON r.code = t.rule
  LEFT JOIN health_score.account_health h ON h.account_id = t.account_id
 WHERE t.status = 'open' AND t.account_id IN (%2$s)
 ORDER BY t.due_on < CURRENT_DATE DESC, t.due_on, t.id
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.plans WITH (security_invoker = true) AS
SELECT p.id AS plan_id, p.account_id::%1$s AS account_id, h.name, p.kind, p.owner, p.started_at, p.started_by,
       CASE WHEN p.completed_at IS NOT NULL THEN 'complete' ELSE 'open' END AS status, p.completed_at,
       s.steps, s.steps_done,
       pg_catalog.round(s.steps_done::numeric / s.steps, 4) AS progress,
       n.step AS next_step, n.due_on AS next_due_on,
       s.overdue_steps,
       coalesce(c.commitments, 0) AS commitments,
       coalesce(c.breached, 0) AS breached_commitments,
       coalesce(c.breaches, '{}'::text[]) AS breaches,
       c.last_checked_at
  FROM health_score.plan p
  LEFT JOIN health_score.account_health h ON h.account_id = p.account_id
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS steps, pg_catalog.count(*) FILTER (WHERE x.done_at IS NOT NULL) AS steps_done,
	       pg_catalog.count(*) FILTER (WHERE x.done_at IS NULL AND x.due_on < CURRENT_DATE) AS overdue_steps
	  FROM health_score.plan_step x WHERE x.plan_id = p.id) s
  LEFT JOIN LATERAL (
	SELECT x.step, x.due_on FROM health_score.plan_step x
	 WHERE x.plan_id = p.id AND x.done_at IS NULL ORDER BY x.step_no LIMIT 1) n ON true
  LEFT JOIN LATERAL (
	SELECT pg_catalog.count(*) AS commitments, pg_catalog.count(*) FILTER (WHERE x.breached) AS breached,
	       pg_catalog.array_agg(pg_catalog.format('%%s: %%s is %%s (%%s)', x.description, x.measure,
	                                              pg_catalog.trim_scale(pg_catalog.round(x.value::numeric, 3)),
	                                              pg_catalog.concat_ws(', ', 'at most ' || x.at_most, 'at least ' || x.at_least))
	                            ORDER BY x.id) FILTER (WHERE x.breached) AS breaches,
	       pg_catalog.max(x.checked_at) AS last_checked_at
	  FROM health_score.plan_commitment x WHERE x.plan_id = p.id) c ON true
 WHERE p.account_id IN (%2$s)
 ORDER BY p.completed_at IS NOT NULL, n.due_on, p.id
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.goal_status WITH (security_invoker = true) AS
SELECT g.id AS goal_id, g.account_id::%1$s AS account_id, h.name, h.owner, g.name AS goal, g.measure, g.baseline, g.target,
       g.starts_on, g.due_on, pr.day AS measured_on, pr.value,
       pg_catalog.round(pr.attainment::numeric, 4) AS attainment,
       pg_catalog.round(pr.expected::numeric, 4) AS expected,
       pg_catalog.round(pr.shortfall::numeric, 4) AS shortfall,
       pr.attainment >= 1 AS reached,
       CASE WHEN g.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status, g.outcome
  FROM health_score.goal g
  LEFT JOIN health_score.account_health h ON h.account_id = g.account_id
  LEFT JOIN LATERAL (SELECT x.* FROM health_score.goal_progress x WHERE x.goal_id = g.id ORDER BY x.day DESC LIMIT 1) pr ON true
 WHERE g.account_id IN (%2$s)
 ORDER BY g.closed_at IS NOT NULL, pr.shortfall DESC NULLS LAST, g.due_on, g.id
$q$, k, visible);

	-- Children rolled up to their parent account (the accounts source's parent_account_id): the mean score,
	-- the ARR-weighted mean (over the children with ARR) and the worst child, with band counts, over the
	-- children the role may see. A parent need not be scored itself.
	EXECUTE format($q$
CREATE VIEW health_score.parent_health WITH (security_invoker = true) AS
SELECT h.parent_account_id::%1$s AS parent_account_id, ph.name AS parent_name,
       pg_catalog.count(*) AS children,
       pg_catalog.avg(h.score)::numeric(5,1) AS mean_score,
       (pg_catalog.sum(h.score * h.arr) FILTER (WHERE h.arr > 0) / nullif(pg_catalog.sum(h.arr) FILTER (WHERE h.arr > 0 AND h.score IS NOT NULL), 0))::numeric(5,1)
           AS arr_weighted_score,
       pg_catalog.min(h.score)::numeric(5,1) AS worst_score,
       (pg_catalog.array_agg(h.account_id ORDER BY h.score NULLS LAST, h.account_id))[1]::%1$s AS worst_account_id,
       (pg_catalog.array_agg(h.name ORDER BY h.score NULLS LAST, h.account_id))[1] AS worst_account_name,
       pg_catalog.count(*) FILTER (WHERE h.band = 'good') AS good,
       pg_catalog.count(*) FILTER (WHERE h.band = 'average') AS average,
       pg_catalog.count(*) FILTER (WHERE h.band = 'poor') AS poor,
       %3$s AS arr
  FROM health_score.account_health h
  -- (the parent's name only for a parent the role may see too)
  LEFT JOIN health_score.account_health ph ON ph.account_id = h.parent_account_id AND ph.account_id IN (%2$s)
 WHERE h.parent_account_id IS NOT NULL AND h.account_id IN (%2$s)
 GROUP BY h.parent_account_id, ph.name
 ORDER BY worst_score NULLS LAST, h.parent_account_id
$q$, k, visible, format(arr_sum, 'h.arr', ''));

	-- Did acting help: per rule and month of raise, the flags raised, their tasks done or not, and churn (the
	-- backtest's default outcome: cancelled within 90 days of the raise, from the accounts source) of the
	-- accounts whose task was done against those whose task was not. Counts add up over months.
	EXECUTE format($q$
CREATE VIEW health_score.play_outcomes WITH (security_invoker = true) AS
WITH acc AS (
	SELECT (a.%1$I)::%2$s::text AS account_id, %3$s AS cancelled_at
	  FROM %4$s a
), f AS (
	SELECT fl.rule, pg_catalog.date_trunc('month', fl.raised_at)::date AS month, fl.id, fl.raised_at,
	       t.status AS task_status,
	       CASE WHEN %5$L AND (fl.raised_at + interval '90 days' <= pg_catalog.now() OR x.cancelled_at <= fl.raised_at + interval '90 days')
	            THEN coalesce(x.cancelled_at > fl.raised_at AND x.cancelled_at <= fl.raised_at + interval '90 days', false) END AS churned
	  FROM health_score.flag fl
	  JOIN acc x ON x.account_id = fl.account_id
	  LEFT JOIN LATERAL (SELECT k.status FROM health_score.task k WHERE k.flag_id = fl.id ORDER BY k.id DESC LIMIT 1) t ON true
)
SELECT f.rule, f.month,
       pg_catalog.count(*) AS flags_raised,
       pg_catalog.count(f.task_status) AS tasks,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done') AS tasks_done,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed')) AS tasks_not_done,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned IS NOT NULL) AS done_outcome_known,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned) AS done_churned,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned IS NOT NULL) AS not_done_outcome_known,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned) AS not_done_churned,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned)::numeric
                        / nullif(pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned IS NOT NULL), 0), 4) AS done_churn_rate,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned)::numeric
                        / nullif(pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned IS NOT NULL), 0), 4) AS not_done_churn_rate
  FROM f
 GROUP BY f.rule, f.month
 ORDER BY f.month, f.rule
$q$, src.columns ->> 'account_id', health_score._key_type(src.key_type::regtype), c_cancelled, src.relation,
	 src.columns ? 'cancelled_at');

	FOR r IN
		SELECT v.view, v.comment FROM (VALUES
		('account_overview', 'one row per scored, non-cancelled account: its score, band, components, 30-day change, open flags and tasks, and its pass-through dimensions; account_id has the accounts source''s type'),
		('band_breakdown', 'accounts and ARR per health band, one row per dimension, value and band (long form): SUM over one dimension gives the total; dimension ''all'' (is_total) is the overall breakdown, and summing across dimensions counts each account once per dimension'),
		('band_breakdown_wide', 'band_breakdown with the three bands side by side, a row per dimension and value; is_total marks the overall row'),
		('health_trend', 'per day of health_history: accounts scored, average score and band counts, to chart overall health'),
		('health_trend_by', 'per day of health_history and per value of each dimension (segment, plan, lifecycle_stage, owner and the pass-through ones): accounts, average score and band counts; every account is in every dimension, so filter on one'),
		('cancellation_trend', 'per calendar month up to the latest as_of scored, from the accounts source itself: accounts active at the start, cancellations, rate, rolling three-month rate and ARR cancelled, with the change against the previous month'),
		('owner_workload', 'per customer-success manager (owner): accounts, poor accounts and their share against the team''s, open red flags, ARR at risk, open and overdue tasks; most poor accounts first'),
		('at_risk_accounts', 'accounts at risk (poor band or an open red flag) with their open red and amber flags, reasons, evidence and recommended actions; worst open flag first, then the poor band, then the largest ARR: the weekly review list'),
		('at_risk_flags', 'at_risk_accounts flattened for tools that read neither arrays nor JSON: a row per at-risk account and open red or amber flag, with the reason, evidence and action as text and the status of the task that answers it'),
		('revenue_at_risk', 'accounts and ARR by health band and by the worst severity of their open red/amber flags, with ''all'' totals in both directions (is_total)'),
		('plays', 'open info and opportunity flags (new users to train, features adopted, upsell) with their recommended actions and tasks'),
		('score_changes', 'accounts whose score moved in the 30 days to as_of, largest move first, with the component that drove it (explain() gives every component)'),
		('open_tasks', 'the team''s open tasks (plays), overdue first, with whether the flag that opened each is still open'),
		('plans', 'plans (start_plan) with their progress, next step, overdue steps and breached commitments'),
		('goal_status', 'customers'' goals with their latest attainment against the straight line to the due date, furthest behind first'),
		('parent_health', 'per parent account: its children''s mean score, ARR-weighted mean score, worst child and band counts'),
		('play_outcomes', 'per rule and month of raise: flags raised, tasks done and not done, and the churn (cancelled within 90 days) of the accounts whose task was done against those whose task was not')
		) v(view, comment)
	LOOP
		EXECUTE format('COMMENT ON VIEW health_score.%I IS %L', r.view, r.comment);
	END LOOP;

	FOR r IN
		SELECT c.view, c.col, c.comment FROM (VALUES
		-- account_overview
		('account_overview', 'account_id', 'the account''s key, of the accounts source''s own type, so it joins to your tables without a cast'),
		('account_overview', 'name', 'account name, from the accounts source'),
		('account_overview', 'segment', 'segment, from the accounts source'),
		('account_overview', 'lifecycle_stage', 'lifecycle stage, from the accounts source'),
		('account_overview', 'plan', 'plan, from the accounts source'),
		('account_overview', 'owner', 'customer-success manager who owns the account, from the accounts source'),
		('account_overview', 'seats', 'purchased seats (licences), from the accounts source'),
		('account_overview', 'arr', 'annual recurring revenue, from the accounts source (NULL when it maps none)'),
		('account_overview', 'renewal_date', 'next renewal date, from the accounts source'),
		('account_overview', 'days_to_renewal', 'days from the as_of date to renewal_date (negative when overdue)'),
		('account_overview', 'parent_account_id', 'the parent account, from the accounts source (parent_health rolls children up)'),
		('account_overview', 'profile', 'scoring profile applied to the account'),
		('account_overview', 'score', 'health score 0-100 at as_of, to 0.1: the override while one is in force, else computed_score'),
		('account_overview', 'band', 'health band of the score under the profile''s thresholds: poor, average or good'),
		('account_overview', 'band_rank', '1 poor, 2 average, 3 good: sorts bands in order'),
		('account_overview', 'engagement', 'engagement component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'utilisation', 'licence utilisation component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'adoption', 'key-feature adoption component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'support', 'support component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'sentiment', 'sentiment (survey) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'relationship', 'relationship (touchpoints) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'components', 'the other components (goals, and those added with add_component): name -> 0-100 to 0.1'),
		('account_overview', 'score_30d_ago', 'score in health_history on the latest day on or before as_of - 30 days (NULL when there is none)'),
		('account_overview', 'score_30d_ago_day', 'the health_history day score_30d_ago comes from'),
		('account_overview', 'score_change_30d', 'score minus score_30d_ago: positive is improving (NULL without history)'),
		('account_overview', 'open_flags', 'codes of the account''s open flags, red first, then amber, opportunity and info'),
		('account_overview', 'open_red_flags', 'number of open red flags'),
		('account_overview', 'open_amber_flags', 'number of open amber flags'),
		('account_overview', 'open_tasks', 'number of the account''s open tasks (open_tasks lists them)'),
		('account_overview', 'at_risk', 'true when the band is poor or any red flag is open'),
		('account_overview', 'as_of', 'the point in time the score describes'),
		('account_overview', 'refreshed_at', 'when the refresh that computed this row ran'),
		('account_overview', 'computed_score', 'the score the model computed: the weighted mean of the components present'),
		('account_overview', 'overridden', 'true while a manager''s override (set_override) is in force: score is the override'),
		('account_overview', 'overridden_by', 'the role that set the override in force'),
		('account_overview', 'override_reason', 'why the score is overridden, in the words of whoever set it'),
		('account_overview', 'override_expires_at', 'when the override stops applying'),
		('account_overview', 'stale_sources', 'the sources that were stale at as_of (see source_freshness): the score rests partly on old data'),
		('account_overview', 'stale', 'true when stale_sources is not empty: read the score with care, flags over those sources are held'),
		-- band_breakdown
		('band_breakdown', 'dimension', 'what the rows break down by: all, segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('band_breakdown', 'value', 'the segment, plan, ... of the group (NULL for accounts without one); ''all'' for dimension all'),
		('band_breakdown', 'band', 'health band: poor, average or good (every band of every group has a row, 0 when empty)'),
		('band_breakdown', 'band_rank', '1 poor, 2 average, 3 good: sorts bands in order'),
		('band_breakdown', 'accounts', 'scored accounts of the group in the band'),
		('band_breakdown', 'arr', 'their ARR (NULL when the accounts source maps no arr)'),
		('band_breakdown', 'share', 'accounts as a fraction (0-1) of the group''s scored accounts'),
		('band_breakdown', 'pct', 'accounts as a percentage of the group''s; the three bands add up to exactly 100 (largest-remainder rounding to 0.1)'),
		('band_breakdown', 'arr_share', 'arr as a fraction (0-1) of the group''s ARR'),
		('band_breakdown', 'is_total', 'true on the overall rows (dimension all): leave them out, or keep only them, when summing'),
		-- band_breakdown_wide
		('band_breakdown_wide', 'dimension', 'what the row breaks down by: all, segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('band_breakdown_wide', 'value', 'the segment, plan, ... (NULL for accounts without one); ''all'' on the overall row'),
		('band_breakdown_wide', 'accounts', 'scored accounts in the group (good + average + poor)'),
		('band_breakdown_wide', 'good', 'accounts in the good band'),
		('band_breakdown_wide', 'average', 'accounts in the average band'),
		('band_breakdown_wide', 'poor', 'accounts in the poor band'),
		('band_breakdown_wide', 'good_pct', 'good as a percentage of accounts; the three percentages add up to exactly 100'),
		('band_breakdown_wide', 'average_pct', 'average as a percentage of accounts'),
		('band_breakdown_wide', 'poor_pct', 'poor as a percentage of accounts'),
		('band_breakdown_wide', 'good_share', 'good as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'average_share', 'average as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'arr', 'ARR of the scored accounts in the group (NULL when no arr is mapped)'),
		('band_breakdown_wide', 'arr_good', 'ARR of the group''s good accounts'),
		('band_breakdown_wide', 'arr_average', 'ARR of the group''s average accounts'),
		('band_breakdown_wide', 'arr_poor', 'ARR of the group''s poor accounts'),
		('band_breakdown_wide', 'is_total', 'true on the overall row (dimension all)'),
		-- health_trend
		('health_trend', 'day', 'day of health_history (one refresh per day is kept)'),
		('health_trend', 'accounts', 'accounts scored that day'),
		('health_trend', 'average_score', 'mean score that day, to 0.1'),
		('health_trend', 'good', 'accounts in the good band that day'),
		('health_trend', 'average', 'accounts in the average band that day'),
		('health_trend', 'poor', 'accounts in the poor band that day'),
		('health_trend', 'good_pct', 'good as a percentage of accounts; the three add up to exactly 100'),
		('health_trend', 'average_pct', 'average as a percentage of accounts'),
		('health_trend', 'poor_pct', 'poor as a percentage of accounts'),
		('health_trend', 'good_share', 'good as a fraction (0-1) of accounts'),
		('health_trend', 'average_share', 'average as a fraction (0-1) of accounts'),
		('health_trend', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('health_trend', 'arr', 'ARR of the accounts scored that day, as recorded in health_history (NULL when no arr is mapped)'),
		('health_trend', 'arr_poor', 'ARR of the poor accounts that day'),
		-- health_trend_by
		('health_trend_by', 'day', 'day of health_history'),
		('health_trend_by', 'dimension', 'segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('health_trend_by', 'value', 'the dimension''s value that day (NULL for accounts without one)'),
		('health_trend_by', 'accounts', 'accounts with that value scored that day'),
		('health_trend_by', 'average_score', 'their mean score, to 0.1'),
		('health_trend_by', 'good', 'of them, accounts in the good band'),
		('health_trend_by', 'average', 'accounts in the average band'),
		('health_trend_by', 'poor', 'accounts in the poor band'),
		('health_trend_by', 'good_share', 'good as a fraction (0-1) of accounts'),
		('health_trend_by', 'average_share', 'average as a fraction (0-1) of accounts'),
		('health_trend_by', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('health_trend_by', 'arr', 'their ARR as recorded that day (NULL when no arr is mapped)'),
		-- cancellation_trend
		('cancellation_trend', 'month', 'first day of the calendar month (session time zone)'),
		('cancellation_trend', 'active_at_start', 'accounts started before the month (or with no start date) and not cancelled before it'),
		('cancellation_trend', 'cancellations', 'accounts whose cancelled_at falls in the month, up to the latest as_of scored'),
		('cancellation_trend', 'cancellation_rate', 'cancellations as a percentage of active_at_start, rounded to 0.01 (NULL when none were active)'),
		('cancellation_trend', 'cancellation_share', 'cancellations as a fraction (0-1) of active_at_start'),
		('cancellation_trend', 'rolling_3m_rate', 'cancellations of this month and the two before as a percentage of their active_at_start (NULL for the first two months)'),
		('cancellation_trend', 'arr_cancelled', 'ARR of the accounts cancelled in the month (NULL when no arr is mapped)'),
		('cancellation_trend', 'cancellations_change', 'cancellations minus the previous month''s'),
		('cancellation_trend', 'rate_change', 'cancellation_rate minus the previous month''s, in percentage points'),
		('cancellation_trend', 'direction', 'up, down or flat: cancellation_rate against the previous month''s (NULL for the first month, an incomplete month, or without a rate)'),
		('cancellation_trend', 'complete', 'false for the month of the latest as_of until as_of reaches its end'),
		-- owner_workload
		('owner_workload', 'owner', 'customer-success manager (NULL: accounts without an owner)'),
		('owner_workload', 'accounts', 'scored accounts the owner carries'),
		('owner_workload', 'poor', 'of them, accounts in the poor band'),
		('owner_workload', 'poor_pct', 'poor as a percentage of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'poor_share', 'poor as a fraction (0-1) of the owner''s accounts'),
		('owner_workload', 'team_poor_pct', 'poor accounts as a percentage of all scored accounts (the team average), rounded to 0.1'),
		('owner_workload', 'average_score', 'mean score of the owner''s accounts, to 0.1'),
		('owner_workload', 'open_red_flags', 'open red flags on the owner''s accounts'),
		('owner_workload', 'at_risk_accounts', 'the owner''s accounts at risk (poor band or an open red flag)'),
		('owner_workload', 'arr', 'ARR of the owner''s accounts (NULL when no arr is mapped)'),
		('owner_workload', 'arr_at_risk', 'ARR of the owner''s accounts at risk'),
		('owner_workload', 'notably_more_poor', 'true when the owner''s poor share is at least 1.5 times the team''s and the owner has at least 2 poor accounts'),
		('owner_workload', 'open_tasks', 'open tasks opened for the owner'),
		('owner_workload', 'overdue_tasks', 'of them, those past their due date'),
		-- at_risk_accounts
		('at_risk_accounts', 'rank', 'position in the review list: worst open flag (red, amber, none) first, then the poor band, then the largest ARR, then the lowest score'),
		('at_risk_accounts', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_accounts', 'name', 'account name'),
		('at_risk_accounts', 'segment', 'segment'),
		('at_risk_accounts', 'plan', 'plan'),
		('at_risk_accounts', 'owner', 'customer-success manager'),
		('at_risk_accounts', 'arr', 'annual recurring revenue'),
		('at_risk_accounts', 'renewal_date', 'next renewal date'),
		('at_risk_accounts', 'days_to_renewal', 'days from the as_of date to renewal_date'),
		('at_risk_accounts', 'score', 'health score 0-100, to 0.1'),
		('at_risk_accounts', 'band', 'health band'),
		('at_risk_accounts', 'band_rank', '1 poor, 2 average, 3 good'),
		('at_risk_accounts', 'score_change_30d', 'score minus the score on the latest history day on or before as_of - 30 days'),
		('at_risk_accounts', 'worst_severity', 'the worst open flag: red, amber or none (at risk by the poor band alone)'),
		('at_risk_accounts', 'red_flags', 'number of open red flags'),
		('at_risk_accounts', 'amber_flags', 'number of open amber flags'),
		('at_risk_accounts', 'flags', 'codes of the open red and amber flags, red first'),
		('at_risk_accounts', 'reasons', 'why the account is at risk, in words: the poor band, then the description of each open red/amber flag''s rule with its current thresholds filled in'),
		('at_risk_accounts', 'actions', 'recommended actions of the open red and amber flags, in flag order'),
		('at_risk_accounts', 'evidence', 'the open red and amber flags'' evidence as one JSON object keyed by rule code'),
		('at_risk_accounts', 'open_tasks', 'number of the account''s open tasks'),
		('at_risk_accounts', 'as_of', 'the point in time the score describes'),
		-- at_risk_flags
		('at_risk_flags', 'rank', 'the account''s position in at_risk_accounts'),
		('at_risk_flags', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_flags', 'name', 'account name'),
		('at_risk_flags', 'owner', 'customer-success manager'),
		('at_risk_flags', 'arr', 'annual recurring revenue'),
		('at_risk_flags', 'score', 'health score 0-100, to 0.1'),
		('at_risk_flags', 'band', 'health band'),
		('at_risk_flags', 'band_rank', '1 poor, 2 average, 3 good'),
		('at_risk_flags', 'flag_id', 'the open red or amber flag (NULL: the account is at risk by its poor band alone)'),
		('at_risk_flags', 'rule', 'the rule that raised the flag'),
		('at_risk_flags', 'severity', 'red or amber'),
		('at_risk_flags', 'reason', 'the rule''s description with the thresholds that applied, or the poor band'),
		('at_risk_flags', 'evidence', 'the flag''s evidence as text: measure: value; ...'),
		('at_risk_flags', 'action', 'the recommended action'),
		('at_risk_flags', 'task_id', 'the task that answers the flag (NULL when its rule opens none)'),
		('at_risk_flags', 'task_status', 'open, done or dismissed'),
		('at_risk_flags', 'task_due_on', 'when the task is due'),
		('at_risk_flags', 'task_overdue', 'true when the task is open past its due date'),
		-- revenue_at_risk
		('revenue_at_risk', 'band', 'health band (good, average, poor, or unscored); ''all'' sums every band'),
		('revenue_at_risk', 'open_flag_severity', 'worst open risk flag of the account: red, amber or none; ''all'' sums every severity'),
		('revenue_at_risk', 'accounts', 'accounts in the cell'),
		('revenue_at_risk', 'arr', 'ARR of the accounts in the cell (NULL when no arr is mapped)'),
		('revenue_at_risk', 'accounts_pct', 'accounts as a percentage of all scored accounts, rounded to 0.1'),
		('revenue_at_risk', 'arr_pct', 'ARR as a percentage of all scored accounts'' ARR, rounded to 0.1'),
		('revenue_at_risk', 'at_risk', 'true when every account in the cell is at risk (band poor or worst open flag red)'),
		('revenue_at_risk', 'is_total', 'true on the rows with an ''all'': leave them out when summing'),
		-- plays
		('plays', 'flag_id', 'id of the open flag in health_score.flag'),
		('plays', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plays', 'name', 'account name'),
		('plays', 'segment', 'segment'),
		('plays', 'plan', 'plan'),
		('plays', 'owner', 'customer-success manager'),
		('plays', 'arr', 'annual recurring revenue'),
		('plays', 'renewal_date', 'next renewal date'),
		('plays', 'score', 'health score 0-100, to 0.1'),
		('plays', 'band', 'health band'),
		('plays', 'band_rank', '1 poor, 2 average, 3 good'),
		('plays', 'rule', 'code of the rule that raised the flag (e.g. new_users, feature_adopted, over_licensed)'),
		('plays', 'severity', 'info or opportunity'),
		('plays', 'description', 'what the rule detects, with its current thresholds filled in'),
		('plays', 'raised_at', 'when the flag was raised (as_of of the refresh)'),
		('plays', 'updated_at', 'as_of of the latest refresh that changed the flag''s evidence, severity or action'),
		('plays', 'evidence', 'the figures behind the flag, as JSON'),
		('plays', 'action', 'the recommended play'),
		('plays', 'task_id', 'the task the flag opened (NULL when its rule opens none)'),
		('plays', 'task_status', 'open, done or dismissed'),
		('plays', 'task_due_on', 'when the task is due'),
		-- score_changes
		('score_changes', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('score_changes', 'name', 'account name'),
		('score_changes', 'owner', 'customer-success manager'),
		('score_changes', 'from_day', 'the latest health_history day on or before as_of - 30 days'),
		('score_changes', 'to_day', 'the day of as_of'),
		('score_changes', 'score_from', 'score on from_day, to 0.1'),
		('score_changes', 'score_to', 'score on to_day, to 0.1'),
		('score_changes', 'change', 'score_to minus score_from: positive is improving'),
		('score_changes', 'driver', 'the component (or override) whose contribution to the change is largest in size'),
		('score_changes', 'driver_contribution', 'its contribution in score points: the contributions of all components add up to change'),
		('score_changes', 'driver_measures', 'the measures behind the driver now (account_health.inputs)'),
		-- open_tasks
		('open_tasks', 'task_id', 'the task, for complete_task and dismiss_task'),
		('open_tasks', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('open_tasks', 'name', 'account name'),
		('open_tasks', 'owner', 'who the task is for: the account''s owner when it was opened'),
		('open_tasks', 'rule', 'the rule whose flag opened it'),
		('open_tasks', 'severity', 'the rule''s severity'),
		('open_tasks', 'title', 'what to do: the flag''s recommended action'),
		('open_tasks', 'due_on', 'when it is due'),
		('open_tasks', 'overdue', 'true past due_on'),
		('open_tasks', 'days_overdue', 'days past due_on (0 when not overdue)'),
		('open_tasks', 'created_at', 'as_of of the refresh that opened it'),
		('open_tasks', 'flag_id', 'the flag it answers'),
		('open_tasks', 'flag_open', 'false once that flag has cleared: the condition no longer holds'),
		('open_tasks', 'flag_cleared_at', 'when the flag cleared'),
		('open_tasks', 'score', 'the account''s health score now, to 0.1'),
		('open_tasks', 'band', 'its band'),
		('open_tasks', 'band_rank', '1 poor, 2 average, 3 good'),
		('open_tasks', 'arr', 'its ARR'),
		-- plans
		('plans', 'plan_id', 'the plan, for complete_step and add_commitment'),
		('plans', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plans', 'name', 'account name'),
		('plans', 'kind', 'the kind of plan (plan_template), such as win_back'),
		('plans', 'owner', 'who leads it'),
		('plans', 'started_at', 'when start_plan opened it'),
		('plans', 'started_by', 'the role that opened it'),
		('plans', 'status', 'open, or complete once every step is done'),
		('plans', 'completed_at', 'when its last step was done'),
		('plans', 'steps', 'its steps'),
		('plans', 'steps_done', 'of them, those done'),
		('plans', 'progress', 'steps_done as a fraction (0-1) of steps'),
		('plans', 'next_step', 'the first step not done'),
		('plans', 'next_due_on', 'when it is due'),
		('plans', 'overdue_steps', 'steps not done past their due date'),
		('plans', 'commitments', 'the service levels the plan commits to (add_commitment)'),
		('plans', 'breached_commitments', 'of them, those breached at the last refresh'),
		('plans', 'breaches', 'each breached commitment with its measure''s value and its limit, in words'),
		('plans', 'last_checked_at', 'as_of of the last refresh that checked the commitments'),
		-- goal_status
		('goal_status', 'goal_id', 'the goal, for close_goal'),
		('goal_status', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('goal_status', 'name', 'account name'),
		('goal_status', 'owner', 'customer-success manager'),
		('goal_status', 'goal', 'what the customer wants to achieve'),
		('goal_status', 'measure', 'the measure that tracks it'),
		('goal_status', 'baseline', 'the measure''s value when the goal was set (attainment 0)'),
		('goal_status', 'target', 'the value to reach (attainment 1)'),
		('goal_status', 'starts_on', 'when the goal was set'),
		('goal_status', 'due_on', 'when the target is to be reached'),
		('goal_status', 'measured_on', 'the day of the latest refresh that measured it'),
		('goal_status', 'value', 'the measure then'),
		('goal_status', 'attainment', '(value - baseline) / (target - baseline): 0 at the baseline, 1 at the target'),
		('goal_status', 'expected', 'the straight line from starts_on (0) to due_on (1) then'),
		('goal_status', 'shortfall', 'expected minus attainment (capped at 1) when positive: how far behind the goal is'),
		('goal_status', 'reached', 'true once attainment is 1 or more'),
		('goal_status', 'status', 'open, or closed (close_goal)'),
		('goal_status', 'outcome', 'how a closed goal ended'),
		-- parent_health
		('parent_health', 'parent_account_id', 'the parent account''s key, of the accounts source''s own type'),
		('parent_health', 'parent_name', 'its name, when the parent is a scored account itself'),
		('parent_health', 'children', 'scored accounts with this parent'),
		('parent_health', 'mean_score', 'the children''s mean score, to 0.1'),
		('parent_health', 'arr_weighted_score', 'the children''s mean score weighted by their ARR (children without ARR left out)'),
		('parent_health', 'worst_score', 'the lowest score of a child'),
		('parent_health', 'worst_account_id', 'the child with the lowest score'),
		('parent_health', 'worst_account_name', 'its name'),
		('parent_health', 'good', 'children in the good band'),
		('parent_health', 'average', 'children in the average band'),
		('parent_health', 'poor', 'children in the poor band'),
		('parent_health', 'arr', 'the children''s ARR (NULL when no arr is mapped)'),
		-- play_outcomes
		('play_outcomes', 'rule', 'the rule that raised the flags'),
		('play_outcomes', 'month', 'first day of the month they were raised in'),
		('play_outcomes', 'flags_raised', 'flags the rule raised that month'),
		('play_outcomes', 'tasks', 'of them, flags with a task'),
		('play_outcomes', 'tasks_done', 'flags whose task was done'),
		('play_outcomes', 'tasks_not_done', 'flags whose task is open or was dismissed'),
		('play_outcomes', 'done_outcome_known', 'flags with a done task whose outcome is known (90 days passed, or the account cancelled)'),
		('play_outcomes', 'done_churned', 'of them, accounts cancelled within 90 days of the raise'),
		('play_outcomes', 'not_done_outcome_known', 'flags with a task not done whose outcome is known'),
		('play_outcomes', 'not_done_churned', 'of them, accounts cancelled within 90 days of the raise'),
		('play_outcomes', 'done_churn_rate', 'done_churned / done_outcome_known (0-1)'),
		('play_outcomes', 'not_done_churn_rate', 'not_done_churned / not_done_outcome_known (0-1): compare with done_churn_rate')
		) c(view, col, comment)
	LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.%I.%I IS %L', r.view, r.col, r.comment);
	END LOOP;
	-- the pass-through dimensions' columns
	FOR r IN SELECT d.key, d.value FROM pg_catalog.jsonb_each_text(src.dimensions) d LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.account_overview.%I IS %L', r.key,
		               format('pass-through dimension, from column %s of the accounts source, as text', r.value));
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION health_score.rebuild_views() IS
	'drops the executive views and recreates them with account_id of the accounts source''s type and its pass-through dimensions (drops only, when no accounts source is registered)';
REVOKE EXECUTE ON FUNCTION health_score.rebuild_views() FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._view_names() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['play_outcomes', 'parent_health', 'goal_status', 'plans', 'open_tasks', 'score_changes', 'plays',
	             'revenue_at_risk', 'at_risk_flags', 'at_risk_accounts', 'owner_workload', 'cancellation_trend',
	             'health_trend_by', 'health_trend', 'band_breakdown_wide', 'band_breakdown', 'account_overview']
$$;

CREATE OR REPLACE FUNCTION health_score._before_drop()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
	captured regclass;
BEGIN
	-- the capture triggers on the activity sources: they would keep the extension's functions
	FOR captured IN SELECT DISTINCT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
	                 WHERE t.tgfoid IN ('health_score._capture_inserted()'::pg_catalog.regprocedure,
	                                    'health_score._capture_changed()'::pg_catalog.regprocedure) LOOP
		PERFORM health_score._capture_remove(captured);
	END LOOP;
	FOR captured IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
	                 WHERE c.relnamespace = 'health_score_work'::regnamespace AND c.relkind = 'r' LOOP
		EXECUTE pg_catalog.format('DROP TABLE %s CASCADE', captured);
	END LOOP;
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
		FOR job IN SELECT j.jobid, j.username FROM cron.job j
		            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database() LOOP
			PERFORM cron.unschedule(job.jobid);
			RAISE NOTICE 'unscheduled pg_cron job % (%), which ran the health_score refresh as role %',
				job.jobid, health_score._job_name(), pg_catalog.quote_ident(job.username);
		END LOOP;
	END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION health_score._before_drop() FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._before_drop_trigger()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'hs_before_drop';

CREATE AGGREGATE health_score._key_times(key text, occurred_at timestamptz, as_of timestamptz, before timestamptz) (
	SFUNC = health_score._key_times_transition,
	STYPE = bytea,
	SSPACE = 464,
	FINALFUNC = health_score._key_times_final,
	COMBINEFUNC = health_score._key_times_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._key_times(text, timestamptz, timestamptz, timestamptz) IS
	'internal to refresh(): each distinct key''s first and last time up to as_of, and its last time up to before';
CREATE AGGREGATE health_score._unanswered(occurred_at timestamptz, is_response boolean, is_outreach boolean,
										  from_a timestamptz, from_b timestamptz) (
	SFUNC = health_score._unanswered_transition,
	STYPE = bytea,
	SSPACE = 160,
	FINALFUNC = health_score._unanswered_final,
	COMBINEFUNC = health_score._unanswered_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._unanswered(timestamptz, boolean, boolean, timestamptz, timestamptz) IS
	'internal to refresh(): {outreach after from_a, outreach after from_b}, each after the group''s last response';
-- The aggregates with bytea states (dropped with their 0.1.0 functions above)
CREATE AGGREGATE health_score.active_users(user_key bigint) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(bigint) IS
	'exact number of distinct non-NULL user keys; 0 without any';
CREATE AGGREGATE health_score.active_users(user_key text) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(text) IS
	'exact number of distinct non-NULL user keys, compared byte for byte; 0 without any';
CREATE AGGREGATE health_score.active_users(user_key uuid) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(uuid) IS
	'exact number of distinct non-NULL user keys; 0 without any';
CREATE AGGREGATE health_score.licence_utilisation(user_key bigint, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(bigint, integer) IS
	'distinct non-NULL user keys per seat; NULL without rows or with NULL or 0 seats; seats fixed per group';
CREATE AGGREGATE health_score.licence_utilisation(user_key text, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(text, integer) IS
	'distinct non-NULL keys, compared bytewise, per seat; NULL without rows or with NULL/0 seats; seats fixed';
CREATE AGGREGATE health_score.licence_utilisation(user_key uuid, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(uuid, integer) IS
	'distinct non-NULL user keys per seat; NULL without rows or with NULL or 0 seats; seats fixed per group';
CREATE AGGREGATE health_score.user_windows(user_key bigint, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';
CREATE AGGREGATE health_score.user_windows(user_key text, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users (bytewise) in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';
CREATE AGGREGATE health_score.user_windows(user_key uuid, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';
CREATE AGGREGATE health_score.auc(score float8, positive boolean) (
	SFUNC = health_score.auc_transition,
	STYPE = bytea,
	SSPACE = 320,
	FINALFUNC = health_score.auc_final,
	COMBINEFUNC = health_score.auc_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.auc(float8, boolean) IS
	'ROC AUC: chance a positive row scores above a negative one, ties half; NULL unless both occur';
CREATE AGGREGATE health_score._activity_measures(occurred_at timestamptz, feature text, weight float8,
												 as_of timestamptz, recent_from timestamptz, adopt_from timestamptz,
												 half_lives interval[], key_features text[]) (
	SFUNC = health_score._activity_measures_transition,
	STYPE = bytea,
	SSPACE = 136,
	FINALFUNC = health_score._activity_measures_final,
	COMBINEFUNC = health_score._activity_measures_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._activity_measures(timestamptz, text, float8, timestamptz, timestamptz, timestamptz,
													  interval[], text[]) IS
	'internal to refresh(): counts, latest time, decayed sums and key-feature bits of the rows up to as_of';

-- decayed_sum and nps, their states by value (dropped with their 0.1.0 functions above)
CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, weight float8, as_of timestamptz,
										  half_life interval) (
	SFUNC = health_score.decayed_sum_step,
	STYPE = float8,
	INITCOND = '0',
	FINALFUNC = health_score.decayed_sum_value,
	COMBINEFUNC = pg_catalog.float8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.decayed_sum(timestamptz, float8, timestamptz, interval) IS
	'sum of weight * 2^(-(as_of - occurred_at) / half_life) over the rows that occurred by as_of; 0 without any';

CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, as_of timestamptz, half_life interval) (
	SFUNC = health_score.decayed_sum_step,
	STYPE = float8,
	INITCOND = '0',
	FINALFUNC = health_score.decayed_sum_value,
	COMBINEFUNC = pg_catalog.float8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.decayed_sum(timestamptz, timestamptz, interval) IS
	'sum of 2^(-(as_of - occurred_at) / half_life) over the rows that occurred by as_of; 0 without any';

CREATE AGGREGATE health_score.nps(rating integer) (
	SFUNC = health_score.nps_step,
	STYPE = bigint,
	INITCOND = '0',
	FINALFUNC = health_score.nps_value,
	COMBINEFUNC = pg_catalog.int8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.nps(integer) IS
	'Net Promoter Score of 0-10 ratings: 100 x (share of 9-10 - share of 0-6); NULL without ratings';

-- Seeded measures and components; the windows 0.1.0 rules counted over move to their measures ---------------
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
-- Windows: a 0.1.0 rule's window parameter now belongs to the measure counted over it.
UPDATE health_score.measure m
   SET params = m.params || w.params
  FROM (SELECT x.measure, pg_catalog.jsonb_object_agg(x.param, r.params -> x.param) AS params
          FROM (VALUES ('new_users', 'days', 'new_users'), ('feature_adopted', 'days', 'key_features_adopted'),
                       ('long_open_case', 'days', 'aged_open_cases'), ('unreturned_contact', 'days', 'unanswered_outreach'),
                       ('detractor', 'days', 'detractor_responses'), ('detractor', 'max_rating', 'detractor_responses'),
                       ('score_drop', 'days', 'score_earlier'), ('score_drop', 'tolerance_days', 'score_earlier'))
                 AS x (rule, param, measure)
          JOIN health_score.rule r ON r.code = x.rule AND r.seeded AND r.params ? x.param
         GROUP BY x.measure) w
 WHERE m.name = w.measure;

-- Rules: each seeded rule gets its condition, and keeps the parameters the condition uses (the defaults
-- filling in what 0.1.0 left out); the rules 0.1.0 evaluated nothing for get the condition false, their
-- parameters kept in the description; the new seeded rules are added (business_review_due and
-- renewal_approaching disabled, as in a fresh install).
WITH s (code, description, severity, condition, params, action, seeded) AS (VALUES
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
 '{}', 'Fix the breach today and tell the customer what was done: the plan''s credibility is at stake.', true)),
seeded AS (
	UPDATE health_score.rule r
	   SET condition = s.condition,
	       params = coalesce((SELECT pg_catalog.jsonb_object_agg(k.key, k.value)
	                            FROM pg_catalog.jsonb_each(s.params::jsonb || r.params) k WHERE s.params::jsonb ? k.key), '{}')
	  FROM s
	 WHERE r.code = s.code AND r.seeded)
INSERT INTO health_score.rule (code, description, severity, condition, params, action, seeded, enabled)
SELECT s.code, s.description, s.severity, s.condition, s.params::jsonb, s.action, s.seeded,
       s.code NOT IN ('business_review_due', 'renewal_approaching')
  FROM s
 WHERE s.code IN ('business_review_due', 'renewal_approaching', 'override_expiring', 'goal_off_track', 'plan_breach')
   AND NOT EXISTS (SELECT FROM health_score.rule r WHERE r.code = s.code);
UPDATE health_score.rule r
   SET condition = 'false', params = '{}',
       description = r.description || CASE WHEN r.params = '{}' THEN '' ELSE pg_catalog.format(' (parameters in 0.1.0: %s)', r.params) END
 WHERE r.condition IS NULL;
ALTER TABLE health_score.rule ALTER COLUMN condition SET NOT NULL;
-- The seeded plays: a red flag is worked within a week, an opportunity to train or share practices within two.
UPDATE health_score.rule SET task_due_in = CASE WHEN severity = 'red' THEN interval '7 days' ELSE interval '14 days' END
 WHERE seeded AND (severity = 'red' OR code IN ('new_users', 'feature_adopted'));

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
INSERT INTO health_score.component (name, kind, measure, worst, best, description, seeded) VALUES
('goals', 'linear', 'goal_attainment', 0, 1, '100 x goal_attainment: the mean attainment of the account''s open goals', true);

-- Triggers ---------------------------------------------------------------------------------------------------
CREATE TRIGGER measure_validate BEFORE INSERT OR UPDATE ON health_score.measure
	FOR EACH ROW EXECUTE FUNCTION health_score._measure_validate();
CREATE TRIGGER measure_merge_seeded BEFORE INSERT ON health_score.measure
	FOR EACH ROW EXECUTE FUNCTION health_score._measure_merge_seeded();
CREATE TRIGGER component_merge_seeded BEFORE INSERT ON health_score.component
	FOR EACH ROW EXECUTE FUNCTION health_score._component_merge_seeded();
CREATE TRIGGER rule_wait_for_refresh BEFORE UPDATE OF code OR DELETE ON health_score.rule
	FOR EACH STATEMENT EXECUTE FUNCTION health_score._rule_wait_for_refresh();
CREATE TRIGGER profile_version_merge BEFORE INSERT ON health_score.profile_version
	FOR EACH ROW EXECUTE FUNCTION health_score._profile_version_merge();
CREATE TRIGGER profile_version BEFORE INSERT OR UPDATE ON health_score.profile
	FOR EACH ROW EXECUTE FUNCTION health_score._profile_version();
CREATE TRIGGER override_audit BEFORE INSERT OR UPDATE ON health_score.override
	FOR EACH ROW EXECUTE FUNCTION health_score._override_audit();
CREATE TRIGGER override_cleared AFTER DELETE ON health_score.override
	FOR EACH ROW EXECUTE FUNCTION health_score._override_cleared();
CREATE TRIGGER plan_template_merge_seeded BEFORE INSERT ON health_score.plan_template
	FOR EACH ROW EXECUTE FUNCTION health_score._plan_template_merge_seeded();

-- Profile versions: each profile's settings now are its first version; sources get their kind's max_lag.
INSERT INTO health_score.profile_version (profile, settings, note)
SELECT p.name, health_score._profile_settings(p), 'the settings when health_score was updated to 0.2.0'
  FROM health_score.profile p ORDER BY p.name;
UPDATE health_score.profile p SET version = v.version FROM health_score.profile_version v WHERE v.profile = p.name;
UPDATE health_score.sources s SET max_lag = health_score._default_max_lag(s.kind);
CREATE EVENT TRIGGER health_score_before_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION health_score._before_drop_trigger();

-- Views -----------------------------------------------------------------------------------------------------
-- Rebuilt as in 0.2.0. What an extension script creates becomes a member of the extension, and these are not
-- members in a fresh install (add_source creates them), so they leave it again.
SELECT health_score.rebuild_views();
DO $$
DECLARE
	v record;
BEGIN
	FOR v IN SELECT c.relname FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v' LOOP
		EXECUTE pg_catalog.format('ALTER EXTENSION health_score DROP VIEW health_score.%I', v.relname);
	END LOOP;
END
$$;

-- source_freshness does not depend on the accounts source: a member of the extension, as in a fresh install.
CREATE VIEW health_score.source_freshness WITH (security_invoker = true) AS
SELECT f.kind, f.relation, f.time_column, f.newest, f.max_lag, f.lag, f.stale
  FROM health_score._source_freshness(pg_catalog.now()) f;
COMMENT ON VIEW health_score.source_freshness IS
	'each registered source''s newest row now, against its max_lag: a stale source holds the flags of the rules over its measures';
COMMENT ON COLUMN health_score.source_freshness.kind IS 'the source''s kind';
COMMENT ON COLUMN health_score.source_freshness.relation IS 'the registered table or view';
COMMENT ON COLUMN health_score.source_freshness.time_column IS 'the column its newest time is read from (NULL for the accounts source, which is never stale)';
COMMENT ON COLUMN health_score.source_freshness.newest IS 'its latest time up to now (NULL when it holds none)';
COMMENT ON COLUMN health_score.source_freshness.max_lag IS 'how old newest may get before the source is stale (sources.max_lag; add_source sets it)';
COMMENT ON COLUMN health_score.source_freshness.lag IS 'now() - newest';
COMMENT ON COLUMN health_score.source_freshness.stale IS 'lag is over max_lag: a refresh now would hold the flags of the rules over this source''s measures';
CREATE VIEW health_score.source_capture WITH (security_invoker = true) AS
SELECT s.relation, c.why_not IS NULL AS incremental, c.why_not
  FROM health_score.sources s,
       LATERAL (SELECT coalesce(health_score._capture_obstacle(s.relation, s.columns),
                                CASE WHEN NOT health_score._capture_in_place(s.relation, s.columns)
                                     THEN 'its capture triggers are missing: register it again with add_source as its owner' END)
                       AS why_not) c
 WHERE s.kind = 'activity';
COMMENT ON VIEW health_score.source_capture IS
	'the activity sources and whether refresh() reads them incrementally (change capture by triggers), with the reason when not';
COMMENT ON COLUMN health_score.source_capture.relation IS 'the activity source';
COMMENT ON COLUMN health_score.source_capture.incremental IS
	'true: its inserts, updates, deletes and truncations are captured, and a refresh reads only what changed';
COMMENT ON COLUMN health_score.source_capture.why_not IS 'why every refresh reads it in full (NULL when incremental)';

-- The activity sources registered before 0.2.0 get their capture triggers (those that can carry them: the
-- view source_capture says why not for the others).
SELECT health_score._capture_install(s.relation, s.columns) FROM health_score.sources s WHERE s.kind = 'activity';
