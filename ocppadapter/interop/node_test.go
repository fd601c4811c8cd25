package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// nodeDir holds the node project (package.json, package-lock.json, scripts).
const nodeDir = "node"

var (
	npmOnce sync.Once
	npmErr  error
	nodeBin string
)

// requireNode finds node and npm and runs `npm ci` once when node_modules
// is missing. Without node or npm the test is skipped, or fails under CI.
func requireNode(t *testing.T) string {
	t.Helper()
	npmOnce.Do(func() {
		node, err := exec.LookPath("node")
		if err != nil {
			npmErr = fmt.Errorf("node not found on PATH: %w", err)
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			npmErr = fmt.Errorf("npm not found on PATH: %w", err)
			return
		}
		nodeBin = node
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ocpp-rpc", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = nodeDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %w\n%s", nodeDir, err, out)
		}
	})
	if npmErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("interop tests need node and npm (CI=true): %v", npmErr)
		}
		t.Skipf("skipping interop test: %v", npmErr)
	}
	return nodeBin
}

// server is an adapter on 127.0.0.1 with an in-memory store, as a
// production binary runs it (no outgoing validation: what the charger
// sees is what production sends).
type server struct {
	srv    *ocppadapter.Server
	mem    *ocpptest.MemStore
	events *ocpptest.Recorder
	url    string // ws://127.0.0.1:port/ocpp/
	refs   map[string]site.ChargerRef
}

func startServer(t *testing.T, identities ...string) *server {
	t.Helper()
	mem := ocpptest.NewMemStore()
	refs, err := mem.AddChargers("interop-site", "", identities...)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{mem: mem, events: ocpptest.NewRecorder(), refs: map[string]site.ChargerRef{}}
	for i, id := range identities {
		s.refs[id] = refs[i]
	}
	s.srv, err = ocppadapter.NewServer(ocppadapter.Config{
		Store:               mem,
		Events:              s.events,
		Logger:              slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		CallTimeout:         10 * time.Second,
		MeterSampleInterval: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.srv)
	s.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ocpp/"
	t.Cleanup(func() {
		s.srv.Close()
		hs.Close()
	})
	return s
}

// nodeProc is a running node script that speaks JSON lines on stdout.
type nodeProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan map[string]any
	done  chan struct{}
}

// lockedBuffer lets the process's stderr be written while a failing test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// startNode runs `node script args...` in nodeDir, killed after timeout or
// at the end of the test.
func startNode(t *testing.T, timeout time.Duration, script string, args ...string) *nodeProc {
	t.Helper()
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = nodeDir
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &nodeProc{t: t, cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 16), done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("%s: stdout line is not JSON: %q", script, sc.Text())
				continue
			}
			p.lines <- m
		}
	}()
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", script, stderr.String())
		}
	})
	return p
}

// next waits for the next stdout object of the given type.
func (p *nodeProc) next(typ string, timeout time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("node exited before a %q line (%v)", typ, p.cmd.ProcessState)
			}
			if m["type"] == typ {
				return m
			}
			p.t.Logf("node: skipping %v", m)
		case <-deadline:
			p.t.Fatalf("no %q line from node within %v", typ, timeout)
		}
	}
}

func (p *nodeProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("write to node: %v", err)
	}
}

// decodeInto re-decodes a generic JSON object into a typed value.
func decodeInto(t *testing.T, v any, dst any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
