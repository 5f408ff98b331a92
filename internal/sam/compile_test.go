package sam

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// compileText compiles a template in a fresh directory that has code/ and layer/.
func compileText(t *testing.T, text string, params map[string]string) (*Result, error) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"code", "layer", "layer2"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Compile(Options{TemplatePath: path, Parameters: params, StackName: "stack"})
}

func mustCompile(t *testing.T, text string, params map[string]string) *Result {
	t.Helper()
	res, err := compileText(t, text, params)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return res
}

// envOf compiles a template with one function whose Environment.Variables
// are given, and returns the resolved variables.
func envOf(t *testing.T, head, vars string) map[string]string {
	t.Helper()
	text := head + `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
` + indent(vars, "          ") + `
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-t"
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
  Bucket:
    Type: AWS::S3::Bucket
`
	res := mustCompile(t, text, nil)
	return res.Functions.Functions["Fn"].Environment
}

func indent(s, pre string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}

func TestIntrinsicFunctions(t *testing.T) {
	head := `
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Zones: {Type: CommaDelimitedList, Default: "a, b,c"}
Mappings:
  Cfg:
    dev: {Level: DEBUG}
    prod: {Level: INFO}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [a, a]]
  Either: {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": ["x", "y"]}]}
`
	got := envOf(t, head, `
REF: !Ref Stage
REGION: !Ref AWS::Region
ACCOUNT: !Ref AWS::AccountId
STACK: !Ref AWS::StackName
PARTITION: !Ref AWS::Partition
SUFFIX: !Ref AWS::URLSuffix
SUB: !Sub "${Stage}-${AWS::Region}-${!Literal}"
SUBLIST: !Sub ["${A}/${Stage}", {A: !Ref AWS::AccountId}]
SUBATT: !Sub "${Table.Arn}"
LONGSUB: {"Fn::Sub": "x-${Stage}"}
JOIN: !Join [":", [a, !Ref Stage, c]]
JOINLIST: !Join ["|", !Ref Zones]
SELECT: !Select [1, !Ref Zones]
SPLIT: !Select [2, !Split [",", "x,y,z"]]
MAP: !FindInMap [Cfg, !Ref Stage, Level]
IF: !If [IsProd, yes, no]
IFDEV: !If [IsDev, dev-branch, !Ref Missing]
BOTH: !If [Both, t, f]
EITHER: !If [Either, t, f]
B64: !Base64 hi
AZ: !Select [0, !GetAZs ""]
TABLE: !Ref Table
TABLEARN: !GetAtt Table.Arn
STREAM: !GetAtt [Table, StreamArn]
BUCKET: !Ref Bucket
BUCKETARN: !GetAtt Bucket.Arn
FNARN: !GetAtt Fn.Arn
ROLE: !GetAtt FnRole.Arn
API: !Ref ServerlessRestApi
GONE: !Ref AWS::NoValue
NUM: 5
BOOL: true
EMPTY:
`)
	want := map[string]string{
		"REF": "dev", "REGION": "us-east-1", "ACCOUNT": "123456789012", "STACK": "stack", "PARTITION": "aws",
		"SUFFIX": "localhost", "SUB": "dev-us-east-1-${Literal}", "SUBLIST": "123456789012/dev",
		"SUBATT": "arn:aws:dynamodb:us-east-1:123456789012:table/stack-t", "LONGSUB": "x-dev",
		"JOIN": "a:dev:c", "JOINLIST": "a|b|c", "SELECT": "b", "SPLIT": "z", "MAP": "DEBUG", "IF": "no",
		"IFDEV": "dev-branch", "BOTH": "t", "EITHER": "f", "B64": "aGk=", "AZ": "us-east-1a",
		"TABLE": "stack-t", "TABLEARN": "arn:aws:dynamodb:us-east-1:123456789012:table/stack-t",
		"STREAM": "arn:aws:dynamodb:us-east-1:123456789012:table/stack-t/stream/1970-01-01T00:00:00.000",
		"BUCKET": "bucket", "BUCKETARN": "arn:aws:s3:::bucket", "FNARN": "arn:aws:lambda:us-east-1:123456789012:function:Fn",
		"ROLE": "arn:aws:iam::123456789012:role/FnRole", "API": "ServerlessRestApi", "NUM": "5", "BOOL": "true", "EMPTY": "",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s = %q", k, got[k])
			}
		}
	}
}

func TestParametersFromOptionsOverrideDefaultsAndAreChecked(t *testing.T) {
	text := `
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Mem: {Type: Number, Default: 128, MinValue: 128, MaxValue: 1024}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      MemorySize: !Ref Mem
      ReservedConcurrentExecutions: !If [IsProd, 20, 2]
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
`
	res := mustCompile(t, text, map[string]string{"Stage": "prod", "Mem": "512"})
	fn := res.Functions.Functions["Fn"]
	if fn.MemorySize != 512 || fn.Scaling.MaxCapacity != 20 || len(res.Resources.Buckets) != 1 {
		t.Fatalf("memory %d, max %d, buckets %v", fn.MemorySize, fn.Scaling.MaxCapacity, res.Resources.Buckets)
	}
	res = mustCompile(t, text, nil)
	if fn := res.Functions.Functions["Fn"]; fn.MemorySize != 128 || fn.Scaling.MaxCapacity != 2 || len(res.Resources.Buckets) != 0 {
		t.Fatalf("defaults: memory %d, max %d, buckets %v", fn.MemorySize, fn.Scaling.MaxCapacity, res.Resources.Buckets)
	}
	want := []ParameterValue{{"Stage", "dev", "Default (template.yaml:3)"}, {"Mem", "128", "Default (template.yaml:4)"}}
	if !reflect.DeepEqual(res.Parameters, want) {
		t.Errorf("parameters %+v", res.Parameters)
	}
	for _, bad := range []map[string]string{{"Stage": "qa"}, {"Mem": "64"}, {"Mem": "lots"}} {
		if _, err := compileText(t, text, bad); err == nil || !strings.Contains(err.Error(), "from generator.yml") {
			t.Errorf("%v: err = %v, want a parameter error naming generator.yml", bad, err)
		}
	}
	res = mustCompile(t, text, map[string]string{"Unused": "x"})
	found := false
	for _, w := range res.Warnings {
		found = found || strings.Contains(w.Msg, "parameter Unused")
	}
	if !found {
		t.Errorf("no warning about the undeclared parameter: %v", res.Warnings)
	}
}

func TestGlobalsMergeLikeSAM(t *testing.T) {
	text := `
Globals:
  Function:
    Runtime: python3.11
    Timeout: 30
    MemorySize: 256
    Layers: [!Ref L1]
    Environment:
      Variables: {A: global-a, B: global-b}
Resources:
  L1: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layer/}}
  L2: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layer2/}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      Timeout: !If [Never, 1, 60]
      Layers: [!Ref L2]
      Environment:
        Variables: {B: local-b, C: local-c}
Conditions:
  Never: !Equals [a, b]
`
	res := mustCompile(t, text, nil)
	fn := res.Functions.Functions["Fn"]
	if fn.Runtime != "python3.12" || fn.Timeout != 60 || fn.MemorySize != 256 {
		t.Errorf("scalars: runtime %s timeout %d memory %d", fn.Runtime, fn.Timeout, fn.MemorySize)
	}
	if want := map[string]string{"A": "global-a", "B": "local-b", "C": "local-c"}; !reflect.DeepEqual(fn.Environment, want) {
		t.Errorf("environment %v", fn.Environment)
	}
	if len(fn.Layers) != 2 || fn.Layers[0].Name != "L1" || fn.Layers[1].Name != "L2" {
		t.Errorf("layers %v (global ones come first)", fn.Layers)
	}
	var sawGlobal bool
	for _, o := range res.Origins["Fn"] {
		if o.Field == "memory_size" && strings.Contains(o.Source, "(Globals)") {
			sawGlobal = true
		}
	}
	if !sawGlobal {
		t.Errorf("origins do not mark memory_size as coming from Globals: %+v", res.Origins["Fn"])
	}
}

func TestFunctionDefaultsAndScaling(t *testing.T) {
	text := `
Resources:
  Plain:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: code, Handler: app.handler, Runtime: nodejs20.x}
  Warm:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 12}
      Architectures: [arm64]
`
	res := mustCompile(t, text, nil)
	p := res.Functions.Functions["Plain"]
	if p.Timeout != 3 || p.MemorySize != 128 || p.Scaling != (manifest.Scaling{MaxCapacity: 10}) || p.Architectures[0] != "x86_64" {
		t.Errorf("defaults: %+v", p)
	}
	w := res.Functions.Functions["Warm"]
	if w.Scaling != (manifest.Scaling{MaxCapacity: 12, MinCapacity: 12}) || w.Alias != "live" || w.Architectures[0] != "arm64" {
		t.Errorf("warm: %+v", w)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "code"), 0o755)
	path := filepath.Join(dir, "template.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	res, err := Compile(Options{TemplatePath: path, DefaultMaxCapacity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Functions.Functions["Plain"].Scaling.MaxCapacity; got != 3 {
		t.Errorf("configured default max capacity: got %d, want 3", got)
	}
}

func TestRoutesSortedByAPIGatewayPrecedence(t *testing.T) {
	text := `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      Events:
        E1: {Type: Api, Properties: {Path: "/{proxy+}", Method: any}}
        E2: {Type: Api, Properties: {Path: "/pets/{id}", Method: GET}}
        E3: {Type: Api, Properties: {Path: /pets/dog/1, Method: get}}
        E4: {Type: Api, Properties: {Path: "/pets/dog/{id}", Method: get}}
        E5: {Type: Api, Properties: {Path: "/pets/{proxy+}", Method: get}}
        E6: {Type: Api, Properties: {Path: "/pets/{id}", Method: ANY}}
        E7: {Type: Api, Properties: {Path: /, Method: get}}
        E8: {Type: HttpApi}
        E9: {Type: HttpApi, Properties: {Path: /pets/, Method: post, PayloadFormatVersion: "1.0", TimeoutInMillis: 2000}}
        E10: {Type: Api, Properties: {Path: "/pets/{id}/toys", Method: get, Auth: {Authorizer: NONE}}}
`
	res := mustCompile(t, text, nil)
	var got []string
	for _, r := range res.Routing.Routes {
		got = append(got, r.Method+" "+r.Path)
	}
	want := []string{
		"get /pets/dog/1", "get /pets/dog/{id}", "get /pets/{id}/toys", "get /pets/{id}", "any /pets/{id}",
		"post /pets", "get /pets/{proxy+}", "get /", "any /{proxy+}", "any $default",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes\n got %q\nwant %q", got, want)
	}
	if res.Routing.API != manifest.APIRest {
		t.Errorf("api = %q", res.Routing.API)
	}
	for _, r := range res.Routing.Routes {
		switch r.Method + " " + r.Path {
		case "post /pets":
			if r.API != manifest.APIHTTP || r.PayloadFormat != "1.0" || r.TimeoutMs != 2000 {
				t.Errorf("http route %+v", r)
			}
		case "get /pets/{id}/toys":
			if !r.Public || r.API != "" {
				t.Errorf("public rest route %+v", r)
			}
		}
	}
}

func TestS3EventsBecomeBucketNotifications(t *testing.T) {
	text := `
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: up-loads
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectRemoved:*
            Function: !GetAtt Fn.Arn
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: on-upload
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      Events:
        Up:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: [s3:ObjectCreated:*]
            Filter: {S3Key: {Rules: [{Name: suffix, Value: .jpg}, {Name: prefix, Value: in/}]}}
`
	res := mustCompile(t, text, nil)
	b := res.Resources.Buckets[0]
	want := []manifest.Notification{
		{Type: "lambda", Event: "s3:ObjectRemoved:*", Function: "on-upload"},
		{Type: "lambda", Event: "s3:ObjectCreated:*", Function: "on-upload", Filter: []manifest.FilterRule{{Name: "prefix", Value: "in/"}, {Name: "suffix", Value: ".jpg"}}},
	}
	if !reflect.DeepEqual(b.Notifications, want) {
		t.Fatalf("notifications %+v", b.Notifications)
	}
	ev := res.Functions.Functions["on-upload"].Events[0]
	if ev.Bucket != "up-loads" || ev.S3[0] != "s3:ObjectCreated:*" {
		t.Errorf("event %+v", ev)
	}
}

func TestTablesAndSimpleTables(t *testing.T) {
	text := `
Globals:
  SimpleTable:
    SSESpecification: {SSEEnabled: true}
Resources:
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: pk, Type: Number}
  Prov:
    Type: AWS::Serverless::SimpleTable
    Properties:
      TableName: prov
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: lsi, AttributeType: N}
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}
      LocalSecondaryIndexes:
        - IndexName: by-lsi
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: lsi, KeyType: RANGE}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [total]}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
`
	res := mustCompile(t, text, nil)
	tb := res.Resources.Tables
	if len(tb) != 3 {
		t.Fatalf("tables %+v", tb)
	}
	if tb[0].Name != "Simple" || tb[0].BillingMode != "PAY_PER_REQUEST" || tb[0].AttributeDefinitions[0] != (manifest.AttributeDefinition{AttributeName: "pk", AttributeType: "N"}) {
		t.Errorf("simple %+v", tb[0])
	}
	if tb[1].BillingMode != "PROVISIONED" || *tb[1].ProvisionedThroughput != (manifest.Throughput{ReadCapacityUnits: 2, WriteCapacityUnits: 3}) || tb[1].KeySchema[0].AttributeName != "id" {
		t.Errorf("provisioned simple %+v", tb[1])
	}
	o := tb[2]
	if o.Name != "Orders" || o.BillingMode != "PROVISIONED" || len(o.LocalSecondaryIndexes) != 1 || o.LocalSecondaryIndexes[0].NonKeyAttributes[0] != "total" ||
		o.StreamViewType != "NEW_IMAGE" || o.TTL == nil || o.TTL.Enabled {
		t.Errorf("orders %+v", o)
	}
}

func TestUnknownTypesAreWarnings(t *testing.T) {
	text := `
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      Role: !GetAtt SomeRole.Arn
      Environment:
        Variables:
          QUEUE: !Ref Queue
          QARN: !GetAtt Queue.Arn
      Events:
        Q: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
`
	res := mustCompile(t, text, nil)
	var msgs []string
	for _, w := range res.Warnings {
		msgs = append(msgs, w.String())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"Transform", "AWS::SQS::Queue is not supported", "type SQS is not supported"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	env := res.Functions.Functions["Fn"].Environment
	if env["QUEUE"] != "https://sqs.us-east-1.localhost/123456789012/Queue" || env["QARN"] != "arn:aws:sqs:us-east-1:123456789012:Queue" {
		t.Errorf("env %v", env)
	}
}

func TestErrorsAreOneLineWithFileAndLine(t *testing.T) {
	_, err := compileText(t, "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: java8\n      Handler: x\n      CodeUri: code\n", nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v is not an *Error", err)
	}
	if e.Line != 5 || e.Resource != "Fn" || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "template.yaml:5: resource Fn: Runtime \"java8\" is not supported by esb (supported: ") {
		t.Fatalf("got %q", err)
	}
}
