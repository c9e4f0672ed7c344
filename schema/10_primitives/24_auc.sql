-- How well a score separates two outcomes: the auc aggregate (src/auc.c).

CREATE FUNCTION health_score.auc_transition(internal, float8, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_auc_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_auc_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_auc_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.auc_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_auc_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.auc_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_auc_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE: the state and a first array of 16 scores; the arrays grow with the group.
CREATE AGGREGATE health_score.auc(score float8, positive boolean) (
	SFUNC = health_score.auc_transition,
	STYPE = internal,
	SSPACE = 256,
	FINALFUNC = health_score.auc_final,
	COMBINEFUNC = health_score.auc_combine,
	SERIALFUNC = health_score.auc_serialize,
	DESERIALFUNC = health_score.auc_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.auc(float8, boolean) IS
	'ROC AUC: chance a positive row scores above a negative one, ties half; NULL unless both occur';
