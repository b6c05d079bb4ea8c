/* sd_notify.h - the service manager's readiness protocol (systemd's
 * sd_notify(3), Type=notify): a datagram to $NOTIFY_SOCKET. */
#ifndef SERVER_SD_NOTIFY_H_
#define SERVER_SD_NOTIFY_H_

/* Sends @state ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=...",
 * several joined by newlines) to the socket $NOTIFY_SOCKET names (a path,
 * or an abstract name starting with '@'). Returns 1 when sent, 0 when no
 * manager listens ($NOTIFY_SOCKET unset), -1 on failure (errno). */
int sd_notify_send(const char *state);

#endif /* SERVER_SD_NOTIFY_H_ */
