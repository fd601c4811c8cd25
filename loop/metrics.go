package loop

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the loop's Prometheus collectors; one set per Manager.
type metrics struct {
	limit, other, allocated *prometheus.GaugeVec // site, node, phase
	evseAllocated           *prometheus.GaugeVec // site, charger, evse
	evseDrawn               *prometheus.GaugeVec // site, charger, evse, phase
	profiles                *prometheus.CounterVec
	runSeconds              *prometheus.HistogramVec
	triggerToAccepted       *prometheus.HistogramVec
	connected, nonCompliant *prometheus.GaugeVec
	resumeFailed            *prometheus.CounterVec
	runs                    *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "node_limit_amps",
			Help: "Limit in force per node and grid phase."}, []string{"site", "node", "phase"}),
		other: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "node_other_load_amps",
			Help: "Measured load that is not our EV charging, per node and grid phase."}, []string{"site", "node", "phase"}),
		allocated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "node_allocated_amps",
			Help: "What the EVSEs below a node are allocated, per grid phase."}, []string{"site", "node", "phase"}),
		evseAllocated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "evse_allocated_amps",
			Help: "Limit per phase decided for an EVSE."}, []string{"site", "charger", "evse"}),
		evseDrawn: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "evse_drawn_amps",
			Help: "Current an EVSE draws per charger phase, from meter values."}, []string{"site", "charger", "evse", "phase"}),
		profiles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "profiles_total",
			Help: "Charging profiles by outcome: sent, accepted, rejected, timeout, error."}, []string{"site", "outcome"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "run_seconds",
			Help: "Time of one loop run (compute and dispatch).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"site"}),
		triggerToAccepted: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "trigger_to_accepted_seconds",
			Help: "Time from the event that caused a change to the charger's acceptance.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"site"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "chargers_connected",
			Help: "Chargers connected."}, []string{"site"}),
		nonCompliant: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "chargers_non_compliant",
			Help: "Chargers that refuse or ignore their limits and are counted at their maximum."}, []string{"site"}),
		resumeFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "resume_failed_total",
			Help: "Cars that did not resume after a pause despite every step of the resume sequence."}, []string{"site"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smartcharge", Subsystem: "loop", Name: "runs_total",
			Help: "Loop runs by trigger."}, []string{"site", "trigger"}),
	}
	if reg != nil {
		reg.MustRegister(m.limit, m.other, m.allocated, m.evseAllocated, m.evseDrawn, m.profiles, m.runSeconds,
			m.triggerToAccepted, m.connected, m.nonCompliant, m.resumeFailed, m.runs)
	}
	return m
}

// forget drops every series of a site (its loop stopped).
func (m *metrics) forget(siteID string) {
	l := prometheus.Labels{"site": siteID}
	for _, v := range []*prometheus.GaugeVec{m.limit, m.other, m.allocated, m.evseAllocated, m.evseDrawn, m.connected, m.nonCompliant} {
		v.DeletePartialMatch(l)
	}
}

var phaseNames = [3]string{"L1", "L2", "L3"}
