/* dx_bench_report.c - `dx bench`'s output: the live progress line on a
 * terminal, and the report at the end (the table or one JSON line). */
#include <stdio.h>
#include <string.h>
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
		double rate =
			(double)(sum - prev) * 1e9 / (double)(now - tprev);
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

void *bench_progress_main(void *arg)
{
	bprogress_arg *a = arg;
	progress(a->ts, a->nt, a->sh, a->start);
	return NULL;
}

static const char *mode_name(const bopts *o)
{
	return o->mode == B_RESP  ? "resp-ping" :
	       o->mode == B_ROUTE ? "route" :
				    "ping";
}

/* Merge the threads' counts and histograms and print the table (or the
 * JSON line) on stdout, and what went wrong on stderr. Returns the exit
 * status: 1 when connections ended early, a thread gave up, or nothing
 * was answered. Runs after every bench thread was joined. */
int bench_report(const bopts *o, const bshared *sh, const bthread *ts,
		 uint64_t t_done)
{
	/* Merge. */
	static bhist h; /* 30 KiB: not on the stack */
	memset(&h, 0, sizeof h);
	uint64_t ok = 0, errors = 0, unexpected = 0, closed = 0, lost = 0,
		 t_last = 0, nrecv = 0, nsend = 0, nwait = 0, all = 0;
	const char *why = NULL, *rpcerr = NULL;
	for (unsigned i = 0; i < o->threads; i++) {
		bench_hist_merge(&h, &ts[i].hist);
		ok += ts[i].ok;
		nrecv += ts[i].nrecv;
		nsend += ts[i].nsend;
		nwait += ts[i].nwait;
		all += atomic_load(&ts[i].progress);
		errors += ts[i].errors;
		unexpected += ts[i].unexpected;
		closed += ts[i].closed;
		lost += ts[i].lost;
		if (ts[i].t_last > t_last)
			t_last = ts[i].t_last;
		if (!why && ts[i].why[0])
			why = ts[i].why;
		if (!rpcerr && ts[i].rpcerr[0])
			rpcerr = ts[i].rpcerr;
	}
	uint64_t t_stop = sh->t_end ? sh->t_end : t_last;
	if (t_stop > t_done)
		t_stop = t_done;
	double secs = t_stop > sh->t_measure ?
			      (double)(t_stop - sh->t_measure) / 1e9 :
			      0;
	double rps = secs > 0 ? (double)ok / secs : 0;
	double p50 = bench_hist_percentile(&h, 50) / 1e3,
	       p99 = bench_hist_percentile(&h, 99) / 1e3,
	       p999 = bench_hist_percentile(&h, 99.9) / 1e3,
	       mx = (double)h.max / 1e3,
	       mean = h.count ? (double)h.sum / (double)h.count / 1e3 : 0;
	errors += lost;
	/* Syscalls per answer, warmup included: how well batches form. The
	 * wait call is the loop's own (epoll_wait, poll), so the line and the
	 * JSON key also say which loop ran. */
	double per = all ? 1.0 / (double)all : 0;

	if (o->json) {
		printf("{\"addr\": \"%s\", \"mode\": \"%s\", \"size\": %zu, "
		       "\"connections\": %u, \"pipeline\": %u, "
		       "\"threads\": %u, \"seconds\": %.3f, "
		       "\"requests\": %llu, \"errors\": %llu, "
		       "\"closed\": %llu, \"rps\": %.0f, \"p50_us\": %.1f, "
		       "\"p99_us\": %.1f, \"p999_us\": %.1f, "
		       "\"max_us\": %.1f, \"mean_us\": %.1f, "
		       "\"recv_per_answer\": %.3f, \"send_per_answer\": %.3f, "
		       "\"%s_per_answer\": %.3f}\n",
		       o->addr, mode_name(o), o->size, o->conns, o->pipeline,
		       o->threads, secs, (unsigned long long)ok,
		       (unsigned long long)errors, (unsigned long long)closed,
		       rps, p50, p99, p999, mx, mean, (double)nrecv * per,
		       (double)nsend * per, bench_wait_name,
		       (double)nwait * per);
	} else {
		printf("dx bench %s: %s%s%s, %zu B, %u connection%s x "
		       "pipeline %u, %u thread%s, %.2f s measured\n",
		       o->addr, mode_name(o), o->route ? " " : "",
		       o->route ? o->route : "", o->size, o->conns,
		       o->conns == 1 ? "" : "s", o->pipeline, o->threads,
		       o->threads == 1 ? "" : "s", secs);
		printf("  requests/s  %.0f\n", rps);
		printf("  latency us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f "
		       " (mean %.1f)\n",
		       p50, p99, p999, mx, mean);
		printf("  requests    %llu answered, %llu errors\n",
		       (unsigned long long)ok, (unsigned long long)errors);
		printf("  syscalls    per answer: recv %.3f  send %.3f  "
		       "%s %.3f\n",
		       (double)nrecv * per, (double)nsend * per,
		       bench_wait_name, (double)nwait * per);
	}
	fflush(stdout);
	if (rpcerr)
		fprintf(stderr, "dx bench: %llu error answers, the first: %s\n",
			(unsigned long long)(errors - lost), rpcerr);
	if (unexpected)
		fprintf(stderr, "dx bench: %llu answers matched no request\n",
			(unsigned long long)unexpected);
	if (closed)
		fprintf(stderr,
			"dx bench: %s: %llu of %u connections ended early "
			"(%llu requests unanswered); the first: %s\n",
			o->addr, (unsigned long long)closed, o->conns,
			(unsigned long long)lost, why ? why : "?");
	else if (why)
		fprintf(stderr, "dx bench: %s: %s\n", o->addr, why);
	int rc = closed || why || ok == 0 ? 1 : 0;
	if (ok == 0 && !closed && !why)
		fprintf(stderr, "dx bench: %s: no answer was measured\n",
			o->addr);
	return rc;
}
