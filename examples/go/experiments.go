// The seed experiments in Go, one function per subcommand, each mirroring
// the Rust example of the same name under examples/ (same flags, same
// result keys). Go's goroutines are the "mn" of this comparison: stackful,
// on GOMAXPROCS Ps, with sysmon and the netpoller.
package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// spawnCost: seed task 2, N goroutines each signalling a WaitGroup.
func spawnCost(args []string) {
	f := newFlags("spawn_cost")
	n := f.Int("n", 100000, "goroutines per round")
	rounds := f.Int("rounds", 5, "timed rounds after one warm-up")
	threads := f.Bool("threads", false, "OS threads (not available in Go)")
	f.Parse(args)
	if *threads {
		refuse("spawn_cost", "--threads: Go has no way to start a bare OS thread without cgo; the Go column has goroutines only")
	}
	if *rounds < 1 {
		*rounds = 1
	}
	s := startSampler()
	t0 := time.Now()
	var per []float64
	for r := 0; r <= *rounds; r++ {
		t := time.Now()
		var wg sync.WaitGroup
		wg.Add(*n)
		for i := 0; i < *n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		if r > 0 {
			per = append(per, float64(time.Since(t).Nanoseconds())/float64(*n))
		}
	}
	wall := time.Since(t0)
	points := s.finish()
	min := per[0]
	for _, v := range per {
		if v < min {
			min = v
		}
	}
	med := median(per)
	fmt.Printf("spawn_cost: %d goroutines per round, %d rounds (+1 warm-up), mode=go\n", *n, *rounds)
	fmt.Printf("  %.0f ns per goroutine (median round), %.0f ns at best\n", med, min)
	newReport("spawn_cost").kv("style", "tasks").kv("n", *n).kv("rounds", *rounds).
		num("ns_per_task", med).num("ns_per_task_min", min).finish(wall, points)
}

// millionSleepers: seed 002, N goroutines each in time.Sleep(D).
func millionSleepers(args []string) {
	f := newFlags("million_sleepers")
	n := f.Int("n", 1000000, "sleepers")
	sleep := f.Duration("sleep", time.Second, "how long each sleeps")
	style := f.String("style", "async", "async or go (both are goroutines in Go)")
	threads := f.Bool("threads", false, "OS threads (not available in Go)")
	f.Parse(args)
	if *threads || *style == "threads" {
		refuse("million_sleepers", "--threads: Go has no way to start a bare OS thread without cgo")
	}
	s := startSampler()
	base := statusField("VmRSS:")
	t0 := time.Now()
	var alive, peakAlive int64
	var wg sync.WaitGroup
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		if a := atomic.AddInt64(&alive, 1); a > peakAlive {
			peakAlive = a
		}
		go func() {
			defer wg.Done()
			time.Sleep(*sleep)
			atomic.AddInt64(&alive, -1)
		}()
	}
	spawned := time.Since(t0)
	wg.Wait()
	wall := time.Since(t0)
	points := s.finish()
	grown := (statusField("VmHWM:") - base) * 1024
	if grown < 0 {
		grown = 0
	}
	perTask := float64(grown) / float64(peakAlive)
	fmt.Printf("million_sleepers: %d goroutines each sleeping %v, mode=go\n", *n, *sleep)
	fmt.Printf("  spawned in %.0f ms; done after %.0f ms; at most %d alive at once; %.0f bytes per live goroutine\n",
		ms(spawned), ms(wall), peakAlive, perTask)
	newReport("million_sleepers").kv("style", "async").kv("n", *n).num("sleep_ms", ms(*sleep)).
		num("spawn_ms", ms(spawned)).kv("peak_alive", peakAlive).kv("base_rss_kb", base).
		num("bytes_per_task", perTask).finish(wall, points)
}

// pingPong: seed task 7, an integer bounced through two channels.
func pingPong(args []string) {
	f := newFlags("ping_pong")
	duration := f.Duration("duration", time.Second, "how long to measure")
	capacity := f.Int("cap", 1, "capacity of each channel")
	f.Parse(args)
	s := startSampler()
	t0 := time.Now()
	toEcho := make(chan uint64, *capacity)
	toDriver := make(chan uint64, *capacity)
	go func() {
		for v := range toEcho {
			toDriver <- v + 1
		}
	}()
	var x uint64
	for i := 0; i < 1000; i++ {
		toEcho <- x
		x = <-toDriver
	}
	start := time.Now()
	var trips uint64
	for time.Since(start) < *duration {
		for i := 0; i < 1000; i++ {
			toEcho <- x
			x = <-toDriver
		}
		trips += 1000
	}
	measured := time.Since(start)
	close(toEcho)
	wall := time.Since(t0)
	points := s.finish()
	ns := float64(measured.Nanoseconds()) / float64(trips)
	fmt.Printf("ping_pong: %d round trips in %.0f ms through two channels of capacity %d, mode=go\n", trips, ms(measured), *capacity)
	fmt.Printf("  %.0f ns per round trip\n", ns)
	newReport("ping_pong").num("duration_ms", ms(*duration)).kv("cap", *capacity).kv("round_trips", trips).
		num("ns_per_round_trip", ns).finish(wall, points)
}

// nanosleep blocks the calling thread in the nanosleep system call.
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// syscallStorm: seed 000, N goroutines each in a blocking nanosleep.
func syscallStorm(args []string) {
	f := newFlags("syscall_storm")
	n := f.Int("n", 10, "goroutines")
	sleep := f.Duration("sleep", time.Second, "length of each nanosleep")
	maxThreads := f.Int("max-threads", 0, "debug.SetMaxThreads (Go crashes beyond it)")
	call := f.String("call", "syscall", "syscall (Go's syscall.Nanosleep enters the scheduler's syscall state)")
	samplesPath := f.String("samples", "", "write t_ms,threads lines")
	f.Parse(args)
	if *call != "syscall" && *call != "syscall_blocking" {
		refuse("syscall_storm", "--call: expected syscall or syscall_blocking")
	}
	if *maxThreads > 0 {
		setMaxThreads(*maxThreads)
	}
	s := startSampler()
	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			defer wg.Done()
			nanosleep(*sleep)
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	points := s.finish()
	if *samplesPath != "" {
		writeSamples(*samplesPath, points, t0)
	}
	serial := time.Duration(*n) * *sleep
	mt := "default"
	if *maxThreads > 0 {
		mt = fmt.Sprint(*maxThreads)
	}
	fmt.Printf("syscall_storm: %d goroutines each in syscall.Nanosleep(%v), mode=go\n", *n, *sleep)
	fmt.Printf("  done after %.0f ms (one after another: %.0f ms)\n", ms(wall), ms(serial))
	newReport("syscall_storm").kv("n", *n).num("sleep_ms", ms(*sleep)).kv("call", "syscall").
		kv("max_threads", mt).num("serial_ms", ms(serial)).
		num("wall_over_sleep", wall.Seconds()/sleep.Seconds()).finish(wall, points)
}

// sleepersThreads: seed task 4, OS threads while N goroutines sleep.
func sleepersThreads(args []string) {
	f := newFlags("sleepers_threads")
	n := f.Int("n", 10000, "sleeping goroutines")
	sleep := f.Duration("sleep", 30*time.Second, "how long each sleeps")
	readAfter := f.Duration("read-after", time.Second, "when to read the thread count")
	f.Parse(args)
	s := startSampler()
	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() { defer wg.Done(); time.Sleep(*sleep) }()
	}
	time.Sleep(*readAfter)
	asleep := threadsNow()
	wg.Wait()
	wall := time.Since(t0)
	points := s.finish()
	fmt.Printf("sleepers_threads: %d goroutines asleep for %v, mode=go\n", *n, *sleep)
	fmt.Printf("  after %v: %d OS threads\n", *readAfter, asleep)
	newReport("sleepers_threads").kv("n", *n).num("sleep_ms", ms(*sleep)).num("read_after_ms", ms(*readAfter)).
		kv("threads_asleep", asleep).finish(wall, points)
}

// cpuScaling: seed task 6, K goroutines spinning at GOMAXPROCS 1..n.
func cpuScaling(args []string) {
	f := newFlags("cpu_scaling")
	tasks := f.Int("tasks", 4, "spinning goroutines")
	duration := f.Duration("duration", time.Second, "how long they spin")
	procsFlag := f.String("procs", "", "GOMAXPROCS values, e.g. 1,2,4 (default 1 up to the CPU count)")
	f.Parse(args)
	var procs []int
	if *procsFlag == "" {
		for p := 1; p <= runtime.NumCPU(); p++ {
			procs = append(procs, p)
		}
	} else {
		procs = parseList(*procsFlag)
	}
	s := startSampler()
	t0 := time.Now()
	r := newReport("cpu_scaling")
	var first, last float64
	fmt.Printf("cpu_scaling: %d goroutines spinning for %v, mode=go\n", *tasks, *duration)
	var list []string
	for _, p := range procs {
		runtime.GOMAXPROCS(p)
		counts := make([]uint64, *tasks)
		deadline := time.Now().Add(*duration)
		var wg sync.WaitGroup
		for i := range counts {
			wg.Add(1)
			go func(i int) { defer wg.Done(); counts[i] = spinUntil(deadline) }(i)
		}
		wg.Wait()
		var total, max uint64
		for _, c := range counts {
			total += c
			if c > max {
				max = c
			}
		}
		share := float64(max) / float64(total)
		fmt.Printf("  procs=%d: total %.1f M iterations, largest goroutine's share %.3f\n", p, float64(total)/1e6, share)
		r.num(fmt.Sprintf("total_m_p%d", p), float64(total)/1e6).num(fmt.Sprintf("max_share_p%d", p), share)
		if first == 0 {
			first = float64(total)
		}
		last = float64(total)
		list = append(list, fmt.Sprint(p))
	}
	wall := time.Since(t0)
	points := s.finish()
	head := newReport("cpu_scaling").kv("tasks", *tasks).num("duration_ms", ms(*duration)).
		kv("procs_list", joinComma(list))
	head.fields = append(head.fields, r.fields...)
	head.num("scaling", last/first).finish(wall, points)
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// netpollVsBlocking: seed task 8, sockets in the netpoller vs blocking file reads.
func netpollVsBlocking(args []string) {
	f := newFlags("netpoll_vs_blocking")
	n := f.Int("n", 100, "goroutines in each phase")
	fileKB := f.Int("file-kb", 1024, "size of the file each reads")
	chunkKB := f.Int("chunk-kb", 1024, "KiB per read call")
	wait := f.Duration("wait", 100*time.Millisecond, "how long socket readers wait for their byte")
	f.Parse(args)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-netpoll-go-%d", os.Getpid()))
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, *fileKB*1024), 0o600); err != nil {
		refuse("netpoll_vs_blocking", err.Error())
	}
	defer os.Remove(path)
	s := startSampler()
	t0 := time.Now()

	// Phase 1: sockets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		refuse("netpoll_vs_blocking", err.Error())
	}
	sockFrom := time.Now()
	var wg sync.WaitGroup
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				panic(err)
			}
			defer c.Close()
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				panic(err)
			}
		}()
	}
	var server []net.Conn
	for i := 0; i < *n; i++ {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		server = append(server, c)
	}
	time.Sleep(*wait)
	for _, c := range server {
		c.Write([]byte{1})
	}
	wg.Wait()
	sockTo, sockEnd := time.Now(), threadsNow()
	for _, c := range server {
		c.Close()
	}
	l.Close()

	// Phase 2: files.
	fileFrom := time.Now()
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			defer wg.Done()
			fh, err := os.Open(path)
			if err != nil {
				panic(err)
			}
			defer fh.Close()
			buf := make([]byte, *chunkKB*1024)
			total := 0
			for {
				k, err := fh.Read(buf)
				total += k
				if err == io.EOF || k == 0 {
					break
				}
			}
			if total != *fileKB*1024 {
				panic("short read")
			}
		}()
	}
	wg.Wait()
	fileTo, fileEnd := time.Now(), threadsNow()
	wall := time.Since(t0)
	points := s.finish()
	fileThreads := maxInt(peakBetween(points, fileFrom, fileTo), fileEnd)
	sockThreads := maxInt(peakBetween(points, sockFrom, sockTo), sockEnd)
	fmt.Printf("netpoll_vs_blocking: %d goroutines per phase, mode=go\n", *n)
	fmt.Printf("  socket phase: %.0f ms, up to %d OS threads\n", ms(sockTo.Sub(sockFrom)), sockThreads)
	fmt.Printf("  file phase:   %.1f ms, up to %d OS threads\n", ms(fileTo.Sub(fileFrom)), fileThreads)
	newReport("netpoll_vs_blocking").kv("n", *n).kv("file_kb", *fileKB).kv("chunk_kb", *chunkKB).
		num("file_ms", ms(fileTo.Sub(fileFrom))).kv("file_threads", fileThreads).
		num("socket_ms", ms(sockTo.Sub(sockFrom))).kv("socket_threads", sockThreads).
		num("wait_ms", ms(*wait)).finish(wall, points)
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// ffiStorm: seed tasks 9 and 10, N goroutines each in a blocking C call.
func ffiStorm(args []string) {
	f := newFlags("ffi_storm")
	n := f.Int("n", 100, "goroutines")
	sleep := f.Duration("sleep", 2*time.Second, "length of each call")
	limit := f.Int("limit", 0, "at most this many calls at once (0: no limit)")
	f.Parse(args)
	s := startSampler()
	t0 := time.Now()
	var sem chan struct{}
	if *limit > 0 {
		sem = make(chan struct{}, *limit)
	}
	var wg sync.WaitGroup
	wg.Add(*n)
	call := cSleepName(*sleep)
	for i := 0; i < *n; i++ {
		go func() {
			defer wg.Done()
			if sem != nil {
				sem <- struct{}{}
				defer func() { <-sem }()
			}
			cSleep(*sleep)
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	points := s.finish()
	serial := time.Duration(*n) * *sleep
	fmt.Printf("ffi_storm: %d goroutines each in %s(%v), limit %d, mode=go\n", *n, call, *sleep, *limit)
	fmt.Printf("  done after %.0f ms; up to %d OS threads\n", ms(wall), peak(points))
	r := newReport("ffi_storm").kv("n", *n).num("sleep_ms", ms(*sleep)).kv("call", call).kv("limit", *limit).
		num("serial_ms", ms(serial))
	if *limit > 0 {
		r.kv("thread_bound", *limit+runtime.GOMAXPROCS(0)+3)
	}
	r.finish(wall, points)
}

// lockThread: seed task 11, LockOSThread checked with gettid across yields.
func lockThread(args []string) {
	f := newFlags("lock_thread")
	yields := f.Int("yields", 100, "yields of the pinned goroutine")
	others := f.Int("others", 8, "goroutines yielding beside it")
	noLock := f.Bool("no-lock", false, "do not call LockOSThread")
	f.Parse(args)
	s := startSampler()
	t0 := time.Now()
	var done int32
	tids := make([]map[int]bool, *others)
	var wg sync.WaitGroup
	for i := range tids {
		tids[i] = map[int]bool{}
		wg.Add(1)
		go func(m map[int]bool) {
			defer wg.Done()
			for atomic.LoadInt32(&done) == 0 {
				m[syscall.Gettid()] = true
				runtime.Gosched()
			}
		}(tids[i])
	}
	drifts := make(chan int)
	go func() {
		if !*noLock {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		tid := syscall.Gettid()
		d := 0
		for i := 0; i < *yields; i++ {
			runtime.Gosched()
			if syscall.Gettid() != tid {
				d++
			}
		}
		drifts <- d
	}()
	d := <-drifts
	atomic.StoreInt32(&done, 1)
	wg.Wait()
	all := map[int]bool{}
	for _, m := range tids {
		for k := range m {
			all[k] = true
		}
	}
	wall := time.Since(t0)
	points := s.finish()
	lock := "yes"
	if *noLock {
		lock = "no"
	}
	fmt.Printf("lock_thread: one goroutine yielded %d times beside %d others, mode=go (lock: %s)\n", *yields, *others, lock)
	fmt.Printf("  gettid changed %d time(s); the others ran on %d distinct threads\n", d, len(all))
	newReport("lock_thread").kv("yields", *yields).kv("others", *others).kv("lock", lock).
		kv("drifts", d).kv("other_tids", len(all)).finish(wall, points)
	if d > 0 && !*noLock {
		fmt.Fprintf(os.Stderr, "lock_thread: drifted! %d time(s)\n", d)
		os.Exit(1)
	}
}

// tightLoop: a goroutine spinning with no call beside a 10 ms printer.
func tightLoop(args []string) {
	f := newFlags("tight_loop")
	spin := f.Duration("spin", time.Second, "how long the spinner spins")
	tick := f.Duration("tick", 10*time.Millisecond, "the printer's period")
	procs := f.Int("procs", 1, "GOMAXPROCS")
	preempt := f.Duration("preempt-every", 0, "call runtime.Gosched this often (0: never)")
	gapsPath := f.String("gaps", "", "write t_ms,gap_ms lines")
	quiet := f.Bool("quiet", false, "no line per tick")
	f.Parse(args)
	runtime.GOMAXPROCS(*procs)
	s := startSampler()
	t0 := time.Now()
	var stop int32
	ticksCh := make(chan []time.Time)
	go func() {
		start := time.Now()
		ticks := []time.Time{start}
		for atomic.LoadInt32(&stop) == 0 {
			time.Sleep(*tick)
			now := time.Now()
			if !*quiet {
				fmt.Printf("tick %4d t=%7.1fms gap=%6.1fms\n", len(ticks), ms(now.Sub(start)), ms(now.Sub(ticks[len(ticks)-1])))
			}
			ticks = append(ticks, now)
		}
		ticksCh <- ticks
	}()
	time.Sleep(5 * *tick)
	spinStart := time.Now()
	spunCh := make(chan uint64)
	go func() {
		deadline := time.Now().Add(*spin)
		if *preempt == 0 {
			spunCh <- spinUntil(deadline)
			return
		}
		var total uint64
		for {
			end := time.Now().Add(*preempt)
			if end.After(deadline) {
				end = deadline
			}
			total += spinUntil(end)
			if !time.Now().Before(deadline) {
				spunCh <- total
				return
			}
			runtime.Gosched()
		}
	}()
	spun := <-spunCh
	time.Sleep(5 * *tick)
	atomic.StoreInt32(&stop, 1)
	ticks := <-ticksCh
	wall := time.Since(t0)
	points := s.finish()
	var gaps []float64
	var b bytes.Buffer
	b.WriteString("t_ms,gap_ms\n")
	maxGap, late := 0.0, 0
	for i := 1; i < len(ticks); i++ {
		g := ms(ticks[i].Sub(ticks[i-1]))
		gaps = append(gaps, g)
		fmt.Fprintf(&b, "%.1f,%.2f\n", ms(ticks[i].Sub(spinStart)), g)
		if g > maxGap {
			maxGap = g
		}
		if g > 2*ms(*tick) {
			late++
		}
	}
	if *gapsPath != "" {
		os.WriteFile(*gapsPath, b.Bytes(), 0o644)
	}
	sorted := append([]float64(nil), gaps...)
	sort.Float64s(sorted)
	p50 := median(sorted)
	fmt.Printf("tight_loop: a goroutine spun %v beside a printer ticking every %v, mode=go procs=%d\n", *spin, *tick, *procs)
	fmt.Printf("  printer: %d ticks, median gap %.1f ms, largest gap %.1f ms, %d gap(s) over %.0f ms\n",
		len(ticks), p50, maxGap, late, 2*ms(*tick))
	newReport("tight_loop").num("spin_ms", ms(*spin)).num("tick_ms", ms(*tick)).num("preempt_every_ms", ms(*preempt)).
		kv("ticks", len(ticks)).num("max_gap_ms", maxGap).num("p50_gap_ms", p50).kv("late_ticks", late).
		num("spin_m", float64(spun)/1e6).finish(wall, points)
}

// timerLateness: how long after its deadline time.Sleep ends, beside a
// ticker goroutine of another phase and a goroutine parked reading a TCP
// connection (so the netpoller holds a socket, as in a server). With
// -busy DUR, one more goroutine spins DUR and calls runtime.Gosched(),
// over and over, until the driver is done, and counts the spins it began
// at or after the driver's deadline (the *_late_slices keys), as the Rust
// example does.
func timerLateness(args []string) {
	f := newFlags("timer_lateness")
	sleep := f.Duration("sleep", 10*time.Millisecond, "each sleep of the driver")
	n := f.Int("n", 200, "how many sleeps, one after the other")
	ticker := f.Duration("ticker", 3700*time.Microsecond, "the ticker goroutine's period")
	alone := f.Bool("alone", false, "no ticker and no socket")
	busy := f.Duration("busy", 0, "a goroutine spins this long between runtime.Gosched() calls (0: none)")
	procs := f.Int("procs", 0, "GOMAXPROCS (0: Go's default)")
	f.Parse(args)
	if *n < 1 {
		*n = 1
	}
	if !*alone && *ticker <= 0 {
		refuse("timer_lateness", "-ticker must be above zero (or pass -alone)")
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	s := startSampler()
	t0 := time.Now()

	// The ticker and the parked reader, unless alone.
	var stop int32
	ticksCh := make(chan uint64, 1)
	readCh := make(chan int, 1)
	var client net.Conn
	if !*alone {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			refuse("timer_lateness", err.Error())
		}
		client, err = net.Dial("tcp", l.Addr().String())
		if err != nil {
			refuse("timer_lateness", err.Error())
		}
		server, err := l.Accept()
		if err != nil {
			refuse("timer_lateness", err.Error())
		}
		l.Close()
		go func() {
			b := make([]byte, 16)
			k, _ := server.Read(b)
			server.Close()
			readCh <- k
		}()
		go func() {
			var ticks uint64
			for atomic.LoadInt32(&stop) == 0 {
				time.Sleep(*ticker)
				ticks++
			}
			ticksCh <- ticks
		}()
	}

	// The busy goroutine, if asked for: it runs until the driver is done
	// and counts its spins begun at or after the driver's deadline
	// (deadlineNs after base; none between sleeps).
	var stopBusy int32
	busyCh := make(chan uint64, 1)
	base := time.Now()
	var deadlineNs int64 = math.MaxInt64
	var past int64
	if *busy > 0 {
		go func() {
			var yields uint64
			for atomic.LoadInt32(&stopBusy) == 0 {
				t := time.Now()
				if int64(t.Sub(base)) >= atomic.LoadInt64(&deadlineNs) {
					atomic.AddInt64(&past, 1)
				}
				for time.Since(t) < *busy {
				}
				runtime.Gosched()
				yields++
			}
			busyCh <- yields
		}()
	}

	late := make([]float64, 0, *n)
	slices := make([]float64, 0, *n)
	for i := 0; i < *n; i++ {
		t := time.Now()
		if *busy > 0 {
			atomic.StoreInt64(&past, 0)
			atomic.StoreInt64(&deadlineNs, int64(t.Add(*sleep).Sub(base)))
		}
		time.Sleep(*sleep)
		late = append(late, float64(time.Since(t)-*sleep)/1e3)
		if *busy > 0 {
			atomic.StoreInt64(&deadlineNs, math.MaxInt64)
			slices = append(slices, float64(atomic.LoadInt64(&past)))
		}
	}

	var ticks uint64
	tickerMs := 0.0
	if !*alone {
		atomic.StoreInt32(&stop, 1)
		ticks = <-ticksCh
		client.Write([]byte{'x'})
		if k := <-readCh; k != 1 {
			panic("the reader did not get its one byte")
		}
		client.Close()
		tickerMs = ms(*ticker)
	}
	var busyYields uint64
	if *busy > 0 {
		atomic.StoreInt32(&stopBusy, 1)
		busyYields = <-busyCh
	}
	wall := time.Since(t0)
	points := s.finish()

	sort.Float64s(late)
	early := 0
	for _, l := range late {
		if l < 0 {
			early++
		}
	}
	p50, p90, p99 := percentile(late, 50), percentile(late, 90), percentile(late, 99)
	maxLate := late[len(late)-1]
	sort.Float64s(slices)
	s50, s99, sMax := percentile(slices, 50), percentile(slices, 99), 0.0
	if len(slices) > 0 {
		sMax = slices[len(slices)-1]
	}
	beside := "alone"
	if !*alone {
		beside = fmt.Sprintf("beside a %v ticker and a parked socket read", *ticker)
	}
	if *busy > 0 {
		beside += fmt.Sprintf(", and a goroutine spinning %v between yields", *busy)
	}
	fmt.Printf("timer_lateness: %d sleeps of %v, %s, mode=go procs=%d\n", *n, *sleep, beside, runtime.GOMAXPROCS(0))
	fmt.Printf("  late by: median %.0f µs, p90 %.0f µs, p99 %.0f µs, most %.0f µs; %d ended early\n",
		p50, p90, p99, maxLate, early)
	if *busy > 0 {
		fmt.Printf("  busy goroutine's spins begun past a deadline, per sleep: median %.0f, p99 %.0f, most %.0f; %d yields in all\n",
			s50, s99, sMax, busyYields)
	}
	newReport("timer_lateness").num("sleep_ms", ms(*sleep)).num("ticker_ms", tickerMs).kv("n", *n).
		num("p50_late_us", p50).num("p90_late_us", p90).num("p99_late_us", p99).num("max_late_us", maxLate).
		kv("early", early).kv("ticks", ticks).num("busy_us", float64(*busy)/1e3).kv("busy_yields", busyYields).
		num("p50_late_slices", s50).num("p99_late_slices", s99).num("max_late_slices", sMax).finish(wall, points)
}

// percentile is the pth percentile of sorted (nearest rank), as the Rust
// example takes it.
func percentile(sorted []float64, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (len(sorted)*p + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
