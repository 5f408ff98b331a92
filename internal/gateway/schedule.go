package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeserverlessbox/esb/internal/gateway/invokeapi"
	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/schedule"
)

// SAM event types that run on a schedule.
const (
	eventSchedule   = "Schedule"   // an EventBridge rule (CloudWatch Events)
	eventScheduleV2 = "ScheduleV2" // an EventBridge Scheduler schedule
)

// schedules fires the functions' Schedule and ScheduleV2 events as
// asynchronous (InvocationType Event) invocations through the gateway's
// queue, as EventBridge does on AWS.
type schedules struct {
	sched *schedule.Scheduler
	fires *prometheus.CounterVec // function, rule
}

// newSchedules makes the scheduler (nil when SchedulesDisabled) and
// registers esb_schedule_fires_total.
func (g *Gateway) newSchedules() {
	fires := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esb_schedule_fires_total", Help: "Schedule and ScheduleV2 events fired, by function and rule (schedule) name.",
	}, []string{"function", "rule"})
	g.metrics.reg.MustRegister(fires)
	if g.cfg.SchedulesDisabled {
		return
	}
	g.schedules = &schedules{
		sched: schedule.New(g.cfg.ScheduleClock, g.cfg.Logger.With("component", "schedule")),
		fires: fires,
	}
}

// runSchedules starts the scheduler with st's schedules; it stops when ctx
// ends.
func (g *Gateway) runSchedules(ctx context.Context, st *state) {
	if g.schedules == nil {
		return
	}
	jobs := g.scheduleJobs(st)
	g.schedules.sched.Set(jobs)
	if len(jobs) > 0 {
		g.log.Info("schedules started", "schedules", len(jobs))
	}
	g.background(func() { g.schedules.sched.Run(ctx) })
}

// syncSchedules reconciles the running schedules with st: added ones
// start, removed ones stop, changed ones restart.
func (g *Gateway) syncSchedules(st *state) {
	if g.schedules == nil {
		return
	}
	jobs := g.scheduleJobs(st)
	started, stopped := g.schedules.sched.Set(jobs)
	if started > 0 || stopped > 0 {
		g.log.Info("schedules updated", "schedules", len(jobs), "started", started, "stopped", stopped)
	}
}

// scheduledEvent is one enabled schedule of a function.
type scheduledEvent struct {
	function string
	rule     string
	v2       bool
	input    string
}

// scheduleJobs lists the enabled Schedule/ScheduleV2 events of st. An
// expression that does not parse (functions.yml edited by hand; esb build
// rejects them) is logged and skipped.
func (g *Gateway) scheduleJobs(st *state) []schedule.Job {
	names := make([]string, 0, len(st.functions))
	for name := range st.functions {
		names = append(names, name)
	}
	slices.Sort(names)
	var jobs []schedule.Job
	for _, name := range names {
		fn := st.functions[name]
		for _, ev := range fn.def.Events {
			if ev.Type != eventSchedule && ev.Type != eventScheduleV2 {
				continue
			}
			if ev.Enabled != nil && !*ev.Enabled {
				continue
			}
			loc := time.UTC
			if ev.Timezone != "" {
				l, err := time.LoadLocation(ev.Timezone)
				if err != nil {
					g.log.Error("schedule skipped: unknown time zone", "function", name, "event", ev.Name, "timezone", ev.Timezone, "err", err)
					continue
				}
				loc = l
			}
			expr, err := schedule.ParseIn(ev.Schedule, loc)
			if err != nil {
				g.log.Error("schedule skipped", "function", name, "event", ev.Name, "err", err)
				continue
			}
			se := scheduledEvent{function: name, rule: ruleName(name, fn.def, ev), v2: ev.Type == eventScheduleV2, input: ev.Input}
			jobs = append(jobs, schedule.Job{
				Key:  name + "/" + ev.Name,
				Spec: strings.Join([]string{ev.Type, ev.Schedule, ev.Timezone, se.rule, ev.Input}, "\x00"),
				Expr: expr,
				Fire: func(_ context.Context, at time.Time) { g.fireSchedule(&se, at) },
			})
		}
	}
	return jobs
}

// ruleName is the schedule's Name, else <function logical id><event name>
// (the logical id SAM gives the generated rule).
func ruleName(name string, def manifest.Function, ev manifest.Event) string {
	if ev.RuleName != "" {
		return ev.RuleName
	}
	id := def.LogicalID
	if id == "" {
		id = name
	}
	return id + ev.Name
}

// fireSchedule queues one invocation of a due schedule.
func (g *Gateway) fireSchedule(se *scheduledEvent, at time.Time) {
	now := time.Now()
	id := g.ids.requestID()
	payload := []byte(se.input)
	if se.input == "" {
		if se.v2 {
			payload = []byte("{}")
		} else {
			payload = scheduledEventPayload(g.ids.requestID(), g.cfg.Region, g.cfg.AccountID, se.rule, at)
		}
	}
	ev := &invokeapi.Event{ID: id, Function: se.function, Payload: payload, TraceID: g.ids.newTraceID(now), Enqueued: now}
	if err := g.queue.Enqueue(ev); err != nil {
		reason := err.Error()
		if errors.Is(err, invokeapi.ErrQueueFull) {
			reason = "the asynchronous invocation queue is full (ASYNC_QUEUE_SIZE)"
		}
		g.log.Warn("scheduled event dropped", "function", se.function, "rule", se.rule, "request_id", id, "scheduled", at.UTC().Format(time.RFC3339), "err", reason)
		return
	}
	g.schedules.fires.WithLabelValues(se.function, se.rule).Inc()
	g.log.Info("schedule fired", "function", se.function, "rule", se.rule, "request_id", id, "scheduled", at.UTC().Format(time.RFC3339))
}

// scheduledEventPayload is the event an EventBridge rule sends for a
// schedule ("detail-type": "Scheduled Event"), with AWS's key order.
func scheduledEventPayload(id, region, account, rule string, at time.Time) []byte {
	b, _ := json.Marshal(struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}{
		Version: "0", ID: id, DetailType: "Scheduled Event", Source: "aws.events", Account: account,
		Time: at.UTC().Format("2006-01-02T15:04:05Z"), Region: region,
		Resources: []string{"arn:aws:events:" + region + ":" + account + ":rule/" + rule},
		Detail:    json.RawMessage("{}"),
	})
	return b
}
