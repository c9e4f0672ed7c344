-- Who may run what: the checks that keep a refresh from running a less trusted role's code with more
-- trusted rights, and grant_refresh(), which gives a dedicated refresh role exactly the rights a refresh needs.
--
-- A refresh reads the sources with the rights of the role that refreshes, and a source that is a view runs
-- the functions and operators it names with those rights too (only the tables under a view are read with
-- its owner's). A refresh run by a superuser therefore refuses any source whose code a role that is not a
-- superuser could change: the relation, and for a view every relation, function, operator and type its
-- query runs through, must be owned by superusers (checked at every refresh: views and functions change).
-- The documented setup refreshes as a dedicated role without superuser rights (grant_refresh), which reads
-- sources owned by anyone it was granted.

-- The objects a query of a source runs through, with their owners: the relation and its column types, and
-- for a view, recursively, what its query names: relations (views in turn), functions, operators and the
-- functions behind them, types and the functions that read and print them. Built-in objects are left out.
CREATE FUNCTION health_score._source_objects(relation regclass)
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

-- The first object (by kind and name) that a relation's query runs through and a role that is not a
-- superuser owns; NULLs when there is none.
CREATE FUNCTION health_score._untrusted_object(relation regclass, OUT kind text, OUT name text, OUT rolname name)
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

-- Raises 42501 when the current role is a superuser and a source runs code owned by a role that is not.
CREATE FUNCTION health_score._check_source_trust(kind text, relation regclass)
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

-- The same rule for a measure's query (40_measures.sql): a superuser's refresh runs it only when a
-- superuser added it and every object it reads, recursively as for a source view, is a superuser's. The
-- objects are found by creating the query as a temporary view, $1 read as a NULL timestamptz.
CREATE FUNCTION health_score._check_measure_trust(name text, owner regrole, query text)
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

CREATE FUNCTION health_score.grant_refresh(role regrole)
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
