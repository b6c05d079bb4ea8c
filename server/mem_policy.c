/* mem_policy.c - reuse large freed buffers; trim them once quiet. */
#include "mem_policy.h"

#include <event2/event.h>
#include <malloc.h>
#include <stddef.h>

#ifdef KVD_JEMALLOC
/* kvd linked with jemalloc (meson option jemalloc): it keeps a freed
 * extent for the next allocation of its size class and gives it back to
 * the kernel once it has been unused for its decay time, which is this
 * policy already. Its background thread does that purging, so a member
 * that went quiet after large writes does not keep them resident for
 * want of further calls into the allocator. jemalloc reads this symbol
 * when it starts, before main(). glibc's thresholds and trim below do not
 * apply to it. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:10000,"
			  "muzzy_decay_ms:0";

void mem_policy_init(void)
{
}

int mem_policy_start(struct event_base *base)
{
	(void)base;
	return 0;
}

void mem_policy_stop(void)
{
}

#else /* glibc's malloc */

/* A buffer above this goes to mmap and back to the kernel at free: the
 * largest glibc accepts (32 MiB on 64-bit), above the largest entry. */
#define MEM_POLICY_MMAP_THRESHOLD (32u << 20)
/* glibc trims the heap top past this much free memory at each free(); we
 * trim ourselves (below), so it is high enough never to be reached by the
 * buffers of a few large writes in flight. */
#define MEM_POLICY_TRIM_THRESHOLD (1024u << 20)
#define MEM_POLICY_CHECK_S	  5
/* Free memory kept without a trim: a few large buffers. */
#define MEM_POLICY_KEEP_BYTES	  ((size_t)64 << 20)
/* Heap use moving less than this between two checks counts as quiet. */
#define MEM_POLICY_QUIET_BYTES	  ((size_t)1 << 20)

static struct event *check_ev;
static size_t last_free, last_used;

void mem_policy_init(void)
{
	/* Each call fixes its threshold (glibc stops adjusting it). A
	 * failure leaves glibc's defaults, which are correct, only slower. */
	(void)mallopt(M_MMAP_THRESHOLD, (int)MEM_POLICY_MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, (int)MEM_POLICY_TRIM_THRESHOLD);
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct mallinfo2 mi = mallinfo2();
	size_t used = mi.uordblks, moved;
	moved = used > last_used ? used - last_used : last_used - used;
	if (mi.fordblks > MEM_POLICY_KEEP_BYTES &&
	    last_free > MEM_POLICY_KEEP_BYTES &&
	    moved < MEM_POLICY_QUIET_BYTES) {
		malloc_trim(0);
		mi = mallinfo2();
	}
	last_free = mi.fordblks;
	last_used = mi.uordblks;
}

int mem_policy_start(struct event_base *base)
{
	struct timeval tv = {.tv_sec = MEM_POLICY_CHECK_S, .tv_usec = 0};
	check_ev = event_new(base, -1, EV_PERSIST, check_cb, NULL);
	if (check_ev == NULL || event_add(check_ev, &tv) != 0)
		return -1;
	return 0;
}

void mem_policy_stop(void)
{
	if (check_ev != NULL)
		event_free(check_ev);
	check_ev = NULL;
}

#endif /* KVD_JEMALLOC */
