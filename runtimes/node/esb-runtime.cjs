'use strict';
/**
 * esb's Node.js runtime interface client (nodejs18.x - nodejs22.x).
 *
 * esb-rie runs it as `node esb-runtime.cjs` for nodejs*.x functions. It
 * speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API), loads the handler
 * named by _HANDLER (CommonJS or ES module) once, and calls it for every
 * event with a context like AWS's. Async handlers answer when their promise
 * settles; callback handlers when the callback is called and (by default,
 * context.callbackWaitsForEmptyEventLoop) the event loop has emptied.
 * Standard library only.
 */

const http = require('http');
const fs = require('fs');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const API_PREFIX = '/2018-06-01/runtime';

// ---- errors -----------------------------------------------------------------

function runtimeErrorClass(name) {
  const cls = class extends Error {};
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}
const ImportModuleError = runtimeErrorClass('ImportModuleError');
const HandlerNotFound = runtimeErrorClass('HandlerNotFound');
const MalformedHandlerName = runtimeErrorClass('MalformedHandlerName');
const UserCodeSyntaxError = runtimeErrorClass('UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeErrorClass('UnhandledPromiseRejection');
const NodeJsExit = runtimeErrorClass('NodeJsExit');

function isErrorLike(e) {
  return e && typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string';
}

/** The error object the caller receives. */
function toErrorResponse(err) {
  try {
    if (util.types.isNativeError(err) || isErrorLike(err)) {
      const trace = String(err.stack).split('\n');
      return { errorType: err.name, errorMessage: err.message, trace, stackTrace: trace };
    }
    return { errorType: typeof err, errorMessage: String(err), trace: [], stackTrace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// ---- Runtime API client -----------------------------------------------------

const [apiHost, apiPort] = (() => {
  const addr = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i) || '127.0.0.1', Number(addr.slice(i + 1))];
})();
// Idle keep-alive sockets are unref'd by the agent, so they never keep the
// event loop (and thus callbackWaitsForEmptyEventLoop) busy.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function apiRequest(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: apiHost, port: apiPort, method, path: API_PREFIX + urlPath, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

async function postJSON(urlPath, payload, errorType) {
  const body = Buffer.from(payload, 'utf8');
  const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length };
  if (errorType) headers['Lambda-Runtime-Function-Error-Type'] = errorType;
  const res = await apiRequest('POST', urlPath, body, headers);
  if (res.status !== 202) {
    platformLog(`Runtime API refused ${urlPath} (${res.status}): ${res.body.toString('utf8').slice(0, 300)}`);
  }
}

function postError(id, err) {
  const resp = toErrorResponse(err);
  return postJSON(`/invocation/${id}/error`, JSON.stringify(resp), resp.errorType || 'Unhandled');
}

function serialize(result) {
  return JSON.stringify(result === undefined ? null : result);
}

// ---- logging ----------------------------------------------------------------

let currentRequestId;
const jsonLogs = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const levelRank = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
const minRank = levelRank[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? 0;

function writeLog(level, message) {
  if (levelRank[level] < minRank) return;
  let line;
  if (jsonLogs) {
    const rec = { timestamp: new Date().toISOString(), level, requestId: currentRequestId, message };
    line = JSON.stringify(rec);
  } else {
    line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message.replace(/\n/g, '\r')}`;
  }
  process.stdout.write(line + '\n');
}

function patchConsole() {
  const map = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE', fatal: 'FATAL' };
  for (const [method, level] of Object.entries(map)) {
    console[method] = (...args) => {
      let msg = util.format(...args);
      if (method === 'trace') msg = `Trace: ${msg}\n${new Error().stack.split('\n').slice(2).join('\n')}`;
      writeLog(level, msg);
    };
  }
}

function platformLog(msg) {
  process.stderr.write(`esb-runtime: ${msg}\n`);
}

function logInvokeError(label, err) {
  writeLog('ERROR', `${label} \t${JSON.stringify(toErrorResponse(err))}`);
}

// ---- handler loading (AWS's rules) ------------------------------------------

function hasPackageTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
    } catch (_) {
      return false;
    }
  }
  const parent = path.resolve(folder, '..');
  return parent === folder ? false : hasPackageTypeModule(parent);
}

function tryRequire(file) {
  return fs.existsSync(file) && fs.statSync(file).isFile() ? require(file) : undefined;
}

async function tryImport(file) {
  return fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined;
}

async function loadModule(appRoot, moduleRoot, mod) {
  const base = path.resolve(appRoot, moduleRoot, mod);
  const plain = tryRequire(base);
  if (plain) return plain;
  const esm = hasPackageTypeModule(path.dirname(base));
  if (!esm) {
    const cjs = tryRequire(base + '.js');
    if (cjs) return cjs;
  }
  const loaded =
    (esm && (await tryImport(base + '.js'))) || (await tryImport(base + '.mjs')) || tryRequire(base + '.cjs');
  if (loaded) return loaded;
  return require(require.resolve(mod, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - handlerString.length);
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, mod, handlerPath] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, mod);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(String(e));
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) throw new ImportModuleError(String(e));
    throw e;
  }
  const fn = handlerPath.split('.').reduce((o, k) => o && o[k], app);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

// ---- the invoke loop --------------------------------------------------------

let beforeExitAction = null;
let inFlight = null; // request id of the invoke being handled

process.on('beforeExit', () => {
  const action = beforeExitAction;
  beforeExitAction = null;
  if (action) action();
});

function parseJSONHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch (_) {
    return undefined;
  }
}

function buildContext(headers, controls) {
  const env = process.env;
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  return {
    get callbackWaitsForEmptyEventLoop() {
      return controls.waitForEmptyLoop;
    },
    set callbackWaitsForEmptyEventLoop(v) {
      controls.waitForEmptyLoop = v;
    },
    succeed: (result) => controls.done(null, result),
    fail: (err) => controls.done(err === undefined || err === null ? 'handled' : err),
    done: (err, result) => controls.done(err, result),
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    clientContext: parseJSONHeader(headers['lambda-runtime-client-context']),
    identity: parseJSONHeader(headers['lambda-runtime-cognito-identity']),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function scheduleNext(handler) {
  setImmediate(() => {
    nextInvoke(handler).catch((err) => {
      platformLog(`runtime loop failed: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    });
  });
}

async function nextInvoke(handler) {
  const res = await apiRequest('GET', '/invocation/next');
  if (res.status !== 200) {
    throw new Error(`Runtime API /next answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  }
  handleInvoke(handler, res.headers, res.body);
}

function handleInvoke(handler, headers, body) {
  const id = headers['lambda-runtime-aws-request-id'];
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;
  currentRequestId = id;
  inFlight = id;

  let finished = false;
  const finish = (post) => {
    if (finished) return;
    finished = true;
    beforeExitAction = null;
    post()
      .catch((err) => platformLog(`could not post the result of ${id}: ${err}`))
      .then(() => {
        inFlight = null;
        scheduleNext(handler);
      });
  };
  const succeed = (result) => {
    let payload;
    try {
      payload = serialize(result);
    } catch (err) {
      const e = new Error(`Unable to stringify response body: ${err.message}`);
      e.name = 'Runtime.MarshalError';
      fail(e);
      return;
    }
    finish(() => postJSON(`/invocation/${id}/response`, payload));
  };
  const fail = (err) => {
    logInvokeError('Invoke Error', err);
    finish(() => postError(id, err));
  };
  const controls = {
    waitForEmptyLoop: true,
    // context.done/succeed/fail: answer at once.
    done: (err, result) => (err !== undefined && err !== null ? fail(err) : succeed(result)),
  };
  // callback(err, result): by default, answer once the event loop is empty.
  const callback = (err, result) => {
    if (finished) return;
    if (err !== undefined && err !== null) {
      fail(err);
    } else if (!controls.waitForEmptyLoop) {
      succeed(result);
    } else {
      beforeExitAction = () => setImmediate(() => succeed(result));
    }
  };
  const isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
  // Neither a settled promise nor a callback: AWS answers when the event
  // loop empties (null for plain functions, an error for async ones).
  beforeExitAction = () => {
    if (isAsync) {
      fail(new NodeJsExit('Runtime exited without providing a reason'));
    } else {
      succeed(null);
    }
  };

  try {
    const event = JSON.parse(body.toString('utf8'));
    const result = handler(event, buildContext(headers, controls), callback);
    if (result && typeof result.then === 'function') {
      result.then(succeed, (err) => fail(err === undefined || err === null ? new Error(String(err)) : err));
    }
  } catch (err) {
    fail(err);
  }
}

function onFatal(kind) {
  return (err) => {
    let error = err;
    if (kind === 'unhandledRejection') {
      error = new UnhandledPromiseRejection(isErrorLike(err) ? `${err.name}: ${err.message}` : String(err));
      if (isErrorLike(err)) error.stack = err.stack;
    }
    logInvokeError(kind === 'unhandledRejection' ? 'Unhandled Promise Rejection' : 'Uncaught Exception', error);
    const id = inFlight;
    const exitCode = kind === 'unhandledRejection' ? 128 : 129;
    if (id) {
      inFlight = null;
      beforeExitAction = null;
      postError(id, error).finally(() => process.exit(exitCode));
    } else {
      process.exit(exitCode);
    }
  };
}

async function main() {
  patchConsole();
  process.on('uncaughtException', onFatal('uncaughtException'));
  process.on('unhandledRejection', onFatal('unhandledRejection'));
  const appRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
  let handler;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (err) {
    logInvokeError('Init Error', err);
    const resp = toErrorResponse(err);
    try {
      await postJSON('/init/error', JSON.stringify(resp), resp.errorType || 'Runtime.Unknown');
    } finally {
      process.exit(1);
    }
  }
  scheduleNext(handler);
}

main();
