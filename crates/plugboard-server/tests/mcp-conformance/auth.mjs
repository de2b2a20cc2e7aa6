// Loaded into the conformance suite's Node process (`node --import`): every HTTP request it
// makes (the MCP SDK's `fetch` and its own raw `undici` requests) carries the API token in
// PLUGBOARD_TOKEN as `Authorization: Bearer`, as an MCP client configured with a token
// sends it. The suite itself has no option for a token.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "node_modules", "conformance-auth"));
const { Agent, setGlobalDispatcher } = require("undici");
const authorization = `Bearer ${process.env.PLUGBOARD_TOKEN}`;

function withAuthorization(headers) {
  if (headers == null) return { authorization };
  if (Array.isArray(headers)) {
    // Either [name, value, name, value...] or [[name, value], ...].
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return headers.some(([name]) => String(name).toLowerCase() === "authorization")
        ? headers
        : [...headers, ["authorization", authorization]];
    }
    for (let index = 0; index < headers.length; index += 2) {
      if (String(headers[index]).toLowerCase() === "authorization") return headers;
    }
    return [...headers, "authorization", authorization];
  }
  if (typeof headers[Symbol.iterator] === "function") {
    const pairs = [...headers];
    return pairs.some(([name]) => String(name).toLowerCase() === "authorization")
      ? pairs
      : [...pairs, ["authorization", authorization]];
  }
  const present = Object.keys(headers).some((name) => name.toLowerCase() === "authorization");
  return present ? headers : { ...headers, authorization };
}

setGlobalDispatcher(
  new Agent().compose((dispatch) => (options, handler) =>
    dispatch({ ...options, headers: withAuthorization(options.headers) }, handler),
  ),
);
