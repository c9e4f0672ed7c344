-- active_users, licence_utilisation and utilisation: exact distinct counts of users and users per seat.
SET search_path = health_score, public;

-- Distinct non-NULL keys, duplicates once, for each key type.
SELECT active_users(k) FROM (VALUES (1::bigint), (2), (2), (NULL), (3), (3), (3)) v(k);
SELECT active_users(k) FROM (VALUES ('-9223372036854775808'::bigint), (0), (9223372036854775807),
	('-9223372036854775808'), (9223372036854775807)) v(k);
SELECT active_users(k) FROM (VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
	('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'), (NULL),
	('00000000-0000-0000-0000-000000000000')) v(k);

-- Text keys are compared byte for byte: case matters, the empty string is a key, and a precomposed
-- "é" differs from "e" followed by a combining accent, as in any deterministic collation.
SELECT active_users(k) FROM (VALUES ('a'), ('A'), ('a'), (''), (''), (NULL), (U&'\00E9'), (U&'e\0301'),
	(U&'\00E9')) v(k);
-- Keys longer than 126 bytes are stored with a 4-byte header; they still compare by their bytes.
SELECT active_users(k)
  FROM (SELECT repeat('x', n) FROM generate_series(1, 300) n, generate_series(1, 3)) v(k);
SELECT active_users(k) FROM (SELECT repeat('y', 200) || (n % 7) FROM generate_series(1, 100) n) v(k);
-- Compressed and out-of-line (TOASTed) keys are compared by their contents.
CREATE TEMP TABLE long_keys (k text);
INSERT INTO long_keys SELECT repeat(md5((n % 5)::text), 1000 + (n % 5)) FROM generate_series(1, 20) n;
INSERT INTO long_keys SELECT string_agg(md5(n::text || i::text), '') FROM generate_series(1, 300) i,
	generate_series(1, 2) n GROUP BY n;
INSERT INTO long_keys SELECT string_agg(md5(1::text || i::text), '') FROM generate_series(1, 300) i;
SELECT active_users(k), count(DISTINCT k) FROM long_keys;

-- Nothing to count: 0, not NULL.
SELECT active_users(NULL::bigint), active_users(NULL::text), active_users(NULL::uuid);
SELECT active_users(n::bigint) FROM generate_series(1, 0) n;
SELECT active_users(n::text) FROM generate_series(1, 0) n;
SELECT active_users(NULL::uuid) FROM generate_series(1, 0) n;

-- Per group, including a group whose rows the FILTER removes and a group of NULL keys.
SELECT g, active_users(u) FILTER (WHERE u <> 99) AS users
  FROM (VALUES (1, 10::bigint), (1, 11), (1, 10), (2, 99), (3, NULL), (4, 10), (4, 99)) v(g, u)
 GROUP BY g ORDER BY g;

-- A group with many rows, hashed and sorted.
SELECT active_users(n % 100000), active_users((n % 100000)::text),
	   active_users(md5((n % 100000)::text)::uuid)
  FROM generate_series(1, 400000) n;

-- Against count(DISTINCT) on 300,000 random rows in 200 groups, with NULLs, for every key type.
SELECT setseed(0.42);
CREATE TEMP TABLE random_users AS
SELECT (random() * 199)::int AS g,
	   CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 40000)::bigint END AS id
  FROM generate_series(1, 300000);
ALTER TABLE random_users ADD COLUMN name text, ADD COLUMN uid uuid;
UPDATE random_users SET name = 'user-' || id || repeat('.', (id % 150)::int), uid = md5(id::text)::uuid;
ANALYZE random_users;
SELECT count(*) AS groups,
	   count(*) FILTER (WHERE by_id <> distinct_id) AS bigint_mismatches,
	   count(*) FILTER (WHERE by_name <> distinct_name) AS text_mismatches,
	   count(*) FILTER (WHERE by_uid <> distinct_uid) AS uuid_mismatches
  FROM (SELECT g, active_users(id) AS by_id, count(DISTINCT id) AS distinct_id,
			   active_users(name) AS by_name, count(DISTINCT name) AS distinct_name,
			   active_users(uid) AS by_uid, count(DISTINCT uid) AS distinct_uid
		  FROM random_users GROUP BY g) c;
SELECT active_users(id) = count(DISTINCT id) AS bigint_ok,
	   active_users(name) = count(DISTINCT name) AS text_ok,
	   active_users(uid) = count(DISTINCT uid) AS uuid_ok
  FROM random_users;

-- licence_utilisation: distinct users per seat; over 1 means more users than licences.
SELECT licence_utilisation(u, 10) FROM (VALUES (1::bigint), (2), (2), (3), (NULL)) v(u);
SELECT licence_utilisation(u::text, 10) FROM generate_series(1, 12) u;
SELECT licence_utilisation(md5(u::text)::uuid, 8) FROM generate_series(1, 4) u, generate_series(1, 2);
-- Rows without a user still count as rows: 0 users of 5 seats.
SELECT licence_utilisation(NULL::bigint, 5) FROM generate_series(1, 3);
-- NULL or 0 seats, or no rows at all: NULL.
SELECT licence_utilisation(u, NULL) FROM generate_series(1::bigint, 3) u;
SELECT licence_utilisation(u::text, 0) FROM generate_series(1, 3) u;
SELECT licence_utilisation(u, 10) FROM generate_series(1::bigint, 0) u;
-- Per account, seats from the accounts table.
SELECT a.id, a.seats, licence_utilisation(e.user_id, a.seats)
  FROM (VALUES (1, 4), (2, 2), (3, 0), (4, NULL)) a(id, seats)
  JOIN (VALUES (1, 100::bigint), (1, 101), (1, 100), (2, 200), (2, 201), (2, 202), (3, 300), (4, 400))
	   e(account, user_id)
	ON e.account = a.id
 GROUP BY a.id, a.seats ORDER BY a.id;
-- Negative seats are an error, as are seats that differ within a group; NULL is a value there.
SELECT licence_utilisation(u, -1) FROM generate_series(1::bigint, 3) u;
SELECT licence_utilisation(u, s) FROM (VALUES (1::bigint, 10), (2, 20)) v(u, s);
SELECT licence_utilisation(u, s) FROM (VALUES ('a', NULL), ('b', 50)) v(u, s);
SELECT licence_utilisation(u, s) FROM (VALUES (NULL::uuid, 50), (NULL, NULL)) v(u, s);

-- utilisation: the same rule for a count computed elsewhere.
SELECT utilisation(3, 10) AS "3/10", utilisation(12, 10) AS "12/10", utilisation(0, 10) AS "0/10",
	   utilisation(NULL, 10) AS "NULL/10", utilisation(3, NULL) AS "3/NULL", utilisation(3, 0) AS "3/0",
	   utilisation(0, 0) AS "0/0";
SELECT utilisation(3, -1);
SELECT utilisation(NULL, -1);
SELECT utilisation(-1, 10);
SELECT utilisation(-1, NULL);

-- user_windows: {recent, previous, new} from one set. as_of 2024-07-01, recent window (06-01, 07-01],
-- previous window (05-01, 06-01], new users first seen after 06-15.
-- user 1: recent and previous; 2: previous only; 3: recent, first seen 06-20 (new); 4: only after
-- as_of (ignored); 5: recent, first seen 06-10 (not new); 6: only before the previous window; NULLs skipped.
SELECT user_windows(u, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES (1::bigint, timestamptz '2024-06-30'), (1, '2024-05-15'), (2, '2024-05-20'), (3, '2024-06-20'),
			   (3, '2024-06-25'), (4, '2024-07-02'), (5, '2024-06-10'), (5, '2024-06-28'), (6, '2024-01-01'),
			   (NULL, '2024-06-30'), (7, NULL)) v(u, at);
-- Window bounds belong to the earlier side: a row at recent_from is previous, one at new_from is not new,
-- one at as_of is recent, one at previous_from is in neither window; -infinity is an old user.
SELECT user_windows(u, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES (1::bigint, timestamptz '2024-06-01'), (2, '2024-06-15'), (3, '2024-07-01'), (4, '2024-05-01'),
			   (5, '-infinity')) v(u, at);
-- Text and uuid keys; text compared byte for byte.
SELECT user_windows(u, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES ('a', timestamptz '2024-06-30'), ('A', '2024-06-30'), ('a', '2024-05-02'), ('b', '2024-05-02'))
	   v(u, at);
SELECT user_windows(md5(u::text)::uuid, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES (1, timestamptz '2024-06-30'), (1, '2024-06-29'), (2, '2024-06-02')) v(u, at);
-- Equal bounds are allowed: empty windows, and with new_from = as_of nobody is new.
SELECT user_windows(u, at, '2024-07-01', '2024-07-01', '2024-07-01', '2024-07-01')
  FROM (VALUES (1::bigint, timestamptz '2024-06-30')) v(u, at);
-- No rows, or rows without a key or a time: zeros.
SELECT user_windows(n::bigint, now(), '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM generate_series(1, 0) n;
SELECT user_windows(NULL::text, now(), '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15');
-- Per group.
SELECT g, user_windows(u, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES (1, 10::bigint, timestamptz '2024-06-30'), (1, 11, '2024-05-30'), (2, 20, '2024-06-20'),
			   (3, 30, '2024-08-01')) v(g, u, at)
 GROUP BY g ORDER BY g;
-- Against active_users with FILTERs on the 300,000 random rows, given times over 120 days.
ALTER TABLE random_users ADD COLUMN at timestamptz;
UPDATE random_users SET at = timestamptz '2024-07-01' - random() * interval '120 days' + interval '2 days';
SELECT count(*) AS groups, count(*) FILTER (WHERE by_id <> expected) AS bigint_mismatches,
	   count(*) FILTER (WHERE by_name <> expected) AS text_mismatches,
	   count(*) FILTER (WHERE by_uid <> expected) AS uuid_mismatches
  FROM (SELECT g, user_windows(id, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') AS by_id,
			   user_windows(name, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') AS by_name,
			   user_windows(uid, at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') AS by_uid,
			   ARRAY[active_users(id) FILTER (WHERE at > '2024-06-01' AND at <= '2024-07-01'),
					 active_users(id) FILTER (WHERE at > '2024-05-01' AND at <= '2024-06-01'),
					 active_users(id) FILTER (WHERE at <= '2024-07-01')
					 - active_users(id) FILTER (WHERE at <= '2024-06-15')] AS expected
		  FROM random_users GROUP BY g) c;
-- Bad bounds: NULL, infinite as_of, out of order, or differing within a group.
SELECT user_windows(1::bigint, now(), NULL, '2024-06-01', '2024-05-01', '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', NULL, '2024-05-01', '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', '2024-06-01', NULL, '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', '2024-06-01', '2024-05-01', NULL);
SELECT user_windows(1::bigint, now(), 'infinity', '2024-06-01', '2024-05-01', '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', '2024-07-02', '2024-05-01', '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', '2024-06-01', '2024-06-02', '2024-06-15');
SELECT user_windows(1::bigint, now(), '2024-07-01', '2024-06-01', '2024-05-01', '2024-07-02');
-- A row without a key still has its bounds checked.
SELECT user_windows(NULL::uuid, NULL, '2024-07-01', '2024-07-02', '2024-05-01', '2024-06-15');
SELECT user_windows(u, '2024-06-30', a, '2024-06-01', '2024-05-01', '2024-06-15')
  FROM (VALUES (1::bigint, timestamptz '2024-07-01'), (2, '2024-07-02')) v(u, a);
SELECT user_windows(u, '2024-06-30', '2024-07-01', r, '2024-05-01', '2024-06-15')
  FROM (VALUES ('x', timestamptz '2024-06-01'), ('y', '2024-06-02')) v(u, r);
SELECT user_windows(u, '2024-06-30', '2024-07-01', '2024-06-01', p, '2024-06-15')
  FROM (VALUES (1::bigint, timestamptz '2024-05-01'), (2, '2024-05-02')) v(u, p);
SELECT user_windows(u, '2024-06-30', '2024-07-01', '2024-06-01', '2024-05-01', n)
  FROM (VALUES (1::bigint, timestamptz '2024-06-15'), (2, '2024-06-16')) v(u, n);
