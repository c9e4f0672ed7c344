/*
 * users.c
 *	  Exact counts of distinct users per group: active_users(key) and licence_utilisation(key, seats)
 *	  over bigint, text or uuid keys, utilisation(active_users, seats), the same rule applied to a
 *	  count computed elsewhere, and user_windows(key, occurred_at, ...), the recent, previous and new
 *	  users of a group from one set.
 *
 * count(DISTINCT key) sorts each group's input and never runs in parallel. These aggregates keep the
 * group's keys in a hash set instead, which parallel workers (or the nodes of a distributed engine)
 * build separately and send as bytea, the state type (state.c), to be merged.
 *
 * One set serves all three key types and both aggregates. It is a small open-addressing table written
 * for this use rather than lib/simplehash.h: a hash aggregate touches the states of thousands of groups
 * at random, so cache misses decide the per-row cost, and here a small group's entries share the
 * state's allocation, with no separate table header to fetch on the way. An entry holds the key's 32-bit
 * hash and a 64-bit word: the bigint itself, or a pointer to the bytes of a uuid or text key copied into
 * the set's arena, so a row costs a hash, a probe and, for a new text or uuid key, one copy of its bytes.
 * A set read from its flat form is not rebuilt: combine reads its keys straight from the bytes.
 *
 * Text keys are equal when their bytes are: the equality of every deterministic collation; a
 * non-deterministic (case- or accent-insensitive) collation is not honoured.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/timestamp.h"
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
	uint32		marks;			/* user_windows' UserMark bits; fills what would be padding */
} UserEntry;

/* What user_windows has seen of a user, OR-ed over the user's rows. */
typedef enum UserMark
{
	MARK_RECENT = 1,			/* a row in (recent_from, as_of] */
	MARK_PREVIOUS = 2,			/* a row in (previous_from, recent_from] */
	MARK_OLD = 4				/* a row at or before new_from: not a new user */
} UserMark;

#define MARK_ALL (MARK_RECENT | MARK_PREVIOUS | MARK_OLD)

/* Entries that live inside the state itself, for the many groups with a handful of users. */
#define USERSET_INLINE 8
/* Arena blocks grow from this size up to the maximum. */
#define ARENA_FIRST_BLOCK 256
#define ARENA_MAX_BLOCK (64 * 1024)

typedef struct UserSet
{
	HsState		hs;				/* first: the state is an expanded object */
	/* What every row reads, next to the header, which every row reads too. */
	UserEntry  *entries;
	uint32		count;			/* keys in the set */
	uint32		mask;			/* number of slots - 1; a power of 2 less 1 */
	uint8		kind;			/* UserKeyKind */
	uint8		seats_seen;		/* SeatsSeen */
	int32		seats;
	MemoryContext ctx;			/* holds the entries and the arena */
	char	   *arena_next;		/* free space in the newest arena block */
	Size		arena_left;
	Size		arena_block;	/* size of the newest block; the next is twice as large */

	/*
	 * A set read from its flat form keeps its keys in those bytes (flat, count of them) until combine
	 * or a final function reads them once; it never gets entries.
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

static const HsStateKind users_state;
static const HsStateKind windows_state;

/* Sets up a zeroed set whose later allocations go to ctx. */
static void
userset_init(UserSet *set, MemoryContext ctx, UserKeyKind kind, uint64 capacity)
{
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
}

/*
 * A new state of the given kind (users_state or windows_state): size is sizeof(UserSet), or more for a
 * state that embeds the set as its first member.
 */
static UserSet *
userset_new(FunctionCallInfo fcinfo, const HsStateKind *state_kind, Size size, UserKeyKind kind,
			uint64 capacity)
{
	MemoryContext ctx;
	UserSet    *set = hs_state_alloc(fcinfo, state_kind, size, &ctx);

	userset_init(set, ctx, kind, capacity);
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
userset_store(UserSet *set, UserKeyKind kind, const UserKey *key)
{
	char	   *copy;

	if (kind == USER_KEY_UUID)
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

/*
 * Adds a key unless the set has it, and ORs marks into its entry; the set keeps its own copy of the
 * key's bytes. kind is the set's, passed so that a row reads no more of the state than it must.
 */
static inline void
userset_add(UserSet *set, UserKeyKind kind, const UserKey *key, uint32 hash, uint32 marks)
{
	uint32		pos;

	if (((uint64) set->count + 1) * 4 > ((uint64) set->mask + 1) * 3)
		userset_grow(set);
	for (pos = hash & set->mask; set->entries[pos].hash != 0; pos = (pos + 1) & set->mask)
	{
		if (set->entries[pos].hash == hash && user_key_equal(kind, set->entries[pos].key, key))
		{
			set->entries[pos].marks |= marks;
			return;
		}
	}
	set->entries[pos].hash = hash;
	set->entries[pos].marks = marks;
	set->entries[pos].key = kind == USER_KEY_INT8 ? key->word : userset_store(set, kind, key);
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

/* The non-NULL key in argument argno. */
static inline UserKey
user_key_arg(FunctionCallInfo fcinfo, UserKeyKind kind, int argno)
{
	UserKey		key = {0, NULL, 0};

	if (kind == USER_KEY_INT8)
		key.word = (uint64) PG_GETARG_INT64(argno);
	else if (kind == USER_KEY_UUID)
	{
		key.data = (const char *) PG_GETARG_UUID_P(argno)->data;
		key.len = UUID_LEN;
	}
	else
	{
		/* Usually no copy: a short value keeps its one-byte header, which VARDATA_ANY reads in place. */
		struct varlena *text = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(argno));

		key.data = VARDATA_ANY(text);
		key.len = VARSIZE_ANY_EXHDR(text);
	}
	return key;
}

/*
 * The transition shared by every key type and both aggregates. kind and with_seats are constants at
 * each call site, so the compiler specialises this for each one.
 */
static inline Datum
users_trans(FunctionCallInfo fcinfo, UserKeyKind kind, bool with_seats, HsStateForm form)
{
	UserSet    *set = (UserSet *) hs_state_modify(fcinfo, 0, &users_state, form);
	UserKey		key;

	/* Only licence_utilisation needs a state for a row without a key: its seats still count. */
	if (set == NULL)
	{
		if (PG_ARGISNULL(1) && !with_seats)
			PG_RETURN_NULL();
		set = userset_new(fcinfo, &users_state, sizeof(UserSet), kind, 0);
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

	if (!PG_ARGISNULL(1))
	{
		key = user_key_arg(fcinfo, kind, 1);
		userset_add(set, kind, &key, user_key_hash(kind, &key), 0);
	}
	return hs_state_return(fcinfo, &set->hs, form);
}

/* active_users(bigint) transition: adds the key. */
HS_STATE_FUNCTIONS(hs_active_users_trans_int8, users_trans(fcinfo, USER_KEY_INT8, false, form))

/* active_users(text) transition: adds the key. */
HS_STATE_FUNCTIONS(hs_active_users_trans_text, users_trans(fcinfo, USER_KEY_TEXT, false, form))

/* active_users(uuid) transition: adds the key. */
HS_STATE_FUNCTIONS(hs_active_users_trans_uuid, users_trans(fcinfo, USER_KEY_UUID, false, form))

/* licence_utilisation(bigint, integer) transition: checks seats, adds the key. */
HS_STATE_FUNCTIONS(hs_licence_utilisation_trans_int8, users_trans(fcinfo, USER_KEY_INT8, true, form))

/* licence_utilisation(text, integer) transition: checks seats, adds the key. */
HS_STATE_FUNCTIONS(hs_licence_utilisation_trans_text, users_trans(fcinfo, USER_KEY_TEXT, true, form))

/* licence_utilisation(uuid, integer) transition: checks seats, adds the key. */
HS_STATE_FUNCTIONS(hs_licence_utilisation_trans_uuid, users_trans(fcinfo, USER_KEY_UUID, true, form))

/*
 * Reads the next key of a flat set (userset_receive has checked every length), and moves *cursor
 * past it and past the key's marks byte when the set carries marks.
 */
static UserKey
flat_key_next(UserKeyKind kind, bool with_marks, const char **cursor, uint32 *marks)
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
	*marks = 0;
	if (with_marks)
		*marks = (uint8) *(*cursor)++;
	return key;
}

/*
 * Adds every key of other, a live set or one read from its flat form, to set, with its marks. other may
 * live in a short-lived context, so set copies what it keeps.
 */
static void
userset_merge(UserSet *set, const UserSet *other, bool with_marks)
{
	UserKeyKind kind = set->kind;

	if (other->kind != kind)
		elog(ERROR, "cannot combine user sets of different key types");
	if (other->flat != NULL)
	{
		const char *cursor = other->flat;

		for (uint32 i = 0; i < other->count; i++)
		{
			uint32		marks;
			UserKey		key = flat_key_next(kind, with_marks, &cursor, &marks);

			userset_add(set, kind, &key, user_key_hash(kind, &key), marks);
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
			userset_add(set, kind, &key, other->entries[i].hash, other->entries[i].marks);
		}
	}
}

/*
 * Writes the key count and each key: a bigint as int64, a uuid as 16 bytes, a text as int32 length and
 * its bytes; each followed by its marks byte when with_marks.
 */
static void
userset_send(StringInfo buf, const UserSet *set, bool with_marks)
{
	Assert(set->flat == NULL);
	pq_sendint32(buf, set->count);
	for (uint64 i = 0; i <= set->mask; i++)
	{
		UserKey		key;

		if (set->entries[i].hash == 0)
			continue;
		key = user_key_of(set->kind, set->entries[i].key);
		if (set->kind == USER_KEY_INT8)
			pq_sendint64(buf, key.word);
		else
		{
			if (set->kind == USER_KEY_TEXT)
				pq_sendint32(buf, key.len);
			pq_sendbytes(buf, key.data, key.len);
		}
		if (with_marks)
			pq_sendbyte(buf, set->entries[i].marks);
	}
}

/* The bytes userset_send writes for set. */
static Size
userset_send_size(const UserSet *set, bool with_marks)
{
	Size		size = 4 + (with_marks ? set->count : 0);

	if (set->kind == USER_KEY_INT8)
		return size + (Size) set->count * 8;
	if (set->kind == USER_KEY_UUID)
		return size + (Size) set->count * UUID_LEN;
	for (uint64 i = 0; i <= set->mask; i++)
		if (set->entries[i].hash != 0)
			size += 4 + user_key_of(USER_KEY_TEXT, set->entries[i].key).len;
	return size;
}

/*
 * Reads what userset_send wrote into set, whose kind is set: checks every key's length and marks,
 * rejecting anything userset_send could not have written, and leaves the keys where they are for
 * userset_merge to read.
 */
static void
userset_receive(StringInfo buf, UserSet *set, bool with_marks, const char *aggname)
{
	uint32		fixed = set->kind == USER_KEY_INT8 ? 8 : set->kind == USER_KEY_UUID ? UUID_LEN : 0;

	hs_state_need(buf, 4, aggname);
	set->count = pq_getmsgint(buf, 4);
	set->flat = buf->data + buf->cursor;
	for (uint32 i = 0; i < set->count; i++)
	{
		int32		len = (int32) fixed;

		if (set->kind == USER_KEY_TEXT)
		{
			hs_state_need(buf, 4, aggname);
			len = (int32) pq_getmsgint(buf, 4);
			if (len < 0)
				hs_state_malformed(aggname, "Negative key length.");
		}
		hs_state_need(buf, (uint64) len + (with_marks ? 1 : 0), aggname);
		buf->cursor += len;
		if (with_marks && (pq_getmsgbyte(buf) & ~MARK_ALL) != 0)
			hs_state_malformed(aggname, "Unknown user marks.");
	}
}

/* Combine for active_users and licence_utilisation: merges the second set into the first. */
static inline Datum
users_combine(FunctionCallInfo fcinfo, HsStateForm form)
{
	UserSet    *set = (UserSet *) hs_state_modify(fcinfo, 0, &users_state, form);
	const UserSet *other = (const UserSet *) hs_state_read(fcinfo, 1, &users_state, form);

	if (other == NULL)
		return hs_state_return(fcinfo, (HsState *) set, form);
	if (set == NULL)
		set = userset_new(fcinfo, &users_state, sizeof(UserSet), other->kind, other->count);
	if (other->seats_seen != SEATS_UNSEEN)
		userset_note_seats(set, other->seats_seen, other->seats);
	userset_merge(set, other, false);
	return hs_state_return(fcinfo, &set->hs, form);
}

HS_STATE_FUNCTIONS(hs_users_combine, users_combine(fcinfo, form))

/*
 * The flat form of active_users' and licence_utilisation's state: kind (1 byte), seats seen (1 byte),
 * seats (int32), then the keys as userset_send writes them.
 */
static bytea *
users_flatten(const HsState *state)
{
	const UserSet *set = (const UserSet *) state;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, set->kind);
	pq_sendbyte(&buf, set->seats_seen);
	pq_sendint32(&buf, set->seats);
	userset_send(&buf, set, false);
	return pq_endtypsend(&buf);
}

static Size
users_flat_size(const HsState *state)
{
	return VARHDRSZ + 1 + 1 + 4 + userset_send_size((const UserSet *) state, false);
}

/* The key type in a flat state's first byte. */
static UserKeyKind
receive_key_kind(StringInfo buf, const char *aggname)
{
	int			kind;

	hs_state_need(buf, 1, aggname);
	kind = pq_getmsgbyte(buf);
	if (kind != USER_KEY_INT8 && kind != USER_KEY_TEXT && kind != USER_KEY_UUID)
		hs_state_malformed(aggname, "Unknown key type.");
	return (UserKeyKind) kind;
}

/*
 * A set that can take rows, with the keys of a set read from a flat form; extra bytes of the read
 * state's struct (user_windows' bounds) follow the set's.
 */
static UserSet *
userset_own(const UserSet *read, const HsStateKind *state_kind, Size size, bool with_marks)
{
	UserSet    *set = palloc0(size);

	userset_init(set, CurrentMemoryContext, read->kind, read->count);

	memcpy((char *) set + sizeof(UserSet), (const char *) read + sizeof(UserSet), size - sizeof(UserSet));
	set->seats_seen = read->seats_seen;
	set->seats = read->seats;
	userset_merge(set, read, with_marks);
	return set;
}

static HsState *
users_read(bytea *flat, bool own)
{
	StringInfoData buf;
	UserSet    *set = palloc0(sizeof(UserSet));
	int			seats_seen;

	hs_state_begin(&buf, flat);
	set->kind = receive_key_kind(&buf, users_state.name);
	hs_state_need(&buf, 1 + 4, users_state.name);
	seats_seen = pq_getmsgbyte(&buf);
	set->seats = (int32) pq_getmsgint(&buf, 4);
	if (seats_seen != SEATS_UNSEEN && seats_seen != SEATS_NULL && seats_seen != SEATS_VALUE)
		hs_state_malformed(users_state.name, "Unknown seats marker.");
	if (set->seats < 0 || (seats_seen != SEATS_VALUE && set->seats != 0))
		hs_state_malformed(users_state.name, "Invalid seats.");
	set->seats_seen = seats_seen;
	userset_receive(&buf, set, false, users_state.name);
	hs_state_end(&buf, users_state.name);
	return own ? &userset_own(set, &users_state, sizeof(UserSet), false)->hs : &set->hs;
}

static const HsStateKind users_state = HS_STATE_KIND("user set", users_flat_size, users_flatten, users_read);

/* 0.1.0's serialize and deserialize for active_users and licence_utilisation. */
HS_STATE_SERIAL_FUNCTIONS(hs_users_serialize, hs_users_deserialize, &users_state)

/*
 * user_windows(key, occurred_at, as_of, recent_from, previous_from, new_from): one set of the group's
 * users up to as_of, each marked with the windows it was seen in, so the recent, previous and new users
 * come from one hash probe a row where active_users would need one aggregate, and probe, per window.
 */
typedef struct UserWindows
{
	UserSet		set;			/* first: the state is also a UserSet */
	TimestampTz as_of;
	TimestampTz recent_from;
	TimestampTz previous_from;
	TimestampTz new_from;
} UserWindows;

#define WINDOWS_HINT "Pass previous_from <= recent_from <= as_of and new_from <= as_of, the same for every row."

static void
windows_bound_null_error(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be null", argname),
			 errhint(WINDOWS_HINT)));
}

static void
windows_order_error(const char *earlier, const char *later)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be later than %s", earlier, later),
			 errhint(WINDOWS_HINT)));
}

/* Reads and checks the four bounds of a row (arguments 3 to 6) into w. */
static void
windows_bounds_arg(FunctionCallInfo fcinfo, UserWindows *w)
{
	static const char *const names[] = {"as_of", "recent_from", "previous_from", "new_from"};

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(3 + i))
			windows_bound_null_error(names[i]);
	w->as_of = PG_GETARG_TIMESTAMPTZ(3);
	w->recent_from = PG_GETARG_TIMESTAMPTZ(4);
	w->previous_from = PG_GETARG_TIMESTAMPTZ(5);
	w->new_from = PG_GETARG_TIMESTAMPTZ(6);
	if (TIMESTAMP_NOT_FINITE(w->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp"),
				 errhint(WINDOWS_HINT)));
	if (w->recent_from > w->as_of)
		windows_order_error("recent_from", "as_of");
	if (w->previous_from > w->recent_from)
		windows_order_error("previous_from", "recent_from");
	if (w->new_from > w->as_of)
		windows_order_error("new_from", "as_of");
}

static void
windows_same_bounds(const UserWindows *state, const UserWindows *row)
{
	if (state->as_of != row->as_of)
		hs_differing_group_constant_error("as_of");
	if (state->recent_from != row->recent_from)
		hs_differing_group_constant_error("recent_from");
	if (state->previous_from != row->previous_from)
		hs_differing_group_constant_error("previous_from");
	if (state->new_from != row->new_from)
		hs_differing_group_constant_error("new_from");
}

/*
 * The transition for every key type. Every row's bounds are checked, so a group's first rows set them
 * even without a key; a row after as_of, or without a key or a time, adds nothing.
 */
static inline Datum
windows_trans(FunctionCallInfo fcinfo, UserKeyKind kind, HsStateForm form)
{
	UserWindows *w = (UserWindows *) hs_state_modify(fcinfo, 0, &windows_state, form);
	UserWindows row;
	TimestampTz at;
	UserKey		key;
	uint32		marks = 0;

	windows_bounds_arg(fcinfo, &row);
	if (w == NULL)
	{
		w = (UserWindows *) userset_new(fcinfo, &windows_state, sizeof(UserWindows), kind, 0);
		w->as_of = row.as_of;
		w->recent_from = row.recent_from;
		w->previous_from = row.previous_from;
		w->new_from = row.new_from;
	}
	else
		windows_same_bounds(w, &row);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return hs_state_return(fcinfo, &w->set.hs, form);
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (at > w->as_of)
		return hs_state_return(fcinfo, &w->set.hs, form);
	if (at > w->recent_from)
		marks |= MARK_RECENT;
	else if (at > w->previous_from)
		marks |= MARK_PREVIOUS;
	if (at <= w->new_from)
		marks |= MARK_OLD;
	key = user_key_arg(fcinfo, kind, 1);
	userset_add(&w->set, kind, &key, user_key_hash(kind, &key), marks);
	return hs_state_return(fcinfo, &w->set.hs, form);
}

/* user_windows(bigint, ...) transition. */
HS_STATE_FUNCTIONS(hs_user_windows_trans_int8, windows_trans(fcinfo, USER_KEY_INT8, form))

/* user_windows(text, ...) transition. */
HS_STATE_FUNCTIONS(hs_user_windows_trans_text, windows_trans(fcinfo, USER_KEY_TEXT, form))

/* user_windows(uuid, ...) transition. */
HS_STATE_FUNCTIONS(hs_user_windows_trans_uuid, windows_trans(fcinfo, USER_KEY_UUID, form))

/* user_windows combine: the bounds must agree; marks of a user seen on both sides are OR-ed. */
static inline Datum
windows_combine(FunctionCallInfo fcinfo, HsStateForm form)
{
	UserWindows *w = (UserWindows *) hs_state_modify(fcinfo, 0, &windows_state, form);
	const UserWindows *other = (const UserWindows *) hs_state_read(fcinfo, 1, &windows_state, form);

	if (other == NULL)
		return hs_state_return(fcinfo, (HsState *) w, form);
	if (w == NULL)
	{
		w = (UserWindows *) userset_new(fcinfo, &windows_state, sizeof(UserWindows), other->set.kind,
										other->set.count);
		w->as_of = other->as_of;
		w->recent_from = other->recent_from;
		w->previous_from = other->previous_from;
		w->new_from = other->new_from;
	}
	else
		windows_same_bounds(w, other);
	userset_merge(&w->set, &other->set, true);
	return hs_state_return(fcinfo, &w->set.hs, form);
}

HS_STATE_FUNCTIONS(hs_user_windows_combine, windows_combine(fcinfo, form))

/* user_windows' flat form: kind (1 byte), the four bounds (int64 each), the keys with marks. */
static bytea *
windows_flatten(const HsState *state)
{
	const UserWindows *w = (const UserWindows *) state;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, w->set.kind);
	pq_sendint64(&buf, w->as_of);
	pq_sendint64(&buf, w->recent_from);
	pq_sendint64(&buf, w->previous_from);
	pq_sendint64(&buf, w->new_from);
	userset_send(&buf, &w->set, true);
	return pq_endtypsend(&buf);
}

static Size
windows_flat_size(const HsState *state)
{
	return VARHDRSZ + 1 + 4 * 8 + userset_send_size(&((const UserWindows *) state)->set, true);
}

/* Rejects bounds and marks that windows_flatten could not have written. */
static HsState *
windows_read(bytea *flat, bool own)
{
	StringInfoData buf;
	UserWindows *w = palloc0(sizeof(UserWindows));

	hs_state_begin(&buf, flat);
	w->set.kind = receive_key_kind(&buf, windows_state.name);
	hs_state_need(&buf, 4 * 8, windows_state.name);
	w->as_of = (TimestampTz) pq_getmsgint64(&buf);
	w->recent_from = (TimestampTz) pq_getmsgint64(&buf);
	w->previous_from = (TimestampTz) pq_getmsgint64(&buf);
	w->new_from = (TimestampTz) pq_getmsgint64(&buf);
	if (TIMESTAMP_NOT_FINITE(w->as_of) || w->recent_from > w->as_of || w->previous_from > w->recent_from
		|| w->new_from > w->as_of)
		hs_state_malformed(windows_state.name, "Invalid window bounds.");
	userset_receive(&buf, &w->set, true, windows_state.name);
	hs_state_end(&buf, windows_state.name);
	if (own)
		w = (UserWindows *) userset_own(&w->set, &windows_state, sizeof(UserWindows), true);
	return &w->set.hs;
}

static const HsStateKind windows_state = HS_STATE_KIND("user_windows", windows_flat_size, windows_flatten,
														windows_read);

/* 0.1.0's serialize and deserialize for user_windows. */
HS_STATE_SERIAL_FUNCTIONS(hs_user_windows_serialize, hs_user_windows_deserialize, &windows_state)

static inline void
count_marks(int64 counts[3], uint32 marks)
{
	counts[0] += (marks & MARK_RECENT) != 0;
	counts[1] += (marks & MARK_PREVIOUS) != 0;
	counts[2] += (marks & MARK_OLD) == 0;
}

/*
 * user_windows final: {recent, previous, new} user counts; zeros for a group without rows. A state read
 * from a flat form has its keys and marks there.
 */
static inline Datum
windows_final(FunctionCallInfo fcinfo, HsStateForm form)
{
	const UserWindows *w = (const UserWindows *) hs_state_read(fcinfo, 0, &windows_state, form);
	int64		counts[3] = {0, 0, 0};
	Datum		elems[3];

	if (w != NULL && w->set.flat != NULL)
	{
		const char *cursor = w->set.flat;

		for (uint32 i = 0; i < w->set.count; i++)
		{
			uint32		marks;

			flat_key_next(w->set.kind, true, &cursor, &marks);
			count_marks(counts, marks);
		}
	}
	else if (w != NULL)
	{
		for (uint64 i = 0; i <= w->set.mask; i++)
			if (w->set.entries[i].hash != 0)
				count_marks(counts, w->set.entries[i].marks);
	}
	for (int i = 0; i < 3; i++)
		elems[i] = Int64GetDatum(counts[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, 3, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

HS_STATE_FUNCTIONS(hs_user_windows_final, windows_final(fcinfo, form))

/* active_users final: the number of distinct keys, 0 when there were none. */
static inline Datum
active_users_final(FunctionCallInfo fcinfo, HsStateForm form)
{
	const UserSet *set = (const UserSet *) hs_state_read(fcinfo, 0, &users_state, form);

	PG_RETURN_INT64(set == NULL ? 0 : (int64) set->count);
}

HS_STATE_FUNCTIONS(hs_active_users_final, active_users_final(fcinfo, form))

/* licence_utilisation final: distinct keys per seat; NULL without rows, or with NULL or 0 seats. */
static inline Datum
licence_utilisation_final(FunctionCallInfo fcinfo, HsStateForm form)
{
	const UserSet *set = (const UserSet *) hs_state_read(fcinfo, 0, &users_state, form);

	if (set == NULL || set->seats_seen != SEATS_VALUE || set->seats == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((float8) set->count / set->seats);
}

HS_STATE_FUNCTIONS(hs_licence_utilisation_final, licence_utilisation_final(fcinfo, form))

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
