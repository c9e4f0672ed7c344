-- Scores and bands: engagement_score, composite and band (src/score.c).

-- Not STRICT: NULL parameters are errors, a NULL decayed sum gives NULL.
CREATE FUNCTION health_score.engagement_score(decayed float8, expected_per_day float8, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_engagement_score'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION health_score.engagement_score(float8, float8, interval) IS
	'0-100: a decayed sum against the steady state of expected_per_day events a day, capped at 100';

CREATE FUNCTION health_score.composite(scores float8[], weights float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_composite'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;
COMMENT ON FUNCTION health_score.composite(float8[], float8[]) IS
	'weighted mean of the non-NULL scores, the weights re-normalised over them; NULL when none is present';

-- Not STRICT: NULL thresholds are errors, a NULL score gives NULL.
CREATE FUNCTION health_score.band(score float8, poor_below float8 DEFAULT 40, good_from float8 DEFAULT 70)
RETURNS health_score.health_band
AS 'MODULE_PATHNAME', 'hs_band'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION health_score.band(float8, float8, float8) IS
	'poor below poor_below, good from good_from, average between';
