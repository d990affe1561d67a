// Package layering holds no code: its test checks the rules of
// docs/architecture.md on the package graph (`go list -deps`), so that
// what must never depend on what stays true as the code grows.
package layering
