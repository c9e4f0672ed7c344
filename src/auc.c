/*
 * auc.c
 *	  auc(score, positive): the area under the ROC curve, i.e. the probability that a random positive row
 *	  scores higher than a random negative one, ties counting one half. This is how well a health score
 *	  separated the accounts that churned from those that renewed.
 *
 * The state keeps every score of each class; the final function sorts both and merges them once, which
 * gives the Mann-Whitney U statistic with mid-ranks for ties in O(n log n), exactly.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"

#include "health_score.h"

/* Scores sort as numbers: NaN never gets in, and the infinities order like any other value. */
#define ST_SORT sort_scores
#define ST_ELEMENT_TYPE float8
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

typedef struct ScoreArray
{
	float8	   *values;
	int64		count;
	int64		capacity;
} ScoreArray;

typedef struct AucState
{
	HsState		hs;				/* first: the state is an expanded object */
	ScoreArray	positive;
	ScoreArray	negative;
	MemoryContext ctx;			/* where the arrays live */
} AucState;

#define SCORES_INITIAL_CAPACITY 16

static const HsStateKind auc_state;

static AucState *
auc_new(FunctionCallInfo fcinfo)
{
	MemoryContext ctx;
	AucState   *state = hs_state_alloc(fcinfo, &auc_state, sizeof(AucState), &ctx);

	state->ctx = ctx;
	return state;
}

/* Makes room for extra more scores in a, at least doubling so that appends cost O(1) on average. */
static void
scores_reserve(AucState *state, ScoreArray *a, int64 extra)
{
	int64		capacity;

	if (a->count + extra <= a->capacity)
		return;
	capacity = Max(Max(a->capacity * 2, a->count + extra), SCORES_INITIAL_CAPACITY);
	if (a->values == NULL)
		a->values = MemoryContextAllocHuge(state->ctx, capacity * sizeof(float8));
	else
		a->values = repalloc_huge(a->values, capacity * sizeof(float8));
	a->capacity = capacity;
}

static void
scores_append(AucState *state, ScoreArray *a, const float8 *values, int64 count)
{
	scores_reserve(state, a, count);
	memcpy(a->values + a->count, values, count * sizeof(float8));
	a->count += count;
}

/* auc transition: files the score under its class; rows with a NULL score or outcome are skipped. */
static inline Datum
auc_trans(FunctionCallInfo fcinfo, HsStateForm form)
{
	AucState   *state = (AucState *) hs_state_modify(fcinfo, 0, &auc_state, form);
	ScoreArray *a;
	float8		score;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return hs_state_return(fcinfo, (HsState *) state, form);
	score = PG_GETARG_FLOAT8(1);
	if (isnan(score))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score must not be NaN"),
				 errhint("Map scores that could not be computed to NULL: such rows are skipped.")));
	if (state == NULL)
		state = auc_new(fcinfo);
	a = PG_GETARG_BOOL(2) ? &state->positive : &state->negative;
	scores_reserve(state, a, 1);
	a->values[a->count++] = score;
	return hs_state_return(fcinfo, &state->hs, form);
}

HS_STATE_FUNCTIONS(hs_auc_trans, auc_trans(fcinfo, form))

/* auc combine: appends the second state's scores to the first's, or to a new state. */
static inline Datum
auc_combine(FunctionCallInfo fcinfo, HsStateForm form)
{
	AucState   *state = (AucState *) hs_state_modify(fcinfo, 0, &auc_state, form);
	const AucState *other = (const AucState *) hs_state_read(fcinfo, 1, &auc_state, form);

	if (other == NULL)
		return hs_state_return(fcinfo, (HsState *) state, form);
	if (state == NULL)
		state = auc_new(fcinfo);
	scores_append(state, &state->positive, other->positive.values, other->positive.count);
	scores_append(state, &state->negative, other->negative.values, other->negative.count);
	return hs_state_return(fcinfo, &state->hs, form);
}

HS_STATE_FUNCTIONS(hs_auc_combine, auc_combine(fcinfo, form))

/* auc's flat form: the two counts as int64, then the positive scores and the negative scores as float8. */
static bytea *
auc_flatten(const HsState *hs)
{
	const AucState *state = (const AucState *) hs;
	StringInfoData buf;

	pq_begintypsend(&buf);
	/* One allocation up front; past 1 GB this raises the usual "cannot enlarge string buffer". */
	enlargeStringInfo(&buf, 16 + (state->positive.count + state->negative.count) * sizeof(float8));
	pq_sendint64(&buf, state->positive.count);
	pq_sendint64(&buf, state->negative.count);
	for (int64 i = 0; i < state->positive.count; i++)
		pq_sendfloat8(&buf, state->positive.values[i]);
	for (int64 i = 0; i < state->negative.count; i++)
		pq_sendfloat8(&buf, state->negative.values[i]);
	return pq_endtypsend(&buf);
}

static Size
auc_flat_size(const HsState *hs)
{
	const AucState *state = (const AucState *) hs;

	return VARHDRSZ + 16 + (Size) (state->positive.count + state->negative.count) * sizeof(float8);
}

/* Reads count scores into a, rejecting NaN, which the transition never lets in. */
static void
scores_read(AucState *state, ScoreArray *a, StringInfo buf, int64 count)
{
	scores_reserve(state, a, count);
	for (int64 i = 0; i < count; i++)
	{
		float8		score = pq_getmsgfloat8(buf);

		if (isnan(score))
			hs_state_malformed("auc", "A score is NaN.");
		a->values[a->count++] = score;
	}
}

/* The counts must match the bytes that follow exactly. The scores are copied, so every state is own. */
static HsState *
auc_read(bytea *flat, bool own)
{
	StringInfoData buf;
	int64		npositive;
	int64		nnegative;
	int64		remaining;
	AucState   *state;

	hs_state_begin(&buf, flat);
	hs_state_need(&buf, 16, "auc");
	npositive = pq_getmsgint64(&buf);
	nnegative = pq_getmsgint64(&buf);
	/* Checked before anything is allocated, so that no count can size an allocation on its own. */
	remaining = (buf.len - buf.cursor) / (int) sizeof(float8);
	if (npositive < 0 || nnegative < 0 || npositive > remaining || nnegative > remaining - npositive)
		hs_state_malformed("auc", "The score counts exceed the state's length.");
	if (npositive + nnegative == 0)
		hs_state_malformed("auc", "The state holds no scores.");

	state = palloc0(sizeof(AucState));
	state->ctx = CurrentMemoryContext;
	scores_read(state, &state->positive, &buf, npositive);
	scores_read(state, &state->negative, &buf, nnegative);
	hs_state_end(&buf, "auc");
	return &state->hs;
}

static const HsStateKind auc_state = HS_STATE_KIND("auc", auc_flat_size, auc_flatten, auc_read);

/* 0.1.0's serialize and deserialize. */
HS_STATE_SERIAL_FUNCTIONS(hs_auc_serialize, hs_auc_deserialize, &auc_state)

/*
 * auc final: NULL unless both classes have rows. Sorting in place reorders the state without changing
 * which scores it holds, so the state stays valid for more rows and a second final call.
 */
static inline Datum
auc_final(FunctionCallInfo fcinfo, HsStateForm form)
{
	AucState   *state = (AucState *) hs_state_read(fcinfo, 0, &auc_state, form);
	const float8 *pos;
	const float8 *neg;
	int64		npos;
	int64		nneg;
	int64		below = 0;		/* negatives scoring below the current positive score */
	int64		upto = 0;		/* negatives scoring at most the current positive score */
	uint64		twice_u = 0;	/* 2U: a tie counts 1 here, so the sum stays an exact integer */

	if (state == NULL || state->positive.count == 0 || state->negative.count == 0)
		PG_RETURN_NULL();
	pos = state->positive.values;
	neg = state->negative.values;
	npos = state->positive.count;
	nneg = state->negative.count;
	/* 2U is at most 2 * npos * nneg; past 2^64 it would wrap (some 6 billion rows in all). */
	if ((uint64) npos > PG_UINT64_MAX / 2 / (uint64) nneg)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("auc supports at most 2^63 pairs of a positive and a negative row")));

	sort_scores(state->positive.values, npos);
	sort_scores(state->negative.values, nneg);
	for (int64 i = 0; i < npos;)
	{
		float8		score = pos[i];
		int64		same = 0;

		while (i < npos && pos[i] == score)
		{
			same++;
			i++;
		}
		below = upto;
		while (below < nneg && neg[below] < score)
			below++;
		upto = below;
		while (upto < nneg && neg[upto] == score)
			upto++;
		twice_u += (uint64) same * (uint64) (below + upto);
	}
	PG_RETURN_FLOAT8((float8) twice_u / (2.0 * (float8) npos * (float8) nneg));
}

HS_STATE_FUNCTIONS(hs_auc_final, auc_final(fcinfo, form))
