/* test_orch_prop.c - property tests of plugins/forge/orch.c, forge's
 * orchestrator core (compiled in from the plugin's source), driven with a
 * fake clock and fake processes:
 *   - registration round-trip: random tool sets (registered in random
 *     order) come back from the registry as given, and the start order
 *     puts every dependency before its dependents;
 *   - ensure_running is idempotent: up on a tool with a process keeps its
 *     pid and starts nothing;
 *   - Stopped to Running: up on a stopped tool gives it a process, and no
 *     tool ever starts before its dependencies meet their condition;
 *   - status is always one of the five states, through random runs of up,
 *     stop, restart, exits, health results and time, with the invariants
 *     that tie the state to the process (a pid only when running or
 *     healthy; degraded never has one).
 * Plus the start limit (Degraded) and the backoff doubling, as examples.
 *
 * At least 100 cases each from a seed printed at the start; DX_TEST_SEED=N
 * replays a run, DX_TEST_CASES=N changes how many. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "check_main.h"
#include "orch.h"

static uint64_t g_seed;
static int g_cases = 200;

#define MS (UINT64_C(1000000))

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

/* ---- random tool sets ---- */

#define MAX_TOOLS 9
#define MAX_DEPS 3

typedef struct gen {
	size_t n;
	char names[MAX_TOOLS][32];
	dx_orch_dep deps[MAX_TOOLS][MAX_DEPS];
	dx_orch_spec spec[MAX_TOOLS];
	size_t perm[MAX_TOOLS]; /* registration order */
} gen;

/* Tool i may depend on tools 0..i-1 (so there is never a cycle). */
static void gen_tools(gen *g, uint64_t *s)
{
	memset(g, 0, sizeof *g);
	g->n = 1 + below(s, MAX_TOOLS);
	for (size_t i = 0; i < g->n; i++) {
		snprintf(g->names[i], sizeof g->names[i], "t%zu_%u", i,
			 below(s, 1000));
		size_t nd = i ? below(s, MAX_DEPS + 1) : 0;
		size_t k = 0;
		for (size_t d = 0; d < nd; d++) {
			size_t to = below(s, (unsigned)i);
			bool dup = false;
			for (size_t e = 0; e < k; e++)
				dup |= strcmp(g->deps[i][e].tool,
					      g->names[to]) == 0;
			if (dup)
				continue;
			g->deps[i][k++] = (dx_orch_dep){g->names[to],
							below(s, 3), 0};
		}
		g->spec[i] = (dx_orch_spec){g->names[i],
					    (int)below(s, 11) - 5,
					    below(s, 3),
					    below(s, 3000),
					    k ? g->deps[i] : NULL,
					    k};
		g->perm[i] = i;
	}
	for (size_t i = g->n; i-- > 1;) {
		size_t j = below(s, (unsigned)i + 1), t = g->perm[i];
		g->perm[i] = g->perm[j];
		g->perm[j] = t;
	}
}

static dx_orch *build(const gen *g, const dx_orch_opts *opts)
{
	dx_orch *o = dx_orch_new(opts);
	ck_assert_ptr_nonnull(o);
	for (size_t k = 0; k < g->n; k++) {
		int rc = dx_orch_add(o, &g->spec[g->perm[k]]);
		ck_assert_msg(rc == (int)k, "seed %" PRIu64 ": add gave %d",
			      g_seed, rc);
	}
	char why[256];
	ck_assert_msg(dx_orch_resolve(o, why, sizeof why) == 0,
		      "seed %" PRIu64 ": resolve: %s", g_seed, why);
	return o;
}

/* ---- a fake world: processes are numbers, time is a counter ---- */

typedef struct sim {
	dx_orch *o;
	uint64_t now;
	int next_pid;
	uint64_t *s;
	unsigned health_ok_pct; /* chance a check passes */
	int case_no;
	unsigned started; /* START actions seen */
} sim;

static bool dep_met(const dx_orch *o, const dx_orch_dep *d)
{
	const dx_orch_tool *t = dx_orch_at(o, d->idx);
	switch (d->cond) {
	case DX_ORCH_COND_STARTED: return t->pid > 0 || t->completed;
	case DX_ORCH_COND_HEALTHY: return t->pid > 0 && t->healthy;
	default: return t->pid <= 0 && t->completed;
	}
}

/* Carry out everything due now; TERM and KILL end the process at once. */
static void pump(sim *m)
{
	dx_orch_action a;
	for (int guard = 0; dx_orch_next(m->o, m->now, &a); guard++) {
		ck_assert_msg(guard < 10000, "seed %" PRIu64 " case %d: "
			      "dx_orch_next never runs dry", g_seed, m->case_no);
		const dx_orch_tool *t = dx_orch_at(m->o, a.tool);
		switch (a.act) {
		case DX_ORCH_START:
			for (size_t d = 0; d < t->spec.dep_count; d++)
				ck_assert_msg(
					dep_met(m->o, &t->spec.deps[d]),
					"seed %" PRIu64 " case %d: %s started "
					"before its dependency %s was %s",
					g_seed, m->case_no, t->spec.name,
					t->spec.deps[d].tool,
					t->spec.deps[d].cond == 0 ? "started"
					: t->spec.deps[d].cond == 1
						? "healthy"
						: "completed");
			ck_assert(t->pid <= 0);
			m->started++;
			dx_orch_started(m->o, a.tool, ++m->next_pid, m->now);
			break;
		case DX_ORCH_TERM:
			dx_orch_exited(m->o, a.tool, -15, m->now);
			break;
		case DX_ORCH_KILL:
			dx_orch_exited(m->o, a.tool, -9, m->now);
			break;
		case DX_ORCH_HEALTH:
			dx_orch_health(m->o, a.tool,
				       below(m->s, 100) < m->health_ok_pct,
				       m->now);
			break;
		default:
			ck_abort_msg("unknown action %d", (int)a.act);
		}
	}
}

/* Pump and let time pass until nothing is due for a while. */
static void settle(sim *m, uint64_t span_ns)
{
	uint64_t end = m->now + span_ns;
	while (m->now < end) {
		pump(m);
		uint64_t due = dx_orch_next_due(m->o);
		if (due == UINT64_MAX || due > end)
			break;
		m->now = due > m->now ? due : m->now + 1;
	}
	pump(m);
}

static void check_states(const sim *m)
{
	for (size_t i = 0; i < dx_orch_count(m->o); i++) {
		dx_orch_state st = dx_orch_state_of(m->o, i);
		const dx_orch_tool *t = dx_orch_at(m->o, i);
		ck_assert_msg((unsigned)st < DX_ORCH_STATE_COUNT,
			      "seed %" PRIu64 " case %d: %s in state %d",
			      g_seed, m->case_no, t->spec.name, (int)st);
		bool has = t->pid > 0;
		ck_assert_msg(has == (st == DX_ORCH_RUNNING ||
				      st == DX_ORCH_HEALTHY),
			      "seed %" PRIu64 " case %d: %s is %s with pid %d",
			      g_seed, m->case_no, t->spec.name,
			      dx_orch_state_name(st), t->pid);
		ck_assert(!(t->degraded && has));
		ck_assert(strcmp(dx_orch_state_name(st), "?") != 0);
	}
}

/* ---- properties ---- */

START_TEST(prop_registration_round_trip)
{
	uint64_t s = g_seed ^ 0x1;
	for (int c = 0; c < g_cases; c++) {
		gen g;
		gen_tools(&g, &s);
		dx_orch *o = build(&g, NULL);
		ck_assert_uint_eq(dx_orch_count(o), g.n);
		for (size_t i = 0; i < g.n; i++) {
			long k = dx_orch_find(o, g.names[i]);
			ck_assert_msg(k >= 0, "seed %" PRIu64 " case %d: %s lost",
				      g_seed, c, g.names[i]);
			const dx_orch_spec *got = &dx_orch_at(o, (size_t)k)->spec;
			const dx_orch_spec *want = &g.spec[i];
			ck_assert_str_eq(got->name, want->name);
			ck_assert_int_eq(got->priority, want->priority);
			ck_assert_uint_eq(got->restart, want->restart);
			ck_assert_uint_eq(got->stop_grace_ms, want->stop_grace_ms);
			ck_assert_uint_eq(got->dep_count, want->dep_count);
			for (size_t d = 0; d < want->dep_count; d++) {
				ck_assert_str_eq(got->deps[d].tool,
						 want->deps[d].tool);
				ck_assert_uint_eq(got->deps[d].cond,
						  want->deps[d].cond);
				ck_assert_str_eq(
					dx_orch_at(o, got->deps[d].idx)->spec.name,
					want->deps[d].tool);
			}
			ck_assert_int_eq(dx_orch_add(o, want), -EEXIST);
			ck_assert_uint_eq(dx_orch_state_of(o, (size_t)k),
					  DX_ORCH_STOPPED);
		}
		/* The start order: a permutation, dependencies first. */
		size_t pos[MAX_TOOLS];
		unsigned char seen[MAX_TOOLS] = {0};
		for (size_t k = 0; k < g.n; k++) {
			size_t i = dx_orch_order(o, k);
			ck_assert(i < g.n && !seen[i]);
			seen[i] = 1;
			pos[i] = k;
		}
		for (size_t i = 0; i < g.n; i++) {
			const dx_orch_spec *sp = &dx_orch_at(o, i)->spec;
			for (size_t d = 0; d < sp->dep_count; d++)
				ck_assert_msg(pos[sp->deps[d].idx] < pos[i],
					      "seed %" PRIu64 " case %d: %s "
					      "ordered before its dependency",
					      g_seed, c, sp->name);
		}
		ck_assert_int_eq(dx_orch_find(o, "no_such_tool"), -1);
		dx_orch_free(o);
	}
}
END_TEST

/* The tools of a case, made long-running: restart never matters here
 * unless they exit, and none does on its own. */
START_TEST(prop_ensure_running_idempotent)
{
	uint64_t s = g_seed ^ 0x2;
	for (int c = 0; c < g_cases; c++) {
		gen g;
		gen_tools(&g, &s);
		/* No "completed" conditions: nothing here exits by itself. */
		for (size_t i = 0; i < g.n; i++)
			for (size_t d = 0; d < g.spec[i].dep_count; d++)
				g.deps[i][d].cond %= 2;
		dx_orch *o = build(&g, NULL);
		sim m = {o, 1000 * MS, 100, &s, 100, c, 0};
		size_t i = (size_t)dx_orch_find(o, g.names[below(&s, (unsigned)g.n)]);
		ck_assert_int_eq(dx_orch_up(o, i, m.now), 0);
		settle(&m, 2000 * MS);
		const dx_orch_tool *t = dx_orch_at(o, i);
		ck_assert_msg(t->pid > 0 && t->healthy,
			      "seed %" PRIu64 " case %d: %s is %s", g_seed, c,
			      t->spec.name,
			      dx_orch_state_name(dx_orch_state_of(o, i)));
		int pid = t->pid;
		unsigned starts = t->starts, all = m.started;
		for (unsigned k = 1 + below(&s, 5); k; k--) {
			ck_assert_int_eq(dx_orch_up(o, i, m.now), 0);
			settle(&m, below(&s, 3000) * MS);
			ck_assert_msg(t->pid == pid && t->starts == starts,
				      "seed %" PRIu64 " case %d: up again "
				      "changed pid %d -> %d",
				      g_seed, c, pid, t->pid);
		}
		ck_assert_uint_eq(m.started, all);
		check_states(&m);
		dx_orch_free(o);
	}
}
END_TEST

START_TEST(prop_stopped_to_running)
{
	uint64_t s = g_seed ^ 0x3;
	for (int c = 0; c < g_cases; c++) {
		gen g;
		gen_tools(&g, &s);
		for (size_t i = 0; i < g.n; i++)
			for (size_t d = 0; d < g.spec[i].dep_count; d++)
				g.deps[i][d].cond %= 2;
		dx_orch *o = build(&g, NULL);
		sim m = {o, 5 * MS, 1, &s, 100, c, 0};
		size_t i = below(&s, (unsigned)g.n);
		ck_assert_uint_eq(dx_orch_state_of(o, i), DX_ORCH_STOPPED);
		ck_assert_int_eq(dx_orch_up(o, i, m.now), 0);
		dx_orch_state st = dx_orch_state_of(o, i);
		ck_assert(st == DX_ORCH_STARTING);
		settle(&m, 5000 * MS);
		st = dx_orch_state_of(o, i);
		ck_assert_msg(st == DX_ORCH_RUNNING || st == DX_ORCH_HEALTHY,
			      "seed %" PRIu64 " case %d: %s is %s", g_seed, c,
			      g.names[i], dx_orch_state_name(st));
		/* Its dependencies came up too; unrelated tools did not. */
		const dx_orch_spec *sp = &dx_orch_at(o, i)->spec;
		for (size_t d = 0; d < sp->dep_count; d++)
			ck_assert(dx_orch_at(o, sp->deps[d].idx)->pid > 0);
		/* Stop: back to Stopped, a restart by hand brings a new pid. */
		int pid = dx_orch_at(o, i)->pid;
		ck_assert_int_eq(dx_orch_down(o, i, m.now), 0);
		settle(&m, 100 * MS);
		ck_assert_uint_eq(dx_orch_state_of(o, i), DX_ORCH_STOPPED);
		ck_assert_int_eq(dx_orch_restart(o, i, m.now), 0);
		settle(&m, 1000 * MS);
		ck_assert(dx_orch_at(o, i)->pid > pid);
		check_states(&m);
		dx_orch_free(o);
	}
}
END_TEST

START_TEST(prop_state_always_one_of_five)
{
	uint64_t s = g_seed ^ 0x4;
	dx_orch_opts opts = {.backoff_ns = 10 * MS, .backoff_max_ns = 80 * MS,
			     .burst = 4, .window_ns = 500 * MS};
	for (int c = 0; c < g_cases; c++) {
		gen g;
		gen_tools(&g, &s);
		dx_orch *o = build(&g, &opts);
		sim m = {o, 1, 1, &s, below(&s, 101), c, 0};
		for (int step = 0; step < 200; step++) {
			size_t i = below(&s, (unsigned)g.n);
			const dx_orch_tool *t = dx_orch_at(o, i);
			switch (below(&s, 7)) {
			case 0: dx_orch_up(o, i, m.now); break;
			case 1: dx_orch_down(o, i, m.now); break;
			case 2: dx_orch_restart(o, i, m.now); break;
			case 3: /* it dies or ends on its own */
				if (t->pid > 0)
					dx_orch_exited(o, i,
						       below(&s, 3) ? 1 : 0,
						       m.now);
				break;
			case 4:
				if (t->pid > 0)
					dx_orch_exited(o, i, -9, m.now);
				break;
			default:
				m.now += below(&s, 200) * MS;
				break;
			}
			check_states(&m);
			pump(&m);
			check_states(&m);
		}
		dx_orch_free(o);
	}
}
END_TEST

/* ---- examples ---- */

START_TEST(test_degraded_after_burst)
{
	dx_orch_opts opts = {.backoff_ns = 100 * MS, .burst = 5,
			     .window_ns = 10000 * MS};
	dx_orch *o = dx_orch_new(&opts);
	dx_orch_spec sp = {"crash", 0, DX_ORCH_RESTART_ON_FAILURE, 100, NULL, 0};
	ck_assert_int_eq(dx_orch_add(o, &sp), 0);
	char why[128];
	ck_assert_int_eq(dx_orch_resolve(o, why, sizeof why), 0);
	uint64_t now = 1000 * MS, expect = 100 * MS;
	dx_orch_up(o, 0, now);
	dx_orch_action a;
	for (int k = 0; k < 5; k++) {
		ck_assert(dx_orch_next(o, now, &a) && a.act == DX_ORCH_START);
		dx_orch_started(o, 0, 10 + k, now);
		dx_orch_exited(o, 0, 1, now + 1);
		if (k == 4)
			break;
		/* Backoff: 100, 200, 400, 800 ms. */
		ck_assert_uint_eq(dx_orch_at(o, 0)->restart_due, now + 1 + expect);
		ck_assert(!dx_orch_next(o, now + expect, &a) ||
			  a.act != DX_ORCH_START);
		now = now + 1 + expect;
		expect *= 2;
	}
	ck_assert_uint_eq(dx_orch_state_of(o, 0), DX_ORCH_DEGRADED);
	ck_assert_uint_eq(dx_orch_at(o, 0)->restarts, 4);
	ck_assert_ptr_nonnull(strstr(dx_orch_at(o, 0)->why, "5 restarts"));
	ck_assert(!dx_orch_next(o, now + 60000 * MS, &a));
	ck_assert_int_eq(dx_orch_up(o, 0, now), -EAGAIN);
	ck_assert_int_eq(dx_orch_restart(o, 0, now), 0);
	ck_assert(dx_orch_next(o, now, &a) && a.act == DX_ORCH_START);
	dx_orch_free(o);
}
END_TEST

START_TEST(test_exit_zero_completes)
{
	dx_orch *o = dx_orch_new(NULL);
	dx_orch_dep dep = {"migrate", DX_ORCH_COND_COMPLETED, 0};
	dx_orch_spec a = {"migrate", 0, DX_ORCH_RESTART_ON_FAILURE, 100, NULL, 0};
	dx_orch_spec b = {"app", 0, DX_ORCH_RESTART_NO, 100, &dep, 1};
	ck_assert_int_eq(dx_orch_add(o, &b), 0);
	ck_assert_int_eq(dx_orch_add(o, &a), 1);
	char why[128];
	ck_assert_int_eq(dx_orch_resolve(o, why, sizeof why), 0);
	ck_assert_uint_eq(dx_orch_order(o, 0), 1);
	dx_orch_up(o, 0, 1);
	dx_orch_action x;
	ck_assert(dx_orch_next(o, 1, &x) && x.tool == 1);
	ck_assert(!dx_orch_next(o, 1, &x) || x.tool != 0 ||
		  x.act != DX_ORCH_START);
	dx_orch_started(o, 1, 5, 1);
	ck_assert_uint_eq(dx_orch_state_of(o, 0), DX_ORCH_STARTING);
	dx_orch_exited(o, 1, 0, 2);
	ck_assert_uint_eq(dx_orch_state_of(o, 1), DX_ORCH_STOPPED);
	ck_assert(dx_orch_at(o, 1)->completed);
	ck_assert(dx_orch_next(o, 2, &x) && x.tool == 0 &&
		  x.act == DX_ORCH_START);
	dx_orch_free(o);
}
END_TEST

START_TEST(test_unknown_dep_and_cycle)
{
	dx_orch *o = dx_orch_new(NULL);
	dx_orch_dep d1 = {"b", 0, 0}, d2 = {"a", 0, 0}, d3 = {"zz", 0, 0};
	dx_orch_spec a = {"a", 0, 0, 0, &d1, 1}, b = {"b", 0, 0, 0, &d2, 1};
	char why[256];
	dx_orch_add(o, &a);
	dx_orch_add(o, &b);
	ck_assert_int_eq(dx_orch_resolve(o, why, sizeof why), -ELOOP);
	ck_assert_ptr_nonnull(strstr(why, "a b"));
	dx_orch_free(o);
	o = dx_orch_new(NULL);
	dx_orch_spec c = {"c", 0, 0, 0, &d3, 1};
	dx_orch_add(o, &c);
	ck_assert_int_eq(dx_orch_resolve(o, why, sizeof why), -ENOENT);
	ck_assert_ptr_nonnull(strstr(why, "\"zz\""));
	dx_orch_free(o);
}
END_TEST

int main(void)
{
	const char *env = getenv("DX_TEST_SEED");
	g_seed = env && *env ? strtoull(env, NULL, 10)
			     : (uint64_t)time(NULL) ^ (uint64_t)clock();
	const char *cases = getenv("DX_TEST_CASES");
	if (cases && atoi(cases) > 0)
		g_cases = atoi(cases);
	printf("test_orch_prop: seed %" PRIu64 " (DX_TEST_SEED=%" PRIu64
	       " replays), %d cases per property\n",
	       g_seed, g_seed, g_cases);
	fflush(stdout);
	Suite *s = suite_create("forge-orch");
	TCase *tc = tcase_create("properties");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, prop_registration_round_trip);
	tcase_add_test(tc, prop_ensure_running_idempotent);
	tcase_add_test(tc, prop_stopped_to_running);
	tcase_add_test(tc, prop_state_always_one_of_five);
	tcase_add_test(tc, test_degraded_after_burst);
	tcase_add_test(tc, test_exit_zero_completes);
	tcase_add_test(tc, test_unknown_dep_and_cycle);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
