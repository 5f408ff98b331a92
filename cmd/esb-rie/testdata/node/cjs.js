exports.nested = { handler: async (event) => ({ cjs: true, event }) };
