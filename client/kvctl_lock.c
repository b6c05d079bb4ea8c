/* kvctl_lock.c - `kvctl lock NAME [--ttl S] -- CMD ARGS...`: run CMD while
 * holding a distributed lock (DESIGN.md §1.6), kept by a lease that kvctl
 * keeps alive, and kill CMD before that lease could have expired.
 *
 * Three threads, each with its own libkvc handle: the main thread grants
 * the lease, starts CMD, waits for signals and releases; a keepalive
 * thread renews the lease; an acquirer thread waits in kvc_lock(). The
 * main thread blocks every signal it handles before the others start, so
 * that they arrive only through its sigtimedwait(). */
/* execvpe() needs _GNU_SOURCE, which meson.build defines. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kvctl_cmd.h"

#define LOCK_TTL_DEFAULT 10
#define LOCK_NAME_MAX	 (511 - 17) /* NAME "/" 16 hex digits */
/* The margin before the lease's end at which CMD is killed: time for the
 * kill to land and for clocks of one machine to disagree. */
#define LOCK_MARGIN_MIN_MS 300

const char kvctl_lock_usage[] = "kvctl lock NAME [--ttl S] -- CMD [ARGS...]";
const char kvctl_lock_help[] =
    "usage: kvctl lock NAME [--ttl S] -- CMD [ARGS...]\n"
    "Runs CMD while holding the lock NAME, a mutex across the cluster:\n"
    "grants a lease of S seconds (default 10, 1..86400), queues for the\n"
    "lock (first come, first served), runs CMD in its own process group\n"
    "once it holds it, and releases it (and revokes the lease) when CMD\n"
    "exits. kvctl keeps the lease alive every S/3 while it waits and while\n"
    "CMD runs; if kvctl dies the lease expires after S seconds and the\n"
    "lock goes with it. CMD sees KVCTL_LOCK_KEY (the lock's key),\n"
    "KVCTL_LOCK_LEASE (the lease id) and KVCTL_LOCK_INDEX (the index the\n"
    "key was created at: larger for every later holder, a fencing token).\n"
    "SIGINT, SIGTERM and SIGHUP are passed on to CMD; before CMD runs they\n"
    "leave the queue and exit 128+signal.\n"
    "Exit status: CMD's (128+N when signal N killed it), or 5 when the\n"
    "lock was lost: no keepalive succeeded for nearly S seconds (or the\n"
    "lease ended), so CMD's process group was killed (SIGKILL) before the\n"
    "lease could expire and another holder step in; the message says\n"
    "\"lock lost: the lease could not be kept alive\". Errors before CMD\n"
    "runs exit as other commands do (3: cluster unavailable).";

/* What the keepalive thread and the main thread share. */
struct keeper {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* stop */
	struct kvc *h;	   /* the keepalive thread's own handle */
	uint64_t lease;
	uint64_t ttl_ms;
	/* The lease lives at least until here (monotonic ms): the send time
	 * of the last grant or keepalive answered 200, plus its TTL. */
	uint64_t valid_until;
	bool gone; /* a keepalive said the lease does not exist */
	bool stop;
	pthread_t main;
};

/* The acquirer thread's result. */
struct acquirer {
	struct kvc *h;
	const char *name;
	uint64_t lease;
	int rc;
	struct kvc_lock *lock;
	pthread_t main;
};

/* Waits until @at (monotonic ms) or until told to stop; true to stop. */
static bool keeper_wait(struct keeper *k, uint64_t at)
{
	pthread_mutex_lock(&k->mu);
	while (!k->stop) {
		uint64_t now = clock_now_ms();
		if (now >= at)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (at - now) * 1000000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&k->cv, &k->mu, &ts);
	}
	bool stop = k->stop;
	pthread_mutex_unlock(&k->mu);
	return stop;
}

/* Renews the lease every TTL/3 after the last success; after a failure
 * every TTL/10, so that a short outage costs little of the margin. */
static void *keeper_run(void *arg)
{
	struct keeper *k = arg;
	uint64_t retry_ms = k->ttl_ms / 10 > 50 ? k->ttl_ms / 10 : 50;
	pthread_mutex_lock(&k->mu);
	uint64_t next = k->valid_until - k->ttl_ms + k->ttl_ms / 3;
	pthread_mutex_unlock(&k->mu);
	for (;;) {
		if (keeper_wait(k, next))
			return NULL;
		/* Before the request leaves: the server's deadline is at
		 * least this plus the TTL. */
		uint64_t sent = clock_now_ms();
		uint64_t ttl_s = 0;
		int rc = kvc_lease_keepalive(k->h, k->lease, &ttl_s);
		pthread_mutex_lock(&k->mu);
		if (rc == 0) {
			uint64_t until = sent + ttl_s * 1000;
			if (until > k->valid_until)
				k->valid_until = until;
			next = sent + ttl_s * 1000 / 3;
		} else if (rc == KVC_ENOTFOUND) {
			k->gone = true;
		} else {
			next = clock_now_ms() + retry_ms;
		}
		bool gone = k->gone;
		pthread_mutex_unlock(&k->mu);
		if (gone) {
			pthread_kill(k->main, SIGUSR1);
			return NULL;
		}
	}
}

static void *acquirer_run(void *arg)
{
	struct acquirer *a = arg;
	a->rc = kvc_lock(a->h, a->name, a->lease, -1, &a->lock);
	pthread_kill(a->main, SIGUSR2);
	return NULL;
}

/* A handle of its own for a helper thread, on g's endpoints; @request_ms
 * bounds one attempt and one call (0: as the main handle). */
static int open_extra(const struct global *g, int request_ms, struct kvc **h)
{
	struct kvc_options o;
	timeout_options(g, &o);
	if (request_ms > 0) {
		o.request_timeout_ms = request_ms;
		o.retry_deadline_ms = request_ms;
	}
	o.connect_timeout_ms =
	    o.request_timeout_ms < 1000 ? o.request_timeout_ms : 1000;
	return kvc_open(g->endpoints, &o, h);
}

/* The environment of CMD: kvctl's, with KVCTL_LOCK_* set. Built before
 * fork(), since the child of a threaded process may not allocate. */
static char **child_env(const char *key, uint64_t lease, uint64_t index)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof(*env));
	if (!env)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "KVCTL_LOCK_", 11) != 0)
			env[o++] = environ[i];
	size_t kl = strlen(key) + 32;
	char *k = malloc(kl), *l = malloc(48), *x = malloc(48);
	if (!k || !l || !x) {
		free(k);
		free(l);
		free(x);
		free(env);
		return NULL;
	}
	snprintf(k, kl, "KVCTL_LOCK_KEY=%s", key);
	snprintf(l, 48, "KVCTL_LOCK_LEASE=%" PRIu64, lease);
	snprintf(x, 48, "KVCTL_LOCK_INDEX=%" PRIu64, index);
	env[o++] = k;
	env[o++] = l;
	env[o++] = x;
	env[o] = NULL;
	return env;
}

/* Writes @s to stderr with write(2) alone (safe in a forked child). */
static void say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

/* Starts CMD in a process group of its own, its signal mask @mask. On
 * Linux CMD is killed when kvctl dies (PR_SET_PDEATHSIG): its lease will
 * lapse, so it must not go on under a lock it no longer holds. */
static pid_t spawn(char **cmd, char **env, const sigset_t *mask)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setpgid(0, 0);
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* kvctl died before prctl() */
		_exit(EXIT_LOCK_LOST);
#else
	(void)parent;
#endif
	sigprocmask(SIG_SETMASK, mask, NULL);
	execvpe(cmd[0], cmd, env);
	int e = errno;
	say("kvctl: cannot run ");
	say(cmd[0]);
	say(e == ENOENT	  ? ": not found\n"
	    : e == EACCES ? ": permission denied\n"
			  : ": exec failed\n");
	_exit(e == ENOENT ? 127 : 126);
}

/* The shell's exit code for a child's wait status. */
static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_OTHER;
}

int kvctl_cmd_lock(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--ttl", true}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	if (!pos)
		return EXIT_OTHER;
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, argc);
	int ec = EXIT_OK;
	if (r) {
		ec = r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
		goto out_pos;
	}
	uint64_t ttl = LOCK_TTL_DEFAULT;
	if (vals[0] &&
	    (parse_u64(vals[0], &ttl) < 0 || ttl < 1 || ttl > 86400)) {
		ec = fail_usage(cmd_current->usage,
				"bad --ttl %s (1..86400 seconds)", vals[0]);
		goto out_pos;
	}
	if (np < 1) {
		ec = fail_usage(cmd_current->usage, "%s", "missing NAME");
		goto out_pos;
	}
	if (!key_allowed(pos[0]) || strlen(pos[0]) > LOCK_NAME_MAX) {
		ec = bad_key(pos[0]);
		goto out_pos;
	}
	if (np < 2) {
		ec = fail_usage(cmd_current->usage, "%s", "missing CMD");
		goto out_pos;
	}
	const char *name = pos[0];
	char **cmd = pos + 1;
	uint64_t ttl_ms = ttl * 1000;
	uint64_t margin =
	    ttl_ms / 10 > LOCK_MARGIN_MIN_MS ? ttl_ms / 10 : LOCK_MARGIN_MIN_MS;

	/* Every signal the main thread waits for, blocked before any thread
	 * starts (they inherit the mask); CMD gets the old mask back. */
	sigset_t set, old;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, &old);

	ec = open_handle(g);
	if (ec)
		goto out_mask;
	struct keeper k = {
	    .lease = 0, .ttl_ms = ttl_ms, .main = pthread_self()};
	struct acquirer a = {.name = name, .main = pthread_self()};
	pthread_mutex_init(&k.mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k.cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc =
	    open_extra(g, (int)(ttl_ms / 4 > 500 ? ttl_ms / 4 : 500), &k.h);
	if (rc == 0)
		rc = open_extra(g, 0, &a.h);
	if (rc < 0) {
		report_text(g, error_code(rc), kvc_open_error());
		ec = EXIT_OTHER;
		goto out_handles;
	}

	uint64_t sent = clock_now_ms();
	rc = kvc_lease_grant(g->h, ttl, &k.lease);
	if (rc < 0) {
		ec = report_write(g, rc, "the lease grant");
		goto out_handles;
	}
	k.valid_until = sent + ttl_ms;
	a.lease = k.lease;
	pthread_t kt, at;
	bool lost = false;
	pid_t child = 0;
	if (pthread_create(&kt, NULL, keeper_run, &k) != 0) {
		report_text(g, "internal", "cannot start a thread");
		ec = EXIT_OTHER;
		goto out_revoke;
	}
	if (pthread_create(&at, NULL, acquirer_run, &a) != 0) {
		report_text(g, "internal", "cannot start a thread");
		ec = EXIT_OTHER;
		goto out_keeper;
	}
	bool acquiring = true;
	for (;;) {
		pthread_mutex_lock(&k.mu);
		uint64_t kill_at = k.valid_until - margin;
		lost = k.gone;
		pthread_mutex_unlock(&k.mu);
		uint64_t now = clock_now_ms();
		if (lost || now >= kill_at) {
			lost = true;
			break;
		}
		uint64_t wait = kill_at - now;
		struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
				      .tv_nsec =
					  (long)(wait % 1000) * 1000000L};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig < 0)
			continue; /* the deadline (EAGAIN) or EINTR */
		if (sig == SIGUSR2 && acquiring) {
			acquiring = false;
			pthread_join(at, NULL);
			if (a.rc < 0) {
				/* The lease ended while queued: lost too. */
				if (a.rc == KVC_ENOTFOUND) {
					lost = true;
					break;
				}
				struct global ag = *g;
				ag.h = a.h; /* the failed call's message */
				ec = report(&ag, a.rc);
				goto out_keeper;
			}
			pthread_mutex_lock(&k.mu);
			kill_at = k.valid_until - margin;
			pthread_mutex_unlock(&k.mu);
			if (clock_now_ms() >= kill_at) {
				lost = true;
				break;
			}
			char **env = child_env(kvc_lock_key(a.lock), k.lease,
					       kvc_lock_index(a.lock));
			if (!env) {
				report_text(g, "out_of_memory",
					    "out of memory");
				ec = EXIT_OTHER;
				goto out_unlock;
			}
			child = spawn(cmd, env, &old);
			for (size_t i = 0; env[i]; i++)
				if (strncmp(env[i], "KVCTL_LOCK_", 11) == 0)
					free(env[i]);
			free(env);
			if (child < 0) {
				report_text(g, "internal", "fork failed");
				ec = EXIT_OTHER;
				goto out_unlock;
			}
			/* Also here: no window where a kill of the group
			 * misses a child that has not yet called setpgid. */
			setpgid(child, child);
		} else if (sig == SIGCHLD && child > 0) {
			int st;
			pid_t w = waitpid(child, &st, WNOHANG);
			if (w == child) {
				ec = status_code(st);
				child = 0;
				goto out_unlock;
			}
		} else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			if (child > 0) {
				kill(-child, sig);
				continue;
			}
			/* Still queued: leave the queue (the revoke deletes
			 * the waiter key) and go. */
			ec = 128 + sig;
			goto out_keeper;
		}
	}
	/* Lost: CMD must be dead before the lease could expire. */
	if (child > 0) {
		kill(-child, SIGKILL);
		int st;
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
	}
	report_text(g, "lock_lost",
		    "lock lost: the lease could not be kept alive");
	fflush(stderr);
	/* No release: the cluster may be out of reach, and an exit at once
	 * says when CMD ended; the lease ends the lock. */
	_exit(EXIT_LOCK_LOST);

out_unlock:
	kvc_unlock(a.lock); /* a's thread is done: its handle is free */
out_keeper:
	pthread_mutex_lock(&k.mu);
	k.stop = true;
	pthread_cond_signal(&k.cv);
	pthread_mutex_unlock(&k.mu);
out_revoke:
	/* Ends the lease and with it any key left (a waiter's). */
	kvc_lease_revoke(g->h, k.lease, NULL);
	fflush(stdout);
	fflush(stderr);
	/* The helper threads may still be in a call (the acquirer after a
	 * signal, the keeper in a keepalive): end the process without
	 * waiting for them. */
	_exit(ec);
out_handles:
	kvc_close(k.h);
	kvc_close(a.h);
out_mask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out_pos:
	free(pos);
	return ec;
}
