// The two servers of the comparison: http (a keep-alive hello for wrk) and
// echo (the server of compare's echo rows). Each prints `listening on ADDR`
// once ready and its result line when stopped by SIGINT, SIGTERM or -for.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
)

// setMaxThreads is runtime/debug.SetMaxThreads (Go crashes past it).
func setMaxThreads(n int) { debug.SetMaxThreads(n) }

// waitStop blocks until SIGINT, SIGTERM or the -for duration; says which.
func waitStop(runFor time.Duration) string {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if runFor > 0 {
		timeout = time.After(runFor)
	}
	select {
	case s := <-sig:
		if s == syscall.SIGINT {
			return "SIGINT"
		}
		return "SIGTERM"
	case <-timeout:
		return "-for elapsed"
	}
}

// httpServer: net/http answering Hello, World! with keep-alive.
func httpServer(args []string) {
	f := newFlags("http")
	addr := f.String("addr", "127.0.0.1:8080", "where to listen")
	runFor := f.Duration("for", 0, "stop after this long (0: on a signal)")
	f.Parse(args)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		refuse("http", err.Error())
	}
	var requests, conns int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			atomic.AddInt64(&requests, 1)
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("Hello, World!"))
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				atomic.AddInt64(&conns, 1)
			}
		},
	}
	s := startSampler()
	fmt.Printf("listening on %s\n", l.Addr())
	t0 := time.Now()
	go srv.Serve(l)
	why := waitStop(*runFor)
	wall := time.Since(t0)
	points := s.finish()
	req := atomic.LoadInt64(&requests)
	rate := float64(req) / wall.Seconds()
	fmt.Printf("http: %s: served %d requests on %d connections in %.1f s (%.0f requests/s), mode=go\n",
		why, req, atomic.LoadInt64(&conns), wall.Seconds(), rate)
	newReport("http").kv("addr", l.Addr()).kv("requests", req).kv("connections", atomic.LoadInt64(&conns)).
		num("req_per_s", rate).finish(wall, points)
}

// echoServer: every byte read is written back, one goroutine per connection.
func echoServer(args []string) {
	f := newFlags("echo")
	addr := f.String("addr", "127.0.0.1:7000", "where to listen")
	runFor := f.Duration("for", 0, "stop after this long (0: on a signal)")
	f.Parse(args)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		refuse("echo", err.Error())
	}
	var conns, bytes int64
	s := startSampler()
	fmt.Printf("listening on %s\n", l.Addr())
	t0 := time.Now()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			atomic.AddInt64(&conns, 1)
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 16*1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
					atomic.AddInt64(&bytes, int64(n))
				}
			}(c)
		}
	}()
	why := waitStop(*runFor)
	wall := time.Since(t0)
	points := s.finish()
	fmt.Printf("echo: %s: served %d connections, %d bytes, mode=go\n", why, atomic.LoadInt64(&conns), atomic.LoadInt64(&bytes))
	newReport("echo").kv("connections", atomic.LoadInt64(&conns)).kv("bytes", atomic.LoadInt64(&bytes)).
		finish(wall, points)
}
