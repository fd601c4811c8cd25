package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

// client holds one connection to the API server and its services.
type client struct {
	cc       *grpc.ClientConn
	sites    pb.SiteServiceClient
	circuits pb.CircuitServiceClient
	chargers pb.ChargerServiceClient
	limits   pb.GridLimitServiceClient
	alloc    pb.AllocationServiceClient
	plans    pb.PlanServiceClient
}

func (c *client) Close() error { return c.cc.Close() }

// dial connects lazily (the first call opens the connection).
func (a *app) dial() (*client, error) {
	useTLS, err := a.g.useTLS()
	if err != nil {
		return nil, err
	}
	var opts []grpc.DialOption
	if useTLS {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.g.caFile != "" {
			pem, err := os.ReadFile(a.g.caFile)
			if err != nil {
				return nil, fmt.Errorf("--ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-file %s: no PEM certificates in it", a.g.caFile)
			}
			conf.RootCAs = pool
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if a.g.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: a.g.token, secure: useTLS}))
	}
	cc, err := grpc.NewClient(a.g.server, opts...)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", a.g.server, err)
	}
	return &client{
		cc:       cc,
		sites:    pb.NewSiteServiceClient(cc),
		circuits: pb.NewCircuitServiceClient(cc),
		chargers: pb.NewChargerServiceClient(cc),
		limits:   pb.NewGridLimitServiceClient(cc),
		alloc:    pb.NewAllocationServiceClient(cc),
		plans:    pb.NewPlanServiceClient(cc),
	}, nil
}

// useTLS decides the transport: TLS when asked for, plaintext when asked
// for, and otherwise plaintext only to a loopback address, so that a token
// never crosses a network in the clear by default.
func (g *globals) useTLS() (bool, error) {
	switch {
	case g.insecure:
		return false, nil
	case g.tls || g.caFile != "":
		return true, nil
	}
	return !isLoopback(g.server), nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends the token as "authorization: Bearer ...".
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only for plaintext connections the
// user chose (loopback or --insecure).
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// connect dials and runs fn with a client, closing it afterwards.
func (a *app) connect(ctx context.Context, fn func(ctx context.Context, c *client) error) error {
	return a.connectFor(ctx, true, fn)
}

// connectFor is connect; bounded says whether --timeout applies when it
// was not given (a live view runs until interrupted).
func (a *app) connectFor(ctx context.Context, bounded bool, fn func(ctx context.Context, c *client) error) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	if bounded || a.g.timeoutSet {
		var cancel context.CancelFunc
		ctx, cancel = a.withTimeout(ctx)
		defer cancel()
	}
	err = fn(ctx, c)
	return errors.Join(err, ignoreClosing(c.Close()))
}

func ignoreClosing(err error) error {
	if err == nil || strings.Contains(err.Error(), "closing") {
		return nil
	}
	return err
}
