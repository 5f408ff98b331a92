package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleeper is a service that runs `sleep`, healthy while it runs.
func sleeper(name string) Service {
	path, _ := exec.LookPath("sleep")
	return Service{Name: name, Path: path, Args: []string{"60"}, StopTimeout: 2 * time.Second}
}

func startSupervisor(t *testing.T, cfg Config) (*Supervisor, *Client, chan error) {
	t.Helper()
	if cfg.Layout.Root == "" {
		cfg.Layout = Layout{Root: t.TempDir()}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.MinBackoff = 20 * time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- s.Run(context.Background(), func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { s.Stop(); <-done })
	return s, NewClient(cfg.Layout), done
}

func waitStatus(t *testing.T, c *Client, what string, ok func(map[string]ServiceStatus) bool) map[string]ServiceStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(context.Background())
		m := map[string]ServiceStatus{}
		if err == nil {
			for _, s := range st.Services {
				m[s.Name] = s
			}
			if ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v %v", what, m, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKilledServiceIsRestartedWithBackoff(t *testing.T) {
	_, c, _ := startSupervisor(t, Config{Services: []Service{sleeper("a"), sleeper("b")}})
	st := waitStatus(t, c, "both healthy", func(m map[string]ServiceStatus) bool { return m["a"].Healthy && m["b"].Healthy })
	old := st["a"].PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, c, "a restarted", func(m map[string]ServiceStatus) bool {
		return m["a"].Healthy && m["a"].PID != old && m["a"].PID != 0
	})
	if st["a"].Restarts != 1 || !strings.Contains(st["a"].LastExit, "killed") {
		t.Errorf("after kill -9: %+v", st["a"])
	}
	if st["b"].Restarts != 0 {
		t.Errorf("b was restarted too: %+v", st["b"])
	}
}

func TestBackoffGrowsForACrashLoop(t *testing.T) {
	f, _ := exec.LookPath("false")
	_, c, _ := startSupervisor(t, Config{Services: []Service{{Name: "crash", Path: f}}})
	st := waitStatus(t, c, "three restarts", func(m map[string]ServiceStatus) bool { return m["crash"].Restarts >= 3 })
	// 20 ms, 40 ms, 80 ms, then 160 ms: the next start is later than the first delay.
	if s := st["crash"]; s.State == StateBackoff && time.Until(s.NextStart) > 200*time.Millisecond {
		t.Errorf("backoff after %d failures is %s, want it bounded by doubling from 20 ms", s.Restarts, time.Until(s.NextStart))
	}
	if st["crash"].Healthy {
		t.Error("a crashing service reported healthy")
	}
}

func TestAfterWaitsForHealthyDependency(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	gate := filepath.Join(l.Root, "gate")
	dep := sleeper("dep")
	dep.Health = func(ctx context.Context) error {
		if _, err := os.Stat(gate); err != nil {
			return errors.New("not yet")
		}
		return nil
	}
	child := sleeper("child")
	child.After = []string{"dep"}
	_, c, _ := startSupervisor(t, Config{Layout: l, Services: []Service{dep, child}})
	time.Sleep(200 * time.Millisecond)
	st := waitStatus(t, c, "status", func(map[string]ServiceStatus) bool { return true })
	if st["child"].PID != 0 {
		t.Fatalf("child started before its dependency was healthy: %+v", st["child"])
	}
	os.WriteFile(gate, nil, 0o644)
	waitStatus(t, c, "child running", func(m map[string]ServiceStatus) bool { return m["child"].Healthy })
}

func TestSecondSupervisorRefused(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	startSupervisor(t, Config{Layout: l, Services: []Service{sleeper("a")}})
	s2, err := New(Config{Layout: l, Services: []Service{sleeper("a")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Run(context.Background(), nil)
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("second supervisor: %v, want ErrRunning", err)
	}
}

func TestStopStopsEveryServiceAndRemovesSocket(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	_, c, done := startSupervisor(t, Config{Layout: l, Services: []Service{sleeper("a"), sleeper("b")}})
	st := waitStatus(t, c, "healthy", func(m map[string]ServiceStatus) bool { return m["a"].Healthy && m["b"].Healthy })
	if err := c.Stop(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- nil // for the cleanup
	for _, s := range st {
		if processAlive(s.PID) {
			t.Errorf("%s (pid %d) still runs after stop", s.Name, s.PID)
		}
	}
	if _, err := os.Stat(l.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left: %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("status after stop: %v, want ErrNotRunning", err)
	}
}

func TestStateFileRebuiltWhenDamaged(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	startSupervisor(t, Config{Layout: l, Services: []Service{sleeper("a")}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := ReadStateFile(l); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no state file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(l.StateFile(), []byte("{garbage"), 0o600)
	deadline = time.Now().Add(10 * time.Second)
	for {
		st, err := ReadStateFile(l)
		if err == nil && len(st.Services) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("damaged state file not rebuilt: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOrphansFoundByMarker(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	path, _ := exec.LookPath("sleep")
	cmd := exec.Command(path, "30")
	cmd.Env = append(os.Environ(), l.Marker())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	pids := Orphans(l)
	if len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("Orphans = %v, want [%d]", pids, cmd.Process.Pid)
	}
	if n := StopOrphans(pids, 5*time.Second); n != 1 {
		t.Fatalf("StopOrphans = %d", n)
	}
	if len(Orphans(l)) != 0 {
		t.Fatal("orphan still there")
	}
}

func TestWaitLockWaitsThenTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l1, _, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	_, err = WaitLock(context.Background(), path, 300*time.Millisecond, func(pid int) {
		told++
		if pid != os.Getpid() {
			t.Errorf("holder pid %d, want %d", pid, os.Getpid())
		}
	})
	if err == nil || told != 1 {
		t.Fatalf("WaitLock on a held lock: %v (told %d times)", err, told)
	}
	go func() { time.Sleep(100 * time.Millisecond); l1.Unlock() }()
	l2, err := WaitLock(context.Background(), path, 5*time.Second, nil)
	if err != nil {
		t.Fatalf("WaitLock after release: %v", err)
	}
	l2.Unlock()
}

func TestSecretsGeneratedOnceAndOverridable(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	none := func(string) string { return "" }
	s1, err := EnsureSecrets(l, none)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.JWTSecret) < 32 || len(s1.APIKey) < 32 || s1.Password == "" || s1.AccessKeyID == "" || len(s1.SecretAccessKey) < 32 {
		t.Fatalf("weak secrets: %+v", s1)
	}
	st, _ := os.Stat(l.SecretsFile())
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secrets.env mode %v, want 0600", st.Mode().Perm())
	}
	s2, _ := EnsureSecrets(l, none)
	if s2 != s1 {
		t.Errorf("secrets changed on the second run")
	}
	s3, _ := EnsureSecrets(l, func(k string) string {
		if k == "X_API_KEY" {
			return "from-env"
		}
		return ""
	})
	if s3.APIKey != "from-env" || s3.JWTSecret != s1.JWTSecret {
		t.Errorf("override: %+v", s3)
	}
	if _, err := EnsureSecrets(l, func(k string) string {
		if k == "JWT_SECRET_KEY" {
			return "short"
		}
		return ""
	}); err == nil {
		t.Error("a short JWT_SECRET_KEY was accepted")
	}
	os.WriteFile(l.SecretsFile(), []byte("garbage line\nX_API_KEY=kept\n"), 0o600)
	s4, err := EnsureSecrets(l, none)
	if err != nil || s4.APIKey != "kept" || s4.JWTSecret == "" {
		t.Errorf("damaged file: %+v %v", s4, err)
	}
	if _, err := LoadSecrets(Layout{Root: t.TempDir()}, none); err == nil {
		t.Error("LoadSecrets without a file succeeded")
	}
}
