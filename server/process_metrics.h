/* process_metrics.h - the standard process_* metrics of the Prometheus
 * text format (CPU, memory, file descriptors, start time), read from
 * /proc/self. */
#ifndef SERVER_PROCESS_METRICS_H_
#define SERVER_PROCESS_METRICS_H_

struct evbuffer;

/* Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds (@start_time: the Unix time the process
 * started). A value that cannot be read is left out. */
void process_metrics_render(struct evbuffer *out, double start_time);

#endif /* SERVER_PROCESS_METRICS_H_ */
