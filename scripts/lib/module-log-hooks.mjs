/** Module hooks of memory-probe.mjs: posts the URL of every ES module that loads. */
let port;

export function initialize(data) {
  port = data.port;
}

export async function load(url, context, nextLoad) {
  port.postMessage(url);
  return nextLoad(url, context);
}
