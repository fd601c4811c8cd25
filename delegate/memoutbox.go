package delegate

import (
	"context"
	"sort"
	"sync"

	"github.com/smartcharge/smartcharge/site"
)

// MemOutbox is a site.OutboxStore in memory: for tests and for a daemon
// without Redis. Its commands and seqs are lost with the process, so after
// a restart a CSMS must resume with resume_after_seq 0.
type MemOutbox struct {
	mu    sync.Mutex
	sites map[string]*memSite
}

type memSite struct {
	last uint64
	cmds []site.DelegatedCommand // sorted by Seq
}

var _ site.OutboxStore = (*MemOutbox)(nil)

// NewMemOutbox returns an empty outbox.
func NewMemOutbox() *MemOutbox { return &MemOutbox{sites: map[string]*memSite{}} }

func (m *MemOutbox) get(id string) *memSite {
	s := m.sites[id]
	if s == nil {
		s = &memSite{}
		m.sites[id] = s
	}
	return s
}

// Enqueue stores cmd with the site's next Seq.
func (m *MemOutbox) Enqueue(_ context.Context, siteID string, cmd site.DelegatedCommand) (site.DelegatedCommand, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.get(siteID)
	s.last++
	cmd.Seq = s.last
	s.cmds = append(s.cmds, clone(cmd))
	return cmd, nil
}

// Pending returns up to limit commands above after, in order.
func (m *MemOutbox) Pending(_ context.Context, siteID string, after uint64, limit int) ([]site.DelegatedCommand, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.get(siteID)
	i := sort.Search(len(s.cmds), func(i int) bool { return s.cmds[i].Seq > after })
	out := []site.DelegatedCommand{}
	for ; i < len(s.cmds) && len(out) < limit; i++ {
		out = append(out, clone(s.cmds[i]))
	}
	return out, nil
}

// Acknowledge removes the command with seq.
func (m *MemOutbox) Acknowledge(_ context.Context, siteID string, seq uint64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.get(siteID)
	i := sort.Search(len(s.cmds), func(i int) bool { return s.cmds[i].Seq >= seq })
	if i == len(s.cmds) || s.cmds[i].Seq != seq {
		return false, nil
	}
	s.cmds = append(s.cmds[:i], s.cmds[i+1:]...)
	return true, nil
}

// LastSeq is the highest Seq handed out for the site.
func (m *MemOutbox) LastSeq(_ context.Context, siteID string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(siteID).last, nil
}

// clone copies the pointed-to request so callers never share it.
func clone(c site.DelegatedCommand) site.DelegatedCommand {
	if c.SetLimit != nil {
		r := *c.SetLimit
		r.Periods = append([]site.Period(nil), r.Periods...)
		c.SetLimit = &r
	}
	if c.ClearLimit != nil {
		r := *c.ClearLimit
		c.ClearLimit = &r
	}
	if c.Trigger != nil {
		r := *c.Trigger
		c.Trigger = &r
	}
	if c.CompositeSchedule != nil {
		r := *c.CompositeSchedule
		c.CompositeSchedule = &r
	}
	return c
}
