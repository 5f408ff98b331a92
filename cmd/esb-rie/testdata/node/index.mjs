let count = 0; // module state stays warm between invokes

export const handler = async (event, context) => {
  count++;
  const action = (event && event.action) || 'echo';
  switch (action) {
    case 'echo':
      return event;
    case 'count':
      return count;
    case 'error':
      throw new TypeError('boom');
    case 'reject':
      return Promise.reject(new Error('rejected'));
    case 'sleep':
      await new Promise((r) => setTimeout(r, event.ms));
      return 'slept';
    case 'exit':
      process.exit(3);
    case 'unhandled':
      Promise.reject(new Error('nobody catches me'));
      await new Promise((r) => setTimeout(r, 200));
      return 'too late';
    case 'big':
      return 'a'.repeat(event.bytes);
    case 'log':
      console.log('log line', { a: 1 });
      console.error('error line\nsecond line');
      process.stdout.write('raw stdout\n');
      return 'logged';
    case 'context':
      return {
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        memoryLimitInMB: context.memoryLimitInMB,
        invokedFunctionArn: context.invokedFunctionArn,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
        clientContext: context.clientContext,
        identity: context.identity,
        waits: context.callbackWaitsForEmptyEventLoop,
        traceEnv: process.env._X_AMZN_TRACE_ID,
        execEnv: process.env.AWS_EXECUTION_ENV,
        cwd: process.cwd(),
      };
  }
  throw new Error(`unknown action ${action}`);
};
