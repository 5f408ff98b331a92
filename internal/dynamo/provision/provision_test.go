package provision_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
	"github.com/edgeserverlessbox/esb/internal/dynamo/provision"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func server(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv, err := dynamo.NewServer(dynamo.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return provision.NewClient(provision.Endpoint{URL: srv.URL()})
}

func usersTable() manifest.Table {
	return manifest.Table{
		LogicalID: "UsersTable", Name: "users",
		KeySchema: []manifest.KeyElement{{AttributeName: "id", KeyType: "HASH"}},
		AttributeDefinitions: []manifest.AttributeDefinition{
			{AttributeName: "id", AttributeType: "S"}, {AttributeName: "email", AttributeType: "S"},
		},
		BillingMode: "PAY_PER_REQUEST",
		TTL:         &manifest.TTL{AttributeName: "expiresAt", Enabled: true},
	}
}

func TestProvisionIdempotent(t *testing.T) {
	c := server(t)
	ctx := context.Background()
	quiet := provision.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	tab := usersTable()
	res, err := provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if err != nil || res[0].Action != provision.Created {
		t.Fatalf("first run: %+v %v", res, err)
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("users")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("TTL not enabled: %+v %v", ttl, err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: "u1"}, "email": &types.AttributeValueMemberS{Value: "a@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	res, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if err != nil || res[0].Action != provision.Unchanged || len(res[0].Changes) != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}

	// An added GSI is created and backfilled.
	tab.GlobalSecondaryIndexes = []manifest.SecondaryIndex{{IndexName: "byEmail", ProjectionType: "ALL",
		KeySchema: []manifest.KeyElement{{AttributeName: "email", KeyType: "HASH"}}}}
	res, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if err != nil || res[0].Action != provision.Updated || res[0].Changes[0] != "added index byEmail" {
		t.Fatalf("add GSI: %+v %v", res, err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("users"), IndexName: aws.String("byEmail"),
		KeyConditionExpression:    aws.String("email = :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: "a@example.com"}}})
	if err != nil || q.Count != 1 {
		t.Fatalf("query new GSI: %v %v", q, err)
	}
	res, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if err != nil || res[0].Action != provision.Unchanged {
		t.Fatalf("after GSI: %+v %v", res, err)
	}

	// TTL moved to another attribute, then off.
	tab.TTL = &manifest.TTL{AttributeName: "ttl2", Enabled: true}
	res, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if err != nil || len(res[0].Changes) != 2 {
		t.Fatalf("move TTL: %+v %v", res, err)
	}
	tab.TTL = nil
	if res, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet); err != nil || res[0].Changes[0] != "disabled TTL on ttl2" {
		t.Fatalf("TTL off: %+v %v", res, err)
	}

	// A changed key schema needs --reset, and says so.
	tab.KeySchema = append(tab.KeySchema, manifest.KeyElement{AttributeName: "email", KeyType: "RANGE"})
	_, err = provision.Tables(ctx, c, []manifest.Table{tab}, quiet)
	if !errors.Is(err, provision.ErrNeedsReset) || !strings.Contains(err.Error(), "esb up --reset") || !strings.Contains(err.Error(), "users") {
		t.Fatalf("key change: %v", err)
	}
	// The item survived all of it.
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "u1"}}})
	if err != nil || g.Item == nil {
		t.Fatalf("item lost: %v", err)
	}
}

func TestProvisionValidation(t *testing.T) {
	bad := usersTable()
	bad.KeySchema = []manifest.KeyElement{{AttributeName: "nope", KeyType: "HASH"}}
	_, err := provision.Tables(context.Background(), nil, []manifest.Table{bad}, provision.Options{WaitTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "table key nope is missing from attribute_definitions") {
		t.Fatalf("got %v", err)
	}
}

func TestProvisionLSIAndProvisioned(t *testing.T) {
	c := server(t)
	tab := manifest.Table{
		LogicalID: "Orders", Name: "orders",
		KeySchema: []manifest.KeyElement{{AttributeName: "cust", KeyType: "HASH"}, {AttributeName: "id", KeyType: "RANGE"}},
		AttributeDefinitions: []manifest.AttributeDefinition{
			{AttributeName: "cust", AttributeType: "S"}, {AttributeName: "id", AttributeType: "S"}, {AttributeName: "at", AttributeType: "N"},
		},
		ProvisionedThroughput: &manifest.Throughput{ReadCapacityUnits: 2, WriteCapacityUnits: 3},
		LocalSecondaryIndexes: []manifest.SecondaryIndex{{IndexName: "byTime", ProjectionType: "KEYS_ONLY",
			KeySchema: []manifest.KeyElement{{AttributeName: "cust", KeyType: "HASH"}, {AttributeName: "at", KeyType: "RANGE"}}}},
	}
	ctx := context.Background()
	if _, err := provision.Tables(ctx, c, []manifest.Table{tab}, provision.Options{}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil || *d.Table.ProvisionedThroughput.WriteCapacityUnits != 3 || len(d.Table.LocalSecondaryIndexes) != 1 {
		t.Fatalf("describe: %+v %v", d, err)
	}
	res, err := provision.Tables(ctx, c, []manifest.Table{tab}, provision.Options{})
	if err != nil || res[0].Action != provision.Unchanged {
		t.Fatalf("rerun: %+v %v", res, err)
	}
	tab.LocalSecondaryIndexes[0].ProjectionType = "ALL"
	if _, err := provision.Tables(ctx, c, []manifest.Table{tab}, provision.Options{}); !errors.Is(err, provision.ErrNeedsReset) {
		t.Fatalf("LSI change: %v", err)
	}
}
