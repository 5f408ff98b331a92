package gateway

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// boto3Script invokes the gateway's Lambda Invoke API with Debian's boto3 the
// way function code and user scripts do.
const boto3Script = `
import base64, json, sys, boto3, botocore
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret")
r = c.invoke(FunctionName="echo", Payload=json.dumps({"a": 1}), LogType="Tail")
assert r["StatusCode"] == 200, r
assert json.loads(r["Payload"].read()) == {"a": 1}
assert "START RequestId" in base64.b64decode(r["LogResult"]).decode()
assert r["ExecutedVersion"] == "$LATEST"
r = c.invoke(FunctionName="fail", Payload=b"{}")
assert r["FunctionError"] == "Unhandled", r
assert json.loads(r["Payload"].read())["errorType"] == "ValueError"
r = c.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
assert r["StatusCode"] == 202, r
r = c.invoke(FunctionName="echo", InvocationType="DryRun")
assert r["StatusCode"] == 204, r
try:
    c.invoke(FunctionName="missing", Payload=b"{}")
    raise SystemExit("no error for a missing function")
except c.exceptions.ResourceNotFoundException as e:
    assert "function:missing" in str(e)
bad = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="AKIDLOCAL", aws_secret_access_key="wrong")
try:
    bad.invoke(FunctionName="echo", Payload=b"{}")
    raise SystemExit("wrong secret accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidSignatureException", e.response
print("ok")
`

// TestIntegrationBoto3InvokeAPI drives the Invoke API with boto3 (Debian's
// python3-boto3), SigV4 verification on.
func TestIntegrationBoto3InvokeAPI(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("integration test: set ESB_E2E=1 (needs /usr/bin/python3 with python3-boto3)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		t.Fatalf("python3-boto3 is missing (apt-get install python3-boto3): %v", err)
	}
	ag := newFakeAgent()
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply { return workertest.Reply{Payload: c.Payload} })
	ag.handle("fail:latest", func(c *workertest.Call) workertest.Reply {
		return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorType":"ValueError","errorMessage":"bad"}`)}
	})
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"echo": {Image: "echo:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
		"fail": {Image: "fail:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
	}}
	e := startGateway(t, ag, fns, manifest.Routing{}, func(c *Config) {
		c.VerifySigV4 = true
		c.AccessKeyID, c.SecretAccessKey = "AKIDLOCAL", "local-secret"
	})
	out, err := exec.Command("/usr/bin/python3", "-c", boto3Script, e.http).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
