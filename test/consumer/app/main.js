// A web app that depends on googlenet-ts/browser, with no bundler configuration: onnxruntime-web's
// files reach the build through the bundler. `?wasmPaths=URL` serves them from elsewhere instead.
import { init, load } from 'googlenet-ts/browser';

const params = new URLSearchParams(location.search);
try {
  const backend = await init(params.has('wasmPaths') ? { wasmPaths: params.get('wasmPaths') } : {});
  const net = await load('models/fashion-mnist/');
  const picture = await (await fetch('sample.png')).blob();
  const [top] = await net.classify(picture, 10);
  window.result = { backend, top };
} catch (e) {
  window.result = { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}
