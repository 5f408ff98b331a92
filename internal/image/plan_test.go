package image

import (
	"reflect"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func TestReferenceAndBase(t *testing.T) {
	for _, c := range []struct{ reg, fn, tag, want string }{
		{"", "hello", "", "esb-hello:latest"},
		{"", "My_Func.v2", "v1", "esb-my_func.v2:v1"},
		{"reg.local:5000/", "lambda my func", "dev", "reg.local:5000/esb-lambda-my-func:dev"},
	} {
		if got := Reference(c.reg, c.fn, c.tag); got != c.want {
			t.Errorf("Reference(%q, %q, %q) = %q, want %q", c.reg, c.fn, c.tag, got, c.want)
		}
	}
	for rt, want := range map[string]string{
		"python3.12": "public.ecr.aws/lambda/python:3.12", "nodejs20.x": "public.ecr.aws/lambda/nodejs:20",
		"provided.al2023": Scratch, "provided": Scratch,
	} {
		if got := DefaultBase(rt); got != want {
			t.Errorf("DefaultBase(%s) = %s, want %s", rt, got, want)
		}
	}
}

func TestPlanGoFunctionOnArm(t *testing.T) {
	cfg := Config{Project: "demo", Tag: "t", ContextDir: "/p", OutputDir: "/p/.esb", Runtimes: map[string]string{"python3.12": "mine"}}
	fn := manifest.Function{Runtime: "provided.al2023", Handler: "bootstrap", CodeURI: "functions/go", BuildMethod: "go1.x",
		Architectures: []string{"arm64"}, Layers: []manifest.Layer{{Name: "l1", ContentURI: "layers/a"}, {Name: "l2", ContentURI: "."}}}
	p, err := NewPlan("gofn", fn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Platform != "linux/arm64" || p.Base != Scratch || p.Image != "esb-gofn:t" || p.DockerfilePath != ".esb/functions/gofn/Dockerfile" {
		t.Errorf("plan %+v", p)
	}
	wantBuild := &GoBuild{Dir: "functions/go", Output: ".esb/functions/gofn/build/bootstrap", Env: []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"},
		Args: []string{"build", "-trimpath", "-tags", "lambda.norpc", "-o", "../../.esb/functions/gofn/build/bootstrap", "."}}
	if !reflect.DeepEqual(p.Build, wantBuild) {
		t.Errorf("build %+v", p.Build)
	}
	wantCopies := []Copy{
		{Kind: CopyRIE, Src: ".esb/bin/linux-arm64/esb-rie", Dest: RIEPath},
		{Kind: CopyLayer, Name: "l1", Src: "layers/a/", Dest: "/opt/"},
		{Kind: CopyLayer, Name: "l2", Src: "./", Dest: "/opt/"},
		{Kind: CopyCode, Src: ".esb/functions/gofn/build/", Dest: "/var/task/"},
	}
	if !reflect.DeepEqual(p.Copies, wantCopies) {
		t.Errorf("copies %+v", p.Copies)
	}
	if !reflect.DeepEqual(p.Cmd, []string{"/var/task/bootstrap"}) || p.Labels[LabelRuntime] != "provided.al2023" || p.Labels[LabelProject] != "demo" {
		t.Errorf("cmd %v labels %v", p.Cmd, p.Labels)
	}
	if got := p.HostPath(p.Copies[1].Src); got != "/p/layers/a" {
		t.Errorf("host path %s", got)
	}
	py, err := NewPlan("py", manifest.Function{Runtime: "python3.12", Handler: "app.handler", CodeURI: "src"}, cfg)
	if err != nil || py.Base != "mine" || !reflect.DeepEqual(py.Cmd, []string{"--runtime", "python3.12", "app.handler"}) || py.Build != nil {
		t.Errorf("python plan %+v %v", py, err)
	}
}

func TestPlanImageFunctionAndDockerfile(t *testing.T) {
	cfg := Config{Project: "demo", ContextDir: "/p", OutputDir: "/p/out dir"}
	p, err := NewPlan("img", manifest.Function{PackageType: "Image", ImageURI: "my/app:1"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.InheritCmd || p.Base != "my/app:1" || len(p.Copies) != 1 {
		t.Fatalf("plan %+v", p)
	}
	df := string(p.Dockerfile("template.yaml"))
	for _, want := range []string{
		"FROM my/app:1\n",
		`COPY ["out dir/bin/linux-amd64/esb-rie", "/usr/local/bin/esb-rie"]`,
		`LABEL esb.function="img" esb.managed="true" esb.project="demo"`,
		"ENTRYPOINT [\"/usr/local/bin/esb-rie\"]\n# CMD: esb build passes",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if !strings.HasPrefix(df, DockerfileHeader) {
		t.Errorf("Dockerfile does not start with the header")
	}
	p, _ = NewPlan("img2", manifest.Function{PackageType: "Image", ImageURI: "x", ImageConfig: &manifest.ImageConfig{EntryPoint: []string{"/app"}, Command: []string{"h<1>"}, WorkingDirectory: "/w"}}, cfg)
	if df := string(p.Dockerfile("t")); !strings.Contains(df, `CMD ["/app", "h<1>"]`) || !strings.Contains(df, "WORKDIR /w") {
		t.Errorf("Dockerfile:\n%s", df)
	}
	if _, err := NewPlan("x", manifest.Function{Runtime: "python3.12"}, Config{ContextDir: "/p", OutputDir: "/elsewhere"}); err == nil || !strings.Contains(err.Error(), "outside the template directory") {
		t.Errorf("output outside the context: %v", err)
	}
}
