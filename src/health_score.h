/*
 * health_score.h
 *	  Declarations shared by the health_score C files: argument checks that several
 *	  functions apply with the same wording, so every error reads alike, the decay term that
 *	  decayed_sum and _activity_measures must compute to the same bit, and the aggregate
 *	  states.
 */
#ifndef HEALTH_SCORE_H
#define HEALTH_SCORE_H

#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/expandeddatum.h"

/* Seconds in an interval exactly as EXTRACT(EPOCH FROM interval) counts them (a month is 30 days). */
extern double hs_interval_seconds(const Interval *interval);

/*
 * The half-life in seconds; raises 22023 naming argname when it is NULL (pass NULL) or not positive.
 */
extern double hs_half_life_seconds(const Interval *half_life, const char *argname);

/*
 * Neumaier's variant of Kahan summation, which also compensates when a term outweighs the sum so far:
 * a million terms added naively lose up to a million roundings. The result is sum + compensation.
 */
static inline void
hs_compensated_add(double *sum, double *compensation, double term)
{
	double		total = *sum + term;

	if (fabs(*sum) >= fabs(term))
		*compensation += (*sum - total) + term;
	else
		*compensation += (term - total) + *sum;
	*sum = total;
}

/*
 * 2^(-(as_of - occurred_at) / half_life) for an event at or before as_of, given -1 / half-life in
 * microseconds: a multiply and an exp2 per row.
 */
static inline double
hs_decay_term(TimestampTz as_of, TimestampTz occurred_at, double exponent_per_usec)
{
	int64		elapsed_usecs;

	/* Only a span from about 4713 BC to beyond 290000 AD overflows, and then doubles are precise enough. */
	if (likely(!pg_sub_s64_overflow(as_of, occurred_at, &elapsed_usecs)))
		return exp2((double) elapsed_usecs * exponent_per_usec);
	return exp2(((double) as_of - (double) occurred_at) * exponent_per_usec);
}

/* Key features as bits fill a bigint without its sign bit, as refresh() stores them. */
#define MAX_KEY_FEATURES 62

/* Raises 22023: a weight is NaN or infinite; the hint says what a NULL weight does (skips the row, or weighs 1). */
extern void hs_weight_not_finite_error(bool null_skips) pg_attribute_noreturn();

/* Raises 22023: argname, a per-group constant of an aggregate, differs between rows of a group. */
extern void hs_differing_group_constant_error(const char *argname) pg_attribute_noreturn();

/*
 * Aggregate state helpers.
 *
 * hs_agg_context returns the aggregate memory context, the only place a state may live across rows,
 * and raises 0A000 naming the function when it is called outside an aggregate. hs_return_state returns
 * an internal state from a transition or combine function of 0.1.0's (compat_0_1.c), SQL NULL while
 * there is none.
 *
 * Reading a flat state accepts only what the kind's flatten writes. Anything else is rejected with
 * 22P03 (invalid_binary_representation) naming the aggregate: hs_state_need before each read (nbytes is
 * 64-bit so callers can multiply counts without overflow), hs_state_malformed for a value out of range,
 * hs_state_end when the state should be used up.
 */
extern MemoryContext hs_agg_context(FunctionCallInfo fcinfo);
extern Datum hs_return_state(FunctionCallInfo fcinfo, void *state);
extern void hs_state_begin(StringInfo buf, bytea *sstate);
extern void hs_state_need(StringInfo buf, uint64 nbytes, const char *aggname);
extern void hs_state_malformed(const char *aggname, const char *detail) pg_attribute_noreturn();
extern void hs_state_end(StringInfo buf, const char *aggname);

/*
 * Aggregate states declared as bytea (state.c).
 *
 * A kind's state struct starts with an HsState. While an aggregate runs the state is an expanded
 * object; a flat bytea (from a parallel worker, another node or a direct call) is read by the kind's read
 * function, which checks every byte. Transition and combine functions take their own state with
 * hs_state_modify and return it with hs_state_return; combine's other state and final functions take
 * theirs with hs_state_read. form says how the function's declaration passes states: bytea, or internal
 * for the functions 0.1.0 declared, which databases not yet updated still call.
 */
typedef enum HsStateForm
{
	HS_STATE_BYTEA,
	HS_STATE_INTERNAL
} HsStateForm;

typedef struct HsState
{
	ExpandedObjectHeader hdr;
} HsState;

typedef struct HsStateKind
{
	ExpandedObjectMethods methods;	/* first: a state's methods pointer says its kind */
	const char *name;			/* the aggregate, for messages */
	/* The size of the flat form, header included: what flatten will write, exactly. */
	Size		(*flat_size) (const HsState *state);
	/* The flat form: a bytea in CurrentMemoryContext. */
	bytea	   *(*flatten) (const HsState *state);

	/*
	 * A state in CurrentMemoryContext from a flat form. Unless own, it may point into flat, which then
	 * outlives it, and serves only to be read; an own state can change.
	 */
	HsState    *(*read) (bytea *flat, bool own);
} HsStateKind;

/* Defines a kind; the methods are state.c's, which call the kind's functions. */
extern Size hs_state_get_flat_size(ExpandedObjectHeader *eoh);
extern void hs_state_flatten_into(ExpandedObjectHeader *eoh, void *result, Size allocated_size);
#define HS_STATE_KIND(name, flat_size, flatten, read) \
	{{hs_state_get_flat_size, hs_state_flatten_into}, (name), (flat_size), (flatten), (read)}

/* What a transition or combine function keeps in fn_extra: what its states' headers name, and the kind's. */
typedef struct HsCallSite
{
	MemoryContext aggctx;		/* the aggregate context of header_context */
	MemoryContext header_context;	/* what the headers of this call site's states name, or NULL */
	void	   *extra;			/* the kind's own call-site data */
} HsCallSite;

extern HsCallSite *hs_call_site(FunctionCallInfo fcinfo);
/*
 * A new state of size bytes, zeroed, its header set, in the aggregate context, which *ctx receives for
 * anything the state allocates later. Raises an error outside an aggregate.
 */
extern void *hs_state_alloc(FunctionCallInfo fcinfo, const HsStateKind *kind, Size size, MemoryContext *ctx);
extern HsState *hs_state_read(FunctionCallInfo fcinfo, int argno, const HsStateKind *kind, HsStateForm form);
extern HsState *hs_state_modify_other(FunctionCallInfo fcinfo, int argno, const HsStateKind *kind);

/* Inline: every row of every aggregate goes through these two. */
static inline HsState *
hs_state_modify(FunctionCallInfo fcinfo, int argno, const HsStateKind *kind, HsStateForm form)
{
	const struct varlena *value;

	if (PG_ARGISNULL(argno))
		return NULL;
	if (form == HS_STATE_INTERNAL)
		return (HsState *) PG_GETARG_POINTER(argno);
	value = (const struct varlena *) PG_GETARG_POINTER(argno);
	if (likely(VARATT_IS_EXTERNAL_EXPANDED_RW(value)))
	{
		varatt_expanded pointer;

		memcpy(&pointer, VARDATA_EXTERNAL(value), sizeof(pointer));
		if (likely(pointer.eohptr->eoh_methods == &kind->methods))
			return (HsState *) pointer.eohptr;
	}
	return hs_state_modify_other(fcinfo, argno, kind);
}

static inline Datum
hs_state_return(FunctionCallInfo fcinfo, HsState *state, HsStateForm form)
{
	if (state == NULL)
		PG_RETURN_NULL();
	if (form == HS_STATE_INTERNAL)
		PG_RETURN_POINTER(state);
	PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
}
/* 0.1.0's serialize and deserialize functions: the flat form, and a state read from it. */
extern Datum hs_state_serialize(FunctionCallInfo fcinfo, const HsStateKind *kind);
extern Datum hs_state_deserialize(FunctionCallInfo fcinfo, const HsStateKind *kind);
#define HS_STATE_SERIAL_FUNCTIONS(serialize, deserialize, kind) \
	PG_FUNCTION_INFO_V1(serialize); \
	Datum serialize(PG_FUNCTION_ARGS) { return hs_state_serialize(fcinfo, (kind)); } \
	PG_FUNCTION_INFO_V1(deserialize); \
	Datum deserialize(PG_FUNCTION_ARGS) { return hs_state_deserialize(fcinfo, (kind)); }

/*
 * Defines name, the entry point 0.1.0 declared over an internal state, and name_bytea, the one later
 * versions declare over bytea, both calling body with form set.
 */
#define HS_STATE_FUNCTIONS(name, body) \
	static pg_attribute_always_inline Datum name##_form(FunctionCallInfo fcinfo, HsStateForm form) { return body; } \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return name##_form(fcinfo, HS_STATE_INTERNAL); } \
	PG_FUNCTION_INFO_V1(name##_bytea); \
	Datum name##_bytea(PG_FUNCTION_ARGS) { return name##_form(fcinfo, HS_STATE_BYTEA); }

#endif							/* HEALTH_SCORE_H */
