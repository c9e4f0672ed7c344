-- Every primitive exists with its documented signature, return type, volatility, parallel safety and
-- strictness, and every aggregate can run in parallel: PARALLEL SAFE with combine, serialize and
-- deserialize functions.
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(136);

-- name, argument types (spelled as format_type does: some pgTAP functions take no aliases), return type,
-- aggregate?, strict? (NULL for aggregates, where the support functions decide)
CREATE TEMP TABLE primitive (name name, args name[], returns text, aggregate boolean, strict boolean);
INSERT INTO primitive VALUES
	('decayed_sum', '{timestamp with time zone, double precision, timestamp with time zone, interval}',
		'double precision', true, NULL),
	('decayed_sum', '{timestamp with time zone, timestamp with time zone, interval}',
		'double precision', true, NULL),
	('decay_factor', '{interval, interval}', 'double precision', false, false),
	('engagement_score', '{double precision, double precision, interval}', 'double precision', false, false),
	('composite', '{double precision[], double precision[]}', 'double precision', false, true),
	('band', '{double precision, double precision, double precision}',
		'health_score.health_band', false, false),
	('active_users', '{bigint}', 'bigint', true, NULL),
	('active_users', '{text}', 'bigint', true, NULL),
	('active_users', '{uuid}', 'bigint', true, NULL),
	('licence_utilisation', '{bigint, integer}', 'double precision', true, NULL),
	('licence_utilisation', '{text, integer}', 'double precision', true, NULL),
	('licence_utilisation', '{uuid, integer}', 'double precision', true, NULL),
	('utilisation', '{bigint, integer}', 'double precision', false, false),
	('user_windows', '{bigint, timestamp with time zone, timestamp with time zone, timestamp with time zone,
		timestamp with time zone, timestamp with time zone}', 'bigint[]', true, NULL),
	('user_windows', '{text, timestamp with time zone, timestamp with time zone, timestamp with time zone,
		timestamp with time zone, timestamp with time zone}', 'bigint[]', true, NULL),
	('user_windows', '{uuid, timestamp with time zone, timestamp with time zone, timestamp with time zone,
		timestamp with time zone, timestamp with time zone}', 'bigint[]', true, NULL),
	('nps', '{integer}', 'double precision', true, NULL),
	('auc', '{double precision, boolean}', 'double precision', true, NULL),
	('_activity_measures', '{timestamp with time zone, text, double precision, timestamp with time zone,
		timestamp with time zone, timestamp with time zone, interval[], text[]}', 'health_score._activity_measures',
		true, NULL);
ALTER TABLE primitive ADD COLUMN signature regprocedure;
UPDATE primitive
   SET signature = to_regprocedure(format('health_score.%I(%s)', name, array_to_string(args, ',')));

-- 19 primitives (refresh()'s internal _activity_measures among them): 4 tests each, plus 3 for each of the 6
-- plain functions and 3 for each of the 13 aggregates.
SELECT has_function('health_score', name, args) FROM primitive;
SELECT function_returns('health_score', name, args, returns) FROM primitive;
SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = signature), 's',
		  format('%s is PARALLEL SAFE', signature))
  FROM primitive;
SELECT is(obj_description(signature, 'pg_proc') IS NOT NULL, true, format('%s has a comment', signature))
  FROM primitive;

SELECT isnt_aggregate('health_score', name, args) FROM primitive WHERE NOT aggregate;
SELECT volatility_is('health_score', name, args, 'immutable') FROM primitive WHERE NOT aggregate;
SELECT CASE WHEN strict THEN is_strict('health_score', name, args)
			ELSE isnt_strict('health_score', name, args) END
  FROM primitive WHERE NOT aggregate;

SELECT is_aggregate('health_score', name, args) FROM primitive WHERE aggregate;
-- Every state is of a real type, which parallel workers and other nodes (Citus) pass as it is: nothing to
-- serialize. A by-value state (decayed_sum's float8, nps's bigint) starts from its initial value; a bytea one
-- starts NULL and is sized for hash aggregation by SSPACE.
SELECT is((SELECT CASE WHEN t.typbyval
		               THEN ARRAY[aggcombinefn <> 0, t.typtype <> 'p', agginitval IS NOT NULL, aggserialfn = 0]
		               ELSE ARRAY[aggcombinefn <> 0, aggtranstype = 'bytea'::regtype, aggtransspace > 0,
		                          aggserialfn = 0 AND aggdeserialfn = 0] END
			 FROM pg_aggregate JOIN pg_type t ON t.oid = aggtranstype WHERE aggfnoid = signature),
		  ARRAY[true, true, true, true],
		  format('%s has a combine function and a by-value state with an initial value or a bytea state with SSPACE, and nothing to serialize', signature))
  FROM primitive WHERE aggregate;
-- Which states an engine that ships partial states between nodes (Citus) can combine: those of a type that is
-- not a pseudo-type, which is every aggregate's. README, Scaling out, says which to use grouped by what.
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                  JOIN pg_type t ON t.oid = a.aggtranstype
                 WHERE p.pronamespace = 'health_score'::regnamespace AND t.typtype = 'p'$$,
                'no aggregate keeps its state in a pseudo-type such as internal');
-- Their markings are not consulted for parallel plans, but a worker runs them all the same.
SELECT is((SELECT bool_and(p.proparallel = 's')
			 FROM pg_aggregate a,
				  unnest(ARRAY[aggtransfn, aggfinalfn, aggcombinefn, aggserialfn, aggdeserialfn]) f
				  JOIN pg_proc p ON p.oid = f::oid
			WHERE a.aggfnoid = signature),
		  true, format('%s has PARALLEL SAFE support functions', signature))
  FROM primitive WHERE aggregate;

-- The hash-set aggregates share one state, so one combine function serves all six.
SELECT is((SELECT count(DISTINCT aggcombinefn)::int FROM pg_aggregate
			WHERE aggfnoid IN (SELECT signature FROM primitive
								WHERE name IN ('active_users', 'licence_utilisation'))),
		  1, 'active_users and licence_utilisation share their combine function');
SELECT is((SELECT count(*)::int FROM primitive WHERE signature IS NULL), 0, 'every primitive resolves');

SELECT * FROM finish();
ROLLBACK;
