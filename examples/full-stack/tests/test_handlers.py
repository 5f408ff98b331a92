"""Unit tests of the full-stack example's Python handlers, with boto3's own
Stubber in place of DynamoDB, S3 and Lambda. Run from the example directory:

    /usr/bin/python3 -m unittest discover -s tests
"""

import importlib.util
import io
import json
import os
import sys
import unittest
from types import SimpleNamespace

from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "layers", "common", "python"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ["TABLE_NAME"] = "full-stack-items-dev"
os.environ["BUCKET_NAME"] = "full-stack-files-dev"
os.environ["ITEMS_FUNCTION"] = "full-stack-items"


def load(function):
    spec = importlib.util.spec_from_file_location(f"{function}_app", os.path.join(ROOT, "functions", function, "app.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTEXT = SimpleNamespace(aws_request_id="req-1", function_name="test")


class ItemsTest(unittest.TestCase):
    def setUp(self):
        self.app = load("items")
        self.stub = Stubber(self.app.TABLE.meta.client)
        self.stub.activate()

    def tearDown(self):
        self.stub.deactivate()

    def test_create_then_get(self):
        self.stub.add_response("put_item", {}, {"TableName": "full-stack-items-dev", "Item": ANY})
        resp = self.app.handler({"httpMethod": "POST", "path": "/items", "body": json.dumps({"id": "a1", "name": "bolt"})}, CONTEXT)
        self.assertEqual(resp["statusCode"], 201, resp)
        self.assertEqual(json.loads(resp["body"])["category"], "general")

        self.stub.add_response(
            "get_item",
            {"Item": {"id": {"S": "a1"}, "name": {"S": "bolt"}, "createdAt": {"N": "5"}}},
            {"TableName": "full-stack-items-dev", "Key": {"id": "a1"}},
        )
        resp = self.app.handler({"httpMethod": "GET", "path": "/items/a1", "pathParameters": {"id": "a1"}}, CONTEXT)
        self.assertEqual(resp["statusCode"], 200)
        self.assertEqual(json.loads(resp["body"]), {"createdAt": 5, "id": "a1", "name": "bolt"})
        self.stub.assert_no_pending_responses()

    def test_missing_item_is_404_and_bad_body_is_400(self):
        self.stub.add_response("get_item", {}, {"TableName": "full-stack-items-dev", "Key": {"id": "nope"}})
        resp = self.app.handler({"httpMethod": "GET", "pathParameters": {"id": "nope"}}, CONTEXT)
        self.assertEqual(resp["statusCode"], 404)
        resp = self.app.handler({"httpMethod": "POST", "body": json.dumps({"name": ""})}, CONTEXT)
        self.assertEqual(resp["statusCode"], 400)

    def test_direct_list_by_category_uses_the_index(self):
        self.stub.add_response(
            "query",
            {"Items": [{"id": {"S": "f"}, "category": {"S": "file"}}], "Count": 1},
            {"TableName": "full-stack-items-dev", "IndexName": "by-category", "KeyConditionExpression": ANY},
        )
        out = self.app.handler({"action": "list", "category": "file"}, CONTEXT)
        self.assertEqual(out["count"], 1)


class IndexerTest(unittest.TestCase):
    def test_indexes_each_record(self):
        app = load("indexer")
        with Stubber(app.TABLE.meta.client) as stub:
            stub.add_response("put_item", {}, {"TableName": "full-stack-items-dev", "Item": ANY})
            event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "uploads/my+file.txt", "size": 3}}}]}
            out = app.handler(event, CONTEXT)
            stub.assert_no_pending_responses()
        self.assertEqual(out, {"indexed": ["file:uploads/my file.txt"]})


class ReportTest(unittest.TestCase):
    def test_invokes_items_and_stores_the_report(self):
        app = load("report")
        payload = json.dumps({"count": 3, "items": [{"category": "a"}, {"category": "a"}, {"category": "b"}]}).encode()
        with Stubber(app.LAMBDA) as lam, Stubber(app.S3) as s3:
            lam.add_response(
                "invoke",
                {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))},
                {"FunctionName": "full-stack-items", "InvocationType": "RequestResponse", "Payload": ANY},
            )
            s3.add_response("put_object", {}, {"Bucket": "full-stack-files-dev", "Key": ANY, "Body": ANY, "ContentType": "application/json"})
            resp = app.handler({"httpMethod": "POST"}, CONTEXT)
        self.assertEqual(resp["statusCode"], 201, resp)
        body = json.loads(resp["body"])
        self.assertEqual(body["total"], 3)
        self.assertEqual(body["byCategory"], {"a": 2, "b": 1})
        self.assertTrue(body["key"].startswith("reports/"))


if __name__ == "__main__":
    unittest.main()
