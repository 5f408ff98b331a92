package dynamo_test

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
)

func post(t *testing.T, url, target, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(data)), 10); got != want {
		t.Fatalf("X-Amz-Crc32 = %s; want %s", got, want)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatal("no x-amzn-RequestId")
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("response %q: %v", data, err)
	}
	return resp, out
}

// TestProtocolErrorShapes checks the wire format of errors: status, __type
// with AWS's prefixes, message, CRC32 header.
func TestProtocolErrorShapes(t *testing.T) {
	srv := startServer(t, dynamo.Config{})
	url := srv.URL()
	cases := []struct {
		target, body, typ, msg string
	}{
		{"Nope", `{}`, "com.amazon.coral.service#UnknownOperationException", ""},
		{"", `{}`, "com.amazon.coral.service#UnknownOperationException", ""},
		{"GetItem", `{"TableName":`, "com.amazon.coral.service#SerializationException", ""},
		{"GetItem", `{"TableName":"missing","Key":{"pk":{"S":"x"}}}`, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found"},
		{"DescribeTable", `{"TableName":"missing"}`, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found: Table: missing not found"},
		{"GetItem", `{"Key":{}}`, "com.amazon.coral.validate#ValidationException", "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"},
		{"PutItem", `{"TableName":"abc","Item":{"a":{"S":"x","N":"1"}}}`, "com.amazon.coral.validate#ValidationException", "Supplied AttributeValue has more than one datatypes set"},
		{"Scan", `{"TableName":"abc","FilterExpression":"a = :v","ExpressionAttributeValues":{":v":{"SS":[]}}}`, "com.amazon.coral.validate#ValidationException",
			"ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :v"},
	}
	for _, tc := range cases {
		resp, out := post(t, url, tc.target, tc.body)
		if resp.StatusCode != 400 || out["__type"] != tc.typ {
			t.Errorf("%s %s: %d %v; want 400 %s", tc.target, tc.body, resp.StatusCode, out, tc.typ)
		}
		if tc.msg != "" && out["message"] != tc.msg && !strings.Contains(out["message"].(string), tc.msg) {
			t.Errorf("%s: message %v; want %q", tc.target, out["message"], tc.msg)
		}
	}
	resp, out := post(t, url, "ListTables", `{}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" || out["TableNames"] == nil {
		t.Fatalf("ListTables: %d %v", resp.StatusCode, out)
	}
}

func TestSigV4(t *testing.T) {
	srv := startServer(t, dynamo.Config{Credentials: map[string]string{"AKIDGOOD": "s3cret"}})
	good := newClient(srv.URL(), "AKIDGOOD", "s3cret", "us-east-1")
	if _, err := good.ListTables(bg, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("signed request rejected: %v", err)
	}
	_, err := newClient(srv.URL(), "AKIDGOOD", "wrong", "us-east-1").ListTables(bg, &dynamodb.ListTablesInput{})
	wantAPIError(t, err, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided")
	_, err = newClient(srv.URL(), "AKIDBAD", "s3cret", "us-east-1").ListTables(bg, &dynamodb.ListTablesInput{})
	wantAPIError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")
	_, err = newClient(srv.URL(), "AKIDGOOD", "s3cret", "eu-west-1").ListTables(bg, &dynamodb.ListTablesInput{})
	wantAPIError(t, err, "InvalidSignatureException", "")
	resp, out := post(t, srv.URL(), "ListTables", `{}`)
	if resp.StatusCode != 400 || out["__type"] != "com.amazon.coral.service#MissingAuthenticationTokenException" {
		t.Fatalf("unsigned request: %d %v", resp.StatusCode, out)
	}
	// A signed write with a body.
	tg := &target{url: srv.URL(), client: good, srv: srv}
	name := tg.hashTable(t)
	if _, err := good.PutItem(bg, &dynamodb.PutItemInput{TableName: &name, Item: item{"pk": s("a"), "v": s(strings.Repeat("é", 1000))}}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentConditionalCounters runs many clients incrementing shared
// counters with optimistic conditions: no update may be lost.
func TestConcurrentConditionalCounters(t *testing.T) {
	tg := newTarget(t)
	c := tg.client
	name := tg.hashTable(t)
	const clients, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				_, err := c.UpdateItem(bg, &dynamodb.UpdateItemInput{TableName: &name, Key: item{"pk": s("counter" + strconv.Itoa(j%3))},
					UpdateExpression: aws.String("ADD hits :one"), ExpressionAttributeValues: item{":one": n("1")}})
				if err != nil {
					errs <- err
					return
				}
				_, err = c.PutItem(bg, &dynamodb.PutItemInput{TableName: &name, Item: item{"pk": s("once" + strconv.Itoa(j)), "by": n(strconv.Itoa(i))},
					ConditionExpression: aws.String("attribute_not_exists(pk)")})
				var ccf *types.ConditionalCheckFailedException
				if err != nil && !asErr(err, &ccf) {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for k := 0; k < 3; k++ {
		g, err := c.GetItem(bg, &dynamodb.GetItemInput{TableName: &name, Key: item{"pk": s("counter" + strconv.Itoa(k))}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(num(t, g.Item, "hits"))
		total += v
	}
	if total != clients*each {
		t.Fatalf("counters sum to %d; want %d (lost updates)", total, clients*each)
	}
	sc, err := c.Scan(bg, &dynamodb.ScanInput{TableName: &name, Select: types.SelectCount})
	if err != nil || sc.Count != 3+each {
		t.Fatalf("scan count %d; want %d", sc.Count, 3+each)
	}
}
