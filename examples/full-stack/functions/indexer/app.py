"""Records every object uploaded under uploads/ in the items table (S3 event)."""

import os
import time
import urllib.parse

import boto3

from esb_common import LOG

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    indexed = []
    for record in event.get("Records", []):
        s3 = record["s3"]
        key = urllib.parse.unquote_plus(s3["object"]["key"])
        item = {
            "id": "file:" + key,
            "name": key.rsplit("/", 1)[-1],
            "category": "file",
            "bucket": s3["bucket"]["name"],
            "size": int(s3["object"].get("size", 0)),
            "createdAt": int(time.time()),
        }
        TABLE.put_item(Item=item)
        LOG.info("indexed s3://%s/%s", item["bucket"], key)
        indexed.append(item["id"])
    return {"indexed": indexed}
