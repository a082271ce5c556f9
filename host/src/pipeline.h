/* pipeline.h - the input side: HBTP frames in, requests dispatched.
 * Worker thread only. */
#ifndef DX_HOST_PIPELINE_H
#define DX_HOST_PIPELINE_H

#include "conn.h"

/* Consume c->in: frame, reassemble, dispatch. */
void dx_pipeline_input(dx_worker *w, dx_conn *c);

#endif
