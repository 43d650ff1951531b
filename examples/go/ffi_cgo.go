//go:build cgo

// ffi_storm's blocking C call, through cgo (seed task 9's C.slow): libc
// sleep(3) for whole seconds, usleep(3) otherwise.
package main

/*
#include <unistd.h>
*/
import "C"

import "time"

func cSleep(d time.Duration) {
	if d%time.Second == 0 {
		C.sleep(C.uint(d / time.Second))
	} else {
		C.usleep(C.useconds_t(d / time.Microsecond))
	}
}

func cSleepName(d time.Duration) string {
	if d%time.Second == 0 {
		return "sleep"
	}
	return "usleep"
}
