package dynamo_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
)

// FuzzOperations sends arbitrary bodies to every operation of a server that
// has a table with a GSI: any answer is fine except a 5xx or a panic.
func FuzzOperations(f *testing.F) {
	srv, err := dynamo.NewServer(dynamo.Config{DataDir: f.TempDir(), NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close(bg)
	var last string
	post := func(target, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+target)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		last = w.Body.String()
		return w.Code
	}
	if code := post("CreateTable", `{"TableName":"fz1","BillingMode":"PAY_PER_REQUEST",
		"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"},{"AttributeName":"g","AttributeType":"S"}],
		"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
		"GlobalSecondaryIndexes":[{"IndexName":"gix","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}],"Projection":{"ProjectionType":"ALL"}}]}`); code != 200 {
		f.Fatalf("CreateTable: %d %s", code, last)
	}
	ops := []string{"PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
		"TransactWriteItems", "TransactGetItems", "UpdateTable", "UpdateTimeToLive", "DescribeTable", "ListTables"}
	seeds := []string{
		`{"TableName":"fz1","Item":{"pk":{"S":"a"},"sk":{"N":"1"},"g":{"S":"x"},"l":{"L":[{"N":"1"}]}}}`,
		`{"TableName":"fz1","Key":{"pk":{"S":"a"},"sk":{"N":"1"}},"UpdateExpression":"SET l[5] = :v, m = if_not_exists(m, :v) ADD c :n","ExpressionAttributeValues":{":v":{"S":"q"},":n":{"N":"1"}},"ReturnValues":"UPDATED_NEW"}`,
		`{"TableName":"fz1","IndexName":"gix","KeyConditionExpression":"g = :g","ExpressionAttributeValues":{":g":{"S":"x"}},"ScanIndexForward":false,"Limit":1}`,
		`{"TableName":"fz1","KeyConditionExpression":"pk = :p AND sk BETWEEN :a AND :b","ExpressionAttributeValues":{":p":{"S":"a"},":a":{"N":"0"},":b":{"N":"9"}},"ExclusiveStartKey":{"pk":{"S":"a"},"sk":{"N":"0"}}}`,
		`{"TableName":"fz1","Segment":1,"TotalSegments":3,"FilterExpression":"size(l) > :z","ExpressionAttributeValues":{":z":{"N":"0"}}}`,
		`{"TransactItems":[{"Put":{"TableName":"fz1","Item":{"pk":{"S":"t"},"sk":{"N":"2"}},"ConditionExpression":"attribute_not_exists(pk)"}}],"ClientRequestToken":"tok"}`,
		`{"RequestItems":{"fz1":[{"PutRequest":{"Item":{"pk":{"S":"b"},"sk":{"N":"3"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"a"},"sk":{"N":"1"}}}}]}}`,
		`{"TableName":"fz1","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"exp"}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		target := ops[int(op)%len(ops)]
		if code := post(target, body); code >= 500 {
			t.Fatalf("%s %s: status %d %s", target, body, code, last)
		}
	})
}
