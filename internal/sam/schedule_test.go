package sam

import (
	"errors"
	"strings"
	"testing"
)

func scheduleTemplate(events string) string {
	return `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      Events:
` + indent(events, "        ") + "\n"
}

func TestScheduleEventsAreRecorded(t *testing.T) {
	res := mustCompile(t, scheduleTemplate(`
Tick:
  Type: Schedule
  Properties:
    Schedule: rate(5 minutes)
    Name: tick-rule
    Input: '{"k": 1}'
Nightly:
  Type: ScheduleV2
  Properties:
    ScheduleExpression: cron(0 3 ? * MON-FRI *)
    ScheduleExpressionTimezone: UTC
    State: DISABLED
Once:
  Type: ScheduleV2
  Properties:
    ScheduleExpression: at(2030-01-31T09:30:00)
`), nil)
	evs := res.Functions.Functions["Fn"].Events
	if len(evs) != 3 {
		t.Fatalf("events %+v", evs)
	}
	tick, nightly, once := evs[0], evs[1], evs[2]
	if tick.Schedule != "rate(5 minutes)" || tick.RuleName != "tick-rule" || tick.Input != `{"k": 1}` || tick.Enabled == nil || !*tick.Enabled {
		t.Errorf("Tick %+v", tick)
	}
	if nightly.Type != "ScheduleV2" || nightly.Timezone != "UTC" || nightly.Enabled == nil || *nightly.Enabled {
		t.Errorf("Nightly %+v", nightly)
	}
	if once.Schedule != "at(2030-01-31T09:30:00)" || once.RuleName != "" {
		t.Errorf("Once %+v", once)
	}
}

func TestInvalidSchedulesFailWithLine(t *testing.T) {
	cases := []struct{ events, want string }{
		{"E:\n  Type: Schedule\n  Properties:\n    Schedule: rate(0 minutes)", `template.yaml:13: resource Fn: event E: Schedule: schedule "rate(0 minutes)": rate value "0" must be a positive whole number`},
		{"E:\n  Type: Schedule\n  Properties:\n    Schedule: cron(0 12 * * * *)", "template.yaml:13: resource Fn: event E: Schedule: schedule \"cron(0 12 * * * *)\": one of Day-of-month"},
		{"E:\n  Type: ScheduleV2\n  Properties:\n    ScheduleExpression: cron(0 25 ? * MON *)", "template.yaml:13: resource Fn: event E: ScheduleExpression: schedule \"cron(0 25 ? * MON *)\": Hours"},
		{"E:\n  Type: Schedule\n  Properties:\n    Schedule: at(2030-01-31T09:30:00)", "template.yaml:13: resource Fn: event E: at(…) is for ScheduleV2"},
		{"E:\n  Type: Schedule\n  Properties:\n    Schedule: rate(1 hour)\n    Input: '{not json'", "template.yaml:14: resource Fn: event E: Input must be a JSON text"},
		{"E:\n  Type: ScheduleV2\n  Properties:\n    ScheduleExpression: rate(1 hour)\n    ScheduleExpressionTimezone: Mars/Olympus", "template.yaml:14: resource Fn: event E: ScheduleExpressionTimezone \"Mars/Olympus\" is not a time zone name"},
	}
	for _, c := range cases {
		_, err := compileText(t, scheduleTemplate(c.events), nil)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err %v is not an *Error", c.events, err)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got  %q\nwant %q…", err, c.want)
		}
	}
}
