// Package service is sysd's supervisor: it loads unit files, orders
// services by their dependencies, starts independent ones in parallel,
// runs each in a system container under a restart policy, tracks
// readiness, health and the watchdog, keeps each service's event history
// and log, and stops everything in reverse order.
package service

import "errors"

// ErrNotFound is returned for a name that is neither a service nor a log.
var ErrNotFound = errors.New("no such service")
