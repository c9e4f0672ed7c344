-- Internal to the touchpoints stage (src/outreach.c): of a group's touchpoints, the outreach after the last
-- response, counted from each of two times, in one pass that parallel workers can share.

CREATE FUNCTION health_score._unanswered_transition(internal, timestamptz, boolean, boolean, timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_unanswered_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._unanswered_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_unanswered_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._unanswered_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_unanswered_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score._unanswered_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_unanswered_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score._unanswered_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_unanswered_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE health_score._unanswered(occurred_at timestamptz, is_response boolean, is_outreach boolean,
										  from_a timestamptz, from_b timestamptz) (
	SFUNC = health_score._unanswered_transition,
	STYPE = internal,
	FINALFUNC = health_score._unanswered_final,
	COMBINEFUNC = health_score._unanswered_combine,
	SERIALFUNC = health_score._unanswered_serialize,
	DESERIALFUNC = health_score._unanswered_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._unanswered(timestamptz, boolean, boolean, timestamptz, timestamptz) IS
	'internal to refresh(): {outreach after from_a, outreach after from_b}, each after the group''s last response';
