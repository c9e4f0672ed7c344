/*
 * state.c
 *	  Aggregate states declared as bytea: expanded objects while an aggregate runs, flat bytea wherever
 *	  a state leaves it (parallel workers, Citus workers, a direct call).
 *
 * An aggregate whose state type is internal cannot hand partial states to another node: Citus gathers
 * every row to the coordinator instead. Declared as bytea, a state can travel, yet it must not be
 * rebuilt on every row. PostgreSQL's expanded objects give both (array_append's arrays are the model):
 * the transition function returns a read-write expanded pointer to a state in memory, which the
 * executor keeps as it is from row to row (it neither copies nor flattens a read-write expanded object
 * whose memory context is a child of the aggregate context), and anything that stores or sends the
 * value flattens it through get_flat_size and flatten_into, which write the kind's flat form.
 *
 * The flat form is what 0.1.0 serialized for parallel workers, or like it; read checks it byte by
 * byte, so a bytea from anywhere (a worker, another node, a user calling a function directly) is either
 * a state the aggregate could have built or an error with SQLSTATE 22P03.
 *
 * Memory: a state lives in the aggregate context itself, as an internal state does, right after the
 * group's key, which the executor allocates there too: a row then reads one run of memory, and a
 * separate context per state, or for all states, measurably cost a cache miss a row on many groups. The
 * executor keeps a read-write expanded object only when the context its header names is a child of the
 * aggregate context, so each header names an empty child that the call site keeps for all its states.
 * The executor would delete that context only to replace a state by another pointer, which none of these
 * functions returns for a state it was given; even then the states would stay, in the aggregate
 * context, until it resets. Where the call site cannot outlive the aggregate context (a function called
 * through a fresh FmgrInfo per row, as Citus does), each state's header gets a child of its own.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "health_score.h"

#define HEADER_CONTEXT_NAME "health_score aggregate states"

static void init_header(HsState *state, const HsStateKind *kind, MemoryContext ctx);

/* Registered on a call site's header context: forgets it when the aggregate context resets. */
typedef struct HeaderContextReset
{
	MemoryContextCallback callback;
	HsCallSite *site;
	MemoryContext header_context;
} HeaderContextReset;

static void
forget_header_context(void *arg)
{
	HeaderContextReset *reset = (HeaderContextReset *) arg;

	if (reset->site->header_context == reset->header_context)
	{
		reset->site->header_context = NULL;
		reset->site->aggctx = NULL;
	}
}

HsCallSite *
hs_call_site(FunctionCallInfo fcinfo)
{
	HsCallSite *site = (HsCallSite *) fcinfo->flinfo->fn_extra;

	if (site == NULL)
	{
		site = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HsCallSite));
		fcinfo->flinfo->fn_extra = site;
	}
	return site;
}

/* Whether ancestor is context or one of its parents: then it is deleted after context. */
static bool
context_outlives(MemoryContext ancestor, MemoryContext context)
{
	for (; context != NULL; context = context->parent)
		if (context == ancestor)
			return true;
	return false;
}

/*
 * The context a new state's header names: an empty child of the aggregate context, kept by the call site
 * for all its states while the call site outlives it, else made for the one state.
 */
static MemoryContext
header_context(FunctionCallInfo fcinfo, MemoryContext aggctx)
{
	HsCallSite *site = hs_call_site(fcinfo);
	HeaderContextReset *reset;

	if (site->header_context != NULL && site->aggctx == aggctx)
		return site->header_context;
	if (!context_outlives(fcinfo->flinfo->fn_mcxt, aggctx))
		return AllocSetContextCreate(aggctx, HEADER_CONTEXT_NAME, ALLOCSET_SMALL_SIZES);
	site->header_context = AllocSetContextCreate(aggctx, HEADER_CONTEXT_NAME, ALLOCSET_SMALL_SIZES);
	site->aggctx = aggctx;
	reset = MemoryContextAlloc(site->header_context, sizeof(HeaderContextReset));
	reset->callback.func = forget_header_context;
	reset->callback.arg = reset;
	reset->site = site;
	reset->header_context = site->header_context;
	MemoryContextRegisterResetCallback(site->header_context, &reset->callback);
	return site->header_context;
}

void *
hs_state_alloc(FunctionCallInfo fcinfo, const HsStateKind *kind, Size size, MemoryContext *ctx)
{
	MemoryContext aggctx = hs_agg_context(fcinfo);
	HsState    *state = MemoryContextAllocZero(aggctx, size);

	init_header(state, kind, header_context(fcinfo, aggctx));
	*ctx = aggctx;
	return state;
}

static void
init_header(HsState *state, const HsStateKind *kind, MemoryContext ctx)
{
	EOH_init_header(&state->hdr, &kind->methods, ctx);
}

/* Our expanded state of kind behind datum, or NULL when datum is anything else. */
static inline HsState *
expanded_state(Datum datum, const HsStateKind *kind, bool read_write)
{
	const struct varlena *value = (const struct varlena *) DatumGetPointer(datum);
	HsState    *state;

	if (!(read_write ? VARATT_IS_EXTERNAL_EXPANDED_RW(value) : VARATT_IS_EXTERNAL_EXPANDED(value)))
		return NULL;
	state = (HsState *) DatumGetEOHP(datum);
	if (likely(state->hdr.eoh_methods == &kind->methods))
		return state;
	/* Only a user's own aggregate can mix our functions: never treat one kind's state as another's. */
	if (state->hdr.eoh_methods->get_flat_size == hs_state_get_flat_size)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a %s state cannot be passed to a function of %s",
						((const HsStateKind *) state->hdr.eoh_methods)->name, kind->name)));
	return NULL;
}

/*
 * hs_state_modify's way for anything but its own kind's read-write state: another kind's state is refused,
 * a flat one (a partial result from elsewhere) or a read-only one becomes a copy that can change.
 */
HsState *
hs_state_modify_other(FunctionCallInfo fcinfo, int argno, const HsStateKind *kind)
{
	HsState    *state = expanded_state(PG_GETARG_DATUM(argno), kind, true);
	MemoryContext ctx;
	MemoryContext old;
	bytea	   *flat;

	if (state != NULL)
		return state;
	ctx = hs_agg_context(fcinfo);
	flat = PG_GETARG_BYTEA_P(argno);
	old = MemoryContextSwitchTo(ctx);
	state = kind->read(flat, true);
	MemoryContextSwitchTo(old);
	init_header(state, kind, header_context(fcinfo, ctx));
	return state;
}

HsState *
hs_state_read(FunctionCallInfo fcinfo, int argno, const HsStateKind *kind, HsStateForm form)
{
	HsState    *state;

	if (PG_ARGISNULL(argno))
		return NULL;
	if (form == HS_STATE_INTERNAL)
		return (HsState *) PG_GETARG_POINTER(argno);
	state = expanded_state(PG_GETARG_DATUM(argno), kind, false);
	if (state != NULL)
		return state;
	return kind->read(PG_GETARG_BYTEA_PP(argno), false);
}

Datum
hs_state_serialize(FunctionCallInfo fcinfo, const HsStateKind *kind)
{
	PG_RETURN_BYTEA_P(kind->flatten((const HsState *) PG_GETARG_POINTER(0)));
}

Datum
hs_state_deserialize(FunctionCallInfo fcinfo, const HsStateKind *kind)
{
	PG_RETURN_POINTER(kind->read(PG_GETARG_BYTEA_PP(0), false));
}

/*
 * The size comes from the kind without writing the flat form: a heap tuple asks for it twice before it
 * asks for the bytes.
 */
Size
hs_state_get_flat_size(ExpandedObjectHeader *eoh)
{
	return ((const HsStateKind *) eoh->eoh_methods)->flat_size((const HsState *) eoh);
}

void
hs_state_flatten_into(ExpandedObjectHeader *eoh, void *result, Size allocated_size)
{
	bytea	   *flat = ((const HsStateKind *) eoh->eoh_methods)->flatten((const HsState *) eoh);

	if (VARSIZE(flat) != allocated_size)
		elog(ERROR, "%s state flattened to %zu bytes, not %zu",
			 ((const HsStateKind *) eoh->eoh_methods)->name, (Size) VARSIZE(flat), allocated_size);
	memcpy(result, flat, allocated_size);
	pfree(flat);
}
