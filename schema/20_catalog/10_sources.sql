-- Sources: the company's own tables and views, registered with add_source and read where they are.
--
-- Every source kind has canonical columns; a registration maps them to the relation's columns (by the
-- same name unless columns says otherwise), checks that the caller can read them and that their types are
-- usable, and stores the resolved mapping in health_score.sources. refresh() builds its queries from it.
--
-- Errors: class 22 for a bad argument (unknown kind, malformed or unknown mapping), the catalog's own codes
-- for what the relation lacks (42P01-style lookups are done by regclass itself, 42703 undefined column,
-- 42804 unusable type or key type mismatch, 42809 not a table or view, 42501 not readable), 23505 for a
-- second accounts source.

-- The canonical columns of each kind: what a source may provide, of which class of type, and whether it must.
-- This list is the one definition of the source kinds.
--   key: the account key (bigint/integer/smallint, text/varchar, or uuid)   user: a user key (same families)
--   time: timestamptz, timestamp or date     label: any type, read as text    count: an integer or numeric
--   number: any numeric type                 flag: boolean
CREATE FUNCTION health_score._source_catalog()
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

CREATE FUNCTION health_score._source_columns(kind text)
RETURNS TABLE (canonical text, class text, required boolean, ord integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.canonical, c.class, c.required, c.ord FROM health_score._source_catalog() c WHERE c.kind = $1 ORDER BY c.ord
$$;

-- The source kinds, alphabetically.
CREATE FUNCTION health_score._source_kinds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.array_agg(DISTINCT c.kind ORDER BY c.kind) FROM health_score._source_catalog() c $$;

-- How old the newest row of a source of each kind may be before the feed counts as stalled: days without a
-- single product event is an incident; a small company can go a quarter without a support case, and half a
-- year without a survey answer (a metric is expected at least monthly). The accounts source has no stream
-- of rows in time: it is never stale.
CREATE FUNCTION health_score._default_max_lag(kind text)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $1 WHEN 'activity' THEN interval '3 days' WHEN 'metrics' THEN interval '35 days'
	               WHEN 'touchpoints' THEN interval '60 days' WHEN 'support_cases' THEN interval '90 days'
	               WHEN 'surveys' THEN interval '180 days' END
$$;

-- Registered sources. columns holds the resolved mapping: for every canonical column the relation provides
-- (mapped explicitly or found under its canonical name), canonical name -> the relation's column name.
-- Optional canonical columns the relation lacks are absent. key_type is format_type() of account_id.
CREATE TABLE health_score.sources (
	kind text NOT NULL CHECK (kind = ANY (health_score._source_kinds())),
	relation regclass NOT NULL,
	columns jsonb NOT NULL,
	key_type text NOT NULL,
	added_at timestamptz NOT NULL DEFAULT now(),
	-- how old its newest row may be at as_of before the source counts as stale (source_freshness); NULL: never
	max_lag interval CHECK (max_lag > interval '0'),
	-- the accounts source's pass-through dimensions: name -> its column, read as text into account_health
	-- and health_history and carried into the views (add_source's columns -> 'dimensions')
	dimensions jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (kind, relation)
);
-- Exactly one accounts source.
CREATE UNIQUE INDEX sources_one_accounts ON health_score.sources (kind) WHERE kind = 'accounts';
SELECT pg_catalog.pg_extension_config_dump('health_score.sources', '');

-- The family of a type, looking through domains: integer, numeric, text, uuid, time, boolean, enum or other.
CREATE FUNCTION health_score._type_family(typ regtype)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t oid := typ;
	base oid;
	cat "char";
BEGIN
	LOOP
		SELECT p.typbasetype, p.typcategory INTO base, cat FROM pg_catalog.pg_type p WHERE p.oid = t;
		EXIT WHEN base IS NULL OR base = 0;
		t := base;
	END LOOP;
	RETURN CASE
		WHEN t IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'integer'
		WHEN cat = 'N' THEN 'numeric'
		WHEN cat = 'S' THEN 'text'
		WHEN t = 'uuid'::regtype THEN 'uuid'
		WHEN t IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN 'time'
		WHEN t = 'bool'::regtype THEN 'boolean'
		WHEN cat = 'E' THEN 'enum'
		ELSE 'other'
	END;
END
$$;

-- The type account keys (and user keys) of a family are read as: bigint, text or uuid; NULL if unusable.
CREATE FUNCTION health_score._key_type(typ regtype)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE health_score._type_family($1)
		WHEN 'integer' THEN 'bigint' WHEN 'text' THEN 'text' WHEN 'uuid' THEN 'uuid' END
$$;

-- What a class of canonical column accepts, for error messages.
CREATE FUNCTION health_score._class_accepts(class text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $1
		WHEN 'key' THEN 'bigint, integer, text, varchar or uuid'
		WHEN 'user' THEN 'bigint, integer, text, varchar or uuid'
		WHEN 'time' THEN 'timestamptz, timestamp or date'
		WHEN 'count' THEN 'a numeric type'
		WHEN 'number' THEN 'a numeric type'
		WHEN 'flag' THEN 'boolean'
		ELSE 'any type' END
$$;

CREATE FUNCTION health_score._class_accepts_family(class text, family text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $1
		WHEN 'key' THEN $2 IN ('integer', 'text', 'uuid')
		WHEN 'user' THEN $2 IN ('integer', 'text', 'uuid')
		WHEN 'time' THEN $2 = 'time'
		WHEN 'count' THEN $2 IN ('integer', 'numeric')
		WHEN 'number' THEN $2 IN ('integer', 'numeric')
		WHEN 'flag' THEN $2 = 'boolean'
		ELSE true END
$$;

-- A column name in an error message, always double-quoted as PostgreSQL's own messages do.
CREATE FUNCTION health_score._q(name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '"' || pg_catalog.replace($1, '"', '""') || '"' $$;

-- The key type of the accounts source (bigint, text or uuid), or NULL before one is registered.
CREATE FUNCTION health_score._accounts_key_type()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT health_score._key_type(s.key_type::regtype) FROM health_score.sources s WHERE s.kind = 'accounts' $$;

-- An account key written as text, in the text form the results store (' 42' -> '42', an upper-case uuid in
-- lower case), for accounts keyed by keytype; raises the cast's own error (22P02, 22003) when it is no key
-- of that type. Text keys, and keys without an accounts source, are kept as written.
CREATE FUNCTION health_score._key_text(key text, keytype text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE $2 WHEN 'bigint' THEN $1::bigint::text WHEN 'uuid' THEN $1::uuid::text ELSE $1 END
$$;

-- A new catalog name (a measure's, a component's, a rule's code): a lower-case word, which conditions and
-- weights can write bare, and not taken.
CREATE FUNCTION health_score._check_new_name(label text, name text, taken boolean, name_hint text, taken_hint text)
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

-- The names the views give their own columns: a pass-through dimension may take none of them.
CREATE FUNCTION health_score._view_column_names()
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

-- add_source's columns -> 'dimensions' of an accounts source: a list of its columns, or an object of names
-- to columns ({"region": "sales_region"}); returned as the object. Each column must exist and be readable;
-- each name must be a lower-case word the views do not use themselves.
CREATE FUNCTION health_score._check_dimensions(kind text, relation regclass, dims jsonb)
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

CREATE FUNCTION health_score.add_source(kind text, relation regclass, columns jsonb DEFAULT '{}',
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

CREATE FUNCTION health_score.drop_source(kind text, relation regclass)
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

REVOKE EXECUTE ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION health_score.drop_source(text, regclass) FROM PUBLIC;
