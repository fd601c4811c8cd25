package ocpptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority for TLS tests (OCPP security
// profiles 2 and 3): a CA, a server certificate for 127.0.0.1 and
// localhost, and client certificates on demand. Files live in t.TempDir().
type PKI struct {
	CAFile, ServerCertFile, ServerKeyFile string
	Roots                                 *x509.CertPool

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	next  int64
}

// NewPKI makes the CA and the server certificate.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ocpptest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &PKI{ca: ca, caKey: key, next: 2, Roots: x509.NewCertPool()}
	p.Roots.AddCert(ca)
	p.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	srv := p.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.ServerCertFile = filepath.Join(dir, "server.pem")
	p.ServerKeyFile = filepath.Join(dir, "server-key.pem")
	writePEM(t, p.ServerCertFile, "CERTIFICATE", srv.Certificate[0])
	kder, err := x509.MarshalECPrivateKey(srv.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.ServerKeyFile, "EC PRIVATE KEY", kder)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *PKI) issue(t testing.TB, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.next), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	p.next++
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ClientCert issues a charger certificate with subject CN cn (OCPP
// security profile 3 wants the charger identity there).
func (p *PKI) ClientCert(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	return p.issue(t, cn, x509.ExtKeyUsageClientAuth)
}

// HTTPClient trusts the CA and presents cert, if not nil.
func (p *PKI) HTTPClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: p.Roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}
