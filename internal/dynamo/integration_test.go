package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func needE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 to run integration tests")
	}
}

// esbBinary builds the esb binary once per test run.
func esbBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "esb-dynamo-it-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binPath = filepath.Join(binDir, "esb")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/esb")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is a running `esb dynamodb` process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

func startDaemon(t *testing.T, dataDir, addr string, extra ...string) *daemon {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "dynamodb-*.log")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"dynamodb", "--listen", addr, "--data-dir", dataDir}, extra...)
	cmd := exec.Command(esbBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, addr: addr, log: logf}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("esb dynamodb did not listen on %s: %s", addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) kill9(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Wait()
}

// TestIntegrationKill9 writes from many clients, kills the real process with
// SIGKILL mid-stream, restarts it on the same data directory and checks that
// every acknowledged write (and its index entry) survived.
func TestIntegrationKill9(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	addr := freePort(t)
	d := startDaemon(t, dir, addr)
	url := "http://" + addr
	c := newClient(url, "AKID", "secret", "us-east-1")
	tg := &target{url: url, client: c}
	name := "kill9"
	_, err := c.CreateTable(bg, &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byG"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = tg
	var acked sync.Map
	var count atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("w%02d-%06d", w, i)
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item{"pk": s(k), "g": s("all"), "v": n(strconv.Itoa(i))}})
				if err != nil {
					return
				}
				acked.Store(k, true)
				count.Add(1)
			}
		}(w)
	}
	for count.Load() < 3000 {
		time.Sleep(10 * time.Millisecond)
	}
	d.kill9(t)
	cancel()
	wg.Wait()
	n := count.Load()

	startDaemon(t, dir, addr)
	missing := 0
	acked.Range(func(k, _ any) bool {
		g, err := c.GetItem(bg, &dynamodb.GetItemInput{TableName: aws.String(name), Key: item{"pk": s(k.(string))}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if g.Item == nil {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after kill -9", missing, n)
	}
	// The index agrees with the table.
	idx := 0
	p := dynamodb.NewQueryPaginator(c, &dynamodb.QueryInput{TableName: aws.String(name), IndexName: aws.String("byG"), Select: types.SelectCount,
		KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: item{":g": s("all")}})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		idx += int(page.Count)
	}
	tbl := 0
	sp := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(name), Select: types.SelectCount})
	for sp.HasMorePages() {
		page, err := sp.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		tbl += int(page.Count)
	}
	if idx != tbl || int64(tbl) < n {
		t.Fatalf("after restart: table %d items, index %d entries, %d acknowledged", tbl, idx, n)
	}
	t.Logf("%d acknowledged writes, all present after kill -9 (table %d items)", n, tbl)
}

// TestIntegrationAWSCLI drives the real `esb dynamodb` with Debian's AWS CLI,
// SigV4 verification on.
func TestIntegrationAWSCLI(t *testing.T) {
	needE2E(t)
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI (aws) is needed: apt-get install awscli")
	}
	addr := freePort(t)
	startDaemon(t, t.TempDir(), addr, "--credentials", "AKIDCLI:clisecret")
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDCLI", "AWS_SECRET_ACCESS_KEY=clisecret", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_PAGER=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	run := func(wantErr string, args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(awsBin, append([]string{"--endpoint-url", "http://" + addr, "--output", "json", "dynamodb"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if wantErr != "" {
			if err == nil || !strings.Contains(string(out), wantErr) {
				t.Fatalf("aws %v: %v %s; want error %q", args, err, out, wantErr)
			}
			return nil
		}
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		var v map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("aws %v output %q: %v", args, out, err)
			}
		}
		return v
	}
	run("", "create-table", "--table-name", "cli-table", "--billing-mode", "PAY_PER_REQUEST",
		"--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=N",
		"--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE")
	run("", "wait", "table-exists", "--table-name", "cli-table")
	if v := run("", "list-tables"); fmt.Sprint(v["TableNames"]) != "[cli-table]" {
		t.Fatalf("list-tables: %v", v)
	}
	for i := 0; i < 12; i++ {
		run("", "put-item", "--table-name", "cli-table", "--item", fmt.Sprintf(`{"pk":{"S":"p"},"sk":{"N":"%d"},"d":{"S":"é日本"}}`, i))
	}
	v := run("", "get-item", "--table-name", "cli-table", "--key", `{"pk":{"S":"p"},"sk":{"N":"3"}}`)
	if !strings.Contains(fmt.Sprint(v["Item"]), "é日本") {
		t.Fatalf("get-item: %v", v)
	}
	// The CLI paginates by itself (--page-size sets Limit).
	v = run("", "query", "--table-name", "cli-table", "--key-condition-expression", "pk = :p AND sk >= :s",
		"--expression-attribute-values", `{":p":{"S":"p"},":s":{"N":"2"}}`, "--page-size", "3")
	if v["Count"].(float64) != 10 {
		t.Fatalf("query: %v", v["Count"])
	}
	v = run("", "update-item", "--table-name", "cli-table", "--key", `{"pk":{"S":"p"},"sk":{"N":"1"}}`,
		"--update-expression", "SET c = if_not_exists(c, :z) + :one", "--expression-attribute-values", `{":z":{"N":"0"},":one":{"N":"1"}}`,
		"--return-values", "UPDATED_NEW")
	if fmt.Sprint(v["Attributes"]) != "map[c:map[N:1]]" {
		t.Fatalf("update-item: %v", v)
	}
	run("ConditionalCheckFailedException", "delete-item", "--table-name", "cli-table", "--key", `{"pk":{"S":"p"},"sk":{"N":"1"}}`,
		"--condition-expression", "c = :two", "--expression-attribute-values", `{":two":{"N":"2"}}`)
	run("", "batch-write-item", "--request-items", `{"cli-table":[{"DeleteRequest":{"Key":{"pk":{"S":"p"},"sk":{"N":"0"}}}}]}`)
	v = run("", "scan", "--table-name", "cli-table", "--select", "COUNT")
	if v["Count"].(float64) != 11 {
		t.Fatalf("scan count: %v", v)
	}
	run("", "update-time-to-live", "--table-name", "cli-table", "--time-to-live-specification", "Enabled=true,AttributeName=exp")
	v = run("", "describe-time-to-live", "--table-name", "cli-table")
	if !strings.Contains(fmt.Sprint(v), "ENABLED") {
		t.Fatalf("describe-time-to-live: %v", v)
	}
	run("", "transact-write-items", "--transact-items",
		`[{"Put":{"TableName":"cli-table","Item":{"pk":{"S":"t"},"sk":{"N":"1"}},"ConditionExpression":"attribute_not_exists(pk)"}}]`)
	run("TransactionCanceledException", "transact-write-items", "--transact-items",
		`[{"Put":{"TableName":"cli-table","Item":{"pk":{"S":"t"},"sk":{"N":"1"}},"ConditionExpression":"attribute_not_exists(pk)"}}]`)
	run("ValidationException", "get-item", "--table-name", "cli-table", "--key", `{"pk":{"S":"p"}}`)
	run("ResourceNotFoundException", "describe-table", "--table-name", "nope-table")
	// A wrong secret is refused.
	cmd := exec.Command(awsBin, "--endpoint-url", "http://"+addr, "dynamodb", "list-tables")
	cmd.Env = append(env, "AWS_SECRET_ACCESS_KEY=wrong")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "InvalidSignatureException") {
		t.Fatalf("wrong secret: %v %s", err, out)
	}
	run("", "delete-table", "--table-name", "cli-table")
}

// TestIntegrationBoto3 runs a boto3 script (Debian's python3-boto3) against the
// real `esb dynamodb`, SigV4 on.
func TestIntegrationBoto3(t *testing.T) {
	needE2E(t)
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		t.Fatalf("%s with boto3 is needed (apt-get install python3-boto3): %v", py, err)
	}
	addr := freePort(t)
	startDaemon(t, t.TempDir(), addr, "--credentials", "AKIDPY:pysecret")
	out, err := exec.Command(py, "testdata/boto3_smoke.py", "http://"+addr, "AKIDPY", "pysecret").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
