-- The extension installs into its own schema, at the version the control file names.
SELECT e.extname, e.extversion, n.nspname, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'health_score';
-- It cannot be moved: everything refers to schema health_score by name.
ALTER EXTENSION health_score SET SCHEMA public;
