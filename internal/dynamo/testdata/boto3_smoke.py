"""boto3 smoke test for esb dynamodb: python3 boto3_smoke.py ENDPOINT AKID SECRET"""
import sys, boto3, decimal
from boto3.dynamodb.conditions import Key, Attr
ddb = boto3.resource("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
t = ddb.create_table(TableName="py-users", KeySchema=[{"AttributeName":"id","KeyType":"HASH"}],
    AttributeDefinitions=[{"AttributeName":"id","AttributeType":"S"}], BillingMode="PAY_PER_REQUEST")
t.wait_until_exists()
t.put_item(Item={"id":"u1","age":decimal.Decimal("30.50"),"tags":{"a","b"},"m":{"x":[1,2,{"y":b"bin"}]}})
item = t.get_item(Key={"id":"u1"})["Item"]
assert item["age"] == decimal.Decimal("30.5") and item["tags"] == {"a", "b"} and item["m"]["x"][2]["y"].value == b"bin", item
t.update_item(Key={"id":"u1"}, UpdateExpression="SET age = age + :d", ExpressionAttributeValues={":d":decimal.Decimal(1)})
assert t.scan(FilterExpression=Attr("age").gt(30))["Items"][0]["age"] == decimal.Decimal("31.5")
try:
    t.put_item(Item={"id":"u1"}, ConditionExpression=Attr("id").not_exists())
except ddb.meta.client.exceptions.ConditionalCheckFailedException as e:
    assert e.response["Error"]["Message"] == "The conditional request failed"
else:
    raise AssertionError("condition did not fail")
with t.batch_writer() as bw:
    for i in range(60):
        bw.put_item(Item={"id":"b%d"%i})
assert t.scan(Select="COUNT")["Count"] == 61
assert t.query(KeyConditionExpression=Key("id").eq("b7"))["Count"] == 1
t.delete()
print("ok")
