// A callback-style handler: by default Lambda answers once the event loop
// is empty, so the timer below still runs inside the invoke.
exports.handler = function (event, context, callback) {
  if (event.noWait) context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log('timer fired'), 150);
  if (event.fail) {
    callback(new Error('callback failure'));
    return;
  }
  callback(null, { viaCallback: true });
};
