package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/smartcharge/smartcharge/loop"
	"github.com/smartcharge/smartcharge/ocppadapter"
)

// adapterConfig turns the config file's proxy section into the adapter's.
func (p *ProxySettings) adapterConfig() (*ocppadapter.ProxyConfig, error) {
	var errs []error
	if len(p.Upstreams) == 0 {
		errs = append(errs, errors.New("upstreams: name at least one site or site/charger"))
	}
	targets := make(map[string]ocppadapter.UpstreamTarget, len(p.Upstreams))
	for key, u := range p.Upstreams {
		t := ocppadapter.UpstreamTarget{URL: u.URL, BasicAuthPassthrough: u.BasicAuthPassthrough,
			CAFile: u.CAFile, CertFile: u.CertFile, KeyFile: u.KeyFile}
		if u.PasswordFile != "" {
			pw, err := os.ReadFile(u.PasswordFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("upstreams[%s].password_file: %w", key, err))
			}
			t.Password = strings.TrimSpace(string(pw))
		}
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("upstreams[%s]: %w", key, err))
		}
		targets[key] = t
	}
	cfg := &ocppadapter.ProxyConfig{OfflineQueueLimit: p.OfflineQueueLimit, SetSampling: p.SetSampling}
	var err error
	if cfg.ReservedStackLevels, err = intRange(p.ReservedStackLevels); err != nil {
		errs = append(errs, fmt.Errorf("reserved_stack_levels: %w", err))
	}
	if cfg.ReservedProfileIDs, err = intRange(p.ReservedProfileIDs); err != nil {
		errs = append(errs, fmt.Errorf("reserved_profile_ids: %w", err))
	}
	switch p.Loss {
	case "", "spec":
		cfg.Loss = ocppadapter.UpstreamLossSpec
	case "keep":
		cfg.Loss = ocppadapter.UpstreamLossKeep
	case "close":
		cfg.Loss = ocppadapter.UpstreamLossClose
	default:
		errs = append(errs, fmt.Errorf("loss %q: want spec, keep or close", p.Loss))
	}
	switch p.Offline {
	case "", "queue":
		cfg.Offline = ocppadapter.OfflineQueue
	case "answer":
		cfg.Offline = ocppadapter.OfflineAnswer
	default:
		errs = append(errs, fmt.Errorf("offline %q: want queue or answer", p.Offline))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := proxyLoopLevels(cfg, &loop.Config{}); err != nil {
		return nil, err
	}
	up, err := ocppadapter.StaticUpstreams(targets)
	if err != nil {
		return nil, err
	}
	cfg.Upstream = up
	return cfg, nil
}

// proxyLoopLevels puts the control loop's profiles into the stack levels
// and profile ids the proxy reserves for smartcharge (docs/proxy.md,
// "Charging profiles: who wins"): fallback TxDefault at the lowest
// reserved level, dynamic profiles at the next one and never above the
// highest; profile ids from the lowest reserved id. It fails when the
// ranges cannot hold them.
func proxyLoopLevels(p *ocppadapter.ProxyConfig, lc *loop.Config) error {
	stack, ids := p.Reserved()
	var errs []error
	if stack.Hi <= stack.Lo {
		errs = append(errs, fmt.Errorf("reserved_stack_levels %v: want at least two levels (the loop's fallback at lo, its dynamic profiles above)", []int{stack.Lo, stack.Hi}))
	}
	lc.FallbackStackLevel, lc.StackLevel, lc.MaxStackLevel, lc.ProfileIDBase = stack.Lo, stack.Lo+1, stack.Hi, ids.Lo
	if lo, hi := lc.ProfileIDs(); lo < ids.Lo || hi > ids.Hi {
		errs = append(errs, fmt.Errorf("reserved_profile_ids %v: must hold the loop's profile ids %d..%d (lo+1 to lo+%d)",
			[]int{ids.Lo, ids.Hi}, lo, hi, hi-ids.Lo))
	}
	return errors.Join(errs...)
}

// intRange reads [lo, hi]; empty keeps the adapter's default.
func intRange(v []int) (ocppadapter.IntRange, error) {
	switch {
	case len(v) == 0:
		return ocppadapter.IntRange{}, nil
	case len(v) != 2 || v[0] > v[1] || v[0] < 0:
		return ocppadapter.IntRange{}, fmt.Errorf("want [lo, hi] with 0 <= lo <= hi, got %v", v)
	}
	return ocppadapter.IntRange{Lo: v[0], Hi: v[1]}, nil
}
