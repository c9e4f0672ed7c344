-- Everything the extension installs in the current database, one line per object and property, in a fixed
-- order: two databases with the same lines have the same extension objects. tools/upgrade_test.sh compares
-- an upgraded database with a fresh install through it. pg_dump cannot: it leaves extension members out.
\pset tuples_only on
\pset format unaligned
\pset fieldsep ' | '
WITH ext AS (
	SELECT e.oid, e.extname, e.extversion, e.extnamespace, e.extrelocatable, e.extconfig, e.extcondition
	  FROM pg_catalog.pg_extension e WHERE e.extname = 'health_score'
), member AS (
	SELECT d.classid, d.objid
	  FROM pg_catalog.pg_depend d, ext
	 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
	UNION
	-- the views rebuild_views() creates at run time, which are not members
	SELECT 'pg_catalog.pg_class'::regclass, c.oid
	  FROM pg_catalog.pg_class c
	 WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v'
), described AS (
	SELECT m.classid, m.objid, pg_catalog.pg_describe_object(m.classid, m.objid, 0) AS object FROM member m
), props AS (
	SELECT 'extension' AS object, 'version' AS property, x.extversion AS value FROM ext x
	UNION ALL SELECT 'extension', 'schema', x.extnamespace::regnamespace::text FROM ext x
	UNION ALL SELECT 'extension', 'relocatable', x.extrelocatable::text FROM ext x
	UNION ALL
	SELECT 'extension', 'dumped ' || c.relid::regclass::text, coalesce(c.cond, '')
	  FROM ext x, LATERAL ROWS FROM (pg_catalog.unnest(x.extconfig), pg_catalog.unnest(x.extcondition)) AS c (relid, cond)
	UNION ALL
	SELECT d.object, 'member', (d.classid <> 'pg_catalog.pg_class'::regclass
	                            OR (SELECT c.relkind <> 'v' FROM pg_catalog.pg_class c WHERE c.oid = d.objid))::text
	  FROM described d
	UNION ALL
	SELECT d.object, 'comment', pg_catalog.obj_description(d.objid, d.classid::regclass::name)
	  FROM described d
	 WHERE pg_catalog.obj_description(d.objid, d.classid::regclass::name) IS NOT NULL
	-- functions, procedures and aggregates
	UNION ALL
	SELECT d.object, 'definition', CASE WHEN p.prokind = 'a' THEN
	           pg_catalog.format('%s(%s) sfunc %s stype %s final %s combine %s serial %s deserial %s sspace %s init %s parallel %s',
	               p.proname, pg_catalog.pg_get_function_arguments(p.oid), a.aggtransfn, a.aggtranstype::regtype,
	               a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggtransspace, a.agginitval,
	               p.proparallel)
	       ELSE pg_catalog.pg_get_functiondef(p.oid) END
	  FROM described d
	  JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.objid
	  LEFT JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
	UNION ALL
	SELECT d.object, 'acl', coalesce(p.proacl::text, 'default')
	  FROM described d JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.objid
	-- tables, views, sequences and indexes
	UNION ALL
	SELECT d.object, 'relation', pg_catalog.format('kind %s options %s acl %s rls %s',
	           c.relkind, c.reloptions, c.relacl, c.relrowsecurity)
	  FROM described d JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
	UNION ALL
	SELECT d.object, pg_catalog.format('column %s %s', pg_catalog.lpad(a.attnum::text, 3, '0'), a.attname),
	       pg_catalog.format('%s%s%s%s %s', pg_catalog.format_type(a.atttypid, a.atttypmod),
	           CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
	           CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END,
	           coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), ''),
	           coalesce(pg_catalog.col_description(c.oid, a.attnum), ''))
	  FROM described d
	  JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT d.object, 'view', pg_catalog.pg_get_viewdef(c.oid)
	  FROM described d
	  JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'v'
	UNION ALL
	SELECT d.object, 'constraint ' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
	  FROM described d JOIN pg_catalog.pg_constraint k ON d.classid = 'pg_catalog.pg_class'::regclass AND k.conrelid = d.objid
	UNION ALL
	SELECT d.object, 'index ' || i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
	  FROM described d JOIN pg_catalog.pg_index i ON d.classid = 'pg_catalog.pg_class'::regclass AND i.indrelid = d.objid
	UNION ALL
	SELECT d.object, 'trigger ' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
	  FROM described d JOIN pg_catalog.pg_trigger t ON d.classid = 'pg_catalog.pg_class'::regclass AND t.tgrelid = d.objid
	 WHERE NOT t.tgisinternal
	UNION ALL
	SELECT d.object, 'policy ' || p.polname, pg_catalog.format('%s %s %s %s', p.polcmd, p.polroles,
	           pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
	  FROM described d JOIN pg_catalog.pg_policy p ON d.classid = 'pg_catalog.pg_class'::regclass AND p.polrelid = d.objid
	-- types
	UNION ALL
	SELECT d.object, 'enum', pg_catalog.string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
	  FROM described d JOIN pg_catalog.pg_enum e ON d.classid = 'pg_catalog.pg_type'::regclass AND e.enumtypid = d.objid
	 GROUP BY d.object
	UNION ALL
	SELECT d.object, 'event trigger', pg_catalog.format('%s %s %s %s', t.evtevent, t.evtfoid::regproc, t.evtenabled, t.evttags)
	  FROM described d JOIN pg_catalog.pg_event_trigger t ON d.classid = 'pg_catalog.pg_event_trigger'::regclass AND t.oid = d.objid
	UNION ALL
	SELECT 'schema health_score', 'acl', coalesce(n.nspacl::text, 'default')
	  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'health_score'
)
SELECT p.object, p.property, pg_catalog.regexp_replace(p.value, '\s+', ' ', 'g') AS value
  FROM props p
 ORDER BY p.object COLLATE "C", p.property COLLATE "C", value COLLATE "C";
