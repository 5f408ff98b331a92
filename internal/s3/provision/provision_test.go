package provision

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func TestLifecycleRulesFromTemplate(t *testing.T) {
	b := manifest.Bucket{LogicalID: "Logs", Name: "logs", Lifecycle: []manifest.LifecycleRule{
		{ID: "days", Status: "Enabled", Prefix: "a/", ExpirationInDays: 7},
		{Status: "Enabled", Tags: map[string]string{"k": "v"}, ExpirationDate: "2030-01-01"},
		{ID: "and", Status: "Disabled", Prefix: "p/", Tags: map[string]string{"k": "v", "x": "y"}, NoncurrentVersionExpirationInDays: 3},
		{ID: "mpu", AbortIncompleteMultipartUploadDays: 2, ExpiredObjectDeleteMarker: true},
	}}
	rules, err := lifecycleRules(b)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(rules[0].Filter.Prefix) != "a/" || aws.ToInt32(rules[0].Expiration.Days) != 7 || aws.ToString(rules[0].ID) != "days" {
		t.Errorf("rule 1: %+v", rules[0])
	}
	if rules[1].Filter.Tag == nil || aws.ToString(rules[1].Filter.Tag.Key) != "k" || !aws.ToTime(rules[1].Expiration.Date).Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("rule 2: %+v", rules[1])
	}
	if rules[2].Filter.And == nil || len(rules[2].Filter.And.Tags) != 2 || aws.ToString(rules[2].Filter.And.Prefix) != "p/" || rules[2].Status != "Disabled" ||
		aws.ToInt32(rules[2].NoncurrentVersionExpiration.NoncurrentDays) != 3 || rules[2].Expiration != nil {
		t.Errorf("rule 3: %+v", rules[2])
	}
	if rules[3].Status != "Enabled" || aws.ToInt32(rules[3].AbortIncompleteMultipartUpload.DaysAfterInitiation) != 2 || !aws.ToBool(rules[3].Expiration.ExpiredObjectDeleteMarker) {
		t.Errorf("rule 4: %+v", rules[3])
	}
	b.Lifecycle = []manifest.LifecycleRule{{ExpirationDate: "next tuesday"}}
	if _, err := lifecycleRules(b); err == nil || !strings.Contains(err.Error(), "Logs") || !strings.Contains(err.Error(), "ISO 8601") {
		t.Errorf("bad date: %v", err)
	}
}

func TestNotificationConfigurationFromTemplate(t *testing.T) {
	nc := notificationConfiguration(Target{Region: "eu-west-1", AccountID: "123456789012"}, manifest.Bucket{LogicalID: "Pics", Notifications: []manifest.Notification{
		{Type: "lambda", Function: "thumbs", Filter: []manifest.FilterRule{{Name: "Suffix", Value: ".jpg"}}},
		{Type: "queue", Event: "s3:ObjectRemoved:*", Target: "arn:aws:sqs:eu-west-1:123456789012:q"},
	}})
	if len(nc.LambdaFunctionConfigurations) != 1 || len(nc.QueueConfigurations) != 1 {
		t.Fatalf("%+v", nc)
	}
	l := nc.LambdaFunctionConfigurations[0]
	if aws.ToString(l.LambdaFunctionArn) != "arn:aws:lambda:eu-west-1:123456789012:function:thumbs" || l.Events[0] != "s3:ObjectCreated:*" ||
		l.Filter.Key.FilterRules[0].Name != "suffix" || aws.ToString(l.Id) != "Pics-1" {
		t.Errorf("lambda: %+v", l)
	}
	if q := nc.QueueConfigurations[0]; q.Events[0] != "s3:ObjectRemoved:*" || aws.ToString(q.QueueArn) != "arn:aws:sqs:eu-west-1:123456789012:q" {
		t.Errorf("queue: %+v", q)
	}
}
