-- health_score 0.1.0 to 0.2.0 (ALTER EXTENSION health_score UPDATE TO '0.2.0').
-- Security and robustness: see CHANGELOG.md. tools/upgrade_test.sh checks that the result equals a fresh
-- install of 0.2.0 and keeps every row of the user's sources, configuration, history and flags.

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit

-- Tables ---------------------------------------------------------------------------------------------------
ALTER TABLE health_score.refresh_log DROP CONSTRAINT refresh_log_status_check;
ALTER TABLE health_score.refresh_log
	ADD CONSTRAINT refresh_log_status_check CHECK (status IN ('ok', 'failed', 'skipped', 'running')),
	ADD COLUMN pid integer,
	ADD COLUMN backend_start timestamptz;

CREATE TABLE health_score.refresh_lock ();
COMMENT ON TABLE health_score.refresh_lock IS
	'always empty: a refresh holds it in SHARE UPDATE EXCLUSIVE mode, so one refresh runs at a time and sources and rules change only between refreshes';

-- Functions whose arguments changed ---------------------------------------------------------------------------
DROP FUNCTION health_score.refresh(timestamptz, boolean);
DROP FUNCTION health_score._run_stage(text, text, text, text, text, text, timestamptz[], text[]);
DROP PROCEDURE health_score.run_refresh(timestamptz);
DROP FUNCTION health_score.schedule_refresh(text);

-- Functions, new and changed, as in the install script -----------------------------------------------------
CREATE OR REPLACE FUNCTION health_score.add_source(kind text, relation regclass, columns jsonb DEFAULT '{}')
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
	accounts_row health_score.sources;
	result health_score.sources;
	k text;
	kinds constant text[] := ARRAY['accounts', 'activity', 'support_cases', 'surveys', 'touchpoints'];
BEGIN
	IF kind IS NULL OR NOT kind = ANY (kinds) THEN
		RAISE EXCEPTION 'unknown source kind %', coalesce(health_score._q(kind), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use one of: ' || pg_catalog.array_to_string(kinds, ', ') || '.';
	END IF;
	IF relation IS NULL THEN
		RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
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

	-- Sources change between refreshes, never during one: this waits for a running refresh(), and a
	-- refresh started meanwhile waits for this transaction.
	PERFORM health_score._refresh_lock(true);
	INSERT INTO health_score.sources AS s (kind, relation, columns, key_type)
	VALUES (kind, relation, resolved, keytype)
	ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
	   SET columns = EXCLUDED.columns, key_type = EXCLUDED.key_type, added_at = now()
	RETURNING s.* INTO result;

	IF kind = 'accounts' THEN
		PERFORM health_score.rebuild_views();
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION health_score.add_source(text, regclass, jsonb) IS
	'register a table or view as a source of the given kind; columns maps canonical names to its columns';
REVOKE EXECUTE ON FUNCTION health_score.add_source(text, regclass, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score.drop_source(kind text, relation regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	removed boolean;
BEGIN
	IF kind IS NULL OR kind NOT IN ('accounts', 'activity', 'support_cases', 'surveys', 'touchpoints') THEN
		RAISE EXCEPTION 'unknown source kind %', coalesce(health_score._q(kind), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use one of: accounts, activity, support_cases, surveys, touchpoints.';
	END IF;
	-- as in add_source: never during a refresh
	PERFORM health_score._refresh_lock(true);
	DELETE FROM health_score.sources s WHERE s.kind = drop_source.kind AND s.relation = drop_source.relation;
	removed := FOUND;
	IF removed AND kind = 'accounts' THEN
		PERFORM health_score.rebuild_views();
	END IF;
	RETURN removed;
END
$$;
COMMENT ON FUNCTION health_score.drop_source(text, regclass) IS
	'unregister a source; true if it was registered';
REVOKE EXECUTE ON FUNCTION health_score.drop_source(text, regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._rule_validate()
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

CREATE OR REPLACE FUNCTION health_score._profile_validate()
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
	SELECT o.kind, o.name, r.rolname INTO untrusted
	  FROM health_score._source_objects(relation) o
	  JOIN pg_catalog.pg_roles r ON r.oid = o.owner
	 WHERE NOT r.rolsuper
	 ORDER BY o.kind, o.name
	 LIMIT 1;
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

CREATE FUNCTION health_score._run_stage(stage text, kind text, sql_fmt text, keytype text, usertype text,
										where_fmt text, args timestamptz[], extra text[] DEFAULT NULL,
										intervals interval[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
	src record;
	culprit text;
	rels text;
BEGIN
	BEGIN
		-- scalar parameters: an array element would be fetched again for every row and aggregate
		EXECUTE pg_catalog.format(sql_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt))
			USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
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
				EXECUTE pg_catalog.format(sql_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt, src.relation))
					USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
				-- the stage creates a temp table: undo it so the next probe can too
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

CREATE FUNCTION health_score.refresh(as_of timestamptz DEFAULT now(), wait boolean DEFAULT true,
									 force boolean DEFAULT false)
RETURNS TABLE (accounts integer, flags_raised integer, flags_cleared integer, elapsed interval)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Short set-based statements: compiling them costs more than it saves. The activity pass keeps a few
-- hash sets per account; 256MB keeps 50,000 accounts in memory (ALTER FUNCTION ... SET work_mem to change).
SET jit = off
SET work_mem = '256MB'
AS $$
#variable_conflict use_column
DECLARE
	t constant timestamptz := refresh.as_of;
	t0 constant timestamptz := pg_catalog.clock_timestamp();
	lap timestamptz := t0;
	timings jsonb := '{}';
	acc_src record;
	keytype text;
	usertype text;
	has_activity boolean; has_users boolean; has_feature boolean;
	has_support boolean; has_surveys boolean; has_touch boolean;
	halflives interval[];
	halflife_seconds float8[];
	kfeatures text[];
	rp jsonb;              -- rule code -> effective params
	enabled_rules text[];
	w30 timestamptz; w60 timestamptz; w90 timestamptz; w120 timestamptz;
	w_new timestamptz; w_long timestamptz; w_silent timestamptz; w_unret timestamptz; w_det timestamptz;
	w_tp timestamptz; w_srv timestamptz; w_adopt timestamptz;
	sql text;
	drop_days float8;
	drop_tolerance float8;
	act_fmt text;
	n_accounts integer;
	n_raised integer := 0;
	n_cleared integer := 0;
	payload jsonb;
	r record;
	msg text; det text; hnt text; st text;
	dup text;
	n_scored_before integer;
	n_unscored integer;
	max_unscored_share float8;
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

	-- a second refresh in the same transaction starts afresh
	FOR r IN SELECT x FROM pg_catalog.unnest(ARRAY['hs_profile', 'hs_rule', 'hs_acc', 'hs_act', 'hs_flag_changes', 'hs_prev',
	                                               'hs_sup', 'hs_srv', 'hs_tp', 'hs_obs', 'hs_kf', 'hs_m', 'hs_hits']) x
	          WHERE pg_catalog.to_regclass('pg_temp.' || x) IS NOT NULL LOOP
		EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', r.x);
	END LOOP;

	-- Sources --------------------------------------------------------------------------------------------
	SELECT s.* INTO acc_src FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'refresh failed: no accounts source is registered'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register one: SELECT health_score.add_source(''accounts'', ''public.accounts'');';
	END IF;
	keytype := health_score._key_type(acc_src.key_type::regtype);
	FOR r IN SELECT s.kind, s.relation, s.key_type, s.columns FROM health_score.sources s ORDER BY s.kind, s.relation::oid LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.relation) THEN
			RAISE EXCEPTION 'refresh failed: the % source with OID % no longer exists', r.kind, r.relation::oid
				USING ERRCODE = 'undefined_table',
				      HINT = pg_catalog.format('Unregister it: SELECT health_score.drop_source(%L, %s);', r.kind, r.relation::oid);
		END IF;
		IF health_score._key_type(r.key_type::regtype) IS DISTINCT FROM keytype THEN
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
	SELECT bool_or(s.kind = 'activity'), bool_or(s.kind = 'activity' AND s.columns ? 'user_id'),
	       bool_or(s.kind = 'activity' AND s.columns ? 'feature'), bool_or(s.kind = 'support_cases'),
	       bool_or(s.kind = 'surveys'), bool_or(s.kind = 'touchpoints')
	  INTO has_activity, has_users, has_feature, has_support, has_surveys, has_touch
	  FROM health_score.sources s;
	has_activity := coalesce(has_activity, false); has_users := coalesce(has_users, false);
	has_feature := coalesce(has_feature, false);
	has_support := coalesce(has_support, false); has_surveys := coalesce(has_surveys, false);
	has_touch := coalesce(has_touch, false);
	-- user keys keep their type when every activity source agrees on one, else they are compared as text
	SELECT CASE WHEN count(DISTINCT f) = 1 THEN min(f) ELSE 'text' END INTO usertype
	  FROM (SELECT health_score._key_type(a.atttypid::regtype) AS f
	          FROM health_score.sources s
	          JOIN pg_catalog.pg_attribute a ON a.attrelid = s.relation AND a.attname = s.columns ->> 'user_id'
	         WHERE s.kind = 'activity' AND s.columns ? 'user_id') u;

	-- Configuration ----------------------------------------------------------------------------------------
	-- Read once: each statement below sees the same profiles and rules, and an edit made while the refresh
	-- runs takes effect at the next one.
	CREATE TEMP TABLE hs_profile ON COMMIT DROP AS SELECT * FROM health_score.profile;
	CREATE TEMP TABLE hs_rule ON COMMIT DROP AS SELECT * FROM health_score.rule;
	SELECT pg_catalog.jsonb_object_agg(r2.code, coalesce(health_score._rule_defaults(r2.code), '{}') || r2.params),
	       coalesce(pg_catalog.array_agg(r2.code) FILTER (WHERE r2.enabled), '{}')
	  INTO rp, enabled_rules
	  FROM pg_temp.hs_rule r2;
	rp := coalesce(rp, '{}');
	-- One decayed sum per half-life, told apart by its length in seconds as the decay counts it: intervals
	-- compare '1 year' equal to '360 days', which decay at different rates.
	SELECT coalesce(pg_catalog.array_agg(h.half_life ORDER BY h.seconds), '{}'),
	       coalesce(pg_catalog.array_agg(h.seconds ORDER BY h.seconds), '{}')
	  INTO halflives, halflife_seconds
	  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', p.half_life)) p.half_life,
	               pg_catalog.date_part('epoch', p.half_life) AS seconds
	          FROM pg_temp.hs_profile p ORDER BY 2) h;
	SELECT coalesce(pg_catalog.array_agg(DISTINCT f ORDER BY f), '{}') INTO kfeatures
	  FROM pg_temp.hs_profile p, pg_catalog.unnest(p.key_features) f;

	w30 := t - interval '30 days'; w60 := t - interval '60 days';
	w90 := t - interval '90 days'; w120 := t - interval '120 days';
	w_new := t - coalesce((rp #>> '{new_users,days}')::float8, 30) * interval '1 day';
	w_long := t - coalesce((rp #>> '{long_open_case,days}')::float8, 14) * interval '1 day';
	w_silent := t - coalesce((rp #>> '{silent_account,days}')::float8, 90) * interval '1 day';
	w_unret := t - coalesce((rp #>> '{unreturned_contact,days}')::float8, 30) * interval '1 day';
	w_det := t - coalesce((rp #>> '{detractor,days}')::float8, 90) * interval '1 day';
	w_adopt := t - coalesce((rp #>> '{feature_adopted,days}')::float8, 7) * interval '1 day';
	drop_days := coalesce((rp #>> '{score_drop,days}')::float8, 30);
	drop_tolerance := coalesce((rp #>> '{score_drop,tolerance_days}')::float8, 7);
	w_tp := least(w90, w_silent, w_unret);
	w_srv := least(w90, w_det);
	timings := timings || pg_catalog.jsonb_build_object('setup', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Accounts, each with its profile: the most specific match, then the highest priority, then by name.
	PERFORM health_score._run_stage('accounts', 'accounts', $q$
		CREATE TEMP TABLE hs_acc ON COMMIT DROP AS
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
		            SELECT p.name AS profile, p.half_life, p.expected_events_per_user_day, p.target_utilisation,
		                   p.key_features, p.poor_below, p.good_from,
		                   ARRAY[coalesce((p.weights ->> 'engagement')::float8, 0), coalesce((p.weights ->> 'utilisation')::float8, 0),
		                         coalesce((p.weights ->> 'adoption')::float8, 0), coalesce((p.weights ->> 'support')::float8, 0),
		                         coalesce((p.weights ->> 'sentiment')::float8, 0), coalesce((p.weights ->> 'relationship')::float8, 0)]
		                       AS weight_array
		              FROM pg_temp.hs_profile p
		             WHERE (p.segment IS NULL OR p.segment = x.segment)
		               AND (p.lifecycle_stage IS NULL OR p.lifecycle_stage = x.lifecycle_stage)
		             ORDER BY (p.segment IS NOT NULL)::integer + (p.lifecycle_stage IS NOT NULL)::integer DESC,
		                      p.priority DESC, p.name
		             LIMIT 1) p ON true)
		SELECT s.account_id::text AS account_id, s.name, s.segment, s.lifecycle_stage, s.plan, s.owner, s.seats,
		       s.arr, s.renewal_date, s.started_at, s.cancelled_at,
		       p.profile, p.half_life, p.expected_events_per_user_day, p.target_utilisation, p.key_features,
		       p.weight_array, p.poor_below, p.good_from
		  FROM s
		  -- NULL-safe and hashable: 'v' || value, or 'n' for NULL
		  JOIN pairs p ON coalesce('v' || p.segment, 'n') = coalesce('v' || s.segment, 'n')
		              AND coalesce('v' || p.lifecycle_stage, 'n') = coalesce('v' || s.lifecycle_stage, 'n')
		$q$, keytype, NULL, NULL, ARRAY[t]);
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a GROUP BY a.account_id HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed reading accounts source %: account_id % appears more than once', acc_src.relation, dup
			USING ERRCODE = 'cardinality_violation';
	END IF;
	SELECT a.account_id INTO dup FROM pg_temp.hs_acc a WHERE a.profile IS NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'refresh failed: no profile matches account %', dup
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Keep a catch-all profile (segment and lifecycle_stage NULL), such as the seeded ''default''.';
	END IF;
	SELECT count(*) INTO n_accounts FROM pg_temp.hs_acc;

	-- An accounts source emptied or cut short (mid-ETL, a broken view) would clear the flags of every account
	-- it lost, and raise them again as new, their history gone, once it is back: stop instead, unless forced.
	SELECT count(*), count(*) FILTER (WHERE h.account_id NOT IN (SELECT a.account_id FROM pg_temp.hs_acc a))
	  INTO n_scored_before, n_unscored
	  FROM health_score.account_health h;
	IF NOT force AND n_unscored > 0 AND n_unscored > max_unscored_share * n_scored_before THEN
		RAISE EXCEPTION 'refresh would stop scoring % of the % accounts scored now (% %%), more than health_score.max_unscored_share (%)',
			n_unscored, n_scored_before, pg_catalog.round(100.0 * n_unscored / n_scored_before, 1), max_unscored_share
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('The accounts source %s gives %s accounts started and not cancelled by as_of %s. Nothing was changed.',
			                                 acc_src.relation, n_accounts, t),
			      HINT = 'If the accounts are really gone (cancelled, removed from the source), refresh with force => true: '
			             'SELECT * FROM health_score.refresh(force => true); if the source is being reloaded, refresh once it is complete.';
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('accounts', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Activity: one pass over every activity row up to as_of, with two aggregates: _activity_measures for
	-- the counts, the decayed sums of every profile's half-life and the key features used (bits of a bigint,
	-- by position in kfeatures), user_windows for the users. $1..$5 = as_of, -30d, -60d, new-users cut,
	-- feature-adopted cut.
	IF has_activity THEN
		IF pg_catalog.cardinality(kfeatures) > 62 THEN
			RAISE EXCEPTION 'refresh failed: profiles name % distinct key features, at most 62 are supported',
				pg_catalog.cardinality(kfeatures) USING ERRCODE = 'program_limit_exceeded';
		END IF;
		act_fmt := pg_catalog.format(
			'CREATE TEMP TABLE hs_act ON COMMIT DROP AS SELECT a.account_id::text AS account_id, (a.m).events, '
			'(a.m).recent_events AS events_30, (a.m).last_at AS last_activity_at, (a.m).decayed, '
			'a.users[1] AS users_30, a.users[2] AS users_prev_30, a.users[3] AS new_users, '
			'(a.m).recent_features AS kf_used_30, (a.m).features_before_adopt AS kf_before_adopt, '
			'(a.m).features_since_adopt AS kf_since_adopt '
			'FROM (SELECT s.account_id, health_score._activity_measures(s.occurred_at, s.feature, s.weight, $1, $2, $5, '
			'$7, $6) AS m, %s AS users FROM (%%s) s GROUP BY s.account_id) a',
			CASE WHEN has_users THEN 'health_score.user_windows(s.user_id, s.occurred_at, $1, $2, $3, $4)'
			     ELSE 'NULL::bigint[]' END);
		PERFORM health_score._run_stage('activity', 'activity', act_fmt, keytype, usertype, '%1$s <= $1',
			ARRAY[t, w30, w60, w_new, w_adopt], CASE WHEN has_feature THEN kfeatures ELSE '{}' END, halflives);

	ELSE
		CREATE TEMP TABLE hs_act (account_id text, events bigint, events_30 bigint, last_activity_at timestamptz,
			decayed float8[], users_30 bigint, users_prev_30 bigint, new_users bigint,
			kf_used_30 bigint, kf_before_adopt bigint, kf_since_adopt bigint) ON COMMIT DROP;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('activity', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Support cases. $1..$5 = as_of, -30d, -120d, silent cut, long-open cut.
	IF has_support THEN
		PERFORM health_score._run_stage('support_cases', 'support_cases', $q$
			CREATE TEMP TABLE hs_sup ON COMMIT DROP AS
			SELECT s.account_id::text AS account_id,
			       count(*) FILTER (WHERE s.opened_at > $2) AS cases_30,
			       count(*) FILTER (WHERE s.opened_at > $3 AND s.opened_at <= $2) AS cases_prev_90,
			       count(*) FILTER (WHERE s.opened_at > $4) AS cases_silent,
			       count(*) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS open_cases,
			       count(*) FILTER (WHERE (s.closed_at IS NULL OR s.closed_at > $1) AND s.opened_at < $5) AS aged_open_cases,
			       min(s.opened_at) FILTER (WHERE s.closed_at IS NULL OR s.closed_at > $1) AS oldest_open_at,
			       max(s.opened_at) AS last_case_at
			  FROM (%s) s
			 GROUP BY s.account_id
			$q$, keytype, NULL, '%1$s <= $1', ARRAY[t, w30, w120, w_silent, w_long]);
	ELSE
		CREATE TEMP TABLE hs_sup (account_id text, cases_30 bigint, cases_prev_90 bigint, cases_silent bigint,
			open_cases bigint, aged_open_cases bigint, oldest_open_at timestamptz, last_case_at timestamptz) ON COMMIT DROP;
	END IF;

	-- Surveys: ratings of the last 90 days (and of the detractor window). $1..$4 = as_of, -90d, detractor cut,
	-- scan start; the detractor max rating is a literal.
	IF has_surveys THEN
		PERFORM health_score._run_stage('surveys', 'surveys', pg_catalog.format($q$
			CREATE TEMP TABLE hs_srv ON COMMIT DROP AS
			SELECT s.account_id::text AS account_id,
			       count(s.rating) FILTER (WHERE s.responded_at > $2) AS responses_90,
			       health_score.nps(pg_catalog.round(s.rating)::integer) FILTER (WHERE s.responded_at > $2) AS nps_90,
			       avg(s.rating) FILTER (WHERE s.responded_at > $2) AS avg_rating_90,
			       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating >= 9) AS promoters_90,
			       count(*) FILTER (WHERE s.responded_at > $2 AND s.rating <= 6) AS detractors_90,
			       count(*) FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$s) AS detractor_responses,
			       min(s.rating) FILTER (WHERE s.responded_at > $3) AS min_rating,
			       pg_catalog.array_agg(DISTINCT coalesce(s.category, 'overall'))
			           FILTER (WHERE s.responded_at > $3 AND s.rating <= %1$s) AS detractor_categories,
			       max(s.responded_at) FILTER (WHERE s.rating <= %1$s) AS last_detractor_at
			  FROM (%%s) s
			 WHERE s.rating IS NOT NULL
			 GROUP BY s.account_id
			$q$, coalesce((rp #>> '{detractor,max_rating}')::float8, 6)),
			keytype, NULL, '%1$s <= $1 AND %1$s > $4', ARRAY[t, w90, w_det, w_srv]);
	ELSE
		CREATE TEMP TABLE hs_srv (account_id text, responses_90 bigint, nps_90 float8, avg_rating_90 float8,
			promoters_90 bigint, detractors_90 bigint, detractor_responses bigint, min_rating float8,
			detractor_categories text[], last_detractor_at timestamptz) ON COMMIT DROP;
	END IF;

	-- Touchpoints of the longest window needed, in one scan. $1..$5 = as_of, -30d, silent cut, unreturned cut,
	-- scan start.
	IF has_touch THEN
		PERFORM health_score._run_stage('touchpoints', 'touchpoints', $q$
			CREATE TEMP TABLE hs_tp ON COMMIT DROP AS
			SELECT r.account_id::text AS account_id, r.last_response_at, r.inbound_silent, r.answered_silent,
			       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
			         WHERE o > $4 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered,
			       (SELECT count(*) FROM pg_catalog.unnest(r.outreach) o
			         WHERE o > $2 AND (r.last_response_at IS NULL OR o > r.last_response_at)) AS unanswered_30
			  FROM (SELECT s.account_id,
			               max(s.occurred_at) FILTER (WHERE s.direction = 'inbound'
			                                             OR (s.direction = 'outbound' AND s.answered))
			                   AS last_response_at,
			               count(*) FILTER (WHERE s.direction = 'inbound' AND s.occurred_at > $3) AS inbound_silent,
			               count(*) FILTER (WHERE s.direction = 'outbound' AND s.answered AND s.occurred_at > $3)
			                   AS answered_silent,
			               -- outreach not answered, within the longer of the two windows: kept per account (a few
			               -- rows) so that one scan serves both, and compared with the last response above
			               pg_catalog.array_agg(s.occurred_at) FILTER (WHERE s.direction = 'outbound'
			                   AND s.answered IS FALSE AND s.occurred_at > least($4, $2)) AS outreach
			          -- (OFFSET 0 keeps the subquery, so that the direction is lowered once per row, not per use;
			          -- the directions are ASCII words, which the "C" collation lowers byte by byte)
			          FROM (SELECT s.account_id, s.occurred_at, pg_catalog.lower(s.direction COLLATE "C") AS direction,
			                       s.answered
			                  FROM (%s) s OFFSET 0) s
			         GROUP BY s.account_id) r
			$q$, keytype, NULL, '%1$s <= $1 AND %1$s > $5', ARRAY[t, w30, w_silent, w_unret, w_tp]);
	ELSE
		CREATE TEMP TABLE hs_tp (account_id text, last_response_at timestamptz, inbound_silent bigint,
			answered_silent bigint, unanswered bigint, unanswered_30 bigint) ON COMMIT DROP;
	END IF;

	-- Observations open at as_of.
	CREATE TEMP TABLE hs_obs ON COMMIT DROP AS
	SELECT o.account_id, count(*) AS open_observations,
	       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('indicator', o.indicator, 'note', o.note,
	           'observed_by', o.observed_by, 'observed_at', o.observed_at) ORDER BY o.observed_at, o.id) AS observations
	  FROM health_score.observation o
	 WHERE o.observed_at <= t AND (o.resolved_at IS NULL OR o.resolved_at > t)
	 GROUP BY o.account_id;
	timings := timings || pg_catalog.jsonb_build_object('other_sources', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Measures and components ---------------------------------------------------------------------------
	-- temp tables have no statistics until analyzed; without them the joins below plan badly
	-- (the join key is all the planner needs: analyzing only it skips the wide columns)
	ANALYZE pg_temp.hs_acc (account_id), pg_temp.hs_act (account_id),
		pg_temp.hs_sup (account_id), pg_temp.hs_srv (account_id), pg_temp.hs_tp (account_id),
		pg_temp.hs_obs (account_id);
	BEGIN
		-- The names of the key features in a bitmask, in the profile's order: built once for each profile and
		-- bitmask that occurs, not once for each account.
		CREATE TEMP TABLE hs_kf ON COMMIT DROP AS
		SELECT x.profile, x.bits,
		       ARRAY(SELECT f FROM pg_catalog.unnest(p.key_features) f
		              WHERE (x.bits >> (pg_catalog.array_position(kfeatures, f) - 1)) & 1 = 1) AS features
		  FROM (SELECT DISTINCT a.profile, b.bits
		          FROM pg_temp.hs_acc a
		          JOIN pg_temp.hs_act act ON act.account_id = a.account_id,
		               LATERAL (VALUES (act.kf_used_30), (act.kf_since_adopt & ~act.kf_before_adopt)) b (bits)) x
		  JOIN pg_temp.hs_profile p ON p.name = x.profile;
		ANALYZE pg_temp.hs_kf;
		CREATE TEMP TABLE hs_m ON COMMIT DROP AS
		WITH j AS (
			SELECT a.*,
			       coalesce(act.events, 0) AS events, coalesce(act.events_30, 0) AS events_30, act.last_activity_at,
			       coalesce(act.decayed[pg_catalog.array_position(halflife_seconds, pg_catalog.date_part('epoch', a.half_life))], 0)
			           AS decayed,
			       CASE WHEN has_users THEN coalesce(act.users_30, 0) END AS users_30,
			       CASE WHEN has_users THEN coalesce(act.users_prev_30, 0) END AS users_prev_30,
			       CASE WHEN has_users THEN coalesce(act.new_users, 0) END AS new_users,
			       CASE WHEN has_feature AND pg_catalog.cardinality(a.key_features) > 0
			            THEN coalesce(used.features, '{}') END AS features_used,
			       CASE WHEN has_feature AND pg_catalog.cardinality(a.key_features) > 0
			            THEN coalesce(adopted.features, '{}') END AS features_new,
			       sup.cases_30, sup.cases_prev_90, sup.cases_silent, sup.open_cases, sup.aged_open_cases, sup.oldest_open_at,
			       sup.last_case_at,
			       srv.responses_90, srv.nps_90, srv.avg_rating_90, srv.promoters_90, srv.detractors_90,
			       srv.detractor_responses, srv.min_rating, srv.detractor_categories, srv.last_detractor_at,
			       tp.last_response_at, tp.inbound_silent, tp.answered_silent, tp.unanswered,
			       tp.unanswered_30,
			       coalesce(obs.open_observations, 0) AS open_observations, obs.observations,
			       health_score.utilisation(CASE WHEN has_users THEN coalesce(act.users_30, 0) END, a.seats) AS utilisation_ratio,
			       a.expected_events_per_user_day
			           * CASE WHEN a.seats > 0 THEN a.seats * a.target_utilisation
			                  ELSE greatest(coalesce(act.users_30, 0), 1) END AS expected_per_day
			  FROM pg_temp.hs_acc a
			  LEFT JOIN pg_temp.hs_act act ON act.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_sup sup ON sup.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_srv srv ON srv.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_tp tp ON tp.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_obs obs ON obs.account_id = a.account_id
			  LEFT JOIN pg_temp.hs_kf used ON used.profile = a.profile AND used.bits = act.kf_used_30
			  LEFT JOIN pg_temp.hs_kf adopted ON adopted.profile = a.profile
			                      AND adopted.bits = act.kf_since_adopt & ~act.kf_before_adopt),
		c AS (
			SELECT j.*,
			       CASE WHEN has_activity THEN health_score.engagement_score(j.decayed, j.expected_per_day, j.half_life) END
			           AS engagement,
			       CASE WHEN j.utilisation_ratio IS NOT NULL
			            THEN least(100, 100 * j.utilisation_ratio / j.target_utilisation) END AS utilisation,
			       CASE WHEN j.features_used IS NOT NULL
			            THEN 100.0 * pg_catalog.cardinality(j.features_used) / pg_catalog.cardinality(j.key_features) END
			           AS adoption,
			       CASE WHEN has_support THEN greatest(0, 100
			            - 20 * coalesce(j.aged_open_cases, 0)
			            - 5 * (coalesce(j.open_cases, 0) - coalesce(j.aged_open_cases, 0))
			            - 10 * greatest(0, coalesce(j.cases_30, 0)
			                   - greatest(2 * coalesce(j.cases_prev_90, 0) / 3.0, 2)))::float8 END AS support,
			       CASE WHEN j.responses_90 > 0 THEN (j.nps_90 + 100) / 2 END AS sentiment,
			       CASE WHEN has_touch OR j.open_observations > 0 THEN greatest(0, 100
			            - 25 * j.open_observations
			            - 10 * coalesce(j.unanswered_30, 0)
			            - CASE WHEN has_touch AND (j.last_response_at IS NULL OR j.last_response_at <= w90) THEN 30 ELSE 0 END
			            )::float8 END AS relationship
			  FROM j)
		SELECT c.*, s.score, health_score.band(s.score, c.poor_below, c.good_from) AS band
		  FROM c,
		       LATERAL (SELECT health_score.composite(ARRAY[c.engagement, c.utilisation, c.adoption, c.support,
		                                                     c.sentiment, c.relationship], c.weight_array) AS score) s;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		PERFORM health_score._reraise('refresh failed computing the components: ' || msg, st, det, hnt);
	END;
	timings := timings || pg_catalog.jsonb_build_object('components', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Rules ------------------------------------------------------------------------------------------------
	CREATE TEMP TABLE hs_hits (account_id text NOT NULL, rule text NOT NULL, evidence jsonb NOT NULL) ON COMMIT DROP;
	-- score_drop compares with the latest history row between days + tolerance_days and days before as_of
	CREATE TEMP TABLE hs_prev ON COMMIT DROP AS
	SELECT DISTINCT ON (hh.account_id) hh.account_id, hh.score, hh.as_of
	  FROM health_score.health_history hh
	 WHERE 'score_drop' = ANY (enabled_rules)
	   AND hh.day BETWEEN (t - (drop_days + drop_tolerance + 1) * interval '1 day')::date
	                  AND (t - drop_days * interval '1 day')::date
	   AND hh.as_of <= t - drop_days * interval '1 day'
	   AND hh.as_of >= t - (drop_days + drop_tolerance) * interval '1 day'
	 ORDER BY hh.account_id, hh.as_of DESC;
	ANALYZE pg_temp.hs_prev (account_id);
	-- every enabled rule in one pass; on failure, find the rule that fails by evaluating each alone
	sql := health_score._rules_sql(enabled_rules, rp, has_activity, has_users, has_feature, has_support, has_touch);
	IF sql IS NOT NULL THEN
		BEGIN
			EXECUTE sql USING t;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
			dup := NULL;
			FOR r IN SELECT x AS code FROM pg_catalog.unnest(enabled_rules) x ORDER BY x LOOP
				BEGIN
					EXECUTE health_score._rules_sql(ARRAY[r.code], rp, has_activity, has_users, has_feature, has_support,
					                                has_touch) USING t;
					RAISE EXCEPTION USING ERRCODE = 'HS000';
				EXCEPTION
					WHEN SQLSTATE 'HS000' THEN NULL;
					WHEN OTHERS THEN dup := r.code; EXIT;
				END;
			END LOOP;
			PERFORM health_score._reraise(CASE WHEN dup IS NULL THEN 'refresh failed evaluating the rules: ' || msg
			                                   ELSE pg_catalog.format('refresh failed evaluating rule %s: %s', dup, msg) END,
			                              st, det, hnt);
		END;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('rules', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	-- Results ----------------------------------------------------------------------------------------------
	-- Current state: update the accounts already there, add the new ones, remove the ones no longer scored
	-- (cancelled, not started yet, gone from the source).
	INSERT INTO health_score.account_health (account_id, name, segment, lifecycle_stage, plan, owner, seats, arr,
		renewal_date, profile, score, band, engagement, utilisation, adoption, support, sentiment, relationship,
		inputs, as_of, refreshed_at)
	SELECT m.account_id, m.name, m.segment, m.lifecycle_stage, m.plan, m.owner, m.seats, m.arr, m.renewal_date,
	       m.profile, m.score, m.band, m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship,
	       -- the raw measures behind each component, so every score says why (null: no data for it)
	       pg_catalog.jsonb_build_object(
	           'engagement', CASE WHEN has_activity THEN pg_catalog.jsonb_build_object(
	               'decayed_events', pg_catalog.round(m.decayed::numeric, 3),
	               'expected_per_day', m.expected_per_day,
	               'events_30d', m.events_30, 'last_activity_at', m.last_activity_at) END,
	           'utilisation', CASE WHEN m.utilisation IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'active_users_30d', m.users_30, 'seats', m.seats,
	               'ratio', pg_catalog.round(m.utilisation_ratio::numeric, 3)) END,
	           'adoption', CASE WHEN m.adoption IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'key_features', m.key_features, 'used_30d', m.features_used) END,
	           'support', CASE WHEN m.support IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'open_cases', coalesce(m.open_cases, 0), 'aged_open_cases', coalesce(m.aged_open_cases, 0),
	               'cases_30d', coalesce(m.cases_30, 0), 'cases_previous_90d', coalesce(m.cases_prev_90, 0)) END,
	           'sentiment', CASE WHEN m.sentiment IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'responses_90d', m.responses_90, 'nps_90d', pg_catalog.round(m.nps_90::numeric, 1),
	               'average_rating_90d', pg_catalog.round(m.avg_rating_90::numeric, 2),
	               'promoters_90d', m.promoters_90, 'detractors_90d', m.detractors_90) END,
	           'relationship', CASE WHEN m.relationship IS NOT NULL THEN pg_catalog.jsonb_build_object(
	               'open_observations', coalesce(m.observations, '[]'), 'unanswered_outbound_30d', coalesce(m.unanswered_30, 0),
	               'last_response_at', m.last_response_at) END) AS inputs,
	       t AS as_of, pg_catalog.now() AS refreshed_at
	  FROM pg_temp.hs_m m
	ON CONFLICT (account_id) DO UPDATE
	   SET name = excluded.name, segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage,
	       plan = excluded.plan, owner = excluded.owner, seats = excluded.seats, arr = excluded.arr,
	       renewal_date = excluded.renewal_date, profile = excluded.profile, score = excluded.score,
	       band = excluded.band, engagement = excluded.engagement, utilisation = excluded.utilisation,
	       adoption = excluded.adoption, support = excluded.support, sentiment = excluded.sentiment,
	       relationship = excluded.relationship, inputs = excluded.inputs, as_of = excluded.as_of,
	       refreshed_at = excluded.refreshed_at;
	-- (NOT IN: one hashed pass over the scored keys, which are NOT NULL, rather than sorting both sides; the
	-- accounts stage counted them, so without any the pass is skipped)
	IF n_unscored > 0 THEN
		DELETE FROM health_score.account_health h
		 WHERE h.account_id NOT IN (SELECT m.account_id FROM pg_temp.hs_m m);
	END IF;

	-- One history row per account and as_of day (in the session's time zone); a rerun that day replaces it.
	-- A row the rerun would leave as it is (arr compared as text: 1.0 and 1.00 differ) is not rewritten: new
	-- row versions and their index entries are most of the cost of a same-day rerun.
	UPDATE health_score.health_history h
	   SET as_of = t, profile = m.profile, segment = m.segment, plan = m.plan, lifecycle_stage = m.lifecycle_stage,
	       owner = m.owner, arr = m.arr, score = m.score, band = m.band, engagement = m.engagement,
	       utilisation = m.utilisation, adoption = m.adoption, support = m.support, sentiment = m.sentiment,
	       relationship = m.relationship
	  FROM pg_temp.hs_m m
	 WHERE h.day = t::date AND h.account_id = m.account_id
	   AND (h.as_of, h.profile, h.segment, h.plan, h.lifecycle_stage, h.owner, h.arr::text, h.score, h.band, h.engagement,
	        h.utilisation, h.adoption, h.support, h.sentiment, h.relationship)
	       IS DISTINCT FROM (t, m.profile, m.segment, m.plan, m.lifecycle_stage, m.owner, m.arr::text, m.score, m.band,
	        m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship);
	INSERT INTO health_score.health_history (account_id, day, as_of, profile, segment, plan, lifecycle_stage,
		owner, arr, score, band, engagement, utilisation, adoption, support, sentiment, relationship)
	SELECT m.account_id, t::date, t, m.profile, m.segment, m.plan, m.lifecycle_stage, m.owner, m.arr, m.score,
	       m.band, m.engagement, m.utilisation, m.adoption, m.support, m.sentiment, m.relationship
	  FROM pg_temp.hs_m m
	 -- NOT IN reads the day's keys once into a hash table (both sides are NOT NULL); a NOT EXISTS anti join
	 -- planned while the table is still empty rescans it for every row, the pages this INSERT adds included
	 WHERE m.account_id NOT IN (SELECT h.account_id FROM health_score.health_history h WHERE h.day = t::date);
	DELETE FROM health_score.health_history h
	 WHERE h.day = t::date AND h.account_id NOT IN (SELECT m.account_id FROM pg_temp.hs_m m);
	timings := timings || pg_catalog.jsonb_build_object('results', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));
	lap := pg_catalog.clock_timestamp();

	ANALYZE pg_temp.hs_hits (account_id, rule);
	-- Flags: the open flags against the hits, in one join. An open flag without a hit is cleared (disabled
	-- rules and unscored accounts included), one whose evidence, severity or action changed is updated
	-- (updated_at records the last refresh that changed it; an open flag holds as of the latest refresh in
	-- any case), a hit without an open flag is raised.
	CREATE TEMP TABLE hs_flag_changes ON COMMIT DROP AS
	SELECT f.id, x.account_id, x.rule, x.evidence, r3.severity, r3.action
	  FROM (SELECT f.id, f.account_id, f.rule, f.evidence, f.severity, f.action
	          FROM health_score.flag f WHERE f.cleared_at IS NULL) f
	  FULL JOIN pg_temp.hs_hits x ON x.account_id = f.account_id AND x.rule = f.rule
	  LEFT JOIN pg_temp.hs_rule r3 ON r3.code = x.rule
	 WHERE f.id IS NULL OR x.rule IS NULL
	    OR (f.evidence, f.severity, f.action) IS DISTINCT FROM (x.evidence, r3.severity, r3.action);

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
	-- more than 128 fit in 7,700: only the first 130 are built.
	WITH ins AS (
		INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, evidence, action)
		SELECT c.account_id, c.rule, c.severity, t, t, c.evidence, c.action
		  FROM pg_temp.hs_flag_changes c
		 WHERE c.id IS NULL
		RETURNING id, account_id, rule, severity),
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
	       pg_catalog.jsonb_build_object('as_of', t, 'raised', c.n,
	           'truncated', (SELECT count(*) FROM listed WHERE listed.running <= 7700) < c.n,
	           'flags', coalesce((SELECT pg_catalog.jsonb_agg(listed.e ORDER BY listed.o) FROM listed
	                               WHERE listed.running <= 7700), '[]'))
	  INTO n_raised, payload
	  FROM (SELECT count(*) AS n FROM ranked) c;
	IF n_raised > 0 THEN
		PERFORM pg_catalog.pg_notify('health_score_flags', payload::text);
	ELSE
		payload := NULL;
	END IF;
	timings := timings || pg_catalog.jsonb_build_object('flags', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - lap)::numeric * 1000, 1));

	INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, accounts, flags_raised, flags_cleared,
		status, details)
	VALUES (t0, pg_catalog.clock_timestamp(), t, n_accounts, n_raised, n_cleared, 'ok',
		pg_catalog.jsonb_build_object('timings_ms', timings) || coalesce(pg_catalog.jsonb_build_object('notify', payload), '{}'));

	RETURN QUERY SELECT n_accounts, n_raised, n_cleared, pg_catalog.clock_timestamp() - t0;
END
$$;
COMMENT ON FUNCTION health_score.refresh(timestamptz, boolean, boolean) IS
	'score every account as of as_of, write account_health, health_history and flags; one refresh at a time; force lets it stop scoring more than health_score.max_unscored_share of the accounts';
REVOKE EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._rule_sql(code text, p jsonb, has_activity boolean, has_users boolean,
									   has_feature boolean, has_support boolean, has_touch boolean,
									   OUT cond text, OUT evidence text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- a parameter as a SQL literal: numbers as float8, band as text
	n text;
	d text;
BEGIN
	IF health_score._rule_defaults(code) IS NULL THEN
		RETURN;  -- a custom rule: nothing evaluates it, and its parameters are not read
	END IF;
	d := pg_catalog.format('(%s::float8 * interval ''1 day'')', coalesce(health_score._num(p, 'days'), '0'));
	CASE code
	WHEN 'inactive' THEN
		cond := CASE WHEN has_activity THEN pg_catalog.format(
			'(m.last_activity_at IS NULL OR m.last_activity_at <= $1 - %1$s) AND (m.started_at IS NULL OR m.started_at <= $1 - %1$s)', d)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('last_activity_at', m.last_activity_at,
			'days_since_activity', pg_catalog.round((EXTRACT(epoch FROM $1 - m.last_activity_at) / 86400)::numeric, 1),
			'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'infrequent_logins' THEN
		n := health_score._num(p, 'min_events_per_user');
		cond := CASE WHEN has_users THEN pg_catalog.format('m.users_30 > 0 AND m.events_30::float8 / m.users_30 < %s', n)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('events_30d', m.events_30, 'active_users_30d', m.users_30,
			'events_per_active_user', pg_catalog.round(m.events_30::numeric / m.users_30, 2), 'min_events_per_user', %s)$e$, n);
	WHEN 'licence_gap' THEN
		n := health_score._num(p, 'below');
		cond := pg_catalog.format('m.utilisation_ratio < %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30, 'seats', m.seats,
			'utilisation', pg_catalog.round(m.utilisation_ratio::numeric, 3), 'below', %s)$e$, n);
	WHEN 'over_licensed' THEN
		n := health_score._num(p, 'above');
		cond := pg_catalog.format('m.utilisation_ratio > %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30, 'seats', m.seats,
			'utilisation', pg_catalog.round(m.utilisation_ratio::numeric, 3), 'above', %s,
			'extra_users', m.users_30 - m.seats)$e$, n);
	WHEN 'key_features_unused' THEN
		n := health_score._num(p, 'min_used');
		cond := CASE WHEN has_feature THEN pg_catalog.format(
			'm.features_used IS NOT NULL AND m.events_30 > 0 AND pg_catalog.cardinality(m.features_used) < %s', n)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('key_features', m.key_features, 'used_30d', m.features_used,
			'events_30d', m.events_30, 'min_used', %s)$e$, n);
	WHEN 'active_users_decline' THEN
		cond := CASE WHEN has_users THEN pg_catalog.format(
			'm.users_prev_30 > 0 AND m.users_prev_30 >= %s AND (m.users_prev_30 - m.users_30)::float8 / m.users_prev_30 >= %s - 1e-9',
			health_score._num(p, 'min_previous_users'), health_score._num(p, 'min_decline'))
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('active_users_30d', m.users_30,
			'active_users_previous_30d', m.users_prev_30, 'decline', pg_catalog.round(1 - m.users_30::numeric / m.users_prev_30, 3),
			'min_decline', %s, 'min_previous_users', %s)$e$, health_score._num(p, 'min_decline'), health_score._num(p, 'min_previous_users'));
	WHEN 'support_spike' THEN
		cond := CASE WHEN has_support THEN pg_catalog.format(
			'm.cases_30 >= %s AND m.cases_30 >= %s * m.cases_prev_90 / 3.0', health_score._num(p, 'min_cases'), health_score._num(p, 'factor'))
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('cases_30d', m.cases_30, 'cases_previous_90d', m.cases_prev_90,
			'monthly_average_previous_90d', pg_catalog.round(m.cases_prev_90::numeric / 3, 2),
			'factor', %s, 'min_cases', %s)$e$, health_score._num(p, 'factor'), health_score._num(p, 'min_cases'));
	WHEN 'long_open_case' THEN
		cond := CASE WHEN has_support THEN 'm.aged_open_cases > 0' ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('open_cases_over_days', m.aged_open_cases,
			'open_cases', m.open_cases, 'oldest_opened_at', m.oldest_open_at,
			'oldest_age_days', pg_catalog.round((EXTRACT(epoch FROM $1 - m.oldest_open_at) / 86400)::numeric, 1),
			'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'silent_account' THEN
		-- without touchpoints, silence cannot be told
		cond := CASE WHEN has_touch THEN pg_catalog.format(
			'coalesce(m.cases_silent, 0) = 0 AND coalesce(m.open_cases, 0) = 0 AND coalesce(m.inbound_silent, 0) = 0
			 AND coalesce(m.answered_silent, 0) = 0 AND (m.started_at IS NULL OR m.started_at <= $1 - %s)', d)
			ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('cases_opened', coalesce(m.cases_silent, 0),
			'open_cases', coalesce(m.open_cases, 0), 'inbound_contacts', coalesce(m.inbound_silent, 0),
			'answered_outreach', coalesce(m.answered_silent, 0), 'last_case_at', m.last_case_at,
			'last_response_at', m.last_response_at, 'days', %s)$e$, health_score._num(p, 'days'));
	WHEN 'unreturned_contact' THEN
		n := health_score._num(p, 'min_unanswered');
		cond := CASE WHEN has_touch THEN pg_catalog.format('m.unanswered >= %s', n) ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('unanswered_outbound', m.unanswered,
			'last_response_at', m.last_response_at, 'min_unanswered', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'detractor' THEN
		cond := 'm.detractor_responses > 0';
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('detractor_responses', m.detractor_responses,
			'lowest_rating', m.min_rating, 'categories', m.detractor_categories, 'last_detractor_at', m.last_detractor_at,
			'max_rating', %s, 'days', %s)$e$, health_score._num(p, 'max_rating'), health_score._num(p, 'days'));
	WHEN 'observation' THEN
		n := health_score._num(p, 'min_open');
		cond := pg_catalog.format('m.open_observations > 0 AND m.open_observations >= %s', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('open_observations', m.open_observations,
			'observations', m.observations, 'min_open', %s)$e$, n);
	WHEN 'renewal_risk' THEN
		cond := pg_catalog.format('m.renewal_date >= $1::date AND m.renewal_date <= ($1 + %s)::date AND m.band = %L',
			d, p ->> 'band');
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('renewal_date', m.renewal_date,
			'days_to_renewal', m.renewal_date - $1::date, 'score', pg_catalog.round(m.score::numeric, 1), 'band', m.band,
			'days', %s, 'band_at_risk', %L)$e$, health_score._num(p, 'days'), p ->> 'band');
	WHEN 'score_drop' THEN
		n := health_score._num(p, 'min_drop');
		cond := pg_catalog.format('h.score - m.score >= %s - 1e-9', n);
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('score', pg_catalog.round(m.score::numeric, 1),
			'previous_score', pg_catalog.round(h.score::numeric, 1), 'previous_as_of', h.as_of,
			'drop', pg_catalog.round((h.score - m.score)::numeric, 1), 'min_drop', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'new_users' THEN
		n := health_score._num(p, 'min_new_users');
		cond := CASE WHEN has_users THEN pg_catalog.format('m.new_users >= %s', n) ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('new_users', m.new_users, 'active_users_30d', m.users_30,
			'min_new_users', %s, 'days', %s)$e$, n, health_score._num(p, 'days'));
	WHEN 'feature_adopted' THEN
		cond := CASE WHEN has_feature THEN 'pg_catalog.cardinality(m.features_new) > 0' ELSE 'false' END;
		evidence := pg_catalog.format($e$pg_catalog.jsonb_build_object('features', m.features_new, 'days', %s)$e$, health_score._num(p, 'days'));
	END CASE;
END
$$;

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

CREATE PROCEDURE health_score.run_refresh(as_of timestamptz DEFAULT NULL, force boolean DEFAULT false)
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

CREATE FUNCTION health_score.schedule_refresh(schedule text DEFAULT '*/30 * * * *', run_as regrole DEFAULT NULL)
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
	EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean) TO %s', role);
	EXECUTE pg_catalog.format('GRANT EXECUTE ON PROCEDURE health_score.run_refresh(timestamptz, boolean) TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT ON health_score.sources, health_score.profile, health_score.rule, '
	                          'health_score.observation TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON health_score.account_health, '
	                          'health_score.health_history TO %s', role);
	EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON health_score.flag, health_score.refresh_log TO %s', role);
	EXECUTE pg_catalog.format('GRANT UPDATE ON health_score.refresh_lock TO %s', role);
	FOR src IN SELECT s.relation, c.relnamespace::regnamespace AS nsp
	             FROM health_score.sources s JOIN pg_catalog.pg_class c ON c.oid = s.relation
	            ORDER BY s.kind, s.relation::text LOOP
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %s TO %s', src.nsp, role);
		EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %s', src.relation, role);
	END LOOP;
END
$$;
COMMENT ON FUNCTION health_score.grant_refresh(regrole) IS
	'grant a role what refresh() and run_refresh() need: read the configuration and the registered sources (and use their schemas), write the results, take the refresh lock';
REVOKE EXECUTE ON FUNCTION health_score.grant_refresh(regrole) FROM PUBLIC;

CREATE OR REPLACE FUNCTION health_score._before_drop()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
BEGIN
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

CREATE OR REPLACE FUNCTION health_score.rebuild_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	src record;
	k text;             -- the accounts source's key type, validated through regtype
	c_started text;     -- expressions over the accounts relation (alias a), NULL when the column is absent
	c_cancelled text;
	c_arr text;
	open_flags text;    -- per-account summary of open flags, shared by several views
	history_30d text;   -- the lateral lookup of the score 30 days before as_of
	visible text;       -- the keys of the accounts the invoking role may see in the accounts source
	r record;
BEGIN
	-- Drop only what exists (no NOTICE per missing view); without CASCADE, so a user's own view built on one
	-- of these stops the rebuild with an error that names it instead of disappearing silently.
	FOR r IN
		SELECT v.name FROM pg_catalog.unnest(ARRAY['plays', 'revenue_at_risk', 'at_risk_accounts', 'owner_workload',
		           'cancellation_trend', 'health_trend', 'band_breakdown', 'account_overview']) AS v(name)
		 WHERE pg_catalog.to_regclass('health_score.' || pg_catalog.quote_ident(v.name)) IS NOT NULL
	LOOP
		EXECUTE format('DROP VIEW health_score.%I', r.name);
	END LOOP;

	SELECT s.relation, s.columns, s.key_type INTO src
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
       h.profile, h.score, h.band,
       h.engagement, h.utilisation, h.adoption, h.support, h.sentiment, h.relationship,
       p.score AS score_30d_ago,
       p.day AS score_30d_ago_day,
       h.score - p.score AS score_change_30d,
       coalesce(f.codes, '{}'::text[]) AS open_flags,
       coalesce(f.red, 0) AS open_red_flags,
       coalesce(f.amber, 0) AS open_amber_flags,
       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk,
       h.as_of, h.refreshed_at
  FROM health_score.account_health h
  %2$s
  LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(x.rule ORDER BY pg_catalog.array_position(
	           ARRAY['red', 'amber', 'opportunity', 'info']::text[], x.severity), x.rule) AS codes,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'red') AS red,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'amber') AS amber
	  FROM health_score.flag x
	 WHERE x.account_id = h.account_id AND x.cleared_at IS NULL) f ON true
 WHERE h.account_id IN (%3$s)
$q$, k, history_30d, visible);

	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown WITH (security_invoker = true) AS
SELECT g.dimension, g.value, g.accounts, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       g.arr, g.arr_good, g.arr_average, g.arr_poor
  FROM (SELECT CASE WHEN grouping(h.segment) = 0 THEN 'segment'
                    WHEN grouping(h.plan) = 0 THEN 'plan'
                    WHEN grouping(h.lifecycle_stage) = 0 THEN 'lifecycle_stage'
                    WHEN grouping(h.owner) = 0 THEN 'owner'
                    ELSE 'all' END AS dimension,
               CASE WHEN grouping(h.segment) = 0 THEN h.segment
                    WHEN grouping(h.plan) = 0 THEN h.plan
                    WHEN grouping(h.lifecycle_stage) = 0 THEN h.lifecycle_stage
                    WHEN grouping(h.owner) = 0 THEN h.owner
                    ELSE 'all' END AS value,
               pg_catalog.count(h.band) AS accounts,
               pg_catalog.count(*) FILTER (WHERE h.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE h.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE h.band = 'poor') AS poor,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band IS NOT NULL), 0) AS arr,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'good'), 0) AS arr_good,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'average'), 0) AS arr_average,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'poor'), 0) AS arr_poor
          FROM health_score.account_health h
         WHERE h.account_id IN (%1$s)
         GROUP BY GROUPING SETS ((), (h.segment), (h.plan), (h.lifecycle_stage), (h.owner))) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
$q$, visible);

	EXECUTE format($q$
CREATE VIEW health_score.health_trend WITH (security_invoker = true) AS
SELECT g.day, g.accounts, g.average_score, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       g.arr, g.arr_poor
  FROM (SELECT hh.day,
               pg_catalog.count(hh.band) AS accounts,
               pg_catalog.round(pg_catalog.avg(hh.score)::numeric, 1) AS average_score,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
               coalesce(pg_catalog.sum(hh.arr) FILTER (WHERE hh.band IS NOT NULL), 0) AS arr,
               coalesce(pg_catalog.sum(hh.arr) FILTER (WHERE hh.band = 'poor'), 0) AS arr_poor
          FROM health_score.health_history hh
         WHERE hh.account_id IN (%1$s)
         GROUP BY hh.day) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
$q$, visible);

	-- Months run from the first month any account started or cancelled to the current month. An account
	-- counts as active at the start of a month when it started before that month (or has no start date) and
	-- had not cancelled before it; a cancellation dated before its start counts at the start.
	EXECUTE format($q$
CREATE VIEW health_score.cancellation_trend WITH (security_invoker = true) AS
WITH a AS (
	SELECT %1$s AS started_at,
	       CASE WHEN %2$s IS NOT NULL THEN greatest(%2$s, %1$s) END AS cancelled_at,
	       %3$s AS arr
	  FROM %4$s a
	 -- also ties the view to the extension, so DROP EXTENSION ... CASCADE takes it along
	 WHERE EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'accounts')
), months AS (
	SELECT m::date AS month
	  FROM (SELECT pg_catalog.date_trunc('month', least(pg_catalog.min(a.started_at),
	                   pg_catalog.min(a.cancelled_at), pg_catalog.now())) AS first_month
	          FROM a) b,
	       pg_catalog.generate_series(b.first_month, pg_catalog.date_trunc('month', pg_catalog.now()),
	                                  interval '1 month') m
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
	SELECT m.month,
	       base.n
	       + coalesce(pg_catalog.sum(s.n) OVER w, 0)
	       - coalesce(pg_catalog.sum(c.n) OVER w, 0) AS active_at_start,
	       coalesce(c.n, 0) AS cancellations,
	       coalesce(c.arr, 0) AS arr_cancelled
	  FROM months m
	  CROSS JOIN base
	  LEFT JOIN starts s ON s.month = m.month
	  LEFT JOIN cancels c ON c.month = m.month
	WINDOW w AS (ORDER BY m.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), rated AS (
	SELECT mo.*,
	       pg_catalog.round(100.0 * mo.cancellations / nullif(mo.active_at_start, 0), 2)
	           AS cancellation_rate
	  FROM monthly mo
)
SELECT r.month, r.active_at_start::bigint AS active_at_start, r.cancellations, r.cancellation_rate,
       r.arr_cancelled,
       r.cancellations - pg_catalog.lag(r.cancellations) OVER w AS cancellations_change,
       r.cancellation_rate - pg_catalog.lag(r.cancellation_rate) OVER w AS rate_change,
       CASE WHEN r.cancellation_rate > pg_catalog.lag(r.cancellation_rate) OVER w THEN 'up'
            WHEN r.cancellation_rate < pg_catalog.lag(r.cancellation_rate) OVER w THEN 'down'
            WHEN r.cancellation_rate = pg_catalog.lag(r.cancellation_rate) OVER w THEN 'flat'
       END AS direction,
       (r.month + interval '1 month') <= pg_catalog.now() AS complete
  FROM rated r
WINDOW w AS (ORDER BY r.month)
$q$, c_started, c_cancelled, c_arr, src.relation);

	-- "Notably more poor accounts": a poor share at least 1.5 times the team's, with at least 2 poor accounts.
	-- Compared in integers (2 · poor · team_accounts >= 3 · team_poor · accounts), so no rounding decides it.
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
	       pg_catalog.round(pg_catalog.avg(a.score)::numeric, 1) AS average_score,
	       pg_catalog.sum(a.red)::bigint AS open_red_flags,
	       pg_catalog.count(*) FILTER (WHERE a.at_risk) AS at_risk_accounts,
	       coalesce(pg_catalog.sum(a.arr), 0) AS arr,
	       coalesce(pg_catalog.sum(a.arr) FILTER (WHERE a.at_risk), 0) AS arr_at_risk
	  FROM a GROUP BY a.owner
), t AS (
	SELECT pg_catalog.sum(o.accounts) AS accounts, pg_catalog.sum(o.poor) AS poor FROM o
)
SELECT o.owner, o.accounts, o.poor,
       pg_catalog.round(100.0 * o.poor / o.accounts, 1) AS poor_pct,
       pg_catalog.round(100.0 * t.poor / t.accounts, 1) AS team_poor_pct,
       o.average_score, o.open_red_flags, o.at_risk_accounts, o.arr, o.arr_at_risk,
       (o.poor >= 2 AND 2 * o.poor * t.accounts >= 3 * t.poor * o.accounts) AS notably_more_poor
  FROM o CROSS JOIN t
$q$, open_flags, visible);

	-- The weekly review list: red and amber flags explain the risk; info and opportunity flags are plays.
	-- The accounts at risk are picked first (band poor, or an open red flag through the flag_open index), and
	-- each rule's description is filled in once per rule, with its current thresholds.
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_accounts WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action,
	       health_score.rule_text(r.description,
	           coalesce(health_score._rule_defaults(r.code), '{}'::jsonb) || coalesce(r.params, '{}'::jsonb)) AS reason
	  FROM health_score.rule r
)
SELECT pg_catalog.row_number() OVER (ORDER BY h.arr DESC NULLS LAST, h.score NULLS FIRST, h.account_id)
           AS rank,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date,
       h.renewal_date - (h.as_of)::date AS days_to_renewal,
       h.score, h.band,
       h.score - p.score AS score_change_30d,
       coalesce(f.red, 0) AS red_flags,
       coalesce(f.amber, 0) AS amber_flags,
       coalesce(f.codes, '{}'::text[]) AS flags,
       CASE WHEN h.band = 'poor'
            THEN ARRAY[pg_catalog.format('score %%s is in the poor band (below %%s)',
                                         pg_catalog.round(h.score::numeric, 1), pr.poor_below)]
            ELSE '{}'::text[] END
       || coalesce(f.reasons, '{}'::text[]) AS reasons,
       coalesce(f.actions, '{}'::text[]) AS actions,
       coalesce(f.evidence, '{}'::jsonb) AS evidence,
       h.as_of
  FROM health_score.account_health h
  LEFT JOIN health_score.profile pr ON pr.name = h.profile
  LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(fl.rule ORDER BY fl.ord, fl.rule) AS codes,
	       pg_catalog.count(*) FILTER (WHERE fl.severity = 'red') AS red,
	       pg_catalog.count(*) FILTER (WHERE fl.severity = 'amber') AS amber,
	       pg_catalog.array_agg(coalesce(ru.reason, fl.rule) ORDER BY fl.ord, fl.rule) AS reasons,
	       pg_catalog.array_agg(coalesce(fl.action, ru.action) ORDER BY fl.ord, fl.rule)
	           FILTER (WHERE coalesce(fl.action, ru.action) IS NOT NULL) AS actions,
	       pg_catalog.jsonb_object_agg(fl.rule, fl.evidence) AS evidence
	  FROM (SELECT x.rule, x.severity, x.action, x.evidence,
	               pg_catalog.array_position(ARRAY['red', 'amber']::text[], x.severity) AS ord
	          FROM health_score.flag x
	         WHERE x.account_id = h.account_id AND x.cleared_at IS NULL
	           AND x.severity IN ('red', 'amber')) fl
	  LEFT JOIN ru ON ru.code = fl.rule
  ) f ON true
  %2$s
 WHERE (h.band = 'poor'
        OR EXISTS (SELECT FROM health_score.flag y
                    WHERE y.account_id = h.account_id AND y.cleared_at IS NULL AND y.severity = 'red'))
   AND h.account_id IN (%3$s)
 ORDER BY h.arr DESC NULLS LAST, h.score NULLS FIRST, h.account_id
$q$, k, history_30d, visible);

	-- Each scored account in exactly one band (or 'unscored') and one open-flag severity (its worst red or
	-- amber flag, else 'none'); 'all' rows are the totals, so the view is a pivotable cube.
	EXECUTE format($q$
CREATE VIEW health_score.revenue_at_risk WITH (security_invoker = true) AS
WITH a AS (
	SELECT coalesce(h.band::text, 'unscored') AS band,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS severity,
	       h.arr
	  FROM health_score.account_health h
	  LEFT JOIN (SELECT x.account_id,
	                    pg_catalog.count(*) FILTER (WHERE x.severity = 'red') AS red,
	                    pg_catalog.count(*) FILTER (WHERE x.severity = 'amber') AS amber
	               FROM health_score.flag x
	              WHERE x.cleared_at IS NULL AND x.severity IN ('red', 'amber')
	              GROUP BY x.account_id) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%1$s)
), c AS (
	SELECT CASE WHEN grouping(a.band) = 0 THEN a.band ELSE 'all' END AS band,
	       CASE WHEN grouping(a.severity) = 0 THEN a.severity ELSE 'all' END AS open_flag_severity,
	       pg_catalog.count(*) AS accounts,
	       coalesce(pg_catalog.sum(a.arr), 0) AS arr
	  FROM a
	 GROUP BY CUBE (a.band, a.severity)
)
SELECT c.band, c.open_flag_severity, c.accounts, c.arr,
       pg_catalog.round(100.0 * c.accounts / nullif(t.accounts, 0), 1) AS accounts_pct,
       pg_catalog.round(100.0 * c.arr / nullif(t.arr, 0), 1) AS arr_pct,
       (c.band = 'poor' OR c.open_flag_severity = 'red') AS at_risk
  FROM c
  CROSS JOIN (SELECT c2.accounts, c2.arr FROM c c2 WHERE c2.band = 'all' AND c2.open_flag_severity = 'all') t
$q$, visible);

	EXECUTE format($q$
CREATE VIEW health_score.plays WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action,
	       health_score.rule_text(r.description,
	           coalesce(health_score._rule_defaults(r.code), '{}'::jsonb) || coalesce(r.params, '{}'::jsonb)) AS description
	  FROM health_score.rule r
)
SELECT f.id AS flag_id,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date, h.score, h.band,
       f.rule, f.severity, coalesce(ru.description, f.rule) AS description,
       f.raised_at, f.updated_at, f.evidence,
       coalesce(f.action, ru.action) AS action
  FROM health_score.flag f
  JOIN health_score.account_health h ON h.account_id = f.account_id
  LEFT JOIN ru ON ru.code = f.rule
 WHERE f.cleared_at IS NULL AND f.severity IN ('info', 'opportunity')
   AND h.account_id IN (%2$s)
$q$, k, visible);

	FOR r IN
		SELECT v.view, v.comment FROM (VALUES
		('account_overview', 'one row per scored, non-cancelled account: its score, band, components, 30-day change and open flags; account_id has the accounts source''s type'),
		('band_breakdown', 'accounts and ARR in each health band, overall (dimension ''all'') and by segment, plan, lifecycle_stage and owner'),
		('health_trend', 'per day of health_history: accounts scored, average score and band counts, to chart overall health'),
		('cancellation_trend', 'per calendar month, from the accounts source itself: accounts active at the start, cancellations, rate and ARR cancelled, with the change against the previous month'),
		('owner_workload', 'per customer-success manager (owner): accounts, poor accounts and their share against the team''s, open red flags and ARR at risk'),
		('at_risk_accounts', 'accounts at risk (poor band or an open red flag) with their open red and amber flags, reasons, evidence and recommended actions, largest ARR first: the weekly review list'),
		('revenue_at_risk', 'accounts and ARR by health band and by the worst severity of their open red/amber flags, with ''all'' totals in both directions'),
		('plays', 'open info and opportunity flags (new users to train, features adopted, upsell) with their recommended actions')
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
		('account_overview', 'arr', 'annual recurring revenue, from the accounts source'),
		('account_overview', 'renewal_date', 'next renewal date, from the accounts source'),
		('account_overview', 'days_to_renewal', 'days from the as_of date to renewal_date (negative when overdue)'),
		('account_overview', 'profile', 'scoring profile applied to the account'),
		('account_overview', 'score', 'health score 0-100 at as_of: the weighted mean of the components present'),
		('account_overview', 'band', 'health band of the score under the profile''s thresholds: poor, average or good'),
		('account_overview', 'engagement', 'engagement component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'utilisation', 'licence utilisation component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'adoption', 'key-feature adoption component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'support', 'support component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'sentiment', 'sentiment (survey) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'relationship', 'relationship (touchpoints) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'score_30d_ago', 'score in health_history on the latest day on or before as_of - 30 days (NULL when there is none)'),
		('account_overview', 'score_30d_ago_day', 'the health_history day score_30d_ago comes from'),
		('account_overview', 'score_change_30d', 'score minus score_30d_ago: positive is improving (NULL without history)'),
		('account_overview', 'open_flags', 'codes of the account''s open flags, red first, then amber, opportunity and info'),
		('account_overview', 'open_red_flags', 'number of open red flags'),
		('account_overview', 'open_amber_flags', 'number of open amber flags'),
		('account_overview', 'at_risk', 'true when the band is poor or any red flag is open'),
		('account_overview', 'as_of', 'the point in time the score describes'),
		('account_overview', 'refreshed_at', 'when the refresh that computed this row ran'),
		-- band_breakdown
		('band_breakdown', 'dimension', 'what the row breaks down by: all, segment, plan, lifecycle_stage or owner'),
		('band_breakdown', 'value', 'the segment, plan, lifecycle stage or owner (NULL for accounts without one); ''all'' on the overall row'),
		('band_breakdown', 'accounts', 'scored accounts in the group (good + average + poor)'),
		('band_breakdown', 'good', 'accounts in the good band'),
		('band_breakdown', 'average', 'accounts in the average band'),
		('band_breakdown', 'poor', 'accounts in the poor band'),
		('band_breakdown', 'good_pct', 'good as a percentage of accounts; the three percentages add up to exactly 100 (largest-remainder rounding to 0.1)'),
		('band_breakdown', 'average_pct', 'average as a percentage of accounts'),
		('band_breakdown', 'poor_pct', 'poor as a percentage of accounts'),
		('band_breakdown', 'arr', 'ARR of the scored accounts in the group'),
		('band_breakdown', 'arr_good', 'ARR of the group''s good accounts'),
		('band_breakdown', 'arr_average', 'ARR of the group''s average accounts'),
		('band_breakdown', 'arr_poor', 'ARR of the group''s poor accounts'),
		-- health_trend
		('health_trend', 'day', 'day of health_history (one refresh per day is kept)'),
		('health_trend', 'accounts', 'accounts scored that day'),
		('health_trend', 'average_score', 'mean score that day, rounded to 0.1'),
		('health_trend', 'good', 'accounts in the good band that day'),
		('health_trend', 'average', 'accounts in the average band that day'),
		('health_trend', 'poor', 'accounts in the poor band that day'),
		('health_trend', 'good_pct', 'good as a percentage of accounts; the three add up to exactly 100'),
		('health_trend', 'average_pct', 'average as a percentage of accounts'),
		('health_trend', 'poor_pct', 'poor as a percentage of accounts'),
		('health_trend', 'arr', 'ARR of the accounts scored that day, as recorded in health_history'),
		('health_trend', 'arr_poor', 'ARR of the poor accounts that day'),
		-- cancellation_trend
		('cancellation_trend', 'month', 'first day of the calendar month (session time zone)'),
		('cancellation_trend', 'active_at_start', 'accounts started before the month (or with no start date) and not cancelled before it'),
		('cancellation_trend', 'cancellations', 'accounts whose cancelled_at falls in the month (including accounts started in the same month)'),
		('cancellation_trend', 'cancellation_rate', 'cancellations as a percentage of active_at_start, rounded to 0.01 (NULL when none were active)'),
		('cancellation_trend', 'arr_cancelled', 'ARR of the accounts cancelled in the month'),
		('cancellation_trend', 'cancellations_change', 'cancellations minus the previous month''s'),
		('cancellation_trend', 'rate_change', 'cancellation_rate minus the previous month''s, in percentage points'),
		('cancellation_trend', 'direction', 'up, down or flat: cancellation_rate against the previous month''s (NULL for the first month or without a rate)'),
		('cancellation_trend', 'complete', 'false for the current, still running month'),
		-- owner_workload
		('owner_workload', 'owner', 'customer-success manager (NULL: accounts without an owner)'),
		('owner_workload', 'accounts', 'scored accounts the owner carries'),
		('owner_workload', 'poor', 'of them, accounts in the poor band'),
		('owner_workload', 'poor_pct', 'poor as a percentage of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'team_poor_pct', 'poor accounts as a percentage of all scored accounts (the team average), rounded to 0.1'),
		('owner_workload', 'average_score', 'mean score of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'open_red_flags', 'open red flags on the owner''s accounts'),
		('owner_workload', 'at_risk_accounts', 'the owner''s accounts at risk (poor band or an open red flag)'),
		('owner_workload', 'arr', 'ARR of the owner''s accounts'),
		('owner_workload', 'arr_at_risk', 'ARR of the owner''s accounts at risk'),
		('owner_workload', 'notably_more_poor', 'true when the owner''s poor share is at least 1.5 times the team''s and the owner has at least 2 poor accounts'),
		-- at_risk_accounts
		('at_risk_accounts', 'rank', 'position in the review list: largest ARR first, then lowest score'),
		('at_risk_accounts', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_accounts', 'name', 'account name'),
		('at_risk_accounts', 'segment', 'segment'),
		('at_risk_accounts', 'plan', 'plan'),
		('at_risk_accounts', 'owner', 'customer-success manager'),
		('at_risk_accounts', 'arr', 'annual recurring revenue'),
		('at_risk_accounts', 'renewal_date', 'next renewal date'),
		('at_risk_accounts', 'days_to_renewal', 'days from the as_of date to renewal_date'),
		('at_risk_accounts', 'score', 'health score 0-100'),
		('at_risk_accounts', 'band', 'health band'),
		('at_risk_accounts', 'score_change_30d', 'score minus the score on the latest history day on or before as_of - 30 days'),
		('at_risk_accounts', 'red_flags', 'number of open red flags'),
		('at_risk_accounts', 'amber_flags', 'number of open amber flags'),
		('at_risk_accounts', 'flags', 'codes of the open red and amber flags, red first'),
		('at_risk_accounts', 'reasons', 'why the account is at risk, in words: the poor band, then the description of each open red/amber flag''s rule with its current thresholds filled in'),
		('at_risk_accounts', 'actions', 'recommended actions of the open red and amber flags, in flag order'),
		('at_risk_accounts', 'evidence', 'the open red and amber flags'' evidence as one JSON object keyed by rule code'),
		('at_risk_accounts', 'as_of', 'the point in time the score describes'),
		-- revenue_at_risk
		('revenue_at_risk', 'band', 'health band (good, average, poor, or unscored); ''all'' sums every band'),
		('revenue_at_risk', 'open_flag_severity', 'worst open risk flag of the account: red, amber or none; ''all'' sums every severity'),
		('revenue_at_risk', 'accounts', 'accounts in the cell'),
		('revenue_at_risk', 'arr', 'ARR of the accounts in the cell'),
		('revenue_at_risk', 'accounts_pct', 'accounts as a percentage of all scored accounts, rounded to 0.1'),
		('revenue_at_risk', 'arr_pct', 'ARR as a percentage of all scored accounts'' ARR, rounded to 0.1'),
		('revenue_at_risk', 'at_risk', 'true when every account in the cell is at risk (band poor or worst open flag red)'),
		-- plays
		('plays', 'flag_id', 'id of the open flag in health_score.flag'),
		('plays', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plays', 'name', 'account name'),
		('plays', 'segment', 'segment'),
		('plays', 'plan', 'plan'),
		('plays', 'owner', 'customer-success manager'),
		('plays', 'arr', 'annual recurring revenue'),
		('plays', 'renewal_date', 'next renewal date'),
		('plays', 'score', 'health score 0-100'),
		('plays', 'band', 'health band'),
		('plays', 'rule', 'code of the rule that raised the flag (e.g. new_users, feature_adopted, over_licensed)'),
		('plays', 'severity', 'info or opportunity'),
		('plays', 'description', 'what the rule detects, with its current thresholds filled in'),
		('plays', 'raised_at', 'when the flag was raised (as_of of the refresh)'),
		('plays', 'updated_at', 'as_of of the latest refresh that changed the flag''s evidence, severity or action'),
		('plays', 'evidence', 'the figures behind the flag, as JSON'),
		('plays', 'action', 'the recommended play')
		) c(view, col, comment)
	LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.%I.%I IS %L', r.view, r.col, r.comment);
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION health_score.rebuild_views() IS
	'drops the executive views and recreates them with account_id of the accounts source''s type (drops only, when no accounts source is registered)';
REVOKE EXECUTE ON FUNCTION health_score.rebuild_views() FROM PUBLIC;

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

-- Triggers --------------------------------------------------------------------------------------------------
CREATE TRIGGER rule_wait_for_refresh BEFORE UPDATE OF code OR DELETE ON health_score.rule
	FOR EACH STATEMENT EXECUTE FUNCTION health_score._rule_wait_for_refresh();

CREATE EVENT TRIGGER health_score_before_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION health_score._before_drop_trigger();

-- Views ---------------------------------------------------------------------------------------------------
-- They now show only the accounts the invoking role may read in the accounts source: rebuilt. What an
-- extension script creates becomes a member of the extension, and these are not members in a fresh install
-- (add_source creates them), so they leave it again.
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
