package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netplan42/netplan42/planner"
)

type metrics struct {
	reg          *prometheus.Registry
	mappings     prometheus.Gauge
	rules        prometheus.Gauge
	lastTime     prometheus.Gauge
	lastSuccess  prometheus.Gauge
	reconciles   *prometheus.CounterVec
	changes      *prometheus.CounterVec
	renewals     prometheus.Counter
	driftRepairs *prometheus.CounterVec
	reboots      prometheus.Counter
	errors       *prometheus.CounterVec
	reloads      prometheus.Counter
	leaseLeft    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		mappings: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netplan42_managed_mappings",
			Help: "Router mappings netplan42 manages for this computer."}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netplan42_managed_rules",
			Help: "Firewall rules netplan42 manages for this computer."}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netplan42_last_reconcile_timestamp_seconds",
			Help: "When the last reconcile finished, as a Unix time."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netplan42_last_reconcile_success",
			Help: "1 if the last reconcile succeeded, 0 if it failed."}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netplan42_reconciles_total",
			Help: "Reconcile passes, by result (ok, error)."}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netplan42_changes_total",
			Help: "Changes applied, by resource kind and action."}, []string{"kind", "action"}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: "netplan42_renewals_total",
			Help: "Router mapping leases renewed."}),
		driftRepairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netplan42_drift_repairs_total",
			Help: "Resources changed outside netplan42 and put back, by kind."}, []string{"kind"}),
		reboots: prometheus.NewCounter(prometheus.CounterOpts{Name: "netplan42_router_reboots_total",
			Help: "Router restarts detected (NAT-PMP epoch reset, UPnP identity change)."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netplan42_errors_total",
			Help: "Failed reconciles and reloads, by kind (config, router, firewall, state, lock, plan, apply)."}, []string{"kind"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "netplan42_config_reloads_total",
			Help: "Config reloads that succeeded."}),
		leaseLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "netplan42_lease_remaining_seconds",
			Help: "Seconds left on each managed mapping's lease (absent for permanent mappings)."}, []string{"address"}),
	}
	m.reg.MustRegister(m.mappings, m.rules, m.lastTime, m.lastSuccess, m.reconciles, m.changes, m.renewals,
		m.driftRepairs, m.reboots, m.errors, m.reloads, m.leaseLeft,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Errors by kind exist from the start, so rates work before the first.
	for _, k := range []string{KindConfig, KindRouter, KindFirewall, KindState, KindLock, KindPlan, KindApply} {
		m.errors.WithLabelValues(k)
	}
	m.reconciles.WithLabelValues("ok")
	m.reconciles.WithLabelValues("error")
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// record updates the metrics from one pass and logs its changes.
func (a *Agent) record(rep Report, err error, at time.Time) {
	m := a.metrics
	m.lastTime.Set(float64(a.cfg.Now().Unix()))
	if err != nil {
		m.lastSuccess.Set(0)
		m.reconciles.WithLabelValues("error").Inc()
		m.errors.WithLabelValues(KindOf(err)).Inc()
	} else {
		m.lastSuccess.Set(1)
		m.reconciles.WithLabelValues("ok").Inc()
	}
	if rep.Plan != nil && rep.Plan.RouterRestarted != "" {
		m.reboots.Inc()
		a.log.Warn("router restart detected", "why", rep.Plan.RouterRestarted)
	}
	drifted := map[string]bool{}
	if rep.Plan != nil {
		for _, d := range rep.Plan.Drift {
			drifted[d.Address] = true
		}
	}
	for _, c := range rep.Applied {
		m.changes.WithLabelValues(string(c.Kind), string(c.Action)).Inc()
		if c.Action == planner.Renew {
			m.renewals.Inc()
		}
		if drifted[c.Address] && !c.StateOnly {
			m.driftRepairs.WithLabelValues(string(c.Kind)).Inc()
		}
	}
	var nm, nr int
	m.leaseLeft.Reset()
	for _, r := range rep.State.Resources {
		switch {
		case r.Mapping != nil:
			nm++
			if !r.Expires.IsZero() {
				m.leaseLeft.WithLabelValues(r.Address).Set(max(0, r.Expires.Sub(at).Seconds()))
			}
		case r.Rule != nil:
			nr++
		}
	}
	if err == nil || len(rep.State.Resources) > 0 {
		m.mappings.Set(float64(nm))
		m.rules.Set(float64(nr))
	}
}
