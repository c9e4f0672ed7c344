-- Change capture for the incremental refresh: statement-level triggers on each activity source that is a
-- table (plain or partitioned; on a partitioned table they sit on the root and see every partition) write
-- what each statement changed into two logs, which the activity stage consumes (30_activity.sql).
--   activity_inserted  the inserted rows' account, user, feature, weight and time, from the INSERT's
--                      transition table
--   activity_changed   the accounts an UPDATE or DELETE touched (before and after), to be recomputed from
--                      their own rows; a TRUNCATE writes one row without an account: the state is rebuilt
-- Views and foreign tables take no transition tables, and a time column without a time zone is read in
-- the refresh's time zone, not the writer's: such a source is read in full at each refresh, and so is
-- every activity source while one of them is.
--
-- Who may write the logs: whoever may write the source. The triggers run with the rights of the role whose
-- statement fired them, so every role may INSERT into the logs, and row-level security lets a row in only
-- for a source that role may write (INSERT for activity_inserted; UPDATE, DELETE or TRUNCATE for
-- activity_changed). Reading and consuming them is for the roles allowed to refresh (grant_refresh).

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
-- (No index: a refresh reads the log whole, and an index would more than double what a bulk insert into
-- the source costs.)
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

-- The trigger functions. TG_ARGV: the source's account_id, occurred_at, user_id, feature and weight
-- columns ('' for one not mapped), fixed when the triggers are created.
CREATE FUNCTION health_score._capture_inserted()
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

CREATE FUNCTION health_score._capture_changed()
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

-- The names of the capture triggers, the same on every source (a table has one set).
CREATE FUNCTION health_score._capture_triggers()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['health_score_capture_insert', 'health_score_capture_update', 'health_score_capture_delete',
                   'health_score_capture_truncate'] $$;

-- Why an activity source cannot be captured, or NULL when it can.
CREATE FUNCTION health_score._capture_obstacle(relation regclass, columns jsonb)
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

-- Puts the capture triggers on an activity source (replacing any), if it can carry them and the caller
-- may create them; returns why not, or NULL.
CREATE FUNCTION health_score._capture_install(relation regclass, columns jsonb)
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

-- Removes the capture triggers from a relation (those that are there).
CREATE FUNCTION health_score._capture_remove(relation regclass)
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

-- Whether every capture trigger is on the relation, enabled always, and passes the source's current columns.
CREATE FUNCTION health_score._capture_in_place(relation regclass, columns jsonb)
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

-- Which activity sources the refresh reads incrementally, and why not the others.
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
