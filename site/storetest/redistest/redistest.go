// Package redistest starts real redis-server processes for tests.
//
// Each server listens on 127.0.0.1 on a free port, keeps its files in a
// temporary directory of the test and is killed when the test ends. When
// the redis-server binary is missing the test is skipped, unless the
// environment variable CI is "true": then it fails, so CI never passes by
// skipping.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Options say how to run a server; nil means an in-memory server.
type Options struct {
	// Persistent turns on the append-only file (fsync always), so data
	// survives Stop and Restart.
	Persistent bool
	// Cluster runs the server as a one-node Redis Cluster that owns all
	// 16384 slots, for testing cluster clients.
	Cluster bool
}

// Server is a running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Dir holds the server's data and log.
	Dir string

	t    testing.TB
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts an in-memory redis-server and returns its address.
func Start(t testing.TB) string { return StartServer(t, nil).Addr }

// StartServer starts a redis-server as opts say.
func StartServer(t testing.TB, opts *Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server not found in PATH and CI=true: install redis-server (apt-get install redis-server): %v", err)
		}
		t.Skipf("redistest: redis-server not found in PATH (install redis-server to run this test): %v", err)
	}
	s := &Server{t: t, Dir: t.TempDir()}
	if opts != nil {
		s.opts = *opts
	}
	var lastErr error
	for range 5 { // a free port may be taken between probe and start
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: %v", lastErr)
	}
	t.Cleanup(s.Kill)
	if s.opts.Cluster {
		if err := s.setupCluster(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.Dir,
		"--save", "", "--daemonize", "no", "--logfile", "",
	}
	if s.opts.Persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.Dir, "nodes.conf"))
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // exits with the process
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server on %s exited early:\n%s", s.Addr, s.logTail())
		default:
		}
		if err := s.ping(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on %s not ready after 10s:\n%s", s.Addr, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Do sends one command and returns the first line of the reply.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", errors.New(line[1:])
	}
	if strings.HasPrefix(line, "$") { // bulk string: return its body
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line, nil
}

func (s *Server) ping() error {
	out, err := s.Do("PING")
	if err != nil {
		return err
	}
	if out != "+PONG" {
		return fmt.Errorf("PING: %s", out)
	}
	return nil
}

func (s *Server) setupCluster() error {
	if _, err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil && !strings.Contains(err.Error(), "already") {
		return fmt.Errorf("cluster addslotsrange: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := s.Do("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok after 10s: %q %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down gracefully (SIGTERM: a persistent server
// flushes its append-only file) and waits for it to exit.
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redistest: redis-server on %s ignored SIGTERM for 10s; killing it", s.Addr)
		s.Kill()
	}
	s.cmd = nil
}

// Kill ends the server at once. It is safe to call on a stopped server.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port and directory, after
// Stop or Kill.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.Stop()
	}
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
