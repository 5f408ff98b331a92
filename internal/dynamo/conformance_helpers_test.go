package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
)

// EnvConformanceEndpoint points the conformance suite at an external
// DynamoDB-compatible endpoint (DynamoDB Local, Alternator, AWS) instead of an
// in-process server. Credentials then come from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (default "test"/"test") and the region from AWS_REGION.
const envConformanceEndpoint = "ESB_DYNAMODB_CONFORMANCE_ENDPOINT"

// target is the endpoint under test.
type target struct {
	url      string
	client   *dynamodb.Client
	srv      *dynamo.Server // nil for an external endpoint
	external bool
}

func external() string { return os.Getenv(envConformanceEndpoint) }

func startServer(t testing.TB, cfg dynamo.Config) *dynamo.Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := dynamo.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

func newClient(url, ak, sk, region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
	})
}

// newTarget returns the endpoint under test: an in-process server on a free
// port, or the external endpoint named by ESB_DYNAMODB_CONFORMANCE_ENDPOINT.
func newTarget(t testing.TB) *target {
	t.Helper()
	if url := external(); url != "" {
		ak, sk, region := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_REGION")
		if ak == "" {
			ak, sk = "test", "test"
		}
		if region == "" {
			region = "us-east-1"
		}
		return &target{url: url, client: newClient(url, ak, sk, region), external: true}
	}
	srv := startServer(t, dynamo.Config{TTLInterval: 200 * time.Millisecond})
	return &target{url: srv.URL(), client: newClient(srv.URL(), "AKIDTEST", "secret", "us-east-1"), srv: srv}
}

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// table creates a table that is deleted when the test ends and waits for it
// to be ACTIVE.
func (tg *target) table(t testing.TB, in *dynamodb.CreateTableInput) string {
	t.Helper()
	ctx := context.Background()
	if in.TableName == nil {
		in.TableName = aws.String(uniqueName("esbconf"))
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil {
		in.BillingMode = types.BillingModePayPerRequest
	}
	if _, err := tg.client.CreateTable(ctx, in); err != nil {
		t.Fatalf("CreateTable %s: %v", *in.TableName, err)
	}
	w := dynamodb.NewTableExistsWaiter(tg.client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, time.Minute); err != nil {
		t.Fatalf("wait for %s: %v", *in.TableName, err)
	}
	t.Cleanup(func() {
		_, _ = tg.client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: in.TableName})
	})
	return *in.TableName
}

// hashRangeTable is pk (S) + sk (N) unless other types are given.
func (tg *target) hashRangeTable(t testing.TB, hashType, rangeType types.ScalarAttributeType) string {
	return tg.table(t, &dynamodb.CreateTableInput{
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: hashType},
			{AttributeName: aws.String("sk"), AttributeType: rangeType},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
}

func (tg *target) hashTable(t testing.TB) string {
	return tg.table(t, &dynamodb.CreateTableInput{
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
}

// wantAPIError checks the error code and, when msg is not empty, that the
// message contains msg.
func wantAPIError(t testing.TB, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v; want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got error %s (%s); want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if msg != "" && !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("got message %q; want it to contain %q", ae.ErrorMessage(), msg)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }
func bl(v bool) types.AttributeValue  { return &types.AttributeValueMemberBOOL{Value: v} }
func ss(v ...string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: v}
}
func l(v ...types.AttributeValue) types.AttributeValue { return &types.AttributeValueMemberL{Value: v} }
func m(v map[string]types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: v}
}

type item = map[string]types.AttributeValue

func str(t testing.TB, it item, name string) string {
	t.Helper()
	v, ok := it[name].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("attribute %s = %#v; want S", name, it[name])
	}
	return v.Value
}

func num(t testing.TB, it item, name string) string {
	t.Helper()
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s = %#v; want N", name, it[name])
	}
	return v.Value
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
