-- The pipeline's work tables (hs_acc, hs_m, ...: 40_pipeline/00_stage.sql) are unlogged tables in this
-- schema, not temporary ones, so that parallel workers can read them. Each session names its own after its
-- backend's pid; a run drops them when it ends, and a run that fails takes them away with its transaction.
-- Roles allowed to refresh may create tables here (grant_refresh); nobody else may use it.
CREATE SCHEMA health_score_work;
COMMENT ON SCHEMA health_score_work IS
	'the work tables of the refreshes and evaluations running now, one set per session; internal to health_score';
