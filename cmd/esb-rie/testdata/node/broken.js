const x = require('no-such-module-xyz');
