-- health_score install script, assembled by the Makefile from schema/*.sql in name order.
-- Runs with search_path = health_score, pg_temp; every function fixes its own search_path.

\echo Use "CREATE EXTENSION health_score" to load this file. \quit
