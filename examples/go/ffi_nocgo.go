//go:build !cgo

// Without cgo there is no C call to make: ffi_storm falls back to the
// nanosleep system call (which also holds its thread) and says so in its
// result line (call=nanosleep_no_cgo).
package main

import "time"

func cSleep(d time.Duration) { nanosleep(d) }

func cSleepName(time.Duration) string { return "nanosleep_no_cgo" }
