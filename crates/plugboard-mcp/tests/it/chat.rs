//! Chat turns with MCP servers' tools: the fixture model asks for the reference server's
//! `echo` (over stdio and over streamable HTTP), the engine calls it through `McpTools`,
//! and the result is in the turn's events, the stored tool message, the reply and the
//! trace; `/mcp` runs a tool directly.

use std::sync::Arc;

use plugboard_chat::{ChatEngine, EngineConfig, Models, SharedModels, ToolSource, TurnEvent, TurnRequest};
use plugboard_fixture_llm::FixtureLlm;
use plugboard_host::{Plugin, PluginSet};
use plugboard_mcp::{McpServerConfig, McpServers, Transport};
use plugboard_openai::{OpenAiConfig, OpenAiProvider};
use plugboard_store::{ApprovalStore, ChatStore, SqliteStore};
use plugboard_store::{Conversation, User};

use crate::support::{config, everything, everything_script, free_port, http_server, marker, npm_folder, ready};

/// No plugins: the MCP server is the only tool source with tools.
#[derive(Debug)]
struct NoPlugins;

impl PluginSet for NoPlugins {
    fn plugins(&self) -> Vec<Plugin> {
        Vec::new()
    }
}

/// The fixture model, a store with alice and a conversation of hers, the MCP server
/// `server` (named `everything`) ready, and an engine offering its tools.
struct Setup {
    fixture: FixtureLlm,
    store: Arc<SqliteStore>,
    user: User,
    conversation: Conversation,
    servers: McpServers,
    engine: ChatEngine,
}

impl Setup {
    async fn start(server: McpServerConfig) -> Setup {
        let fixture = FixtureLlm::start().await.unwrap();
        let tls = plugboard_host::tls_config().unwrap();
        let provider = OpenAiProvider::new(OpenAiConfig::new("fixture", fixture.base_url()), tls).unwrap();
        let mut models = Models::new();
        models.add(Arc::new(provider));
        let models: SharedModels = Arc::new(tokio::sync::RwLock::new(models));
        let store = Arc::new(SqliteStore::open_in_memory().await.unwrap());
        let user = store.create_user("alice", "not a hash").await.unwrap();
        let conversation = store.create_conversation(&user.id, "tools").await.unwrap();
        let servers = McpServers::new(npm_folder());
        servers.apply(vec![server]).await;
        ready(&servers, "everything").await;
        let sources: Vec<Arc<dyn ToolSource>> = vec![Arc::new(servers.tool_source())];
        let engine =
            ChatEngine::with_tool_sources(Arc::new(NoPlugins), store.clone(), models, EngineConfig::default(), sources);
        Setup { fixture, store, user, conversation, servers, engine }
    }
}

#[tokio::test]
async fn a_turn_calls_an_mcp_tool_over_stdio_and_traces_it() {
    a_turn_calls_echo_of(everything("everything", &marker())).await;
}

#[tokio::test]
async fn a_turn_calls_an_mcp_tool_over_streamable_http_and_traces_it() {
    let port = free_port();
    let _server = http_server(&everything_script(), &["streamableHttp"], port).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    a_turn_calls_echo_of(config("everything", Transport::Http { url, headers: Default::default() })).await;
}

/// A turn whose model calls `echo` of the reference server `everything`, configured so.
async fn a_turn_calls_echo_of(server: McpServerConfig) {
    let Setup { store, user, conversation, servers, engine, .. } = Setup::start(server).await;
    // MCP tools ask first by default; the administrator lets this server's run unasked.
    store.set_tool_policy("mcp:everything", "auto").await.unwrap();
    let mut events = engine.start_turn(TurnRequest {
        user,
        conversation: conversation.clone(),
        content: r#"tool:mcp_everything__echo {"message": "hi from the turn"}"#.to_owned(),
        model: Some("fixture/echo".to_owned()),
    });
    let mut results = Vec::new();
    let reply = loop {
        match events.recv().await.expect("the turn ends with done") {
            TurnEvent::ToolResult { plugin, tool, content, is_error, .. } => {
                results.push((plugin, tool, content, is_error))
            }
            TurnEvent::Done { reply, .. } => break reply,
            TurnEvent::Error(error) => panic!("the turn failed: {error}"),
            _ => {}
        }
    };
    assert_eq!(results, [("mcp:everything".to_owned(), "echo".to_owned(), "Echo: hi from the turn".to_owned(), false)]);
    assert_eq!(reply.content, "The tool said: Echo: hi from the turn");

    let messages = store.list_messages(&conversation.id).await.unwrap();
    assert!(
        messages.iter().any(|message| message.content == "Echo: hi from the turn"),
        "the tool's result is stored: {messages:#?}"
    );
    let trace = store.trace(&reply.id).await.unwrap().expect("the turn stored its trace").trace;
    let steps = trace["steps"].as_array().unwrap();
    let tool_step = steps.iter().find(|step| step["stage"] == "tool").unwrap_or_else(|| panic!("{trace:#}"));
    assert_eq!(tool_step["plugin"], "mcp:everything");
    assert_eq!(tool_step["tool"], "echo");
    servers.shutdown().await;
}

/// Runs one turn of `content`; its reply, or its error's code and text.
async fn turn(engine: &ChatEngine, user: &User, conversation: &Conversation, content: &str) -> Result<String, String> {
    let mut events = engine.start_turn(TurnRequest {
        user: user.clone(),
        conversation: conversation.clone(),
        content: content.to_owned(),
        model: Some("fixture/echo".to_owned()),
    });
    loop {
        match events.recv().await.expect("the turn ends with done or an error") {
            TurnEvent::Done { reply, .. } => {
                assert_eq!(reply.author.as_str(), if content == "/mcp" { "plugboard" } else { "mcp:everything" });
                return Ok(reply.content);
            }
            TurnEvent::Error(error) => return Err(format!("{}: {error}", error.code())),
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_mcp_command_runs_a_tool_directly_unless_it_is_denied() {
    let Setup { fixture, store, user, conversation, servers, engine } =
        Setup::start(everything("everything", &marker())).await;

    // `/mcp` lists the servers' tools; typing the command is the person's own approval, so
    // a tool whose policy is `ask` (the default for MCP tools) runs, the model never asked.
    let listed = turn(&engine, &user, &conversation, "/mcp").await.unwrap();
    assert!(listed.contains("everything: ") && listed.contains("echo"), "{listed}");
    let reply = turn(&engine, &user, &conversation, r#"/mcp everything echo {"message": "typed"}"#).await;
    assert_eq!(reply.unwrap(), "Echo: typed");
    assert!(fixture.requests().is_empty(), "the model was not asked");
    let messages = store.list_messages(&conversation.id).await.unwrap();
    let answer = messages.last().unwrap();
    let trace = store.trace(&answer.id).await.unwrap().expect("the command's trace").trace;
    let step = &trace["steps"][0];
    assert_eq!(
        (step["stage"].as_str(), step["command"].as_str(), step["tool"].as_str()),
        (Some("command"), Some("mcp"), Some("echo"))
    );
    assert_eq!(step["policy"], "ask");

    // What is wrong is said: an unknown tool (with what there is), arguments that are not
    // a JSON object.
    let error = turn(&engine, &user, &conversation, "/mcp everything nope").await.unwrap_err();
    assert!(error.starts_with("invalid_input") && error.contains("echo"), "{error}");
    let error = turn(&engine, &user, &conversation, "/mcp everything echo [1]").await.unwrap_err();
    assert!(error.contains("must be a JSON object"), "{error}");

    // Denied by an administrator: refused, said so, the tool not run.
    store.set_tool_policy("mcp:everything", "deny").await.unwrap();
    let reply = turn(&engine, &user, &conversation, r#"/mcp everything echo {"message": "no"}"#).await.unwrap();
    assert_eq!(reply, "the tool `mcp_everything__echo` is not allowed here (policy deny)");
    servers.shutdown().await;
}
