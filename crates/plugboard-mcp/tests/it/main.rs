//! plugboard-mcp's integration tests: real MCP servers (the reference server from npm) over
//! stdio and streamable HTTP.
