"""Unit test of the hello-python handler: /usr/bin/python3 -m unittest discover -s tests"""

import importlib.util
import json
import os
import unittest
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HelloTest(unittest.TestCase):
    def test_greets_path_parameter_then_query_then_world(self):
        os.environ["GREETING"] = "Hi"
        spec = importlib.util.spec_from_file_location("hello_app", os.path.join(ROOT, "functions", "hello", "app.py"))
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        ctx = SimpleNamespace(function_name="hello-python", aws_request_id="r1")
        cases = [
            ({"pathParameters": {"name": "edge"}}, "Hi, edge!"),
            ({"pathParameters": None, "queryStringParameters": {"name": "q"}}, "Hi, q!"),
            ({}, "Hi, world!"),
        ]
        for event, want in cases:
            resp = app.handler(event, ctx)
            self.assertEqual(resp["statusCode"], 200)
            self.assertEqual(json.loads(resp["body"])["message"], want)


if __name__ == "__main__":
    unittest.main()
