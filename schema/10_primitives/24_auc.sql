-- How well a score separates two outcomes: the auc aggregate (src/auc.c).

CREATE FUNCTION health_score.auc_transition(bytea, float8, boolean)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_auc_trans_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_auc_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.auc_final(bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_auc_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE: the state and a first array of 16 scores; the arrays grow with the group.
CREATE AGGREGATE health_score.auc(score float8, positive boolean) (
	SFUNC = health_score.auc_transition,
	STYPE = bytea,
	SSPACE = 320,
	FINALFUNC = health_score.auc_final,
	COMBINEFUNC = health_score.auc_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.auc(float8, boolean) IS
	'ROC AUC: chance a positive row scores above a negative one, ties half; NULL unless both occur';
