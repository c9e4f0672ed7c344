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
-- recomputed from its own rows.
CREATE UNLOGGED TABLE health_score.activity_state_account (
	account_id text PRIMARY KEY,
	ref_at timestamptz NOT NULL,
	events bigint NOT NULL,
	events_30 bigint NOT NULL,
	events_90 bigint,
	last_at timestamptz,
	decayed float8[] NOT NULL,
	recheck_after timestamptz
) WITH (fillfactor = 70);

-- Per account and user: first and last seen, and the last time seen at or before as_of - 30 days (a user
-- was active in (as_of - 60 days, as_of - 30 days] exactly when that time is after as_of - 60 days).
-- (No index, here nor on the features: every refresh reads them whole, a full pass writes them in one go,
-- and the few rows a refresh changes are matched by hashing them.)
CREATE UNLOGGED TABLE health_score.activity_state_user (
	account_id text NOT NULL,
	user_id text NOT NULL,
	first_at timestamptz,
	last_at timestamptz,
	last_before_recent timestamptz
);

-- Per account and key feature (its position in the run's sorted key features, from 0): first and last use.
CREATE UNLOGGED TABLE health_score.activity_state_feature (
	account_id text NOT NULL,
	feature integer NOT NULL,
	first_at timestamptz,
	last_at timestamptz
);
