-- Distinct users and licence utilisation: active_users, licence_utilisation and utilisation (src/users.c).
-- One hash-set state serves every key type and both aggregates; the transition picks the key type.

CREATE FUNCTION health_score.active_users_transition(internal, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_active_users_trans_int8'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_active_users_trans_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(internal, uuid)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_active_users_trans_uuid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(internal, bigint, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_int8'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(internal, text, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(internal, uuid, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_uuid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.users_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_users_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.users_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_users_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.users_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_users_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

-- Not STRICT: a group without keys has no state and counts 0, not NULL.
CREATE FUNCTION health_score.active_users_final(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_active_users_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE: the state, its table of 16 entries and a first arena block, about 0.7 kB; larger groups grow.
CREATE AGGREGATE health_score.active_users(user_key bigint) (
	SFUNC = health_score.active_users_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(bigint) IS
	'exact number of distinct non-NULL user keys; 0 without any';

CREATE AGGREGATE health_score.active_users(user_key text) (
	SFUNC = health_score.active_users_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(text) IS
	'exact number of distinct non-NULL user keys, compared byte for byte; 0 without any';

CREATE AGGREGATE health_score.active_users(user_key uuid) (
	SFUNC = health_score.active_users_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(uuid) IS
	'exact number of distinct non-NULL user keys; 0 without any';

CREATE AGGREGATE health_score.licence_utilisation(user_key bigint, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(bigint, integer) IS
	'distinct non-NULL user keys per seat; NULL without rows or with NULL or 0 seats; seats fixed per group';

CREATE AGGREGATE health_score.licence_utilisation(user_key text, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(text, integer) IS
	'distinct non-NULL keys, compared bytewise, per seat; NULL without rows or with NULL/0 seats; seats fixed';

CREATE AGGREGATE health_score.licence_utilisation(user_key uuid, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = internal,
	SSPACE = 768,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	SERIALFUNC = health_score.users_serialize,
	DESERIALFUNC = health_score.users_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(uuid, integer) IS
	'distinct non-NULL user keys per seat; NULL without rows or with NULL or 0 seats; seats fixed per group';

-- Not STRICT: a negative argument is an error even when the other one is NULL.
CREATE FUNCTION health_score.utilisation(active_users bigint, seats integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_utilisation'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION health_score.utilisation(bigint, integer) IS
	'active_users / seats; NULL when either is NULL or seats is 0; over 1 means more users than licences';

-- user_windows: recent, previous and new users of a group from one set (src/users.c).
CREATE FUNCTION health_score.user_windows_transition(internal, bigint, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_int8'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(internal, text, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(internal, uuid, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_uuid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_user_windows_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_serialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

CREATE FUNCTION health_score.user_windows_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'hs_user_windows_deserialize'
LANGUAGE C IMMUTABLE PARALLEL SAFE STRICT;

-- Not STRICT: a group without rows counts {0,0,0}, not NULL.
CREATE FUNCTION health_score.user_windows_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_user_windows_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE health_score.user_windows(user_key bigint, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = internal,
	SSPACE = 800,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	SERIALFUNC = health_score.user_windows_serialize,
	DESERIALFUNC = health_score.user_windows_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';

CREATE AGGREGATE health_score.user_windows(user_key text, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = internal,
	SSPACE = 800,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	SERIALFUNC = health_score.user_windows_serialize,
	DESERIALFUNC = health_score.user_windows_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users (bytewise) in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';

CREATE AGGREGATE health_score.user_windows(user_key uuid, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = internal,
	SSPACE = 800,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	SERIALFUNC = health_score.user_windows_serialize,
	DESERIALFUNC = health_score.user_windows_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';
