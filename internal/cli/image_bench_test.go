package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkImageBuild times `esb build` of examples/hello-go,
// examples/hello-python and examples/full-stack (offline base) cold (empty build cache, image not
// in Docker), warm (nothing changed) and after a code-only change, next to
// plain `docker build` of the Dockerfiles esb rendered (after the same
// host-side go build), in the same run against the same Docker Engine.
// Both run as programs (the esb binary, the docker CLI). Needs ESB_E2E=1
// and the test daemons:
//
//	ESB_E2E=1 go test ./internal/cli -run '^$' -bench ImageBuild -benchtime 5x
func BenchmarkImageBuild(b *testing.B) {
	if os.Getenv("ESB_E2E") != "1" {
		b.Skip("needs the test daemons: ESB_E2E=1 and scripts/test-daemons.sh start")
	}
	dockerHost := os.Getenv("ESB_TEST_DOCKER_HOST")
	if dockerHost == "" {
		b.Fatal("ESB_TEST_DOCKER_HOST is not set")
	}
	tmp := b.TempDir()
	esb := filepath.Join(tmp, "esb")
	if out, err := exec.Command("go", "build", "-o", esb, "github.com/edgeserverlessbox/esb/cmd/esb").CombinedOutput(); err != nil {
		b.Fatalf("build esb: %v\n%s", err, out)
	}
	rie := filepath.Join(tmp, "esb-rie")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", rie, "./cmd/esb-rie")
	cmd.Dir = filepath.Join(packageDir, "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build esb-rie: %v\n%s", err, out)
	}
	env := append(os.Environ(), "DOCKER_HOST="+dockerHost, "ESB_MODE=docker", "ESB_RIE="+rie, "DOCKER_BUILDKIT=0",
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "ESB_TEMPLATE=", "ESB_ENV=", "CONTAINER_REGISTRY=")
	run := func(dir string, extra []string, name string, args ...string) {
		b.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(append([]string(nil), env...), extra...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}

	type example struct {
		name string
		code string // the file a code change edits
	}
	examples := []example{
		{name: "hello-go", code: "functions/hello/main.go"},
		{name: "hello-python", code: "functions/hello/app.py"},
		{name: "full-stack", code: "functions/items/app.py"}, // 3 python functions with a layer, 1 Go
	}
	for _, ex := range examples {
		b.Run(ex.name, func(b *testing.B) {
			// One project for both builders: the Dockerfiles are esb's.
			dir := benchGoExample(b, ex.name)
			if ex.name != "hello-go" {
				run(dir, []string{"ESB_CACHE_DIR=" + filepath.Join(tmp, "base-cache")}, esb, "base", "build", "python3.12")
			}
			n := 0
			change := func() {
				n++
				f, err := os.OpenFile(filepath.Join(dir, ex.code), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				comment := "//"
				if strings.HasSuffix(ex.code, ".py") {
					comment = "#"
				}
				fmt.Fprintf(f, "\n%s change %d\n", comment, n)
				f.Close()
			}
			rmi := func(refs ...string) {
				exec.Command("docker", append([]string{"-H", dockerHost, "rmi", "-f"}, refs...)...).Run()
			}
			cacheN := 0
			esbBuild := func(freshCache bool) []string {
				if freshCache {
					cacheN++
				}
				return []string{"ESB_CACHE_DIR=" + filepath.Join(tmp, ex.name, fmt.Sprint(cacheN))}
			}
			// esb writes the Dockerfiles and esb-rie that docker build uses.
			run(dir, esbBuild(true), esb, "build")
			dockerfiles, err := filepath.Glob(filepath.Join(dir, ".esb", "functions", "*", "Dockerfile"))
			if err != nil || len(dockerfiles) == 0 {
				b.Fatalf("no Dockerfiles: %v", err)
			}
			var images, dockerImages []string
			for _, df := range dockerfiles {
				fn := filepath.Base(filepath.Dir(df))
				images = append(images, "esb-"+fn+":latest")
				dockerImages = append(dockerImages, "esb-dockerfile-"+fn+":latest")
			}
			// The baseline does what each Dockerfile's header says, one
			// function after the other: its go build, then docker build.
			dockerBuild := func() {
				for i, df := range dockerfiles {
					data, _ := os.ReadFile(df)
					for _, line := range strings.Split(string(data), "\n") {
						if cmd, ok := strings.CutPrefix(line, "#   (cd "); ok && strings.Contains(cmd, " go build ") {
							run(dir, nil, "sh", "-c", "cd "+strings.TrimSuffix(cmd, ")"))
						}
					}
					rel, _ := filepath.Rel(dir, df)
					run(dir, nil, "docker", "build", "-q", "-f", rel, "-t", dockerImages[i], ".")
				}
			}
			// esb writes the Dockerfile and esb-rie that docker build uses.
			run(dir, esbBuild(true), esb, "build")

			// Each round times esb and docker build back to back (order
			// alternating), so both see the same machine load; the
			// medians and their ratio are reported.
			scenario := func(name string, prepare func(esbRound bool), esbRun, dockerRun func()) {
				b.Run(name, func(b *testing.B) {
					var te, td []time.Duration
					for i := 0; i < b.N; i++ {
						for k := 0; k < 2; k++ {
							esbFirst := (i+k)%2 == 0
							prepare(esbFirst)
							t0 := time.Now()
							if esbFirst {
								esbRun()
								te = append(te, time.Since(t0))
							} else {
								dockerRun()
								td = append(td, time.Since(t0))
							}
						}
					}
					me, md := median(te), median(td)
					b.ReportMetric(float64(me.Microseconds())/1000, "esb-ms")
					b.ReportMetric(float64(md.Microseconds())/1000, "docker-build-ms")
					b.ReportMetric(float64(md)/float64(me), "docker/esb")
				})
			}
			var extra []string
			scenario("cold", func(esbRound bool) {
				if esbRound {
					rmi(images...)
					extra = esbBuild(true)
				} else {
					rmi(dockerImages...)
				}
			}, func() { run(dir, extra, esb, "build") }, dockerBuild)
			extra = esbBuild(false)
			run(dir, extra, esb, "build")
			dockerBuild()
			scenario("warm", func(bool) {}, func() { run(dir, extra, esb, "build") }, dockerBuild)
			scenario("code-change", func(bool) { change() }, func() { run(dir, extra, esb, "build") }, dockerBuild)
			rmi(dockerImages...)
		})
	}
}

// benchCopy copies a project for a benchmark (copyProject needs a *testing.T).
func benchCopy(b *testing.B, src, name string) string {
	b.Helper()
	dst := filepath.Join(b.TempDir(), name)
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v\n%s", src, err, out)
	}
	os.RemoveAll(filepath.Join(dst, ".esb"))
	return dst
}

// benchGoExample copies an example and makes it a module of its own with
// esb's requirements, so its Go functions build outside the esb tree.
func benchGoExample(b *testing.B, name string) string {
	b.Helper()
	dir := benchCopy(b, filepath.Join(packageDir, "../../examples", name), name)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(packageDir, "../..", f))
		if err != nil {
			b.Fatal(err)
		}
		if f == "go.mod" {
			data = []byte(strings.Replace(string(data), "module github.com/edgeserverlessbox/esb", "module "+strings.ReplaceAll(name, "-", ""), 1))
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	return dir
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
