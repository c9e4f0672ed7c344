-- Internal to the touchpoints stage (src/outreach.c): of a group's touchpoints, the outreach after the last
-- response, counted from each of two times, in one pass that parallel workers can share.

CREATE FUNCTION health_score._unanswered_transition(bytea, timestamptz, boolean, boolean, timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_unanswered_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._unanswered_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_unanswered_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._unanswered_final(bytea)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_unanswered_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE health_score._unanswered(occurred_at timestamptz, is_response boolean, is_outreach boolean,
										  from_a timestamptz, from_b timestamptz) (
	SFUNC = health_score._unanswered_transition,
	STYPE = bytea,
	SSPACE = 160,
	FINALFUNC = health_score._unanswered_final,
	COMBINEFUNC = health_score._unanswered_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._unanswered(timestamptz, boolean, boolean, timestamptz, timestamptz) IS
	'internal to refresh(): {outreach after from_a, outreach after from_b}, each after the group''s last response';
