"""esb's Python runtime interface client.

esb-rie runs it as ``python3 esb_runtime.py`` for python3.x functions. It
speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API), imports the handler
named by _HANDLER once, and calls it for every event with a context object
like AWS's. It needs nothing but the standard library (Python 3.9+).
"""

import decimal
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

_API_PREFIX = "/2018-06-01/runtime"
_ERROR_LINE_SEP = "\r"  # keeps a multi-line record on one output line, as AWS does


class _FaultError(Exception):
    """An error the runtime itself classifies (Runtime.ImportModuleError, ...)."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class RuntimeAPI:
    """A keep-alive HTTP client for the Runtime API."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._host = host or "127.0.0.1"
        self._port = int(port)
        self._conn = None

    def _request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=None)
            try:
                self._conn.request(method, path, body=body, headers=headers or {})
                resp = self._conn.getresponse()
                data = resp.read()
                return resp, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise

    def next(self):
        resp, body = self._request("GET", _API_PREFIX + "/invocation/next")
        if resp.status != 200:
            raise RuntimeError("Runtime API /next answered %d: %s" % (resp.status, body[:200]))
        return resp, body

    def post_result(self, request_id, body, content_type):
        resp, data = self._request(
            "POST", _API_PREFIX + "/invocation/%s/response" % request_id, body=body,
            headers={"Content-Type": content_type})
        if resp.status != 202:
            _log_platform("Runtime API refused the response (%d): %s" % (resp.status, data[:300].decode("utf-8", "replace")))

    def post_error(self, request_id, error):
        self._post_error(_API_PREFIX + "/invocation/%s/error" % request_id, error)

    def post_init_error(self, error):
        self._post_error(_API_PREFIX + "/init/error", error)

    def _post_error(self, path, error):
        body = json.dumps(error).encode("utf-8")
        resp, data = self._request("POST", path, body=body, headers={
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error.get("errorType") or "Unhandled",
        })
        if resp.status != 202:
            _log_platform("Runtime API refused the error (%d): %s" % (resp.status, data[:300].decode("utf-8", "replace")))


# --- context ---------------------------------------------------------------


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field))
    return obj


class LambdaContext(object):
    """The context argument, with AWS's attributes and methods."""

    def __init__(self, request_id, deadline_ms, function_arn, client_context, cognito_identity):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        self.tenant_id = None
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))
        sys.stdout.flush()

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
                "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s])" % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                    self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                    self.client_context, self.identity))


# --- logging ---------------------------------------------------------------

_current_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _current_request_id
        return True


class _TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                         "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record):
        return super().format(record).replace("\n", _ERROR_LINE_SEP)


class _JSONFormatter(logging.Formatter):
    def format(self, record):
        out = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + ".%03dZ" % record.msecs,
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if _current_request_id:
            out["requestId"] = _current_request_id
        if record.exc_info:
            etype, value, _ = record.exc_info
            out["errorType"] = etype.__name__ if etype else None
            out["errorMessage"] = str(value)
            out["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _StdoutHandler(logging.Handler):
    def emit(self, record):
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _json_logs():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def _setup_logging():
    root = logging.getLogger()
    handler = _StdoutHandler()
    handler.setFormatter(_JSONFormatter() if _json_logs() else _TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"):
        root.setLevel({"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))


def _log_platform(msg):
    sys.stderr.write("esb-runtime: %s\n" % msg)
    sys.stderr.flush()


def _log_error(error):
    if _json_logs():
        record = dict(error)
        record["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record["level"] = "ERROR"
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    lines = ["[ERROR] %s: %s" % (error.get("errorType"), error.get("errorMessage"))]
    trace = error.get("stackTrace")
    if trace:
        lines.append("Traceback (most recent call last):")
        for frame in trace:
            lines.extend(frame.rstrip("\n").split("\n"))
    sys.stdout.write(_ERROR_LINE_SEP.join(lines) + "\n")


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# --- handler ---------------------------------------------------------------


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _FaultError("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    if not modname or not fname:
        raise _FaultError("Runtime.MalformedHandlerName", "Bad handler '%s'" % handler)
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _FaultError("Runtime.BuiltInModuleConflict",
                          "Cannot use built-in module %s as a handler module" % modname)
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise _FaultError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, (e.text or "").strip())]
        raise _FaultError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _FaultError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))


def _user_frames(tb):
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if not frame.filename.endswith("esb_runtime.py"):
            return frames[i:]
    return []


def _error_from_exception(request_id=None):
    etype, value, tb = sys.exc_info()
    return {
        "errorMessage": str(value),
        "errorType": etype.__name__,
        "requestId": request_id or "",
        "stackTrace": traceback.format_list(_user_frames(tb)),
    }


def _fault(e, request_id=None):
    return {"errorMessage": e.message, "errorType": e.error_type, "requestId": request_id or "", "stackTrace": e.trace}


def _json_default(obj):
    if isinstance(obj, decimal.Decimal):
        if obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def _ensure_ascii():
    # AWS's python3.12+ runtimes print non-ASCII characters as they are.
    runtime = os.environ.get("AWS_EXECUTION_ENV", "")
    try:
        minor = int(runtime.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return True
    return minor < 12


def _marshal(result, ensure_ascii):
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), "application/unknown"
    try:
        return json.dumps(result, default=_json_default, ensure_ascii=ensure_ascii).encode("utf-8"), "application/json"
    except Exception as e:
        raise _FaultError("Runtime.MarshalError", "Unable to marshal response: %s" % e)


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise _FaultError("Runtime.LambdaContextUnmarshalError", "Unable to parse %s JSON: %s" % (name, e))


def _handle(api, handler, resp, body, ensure_ascii):
    global _current_request_id
    request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    _current_request_id = request_id
    trace_id = resp.getheader("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    error = None
    try:
        cc = resp.getheader("Lambda-Runtime-Client-Context")
        ci = resp.getheader("Lambda-Runtime-Cognito-Identity")
        context = LambdaContext(
            request_id,
            int(resp.getheader("Lambda-Runtime-Deadline-Ms") or 0),
            resp.getheader("Lambda-Runtime-Invoked-Function-Arn"),
            _parse_json_header(cc, "Client Context") if cc else None,
            _parse_json_header(ci, "Cognito Identity") if ci else None,
        )
        try:
            event = json.loads(body) if body else None
        except Exception as e:
            raise _FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
        result = handler(event, context)
        payload, content_type = _marshal(result, ensure_ascii)
    except _FaultError as e:
        error = _fault(e, request_id)
    except Exception:
        error = _error_from_exception(request_id)
    if error is not None:
        _log_error(error)
        _flush()
        api.post_error(request_id, error)
    else:
        _flush()
        api.post_result(request_id, payload, content_type)


def _prepare_sys_path():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    version = "python%d.%d" % sys.version_info[:2]
    front = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    sys.path[:0] = [p for p in front if p not in sys.path]


def main():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    api = RuntimeAPI(os.environ["AWS_LAMBDA_RUNTIME_API"])
    _prepare_sys_path()
    _setup_logging()
    handler_name = os.environ.get("_HANDLER", "")
    try:
        handler = _load_handler(handler_name)
    except Exception as e:
        error = _fault(e) if isinstance(e, _FaultError) else _error_from_exception()
        _log_error(error)
        _flush()
        api.post_init_error(error)
        sys.exit(1)
    ensure_ascii = _ensure_ascii()
    while True:
        resp, body = api.next()
        _handle(api, handler, resp, body, ensure_ascii)


if __name__ == "__main__":
    main()
