/*
 * users.c
 *	  Exact counts of distinct users per group: active_users(key) and licence_utilisation(key, seats)
 *	  over bigint, text or uuid keys, and utilisation(active_users, seats), the same rule applied to a
 *	  count computed elsewhere.
 *
 * count(DISTINCT key) sorts each group's input and never runs in parallel. These aggregates keep the
 * group's keys in a hash set instead, which parallel workers build separately and the leader merges
 * after a round trip through bytea.
 *
 * One set serves all three key types and both aggregates. It is a small open-addressing table written
 * for this use rather than lib/simplehash.h: a hash aggregate touches the states of thousands of groups
 * at random, so cache misses decide the per-row cost, and here a small group's entries share the
 * state's allocation, with no separate table header to fetch on the way. An entry holds the key's 32-bit
 * hash and a 64-bit word: the bigint itself, or a pointer to the bytes of a uuid or text key copied into
 * the set's arena, so a row costs a hash, a probe and, for a new text or uuid key, one copy of its bytes.
 * Deserialized sets are not rebuilt: combine reads their keys straight from the serialized bytes.
 *
 * Text keys are equal when their bytes are: the equality of every deterministic collation; a
 * non-deterministic (case- or accent-insensitive) collation is not honoured.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/uuid.h"

#include "health_score.h"

typedef enum UserKeyKind
{
	USER_KEY_INT8 = 1,
	USER_KEY_TEXT = 2,
	USER_KEY_UUID = 3
} UserKeyKind;

/* What licence_utilisation has seen of seats; active_users leaves it at SEATS_UNSEEN. */
typedef enum SeatsSeen
{
	SEATS_UNSEEN = 0,
	SEATS_NULL = 1,
	SEATS_VALUE = 2
} SeatsSeen;

/* A key as it arrives: the bigint in word, or the bytes of a uuid or text at data. */
typedef struct UserKey
{
	uint64		word;
	const char *data;
	uint32		len;
} UserKey;

typedef struct UserEntry
{
	uint64		key;			/* the bigint, or a pointer into the arena */
	uint32		hash;			/* 0 marks an empty slot; a key hashing to 0 is stored as 1 */
} UserEntry;

/* Entries that live inside the state itself, for the many groups with a handful of users. */
#define USERSET_INLINE 8
/* Arena blocks grow from this size up to the maximum. */
#define ARENA_FIRST_BLOCK 256
#define ARENA_MAX_BLOCK (64 * 1024)

typedef struct UserSet
{
	uint8		kind;			/* UserKeyKind */
	uint8		seats_seen;		/* SeatsSeen */
	int32		seats;
	uint32		count;			/* keys in the set */
	uint32		mask;			/* number of slots - 1; a power of 2 less 1 */
	UserEntry  *entries;
	MemoryContext ctx;			/* holds the entries and the arena */
	char	   *arena_next;		/* free space in the newest arena block */
	Size		arena_left;
	Size		arena_block;	/* size of the newest block; the next is twice as large */

	/*
	 * A deserialized set keeps its keys in the serialized bytes (flat, count of them) until combine
	 * reads them once; it never gets entries.
	 */
	const char *flat;
	UserEntry	inline_entries[USERSET_INLINE];
} UserSet;

/* Murmur3's 64-bit finalizer (PostgreSQL 16's murmurhash64): every input bit reaches the low 32 bits. */
static inline uint32
hash_int8_key(uint64 h)
{
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

static inline uint32
user_key_hash(UserKeyKind kind, const UserKey *key)
{
	uint32		hash = kind == USER_KEY_INT8 ? hash_int8_key(key->word)
		: hash_bytes((const unsigned char *) key->data, key->len);

	return hash == 0 ? 1 : hash;
}

/* The key an entry holds, in the form keys arrive in. */
static inline UserKey
user_key_of(UserKeyKind kind, uint64 stored)
{
	UserKey		key = {stored, NULL, 0};

	if (kind == USER_KEY_UUID)
	{
		key.data = (const char *) (uintptr_t) stored;
		key.len = UUID_LEN;
	}
	else if (kind == USER_KEY_TEXT)
	{
		const struct varlena *text = (const struct varlena *) (uintptr_t) stored;

		key.data = VARDATA_ANY(text);
		key.len = VARSIZE_ANY_EXHDR(text);
	}
	return key;
}

static inline bool
user_key_equal(UserKeyKind kind, uint64 stored, const UserKey *key)
{
	UserKey		have;

	if (kind == USER_KEY_INT8)
		return stored == key->word;
	have = user_key_of(kind, stored);
	return have.len == key->len && memcmp(have.data, key->data, key->len) == 0;
}

static UserSet *
userset_create(MemoryContext ctx, UserKeyKind kind, uint64 capacity)
{
	UserSet    *set = MemoryContextAllocZero(ctx, sizeof(UserSet));
	uint64		slots = USERSET_INLINE;

	set->kind = kind;
	set->ctx = ctx;
	set->entries = set->inline_entries;
	/* Room for capacity keys at the 3/4 load factor, so that a merge into a new set never regrows. */
	while (slots * 3 / 4 < capacity)
		slots *= 2;
	if (slots > USERSET_INLINE)
		set->entries = MemoryContextAllocExtended(ctx, slots * sizeof(UserEntry),
												  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	set->mask = (uint32) (slots - 1);
	return set;
}

/* Doubles the slots; entries move by their stored hash without touching the keys. */
static void
userset_grow(UserSet *set)
{
	uint64		slots = ((uint64) set->mask + 1) * 2;
	UserEntry  *old = set->entries;
	UserEntry  *entries;

	if (slots > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct users in one group"),
				 errdetail("A group holds at most %u distinct keys.",
						   (uint32) ((UINT64CONST(1) << 31) / 4 * 3))));
	entries = MemoryContextAllocExtended(set->ctx, slots * sizeof(UserEntry),
										 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint64 i = 0; i <= set->mask; i++)
	{
		uint32		pos;

		if (old[i].hash == 0)
			continue;
		for (pos = old[i].hash & (slots - 1); entries[pos].hash != 0; pos = (pos + 1) & (slots - 1))
			;
		entries[pos] = old[i];
	}
	if (old != set->inline_entries)
		pfree(old);
	set->entries = entries;
	set->mask = (uint32) (slots - 1);
}

/* Room for size bytes in the arena, int-aligned when asked (a 4-byte varlena header needs it). */
static char *
userset_arena_alloc(UserSet *set, Size size, bool align)
{
	Size		pad = align ? INTALIGN((uintptr_t) set->arena_next) - (uintptr_t) set->arena_next : 0;
	char	   *result;

	if (set->arena_next == NULL || pad + size > set->arena_left)
	{
		set->arena_block = set->arena_block == 0 ? ARENA_FIRST_BLOCK
			: Min(set->arena_block * 2, ARENA_MAX_BLOCK);
		/* An oversized key gets a block of its own; the next block stays at the current size. */
		set->arena_left = Max(set->arena_block, size);
		set->arena_next = MemoryContextAllocHuge(set->ctx, set->arena_left);
		pad = 0;
	}
	result = set->arena_next + pad;
	set->arena_next += pad + size;
	set->arena_left -= pad + size;
	return result;
}

/* Copies a uuid or text key into the arena; returns the word an entry holds for it. */
static uint64
userset_store(UserSet *set, const UserKey *key)
{
	char	   *copy;

	if (set->kind == USER_KEY_UUID)
	{
		copy = userset_arena_alloc(set, UUID_LEN, false);
		memcpy(copy, key->data, UUID_LEN);
	}
	else if (key->len + VARHDRSZ_SHORT <= VARATT_SHORT_MAX)
	{
		/* Most user keys are short: a one-byte header saves three bytes a key and needs no alignment. */
		copy = userset_arena_alloc(set, key->len + VARHDRSZ_SHORT, false);
		SET_VARSIZE_SHORT(copy, key->len + VARHDRSZ_SHORT);
		memcpy(copy + VARHDRSZ_SHORT, key->data, key->len);
	}
	else
	{
		copy = userset_arena_alloc(set, key->len + VARHDRSZ, true);
		SET_VARSIZE(copy, key->len + VARHDRSZ);
		memcpy(copy + VARHDRSZ, key->data, key->len);
	}
	return (uint64) (uintptr_t) copy;
}

/* Adds a key unless the set has it; the set keeps its own copy of the key's bytes. */
static inline void
userset_add(UserSet *set, const UserKey *key, uint32 hash)
{
	uint32		pos;

	if (((uint64) set->count + 1) * 4 > ((uint64) set->mask + 1) * 3)
		userset_grow(set);
	for (pos = hash & set->mask; set->entries[pos].hash != 0; pos = (pos + 1) & set->mask)
	{
		if (set->entries[pos].hash == hash && user_key_equal(set->kind, set->entries[pos].key, key))
			return;
	}
	set->entries[pos].hash = hash;
	set->entries[pos].key = set->kind == USER_KEY_INT8 ? key->word : userset_store(set, key);
	set->count++;
}

static void
check_seats(int32 seats)
{
	if (seats < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seats must not be negative"),
				 errdetail("Got %d.", seats),
				 errhint("Pass the number of licences purchased: 0 or more, or NULL when unknown.")));
}

/* Records one row's seats (SEATS_NULL or SEATS_VALUE): a group must carry the same seats throughout. */
static void
userset_note_seats(UserSet *set, SeatsSeen seen, int32 seats)
{
	if (set->seats_seen == SEATS_UNSEEN)
	{
		set->seats_seen = seen;
		set->seats = seats;
	}
	else if (set->seats_seen != seen || set->seats != seats)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seats must be the same for every row of a group"),
				 errdetail("Got %s and %s.",
						   set->seats_seen == SEATS_NULL ? "NULL" : psprintf("%d", set->seats),
						   seen == SEATS_NULL ? "NULL" : psprintf("%d", seats)),
				 errhint("Take seats from the accounts table and group by account, or aggregate the users "
						 "with active_users and pass the count to utilisation.")));
}

/*
 * The transition shared by every key type and both aggregates. kind and with_seats are constants at
 * each call site, so the compiler specialises this for each one.
 */
static inline Datum
users_trans(FunctionCallInfo fcinfo, UserKeyKind kind, bool with_seats)
{
	MemoryContext aggctx = hs_agg_context(fcinfo, with_seats ? "licence_utilisation" : "active_users");
	UserSet    *set = PG_ARGISNULL(0) ? NULL : (UserSet *) PG_GETARG_POINTER(0);
	UserKey		key = {0, NULL, 0};

	/* Only licence_utilisation needs a state for a row without a key: its seats still count. */
	if (set == NULL)
	{
		if (PG_ARGISNULL(1) && !with_seats)
			PG_RETURN_NULL();
		set = userset_create(aggctx, kind, 0);
	}

	if (with_seats)
	{
		if (PG_ARGISNULL(2))
			userset_note_seats(set, SEATS_NULL, 0);
		else
		{
			check_seats(PG_GETARG_INT32(2));
			userset_note_seats(set, SEATS_VALUE, PG_GETARG_INT32(2));
		}
	}

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(set);

	if (kind == USER_KEY_INT8)
		key.word = (uint64) PG_GETARG_INT64(1);
	else if (kind == USER_KEY_UUID)
	{
		key.data = (const char *) PG_GETARG_UUID_P(1)->data;
		key.len = UUID_LEN;
	}
	else
	{
		/* Usually no copy: a short value keeps its one-byte header, which VARDATA_ANY reads in place. */
		struct varlena *text = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));

		key.data = VARDATA_ANY(text);
		key.len = VARSIZE_ANY_EXHDR(text);
	}
	userset_add(set, &key, user_key_hash(kind, &key));
	PG_RETURN_POINTER(set);
}

/* active_users(bigint) transition: adds the key. */
PG_FUNCTION_INFO_V1(hs_active_users_trans_int8);
Datum
hs_active_users_trans_int8(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_INT8, false);
}

/* active_users(text) transition: adds the key. */
PG_FUNCTION_INFO_V1(hs_active_users_trans_text);
Datum
hs_active_users_trans_text(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_TEXT, false);
}

/* active_users(uuid) transition: adds the key. */
PG_FUNCTION_INFO_V1(hs_active_users_trans_uuid);
Datum
hs_active_users_trans_uuid(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_UUID, false);
}

/* licence_utilisation(bigint, integer) transition: checks seats, adds the key. */
PG_FUNCTION_INFO_V1(hs_licence_utilisation_trans_int8);
Datum
hs_licence_utilisation_trans_int8(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_INT8, true);
}

/* licence_utilisation(text, integer) transition: checks seats, adds the key. */
PG_FUNCTION_INFO_V1(hs_licence_utilisation_trans_text);
Datum
hs_licence_utilisation_trans_text(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_TEXT, true);
}

/* licence_utilisation(uuid, integer) transition: checks seats, adds the key. */
PG_FUNCTION_INFO_V1(hs_licence_utilisation_trans_uuid);
Datum
hs_licence_utilisation_trans_uuid(PG_FUNCTION_ARGS)
{
	return users_trans(fcinfo, USER_KEY_UUID, true);
}

/*
 * Reads the next key of a serialized set (hs_users_deserialize has checked every length), and moves
 * *cursor past it.
 */
static UserKey
flat_key_next(UserKeyKind kind, const char **cursor)
{
	UserKey		key = {0, NULL, 0};
	uint32		len;

	switch (kind)
	{
		case USER_KEY_INT8:
			memcpy(&key.word, *cursor, 8);
			key.word = pg_ntoh64(key.word);
			*cursor += 8;
			break;
		case USER_KEY_UUID:
			key.data = *cursor;
			key.len = UUID_LEN;
			*cursor += UUID_LEN;
			break;
		case USER_KEY_TEXT:
			memcpy(&len, *cursor, 4);
			key.len = pg_ntoh32(len);
			key.data = *cursor + 4;
			*cursor += 4 + key.len;
			break;
	}
	return key;
}

/* Combine for both aggregates: merges the second set into the first, or into a new set in aggctx. */
PG_FUNCTION_INFO_V1(hs_users_combine);
Datum
hs_users_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = hs_agg_context(fcinfo, "hs_users_combine");
	UserSet    *set = PG_ARGISNULL(0) ? NULL : (UserSet *) PG_GETARG_POINTER(0);
	UserSet    *other = PG_ARGISNULL(1) ? NULL : (UserSet *) PG_GETARG_POINTER(1);
	UserKeyKind kind;

	if (other == NULL)
		return hs_return_state(fcinfo, set);
	/* other may live in a short-lived context (a deserialized state): copy it rather than keep it. */
	if (set == NULL)
		set = userset_create(aggctx, other->kind, other->count);
	else if (set->kind != other->kind)
		elog(ERROR, "cannot combine user sets of different key types");
	kind = set->kind;

	if (other->seats_seen != SEATS_UNSEEN)
		userset_note_seats(set, other->seats_seen, other->seats);

	if (other->flat != NULL)
	{
		const char *cursor = other->flat;

		for (uint32 i = 0; i < other->count; i++)
		{
			UserKey		key = flat_key_next(kind, &cursor);

			userset_add(set, &key, user_key_hash(kind, &key));
		}
	}
	else
	{
		for (uint64 i = 0; i <= other->mask; i++)
		{
			UserKey		key;

			if (other->entries[i].hash == 0)
				continue;
			key = user_key_of(kind, other->entries[i].key);
			userset_add(set, &key, other->entries[i].hash);
		}
	}
	PG_RETURN_POINTER(set);
}

/*
 * Serialize for both aggregates. Layout: kind (1 byte), seats seen (1 byte), seats (int32), key count
 * (int32), then each key: a bigint as int64, a uuid as 16 bytes, a text as int32 length and its bytes.
 */
PG_FUNCTION_INFO_V1(hs_users_serialize);
Datum
hs_users_serialize(PG_FUNCTION_ARGS)
{
	UserSet    *set = (UserSet *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	Assert(set->flat == NULL);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, set->kind);
	pq_sendbyte(&buf, set->seats_seen);
	pq_sendint32(&buf, set->seats);
	pq_sendint32(&buf, set->count);
	for (uint64 i = 0; i <= set->mask; i++)
	{
		UserKey		key;

		if (set->entries[i].hash == 0)
			continue;
		key = user_key_of(set->kind, set->entries[i].key);
		if (set->kind == USER_KEY_INT8)
			pq_sendint64(&buf, key.word);
		else
		{
			if (set->kind == USER_KEY_TEXT)
				pq_sendint32(&buf, key.len);
			pq_sendbytes(&buf, key.data, key.len);
		}
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Deserialize for both aggregates: checks the header and every key's length, rejecting anything
 * serialize could not have written, and leaves the keys where they are for combine to read.
 */
PG_FUNCTION_INFO_V1(hs_users_deserialize);
Datum
hs_users_deserialize(PG_FUNCTION_ARGS)
{
	static const char aggname[] = "user set";
	StringInfoData buf;
	UserSet    *set = palloc0(sizeof(UserSet));
	int			kind;
	int			seats_seen;

	hs_state_begin(&buf, PG_GETARG_BYTEA_PP(0));
	hs_state_need(&buf, 1 + 1 + 4 + 4, aggname);
	kind = pq_getmsgbyte(&buf);
	seats_seen = pq_getmsgbyte(&buf);
	set->seats = (int32) pq_getmsgint(&buf, 4);
	set->count = pq_getmsgint(&buf, 4);
	if (kind != USER_KEY_INT8 && kind != USER_KEY_TEXT && kind != USER_KEY_UUID)
		hs_state_malformed(aggname, "Unknown key type.");
	if (seats_seen != SEATS_UNSEEN && seats_seen != SEATS_NULL && seats_seen != SEATS_VALUE)
		hs_state_malformed(aggname, "Unknown seats marker.");
	if (set->seats < 0 || (seats_seen != SEATS_VALUE && set->seats != 0))
		hs_state_malformed(aggname, "Invalid seats.");
	set->kind = kind;
	set->seats_seen = seats_seen;
	set->flat = buf.data + buf.cursor;

	switch (set->kind)
	{
		case USER_KEY_INT8:
			hs_state_need(&buf, (uint64) set->count * 8, aggname);
			buf.cursor += set->count * 8;
			break;
		case USER_KEY_UUID:
			hs_state_need(&buf, (uint64) set->count * UUID_LEN, aggname);
			buf.cursor += set->count * UUID_LEN;
			break;
		case USER_KEY_TEXT:
			for (uint32 i = 0; i < set->count; i++)
			{
				int32		len;

				hs_state_need(&buf, 4, aggname);
				len = (int32) pq_getmsgint(&buf, 4);
				if (len < 0)
					hs_state_malformed(aggname, "Negative key length.");
				hs_state_need(&buf, len, aggname);
				buf.cursor += len;
			}
			break;
	}
	hs_state_end(&buf, aggname);
	PG_RETURN_POINTER(set);
}

/* active_users final: the number of distinct keys, 0 when there were none. */
PG_FUNCTION_INFO_V1(hs_active_users_final);
Datum
hs_active_users_final(PG_FUNCTION_ARGS)
{
	UserSet    *set = PG_ARGISNULL(0) ? NULL : (UserSet *) PG_GETARG_POINTER(0);

	PG_RETURN_INT64(set == NULL ? 0 : (int64) set->count);
}

/* licence_utilisation final: distinct keys per seat; NULL without rows, or with NULL or 0 seats. */
PG_FUNCTION_INFO_V1(hs_licence_utilisation_final);
Datum
hs_licence_utilisation_final(PG_FUNCTION_ARGS)
{
	UserSet    *set = PG_ARGISNULL(0) ? NULL : (UserSet *) PG_GETARG_POINTER(0);

	if (set == NULL || set->seats_seen != SEATS_VALUE || set->seats == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((float8) set->count / set->seats);
}

/*
 * utilisation(active_users, seats): the licence_utilisation rule for a count computed elsewhere. Not
 * strict, so that a negative argument is an error even when the other one is NULL.
 */
PG_FUNCTION_INFO_V1(hs_utilisation);
Datum
hs_utilisation(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(1))
		check_seats(PG_GETARG_INT32(1));
	if (!PG_ARGISNULL(0) && PG_GETARG_INT64(0) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("active_users must not be negative"),
				 errdetail("Got " INT64_FORMAT ".", PG_GETARG_INT64(0)),
				 errhint("Pass a count of users: 0 or more, or NULL when unknown.")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_GETARG_INT32(1) == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((float8) PG_GETARG_INT64(0) / PG_GETARG_INT32(1));
}
