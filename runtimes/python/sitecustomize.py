"""esb: configured endpoints for botocore older than 1.31.

botocore learned AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> in 1.31;
Debian 12 ships 1.29. esb-rie puts this file first on PYTHONPATH, so every
Python process of a function runs it at start. It installs an import hook
that, once botocore.session is imported (never earlier: no start-up cost),
makes Session.create_client fill in endpoint_url from those variables when
the caller gave none, with the same precedence as newer botocore:
explicit endpoint_url > AWS_ENDPOINT_URL_<SERVICE> > AWS_ENDPOINT_URL, and
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns it off. On botocore 1.31+
it does nothing. Afterwards it runs the image's own sitecustomize, if any.
"""

import os
import sys

_MIN_NATIVE = (1, 31)


def _configured_endpoint(session, service_name, api_version):
    env = os.environ
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    service_id = service_name
    try:
        service_id = str(session.get_service_model(service_name, api_version).service_id)
    except Exception:
        pass
    key = "AWS_ENDPOINT_URL_" + service_id.replace(" ", "_").replace("-", "_").upper()
    return env.get(key) or env.get("AWS_ENDPOINT_URL") or None


def _patch_session(module):
    try:
        import botocore

        version = tuple(int(p) for p in botocore.__version__.split(".")[:2])
    except Exception:
        return
    if version >= _MIN_NATIVE:
        return
    session_cls = getattr(module, "Session", None)
    original = getattr(session_cls, "create_client", None)
    if original is None or getattr(original, "_esb_endpoints", False):
        return

    # create_client(self, service_name, region_name=None, api_version=None,
    #               use_ssl=True, verify=None, endpoint_url=None, ...)
    def create_client(self, service_name, *args, **kwargs):
        if len(args) >= 5:
            if args[4] is None:
                api_version = args[1]
                url = _configured_endpoint(self, service_name, api_version)
                if url:
                    args = args[:4] + (url,) + args[5:]
        elif kwargs.get("endpoint_url") is None:
            api_version = kwargs.get("api_version", args[1] if len(args) > 1 else None)
            url = _configured_endpoint(self, service_name, api_version)
            if url:
                kwargs["endpoint_url"] = url
        return original(self, service_name, *args, **kwargs)

    create_client._esb_endpoints = True
    create_client.__doc__ = original.__doc__
    session_cls.create_client = create_client


class _PatchingLoader(object):
    """Runs the real loader, then patches the module it loaded."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _patch_session(module)
        except Exception as e:  # never break the user's import
            sys.stderr.write("esb sitecustomize: could not patch botocore: %s\n" % e)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _BotocoreSessionFinder(object):
    """A meta path finder that only intercepts botocore.session."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def _install():
    if "botocore.session" in sys.modules:
        _patch_session(sys.modules["botocore.session"])
    else:
        sys.meta_path.insert(0, _BotocoreSessionFinder())


def _run_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        d = os.path.abspath(entry or ".")
        if d == here:
            continue
        path = os.path.join(d, "sitecustomize.py")
        if not os.path.isfile(path):
            continue
        try:
            import importlib.util

            spec = importlib.util.spec_from_file_location("_image_sitecustomize", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except Exception as e:
            sys.stderr.write("esb sitecustomize: error in %s: %s\n" % (path, e))
        return


_install()
_run_next_sitecustomize()
