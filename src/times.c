/*
 * times.c
 *	  _key_times(key, occurred_at, as_of, before): for each distinct key of a group (a user, a key
 *	  feature), the first and the last time it occurs at or before as_of, and the last time at or before
 *	  `before`. The incremental refresh's state of one account comes from one pass: its users' and its key
 *	  features' times, as arrays, which later rows merge into by least and greatest.
 *
 * One open-addressing hash table per group, its keys copied into the group's memory: a key of up to 8
 * bytes (a user id as text, most feature names) inside its entry, so that a row's probe reads no other
 * memory, a longer one apart. The result is sorted by the keys' bytes, so equal input gives equal arrays
 * whatever the order of the rows or of the partial states combined.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "health_score.h"

PG_FUNCTION_INFO_V1(hs_key_times_transition);
PG_FUNCTION_INFO_V1(hs_key_times_combine);
PG_FUNCTION_INFO_V1(hs_key_times_final);

#define INLINE_KEY 8

typedef struct KeyTimes
{
	uint32		hash;			/* 0: an empty slot (hashes are made odd) */
	int32		len;
	union
	{
		char		bytes[INLINE_KEY];	/* a key of up to INLINE_KEY bytes */
		char	   *copy;		/* a longer one */
	}			key;
	TimestampTz first;
	TimestampTz last;
	TimestampTz last_before;	/* valid when has_before */
	bool		has_before;
} KeyTimes;

typedef struct KeyTimesState
{
	HsState		hs;				/* first: the state is an expanded object */
	/* what every row reads, next to the header, which every row reads too */
	KeyTimes   *slots;
	uint32		count;
	uint32		mask;			/* slots - 1, slots a power of two */
	TimestampTz as_of;
	TimestampTz before;
	MemoryContext ctx;			/* where the table and the keys live */
} KeyTimesState;

static const HsStateKind key_times_state;

/* Sets up a zeroed state whose later allocations go to ctx. */
static KeyTimesState *
state_init(KeyTimesState *state, MemoryContext ctx, TimestampTz as_of, TimestampTz before, uint32 slots)
{
	state->ctx = ctx;
	state->as_of = as_of;
	state->before = before;
	state->mask = slots - 1;
	state->slots = MemoryContextAllocZero(ctx, sizeof(KeyTimes) * slots);
	return state;
}

static KeyTimesState *
state_new(FunctionCallInfo fcinfo, TimestampTz as_of, TimestampTz before, uint32 slots)
{
	MemoryContext ctx;
	KeyTimesState *state = hs_state_alloc(fcinfo, &key_times_state, sizeof(KeyTimesState), &ctx);

	return state_init(state, ctx, as_of, before, slots);
}

static void
state_grow(KeyTimesState *state)
{
	uint32		old_slots = state->mask + 1;
	KeyTimes   *old = state->slots;
	uint32		new_mask = old_slots * 2 - 1;

	state->slots = MemoryContextAllocZero(state->ctx, sizeof(KeyTimes) * (new_mask + 1));
	state->mask = new_mask;
	for (uint32 i = 0; i < old_slots; i++)
	{
		uint32		j;

		if (old[i].hash == 0)
			continue;
		for (j = old[i].hash & new_mask; state->slots[j].hash != 0; j = (j + 1) & new_mask)
			;
		state->slots[j] = old[i];
	}
	pfree(old);
}

/* The entry of key, added (copied into the state's context) if it is new. */
static inline const char *
entry_key(const KeyTimes *e)
{
	return e->len <= INLINE_KEY ? e->key.bytes : e->key.copy;
}

static KeyTimes *
state_entry(KeyTimesState *state, const char *key, int32 len, bool *found)
{
	uint32		hash = hash_bytes((const unsigned char *) key, len) | 1;
	uint32		i;

	for (i = hash & state->mask; state->slots[i].hash != 0; i = (i + 1) & state->mask)
	{
		KeyTimes   *e = &state->slots[i];

		if (e->hash == hash && e->len == len && memcmp(entry_key(e), key, len) == 0)
		{
			*found = true;
			return e;
		}
	}
	if ((state->count + 1) * 4 > (state->mask + 1) * 3)
	{
		state_grow(state);
		for (i = hash & state->mask; state->slots[i].hash != 0; i = (i + 1) & state->mask)
			;
	}
	state->count++;
	state->slots[i].hash = hash;
	state->slots[i].len = len;
	if (len <= INLINE_KEY)
		memcpy(state->slots[i].key.bytes, key, len);
	else
	{
		state->slots[i].key.copy = MemoryContextAlloc(state->ctx, len);
		memcpy(state->slots[i].key.copy, key, len);
	}
	*found = false;
	return &state->slots[i];
}

/* Folds one occurrence (or the times of a partial state) into the entry. */
static void
entry_merge(KeyTimes *e, bool found, TimestampTz first, TimestampTz last, bool has_before, TimestampTz last_before)
{
	if (!found)
	{
		e->first = first;
		e->last = last;
		e->has_before = has_before;
		e->last_before = last_before;
		return;
	}
	if (first < e->first)
		e->first = first;
	if (last > e->last)
		e->last = last;
	if (has_before && (!e->has_before || last_before > e->last_before))
	{
		e->has_before = true;
		e->last_before = last_before;
	}
}

/*
 * The transition: a row with a key and a time at or before as_of counts; as_of and before must be the
 * same for every row of the group.
 */
Datum
hs_key_times_transition(PG_FUNCTION_ARGS)
{
	KeyTimesState *state = (KeyTimesState *) hs_state_modify(fcinfo, 0, &key_times_state, HS_STATE_BYTEA);
	TimestampTz as_of;
	TimestampTz before;
	TimestampTz at;
	text	   *key;
	KeyTimes   *e;
	bool		found;

	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of and before must not be null")));
	as_of = PG_GETARG_TIMESTAMPTZ(3);
	before = PG_GETARG_TIMESTAMPTZ(4);
	if (state == NULL)
		state = state_new(fcinfo, as_of, before, 8);
	else if (state->as_of != as_of)
		hs_differing_group_constant_error("as_of");
	else if (state->before != before)
		hs_differing_group_constant_error("before");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return hs_state_return(fcinfo, &state->hs, HS_STATE_BYTEA);
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (at > as_of)
		return hs_state_return(fcinfo, &state->hs, HS_STATE_BYTEA);
	key = PG_GETARG_TEXT_PP(1);
	e = state_entry(state, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &found);
	entry_merge(e, found, at, at, at <= before, at);
	return hs_state_return(fcinfo, &state->hs, HS_STATE_BYTEA);
}

/* Combine: the times of each key of from folded into into. */
Datum
hs_key_times_combine(PG_FUNCTION_ARGS)
{
	KeyTimesState *into = (KeyTimesState *) hs_state_modify(fcinfo, 0, &key_times_state, HS_STATE_BYTEA);
	const KeyTimesState *from = (const KeyTimesState *) hs_state_read(fcinfo, 1, &key_times_state,
																	  HS_STATE_BYTEA);

	if (from == NULL)
		return hs_state_return(fcinfo, (HsState *) into, HS_STATE_BYTEA);
	if (into == NULL)
		into = state_new(fcinfo, from->as_of, from->before, 8);
	else if (into->as_of != from->as_of)
		hs_differing_group_constant_error("as_of");
	else if (into->before != from->before)
		hs_differing_group_constant_error("before");
	for (uint32 i = 0; i <= from->mask; i++)
	{
		const KeyTimes *f = &from->slots[i];
		KeyTimes   *e;
		bool		found;

		if (f->hash == 0)
			continue;
		e = state_entry(into, entry_key(f), f->len, &found);
		entry_merge(e, found, f->first, f->last, f->has_before, f->last_before);
	}
	return hs_state_return(fcinfo, &into->hs, HS_STATE_BYTEA);
}

static Size
key_times_flat_size(const HsState *hs)
{
	const KeyTimesState *state = (const KeyTimesState *) hs;
	Size		size = VARHDRSZ + 8 + 8 + 4;

	for (uint32 i = 0; i <= state->mask; i++)
		if (state->slots[i].hash != 0)
			size += 4 + state->slots[i].len + 8 + 8 + 1 + 8;
	return size;
}

static bytea *
key_times_flatten(const HsState *hs)
{
	const KeyTimesState *state = (const KeyTimesState *) hs;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->as_of);
	pq_sendint64(&buf, state->before);
	pq_sendint32(&buf, state->count);
	for (uint32 i = 0; i <= state->mask; i++)
	{
		const KeyTimes *e = &state->slots[i];

		if (e->hash == 0)
			continue;
		pq_sendint32(&buf, e->len);
		pq_sendbytes(&buf, entry_key(e), e->len);
		pq_sendint64(&buf, e->first);
		pq_sendint64(&buf, e->last);
		pq_sendbyte(&buf, e->has_before);
		pq_sendint64(&buf, e->last_before);
	}
	return pq_endtypsend(&buf);
}

/* Validates what it reads: a state that does not parse is an error, never a wrong count. */
static HsState *
key_times_read(bytea *bytes, bool own)
{
	StringInfoData buf;
	KeyTimesState *state;
	TimestampTz as_of;
	TimestampTz before;
	uint32		count;
	uint32		slots = 8;

	hs_state_begin(&buf, bytes);
	as_of = (TimestampTz) pq_getmsgint64(&buf);
	before = (TimestampTz) pq_getmsgint64(&buf);
	count = (uint32) pq_getmsgint(&buf, 4);
	/* each entry takes at least 29 bytes */
	if ((uint64) count * 29 > (uint64) (buf.len - buf.cursor))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid _key_times state: %u keys in %d bytes", count, buf.len - buf.cursor)));
	while (slots * 3 < count * 4 + 4)
		slots *= 2;
	state = state_init(palloc0(sizeof(KeyTimesState)), CurrentMemoryContext, as_of, before, slots);
	for (uint32 k = 0; k < count; k++)
	{
		int32		len = pq_getmsgint(&buf, 4);
		const char *key;
		TimestampTz first;
		TimestampTz last;
		bool		has_before;
		TimestampTz last_before;
		KeyTimes   *e;
		bool		found;

		if (len < 0 || len > buf.len - buf.cursor)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid _key_times state: a key of %d bytes", len)));
		key = pq_getmsgbytes(&buf, len);
		first = (TimestampTz) pq_getmsgint64(&buf);
		last = (TimestampTz) pq_getmsgint64(&buf);
		has_before = pq_getmsgbyte(&buf) != 0;
		last_before = (TimestampTz) pq_getmsgint64(&buf);
		if (first > last || last > as_of)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid _key_times state: times out of order")));
		e = state_entry(state, key, len, &found);
		entry_merge(e, found, first, last, has_before, last_before);
	}
	pq_getmsgend(&buf);
	return &state->hs;
}

static const HsStateKind key_times_state = HS_STATE_KIND("_key_times", key_times_flat_size, key_times_flatten,
														  key_times_read);

static int
key_order(const void *a, const void *b)
{
	const KeyTimes *x = *(const KeyTimes *const *) a;
	const KeyTimes *y = *(const KeyTimes *const *) b;
	int			c = memcmp(entry_key(x), entry_key(y), Min(x->len, y->len));

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Final: (keys text[], first_at timestamptz[], last_at timestamptz[], last_before timestamptz[]), by key. */
Datum
hs_key_times_final(PG_FUNCTION_ARGS)
{
	const KeyTimesState *state = (const KeyTimesState *) hs_state_read(fcinfo, 0, &key_times_state,
																	   HS_STATE_BYTEA);
	TupleDesc	tupdesc;
	uint32		n = state == NULL ? 0 : state->count;
	KeyTimes  **sorted = palloc(sizeof(KeyTimes *) * Max(n, 1));
	Datum	   *keys = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *firsts = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *lasts = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *befores = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *before_nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {(int) n};
	int			lbs[1] = {1};
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	uint32		k = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_key_times must return a composite type");
	if (state == NULL)
		PG_RETURN_NULL();
	for (uint32 i = 0; i <= state->mask; i++)
		if (state->slots[i].hash != 0)
			sorted[k++] = &state->slots[i];
	qsort(sorted, n, sizeof(KeyTimes *), key_order);
	for (uint32 i = 0; i < n; i++)
	{
		keys[i] = PointerGetDatum(cstring_to_text_with_len(entry_key(sorted[i]), sorted[i]->len));
		firsts[i] = TimestampTzGetDatum(sorted[i]->first);
		lasts[i] = TimestampTzGetDatum(sorted[i]->last);
		befores[i] = TimestampTzGetDatum(sorted[i]->last_before);
		before_nulls[i] = !sorted[i]->has_before;
	}
	values[0] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(firsts, n, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(lasts, n, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_md_array(befores, before_nulls, 1, dims, lbs, TIMESTAMPTZOID,
												   sizeof(TimestampTz), true, TYPALIGN_DOUBLE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
