// Package appfile is the edge app_config resources go through: it reads a
// service program's config file for the planner (regular files of at most
// MaxSize bytes; a symbolic link is refused, not followed), writes the
// content a plan wants (atomically, keeping mode, owner and a copy of the
// previous content in FILE.netplan42.bak, and only if the file still holds
// what the plan saw), and runs on_change commands without a shell, bounded
// by a timeout.
package appfile
