// `webpack` through its Node API (what webpack-cli does with webpack.config.mjs).
import webpack from 'webpack';
import config from './webpack.config.mjs';

webpack(config, (err, stats) => {
  if (err) throw err;
  console.log(stats.toString({ colors: false, modules: false, assets: false }));
  if (stats.hasErrors()) process.exitCode = 1;
});
