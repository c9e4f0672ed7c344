-- What refresh() reads of each account's activity rows, in one pass (src/activity.c). Internal: refresh()
-- calls it with the bounds of one as_of; the public primitives compute the same measures one at a time.

CREATE TYPE health_score._activity_measures AS (
	events bigint,                  -- rows at or before as_of
	recent_events bigint,           -- of which after recent_from
	last_at timestamptz,            -- the latest of them (NULL without any)
	decayed float8[],               -- decayed_sum(occurred_at, coalesce(weight, 1), as_of, h) for each h of half_lives
	recent_features bigint,         -- bit i: key_features[i + 1] used after recent_from
	features_before_adopt bigint,   -- ... used at or before adopt_from
	features_since_adopt bigint     -- ... used after adopt_from
);

CREATE FUNCTION health_score._activity_measures_transition(bytea, timestamptz, text, float8, timestamptz,
														   timestamptz, timestamptz, interval[], text[])
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_activity_measures_transition_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._activity_measures_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_activity_measures_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score._activity_measures_final(bytea)
RETURNS health_score._activity_measures
AS 'MODULE_PATHNAME', 'hs_activity_measures_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE: the state with two half-lives (src/activity.c, ActivityState).
CREATE AGGREGATE health_score._activity_measures(occurred_at timestamptz, feature text, weight float8,
												 as_of timestamptz, recent_from timestamptz, adopt_from timestamptz,
												 half_lives interval[], key_features text[]) (
	SFUNC = health_score._activity_measures_transition,
	STYPE = bytea,
	SSPACE = 136,
	FINALFUNC = health_score._activity_measures_final,
	COMBINEFUNC = health_score._activity_measures_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._activity_measures(timestamptz, text, float8, timestamptz, timestamptz, timestamptz,
													  interval[], text[]) IS
	'internal to refresh(): counts, latest time, decayed sums and key-feature bits of the rows up to as_of';

-- Internal to the incremental refresh (src/carry.c): decayed sums taken at ref_at carried to as_of, plus
-- added (NULL decayed or added: zeros), one element per half-life.
CREATE FUNCTION health_score._carry_decayed(decayed float8[], ref_at timestamptz, as_of timestamptz,
											half_lives interval[], added float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'hs_carry_decayed'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Internal to the incremental refresh (src/times.c): for each distinct key of a group (a user, a key
-- feature), its first and last time at or before as_of, and its last time at or before before (NULL when
-- none), as arrays sorted by the keys' bytes.
CREATE TYPE health_score._key_times AS (
	keys text[],
	first_at timestamptz[],
	last_at timestamptz[],
	last_before timestamptz[]
);
CREATE FUNCTION health_score._key_times_transition(bytea, text, timestamptz, timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_key_times_transition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION health_score._key_times_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_key_times_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION health_score._key_times_final(bytea)
RETURNS health_score._key_times
AS 'MODULE_PATHNAME', 'hs_key_times_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- SSPACE: the state and a table of eight keys
CREATE AGGREGATE health_score._key_times(key text, occurred_at timestamptz, as_of timestamptz, before timestamptz) (
	SFUNC = health_score._key_times_transition,
	STYPE = bytea,
	SSPACE = 464,
	FINALFUNC = health_score._key_times_final,
	COMBINEFUNC = health_score._key_times_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score._key_times(text, timestamptz, timestamptz, timestamptz) IS
	'internal to refresh(): each distinct key''s first and last time up to as_of, and its last time up to before';

-- Internal to the incremental refresh (src/carry.c): how many of times are later than after.
CREATE FUNCTION health_score._count_after(times timestamptz[], after timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_count_after'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Internal to the incremental refresh (src/carry.c): the key features among the state's features as bits (bit
-- i for key_features[i + 1]): {used after used_after, first used at or before adopted_at, used after adopted_at}.
CREATE FUNCTION health_score._feature_bits(features text[], first_at timestamptz[], last_at timestamptz[],
										   key_features text[], used_after timestamptz, adopted_at timestamptz)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_feature_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
