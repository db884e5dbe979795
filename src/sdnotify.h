/*
 * sdnotify: the systemd side -- readiness/reload/stop notifications, the
 * watchdog, and listening sockets passed by socket activation.  Uses
 * libsystemd when configure found it, else the (tiny, stable) protocols
 * directly.  Harmless when not run by systemd.
 */
#ifndef RP_SDNOTIFY_H
#define RP_SDNOTIFY_H

#include <stdint.h>

/* Send a state string ("READY=1", "STOPPING=1", ...); no-op outside systemd. */
void sdnotify(const char *state);
/* The watchdog interval in ms when systemd asks for pings, else 0. */
uint64_t sdnotify_watchdog_ms(void);
/*
 * Listening sockets passed by socket activation: returns how many, with
 * the first at fd 3 (SD_LISTEN_FDS_START); 0 when none.
 */
int sdnotify_listen_fds(void);

#endif
