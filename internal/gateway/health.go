package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
)

type healthAgent struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type healthPool struct {
	Function string `json:"function"`
	Idle     int    `json:"idle"`
	Busy     int    `json:"busy"`
	Starting int    `json:"starting"`
	Paused   int    `json:"paused"`
	Waiting  int    `json:"waiting"`
	Max      int    `json:"max_capacity"`
	Min      int    `json:"min_capacity"`
	Breaker  string `json:"circuit_breaker"`
	// LastError is the function's most recent failed invocation.
	LastError *lastError `json:"last_error,omitempty"`
}

// serveHealth answers GET /health: {"status":"healthy"|"degraded", agent, pools}.
// The gateway itself answers 200 while the agent is down ("degraded"), so a
// supervisor does not restart it for the agent's sake.
func (g *Gateway) serveHealth(rq *request, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	ag := healthAgent{Status: "ok"}
	resp, err := g.agent.Health(ctx, &agentv1.HealthRequest{})
	switch {
	case err != nil:
		ag = healthAgent{Status: "unavailable", Message: err.Error()}
	case !resp.GetServing():
		ag = healthAgent{Status: "not_serving", Message: resp.GetMessage()}
	}
	status := "healthy"
	if ag.Status != "ok" {
		status = "degraded"
	}
	var pools []healthPool
	last := g.metrics.lastErrors()
	for _, s := range g.pools.Stats() {
		pools = append(pools, healthPool{Function: s.Function, Idle: s.Idle, Busy: s.Busy, Starting: s.Starting,
			Paused: s.Paused, Waiting: s.Waiting, Max: s.Max, Min: s.Min, Breaker: s.Breaker.String(), LastError: last[s.Function]})
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Function < pools[j].Function })
	body, _ := json.Marshal(map[string]any{
		"status":      status,
		"timestamp":   time.Now().UTC().Format(time.RFC3339Nano),
		"agent":       ag,
		"pools":       pools,
		"async_queue": g.queue.Len(),
		"functions":   len(g.state.Load().functions),
	})
	writeJSON(rq.w, http.StatusOK, body)
}

type containerMetrics struct {
	ID            string `json:"container_id"`
	Function      string `json:"function"`
	State         string `json:"state"`
	MemoryCurrent uint64 `json:"memory_current"`
	MemoryMax     uint64 `json:"memory_max"`
	OOMEvents     uint64 `json:"oom_events"`
	CPUUsageNs    uint64 `json:"cpu_usage_ns"`
	ExitCode      int32  `json:"exit_code"`
	Restarts      int32  `json:"restarts"`
}

// serveContainerMetrics answers GET /metrics/containers with the agent's
// per-container metrics, grouped by function.
func (g *Gateway) serveContainerMetrics(rq *request, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	resp, err := g.agent.GetContainerMetrics(ctx, &agentv1.GetContainerMetricsRequest{})
	if err != nil {
		body, _ := json.Marshal(map[string]string{"message": "container metrics are unavailable from the agent: " + err.Error()})
		writeJSON(rq.w, http.StatusServiceUnavailable, body)
		return
	}
	byFn := map[string][]containerMetrics{}
	list := []containerMetrics{}
	for _, m := range resp.GetMetrics() {
		cm := containerMetrics{ID: m.GetId(), Function: m.GetFunction(), State: m.GetState(),
			MemoryCurrent: m.GetMemoryCurrentBytes(), MemoryMax: m.GetMemoryMaxBytes(), OOMEvents: m.GetOomEvents(),
			CPUUsageNs: m.GetCpuUsageNs(), ExitCode: m.GetExitCode(), Restarts: m.GetRestarts()}
		list = append(list, cm)
		byFn[cm.Function] = append(byFn[cm.Function], cm)
	}
	body, _ := json.Marshal(map[string]any{
		"containers":   list,
		"functions":    byFn,
		"collected_at": time.Now().UTC().Format(time.RFC3339Nano),
	})
	writeJSON(rq.w, http.StatusOK, body)
}
