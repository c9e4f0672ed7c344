-- Exponentially decayed sums: the decayed_sum aggregates and decay_factor (src/decay.c).

CREATE FUNCTION health_score.decayed_sum_transition(internal, timestamptz, float8, timestamptz, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_decayed_sum_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.decayed_sum_transition(internal, timestamptz, timestamptz, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_decayed_sum_transition_unweighted'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.decayed_sum_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_decayed_sum_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.decayed_sum_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_decayed_sum_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.decayed_sum_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_decayed_sum_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

-- Not STRICT: a group without rows has no state and sums to 0, not NULL.
CREATE FUNCTION health_score.decayed_sum_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_decayed_sum_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE is sizeof(DecayState) in src/decay.c (48 bytes).
CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, weight float8, as_of timestamptz,
										  half_life interval) (
	SFUNC = health_score.decayed_sum_transition,
	STYPE = internal,
	SSPACE = 48,
	FINALFUNC = health_score.decayed_sum_final,
	COMBINEFUNC = health_score.decayed_sum_combine,
	SERIALFUNC = health_score.decayed_sum_serialize,
	DESERIALFUNC = health_score.decayed_sum_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.decayed_sum(timestamptz, float8, timestamptz, interval) IS
	'sum of weight * 2^(-(as_of - occurred_at) / half_life) over the rows that occurred by as_of; 0 without any';

CREATE AGGREGATE health_score.decayed_sum(occurred_at timestamptz, as_of timestamptz, half_life interval) (
	SFUNC = health_score.decayed_sum_transition,
	STYPE = internal,
	SSPACE = 48,
	FINALFUNC = health_score.decayed_sum_final,
	COMBINEFUNC = health_score.decayed_sum_combine,
	SERIALFUNC = health_score.decayed_sum_serialize,
	DESERIALFUNC = health_score.decayed_sum_deserialize,
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
