-- The activity stage's state between refreshes (30_activity.sql), from which it derives each account's
-- activity measures without reading the whole history again. Nothing else reads it. Unlogged: it is derived
-- data, rebuilt by a full pass whenever it is missing (after a crash PostgreSQL empties unlogged tables, and
-- a dump does not carry them); a refresh that fails leaves it as it was.

-- What the state was built from: the as_of it holds the activity up to, and the configuration it assumes
-- (key types, half-lives, key features, whether it counts events_90d, the activity sources, their
-- columns and the columns' types). One row, or none before the first refresh.
CREATE UNLOGGED TABLE health_score.activity_state (
	as_of timestamptz NOT NULL,
	signature jsonb NOT NULL,
	built_at timestamptz NOT NULL,
	built_as_of timestamptz NOT NULL
);

-- Per account, over its rows up to the state's as_of: counts, the decayed sum of each half-life at ref_at
-- (carried to any later time by decay_factor), and recheck_after, the time of its earliest row still ahead
-- (rows dated after as_of, or the log's rows of an account recomputed): from then on the account is
-- recomputed from its own rows. Its users and its key features, each with its first and last time, and for
-- users the last time at or before as_of - 30 days (a user was active in (as_of - 60 days, as_of - 30 days]
-- exactly when that time is after as_of - 60 days): the arrays of the _key_times aggregate, in key order.
CREATE UNLOGGED TABLE health_score.activity_state_account (
	account_id text PRIMARY KEY,
	ref_at timestamptz NOT NULL,
	events bigint NOT NULL,
	events_30 bigint NOT NULL,
	events_90 bigint,
	last_at timestamptz,
	decayed float8[] NOT NULL,
	recheck_after timestamptz,
	users text[] NOT NULL DEFAULT '{}',
	user_first timestamptz[] NOT NULL DEFAULT '{}',
	user_last timestamptz[] NOT NULL DEFAULT '{}',
	user_last_before timestamptz[] NOT NULL DEFAULT '{}',
	features text[] NOT NULL DEFAULT '{}',
	feature_first timestamptz[] NOT NULL DEFAULT '{}',
	feature_last timestamptz[] NOT NULL DEFAULT '{}'
) WITH (fillfactor = 70);
