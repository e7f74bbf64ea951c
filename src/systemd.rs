//! systemd integration: readiness, watchdog and reload notifications.
