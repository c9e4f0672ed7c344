/*
 * activity.c
 *	  _activity_measures(occurred_at, feature, weight, as_of, recent_from, adopt_from, half_lives,
 *	  key_features): what refresh() reads of each account's activity rows, in one aggregate.
 *
 * refresh() used to read these with nine aggregates: two counts, a max, a decayed_sum per half-life and
 * three bit_or over a CASE on the feature. Over millions of rows the executor's work per aggregate and row
 * cost more than the arithmetic, so one transition now reads each row once. The decayed sums are
 * decayed_sum's (the same term, the same compensated summation); a feature's bit is its position in
 * key_features.
 *
 * The per-group constants (as_of, the two bounds, half_lives, key_features) must not vary within a
 * group, as decayed_sum's must not, but parsing two arrays per row would cost more than the rest. A call
 * site parses its first row's; when its arguments are constants or query parameters, as refresh()
 * passes them, no row can differ. Otherwise a row whose arrays have the same bytes reuses them, and any
 * other row is parsed and compared with its group's.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "health_score.h"

#define CONSTANTS_HINT "Pass constants: refresh() calls this aggregate with the bounds of one as_of."

/*
 * The per-group constants, flat so that two sets compare with memcmp: exponent_per_usec[nhalf] (-1 /
 * half-life in microseconds), then each key feature as an int32 length and its bytes. Allocated zeroed,
 * so that padding compares equal too.
 */
typedef struct ActivityConstants
{
	Size		size;			/* of the whole struct */
	TimestampTz as_of;
	TimestampTz recent_from;
	TimestampTz adopt_from;
	int32		nhalf;
	int32		nfeat;
	double		exponent_per_usec[FLEXIBLE_ARRAY_MEMBER];
} ActivityConstants;

#define FEATURES_OF(c) ((const char *) &(c)->exponent_per_usec[(c)->nhalf])

typedef struct ActivityState
{
	HsState		hs;				/* first: the state is an expanded object */
	const ActivityConstants *constants;	/* in memory that outlives the state */
	int64		events;
	int64		recent_events;
	TimestampTz last_at;
	uint64		recent_features;
	uint64		features_before_adopt;
	uint64		features_since_adopt;
	double		sums[FLEXIBLE_ARRAY_MEMBER];	/* sum and compensation for each half-life */
} ActivityState;

#define STATE_SIZE(nhalf) (offsetof(ActivityState, sums) + 2 * (nhalf) * sizeof(double))

/*
 * What a call site parsed from its first row: the constants, whether its arguments cannot change during
 * the query (constants or query parameters, as refresh() passes them), and else the raw bytes of the two
 * array arguments, to compare with the next rows'.
 */
typedef struct ConstantsCache
{
	bool		fixed;
	bytea	   *half_lives;
	bytea	   *key_features;
	ActivityConstants *constants;
} ConstantsCache;

static void
bound_null_error(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be null", argname),
			 errhint(CONSTANTS_HINT)));
}

/* Parses the constants of a row (arguments 4 to 8), checking each, into memory of ctx. */
static ActivityConstants *
parse_constants(FunctionCallInfo fcinfo, MemoryContext ctx)
{
	static const char *const names[] = {"as_of", "recent_from", "adopt_from", "half_lives", "key_features"};
	ArrayType  *half_lives;
	ArrayType  *key_features;
	Datum	   *halves;
	bool	   *half_nulls;
	Datum	   *features;
	bool	   *feature_nulls;
	int			nhalf;
	int			nfeat;
	Size		size;
	ActivityConstants *c;
	char	   *cursor;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(4 + i))
			bound_null_error(names[i]);
	half_lives = PG_GETARG_ARRAYTYPE_P(7);
	key_features = PG_GETARG_ARRAYTYPE_P(8);
	deconstruct_array(half_lives, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE,
					  &halves, &half_nulls, &nhalf);
	deconstruct_array(key_features, TEXTOID, -1, false, TYPALIGN_INT, &features, &feature_nulls, &nfeat);
	if (nfeat > MAX_KEY_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_features must have at most %d elements", MAX_KEY_FEATURES),
				 errdetail("Got %d.", nfeat)));

	size = offsetof(ActivityConstants, exponent_per_usec) + nhalf * sizeof(double);
	for (int i = 0; i < nfeat; i++)
	{
		if (feature_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key_features must not contain nulls")));
		size += sizeof(int32) + VARSIZE_ANY_EXHDR(DatumGetPointer(features[i]));
	}

	c = MemoryContextAllocZero(ctx, size);
	c->size = size;
	c->as_of = PG_GETARG_TIMESTAMPTZ(4);
	c->recent_from = PG_GETARG_TIMESTAMPTZ(5);
	c->adopt_from = PG_GETARG_TIMESTAMPTZ(6);
	c->nhalf = nhalf;
	c->nfeat = nfeat;
	if (TIMESTAMP_NOT_FINITE(c->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp"),
				 errhint(CONSTANTS_HINT)));
	for (int i = 0; i < nhalf; i++)
	{
		if (half_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("half_lives must not contain nulls")));
		c->exponent_per_usec[i] =
			-1.0 / (hs_half_life_seconds(DatumGetIntervalP(halves[i]), "half_lives") * USECS_PER_SEC);
	}
	cursor = (char *) FEATURES_OF(c);
	for (int i = 0; i < nfeat; i++)
	{
		int32		len = VARSIZE_ANY_EXHDR(DatumGetPointer(features[i]));

		memcpy(cursor, &len, sizeof(int32));
		memcpy(cursor + sizeof(int32), VARDATA_ANY(DatumGetPointer(features[i])), len);
		cursor += sizeof(int32) + len;
	}
	return c;
}

static bool
same_constants(const ActivityConstants *a, const ActivityConstants *b)
{
	return a == b || (a->size == b->size && memcmp(a, b, a->size) == 0);
}

/* Raises the error naming the first constant that differs between a and b. */
static void
differing_constants_error(const ActivityConstants *a, const ActivityConstants *b)
{
	if (a->as_of != b->as_of)
		hs_differing_group_constant_error("as_of");
	if (a->recent_from != b->recent_from)
		hs_differing_group_constant_error("recent_from");
	if (a->adopt_from != b->adopt_from)
		hs_differing_group_constant_error("adopt_from");
	if (a->nhalf != b->nhalf ||
		memcmp(a->exponent_per_usec, b->exponent_per_usec, a->nhalf * sizeof(double)) != 0)
		hs_differing_group_constant_error("half_lives");
	hs_differing_group_constant_error("key_features");
}

/* Whether datum, an array argument, has exactly the bytes kept in raw. */
static inline bool
same_bytes(Datum datum, const bytea *raw)
{
	const struct varlena *value = (const struct varlena *) DatumGetPointer(datum);

	/* A compressed or out-of-line value is not compared in place: its row is parsed instead. */
	if (VARATT_IS_EXTENDED(value) && !VARATT_IS_SHORT(value))
		return false;
	return VARSIZE_ANY_EXHDR(value) == VARSIZE_ANY_EXHDR(raw) &&
		memcmp(VARDATA_ANY(value), VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw)) == 0;
}

static bytea *
copy_bytes(Datum datum, MemoryContext ctx)
{
	const struct varlena *value = (const struct varlena *) DatumGetPointer(datum);
	Size		len = VARATT_IS_EXTENDED(value) && !VARATT_IS_SHORT(value) ? 0 : VARSIZE_ANY_EXHDR(value);
	bytea	   *copy = MemoryContextAlloc(ctx, VARHDRSZ + len);

	SET_VARSIZE(copy, VARHDRSZ + len);
	memcpy(VARDATA(copy), VARDATA_ANY(value), len);
	return copy;
}

/* Whether the constants' arguments (the 4th to the 8th) are constants or parameters of the query. */
static bool
fixed_arguments(const Aggref *aggref)
{
	if (aggref == NULL)
		return false;
	for (int i = 3; i < 8; i++)
	{
		const Node *arg = (const Node *) ((const TargetEntry *) list_nth(aggref->args, i))->expr;

		if (!IsA(arg, Const) && !(IsA(arg, Param) && ((const Param *) arg)->paramkind == PARAM_EXTERN))
			return false;
	}
	return true;
}

/* The constants the call site parsed from its first row, or NULL when this row passes others. */
static const ActivityConstants *
call_site_constants(FunctionCallInfo fcinfo)
{
	HsCallSite *site = hs_call_site(fcinfo);
	ConstantsCache *cache = (ConstantsCache *) site->extra;
	MemoryContext ctx = fcinfo->flinfo->fn_mcxt;

	if (cache == NULL)
	{
		cache = MemoryContextAlloc(ctx, sizeof(ConstantsCache));
		cache->constants = parse_constants(fcinfo, ctx);
		cache->half_lives = copy_bytes(PG_GETARG_DATUM(7), ctx);
		cache->key_features = copy_bytes(PG_GETARG_DATUM(8), ctx);
		cache->fixed = fixed_arguments(AggGetAggref(fcinfo));
		site->extra = cache;
		return cache->constants;
	}
	if (cache->fixed)
		return cache->constants;
	if (!PG_ARGISNULL(4) && !PG_ARGISNULL(5) && !PG_ARGISNULL(6) && !PG_ARGISNULL(7) && !PG_ARGISNULL(8) &&
		PG_GETARG_TIMESTAMPTZ(4) == cache->constants->as_of &&
		PG_GETARG_TIMESTAMPTZ(5) == cache->constants->recent_from &&
		PG_GETARG_TIMESTAMPTZ(6) == cache->constants->adopt_from &&
		same_bytes(PG_GETARG_DATUM(7), cache->half_lives) &&
		same_bytes(PG_GETARG_DATUM(8), cache->key_features))
		return cache->constants;
	return NULL;
}

/* The bit of feature in key_features: 1 << its first position there, or 0. */
static inline uint64
feature_bit(const ActivityConstants *c, const char *feature, int32 len)
{
	const char *cursor = FEATURES_OF(c);

	for (int i = 0; i < c->nfeat; i++)
	{
		int32		have;

		memcpy(&have, cursor, sizeof(int32));
		if (have == len && memcmp(cursor + sizeof(int32), feature, len) == 0)
			return UINT64CONST(1) << i;
		cursor += sizeof(int32) + have;
	}
	return 0;
}

static const HsStateKind activity_state;

/*
 * A new state. It points to constants kept by the call site when the call site outlives it, and else to
 * a copy of its own.
 */
static ActivityState *
activity_create(FunctionCallInfo fcinfo, const ActivityConstants *c, bool call_site_keeps)
{
	MemoryContext ctx;
	ActivityState *state = hs_state_alloc(fcinfo, &activity_state, STATE_SIZE(c->nhalf), &ctx);

	/* The call site keeps a header context exactly when it outlives the aggregate context. */
	if (!call_site_keeps || hs_call_site(fcinfo)->header_context == NULL)
	{
		ActivityConstants *copy = MemoryContextAlloc(ctx, c->size);

		memcpy(copy, c, c->size);
		c = copy;
	}
	state->constants = c;
	return state;
}

/*
 * The transition: a row at or before as_of counts; a row without occurred_at, or after as_of, adds
 * nothing. A NULL weight weighs 1, a NULL feature has no bit.
 */
static inline Datum
activity_trans(FunctionCallInfo fcinfo, HsStateForm form)
{
	ActivityState *state = (ActivityState *) hs_state_modify(fcinfo, 0, &activity_state, form);
	const ActivityConstants *c = call_site_constants(fcinfo);
	bool		call_site_keeps = c != NULL;
	TimestampTz at;
	double		weight = 1.0;

	/* Not the call site's constants: this row's must be its group's, or start a group that keeps them. */
	if (c == NULL)
		c = parse_constants(fcinfo, CurrentMemoryContext);
	if (state == NULL)
		state = activity_create(fcinfo, c, call_site_keeps);
	else if (!same_constants(state->constants, c))
		differing_constants_error(state->constants, c);
	c = state->constants;

	if (PG_ARGISNULL(1))
		return hs_state_return(fcinfo, &state->hs, form);
	at = PG_GETARG_TIMESTAMPTZ(1);
	if (at > c->as_of)
		return hs_state_return(fcinfo, &state->hs, form);

	if (state->events == 0 || at > state->last_at)
		state->last_at = at;
	state->events++;
	if (at > c->recent_from)
		state->recent_events++;

	if (!PG_ARGISNULL(2) && c->nfeat > 0)
	{
		text	   *feature = PG_GETARG_TEXT_PP(2);
		uint64		bit = feature_bit(c, VARDATA_ANY(feature), VARSIZE_ANY_EXHDR(feature));

		if (at > c->recent_from)
			state->recent_features |= bit;
		if (at > c->adopt_from)
			state->features_since_adopt |= bit;
		else
			state->features_before_adopt |= bit;
	}

	if (c->nhalf == 0 || TIMESTAMP_IS_NOBEGIN(at))
		return hs_state_return(fcinfo, &state->hs, form);
	if (!PG_ARGISNULL(3))
	{
		weight = PG_GETARG_FLOAT8(3);
		if (unlikely(isinf(weight) || isnan(weight)))
			hs_weight_not_finite_error(false);
	}
	for (int i = 0; i < c->nhalf; i++)
		hs_compensated_add(&state->sums[2 * i], &state->sums[2 * i + 1],
						   weight * hs_decay_term(c->as_of, at, c->exponent_per_usec[i]));
	return hs_state_return(fcinfo, &state->hs, form);
}

HS_STATE_FUNCTIONS(hs_activity_measures_transition, activity_trans(fcinfo, form))

/*
 * Combine: the constants must agree. The other state's constants live no longer than it does, so a
 * state created here keeps a copy, which the call site shares between the groups that agree.
 */
static inline Datum
activity_combine(FunctionCallInfo fcinfo, HsStateForm form)
{
	ActivityState *into = (ActivityState *) hs_state_modify(fcinfo, 0, &activity_state, form);
	const ActivityState *from = (const ActivityState *) hs_state_read(fcinfo, 1, &activity_state, form);
	const ActivityConstants *c;

	if (from == NULL)
		return hs_state_return(fcinfo, (HsState *) into, form);
	c = from->constants;
	if (into == NULL)
	{
		HsCallSite *site = hs_call_site(fcinfo);
		ActivityConstants *kept = (ActivityConstants *) site->extra;

		if (kept == NULL || !same_constants(kept, c))
		{
			kept = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, c->size);
			memcpy(kept, c, c->size);
			site->extra = kept;
		}
		into = activity_create(fcinfo, kept, true);
		memcpy((char *) into + offsetof(ActivityState, events),
			   (const char *) from + offsetof(ActivityState, events),
			   STATE_SIZE(c->nhalf) - offsetof(ActivityState, events));
		return hs_state_return(fcinfo, &into->hs, form);
	}
	if (!same_constants(into->constants, c))
		differing_constants_error(into->constants, c);

	if (from->events > 0 && (into->events == 0 || from->last_at > into->last_at))
		into->last_at = from->last_at;
	into->events += from->events;
	into->recent_events += from->recent_events;
	into->recent_features |= from->recent_features;
	into->features_before_adopt |= from->features_before_adopt;
	into->features_since_adopt |= from->features_since_adopt;
	for (int i = 0; i < c->nhalf; i++)
	{
		hs_compensated_add(&into->sums[2 * i], &into->sums[2 * i + 1], from->sums[2 * i]);
		into->sums[2 * i + 1] += from->sums[2 * i + 1];
	}
	return hs_state_return(fcinfo, &into->hs, form);
}

HS_STATE_FUNCTIONS(hs_activity_measures_combine, activity_combine(fcinfo, form))

/* The flat form: the constants' bytes, then the measures. */
static bytea *
activity_flatten(const HsState *hs)
{
	const ActivityState *state = (const ActivityState *) hs;
	const ActivityConstants *c = state->constants;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, (int32) c->size);
	pq_sendbytes(&buf, (const char *) c, c->size);
	pq_sendint64(&buf, state->events);
	pq_sendint64(&buf, state->recent_events);
	pq_sendint64(&buf, state->last_at);
	pq_sendint64(&buf, (int64) state->recent_features);
	pq_sendint64(&buf, (int64) state->features_before_adopt);
	pq_sendint64(&buf, (int64) state->features_since_adopt);
	for (int i = 0; i < 2 * c->nhalf; i++)
		pq_sendfloat8(&buf, state->sums[i]);
	return pq_endtypsend(&buf);
}

static Size
activity_flat_size(const HsState *hs)
{
	const ActivityConstants *c = ((const ActivityState *) hs)->constants;

	return VARHDRSZ + 4 + c->size + 6 * 8 + 2 * (Size) c->nhalf * 8;
}

/* Whether c, read from bytes, is a set of constants parse_constants could have built. */
static bool
valid_constants(const ActivityConstants *c)
{
	Size		fixed = offsetof(ActivityConstants, exponent_per_usec);
	const char *cursor;
	const char *end = (const char *) c + c->size;

	if (c->nhalf < 0 || c->nfeat < 0 || c->nfeat > MAX_KEY_FEATURES ||
		(uint64) c->nhalf * sizeof(double) > c->size - fixed || TIMESTAMP_NOT_FINITE(c->as_of))
		return false;
	for (int i = 0; i < c->nhalf; i++)
		if (!(c->exponent_per_usec[i] < 0) || isinf(c->exponent_per_usec[i]))
			return false;
	cursor = FEATURES_OF(c);
	for (int i = 0; i < c->nfeat; i++)
	{
		int32		len;

		if (end - cursor < (ptrdiff_t) sizeof(int32))
			return false;
		memcpy(&len, cursor, sizeof(int32));
		if (len < 0 || end - cursor - (ptrdiff_t) sizeof(int32) < len)
			return false;
		cursor += sizeof(int32) + len;
	}
	return cursor == end;
}

/* Rejects what activity_flatten could not have written. The state keeps a copy of its constants. */
static HsState *
activity_read(bytea *flat, bool own)
{
	static const char aggname[] = "_activity_measures";
	StringInfoData buf;
	ActivityState *state;
	ActivityConstants *c;
	uint32		size;
	int32		nhalf;

	hs_state_begin(&buf, flat);
	hs_state_need(&buf, 4, aggname);
	size = pq_getmsgint(&buf, 4);
	if (size < offsetof(ActivityConstants, exponent_per_usec))
		hs_state_malformed(aggname, "Constants too short.");
	hs_state_need(&buf, size, aggname);
	c = palloc(size);
	memcpy(c, pq_getmsgbytes(&buf, size), size);
	if (c->size != size || !valid_constants(c))
		hs_state_malformed(aggname, "Invalid constants.");
	nhalf = c->nhalf;
	hs_state_need(&buf, 6 * 8 + 2 * (uint64) nhalf * 8, aggname);
	state = palloc0(STATE_SIZE(nhalf));
	state->constants = c;
	state->events = pq_getmsgint64(&buf);
	state->recent_events = pq_getmsgint64(&buf);
	state->last_at = pq_getmsgint64(&buf);
	state->recent_features = (uint64) pq_getmsgint64(&buf);
	state->features_before_adopt = (uint64) pq_getmsgint64(&buf);
	state->features_since_adopt = (uint64) pq_getmsgint64(&buf);
	for (int i = 0; i < 2 * nhalf; i++)
		state->sums[i] = pq_getmsgfloat8(&buf);
	hs_state_end(&buf, aggname);
	if (state->events < 0 || state->recent_events < 0 || state->recent_events > state->events)
		hs_state_malformed(aggname, "Invalid counts.");
	return &state->hs;
}

static const HsStateKind activity_state = HS_STATE_KIND("_activity_measures", activity_flat_size, activity_flatten,
														 activity_read);

/* 0.1.0's serialize and deserialize. */
HS_STATE_SERIAL_FUNCTIONS(hs_activity_measures_serialize, hs_activity_measures_deserialize, &activity_state)

/* Final: the measures as a health_score._activity_measures row; NULL over no rows. */
static inline Datum
activity_final(FunctionCallInfo fcinfo, HsStateForm form)
{
	const ActivityState *state = (const ActivityState *) hs_state_read(fcinfo, 0, &activity_state, form);
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	Datum	   *decayed;
	int			nhalf;
	Datum		result;

	if (state == NULL)
		PG_RETURN_NULL();
	nhalf = state->constants->nhalf;
	decayed = palloc(Max(nhalf, 1) * sizeof(Datum));
	for (int i = 0; i < nhalf; i++)
	{
		double		sum = state->sums[2 * i] + state->sums[2 * i + 1];

		/* Finite weights times factors of at most 1 reach infinity or NaN only by overflowing the sum. */
		if (unlikely(isinf(sum) || isnan(sum)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("decayed sum is out of range for type double precision"),
					 errhint("Scale the weights down.")));
		decayed[i] = Float8GetDatum(sum);
	}
	values[0] = Int64GetDatum(state->events);
	values[1] = Int64GetDatum(state->recent_events);
	values[2] = TimestampTzGetDatum(state->last_at);
	nulls[2] = state->events == 0;
	values[3] = PointerGetDatum(construct_array(decayed, nhalf, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[4] = Int64GetDatum((int64) state->recent_features);
	values[5] = Int64GetDatum((int64) state->features_before_adopt);
	values[6] = Int64GetDatum((int64) state->features_since_adopt);

	desc = lookup_rowtype_tupdesc(get_fn_expr_rettype(fcinfo->flinfo), -1);
	result = heap_copy_tuple_as_datum(heap_form_tuple(desc, values, nulls), desc);
	ReleaseTupleDesc(desc);
	PG_RETURN_DATUM(result);
}

HS_STATE_FUNCTIONS(hs_activity_measures_final, activity_final(fcinfo, form))
