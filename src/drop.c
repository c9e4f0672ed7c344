/*
 * drop.c
 *	  What dropping health_score must take along that PostgreSQL's dependencies cannot: the pg_cron job
 *	  that runs the refresh, a row in pg_cron's own table. An event trigger at ddl_command_start sees
 *	  DROP EXTENSION health_score (and DROP SCHEMA health_score, which drops the extension with it) before
 *	  anything is dropped, and unschedules the job in the same transaction, so a drop that fails keeps it.
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"

PG_FUNCTION_INFO_V1(hs_before_drop);

/* Whether the DROP names the extension or its schema (both are called health_score). */
static bool
drops_health_score(const DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *name = (Node *) lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "health_score") == 0)
			return true;
	}
	return false;
}

/* The event trigger health_score_before_drop. */
Datum
hs_before_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "hs_before_drop called outside an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree != NULL && IsA(trigdata->parsetree, DropStmt) &&
		drops_health_score((DropStmt *) trigdata->parsetree))
	{
		SPI_connect();
		SPI_execute("SELECT health_score._before_drop()", false, 0);
		SPI_finish();
	}
	PG_RETURN_NULL();
}
