/*
 * curvscope/db.h: a run database: opening it, its runs and their checkpoints.
 *
 * db_open_existing / db_close, db_run_get, db_run_summaries, db_checkpoint_steps,
 * db_checkpoint_read and the series readers; the schema is docs/SCHEMA.md.
 * curvscope/run.h rebuilds the network and data of a stored run.
 */
#ifndef CURVSCOPE_DB_H
#define CURVSCOPE_DB_H

#ifdef __cplusplus
extern "C" {
#endif

#include "db/db.h"

#ifdef __cplusplus
}
#endif

#endif
