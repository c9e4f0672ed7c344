-- Survey answers: the nps aggregate (src/survey.c).

CREATE FUNCTION health_score.nps_transition(internal, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_nps_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.nps_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_nps_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.nps_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_nps_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.nps_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_nps_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.nps_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_nps_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE is sizeof(NpsState) in src/survey.c.
CREATE AGGREGATE health_score.nps(rating integer) (
	SFUNC = health_score.nps_transition,
	STYPE = internal,
	SSPACE = 24,
	FINALFUNC = health_score.nps_final,
	COMBINEFUNC = health_score.nps_combine,
	SERIALFUNC = health_score.nps_serialize,
	DESERIALFUNC = health_score.nps_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.nps(integer) IS
	'Net Promoter Score of 0-10 ratings: 100 x (share of 9-10 - share of 0-6); NULL without ratings';
