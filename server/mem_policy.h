/* mem_policy.h - the process's malloc policy: large buffers are reused, and
 * given back to the kernel only once the member has been quiet a while.
 *
 * Why: a write of a large value (up to 16 MiB) passes through several
 * buffers of its size on the loop (the request body, the command, the
 * core's copy, the WAL job, one encoded AppendEntries per follower). With
 * glibc's defaults each is a fresh mmap, or heap the previous write gave
 * back, so every one of their pages is faulted in again. On virtual
 * machines a first touch can cost tens of microseconds a page: measured on
 * a 2-CPU VM, 16 MiB copied into fresh memory took 130-400 ms against
 * 1-6 ms into reused memory, which stalled a leader's loop past the
 * election timeout and cost it its leadership. Keeping freed memory for
 * the next large buffer takes that off the loop; trimming it after a quiet
 * spell keeps an idle member's resident size where it was.
 */
#ifndef SERVER_MEM_POLICY_H_
#define SERVER_MEM_POLICY_H_

struct event_base;

/* Sets the allocator's thresholds. Call once, first thing in main(), before
 * any thread starts. */
void mem_policy_init(void);

/* Starts a timer on @base (every MEM_POLICY_CHECK_S seconds) that gives
 * free memory back to the kernel when more than MEM_POLICY_KEEP_BYTES sat
 * unused across two checks in a row while the heap's use did not move.
 * Returns 0, or -1 when the timer cannot be made. The timer is freed by
 * mem_policy_stop(). */
int mem_policy_start(struct event_base *base);
void mem_policy_stop(void);

#endif /* SERVER_MEM_POLICY_H_ */
