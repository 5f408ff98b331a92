"""Helpers shared by the full-stack example's Python functions (layer CommonLayer).

The layer's python/ directory lands in /opt/python, which the Python runtime
puts on sys.path, so functions simply `import esb_common`.
"""

import base64
import decimal
import json
import logging
import os

LOG = logging.getLogger("full-stack")
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


class _Encoder(json.JSONEncoder):
    """Encodes the Decimal numbers boto3 returns for DynamoDB numbers."""

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def dumps(value):
    """JSON text of value, with DynamoDB numbers as plain numbers."""
    return json.dumps(value, cls=_Encoder, sort_keys=True)


def response(status, body):
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": dumps(body),
    }


def json_body(event):
    """The decoded JSON body of an API Gateway proxy event ({} when empty)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8")
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value
