"""Items API on DynamoDB: GET/POST /items, GET/DELETE /items/{id}.

Also answers direct Lambda invocations {"action": "list"} (the report function
calls it that way through the Lambda Invoke API).
"""

import os
import time
import uuid

import boto3
from boto3.dynamodb.conditions import Key

from esb_common import LOG, json_body, response

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
ITEM_TTL_SECONDS = 30 * 24 * 3600


def handler(event, context):
    if "httpMethod" not in event:
        return direct(event)
    method = event["httpMethod"]
    item_id = (event.get("pathParameters") or {}).get("id")
    LOG.debug("%s %s", method, event.get("path"))
    try:
        if method == "GET" and item_id:
            return get_item(item_id)
        if method == "GET":
            category = (event.get("queryStringParameters") or {}).get("category")
            return response(200, {"items": list_items(category)})
        if method == "POST":
            return create_item(json_body(event))
        if method == "DELETE" and item_id:
            TABLE.delete_item(Key={"id": item_id})
            return response(200, {"deleted": item_id})
    except ValueError as err:
        return response(400, {"message": str(err)})
    return response(405, {"message": f"{method} is not allowed here"})


def direct(event):
    """A direct invocation from another function."""
    if event.get("action") == "list":
        items = list_items(event.get("category"))
        return {"count": len(items), "items": items}
    raise ValueError(f"unknown action {event.get('action')!r}")


def list_items(category=None):
    if category:
        result = TABLE.query(
            IndexName="by-category",
            KeyConditionExpression=Key("category").eq(category),
        )
    else:
        result = TABLE.scan()
    return result.get("Items", [])


def get_item(item_id):
    item = TABLE.get_item(Key={"id": item_id}).get("Item")
    if item is None:
        return response(404, {"message": f"item {item_id} not found"})
    return response(200, item)


def create_item(body):
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("name is required")
    now = int(time.time())
    item = {
        "id": body.get("id") or str(uuid.uuid4()),
        "name": name,
        "category": body.get("category") or "general",
        "createdAt": now,
        "expiresAt": now + ITEM_TTL_SECONDS,
    }
    TABLE.put_item(Item=item)
    return response(201, item)
