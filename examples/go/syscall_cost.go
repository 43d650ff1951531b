// syscall_cost: what Go's entersyscall/exitsyscall add to getpid, the peer
// of benches/mn_syscall.rs. syscall.Syscall goes through the hooks,
// syscall.RawSyscall does not; the difference is the hooks' cost.
//
//	go build -o demos . && ./demos syscall_cost -n 20000000

package main

import (
	"fmt"
	"syscall"
	"time"
)

func init() { experiments["syscall_cost"] = syscallCost }

func syscallCost(args []string) {
	fs := newFlags("syscall_cost")
	n := fs.Int("n", 20_000_000, "calls per measurement")
	fs.Parse(args)
	for round := 0; round < 3; round++ {
		t := time.Now()
		for i := 0; i < *n; i++ {
			syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		}
		raw := time.Since(t)
		t = time.Now()
		for i := 0; i < *n; i++ {
			syscall.Syscall(syscall.SYS_GETPID, 0, 0, 0)
		}
		hooked := time.Since(t)
		r := float64(raw.Nanoseconds()) / float64(*n)
		h := float64(hooked.Nanoseconds()) / float64(*n)
		fmt.Printf("round %d: raw %.1f ns, with hooks %.1f ns, added %.1f ns\n", round, r, h, h-r)
	}
}
