package loop

import (
	"context"
	"fmt"
	"math"
	"reflect"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

var reasonWords = map[scheduler.ReasonCode]string{
	scheduler.ReasonNone: "", scheduler.ReasonNoCar: "NO_CAR", scheduler.ReasonFaulted: "FAULTED",
	scheduler.ReasonOffline: "OFFLINE", scheduler.ReasonUncontrollable: "UNCONTROLLABLE",
	scheduler.ReasonMinAboveMax: "MIN_ABOVE_MAX", scheduler.ReasonInfeasible: "INFEASIBLE",
	scheduler.ReasonNoRoom: "NO_ROOM", scheduler.ReasonRotation: "ROTATION", scheduler.ReasonDwellOff: "DWELL_OFF",
	scheduler.ReasonSuspended: "SUSPENDED", scheduler.ReasonAtMax: "AT_MAX", scheduler.ReasonAtCarMax: "AT_CAR_MAX",
	scheduler.ReasonFollowsDraw: "FOLLOWS_DRAW", scheduler.ReasonPhaseLimit: "PHASE_LIMIT",
	scheduler.ReasonExternal: "EXTERNAL_LIMIT", scheduler.ReasonPowerLimit: "POWER_LIMIT",
	scheduler.ReasonImbalance: "IMBALANCE", scheduler.ReasonDeadBand: "DEAD_BAND", scheduler.ReasonSafety: "SAFETY",
	scheduler.ReasonAtFloor: "AT_FLOOR",
}

// finite turns "no limit" (+Inf) into 0 for views (JSON has no infinity).
func finite(c site.PhaseCurrents) site.PhaseCurrents {
	for p := range 3 {
		if math.IsInf(float64(c[p]), 0) || math.IsNaN(float64(c[p])) {
			c[p] = 0
		}
	}
	return c
}

// publishView builds the site's allocation view from the last allocation
// and the ledger now; when it changed it gets the next sequence number, is
// stored (persisted with the loop state: one write of the site's loop
// state per view) and sent to watchers. Chargers' states are written by
// the caller (flush).
func (l *siteLoop) publishView(ctx context.Context, b *built) {
	alloc := l.lastAlloc
	if alloc == nil || len(alloc.EVSEs) != len(b.evs) {
		return // the site changed since the run; the next run publishes
	}
	now := b.now
	l.viewAt = now
	l.viewStale.Store(false)
	v := site.AllocationView{SiteID: l.id, Time: now, Trigger: l.lastTrigger}
	allocated := make([]site.PhaseCurrents, len(b.in.Nodes))
	for i, r := range alloc.EVSEs {
		for n := b.in.EVSEs[i].Node; n >= 0; n = b.in.Nodes[n].Parent {
			for p := range 3 {
				allocated[n][p] += site.Amps(r.Load[p])
			}
		}
	}
	for i, n := range b.in.Nodes {
		v.Nodes = append(v.Nodes, site.NodeView{ID: b.rawID[i], Kind: n.Kind.String(), Limit: finite(b.tree.Nodes[i].Limit),
			OtherLoad: b.tree.Nodes[i].OtherLoad, Allocated: allocated[i]})
	}
	connected, nonCompliant := 0, 0
	for _, c := range l.chargers {
		if c.st.Connected {
			connected++
		}
		if c.st.Loop.NonCompliant {
			nonCompliant++
		}
	}
	for i, ref := range b.evs {
		r := alloc.EVSEs[i]
		ls := ref.ls()
		reason := r.Reason
		if reason.Node >= 0 && reason.Node < len(b.rawID) && reason.NodeID != "" {
			reason.NodeID = b.rawID[reason.Node]
			if reason.Node == 0 {
				reason.NodeID = "connection"
			}
		}
		text := reason.String()
		for n := b.in.EVSEs[i].Node; n >= 0 && len(b.otherNote) == len(b.in.Nodes); n = b.in.Nodes[n].Parent {
			if b.otherNote[n] != "" && r.Reason.Code != scheduler.ReasonNoCar {
				text += " (" + b.otherNote[n] + ")"
			}
		}
		e := &b.entries[i]
		var drawn site.PhaseCurrents
		if s := ref.c.sample(ref.id()); s != nil && s.Current != nil {
			rot := ref.c.rotation()
			for p := range 3 {
				drawn[rot.Grid(site.Phase(p+1)).Index()] += s.Current[p]
			}
		}
		v.EVSEs = append(v.EVSEs, site.EVSEView{
			ChargerID: ref.c.ref.ChargerID, EVSE: ref.id(), State: b.in.EVSEs[i].State.String(),
			Limit: site.Amps(r.Limit), Phases: r.Phases.Count(), Reason: text, ReasonCode: reasonWords[r.Reason.Code],
			Accepted: e.Applied(now), Pending: len(ls.Fallback.Pending)+len(ls.TxDefault.Pending)+len(ls.Tx.Pending) > 0, CountedAt: e.CountedAt(now),
			Drawn: drawn, NonCompliant: ref.c.st.Loop.NonCompliant, ResumeFailed: ls.ResumeFailed,
		})
	}
	for _, x := range alloc.Infeasible {
		v.Infeasible = append(v.Infeasible, fmt.Sprintf("%s %s phase %v over by %.1f A",
			b.in.Nodes[x.Node].Kind, b.rawID[x.Node], x.Phase, float64(x.Excess)))
	}
	l.metricsFor(v, connected, nonCompliant)

	prev := l.view.Load()
	if prev != nil {
		v.Seq = prev.Seq
		a, c := *prev, v
		a.Time, a.Trigger = c.Time, c.Trigger
		if reflect.DeepEqual(a, c) {
			return
		}
	}
	v.Seq++
	l.view.Store(&v)
	if err := l.persistLoop(ctx, func(ls *site.LoopState) {
		cp := v
		ls.Allocation = &cp
		ls.Needs, ls.Priorities = l.ls.Needs, l.ls.Priorities
	}); err != nil {
		l.log.Warn("cannot store the allocation", "err", err)
	}
	l.notify(v)
}

func (l *siteLoop) metricsFor(v site.AllocationView, connected, nonCompliant int) {
	m := l.m.met
	for _, n := range v.Nodes {
		node := n.ID
		if node == "" {
			node = "grid"
		}
		for p := range 3 {
			m.limit.WithLabelValues(l.id, node, phaseNames[p]).Set(float64(n.Limit[p]))
			m.other.WithLabelValues(l.id, node, phaseNames[p]).Set(float64(n.OtherLoad[p]))
			m.allocated.WithLabelValues(l.id, node, phaseNames[p]).Set(float64(n.Allocated[p]))
		}
	}
	for _, e := range v.EVSEs {
		m.evseAllocated.WithLabelValues(l.id, e.ChargerID, fmt.Sprint(e.EVSE)).Set(float64(e.Limit))
	}
	m.connected.WithLabelValues(l.id).Set(float64(connected))
	m.nonCompliant.WithLabelValues(l.id).Set(float64(nonCompliant))
}

// notify sends v to every watcher, replacing an update it has not read.
func (l *siteLoop) notify(v site.AllocationView) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	for ch := range l.watchers {
		u := site.AllocationUpdate{Seq: v.Seq, Allocation: v}
		select {
		case ch <- u:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- u:
			default:
			}
		}
	}
}
