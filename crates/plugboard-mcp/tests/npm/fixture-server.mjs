// An MCP server for the plugboard-mcp tests, on the official TypeScript SDK's low-level
// Server: what the reference server cannot show. Its tool list comes in pages of two
// (`nextCursor`); `add-tool` adds a tool and sends `notifications/tools/list_changed`;
// `request-header` answers with a header of the HTTP request that called it; `wait` waits,
// and `cancellations` counts the waits the client cancelled (`notifications/cancelled`);
// `working-folder` is the folder it runs in.
// Usage: node fixture-server.mjs [stdio | http] (http listens on PORT, at /mcp).
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const PAGE = 2;
const tool = (name, description, properties = {}) => ({
  name,
  description,
  inputSchema: { type: "object", properties },
});
const tools = [
  tool("page-1", "The first listed tool"),
  tool("page-2", "The second listed tool"),
  tool("page-3", "The third listed tool"),
  tool("add-tool", "Adds a tool named `name` and tells the client", { name: { type: "string" } }),
  tool("request-header", "The value of the HTTP request header `name`", { name: { type: "string" } }),
  tool("wait", "Waits `seconds` seconds, or until the call is cancelled", { seconds: { type: "number" } }),
  tool("cancellations", "How many calls the client cancelled"),
  tool("working-folder", "The folder the server runs in"),
];
let cancelled = 0;

const server = new Server(
  { name: "plugboard-fixture", version: "1.0.0" },
  { capabilities: { tools: { listChanged: true } } },
);
server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  const start = Number(request.params?.cursor ?? 0);
  const next = start + PAGE;
  return {
    tools: tools.slice(start, next),
    ...(next < tools.length ? { nextCursor: String(next) } : {}),
  };
});
server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
  const { name, arguments: args = {} } = request.params;
  const text = (value) => ({ content: [{ type: "text", text: value }] });
  switch (name) {
    case "add-tool":
      tools.push(tool(args.name, "A tool added while connected"));
      await server.sendToolListChanged();
      return text(`added ${args.name}`);
    case "wait":
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Number(args.seconds) * 1000);
        extra.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          cancelled += 1;
          resolve();
        });
      });
      return text("waited");
    case "cancellations":
      return text(String(cancelled));
    case "working-folder":
      return text(process.cwd());
    case "request-header":
      return text(String(extra.requestInfo?.headers?.[String(args.name).toLowerCase()] ?? "(none)"));
    default:
      if (tools.some((known) => known.name === name)) return text(`called ${name}`);
      return { content: [{ type: "text", text: `no tool ${name}` }], isError: true };
  }
});

if (process.argv[2] === "http") {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await server.connect(transport);
  const port = Number(process.env.PORT);
  createServer((request, response) => {
    if (new URL(request.url, "http://localhost").pathname !== "/mcp") {
      response.writeHead(404).end();
      return;
    }
    transport.handleRequest(request, response);
  }).listen(port, "127.0.0.1", () => console.error(`fixture MCP server listening on ${port}`));
} else {
  await server.connect(new StdioServerTransport());
}
