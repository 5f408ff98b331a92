package sam

import (
	"strings"
	"testing"
	"time"
)

func TestAliasBombIsRefusedQuickly(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	start := time.Now()
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "template is too large") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to refuse 10^9 values", d)
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	tpl, err := Parse("t.yaml", []byte(`
Base: &base {Runtime: python3.12, Handler: app.handler, CodeUri: code}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      <<: *base
      Handler: other.handler
  Fn2:
    Type: AWS::Serverless::Function
    Properties: *base
`))
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.Resources[0].Properties
	if p.Get("Runtime").Value != "python3.12" || p.Get("Handler").Value != "other.handler" || p.Get("Handler").Line != 8 {
		t.Errorf("merged properties %+v", p.Fields)
	}
	if tpl.Resources[1].Properties.Get("CodeUri").Value != "code" {
		t.Errorf("alias properties %+v", tpl.Resources[1].Properties)
	}
}
