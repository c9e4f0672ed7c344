-- Distinct users and licence utilisation: active_users, licence_utilisation and utilisation (src/users.c).
-- One hash-set state serves every key type and both aggregates; the transition picks the key type.

CREATE FUNCTION health_score.active_users_transition(bytea, bigint)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(bytea, text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.active_users_transition(bytea, uuid)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_active_users_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, bigint, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, text, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_transition(bytea, uuid, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.users_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_users_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: a group without keys has no state and counts 0, not NULL.
CREATE FUNCTION health_score.active_users_final(bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hs_active_users_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.licence_utilisation_final(bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'hs_licence_utilisation_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- SSPACE: the state, its table of 16 entries and a first arena block, about 0.8 kB; larger groups grow.
CREATE AGGREGATE health_score.active_users(user_key bigint) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(bigint) IS
	'exact number of distinct non-NULL user keys; 0 without any';

CREATE AGGREGATE health_score.active_users(user_key text) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(text) IS
	'exact number of distinct non-NULL user keys, compared byte for byte; 0 without any';

CREATE AGGREGATE health_score.active_users(user_key uuid) (
	SFUNC = health_score.active_users_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.active_users_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.active_users(uuid) IS
	'exact number of distinct non-NULL user keys; 0 without any';

CREATE AGGREGATE health_score.licence_utilisation(user_key bigint, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(bigint, integer) IS
	'distinct non-NULL user keys per seat; NULL without rows or with NULL or 0 seats; seats fixed per group';

CREATE AGGREGATE health_score.licence_utilisation(user_key text, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.licence_utilisation(text, integer) IS
	'distinct non-NULL keys, compared bytewise, per seat; NULL without rows or with NULL/0 seats; seats fixed';

CREATE AGGREGATE health_score.licence_utilisation(user_key uuid, seats integer) (
	SFUNC = health_score.licence_utilisation_transition,
	STYPE = bytea,
	SSPACE = 832,
	FINALFUNC = health_score.licence_utilisation_final,
	COMBINEFUNC = health_score.users_combine,
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
CREATE FUNCTION health_score.user_windows_transition(bytea, bigint, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_int8_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(bytea, text, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_text_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_transition(bytea, uuid, timestamptz, timestamptz, timestamptz,
													 timestamptz, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_trans_uuid_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION health_score.user_windows_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hs_user_windows_combine_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: a group without rows counts {0,0,0}, not NULL.
CREATE FUNCTION health_score.user_windows_final(bytea)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'hs_user_windows_final_bytea'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE health_score.user_windows(user_key bigint, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';

CREATE AGGREGATE health_score.user_windows(user_key text, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users (bytewise) in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';

CREATE AGGREGATE health_score.user_windows(user_key uuid, occurred_at timestamptz, as_of timestamptz,
										   recent_from timestamptz, previous_from timestamptz,
										   new_from timestamptz) (
	SFUNC = health_score.user_windows_transition,
	STYPE = bytea,
	SSPACE = 864,
	FINALFUNC = health_score.user_windows_final,
	COMBINEFUNC = health_score.user_windows_combine,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.user_windows(uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'{recent, previous, new}: distinct users seen in (recent_from, as_of], in (previous_from, recent_from], first seen after new_from';
