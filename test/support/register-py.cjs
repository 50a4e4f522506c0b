// Lets tests load the engine's sources directly: a `.py` import is its text, as webpack bundles it.
const fs = require('fs');
require.extensions['.py'] = (module, filename) => {
  module.exports = { __esModule: true, default: fs.readFileSync(filename, 'utf8') };
};
