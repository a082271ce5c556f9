/* dx_bench_report.c - `dx bench`'s output: the live progress line on a
 * terminal, and the names the report prints. */
#include <stdio.h>
#include <time.h>

#include "dx_bench.h"

static void progress(bthread *ts, unsigned nt, const bshared *sh,
		     uint64_t start)
{
	uint64_t prev = 0, tprev = now_ns();
	const uint64_t tick = 250000000ull;
	for (;;) {
		struct timespec d = {0, (long)tick};
		nanosleep(&d, NULL);
		uint64_t now = now_ns(), sum = 0;
		for (unsigned i = 0; i < nt; i++)
			sum += atomic_load_explicit(&ts[i].progress,
						    memory_order_relaxed);
		double rate = (double)(sum - prev) * 1e9 / (double)(now - tprev);
		prev = sum;
		tprev = now;
		if (atomic_load(&sh->stop))
			break;
		fprintf(stdout, "\r\033[K%s %5.1f s  %12.0f requests/s",
			now < sh->t_measure ? "warmup " : "running",
			(double)(now - start) / 1e9, rate);
		fflush(stdout);
	}
	fputs("\r\033[K", stdout);
	fflush(stdout);
}

void *progress_main(void *arg)
{
	bprogress_arg *a = arg;
	progress(a->ts, a->nt, a->sh, a->start);
	return NULL;
}

const char *mode_name(const bopts *o)
{
	return o->mode == B_RESP ? "resp-ping" : o->mode == B_ROUTE ? "route"
								    : "ping";
}

