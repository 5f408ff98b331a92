package logs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the pipeline's counters as Prometheus metrics, for a
// daemon that serves /metrics (the same figures as the metrics file):
// esb_log_lines_total, esb_log_lines_delivered_total,
// esb_log_lines_dropped_total, esb_log_buffer_bytes,
// esb_log_store_errors_total. A nil pipeline collects nothing.
func (p *Pipeline) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Pipeline }

var (
	descLines     = prometheus.NewDesc("esb_log_lines_total", "Log records handed to the pipeline.", []string{"service"}, nil)
	descDelivered = prometheus.NewDesc("esb_log_lines_delivered_total", "Log records the store took.", []string{"service", "store"}, nil)
	descDropped   = prometheus.NewDesc("esb_log_lines_dropped_total", "Log records dropped because the log buffer was full.", []string{"service"}, nil)
	descBuffer    = prometheus.NewDesc("esb_log_buffer_bytes", "Bytes waiting in the disk buffer.", []string{"service"}, nil)
	descErrors    = prometheus.NewDesc("esb_log_store_errors_total", "Failed deliveries to the store (each is retried).", []string{"service", "store"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLines, descDelivered, descDropped, descBuffer, descErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	if c.p == nil {
		return
	}
	s, svc, st := c.p.Stats(), c.p.cfg.Service, c.p.StoreName()
	ch <- prometheus.MustNewConstMetric(descLines, prometheus.CounterValue, float64(s.Lines), svc)
	ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(s.Delivered), svc, st)
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), svc)
	ch <- prometheus.MustNewConstMetric(descBuffer, prometheus.GaugeValue, float64(s.BufferedBytes), svc)
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.StoreErrors), svc, st)
}
