package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
	dprov "github.com/edgeserverlessbox/esb/internal/dynamo/provision"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func table(keyAttr string) manifest.Table {
	return manifest.Table{
		Name:                 "items",
		LogicalID:            "ItemsTable",
		BillingMode:          "PAY_PER_REQUEST",
		KeySchema:            []manifest.KeyElement{{AttributeName: keyAttr, KeyType: "HASH"}},
		AttributeDefinitions: []manifest.AttributeDefinition{{AttributeName: keyAttr, AttributeType: "S"}},
	}
}

// TestApplyTablesIdempotentAgainstTheEmbeddedServer provisions a table into
// an in-process esb dynamodb, twice, then with a changed key.
func TestApplyTablesIdempotentAgainstTheEmbeddedServer(t *testing.T) {
	cfg := dynamo.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Region: "us-east-1", Credentials: map[string]string{"AK": "SK"}}
	srv, err := dynamo.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ep := Endpoints{DynamoDB: srv.URL(), Region: "us-east-1", AccessKeyID: "AK", SecretAccessKey: "SK"}
	res := &manifest.Resources{Tables: []manifest.Table{table("id")}}
	rep, err := Apply(t.Context(), res, ep)
	if err != nil || len(rep.Tables) != 1 || rep.Tables[0].Action != dprov.Created {
		t.Fatalf("first Apply: %+v %v", rep, err)
	}
	rep, err = Apply(t.Context(), res, ep)
	if err != nil || rep.Tables[0].Action != dprov.Unchanged {
		t.Fatalf("second Apply: %+v %v", rep, err)
	}
	_, err = Apply(t.Context(), &manifest.Resources{Tables: []manifest.Table{table("pk")}}, ep)
	if !errors.Is(err, ErrNeedsReset) {
		t.Fatalf("changed key: %v, want ErrNeedsReset", err)
	}
	bad := ep
	bad.SecretAccessKey = "wrong"
	if _, err := Apply(t.Context(), res, bad); err == nil || !strings.Contains(err.Error(), srv.URL()) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestApplyWithoutEndpointsSaysWhichIsMissing(t *testing.T) {
	_, err := Apply(t.Context(), &manifest.Resources{Tables: []manifest.Table{table("id")}}, Endpoints{})
	if err == nil || !strings.Contains(err.Error(), "DYNAMODB_ENDPOINT") {
		t.Errorf("tables without endpoint: %v", err)
	}
	_, err = Apply(t.Context(), &manifest.Resources{Buckets: []manifest.Bucket{{Name: "b"}}}, Endpoints{})
	if err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT") {
		t.Errorf("buckets without endpoint: %v", err)
	}
	if rep, err := Apply(t.Context(), nil, Endpoints{}); err != nil || len(rep.Tables) != 0 {
		t.Errorf("nothing to do: %+v %v", rep, err)
	}
}
