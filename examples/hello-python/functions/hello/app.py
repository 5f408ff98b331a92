"""hello-python: greets the caller of GET /hello and GET /hello/{name}."""

import json
import os

GREETING = os.environ.get("GREETING", "Hello")


def handler(event, context):
    params = event.get("pathParameters") or {}
    query = event.get("queryStringParameters") or {}
    name = params.get("name") or query.get("name") or "world"
    body = {
        "message": f"{GREETING}, {name}!",
        "function": context.function_name,
        "requestId": context.aws_request_id,
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
