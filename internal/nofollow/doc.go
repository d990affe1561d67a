// Package nofollow writes files as root in directories other users can
// change, without following a symbolic link any of them planted: every
// component of the path is opened with openat2(RESOLVE_NO_SYMLINKS), the
// file is created or opened with O_NOFOLLOW, and its owner and mode are
// set on the descriptor (fchown, fchmod), never on a path that could be
// swapped in between (runc's lesson from CVE-2021-30465 and its kin).
//
// A link anywhere in the path is an error that names it and where it
// points, so the caller can give the real path instead.
package nofollow
