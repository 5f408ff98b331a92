import decimal
import logging
import os
import sys
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)
COUNT = 0  # module state stays warm between invokes


def handler(event, context):
    global COUNT
    COUNT += 1
    action = event.get("action", "echo") if isinstance(event, dict) else "echo"
    if action == "echo":
        return event
    if action == "count":
        return COUNT
    if action == "error":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event["ms"] / 1000.0)
        return "slept"
    if action == "exit":
        sys.stdout.flush()
        os._exit(3)
    if action == "sysexit":
        sys.exit(4)
    if action == "big":
        return "a" * event["bytes"]
    if action == "decimal":
        return {"int": decimal.Decimal("3"), "float": decimal.Decimal("1.5")}
    if action == "unmarshalable":
        return {"x": object()}
    if action == "log":
        print("print line")
        logger.info("info line\nwith a second line")
        logger.debug("debug line (filtered)")
        sys.stderr.write("stderr line\n")
        return "logged"
    if action == "orphan":
        os.system("(sleep 0.2 &) ; true")
        return "spawned"
    if action == "context":
        cc = context.client_context
        return {
            "request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "client_custom": cc.custom if cc else None,
            "client_app_title": cc.client.app_title if cc and cc.client else None,
            "identity_id": context.identity.cognito_identity_id,
            "identity_pool": context.identity.cognito_identity_pool_id,
            "trace_env": os.environ.get("_X_AMZN_TRACE_ID"),
            "exec_env": os.environ.get("AWS_EXECUTION_ENV"),
            "tz": os.environ.get("TZ"),
            "cwd": os.getcwd(),
            "sys_path0": sys.path[0],
        }
    if action == "aws":
        import boto3

        s3 = boto3.client("s3")
        s3.list_buckets()
        ddb = boto3.client("dynamodb")
        ddb.list_tables()
        return {"s3": s3.meta.endpoint_url, "dynamodb": ddb.meta.endpoint_url}
    raise KeyError("unknown action " + action)
