package gateway

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/schedule/scheduletest"
)

// scheduleEnv runs a gateway on a manual schedule clock whose function
// images record every payload they receive.
type scheduleEnv struct {
	*env
	clk   *scheduletest.Clock
	calls chan string // "image payload"
}

func startScheduleGateway(t *testing.T, fns manifest.Functions, mod func(*Config)) *scheduleEnv {
	t.Helper()
	ag := newFakeAgent()
	calls := make(chan string, 100)
	for _, img := range []string{"tick:latest", "v2:latest"} {
		ag.handle(img, func(c *workertest.Call) workertest.Reply {
			calls <- img + " " + string(c.Payload)
			return workertest.Reply{Payload: []byte(`null`)}
		})
	}
	clk := scheduletest.NewClock(time.Date(2024, 2, 29, 23, 59, 0, 0, time.UTC))
	e := startGateway(t, ag, fns, manifest.Routing{}, func(c *Config) {
		c.ScheduleClock = clk
		c.Region, c.AccountID = "eu-west-1", "111122223333"
		if mod != nil {
			mod(c)
		}
	})
	return &scheduleEnv{env: e, clk: clk, calls: calls}
}

func (e *scheduleEnv) timers(n int) {
	e.t.Helper()
	if !e.clk.WaitTimers(n, 5*time.Second) {
		e.t.Fatalf("want %d armed schedule timers, have %d", n, e.clk.Timers())
	}
}

func (e *scheduleEnv) call() string {
	e.t.Helper()
	select {
	case c := <-e.calls:
		return c
	case <-time.After(5 * time.Second):
		e.t.Fatal("the schedule did not invoke the function")
	}
	return ""
}

func (e *scheduleEnv) noCall() {
	e.t.Helper()
	select {
	case c := <-e.calls:
		e.t.Fatalf("unexpected invocation: %s", c)
	case <-time.After(100 * time.Millisecond):
	}
}

func boolp(b bool) *bool { return &b }

func scheduleFunctions() manifest.Functions {
	return manifest.Functions{Functions: map[string]manifest.Function{
		"tick": {LogicalID: "TickFunction", Image: "tick:latest", Timeout: 3, MemorySize: 128, Scaling: manifest.Scaling{MaxCapacity: 2},
			Events: []manifest.Event{
				{Name: "Every", Type: "Schedule", Schedule: "rate(1 minute)", Enabled: boolp(true)},
				{Name: "Off", Type: "Schedule", Schedule: "rate(1 minute)", Enabled: boolp(false)},
				{Name: "Api", Type: "Api", Path: "/x", Method: "get"},
			}},
		"v2": {Image: "v2:latest", Timeout: 3, MemorySize: 128, Scaling: manifest.Scaling{MaxCapacity: 1},
			Events: []manifest.Event{
				{Name: "Daily", Type: "ScheduleV2", Schedule: "cron(0 0 * * ? *)", Enabled: boolp(true)},
				{Name: "Named", Type: "ScheduleV2", Schedule: "cron(0 0 1 MAR ? *)", Input: `{"job":"monthly"}`, RuleName: "monthly"},
			}},
	}}
}

func TestScheduleInvokesWithScheduledEvent(t *testing.T) {
	e := startScheduleGateway(t, scheduleFunctions(), nil)
	e.timers(3) // Every, Daily, Named; Off is disabled
	if !strings.Contains(e.logs(), `"msg":"schedules started","component":"gateway","schedules":3`) {
		t.Errorf("no start log line:\n%s", e.logs())
	}

	// 00:00 on 2024-03-01: tick's rate, v2's daily cron and the 1 March cron.
	e.clk.Advance(time.Minute)
	got := map[string]string{}
	for range 3 {
		c := e.call()
		img, payload, _ := strings.Cut(c, " ")
		if img == "v2:latest" && payload != "{}" {
			img += " input"
		}
		got[img] = payload
	}
	if got["v2:latest"] != "{}" {
		t.Errorf("ScheduleV2 without Input: %q, want {}", got["v2:latest"])
	}
	if got["v2:latest input"] != `{"job":"monthly"}` {
		t.Errorf("ScheduleV2 Input: %q", got["v2:latest input"])
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(got["tick:latest"]), &ev); err != nil {
		t.Fatalf("Scheduled Event %q: %v", got["tick:latest"], err)
	}
	if !regexp.MustCompile(`^\{"version":"0","id":"[0-9a-f-]{36}","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2024-03-01T00:00:00Z","region":"eu-west-1","resources":\["arn:aws:events:eu-west-1:111122223333:rule/TickFunctionEvery"\],"detail":\{\}\}$`).MatchString(got["tick:latest"]) {
		t.Errorf("Scheduled Event: %s", got["tick:latest"])
	}

	e.timers(3)
	e.clk.Advance(time.Minute)
	if c := e.call(); !strings.HasPrefix(c, "tick:latest ") || !strings.Contains(c, `"time":"2024-03-01T00:01:00Z"`) {
		t.Errorf("second fire: %s", c)
	}
	e.noCall()

	logs := e.logs()
	if !strings.Contains(logs, `"msg":"schedule fired","component":"gateway","function":"tick","rule":"TickFunctionEvery","request_id":"`) {
		t.Errorf("no fire log line:\n%s", logs)
	}
	m := e.do("GET", e.http+"/metrics", nil, nil)
	for _, want := range []string{
		`esb_schedule_fires_total{function="tick",rule="TickFunctionEvery"} 2`,
		`esb_schedule_fires_total{function="v2",rule="monthly"} 1`,
		`esb_schedule_fires_total{function="v2",rule="v2Daily"} 1`,
		`esb_function_invocations_total{function="tick",result="success"} 2`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestScheduleReloadReconciles(t *testing.T) {
	fns := scheduleFunctions()
	e := startScheduleGateway(t, fns, nil)
	e.timers(3)

	// Remove tick's schedule, change v2's daily one to every 2 minutes.
	tick := fns.Functions["tick"]
	tick.Events = tick.Events[2:]
	fns.Functions["tick"] = tick
	v2 := fns.Functions["v2"]
	v2.Events = []manifest.Event{{Name: "Daily", Type: "ScheduleV2", Schedule: "rate(2 minutes)"}}
	fns.Functions["v2"] = v2
	if err := manifest.Save(e.fnsFile, fns); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	e.timers(1)
	e.clk.Advance(time.Minute) // tick's old rate and the old crons would fire now
	e.timers(1)
	e.noCall()
	e.clk.Advance(time.Minute)
	if c := e.call(); c != "v2:latest {}" {
		t.Errorf("changed schedule: %s", c)
	}
	e.noCall()
	if !strings.Contains(e.logs(), `"msg":"schedules updated","component":"gateway","schedules":1,"started":1,"stopped":3`) {
		t.Errorf("no reconcile log line:\n%s", e.logs())
	}

	// Removing every schedule stops every timer.
	if err := manifest.Save(e.fnsFile, oneFunction("tick", "tick:latest", 1)); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	e.timers(0)
}

func TestSchedulesDisabled(t *testing.T) {
	e := startScheduleGateway(t, scheduleFunctions(), func(c *Config) { c.SchedulesDisabled = true })
	if e.clk.WaitTimers(1, 100*time.Millisecond) {
		t.Fatal("a schedule timer is armed with SchedulesDisabled")
	}
	e.clk.Advance(time.Hour)
	e.noCall()
}

func TestScheduleShutdownStopsTimers(t *testing.T) {
	e := startScheduleGateway(t, scheduleFunctions(), nil)
	e.timers(3)
	if err := e.g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.timers(0)
}
