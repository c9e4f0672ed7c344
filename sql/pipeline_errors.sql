-- The documented errors of registration, configuration and refresh, with their exact texts.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE TABLE accts (id bigint PRIMARY KEY, name text, seats text);
CREATE TABLE evts (account_id bigint, ts timestamptz, stamp text, feature text);
CREATE TABLE uuid_evts (account_id uuid, occurred_at timestamptz);
CREATE TABLE numeric_accts (account_id numeric, seats integer);
CREATE SEQUENCE not_a_table;
-- A bad kind, relation or mapping.
SELECT health_score.add_source('widgets', 'accts');
SELECT health_score.add_source('accounts', 'no_such_table');
SELECT health_score.add_source('activity', 'not_a_table');
SELECT health_score.add_source('activity', 'evts', '["ts"]');
SELECT health_score.add_source('activity', 'evts', '{"timestamp": "ts"}');
SELECT health_score.add_source('activity', 'evts', '{"occurred_at": 1}');
SELECT health_score.add_source('activity', 'evts', '{"occurred_at": "when"}');
SELECT health_score.add_source('activity', 'evts');
SELECT health_score.add_source('activity', 'evts', '{"occurred_at": "stamp"}');
SELECT health_score.add_source('accounts', 'accts', '{"account_id": "id"}');
SELECT health_score.add_source('accounts', 'numeric_accts');
-- Account keys must be of the accounts source's type, whichever is registered first.
SELECT kind, relation, key_type FROM health_score.add_source('accounts', 'accts', '{"account_id": "id", "seats": "id"}');
SELECT health_score.add_source('activity', 'uuid_evts');
SELECT health_score.add_source('accounts', 'numeric_accts', '{"account_id": "seats"}');
SELECT health_score.drop_source('accounts', 'accts');
SELECT kind, relation, key_type FROM health_score.add_source('activity', 'uuid_evts');
SELECT health_score.add_source('accounts', 'accts', '{"account_id": "id", "seats": "id"}');
SELECT health_score.drop_source('activity', 'uuid_evts');
SELECT health_score.drop_source('activity', 'uuid_evts');
SELECT health_score.drop_source('widgets', 'accts');
-- Relations and columns the caller cannot read.
CREATE ROLE regress_hs_outsider;
GRANT USAGE ON SCHEMA health_score TO regress_hs_outsider;
GRANT EXECUTE ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) TO regress_hs_outsider;
GRANT SELECT (account_id, ts) ON evts TO regress_hs_outsider;
SET ROLE regress_hs_outsider;
SELECT health_score.add_source('activity', 'accts');
SELECT health_score.add_source('activity', 'evts', '{"occurred_at": "ts"}');
RESET ROLE;
REVOKE ALL ON evts FROM regress_hs_outsider;
REVOKE ALL ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) FROM regress_hs_outsider;
REVOKE ALL ON SCHEMA health_score FROM regress_hs_outsider;
DROP ROLE regress_hs_outsider;
-- Rule parameters and profile weights are validated.
UPDATE health_score.rule SET params = '{"dayz": 10}' WHERE code = 'inactive';
UPDATE health_score.rule SET params = '{"days": "ten"}' WHERE code = 'inactive';
UPDATE health_score.rule SET params = '{"days": -1}' WHERE code = 'inactive';
UPDATE health_score.rule SET params = '{"band": "terrible"}' WHERE code = 'renewal_risk';
UPDATE health_score.rule SET params = '[]' WHERE code = 'renewal_risk';
UPDATE health_score.profile SET weights = '{"engagement": 1, "happiness": 2}' WHERE name = 'default';
UPDATE health_score.profile SET weights = '{"engagement": -1}' WHERE name = 'default';
UPDATE health_score.profile SET weights = '{"engagement": 0}' WHERE name = 'default';
UPDATE health_score.profile SET key_features = '{report,NULL}' WHERE name = 'default';
-- Refresh errors say what failed, and leave the previous results as they were.
SELECT * FROM health_score.refresh(NULL);
SELECT health_score.drop_source('accounts', 'accts');
SELECT * FROM health_score.refresh('2026-03-01');
SELECT kind FROM health_score.add_source('accounts', 'accts', '{"account_id": "id", "seats": "id"}');
SELECT kind FROM health_score.add_source('activity', 'evts', '{"occurred_at": "ts"}');
INSERT INTO accts VALUES (1, 'One', '5'), (2, 'Two', '5');
-- Observations must name keys of the accounts source's type.
INSERT INTO health_score.observation (account_id, indicator) VALUES ('one', 'no_trained_admin');
INSERT INTO evts VALUES (1, '2026-02-27', 'x', 'report');
SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh('2026-03-01');
SELECT account_id, round(score) AS score, band, as_of FROM health_score.account_health ORDER BY account_id;
CREATE TABLE surveys (account_id bigint, responded_at timestamptz, rating integer);
INSERT INTO surveys VALUES (1, '2026-02-20', 11);
SELECT kind FROM health_score.add_source('surveys', 'surveys');
\set VERBOSITY terse
SELECT * FROM health_score.refresh('2026-03-02');
\set VERBOSITY default
CREATE VIEW more_evts AS SELECT account_id, ts + (1 / (account_id - 1)) * interval '1 day' AS occurred_at FROM evts;
SELECT health_score.drop_source('surveys', 'surveys');
SELECT kind FROM health_score.add_source('activity', 'more_evts');
SELECT * FROM health_score.refresh('2026-03-02');
SELECT health_score.drop_source('activity', 'more_evts');
CREATE VIEW nan_evts AS SELECT account_id, ts AS occurred_at, 'NaN'::float8 AS weight FROM evts;
SELECT kind FROM health_score.add_source('activity', 'nan_evts');
SELECT * FROM health_score.refresh('2026-03-02');
SELECT health_score.drop_source('activity', 'nan_evts');
-- An accounts source with an account twice: add_source refuses it while it can see the duplicate, and a
-- refresh once it appears later.
CREATE TABLE dup_on ();
CREATE VIEW dup_accts AS SELECT id FROM accts UNION ALL SELECT 1 FROM dup_on;
SELECT health_score.drop_source('accounts', 'accts');
INSERT INTO dup_on DEFAULT VALUES;
SELECT kind FROM health_score.add_source('accounts', 'dup_accts', '{"account_id": "id"}');
DELETE FROM dup_on;
SELECT kind FROM health_score.add_source('accounts', 'dup_accts', '{"account_id": "id"}');
INSERT INTO dup_on DEFAULT VALUES;
SELECT * FROM health_score.refresh('2026-03-02');
SELECT health_score.drop_source('accounts', 'dup_accts');
SELECT kind FROM health_score.add_source('accounts', 'accts', '{"account_id": "id", "seats": "id"}');
UPDATE health_score.profile SET segment = 'enterprise' WHERE name = 'default';
SELECT * FROM health_score.refresh('2026-03-02');
-- After all these failures, the results of the last successful refresh are intact.
SELECT account_id, round(score) AS score, band, as_of FROM health_score.account_health ORDER BY account_id;
SELECT status, count(*) FROM health_score.refresh_log GROUP BY status;
