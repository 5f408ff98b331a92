package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ESchedule: a ScheduleV2 at(…) a few seconds ahead, added to a running
// project by a second esb up, invokes the function once with its Input; a
// disabled Schedule never fires.
func TestE2ESchedule(t *testing.T) {
	h := newHarness(t, "docker", 25500)
	name := "e2e-docker-schedule"
	dir := h.project("hello-python", name)
	h.mustEsb(dir, "base", "build", "python3.12")
	defer h.down(dir, name)
	h.mustEsb(dir, "up", "--wait")

	at := time.Now().UTC().Add(30 * time.Second).Truncate(time.Second) // room for a slow second esb up
	tpl := filepath.Join(dir, "template.yaml")
	src, err := os.ReadFile(tpl)
	must(t, err)
	events := fmt.Sprintf(`        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: at(%s)
            Input: '{"httpMethod":"GET","path":"/hello/schedule","pathParameters":{"name":"schedule"}}'
        Off:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
        HelloName:
`, at.Format("2006-01-02T15:04:05"))
	must(t, os.WriteFile(tpl, []byte(strings.Replace(string(src), "        HelloName:\n", events, 1)), 0o644))
	h.mustEsb(dir, "up", "--wait")
	if time.Now().After(at) {
		t.Fatalf("the second esb up took until after %s: the at() schedule was already past", at)
	}

	metrics := func() string {
		resp, err := http.Get(h.httpURL + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				return b.String()
			}
		}
	}
	if m := metrics(); strings.Contains(m, "esb_schedule_fires_total{") {
		t.Fatalf("a schedule fired before its time:\n%s", grepLines(m, "esb_schedule"))
	}
	waitFor(t, time.Until(at)+15*time.Second, "the at() schedule to invoke hello-python", func() bool {
		m := metrics()
		return strings.Contains(m, `esb_schedule_fires_total{function="hello-python",rule="HelloFunctionTick"} 1`) &&
			strings.Contains(m, `esb_function_invocations_total{function="hello-python",result="success"} 1`)
	})
	if m := metrics(); strings.Contains(m, `rule="HelloFunctionOff"`) {
		t.Errorf("the disabled schedule fired:\n%s", grepLines(m, "esb_schedule"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
