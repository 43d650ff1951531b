// Command demos: the Go versions of switchyard's comparison demos, so that
// `compare` can put Go beside RUNTIME_MODE=single and RUNTIME_MODE=mn.
//
//	go build -o demos . && ./demos syscall_storm -n 10 -sleep 1s
//
// One subcommand per example under examples/ (spawn_cost, million_sleepers,
// ping_pong, syscall_storm, sleepers_threads, cpu_scaling,
// netpoll_vs_blocking, ffi_storm, lock_thread, tight_loop, timer_lateness,
// http) plus echo (the server of the echo rows). Each takes the Rust
// example's flags with the same names and defaults (Go's flag package
// accepts -n and --n alike) and ends with the same line, `result:
// experiment=… mode=go procs=… wall_ms=… peak_threads=… peak_rss_kb=… …`.
//
// peak_threads comes from /proc/self/status, read every 10 ms by a sampler
// goroutine: a goroutine, not a thread of its own, so nothing is subtracted.
// Standard library only, except ffi_storm, which calls libc through cgo when
// cgo is available (ffi_cgo.go) and says so in its result line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// experiments maps a subcommand to its body; each parses its own flags.
var experiments = map[string]func(args []string){
	"spawn_cost":          spawnCost,
	"million_sleepers":    millionSleepers,
	"ping_pong":           pingPong,
	"syscall_storm":       syscallStorm,
	"sleepers_threads":    sleepersThreads,
	"cpu_scaling":         cpuScaling,
	"netpoll_vs_blocking": netpollVsBlocking,
	"ffi_storm":           ffiStorm,
	"lock_thread":         lockThread,
	"tight_loop":          tightLoop,
	"timer_lateness":      timerLateness,
	"http":                httpServer,
	"echo":                echoServer,
}

func main() {
	if len(os.Args) < 2 || experiments[os.Args[1]] == nil {
		names := make([]string, 0, len(experiments))
		for n := range experiments {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: demos <%s> [flags]\n", strings.Join(names, "|"))
		os.Exit(2)
	}
	experiments[os.Args[1]](os.Args[2:])
}

// refuse prints why a path cannot run in Go and exits 2 (never a fake run).
func refuse(name, msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, msg)
	os.Exit(2)
}

// newFlags makes the flag set of one subcommand.
func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ExitOnError)
}

// statusField reads a numeric field of /proc/self/status (0 if absent).
func statusField(name string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			f := strings.Fields(l[len(name):])
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

func threadsNow() int { return statusField("Threads:") }

// sample is one reading of the sampler.
type sample struct {
	at      time.Time
	threads int
}

// sampler reads Threads: every 10 ms until stopped.
type sampler struct {
	mu     sync.Mutex
	points []sample
	stop   chan struct{}
	done   chan struct{}
}

func startSampler() *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			s.record()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) record() {
	p := sample{time.Now(), threadsNow()}
	s.mu.Lock()
	s.points = append(s.points, p)
	s.mu.Unlock()
}

// finish stops the sampler and takes a last reading.
func (s *sampler) finish() []sample {
	close(s.stop)
	<-s.done
	s.record()
	return s.points
}

func peak(points []sample) int {
	m := 0
	for _, p := range points {
		if p.threads > m {
			m = p.threads
		}
	}
	return m
}

func peakBetween(points []sample, from, to time.Time) int {
	m := 0
	for _, p := range points {
		if !p.at.Before(from) && !p.at.After(to) && p.threads > m {
			m = p.threads
		}
	}
	return m
}

// writeSamples writes t_ms,threads lines (time since origin) to path.
func writeSamples(path string, points []sample, origin time.Time) {
	var b strings.Builder
	b.WriteString("t_ms,threads\n")
	for _, p := range points {
		if p.at.Before(origin) {
			continue
		}
		fmt.Fprintf(&b, "%.1f,%d\n", ms(p.at.Sub(origin)), p.threads)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing", path+":", err)
	}
}

// report builds the result line.
type report struct {
	experiment string
	fields     []string
}

func newReport(experiment string) *report { return &report{experiment: experiment} }

func (r *report) kv(k string, v interface{}) *report {
	s := strings.ReplaceAll(fmt.Sprint(v), " ", "_")
	r.fields = append(r.fields, k+"="+s)
	return r
}

func (r *report) num(k string, v float64) *report { return r.kv(k, fmtNum(v)) }

// finish prints the thread line and the result line.
func (r *report) finish(wall time.Duration, points []sample) {
	p := peak(points)
	rss := statusField("VmHWM:")
	fmt.Printf("threads: peak %d (read from /proc/self/status every 10 ms by a sampler goroutine); peak RSS %d KiB\n", p, rss)
	fmt.Printf("result: experiment=%s mode=go procs=%d wall_ms=%s peak_threads=%d peak_rss_kb=%d %s\n",
		r.experiment, runtime.GOMAXPROCS(0), fmtNum(ms(wall)), p, rss, strings.Join(r.fields, " "))
}

// fmtNum prints about four significant digits, no exponent, no trailing zeros.
func fmtNum(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	dec := 4
	switch {
	case a >= 1000:
		dec = 0
	case a >= 100:
		dec = 1
	case a >= 1:
		dec = 2
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// spinUntil counts until deadline, reading the clock every 1024 increments.
//
//go:noinline
func spinUntil(deadline time.Time) uint64 {
	var c uint64
	for {
		c++
		if c&1023 == 0 && !time.Now().Before(deadline) {
			return c
		}
	}
}

// parseList parses "1,2,4".
func parseList(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad list %q: expected e.g. 1,2,4\n", s)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}
