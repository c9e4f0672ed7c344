-- Survey answers: the nps aggregate (src/survey.c).

-- The state is one bigint kept by value: answers x 2^32 + (promoters - detractors), which partial states
-- add up to (int8pl), in a parallel plan or on the nodes of a distributed engine. STRICT: a NULL rating
-- leaves it as it is.
CREATE FUNCTION health_score.nps_step(bigint, integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_nps_step'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION health_score.nps_value(bigint)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_nps_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE health_score.nps(rating integer) (
	SFUNC = health_score.nps_step,
	STYPE = bigint,
	INITCOND = '0',
	FINALFUNC = health_score.nps_value,
	COMBINEFUNC = pg_catalog.int8pl,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.nps(integer) IS
	'Net Promoter Score of 0-10 ratings: 100 x (share of 9-10 - share of 0-6); NULL without ratings';
