package ocppadapter

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/smartcharge/smartcharge/site"
)

// maxIdentityLen is the longest charger identity accepted in the URL
// (OCPP 2.0.1 Part 4: identifierString of at most 48 characters).
const maxIdentityLen = 48

// Server is the central-system side of OCPP-J: an http.Handler for
// /ocpp/{chargerIdentity} and a [site.ChargerControl]. Create it with
// NewServer; it is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	// base is the root of every connection's context: a connection
	// outlives the request that opened it and ends by being closed
	// (conn.closed), never by cancellation.
	base     context.Context
	upgrader websocket.Upgrader
	writes   writePool
	schemas  [3]*schemaSet // by Version
	tls      *tls.Config

	idPrefix string
	idSeq    atomic.Uint64

	// evses caches sites' EVSE lists for commissioning holds.
	evses evseCache

	mu         sync.Mutex
	closed     bool
	byIdentity map[string]*conn
	byRef      map[site.ChargerRef]*conn
	wg         sync.WaitGroup // live connections
}

var _ site.ChargerControl = (*Server)(nil)
var _ http.Handler = (*Server)(nil)

// NewServer checks cfg, loads the schemas and, for security profiles 2
// and 3, the TLS files.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "ocpp"),
		byIdentity: make(map[string]*conn),
		byRef:      make(map[site.ChargerRef]*conn),
		base:       context.Background(),
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.CallTimeout,
		ReadBufferSize:   connReadBufSize,
		WriteBufferSize:  connWriteBufSize,
		WriteBufferPool:  &s.writes,
	}
	for _, v := range []Version{V16, V201} {
		set, err := newSchemaSet(v)
		if err != nil {
			return nil, err
		}
		s.schemas[v] = set
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ocppadapter: message id prefix: %w", err)
	}
	s.idPrefix = hex.EncodeToString(b[:]) + "-"
	if cfg.SecurityProfile >= 2 {
		t, err := loadTLS(cfg)
		if err != nil {
			return nil, err
		}
		s.tls = t
	}
	return s, nil
}

func loadTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ocppadapter: load TLS key pair: %w", err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.SecurityProfile == 3 {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("ocppadapter: read client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ocppadapter: client CA file %s holds no PEM certificate", cfg.ClientCAFile)
		}
		t.ClientCAs = pool
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}

// TLSConfig returns the TLS configuration the listener must use for
// security profiles 2 and 3 (nil for 0 and 1). The caller owns the copy.
func (s *Server) TLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

func (s *Server) nextMessageID() string {
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// identityFromPath returns the last segment of the URL path, unescaped.
func identityFromPath(u *url.URL) (string, error) {
	p := u.EscapedPath()
	i := strings.LastIndexByte(p, '/')
	id, err := url.PathUnescape(p[i+1:])
	if err != nil {
		return "", fmt.Errorf("bad escape in identity: %w", err)
	}
	if id == "" {
		return "", errors.New("no charger identity in the URL path (want /ocpp/{chargerIdentity})")
	}
	if !utf8.ValidString(id) || utf8.RuneCountInString(id) > maxIdentityLen {
		return "", fmt.Errorf("charger identity must be valid UTF-8 of at most %d characters", maxIdentityLen)
	}
	if strings.ContainsAny(id, ":/") {
		return "", errors.New("charger identity must not contain ':' or '/'")
	}
	return id, nil
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, identity, msg string, args ...any) {
	s.log.Warn("ocpp handshake refused", append([]any{"identity", identity, "remote", r.RemoteAddr, "status", status, "reason", msg}, args...)...)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ocpp", charset="UTF-8"`)
	}
	http.Error(w, msg, status)
}

// ServeHTTP upgrades /ocpp/{chargerIdentity} to an OCPP-J WebSocket and
// serves it until the connection ends. It refuses a handshake without a
// supported subprotocol (400), an unregistered identity (404, unless
// AdmitUnknown), failed authentication (401, 403) and store failures (503).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	identity, err := identityFromPath(r.URL)
	if err != nil {
		s.refuse(w, r, http.StatusNotFound, "", err.Error())
		return
	}
	offered := websocketProtocols(r)
	version, ok := negotiate(offered)
	if !ok {
		s.refuse(w, r, http.StatusBadRequest, identity, "no supported OCPP subprotocol offered (want ocpp2.0.1 or ocpp1.6)", "offered", offered)
		return
	}
	if s.cfg.SecurityProfile >= 2 && r.TLS == nil {
		s.refuse(w, r, http.StatusForbidden, identity, fmt.Sprintf("security profile %d requires TLS", s.cfg.SecurityProfile))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.StoreTimeout)
	ref, known, status, reason := s.admit(ctx, r, identity)
	cancel()
	if status != 0 {
		s.refuse(w, r, status, identity, reason)
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		s.refuse(w, r, http.StatusServiceUnavailable, identity, "server shutting down")
		return
	}
	var (
		up   *upstream
		upWS *websocket.Conn
	)
	if s.cfg.Proxy != nil && known {
		if up, upWS, version, status, reason = s.openUpstream(r, identity, ref, offered, version); status != 0 {
			s.wg.Done()
			s.refuse(w, r, status, identity, reason)
			return
		}
	}
	hdr := http.Header{"Sec-Websocket-Protocol": {version.Subprotocol()}}
	ws, err := s.upgrader.Upgrade(pooledReads{w}, r, hdr)
	if err != nil {
		s.wg.Done()
		if upWS != nil {
			_ = upWS.Close()
		}
		s.log.Warn("ocpp websocket upgrade failed", "identity", identity, "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.cfg.MaxFrameBytes)
	c := newConn(s, ws, version, identity, ref, known, r.RemoteAddr)
	if up != nil {
		up.c, c.up = c, up
	}
	// Serve on a goroutine of our own and return, so net/http drops its
	// per-request state and buffers: an idle charger costs little.
	if !c.start(s.base) {
		s.wg.Done()
		if upWS != nil {
			_ = upWS.Close()
		}
		return
	}
	if up != nil {
		up.start(upWS)
	}
	go c.run(s.wg.Done)
}

// openUpstream connects a proxied charger's CSMS before the charger's
// handshake is answered, offering the charger's subprotocols, so that
// the charger gets the one the CSMS chose. A CSMS that refuses the
// handshake gets the charger refused with the same HTTP status; one that
// cannot be reached gets it refused with 502 when the Loss policy closes
// the charger's version, else accepted (the proxy dials again). up is nil
// for a charger that is served directly.
func (s *Server) openUpstream(r *http.Request, identity string, ref site.ChargerRef, offered []string, local Version) (up *upstream, ws *websocket.Conn, v Version, status int, reason string) {
	t, ok := s.cfg.Proxy.Upstream(ref, identity)
	if !ok {
		return nil, nil, local, 0, ""
	}
	up, err := s.newUpstream(identity, t, upstreamHeader(r, identity, t))
	if err != nil {
		s.log.Error("ocpp proxy: bad upstream target", "identity", identity, "err", err)
		return nil, nil, local, http.StatusBadGateway, "upstream CSMS misconfigured"
	}
	var protos []string
	for _, p := range offered {
		if _, ok := negotiate([]string{p}); ok {
			protos = append(protos, p)
		}
	}
	ws, chosen, upStatus, err := up.dial(r.Context(), protos)
	switch {
	case err == nil:
		v, ok := negotiate([]string{chosen})
		if !ok {
			_ = ws.Close()
			return nil, nil, local, http.StatusBadGateway, "upstream CSMS chose no supported subprotocol"
		}
		return up, ws, v, 0, ""
	case upStatus != 0 && upStatus != http.StatusBadGateway && upStatus != http.StatusServiceUnavailable && upStatus < 500:
		s.log.Warn("ocpp proxy: CSMS refused the charger's handshake", "identity", identity, "status", upStatus)
		return nil, nil, local, upStatus, "refused by upstream CSMS"
	case s.cfg.Proxy.closesOnLoss(local):
		s.log.Warn("ocpp proxy: CSMS unreachable; charger refused", "identity", identity, "url", up.url, "err", err)
		return nil, nil, local, http.StatusBadGateway, "upstream CSMS unreachable"
	}
	s.log.Warn("ocpp proxy: CSMS unreachable; charger accepted, its CALLs queued", "identity", identity, "url", up.url, "err", err)
	return up, nil, local, 0, ""
}

// Buffer sizes of a connection. Frame headers and control frames are
// read through a small bufio.Reader of the connection's own (the
// WebSocket library wants one of at least 125 bytes); everything else
// goes through buffers shared by all connections: payloads are read in
// pooled chunks (pooledReadConn) and written from pooled write buffers,
// so an idle connection holds neither.
const (
	connReadBufSize  = 128
	connWriteBufSize = 4096
)

// pooledReads hands the WebSocket library the hijacked connection wrapped
// in a pooledReadConn.
type pooledReads struct{ http.ResponseWriter }

func (w pooledReads) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	nc := newPooledReadConn(c)
	// Bytes the client sent right after its handshake may already sit in
	// net/http's buffer (the library refuses a buffered handshake): they
	// are read first.
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		nc = &earlyConn{Conn: nc, early: bytes.Clone(early)}
		if _, err := brw.Reader.Discard(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return nc, brw, nil
}

// earlyConn returns early before what it reads from Conn.
type earlyConn struct {
	net.Conn
	early []byte
}

func (c *earlyConn) Read(p []byte) (int, error) {
	if len(c.early) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.early)
	c.early = c.early[n:]
	if len(c.early) == 0 {
		c.early = nil
	}
	return n, nil
}

// writePool is the WebSocket library's shared pool of write buffers.
type writePool struct{ p sync.Pool }

func (p *writePool) Get() any  { return p.p.Get() }
func (p *writePool) Put(v any) { p.p.Put(v) }

// admit finds the charger and checks its credentials. A non-zero status
// refuses the handshake.
func (s *Server) admit(ctx context.Context, r *http.Request, identity string) (ref site.ChargerRef, known bool, status int, reason string) {
	ref, err := s.cfg.Store.ChargerByIdentity(ctx, identity)
	switch {
	case errors.Is(err, site.ErrNotFound):
		if !s.cfg.AdmitUnknown {
			return ref, false, http.StatusNotFound, "charger identity is not registered on any site"
		}
		return site.ChargerRef{}, false, 0, ""
	case err != nil:
		s.log.Error("ocpp handshake: store lookup failed", "identity", identity, "err", err)
		return ref, false, http.StatusServiceUnavailable, "state store unavailable"
	}
	switch s.cfg.SecurityProfile {
	case 1, 2:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return ref, true, http.StatusUnauthorized, "HTTP Basic authentication required"
		}
		if user != identity {
			return ref, true, http.StatusUnauthorized, "Basic auth user must equal the charger identity"
		}
		cfg, err := s.cfg.Store.Config(ctx, ref.SiteID)
		if err != nil {
			s.log.Error("ocpp handshake: read site config failed", "identity", identity, "err", err)
			return ref, true, http.StatusServiceUnavailable, "state store unavailable"
		}
		i := slices.IndexFunc(cfg.Chargers, func(c site.Charger) bool { return c.ID == ref.ChargerID })
		if (i < 0 || cfg.Chargers[i].PasswordHash == "") && s.passesAuthThrough(ref, identity) {
			// The CSMS checks the password it was given.
			return ref, true, 0, ""
		}
		if i < 0 || cfg.Chargers[i].PasswordHash == "" {
			return ref, true, http.StatusUnauthorized, "no password is set for this charger"
		}
		ok, err = CheckPassword(cfg.Chargers[i].PasswordHash, pass)
		if err != nil {
			s.log.Error("ocpp handshake: stored password hash unusable", "identity", identity, "err", err)
		}
		if !ok {
			return ref, true, http.StatusUnauthorized, "wrong password"
		}
	case 3:
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return ref, true, http.StatusForbidden, "client certificate required"
		}
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != identity {
			return ref, true, http.StatusForbidden, fmt.Sprintf("client certificate is for %q, not this identity", cn)
		}
	}
	return ref, true, 0, ""
}

// passesAuthThrough reports whether the charger is proxied with its
// Basic credentials passed to the CSMS.
func (s *Server) passesAuthThrough(ref site.ChargerRef, identity string) bool {
	if s.cfg.Proxy == nil {
		return false
	}
	t, ok := s.cfg.Proxy.Upstream(ref, identity)
	return ok && t.BasicAuthPassthrough
}

func websocketProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// register makes c the live connection of its identity, closing and
// waiting out an older one first (OCPP: a reconnecting charger replaces
// its old connection).
func (s *Server) register(c *conn) bool {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false
		}
		old := s.byIdentity[c.identity]
		if old == nil {
			s.byIdentity[c.identity] = c
			if c.known {
				s.byRef[c.ref] = c
			}
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		s.log.Info("ocpp connection replaced by a new one", "identity", c.identity, "old_remote", old.remote, "new_remote", c.remote)
		// The old connection is usually dead; do not wait for its close handshake.
		old.closeNow()
		old.finished.Wait()
	}
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byIdentity[c.identity] == c {
		delete(s.byIdentity, c.identity)
	}
	if c.known && s.byRef[c.ref] == c {
		delete(s.byRef, c.ref)
	}
}

func (s *Server) connFor(ref site.ChargerRef) (*conn, error) {
	s.mu.Lock()
	c := s.byRef[ref]
	s.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("%s: %w", ref, site.ErrOffline)
	}
	return c, nil
}

// Connected reports whether the charger has a live connection.
func (s *Server) Connected(ref site.ChargerRef) bool {
	_, err := s.connFor(ref)
	return err == nil
}

// PendingCharger is an unregistered charger admitted to the holding list
// (Config.AdmitUnknown).
type PendingCharger struct {
	Identity string
	Protocol string
	Remote   string
	Since    time.Time
	Boot     site.BootInfo
}

// Pending lists the connected chargers whose identity is not registered,
// sorted by identity.
func (s *Server) Pending() []PendingCharger {
	s.mu.Lock()
	var out []PendingCharger
	for _, c := range s.byIdentity {
		if !c.known {
			out = append(out, c.pendingInfo())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b PendingCharger) int { return strings.Compare(a.Identity, b.Identity) })
	return out
}

// Close refuses new connections, closes every live one (status 1001) and
// waits until their handlers have finished. It does not close the Store.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.byIdentity))
	for _, c := range s.byIdentity {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.close(websocket.CloseGoingAway, "server shutting down") })
	}
	wg.Wait()
	s.wg.Wait()
	return nil
}
