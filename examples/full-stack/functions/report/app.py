"""POST /reports (and hourly in prod): asks the items function for every item
through the Lambda Invoke API, counts them per category and stores the report
in the files bucket under reports/."""

import json
import os
import time

import boto3

from esb_common import LOG, dumps, response

LAMBDA = boto3.client("lambda")
S3 = boto3.client("s3")


def handler(event, context):
    result = LAMBDA.invoke(
        FunctionName=os.environ["ITEMS_FUNCTION"],
        InvocationType="RequestResponse",
        Payload=json.dumps({"action": "list"}).encode(),
    )
    payload = json.loads(result["Payload"].read())
    if result.get("FunctionError"):
        LOG.error("items function failed: %s", payload)
        return response(502, {"message": "the items function failed", "error": payload})
    counts = {}
    for item in payload.get("items", []):
        counts[item.get("category", "general")] = counts.get(item.get("category", "general"), 0) + 1
    report = {
        "generatedAt": int(time.time()),
        "requestId": context.aws_request_id,
        "total": payload.get("count", 0),
        "byCategory": counts,
    }
    key = f"reports/{report['generatedAt']}-{context.aws_request_id}.json"
    S3.put_object(
        Bucket=os.environ["BUCKET_NAME"],
        Key=key,
        Body=dumps(report).encode(),
        ContentType="application/json",
    )
    report["key"] = key
    if "httpMethod" in event:
        return response(201, report)
    return report
