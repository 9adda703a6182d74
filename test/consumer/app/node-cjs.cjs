// The same package from CommonJS: require() of an ES module, which Node 20.19+ and 22.12+ do.
const { load, GoogLeNetError } = require('googlenet-ts');

load({ weights: 'fashion-mnist' })
  .then((net) => net.classify('sample.png', 10))
  .then(([top]) => console.log(JSON.stringify({ top, errorClass: typeof GoogLeNetError })))
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
