package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// These tests start the real daemon binary against a real redis-server.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func daemonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smartcharged-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "smartcharged")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type daemon struct {
	t                *testing.T
	args             []string
	grpc, http, ocpp string
	cmd              *exec.Cmd
	exited           chan error
	mu               sync.Mutex
	log              strings.Builder
}

func newDaemon(t *testing.T, extra ...string) *daemon {
	d := &daemon{t: t, grpc: freePort(t), http: freePort(t), ocpp: freePort(t)}
	d.args = append([]string{"--grpc-listen", d.grpc, "--http-listen", d.http, "--ocpp-listen", d.ocpp, "--insecure-local", "--log-format", "json"}, extra...)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(daemonBinary(d.t), d.args...)
	d.cmd.Env = append(os.Environ(), "SMARTCHARGE_LOG_LEVEL=debug")
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	cmd, waited := d.cmd, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if strings.Contains(line, "smartcharged ready") {
				once.Do(func() { close(ready) })
			}
		}
		err := cmd.Wait()
		close(waited)
		d.exited <- err
	}()
	d.t.Cleanup(func() {
		select {
		case <-waited:
		default: // still running (not reading ProcessState: Wait writes it)
			_ = cmd.Process.Kill()
		}
		if d.t.Failed() {
			d.t.Logf("daemon log:\n%s", d.logText())
		}
	})
	select {
	case <-ready:
	case err := <-d.exited:
		d.t.Fatalf("daemon exited before ready: %v\n%s", err, d.logText())
	case <-time.After(60 * time.Second):
		d.t.Fatalf("daemon not ready in 60 s\n%s", d.logText())
	}
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// stop sends sig and waits for the exit; it returns the exit error.
func (d *daemon) stop(sig syscall.Signal) error {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		return err
	case <-time.After(30 * time.Second):
		d.t.Fatalf("daemon did not exit within 30 s of %v", sig)
		return nil
	}
}

func (d *daemon) dial() *grpc.ClientConn {
	d.t.Helper()
	cc, err := grpc.NewClient(d.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { cc.Close() })
	return cc
}

func testSite(id string) *pb.Site {
	return &pb.Site{DisplayName: "Depot " + id, TimeZone: "Europe/Berlin", NominalVoltage: 230, GridLimit: &pb.PhaseCurrents{L1: 63, L2: 63, L3: 63}}
}

func TestDaemonRestartKeepsState(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			rs := redistest.StartServer(t, &redistest.Options{Persistent: true})
			d := newDaemon(t, "--redis-url", "redis://"+rs.Addr+"/0")
			d.start()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sites := pb.NewSiteServiceClient(d.dial())
			created, err := sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "depot", Site: testSite("depot")})
			if err != nil {
				t.Fatal(err)
			}
			err = d.stop(sig)
			if sig == syscall.SIGTERM && err != nil {
				t.Fatalf("graceful shutdown exited with %v", err)
			}
			if sig == syscall.SIGTERM && !strings.Contains(d.logText(), `"msg":"stopped"`) {
				t.Errorf("no clean stop logged")
			}
			d.start()
			got, err := pb.NewSiteServiceClient(d.dial()).GetSite(ctx, &pb.GetSiteRequest{Name: "sites/depot"})
			if err != nil {
				t.Fatalf("after restart: %v", err)
			}
			if !proto.Equal(got.GetSite(), created.GetSite()) {
				t.Errorf("after restart got %v, want %v", got.GetSite(), created.GetSite())
			}
		})
	}
}

func TestDaemonRedisOutageGivesUnavailableAndRecovers(t *testing.T) {
	rs := redistest.StartServer(t, &redistest.Options{Persistent: true})
	d := newDaemon(t, "--redis-url", "redis://"+rs.Addr+"/0")
	d.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sites := pb.NewSiteServiceClient(d.dial())
	if _, err := sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "depot", Site: testSite("depot")}); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	_, err := sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/depot"})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("GetSite with Redis down: %v, want UNAVAILABLE", err)
	}
	if code := httpStatus(t, "http://"+d.http+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with Redis down: %d, want 503", code)
	}
	rs.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/depot"})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("daemon did not reconnect to Redis: %v", err)
	}
	if code := httpStatus(t, "http://"+d.http+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after recovery: %d", code)
	}
}

func TestDaemonServesHealthMetricsAndDemo(t *testing.T) {
	d := newDaemon(t, "--site-file", filepath.Join("..", "..", "examples", "demo-depot.yaml"))
	d.start()
	if !strings.Contains(d.logText(), "EMBEDDED") {
		t.Error("embedded store not announced loudly")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := d.dial()
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v %v", h, err)
	}
	list, err := pb.NewSiteServiceClient(cc).ListSites(ctx, &pb.ListSitesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSites()) != 1 || list.GetSites()[0].GetName() != "sites/demo-depot" {
		t.Errorf("demo site not loaded: %v", list.GetSites())
	}
	chargers, err := pb.NewChargerServiceClient(cc).ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/demo-depot", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(chargers.GetChargers()) != 12 {
		t.Errorf("demo depot has %d chargers, want 12", len(chargers.GetChargers()))
	}
	// The control loop is wired to the API: the demo site has an allocation
	// (after its first run) naming its EVSEs.
	alloc := pb.NewAllocationServiceClient(cc)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := alloc.GetAllocation(ctx, &pb.GetAllocationRequest{Name: "sites/demo-depot/allocation"})
		if err != nil {
			t.Fatalf("GetAllocation: %v", err)
		}
		if a.GetAllocation().GetSeq() > 0 {
			if n := len(a.GetAllocation().GetEvses()); n != 20 {
				t.Errorf("allocation has %d EVSEs, want the demo's 20", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no allocation within 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get("http://" + d.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("/metrics: %d %.200s", resp.StatusCode, body)
	}
	// An unregistered charger is refused at the handshake.
	req, _ := http.NewRequest("GET", "http://"+d.ocpp+"/ocpp/NOBODY", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "ocpp1.6")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Error("unknown charger identity was admitted")
	}
	if err := d.stop(syscall.SIGINT); err != nil {
		t.Errorf("SIGINT shutdown: %v", err)
	}
}

func TestDaemonTokensAndPublicHealth(t *testing.T) {
	const token = "s3cret-token-for-the-ems"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	content := "tokens:\n  - name: ems\n    sha256: " + apiserverHash(token) + "\n    role: admin\n    sites: [\"*\"]\n"
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, "--config", cfg)
	// Drop --insecure-local: every API call needs the token.
	for i, a := range d.args {
		if a == "--insecure-local" {
			d.args = append(d.args[:i], d.args[i+1:]...)
			break
		}
	}
	d.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := d.dial()
	if h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v %v", h, err)
	}
	sites := pb.NewSiteServiceClient(cc)
	if _, err := sites.ListSites(ctx, &pb.ListSitesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListSites without a token: %v, want UNAUTHENTICATED", err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	if _, err := sites.ListSites(actx, &pb.ListSitesRequest{}); err != nil {
		t.Errorf("ListSites with the token: %v", err)
	}
	bctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong")
	if _, err := sites.ListSites(bctx, &pb.ListSitesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListSites with a wrong token: %v, want UNAUTHENTICATED", err)
	}
}

func apiserverHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TestDaemonDelegation checks the daemon's wiring of the delegation hub: a
// CSMS reports a charger of the demo depot, and the control loop's first
// command for it (its fallback profile) arrives on the CSMS's stream.
func TestDaemonDelegation(t *testing.T) {
	d := newDaemon(t, "--site-file", filepath.Join("..", "..", "examples", "demo-depot.yaml"))
	d.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := pb.NewDelegationServiceClient(d.dial())
	const charger = "sites/demo-depot/chargers/cp01"
	now := timestamppb.Now()
	_, err := api.ReportChargerEvents(ctx, &pb.ReportChargerEventsRequest{Name: "sites/demo-depot", Events: []*pb.ChargerEvent{
		{Charger: charger, EventTime: now, Event: &pb.ChargerEvent_Connected{Connected: &pb.ChargerConnectedEvent{Protocol: "ocpp2.0.1"}}},
		{Charger: charger, EventTime: now, Event: &pb.ChargerEvent_Booted{Booted: &pb.ChargerBootedEvent{Vendor: "Acme", Model: "Volt 22"}}},
		{Charger: charger, EventTime: now, Event: &pb.ChargerEvent_EvseStatus{EvseStatus: &pb.EvseStatusEvent{EvseId: 1, State: pb.EvseState_EVSE_STATE_AVAILABLE}}},
	}})
	if err != nil {
		t.Fatalf("ReportChargerEvents: %v", err)
	}
	stream, err := api.StreamCommands(ctx, &pb.StreamCommandsRequest{Name: "sites/demo-depot"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("no command on the CSMS's stream: %v", err)
	}
	cmd := resp.GetCommand()
	if cmd.GetCharger() != charger || cmd.GetSeq() != 1 {
		t.Fatalf("first command = %v, want seq 1 for %s", cmd, charger)
	}
	if _, err := api.AckCommand(ctx, &pb.AckCommandRequest{Name: "sites/demo-depot", Seq: cmd.GetSeq(), Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED}); err != nil {
		t.Fatalf("AckCommand: %v", err)
	}
}

// TestDaemonTLS serves the gRPC API over TLS from certificate and key
// files; a client that trusts the certificate gets in, a plaintext one
// does not.
func TestDaemonTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	d := newDaemon(t, "--tls-cert", certFile, "--tls-key", keyFile)
	d.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc, err := grpc.NewClient(d.grpc, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	// Over TLS the peer is still loopback, so --insecure-local lets the
	// call in without a token.
	if _, err := pb.NewSiteServiceClient(cc).ListSites(ctx, &pb.ListSitesRequest{}); err != nil {
		t.Errorf("ListSites over TLS: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := pb.NewSiteServiceClient(d.dial()).ListSites(short, &pb.ListSitesRequest{}); err == nil {
		t.Error("a plaintext client was served by a TLS server")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smartcharged test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestDaemonRefusesBadFlags(t *testing.T) {
	cmd := exec.Command(daemonBinary(t), "--log-format", "xml")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want 2", err)
	}
	if !strings.Contains(string(out), "--log-format") {
		t.Errorf("error does not name the flag: %s", out)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
