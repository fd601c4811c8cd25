package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/smartcharge/smartcharge/site/redisstore"
)

// serve runs the daemon until ctx ends, then shuts down gracefully: the
// health service turns NOT_SERVING, in-flight calls finish (bounded by
// ShutdownGrace), listeners close.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	client, closeRedis, err := openRedis(cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	parts, err := wire(ctx, cfg, log, client, reg)
	if err != nil {
		return err
	}
	defer parts.Close()

	gs, err := newGRPCServer(cfg, parts.GRPCOptions())
	if err != nil {
		return err
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	parts.RegisterGRPC(gs)

	errc := make(chan error, 3)
	glis, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	log.Info("gRPC API listening", "addr", glis.Addr().String(), "insecure_local", cfg.InsecureLocal, "tls", cfg.TLSCert != "")
	go func() { errc <- gs.Serve(glis) }()

	var httpServers []*http.Server
	startHTTP := func(name, addr string, h http.Handler, tlsConf *tls.Config) error {
		if addr == "" {
			return nil
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listen: %w", name, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf}
		httpServers = append(httpServers, srv)
		log.Info(name+" listening", "addr", lis.Addr().String())
		go func() {
			var err error
			if tlsConf != nil {
				err = srv.ServeTLS(lis, "", "")
			} else {
				err = srv.Serve(lis)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
		return nil
	}
	if h := parts.OCPPHandler(); h != nil {
		tlsConf, err := parts.OCPPTLS()
		if err != nil {
			return err
		}
		if err := startHTTP("OCPP endpoint", cfg.OCPPListen, h, tlsConf); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := client.Ping(pctx).Err(); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if err := startHTTP("HTTP (metrics, health)", cfg.HTTPListen, mux, nil); err != nil {
		return err
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	log.Info("smartcharged ready")

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("server failed, shutting down", "err", runErr)
	}
	hs.Shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	for _, s := range httpServers {
		_ = s.Shutdown(sctx)
	}
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		gs.Stop()
	}
	log.Info("stopped")
	return runErr
}

func newGRPCServer(cfg Config, opts []grpc.ServerOption) (*grpc.Server, error) {
	if cfg.TLSCert != "" {
		creds, err := credentials.NewServerTLSFromFile(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	return grpc.NewServer(opts...), nil
}

// openRedis connects to --redis-url, or starts the embedded store.
func openRedis(cfg Config, log *slog.Logger) (*redis.Client, func(), error) {
	// go-redis reconnects by itself; the store maps failures to
	// site.ErrUnavailable, which the API answers with UNAVAILABLE.
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("--redis-url: %w", err)
		}
		c := redis.NewClient(opt)
		log.Info("state in Redis", "addr", opt.Addr, "db", opt.DB)
		return c, func() { _ = c.Close() }, nil
	}
	m, err := redisstore.StartEmbedded()
	if err != nil {
		return nil, nil, err
	}
	log.Warn("NO --redis-url: running on an EMBEDDED in-memory store; all state is LOST when smartcharged stops. Give --redis-url for anything but a first try.", "addr", m.Addr())
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return c, func() { _ = c.Close(); m.Close() }, nil
}
