-- Exponentially decayed sums: the decayed_sum aggregates and decay_factor (src/decay.c).

-- The state is the sum itself, a float8 kept by value (src/decay.c): partial sums combine by float8pl, in
-- a parallel plan or on the nodes of a distributed engine, and there is nothing to serialize.
-- Not STRICT: a NULL as_of or half_life is an error even on a row that is skipped.
CREATE FUNCTION health_score.decayed_sum_step(float8, timestamptz, float8, timestamptz, interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_step'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.decayed_sum_step(float8, timestamptz, timestamptz, interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_step_unweighted'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.decayed_sum_value(float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, weight float8, as_of timestamptz,
										  half_life interval) (
	SFUNC = health_score.decayed_sum_step,
	STYPE = float8,
	INITCOND = '0',
	FINALFUNC = health_score.decayed_sum_value,
	COMBINEFUNC = pg_catalog.float8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.decayed_sum(timestamptz, float8, timestamptz, interval) IS
	'sum of weight * 2^(-(as_of - occurred_at) / half_life) over the rows that occurred by as_of; 0 without any';

CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, as_of timestamptz, half_life interval) (
	SFUNC = health_score.decayed_sum_step,
	STYPE = float8,
	INITCOND = '0',
	FINALFUNC = health_score.decayed_sum_value,
	COMBINEFUNC = pg_catalog.float8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.decayed_sum(timestamptz, timestamptz, interval) IS
	'sum of 2^(-(as_of - occurred_at) / half_life) over the rows that occurred by as_of; 0 without any';

-- Not STRICT: a NULL half_life is an error, a NULL elapsed gives NULL.
CREATE FUNCTION health_score.decay_factor(elapsed interval, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decay_factor'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION health_score.decay_factor(interval, interval) IS
	'2^(-elapsed / half_life): multiply a decayed sum by it to carry the sum elapsed later';
