-- health_score 0.1.0 to 0.2.0 (ALTER EXTENSION health_score UPDATE TO '0.2.0').
-- Security and robustness: see CHANGELOG.md. tools/upgrade_test.sh checks that the result equals a fresh
-- install of 0.2.0 and keeps every row of the user's sources, configuration, history and flags.

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit
